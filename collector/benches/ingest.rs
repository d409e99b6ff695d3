//! Collector ingest throughput: gzip batches of 1,000 events over HTTP into SQLite, against the
//! storage floor (the same rows inserted in-process, one transaction per batch, same schema and
//! `synchronous=FULL`). Run: `cargo bench -p collector --bench ingest` (BATCHES=n to change size).

use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use agent_core::wire::Batch;
use collector::store::{SqliteStore, Store};
use collector::{BackgroundCollector, Config};
use rusqlite::params;
use serde_json::json;

const EVENTS: usize = 1_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn make_batch(n: usize) -> Batch {
    let ts = now_ms();
    let events: Vec<_> = (0..EVENTS)
        .map(|i| {
            json!({
                "id": uuid::Uuid::new_v4(), "key": format!("user-{}", (n * 7919 + i) % 50_000),
                "traffic_type": "user",
                "type": if i % 10 == 0 { "error" } else { "timing.page_load" },
                "value": (i % 900) as f64, "ts": ts - 60_000 + i as i64,
                "properties": {"page": "/checkout", "exception.type": "TimeoutError"}
            })
        })
        .collect();
    serde_json::from_value(json!({
        "batch_id": uuid::Uuid::new_v4(),
        "sdk": {"name": "agent-core", "version": "0.1.0", "platform": "rust"},
        "events": events
    }))
    .expect("valid batch")
}

fn gzip(b: &Batch) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&serde_json::to_vec(b).expect("json"))
        .expect("gzip");
    e.finish().expect("gzip")
}

fn http(batches: usize, clients: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::new(([127, 0, 0, 1], 0).into(), dir.path())
        .admin_key("bench-admin")
        .sdk_key("bench-sdk");
    let bg = BackgroundCollector::start(config).expect("collector");
    let url = format!("{}/api/v1/batch", bg.url());
    let bodies: Vec<Vec<u8>> = (0..batches).map(|n| gzip(&make_batch(n))).collect();
    let per = batches / clients;
    let start = Instant::now();
    std::thread::scope(|s| {
        for c in 0..clients {
            let (url, bodies) = (&url, &bodies);
            s.spawn(move || {
                let client = reqwest::blocking::Client::new();
                for body in &bodies[c * per..(c + 1) * per] {
                    let r = client
                        .post(url)
                        .bearer_auth("bench-sdk")
                        .header("content-type", "application/json")
                        .header("content-encoding", "gzip")
                        .body(body.clone())
                        .send()
                        .expect("sent");
                    assert_eq!(r.status(), 202);
                }
            });
        }
    });
    let rate = (per * clients * EVENTS) as f64 / start.elapsed().as_secs_f64();
    bg.stop().expect("stop");
    rate
}

fn store_direct(batches: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("store");
    let all: Vec<Batch> = (0..batches).map(make_batch).collect();
    let start = Instant::now();
    for b in all {
        store.ingest(b, "bench").expect("ingest");
    }
    let rate = (batches * EVENTS) as f64 / start.elapsed().as_secs_f64();
    store.close();
    rate
}

fn sqlite_floor(batches: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conn = rusqlite::Connection::open(dir.path().join("floor.db")).expect("open");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.pragma_update(None, "cache_size", -65_536)
        .expect("cache");
    collector::store::migrations::migrate(&mut conn).expect("schema");
    let all: Vec<Batch> = (0..batches).map(make_batch).collect();
    let start = Instant::now();
    for b in &all {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events \
                     (id, key, traffic_type, type, value, ts, properties, environment) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .expect("prepare");
            for e in &b.events {
                let props = serde_json::to_string(&e.properties).expect("props");
                stmt.execute(params![
                    &e.id.as_bytes()[..],
                    e.key,
                    e.traffic_type,
                    e.event_type,
                    e.value,
                    e.ts,
                    props,
                    "bench"
                ])
                .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    (batches * EVENTS) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let batches: usize = std::env::var("BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let floor = sqlite_floor(batches);
    let direct = store_direct(batches);
    let http1 = http(batches, 1);
    let http4 = http(batches, 4);
    println!("ingest, {batches} batches of {EVENTS} events (events/s):");
    println!("  sqlite floor (in-process, 1 tx/batch)  {floor:>10.0}");
    println!(
        "  SqliteStore::ingest (writer thread)     {direct:>10.0}  ({:.2} of floor)",
        direct / floor
    );
    println!(
        "  HTTP gzip, 1 client                     {http1:>10.0}  ({:.2} of floor)",
        http1 / floor
    );
    println!(
        "  HTTP gzip, 4 clients (group commit)     {http4:>10.0}  ({:.2} of floor)",
        http4 / floor
    );
}

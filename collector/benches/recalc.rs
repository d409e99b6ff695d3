//! One full recalculation (5 metrics, 3 treatments) over 1,000,000 users and 10,000,000 events,
//! timed side by side with DuckDB doing the equivalent per-user aggregation on the same data.
//!
//! Run: `cargo bench -p collector --bench recalc` (needs `pip install duckdb`; env USERS=n,
//! EVENTS=n to rescale, SQLITE=0 to skip the SQLite store path, DUCKDB=0 to skip DuckDB).
//!
//! Paths timed (data loading is excluded everywhere and reported separately):
//! - engine, in memory: `recalculate` over a columnar in-memory source (string keys hashed per
//!   event exactly as on the store path; the data parsed once, as `collector analyze` holds it);
//! - engine, SQLite: `recalculate` over `SqliteStore` (rows streamed from the collector's schema,
//!   events inserted in time order as a collector receives them; time slices of the covering
//!   index `events_scan` read on one connection and thread per partition);
//! - DuckDB: tables loaded from CSV into memory, then one SQL query doing the same attribution
//!   (first impression, 2+ treatments excluded, events from entry - 15 min to `at`), per-user
//!   aggregates, and per treatment n, mean, variance, median and p95 of every metric.
//!
//! The engine's per-treatment means are checked against DuckDB's before any figure is printed.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use agent_core::wire::FlagDefinition;
use collector::engine::source::{default_partitions, partition_range};
use collector::engine::{
    DataSource, EngineError, EventRecord, ImpactReport, ImpressionRecord, MetricSpec, Props,
    RecalcOptions, recalculate,
};
use collector::store::{SqliteStore, Store};
use rusqlite::params;
use serde_json::{Map, Value, json};

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const TREATMENTS: [&str; 3] = ["off", "on", "v2"];
const TYPES: [&str; 5] = ["error", "crash", "timing.load", "purchase", "view"];
/// Share of events per type (sums to 1).
const MIX: [f64; 5] = [0.15, 0.05, 0.30, 0.10, 0.40];

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Imp {
    user: u32,
    treatment: u8,
    ts: i64,
}

struct Ev {
    /// The user's key inline (12 bytes, as a column store keeps short strings).
    key: [u8; 12],
    user: u32,
    ty: u8,
    ts: i64,
    value: f64,
}

/// Columnar data: keys interned once, events as plain rows.
struct Columnar {
    keys: Vec<String>,
    imps: Vec<Imp>,
    events: Vec<Ev>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl DataSource for Columnar {
    fn impressions(
        &self,
        _flag: &str,
        _version: u64,
        f: &mut dyn FnMut(&ImpressionRecord<'_>),
    ) -> Result<(), EngineError> {
        for i in &self.imps {
            f(&ImpressionRecord {
                key: &self.keys[i.user as usize],
                treatment: TREATMENTS[i.treatment as usize],
                label: "r",
                ts: i.ts,
            });
        }
        Ok(())
    }

    fn events(
        &self,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        for p in 0..self.event_partitions() {
            self.events_in_partition(p, types, from_ms, until_ms, &mut |e| f(e))?;
        }
        Ok(())
    }

    fn event_partitions(&self) -> usize {
        env_usize("THREADS", default_partitions())
    }

    fn events_in_partition(
        &self,
        part: usize,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        let wanted: Vec<bool> = TYPES.iter().map(|t| types.iter().any(|x| x == t)).collect();
        let range = partition_range(self.events.len(), self.event_partitions(), part);
        for e in &self.events[range] {
            if !wanted[e.ty as usize] || e.ts < from_ms || e.ts > until_ms {
                continue;
            }
            f(&EventRecord {
                key: std::str::from_utf8(&e.key).unwrap_or(""),
                event_type: TYPES[e.ty as usize],
                ts: e.ts,
                value: (e.ty == 2 || e.ty == 3).then_some(e.value),
                props: Props::Map(&EMPTY),
            });
        }
        Ok(())
    }
}

fn generate(users: usize, events: usize) -> Columnar {
    let mut rng = SplitMix(42);
    // 5 % more keys than exposed users: events of users never exposed are ignored.
    let all = users + users / 20;
    let keys: Vec<String> = (0..all).map(|i| format!("user-{i:07}")).collect();
    assert!(keys.iter().all(|k| k.len() == 12), "keys must be 12 bytes");
    let mut imps = Vec::with_capacity(users + users / 50);
    let mut entry = vec![0i64; users];
    for (u, e) in entry.iter_mut().enumerate() {
        let t = (rng.next() * 3.0) as u8;
        *e = T0 + (rng.next() * 24.0 * HOUR as f64) as i64;
        imps.push(Imp {
            user: u as u32,
            treatment: t,
            ts: *e,
        });
        // 2 % see the flag again; a tenth of those with another treatment (excluded).
        if rng.next() < 0.02 {
            let t2 = if rng.next() < 0.1 { (t + 1) % 3 } else { t };
            imps.push(Imp {
                user: u as u32,
                treatment: t2,
                ts: *e + HOUR,
            });
        }
    }
    let mut evs = Vec::with_capacity(events);
    for _ in 0..events {
        let user = (rng.next() * all as f64) as u32;
        let r = rng.next();
        let mut acc = 0.0;
        let ty = MIX
            .iter()
            .position(|p| {
                acc += p;
                r < acc
            })
            .unwrap_or(4) as u8;
        let base = entry.get(user as usize).copied().unwrap_or(T0);
        // Mostly after entry, some within or before the clock-skew buffer.
        let ts = base + ((rng.next() - 0.05) * 24.0 * HOUR as f64) as i64;
        let value = (rng.next() * 1000.0).round();
        let mut key = [0u8; 12];
        key.copy_from_slice(keys[user as usize].as_bytes());
        evs.push(Ev {
            key,
            user,
            ty,
            ts,
            value,
        });
    }
    Columnar {
        keys,
        imps,
        events: evs,
    }
}

fn metrics() -> Vec<MetricSpec> {
    [
        json!({"name": "errors", "event_type": "error", "metric_type": "count", "direction": "decrease"}),
        json!({"name": "crashed users", "event_type": "crash", "metric_type": "percent_users", "direction": "decrease"}),
        json!({"name": "load time", "event_type": "timing.load", "metric_type": "average", "direction": "decrease"}),
        json!({"name": "revenue", "event_type": "purchase", "metric_type": "sum", "direction": "increase"}),
        json!({"name": "errors per view", "event_type": "error", "metric_type": "ratio", "denominator_event_type": "view", "direction": "decrease"}),
    ]
    .iter()
    .map(|m| MetricSpec::from_json(m).expect("metric"))
    .collect()
}

fn flag() -> FlagDefinition {
    serde_json::from_value(json!({
        "key": "f", "version": 1, "traffic_type": "user",
        "treatments": [{"name": "off"}, {"name": "on"}, {"name": "v2"}],
        "default_treatment": "off", "seed": 1,
        "rules": [{"name": "r", "rollout": [
            {"treatment": "off", "weight": 34}, {"treatment": "on", "weight": 33},
            {"treatment": "v2", "weight": 33}]}]
    }))
    .expect("flag")
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

/// CPU seconds (user + system, all threads) used by this process so far, from /proc/self/stat:
/// on a shared box wall time depends on the neighbours, CPU time much less.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// Wall and CPU seconds of `f`.
fn timed_cpu<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let c = cpu_s();
    let (out, wall) = timed(f);
    (out, wall, cpu_s() - c)
}

fn write_csv(dir: &Path, data: &Columnar) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(dir.join("impressions.csv"))?);
    writeln!(w, "key,treatment,ts")?;
    for i in &data.imps {
        writeln!(
            w,
            "{},{},{}",
            data.keys[i.user as usize], TREATMENTS[i.treatment as usize], i.ts
        )?;
    }
    w.flush()?;
    let mut w = BufWriter::new(std::fs::File::create(dir.join("events.csv"))?);
    writeln!(w, "key,type,ts,value")?;
    for e in &data.events {
        let key = &data.keys[e.user as usize];
        let ty = TYPES[e.ty as usize];
        if e.ty == 2 || e.ty == 3 {
            writeln!(w, "{key},{ty},{},{}", e.ts, e.value)?;
        } else {
            writeln!(w, "{key},{ty},{},", e.ts)?;
        }
    }
    w.flush()
}

const DUCKDB_SCRIPT: &str = r#"
import json, sys, time
import duckdb
d, at = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t0 = time.perf_counter()
con.execute(f"CREATE TABLE impressions AS SELECT * FROM read_csv('{d}/impressions.csv', header=true, columns={{'key':'VARCHAR','treatment':'VARCHAR','ts':'BIGINT'}})")
con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{d}/events.csv', header=true, columns={{'key':'VARCHAR','type':'VARCHAR','ts':'BIGINT','value':'DOUBLE'}})")
load = time.perf_counter() - t0
q = f"""
WITH imp AS (
  SELECT key, min(ts) AS entry, min(treatment) AS t, count(DISTINCT treatment) AS nt
  FROM impressions WHERE ts <= {at} GROUP BY key),
s AS (SELECT key, entry, t FROM imp WHERE nt = 1),
agg AS (
  SELECT e.key,
    count(*) FILTER (WHERE e.type = 'error') AS err,
    count(*) FILTER (WHERE e.type = 'crash') AS crash,
    sum(e.value) FILTER (WHERE e.type = 'timing.load') AS tsum,
    count(e.value) FILTER (WHERE e.type = 'timing.load') AS tcnt,
    sum(e.value) FILTER (WHERE e.type = 'purchase') AS psum,
    count(*) FILTER (WHERE e.type = 'view') AS views
  FROM events e JOIN s ON e.key = s.key
  WHERE e.type IN ('error','crash','timing.load','purchase','view')
    AND e.ts >= s.entry - 900000 AND e.ts <= {at}
  GROUP BY e.key),
u AS (
  SELECT s.t,
    coalesce(err, 0)::DOUBLE AS m1,
    CASE WHEN coalesce(crash, 0) > 0 THEN 1.0 ELSE 0.0 END AS m2,
    CASE WHEN tcnt > 0 THEN tsum / tcnt END AS m3,
    coalesce(psum, 0.0) AS m4,
    CASE WHEN views > 0 THEN coalesce(err, 0)::DOUBLE / views END AS m5
  FROM s LEFT JOIN agg USING (key))
SELECT t, count(*) AS users,
  {", ".join(f"count(m{i}), avg(m{i}), var_samp(m{i}), quantile_cont(m{i}, [0.5, 0.95])" for i in range(1, 6))}
FROM u GROUP BY t ORDER BY t
"""
times, cpu, rows = [], [], None
for _ in range(2):
    t0, c0 = time.perf_counter(), time.process_time()
    rows = con.execute(q).fetchall()
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
out = {"load_s": load, "query_s": times, "cpu_s": cpu, "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
       "version": duckdb.__version__,
       "arms": [{"t": r[0], "users": r[1], "n": [r[2 + 4 * i] for i in range(5)], "mean": [r[3 + 4 * i] for i in range(5)]} for r in rows]}
json.dump(out, sys.stdout)
"#;

fn run_duckdb(dir: &Path, at: i64) -> Result<Value, String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(dir)
        .arg(at.to_string())
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn check_against_duckdb(report: &ImpactReport, duck: &Value) {
    for arm in duck["arms"].as_array().expect("arms") {
        let t = arm["t"].as_str().expect("t");
        for (i, m) in report.metrics.iter().enumerate() {
            let row = m
                .treatments
                .iter()
                .find(|r| r.treatment == t)
                .expect("treatment");
            let s = row.summary.expect("summary");
            let want = arm["mean"][i].as_f64().expect("mean");
            assert_eq!(s.n, arm["n"][i].as_u64().expect("n"), "{} {t} n", m.name);
            assert!(
                (s.mean - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{} {t}: engine mean {} vs duckdb {want}",
                m.name,
                s.mean
            );
        }
    }
}

fn load_sqlite(dir: &Path, data: &Columnar) -> rusqlite::Result<()> {
    let store = SqliteStore::open(dir).expect("store");
    store.close();
    drop(store);
    let mut conn = rusqlite::Connection::open(dir.join("collector.db"))?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    {
        let mut s = tx.prepare(
            "INSERT INTO impressions (id, key, flag, treatment, version, label, ts, count, environment) \
             VALUES (?1, ?2, 'f', ?3, 1, 'r', ?4, 1, 'production')",
        )?;
        for (n, i) in data.imps.iter().enumerate() {
            s.execute(params![
                (n as u128).to_be_bytes().as_slice(),
                data.keys[i.user as usize],
                TREATMENTS[i.treatment as usize],
                i.ts
            ])?;
        }
        let mut s = tx.prepare(
            "INSERT INTO events (id, key, traffic_type, type, value, ts, properties, environment) \
             VALUES (?1, ?2, 'user', ?3, ?4, ?5, '{}', 'production')",
        )?;
        // In arrival order, as the collector stores them (roughly by time).
        let mut order: Vec<usize> = (0..data.events.len()).collect();
        order.sort_by_key(|&i| data.events[i].ts);
        for (n, e) in order.iter().map(|&i| &data.events[i]).enumerate() {
            let value = (e.ty == 2 || e.ty == 3).then_some(e.value);
            s.execute(params![
                (n as u128).to_be_bytes().as_slice(),
                data.keys[e.user as usize],
                TYPES[e.ty as usize],
                value,
                e.ts
            ])?;
        }
    }
    tx.commit()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let users = env_usize("USERS", 1_000_000);
    let events = env_usize("EVENTS", 10_000_000);
    let at = T0 + 48 * HOUR;
    let (data, gen_s) = timed(|| generate(users, events));
    println!(
        "data: {users} users ({} impressions), {events} events of {} types, 3 treatments, 5 metrics (generated in {gen_s:.1} s)",
        data.imps.len(),
        TYPES.len()
    );
    let metrics = metrics();
    let def = flag();
    let opts = RecalcOptions::at(at);

    // Load everything first, so the three timed paths run back to back (similar neighbours).
    let tmp = tempfile::tempdir().expect("tempdir");
    let sqlite_dir = tmp.path().join("sqlite");
    let sqlite = env_usize("SQLITE", 1) == 1;
    if sqlite {
        let (r, load_s) = timed(|| load_sqlite(&sqlite_dir, &data));
        r.expect("sqlite load");
        println!("SQLite store loaded in {load_s:.1} s");
    }
    let duckdb = env_usize("DUCKDB", 1) == 1;
    if duckdb {
        let (w, csv_s) = timed(|| write_csv(tmp.path(), &data));
        w.expect("csv");
        println!("CSV written in {csv_s:.1} s");
    }

    let mut engine_runs = Vec::new();
    let mut engine_cpu = f64::INFINITY;
    let mut report = None;
    for _ in 0..2 {
        let (r, s, c) = timed_cpu(|| recalculate(&data, "f", 1, Some(&def), &metrics, &opts));
        engine_runs.push(s);
        engine_cpu = engine_cpu.min(c);
        report = Some(r.expect("recalculate"));
    }
    let report = report.expect("report");
    let engine_s = engine_runs.iter().cloned().fold(f64::INFINITY, f64::min);
    println!(
        "engine (in memory): {engine_s:.3} s wall, {engine_cpu:.2} s CPU (runs {engine_runs:.3?}); users per arm {:?}, excluded {:?}, events used {}",
        report.arms.iter().map(|a| a.users).collect::<Vec<_>>(),
        report.excluded,
        report.events_used
    );

    let mut store_best = None;
    if sqlite {
        let store = SqliteStore::open(&sqlite_dir).expect("open");
        let mut runs = Vec::new();
        let mut cpu = f64::INFINITY;
        for _ in 0..2 {
            let (r, s, c) = timed_cpu(|| {
                let source = collector::engine::source::StoreSource(&store);
                recalculate(&source, "f", 1, Some(&def), &metrics, &opts)
            });
            runs.push(s);
            cpu = cpu.min(c);
            let r = r.expect("store recalculate");
            assert_eq!(
                serde_json::to_value(&r).expect("json"),
                serde_json::to_value(&report).expect("json"),
                "store and in-memory reports differ"
            );
        }
        let best = runs.iter().cloned().fold(f64::INFINITY, f64::min);
        println!(
            "engine (SQLite store, {} partitions): {best:.3} s wall, {cpu:.2} s CPU (runs {runs:.3?}); report identical to the in-memory one",
            collector::engine::DataSource::event_partitions(
                &collector::engine::source::StoreSource(&store)
            )
        );
        store_best = Some((best, cpu));
        store.close();
    }

    if duckdb {
        match run_duckdb(tmp.path(), at) {
            Ok(duck) => {
                check_against_duckdb(&report, &duck);
                let best = |k: &str| {
                    duck[k]
                        .as_array()
                        .expect("times")
                        .iter()
                        .filter_map(Value::as_f64)
                        .fold(f64::INFINITY, f64::min)
                };
                let (duck_s, duck_cpu) = (best("query_s"), best("cpu_s"));
                println!(
                    "duckdb {} ({} threads): query {duck_s:.3} s wall, {duck_cpu:.2} s CPU (runs {}); CSV load {:.1} s; per-treatment n and means agree with the engine",
                    duck["version"],
                    duck["threads"],
                    duck["query_s"],
                    duck["load_s"].as_f64().unwrap_or(0.0)
                );
                println!(
                    "ratio duckdb / engine (in memory): {:.2}x wall, {:.2}x CPU",
                    duck_s / engine_s,
                    duck_cpu / engine_cpu
                );
                if let Some((s, c)) = store_best {
                    println!(
                        "ratio duckdb / engine (SQLite store): {:.2}x wall, {:.2}x CPU",
                        duck_s / s,
                        duck_cpu / c
                    );
                }
            }
            Err(e) => println!("duckdb: SKIPPED ({})", e.lines().last().unwrap_or("")),
        }
    }
}

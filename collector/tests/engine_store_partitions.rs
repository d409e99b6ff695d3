//! The partitioned scan of the SQLite store (time slices of the covering index, one connection
//! and thread per partition) gives the same per-user values as a single-thread scan and as the
//! same items in memory, for every metric type, with and without properties read.

mod engine_data;

use agent_core::wire::{Batch, Event, Impression, SdkInfo};
use collector::engine::recalc::{PerUserValues, per_user_values};
use collector::engine::{
    DataSource, EngineError, EventQuery, EventRecord, ImpressionRecord, MemorySource, MetricSpec,
};
use collector::store::{SqliteStore, Store};
use engine_data::{MIN, RULE, T0};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The store read in a fixed number of partitions (0: the plain single-thread `scan_events`).
struct Parts<'a>(&'a SqliteStore, usize);

impl DataSource for Parts<'_> {
    fn impressions(
        &self,
        flag: &str,
        version: u64,
        f: &mut dyn FnMut(&ImpressionRecord<'_>),
    ) -> Result<(), EngineError> {
        Ok(self.0.scan_impressions(flag, version, f)?)
    }

    fn events(
        &self,
        types: &[String],
        from_ms: i64,
        until_ms: i64,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        Ok(self.0.scan_events(types, from_ms, until_ms, f)?)
    }

    fn event_partitions(&self) -> usize {
        self.1.max(1)
    }

    fn events_in_partition_for(
        &self,
        part: usize,
        q: &EventQuery<'_>,
        f: &mut dyn FnMut(&EventRecord<'_>),
    ) -> Result<(), EngineError> {
        if self.1 == 0 {
            return self.events(q.types, q.from_ms, q.until_ms, f);
        }
        Ok(self.0.scan_events_partition(part, self.1, q, f)?)
    }
}

fn data() -> (Vec<Impression>, Vec<Event>) {
    let mut rng = StdRng::seed_from_u64(5);
    let mut imps = Vec::new();
    let mut evs = Vec::new();
    for u in 0..400 {
        let key = format!("u{u}");
        let entry = T0 + rng.random_range(0..120) * MIN;
        let t = ["off", "on", "v2"][u % 3];
        imps.push(json!({"id": uuid::Uuid::new_v4(), "key": key, "flag": "f",
            "treatment": t, "version": 1, "label": RULE, "ts": entry}));
        if u % 50 == 0 {
            // A conflicting second treatment: excluded.
            imps.push(json!({"id": uuid::Uuid::new_v4(), "key": key, "flag": "f",
                "treatment": "on", "version": 1, "label": RULE, "ts": entry + MIN}));
        }
        for _ in 0..rng.random_range(0..30) {
            let ty = ["buy", "view", "error", "timing.load"][rng.random_range(0..4)];
            // Values on a 0.5 grid: sums are exact in any order, so partitions merge exactly.
            let value = (rng.random_range(0..400) as f64) * 0.5;
            let ts = entry + rng.random_range(-30..200) * MIN;
            let page = ["/a", "/b"][rng.random_range(0..2)];
            evs.push(
                json!({"id": uuid::Uuid::new_v4(), "key": key, "traffic_type": "user",
                "type": ty, "value": value, "ts": ts,
                "properties": {"page": page, "amount": value * 2.0}}),
            );
        }
    }
    // Events of users never exposed.
    for i in 0..200 {
        evs.push(json!({"id": uuid::Uuid::new_v4(), "key": format!("x{i}"),
            "traffic_type": "user", "type": "buy", "value": 1.0, "ts": T0 + i * MIN,
            "properties": {}}));
    }
    let imps = imps
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("impression"))
        .collect();
    let evs = evs
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("event"))
        .collect();
    (imps, evs)
}

fn metrics(with_properties: bool) -> Vec<MetricSpec> {
    let mut v = vec![
        json!({"name": "buys", "event_type": "buy", "metric_type": "count", "direction": "increase"}),
        json!({"name": "revenue", "event_type": "buy", "metric_type": "sum", "direction": "increase"}),
        json!({"name": "load", "event_type": "timing.load", "metric_type": "average", "direction": "decrease"}),
        json!({"name": "errors/view", "event_type": "error", "metric_type": "ratio",
               "denominator_event_type": "view", "direction": "decrease"}),
        json!({"name": "erring users", "event_type": "error", "metric_type": "percent_users", "direction": "decrease"}),
        json!({"name": "views/hour", "event_type": "view", "metric_type": "rate", "direction": "increase"}),
        json!({"name": "apdex", "event_type": "timing.load", "metric_type": "apdex",
               "direction": "increase", "apdex_target_ms": 50}),
    ];
    if with_properties {
        v.push(
            json!({"name": "page a buys", "event_type": "buy", "metric_type": "count",
               "direction": "increase", "filter": {"page": "/a"}}),
        );
        v.push(
            json!({"name": "amount", "event_type": "buy", "metric_type": "sum",
               "direction": "increase", "value_property": "amount"}),
        );
    }
    v.iter()
        .map(|m: &Value| MetricSpec::from_json(m).expect("metric"))
        .collect()
}

fn values(source: &dyn DataSource, metrics: &[MetricSpec]) -> PerUserValues {
    per_user_values(source, "f", 1, Some(RULE), metrics, T0 + 150 * MIN).expect("values")
}

#[test]
fn partitioned_store_scans_equal_the_single_thread_scan_and_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
    let (imps, evs) = data();
    for (i, chunk) in evs.chunks(500).enumerate() {
        let batch = Batch {
            batch_id: uuid::Uuid::new_v4(),
            sdk: SdkInfo {
                name: "t".into(),
                version: "0".into(),
                platform: "rust".into(),
            },
            impressions: if i == 0 { imps.clone() } else { Vec::new() },
            events: chunk.to_vec(),
            dropped: vec![],
        };
        store.ingest(batch, "production").expect("ingest");
    }
    let memory = MemorySource {
        impressions: imps,
        events: evs,
    };
    for with_properties in [false, true] {
        let m = metrics(with_properties);
        let reference = values(&Parts(&store, 0), &m);
        assert!(reference.events_used > 1_000, "{}", reference.events_used);
        // Users 0, 50, ... saw `on` a minute after their treatment: a conflict unless it was `on`.
        let conflicts = (0..400).filter(|u| u % 50 == 0 && u % 3 != 1).count() as u64;
        assert_eq!(reference.exclusions.multiple_treatments, conflicts);
        let mem = values(&memory, &m);
        for parts in [1, 2, 3, 7] {
            let got = values(&Parts(&store, parts), &m);
            assert_eq!(got.counts, reference.counts, "{parts} partitions");
            assert_eq!(got.events_used, reference.events_used, "{parts} partitions");
            assert_eq!(got.metrics, reference.metrics, "{parts} partitions");
        }
        assert_eq!(mem.counts, reference.counts);
        assert_eq!(mem.events_used, reference.events_used);
        assert_eq!(mem.metrics, reference.metrics);
        // The store's own partitioning (the machine's parallelism) as the engine uses it.
        let own = values(&collector::engine::source::StoreSource(&store), &m);
        assert_eq!(own.metrics, reference.metrics);
    }
    store.close();
}

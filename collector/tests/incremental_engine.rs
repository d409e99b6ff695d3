//! The incremental engine state against the full recalculation over a real SQLite store: fed
//! batch by batch after each commit, it must answer every scheduled check with the per-user
//! values, exclusions and analysis the full recalculation gives at that check time (1e-9
//! relative), whatever the order batches arrive in.

mod incremental_support;

use collector::engine::incremental::OrphanLimits;
use collector::engine::incremental_set::Incremental;
use collector::store::SqliteStore;
use incremental_support::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[test]
fn every_check_equals_the_full_recalculation_in_arrival_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("store");
    let inc = Incremental::default();
    let batches = batches_in_arrival_order(traffic(1, 400, 20), 1, 25);
    let times = check_times();
    let mut next = 0;
    let mut metrics = metric_specs(3.0);
    let mut rng = StdRng::seed_from_u64(7);
    for (i, (at, b)) in batches.iter().enumerate() {
        // A run now: every check due, each at its own time (replayed in order).
        while next < times.len() && times[next] <= *at {
            compare_at(&store, &inc, &metrics, times[next], *at);
            next += 1;
        }
        inc.expire(*at);
        ingest(&store, &inc, b);
        if i == batches.len() / 3 {
            // A retried batch: nothing new, nothing fed twice.
            ingest(&store, &inc, &batches[i - 5].1);
        }
        if i == batches.len() / 2 {
            // A new batch repeating one stored item: the state cannot tell which are new.
            let mut partly = batches[i + 1].1.clone();
            partly.batch_id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
            let stored = batches[..=i]
                .iter()
                .flat_map(|(_, x)| &x.impressions)
                .find(|imp| imp.version == VERSION)
                .cloned()
                .expect("an impression of the version");
            partly.impressions.push(stored);
            ingest(&store, &inc, &partly);
        }
        if i == 2 * batches.len() / 3 {
            // A changed metric definition: the state is rebuilt for it.
            metrics = metric_specs(2.0);
        }
    }
    let end = times[times.len() - 1] + 60 * MIN;
    while next < times.len() {
        compare_at(&store, &inc, &metrics, times[next], end);
        next += 1;
    }
    let s = inc.stats();
    eprintln!("{s:?}");
    assert!(s.users > 300, "{s:?}");
    // The first read, the partly repeated batch and the changed metric rebuild; most reads
    // are incremental.
    assert!(s.rebuilds >= 3, "{s:?}");
    assert!(s.invalidations >= 1, "{s:?}");
    assert!(s.incremental_reads > s.rebuilds, "{s:?}");
}

#[test]
fn random_batch_orders_give_the_full_recalculation_at_every_check() {
    let mut incremental = 0;
    let mut rebuilds = 0;
    for seed in 0..16u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("store");
        // Every third seed holds very few orphans, so drops and the fallback they cause run too.
        let limits = if seed % 3 == 2 {
            OrphanLimits {
                capacity: 40,
                ..OrphanLimits::default()
            }
        } else {
            OrphanLimits::default()
        };
        let inc = Incremental::new(limits);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut items = traffic(seed + 100, 60, 10);
        items.shuffle(&mut rng);
        let mut batches = Vec::new();
        for chunk in items.chunks(rng.random_range(1..12)) {
            batches.push(batch(&mut rng, chunk));
        }
        let metrics = metric_specs(3.0);
        let times = check_times();
        let mut next = 0;
        for b in &batches {
            if rng.random_bool(0.25) && next < times.len() {
                for _ in 0..rng.random_range(1..4) {
                    if next < times.len() {
                        let now = times[next] + rng.random_range(0..30) * MIN;
                        compare_at(&store, &inc, &metrics, times[next], now);
                        inc.expire(now);
                        next += 1;
                    }
                }
            }
            ingest(&store, &inc, b);
            assert!(inc.stats().orphans <= limits.capacity as u64);
        }
        while next < times.len() {
            compare_at(&store, &inc, &metrics, times[next], times[next]);
            next += 1;
        }
        let s = inc.stats();
        incremental += s.incremental_reads;
        rebuilds += s.rebuilds;
    }
    eprintln!("incremental reads {incremental}, rebuilds {rebuilds}");
    assert!(incremental > rebuilds, "{incremental} vs {rebuilds}");
}

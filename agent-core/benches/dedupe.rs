//! The impression deduper's hot path, as the pipeline drives it for every impression: fold a
//! duplicate (`absorb`) or remember a new identity (`record`), with a seal now and then.
//!
//! Run: `cargo bench -p agent-core --bench dedupe`.

use agent_core::dedupe::Deduper;
use agent_core::wire::Impression;
use divan::{Bencher, black_box};
use uuid::Uuid;

fn main() {
    divan::main();
}

fn impression(key: &str) -> Impression {
    Impression {
        id: Uuid::nil(),
        key: key.to_owned(),
        flag: "checkout".to_owned(),
        treatment: "on".to_owned(),
        version: 7,
        label: "default rule".to_owned(),
        ts: 1_700_000_000_000,
        bucketing_key: None,
        count: 1,
    }
}

/// `users` identities seen over and over in one hour: after the first round every call is a
/// duplicate folded into a pending or a late count; a seal every 500 impressions.
#[divan::bench(args = [16, 4096, 40_000])]
fn absorb_or_record(bencher: Bencher, users: usize) {
    let impressions: Vec<Impression> = (0..users)
        .map(|i| impression(&format!("user-{i}")))
        .collect();
    let mut deduper = Deduper::default();
    let mut pending: Vec<Impression> = Vec::new();
    let mut i = 0usize;
    bencher.bench_local(|| {
        i = (i + 1) % users;
        if let Some(new) = deduper.absorb(impressions[i].clone(), &mut pending) {
            let _ = deduper.record(&new, pending.len());
            pending.push(new);
        }
        if pending.len() >= 500 {
            pending.clear();
            deduper.sealed();
        }
        black_box(deduper.len())
    });
}

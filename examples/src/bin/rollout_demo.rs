//! The rollout demo (examples/src/rollout.rs): a degraded rollout detected, alerted on and killed,
//! on simulated time, in seconds.
//!
//! Run: `cargo run --release -p examples --bin rollout-demo [-- USERS [DATA_DIR]]`.

use anyhow::Context;
use examples::rollout::{Options, run};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut options = Options::default();
    if let Some(n) = args.next() {
        options.users = n.parse().context("USERS must be a number")?;
    }
    options.data_dir = args.next().map(Into::into);
    run(options)?.stop()
}

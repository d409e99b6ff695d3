//! Cost of the sequential (Hunter–Worsley) boundary per check (notes 3.d target: < 1 ms).
//! `cargo bench -p stats --bench boundary`.
//!
//! * `chain_check`: one later check's critical value (Gauss–Legendre 96 inside 60 bisection
//!   steps), at a typical adjacent correlation and at the extreme 0.999.
//! * `first_check`: the first eligible check (a normal quantile only).
//! * `window_52_checks`: every check of a 24-hour window, as the engine advances one monitor.
//! * `bonferroni_check`: the divide-by-checks critical value, for scale.

use divan::black_box;
use stats::boundary::{HwChain, bonferroni_critical, chain_critical};

fn main() {
    divan::main();
}

#[divan::bench(args = [0.5, 0.95, 0.999])]
fn chain_check(rho: f64) -> f64 {
    chain_critical(black_box(2.9), black_box(rho), black_box(0.05 / 52.0)).unwrap_or(f64::NAN)
}

#[divan::bench]
fn first_check() -> f64 {
    HwChain::new(black_box(0.05), 52)
        .and_then(|mut c| c.advance(1, 0.0))
        .unwrap_or(f64::NAN)
}

#[divan::bench]
fn window_52_checks() -> f64 {
    let mut chain = HwChain::new(0.05, 52).unwrap_or_else(|_| unreachable!());
    let mut last = 0.0;
    for k in 1..=52usize {
        // Canonical uniform-arrival correlation sqrt((k-1)/k).
        let rho = ((k - 1) as f64 / k as f64).sqrt();
        last = chain.advance(k, black_box(rho)).unwrap_or(f64::NAN);
    }
    last
}

#[divan::bench]
fn bonferroni_check() -> f64 {
    bonferroni_critical(black_box(0.05), black_box(52)).unwrap_or(f64::NAN)
}

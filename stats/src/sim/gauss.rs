//! Normal-theory reference for the sequential boundary: the window-wide false-alert rate of the
//! Hunter–Worsley chain when the statistics are exactly a Gaussian random walk observed at known
//! information levels (canonical correlation sqrt(n'/n), no estimation of rho, no CLT error).
//! Separates what the boundary spends by design from what the plug-in estimates and the data
//! add (used for the 30-minute investigation in STATISTICS.md).

use super::path::path_seed;
use crate::boundary::{HwChain, bonferroni_critical};
use crate::error::{StatsError, finite};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// False-alert rates (sequential, Bonferroni) of a Gaussian walk under H0 observed at `info[k]`
/// (information, e.g. per-arm users, at scheduled check k+1; `None` = check ineligible),
/// from `paths` seeded walks. Returns (sequential rate, Bonferroni rate).
pub fn gaussian_hw_rate(
    alpha: f64,
    info: &[Option<f64>],
    paths: u64,
    seed: u64,
) -> Result<(f64, f64), StatsError> {
    let k = info.len();
    let z = bonferroni_critical(alpha, k)?;
    let mut chain = HwChain::new(alpha, k)?;
    // Critical values are fixed by the information levels, so compute them once.
    let mut crit = vec![None; k];
    let mut prev: Option<f64> = None;
    for (j, i) in info.iter().enumerate() {
        if let Some(n) = *i {
            if finite("info", n)? <= prev.unwrap_or(0.0) {
                return Err(StatsError::OutOfRange {
                    field: "info",
                    value: n,
                    range: "positive, increasing",
                });
            }
            let rho = prev.map_or(0.0, |p| (p / n).sqrt());
            crit[j] = Some(chain.advance(j + 1, rho)?);
            prev = Some(n);
        }
    }
    let mut rng = StdRng::seed_from_u64(path_seed(seed, 0));
    let (mut seq, mut bonf) = (0u64, 0u64);
    for _ in 0..paths {
        let (mut s, mut last) = (0.0, 0.0);
        let (mut hit_seq, mut hit_bonf) = (false, false);
        for (j, i) in info.iter().enumerate() {
            let Some(n) = *i else { continue };
            let e: f64 = StandardNormal.sample(&mut rng);
            s += (n - last).sqrt() * e;
            last = n;
            let t = s / n.sqrt();
            hit_seq |= crit[j].is_some_and(|c| t >= c);
            hit_bonf |= t >= z;
        }
        seq += hit_seq as u64;
        bonf += hit_bonf as u64;
    }
    Ok((seq as f64 / paths as f64, bonf as f64 / paths as f64))
}

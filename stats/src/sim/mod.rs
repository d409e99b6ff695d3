//! Monte Carlo validation of the boundaries (notes 3.d): seeded data generators, one monitoring
//! window per path with every scheduled check applied, first alert per mode, A/A false-alert
//! rate, power, time to detect and the dominance property.

mod gauss;
mod generate;
pub mod key_family;
mod path;
mod srm;

pub use gauss::gaussian_hw_rate;
pub use generate::{Arrival, BINARY_P, Family};
pub use path::{PathResult, Workspace, simulate_path};
pub use srm::{SrmCellResult, run_srm_cell};

use crate::error::{StatsError, open_unit};
use crate::min_samples::MinSamplesRule;
use crate::schedule::Schedule;
use serde::{Deserialize, Serialize};

/// One simulation cell: a data family, traffic, split, effect and window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Data generator.
    pub family: Family,
    /// Users arriving per day (uniformly); the window gets users_per_day * W / 1440.
    pub users_per_day: f64,
    /// Monitoring window in minutes.
    pub window_minutes: u32,
    /// Share of users in the treatment arm.
    pub treatment_share: f64,
    /// True relative degradation of the treatment (0 for A/A); higher is bad.
    pub effect: f64,
    /// Relative degradation threshold of the policy.
    pub threshold: f64,
    /// Window-wide one-sided level.
    pub alpha: f64,
    /// Minimum users per arm before a check is eligible.
    pub min_samples: u64,
    /// Fixed minimum, or the opt-in skew-adjusted one (min_samples * max(1, skew^2)).
    pub min_samples_rule: MinSamplesRule,
    /// Arrival pattern.
    pub arrival: Arrival,
    /// Real treatment share of the assignment when it differs from `treatment_share` (an injected
    /// sample-ratio mismatch; used by [`run_srm_cell`]).
    pub assigned_share: Option<f64>,
    /// Seed of path 0; path i uses a seed derived from (seed, i).
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            family: Family::Fixed,
            users_per_day: 10_000.0,
            window_minutes: 1440,
            treatment_share: 0.5,
            effect: 0.0,
            threshold: 0.0,
            alpha: 0.05,
            min_samples: crate::degradation::DEFAULT_MIN_SAMPLES,
            min_samples_rule: MinSamplesRule::Fixed,
            arrival: Arrival::Uniform,
            assigned_share: None,
            seed: 1,
        }
    }
}

/// Per-mode totals over the paths of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeSummary {
    /// Paths with at least one alert in the window.
    pub alerts: u64,
    /// alerts / paths.
    pub rate: f64,
    /// Monte Carlo standard error of the rate.
    pub mc_se: f64,
    /// Paths whose first alert was at each check (index 0 = check 1).
    pub first_alert_histogram: Vec<u64>,
    /// Offset (minutes) of the check where the cumulative alert rate reaches 0.5, if any.
    pub t50_minutes: Option<u32>,
}

/// Results of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The cell's configuration.
    pub config: SimConfig,
    /// Number of paths simulated.
    pub paths: u64,
    /// Check offsets of the window, minutes.
    pub offsets: Vec<u32>,
    /// Divide-by-checks mode.
    pub bonferroni: ModeSummary,
    /// Hunter–Worsley chain with estimated adjacent correlation.
    pub sequential: ModeSummary,
    /// Always-valid normal mixture (for comparison only; not used at scheduled checks).
    pub always_valid: ModeSummary,
    /// Paths where the sequential mode alerted later than Bonferroni (must be 0).
    pub dominance_violations: u64,
    /// Paths where the sequential mode alerted strictly earlier than Bonferroni (or only it).
    pub sequential_earlier: u64,
}

pub(crate) fn summarize_mode(firsts: &[Option<usize>], offsets: &[u32]) -> ModeSummary {
    let paths = firsts.len() as f64;
    let mut hist = vec![0u64; offsets.len()];
    for k in firsts.iter().flatten() {
        hist[k - 1] += 1;
    }
    let alerts: u64 = hist.iter().sum();
    let rate = alerts as f64 / paths;
    let mut cum = 0u64;
    let mut t50 = None;
    for (j, h) in hist.iter().enumerate() {
        cum += h;
        if t50.is_none() && cum as f64 >= 0.5 * paths {
            t50 = Some(offsets[j]);
        }
    }
    ModeSummary {
        alerts,
        rate,
        mc_se: (rate * (1.0 - rate) / paths).sqrt(),
        first_alert_histogram: hist,
        t50_minutes: t50,
    }
}

/// Runs `f(workspace, i)` for path indices 0..paths on `threads` threads, in index order
/// (so results do not depend on the thread count).
pub(crate) fn parallel_paths<W, T, F>(
    paths: u64,
    threads: usize,
    f: F,
) -> Result<Vec<T>, StatsError>
where
    W: Default,
    T: Send,
    F: Fn(&mut W, u64) -> Result<T, StatsError> + Sync,
{
    let threads = threads.clamp(1, 64) as u64;
    let chunk = paths.div_ceil(threads);
    let f = &f;
    let results: Vec<Result<Vec<T>, StatsError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut ws = W::default();
                    (t * chunk..((t + 1) * chunk).min(paths))
                        .map(|i| f(&mut ws, i))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(StatsError::Undetectable("simulation thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(paths as usize);
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Simulates `paths` windows of one cell on `threads` threads (results do not depend on threads).
pub fn run_cell(config: &SimConfig, paths: u64, threads: usize) -> Result<CellResult, StatsError> {
    open_unit("alpha", config.alpha)?;
    open_unit("treatment_share", config.treatment_share)?;
    let schedule = Schedule::default();
    let offsets = schedule.offsets_in(config.window_minutes)?.to_vec();
    let all = parallel_paths(paths, threads, |ws: &mut Workspace, i| {
        simulate_path(config, &offsets, i, ws)
    })?;
    let pick = |f: fn(&PathResult) -> Option<usize>| all.iter().map(f).collect::<Vec<_>>();
    let b = pick(|p| p.bonferroni);
    let s = pick(|p| p.sequential);
    let key = |x: Option<usize>| x.unwrap_or(usize::MAX);
    Ok(CellResult {
        config: *config,
        paths,
        dominance_violations: b
            .iter()
            .zip(&s)
            .filter(|(b, s)| key(**s) > key(**b))
            .count() as u64,
        sequential_earlier: b
            .iter()
            .zip(&s)
            .filter(|(b, s)| key(**s) < key(**b))
            .count() as u64,
        bonferroni: summarize_mode(&b, &offsets),
        sequential: summarize_mode(&s, &offsets),
        always_valid: summarize_mode(&pick(|p| p.always_valid), &offsets),
        offsets,
    })
}

#[cfg(test)]
mod tests;

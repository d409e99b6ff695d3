//! Sample-ratio mismatch cells (notes 3.c, 3.d item 5): arrivals and assignment only, with an
//! optional injected mismatch (`assigned_share`); at every scheduled check the chi-square test
//! (p < 0.001 at that look) and the anytime-valid Dirichlet-multinomial test are applied.

use super::path::path_seed;
use super::{ModeSummary, SimConfig, parallel_paths, summarize_mode};
use crate::error::{StatsError, open_unit};
use crate::schedule::Schedule;
use crate::srm::{SequentialSrm, chi_square};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Results of one SRM cell: how often and how soon each test flags the version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrmCellResult {
    /// The cell's configuration (`assigned_share` is the real split, `treatment_share` the rule's).
    pub config: SimConfig,
    /// Number of paths simulated.
    pub paths: u64,
    /// Check offsets of the window, minutes.
    pub offsets: Vec<u32>,
    /// Chi-square at each check: share of windows flagged at any check, first-flag histogram.
    pub chi_square: ModeSummary,
    /// Sequential (Dirichlet-multinomial) test.
    pub sequential: ModeSummary,
}

/// First flagging check (1-based) of (chi-square, sequential) on one path.
fn srm_path(
    cfg: &SimConfig,
    offsets: &[u32],
    index: u64,
    bins: &mut Vec<[u64; 2]>,
) -> Result<(Option<usize>, Option<usize>), StatsError> {
    let mut rng = StdRng::seed_from_u64(path_seed(cfg.seed, index));
    let window = cfg.window_minutes as f64;
    let n = (cfg.users_per_day * window / 1440.0).round() as u64;
    let share = cfg.assigned_share.unwrap_or(cfg.treatment_share);
    bins.clear();
    bins.resize(offsets.len(), [0, 0]);
    for _ in 0..n {
        let a = cfg.arrival.sample(&mut rng, window);
        let treated = rng.random::<f64>() < share;
        // Present from the first check at or after arrival.
        let j = offsets.partition_point(|&t| (t as f64) < a);
        if j < bins.len() {
            bins[j][treated as usize] += 1;
        }
    }
    let weights = [1.0 - cfg.treatment_share, cfg.treatment_share];
    let mut seq = SequentialSrm::default();
    let (mut first_chi, mut first_seq) = (None, None);
    let mut counts = [0u64; 2];
    for (j, b) in bins.iter().enumerate() {
        counts[0] += b[0];
        counts[1] += b[1];
        if first_chi.is_none() && chi_square(&counts, &weights)?.mismatch {
            first_chi = Some(j + 1);
        }
        // The sequential test is defined on cumulative counts at every look, flagged or not.
        if counts.iter().all(|&c| c >= crate::srm::SRM_MIN_PER_ARM) {
            seq.update(&counts, &weights)?;
        }
        if first_seq.is_none() && seq.mismatch() {
            first_seq = Some(j + 1);
        }
    }
    Ok((first_chi, first_seq))
}

/// Simulates `paths` windows of an SRM cell on `threads` threads (results do not depend on threads).
pub fn run_srm_cell(
    config: &SimConfig,
    paths: u64,
    threads: usize,
) -> Result<SrmCellResult, StatsError> {
    open_unit("treatment_share", config.treatment_share)?;
    if let Some(s) = config.assigned_share {
        open_unit("assigned_share", s)?;
    }
    let offsets = Schedule::default()
        .offsets_in(config.window_minutes)?
        .to_vec();
    let firsts = parallel_paths(paths, threads, |bins: &mut Vec<[u64; 2]>, i| {
        srm_path(config, &offsets, i, bins)
    })?;
    let chi: Vec<_> = firsts.iter().map(|f| f.0).collect();
    let seq: Vec<_> = firsts.iter().map(|f| f.1).collect();
    Ok(SrmCellResult {
        config: *config,
        paths,
        chi_square: summarize_mode(&chi, &offsets),
        sequential: summarize_mode(&seq, &offsets),
        offsets,
    })
}

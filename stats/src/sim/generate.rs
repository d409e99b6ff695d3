//! Data generators of notes 3.d: per-user values at every check of the window.

use rand::Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Poisson};
use serde::{Deserialize, Serialize};

/// Per-user metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Lognormal value fixed at exposure, mean 1, CV 1.
    Fixed,
    /// Cumulative 0/1: 65 % convert eventually after an Exp(60 min) delay.
    Pct,
    /// Cumulative event count, Gamma(0.5)-Poisson with mean 1 per hour.
    Count,
    /// Rare 0/1 fixed at exposure with p = [`BINARY_P`] (skewness 6.9): the skew-rule cells.
    Binary,
}

/// Arrival pattern of users over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Uniform over the window.
    #[default]
    Uniform,
    /// Half the users uniformly in the first hour, the rest uniformly over the remaining window
    /// (all uniform when the window is an hour or shorter).
    Burst,
}

/// Length (minutes) of the burst of [`Arrival::Burst`].
const BURST_MINUTES: f64 = 60.0;

impl Arrival {
    /// One user's arrival time in minutes after the version change, in [0, window).
    pub fn sample<R: Rng>(self, rng: &mut R, window: f64) -> f64 {
        let u = rng.random::<f64>();
        match self {
            Arrival::Burst if window > BURST_MINUTES => {
                if u < 0.5 {
                    2.0 * u * BURST_MINUTES
                } else {
                    BURST_MINUTES + (2.0 * u - 1.0) * (window - BURST_MINUTES)
                }
            }
            _ => u * window,
        }
    }
}

/// Conversion probability of the `binary` family (baseline).
pub const BINARY_P: f64 = 0.02;

/// Eventual conversion probability of the `pct` family.
const PCT_CONVERT: f64 = 0.65;
/// Mean conversion delay (minutes) of the `pct` family.
const PCT_DELAY_MINUTES: f64 = 60.0;
/// Gamma shape of the per-user rate of the `count` family (overdispersion).
const COUNT_SHAPE: f64 = 0.5;
/// Mean events per minute of the `count` family (1 per hour).
const COUNT_RATE: f64 = 1.0 / 60.0;

/// Fills `values[j]` with the user's value at check j (offsets in minutes) for a user arriving
/// at `arrival`; `scale` = 1 + effect multiplies the family's mean. Checks before arrival get 0.
pub fn fill_user<R: Rng>(
    family: Family,
    rng: &mut R,
    arrival: f64,
    scale: f64,
    offsets: &[u32],
    values: &mut [f64],
) {
    values.fill(0.0);
    let first = offsets.partition_point(|&t| (t as f64) < arrival);
    match family {
        Family::Fixed => {
            let sigma2 = std::f64::consts::LN_2; // CV 1
            let v = LogNormal::new(-sigma2 / 2.0, sigma2.sqrt())
                .map(|d| d.sample(rng))
                .unwrap_or(1.0)
                * scale;
            values[first..].fill(v);
        }
        Family::Binary => {
            if rng.random::<f64>() < (BINARY_P * scale).min(1.0) {
                values[first..].fill(1.0);
            }
        }
        Family::Pct => {
            if rng.random::<f64>() < (PCT_CONVERT * scale).min(1.0) {
                let delay = Exp::new(1.0 / PCT_DELAY_MINUTES)
                    .map(|d| d.sample(rng))
                    .unwrap_or(0.0);
                let at = arrival + delay;
                let from = offsets.partition_point(|&t| (t as f64) < at);
                values[from.max(first)..].fill(1.0);
            }
        }
        Family::Count => {
            let end = offsets.last().copied().unwrap_or(0) as f64;
            let rate = Gamma::new(COUNT_SHAPE, COUNT_RATE / COUNT_SHAPE)
                .map(|d| d.sample(rng))
                .unwrap_or(0.0)
                * scale;
            let mean = rate * (end - arrival);
            if mean <= 0.0 {
                return;
            }
            let events = Poisson::new(mean).map(|d| d.sample(rng)).unwrap_or(0.0) as u64;
            for _ in 0..events {
                let at = arrival + rng.random::<f64>() * (end - arrival);
                let j = offsets.partition_point(|&t| (t as f64) < at);
                if j < values.len() {
                    values[j] += 1.0;
                }
            }
            let mut cum = 0.0;
            for v in values[first..].iter_mut() {
                cum += *v;
                *v = cum;
            }
        }
    }
}

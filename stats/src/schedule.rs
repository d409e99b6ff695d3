//! The check schedule (notes 3.e): a data-independent table of check offsets after a version change.

use crate::error::StatsError;
use serde::{Deserialize, Serialize};

/// Shortest monitoring window, in minutes.
pub const MIN_WINDOW_MINUTES: u32 = 30;
/// Longest monitoring window (28 days), in minutes.
pub const MAX_WINDOW_MINUTES: u32 = 28 * 24 * 60;
/// Default monitoring window (24 hours), in minutes.
pub const DEFAULT_WINDOW_MINUTES: u32 = 24 * 60;

/// Check offsets, in minutes after the version change, strictly increasing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<u32>", into = "Vec<u32>")]
pub struct Schedule {
    offsets_minutes: Vec<u32>,
}

impl Default for Schedule {
    /// Every 5 min to 30 min, every 15 min to 8 h, hourly to 24 h, daily to day 14, then days 21 and 28.
    fn default() -> Self {
        let mut t: Vec<u32> = (1..=6).map(|i| 5 * i).collect();
        t.extend((45..=480).step_by(15));
        t.extend((9..=24).map(|h| h * 60));
        t.extend((2..=14).map(|d| d * 1440));
        t.extend([21 * 1440, 28 * 1440]);
        Self { offsets_minutes: t }
    }
}

impl Schedule {
    /// A custom table; offsets must be positive and strictly increasing.
    pub fn new(offsets_minutes: Vec<u32>) -> Result<Self, StatsError> {
        let increasing = offsets_minutes.windows(2).all(|w| w[0] < w[1]);
        if offsets_minutes.is_empty() || offsets_minutes[0] == 0 || !increasing {
            return Err(StatsError::BadSchedule);
        }
        Ok(Self { offsets_minutes })
    }

    /// All offsets of the table, in minutes.
    pub fn offsets(&self) -> &[u32] {
        &self.offsets_minutes
    }

    /// The offsets of the checks inside a window of `window_minutes` (30 min..28 days).
    pub fn offsets_in(&self, window_minutes: u32) -> Result<&[u32], StatsError> {
        validate_window(window_minutes)?;
        let k = self
            .offsets_minutes
            .partition_point(|&t| t <= window_minutes);
        Ok(&self.offsets_minutes[..k])
    }

    /// K(W): the number of scheduled checks in a window of `window_minutes`.
    pub fn checks_in(&self, window_minutes: u32) -> Result<usize, StatsError> {
        Ok(self.offsets_in(window_minutes)?.len())
    }

    /// How many checks of the window are due `elapsed_minutes` after the version change.
    pub fn checks_due(
        &self,
        window_minutes: u32,
        elapsed_minutes: u32,
    ) -> Result<usize, StatsError> {
        let w = self.offsets_in(window_minutes)?;
        Ok(w.partition_point(|&t| t <= elapsed_minutes))
    }
}

impl TryFrom<Vec<u32>> for Schedule {
    type Error = StatsError;
    fn try_from(v: Vec<u32>) -> Result<Self, StatsError> {
        Self::new(v)
    }
}

impl From<Schedule> for Vec<u32> {
    fn from(s: Schedule) -> Self {
        s.offsets_minutes
    }
}

/// Refuses windows shorter than 30 minutes or longer than 28 days.
pub fn validate_window(window_minutes: u32) -> Result<u32, StatsError> {
    if (MIN_WINDOW_MINUTES..=MAX_WINDOW_MINUTES).contains(&window_minutes) {
        Ok(window_minutes)
    } else {
        Err(StatsError::OutOfRange {
            field: "window_minutes",
            value: window_minutes as f64,
            range: "[30, 40320]",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_table_of_the_notes() {
        let s = Schedule::default();
        let table = [
            (30, 6),
            (60, 8),
            (120, 12),
            (240, 20),
            (480, 36),
            (720, 40),
            (1440, 52),
            (2880, 53),
            (7 * 1440, 58),
            (14 * 1440, 65),
            (28 * 1440, 67),
        ];
        for (w, k) in table {
            assert_eq!(s.checks_in(w).unwrap(), k, "window {w}");
        }
        let alpha_over_k = [
            0.0083, 0.0063, 0.0042, 0.0025, 0.0014, 0.0013, 0.00096, 0.00094, 0.00086, 0.00077,
            0.00075,
        ];
        for ((w, _), a) in table.iter().zip(alpha_over_k) {
            let k = s.checks_in(*w).unwrap() as f64;
            assert!(((0.05 / k) - a).abs() / a < 0.05, "alpha/K at {w}");
        }
    }

    #[test]
    fn offsets_and_due_checks() {
        let s = Schedule::default();
        assert_eq!(s.offsets_in(30).unwrap(), &[5, 10, 15, 20, 25, 30]);
        assert_eq!(s.offsets_in(60).unwrap(), &[5, 10, 15, 20, 25, 30, 45, 60]);
        assert_eq!(*s.offsets_in(1440).unwrap().last().unwrap(), 1440);
        assert_eq!(s.checks_due(1440, 4).unwrap(), 0);
        assert_eq!(s.checks_due(1440, 46).unwrap(), 7);
        assert_eq!(s.checks_due(30, 10_000).unwrap(), 6);
    }

    #[test]
    fn window_limits_and_bad_tables() {
        let s = Schedule::default();
        assert!(s.checks_in(29).is_err());
        assert!(s.checks_in(28 * 1440 + 1).is_err());
        assert!(Schedule::new(vec![5, 5]).is_err());
        assert!(Schedule::new(vec![0, 5]).is_err());
        assert!(Schedule::new(vec![]).is_err());
        assert_eq!(
            Schedule::new(vec![5, 30]).unwrap().checks_in(30).unwrap(),
            2
        );
    }
}

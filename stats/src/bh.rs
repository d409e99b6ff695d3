//! Benjamini–Hochberg false-discovery-rate adjustment across a flag's key metrics.

use crate::error::{StatsError, finite, open_unit};

/// BH-adjusted p-values (step-up, capped at 1), in the input order.
pub fn adjust(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    for &p in p_values {
        finite("p_values", p)?;
        if !(0.0..=1.0).contains(&p) {
            return Err(StatsError::OutOfRange {
                field: "p_values",
                value: p,
                range: "[0, 1]",
            });
        }
    }
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p_values[i] * m as f64 / (rank + 1) as f64);
        adjusted[i] = running;
    }
    Ok(adjusted)
}

/// Which hypotheses BH rejects at false-discovery rate `q`.
pub fn reject(p_values: &[f64], q: f64) -> Result<Vec<bool>, StatsError> {
    open_unit("q", q)?;
    Ok(adjust(p_values)?.into_iter().map(|p| p <= q).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_example() {
        let p = [0.01, 0.04, 0.03, 0.005, 0.2];
        let a = adjust(&p).unwrap();
        // sorted 0.005,0.01,0.03,0.04,0.2 -> *5/rank = .025,.025,.05,.05,.2
        let want = [0.025, 0.05, 0.05, 0.025, 0.2];
        for (x, y) in a.iter().zip(want) {
            assert!((x - y).abs() < 1e-12, "{a:?}");
        }
        assert_eq!(
            reject(&p, 0.04).unwrap(),
            vec![true, false, false, true, false]
        );
        assert!(adjust(&[]).unwrap().is_empty());
        assert!(adjust(&[1.5]).is_err());
        assert!(reject(&[0.1], 0.0).is_err());
    }
}

//! Always-valid one-sided normal-mixture boundary for unscheduled looks (notes 3.b, option ii;
//! Howard et al. in GrowthBook's parametrisation). Weaker than the chain at early checks.

use crate::error::{StatsError, finite, open_unit};

/// Critical value for z at per-arm sample size `n`, tuned for `n_star` (per-arm users at a
/// quarter of the window).
pub fn mixture_critical(alpha: f64, n: f64, n_star: f64) -> Result<f64, StatsError> {
    open_unit("alpha", alpha)?;
    if alpha >= 0.5 {
        return Err(StatsError::OutOfRange {
            field: "alpha",
            value: alpha,
            range: "(0, 0.5)",
        });
    }
    for (field, v) in [("n", n), ("n_star", n_star)] {
        if finite(field, v)? <= 0.0 {
            return Err(StatsError::OutOfRange {
                field,
                value: v,
                range: "(0, inf)",
            });
        }
    }
    let l = (2.0 * alpha).ln();
    let kappa = -2.0 * l + (1.0 - 2.0 * l).ln();
    let r = kappa * n / n_star;
    Ok((2.0 * (1.0 + 1.0 / r) * (1.0 + (1.0 + r).sqrt() / (2.0 * alpha)).ln()).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value_and_shape() {
        // r = kappa at n = n_star: hand value sqrt(2 (1 + 1/k) ln(1 + sqrt(1 + k) / 0.1)).
        let k = -2.0 * 0.1f64.ln() + (1.0 - 2.0 * 0.1f64.ln()).ln();
        let want = (2.0 * (1.0 + 1.0 / k) * (1.0 + (1.0 + k).sqrt() / 0.1).ln()).sqrt();
        let c = mixture_critical(0.05, 100.0, 100.0).unwrap();
        assert!((c - want).abs() < 1e-12);
        assert!((c - 2.78).abs() < 0.01, "{c}");
        // Very early looks pay heavily; it does not dominate Bonferroni there.
        assert!(mixture_critical(0.05, 1.0, 100.0).unwrap() > 3.1);
        assert!(mixture_critical(0.05, 0.0, 100.0).is_err());
        assert!(mixture_critical(0.5, 1.0, 100.0).is_err());
    }
}

//! The Hunter–Worsley chain term Q(c) = P(Z' < c', Z >= c) for standard bivariate normals.

use crate::normal;
use crate::quadrature::gl96;

/// Lower limit of the integral; Phi(-9) ~ 1e-19 is negligible.
const LOWER: f64 = -9.0;

/// P(Z' < c_prev, Z >= c) for standard normals with correlation `rho` in [0, 1).
pub fn q_chain(c_prev: f64, c: f64, rho: f64) -> f64 {
    if c_prev <= LOWER {
        return 0.0;
    }
    let s = (1.0 - rho * rho).sqrt();
    gl96().integrate(LOWER, c_prev, |x| normal::pdf(x) * normal::sf((c - rho * x) / s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn independent_case_factorises() {
        let q = q_chain(2.0, 2.5, 0.0);
        let want = normal::cdf(2.0) * normal::sf(2.5);
        assert!((q - want).abs() / want < 1e-10);
    }

    #[test]
    fn matches_owen_t_free_reference_on_the_diagonal() {
        // P(Z' < 0, Z >= 0) = 1/4 - asin(rho)/(2 pi) (Sheppard).
        for rho in [0.1, 0.5, 0.9, 0.99] {
            let q = q_chain(0.0, 0.0, rho);
            let want = 0.25 - rho.asin() / (2.0 * std::f64::consts::PI);
            assert!((q - want).abs() / want < 1e-8, "rho {rho}: {q} vs {want}");
        }
    }
}

//! The Hunter–Worsley chain term Q(c) = P(Z' < c', Z >= c) for standard bivariate normals.

use crate::normal;
use crate::quadrature::gl96;

/// Lower limit of the integral; Phi(-9) ~ 1e-19 is negligible.
const LOWER: f64 = -9.0;
/// Standard normal tail beyond 37 is below 6e-300.
const TAIL_CUT: f64 = 37.0;

/// P(Z' < c_prev, Z >= c) for standard normals with correlation `rho` in [0, 1).
pub fn q_chain(c_prev: f64, c: f64, rho: f64) -> f64 {
    QChain::new(c_prev, rho).eval(c)
}

/// Q(c) for fixed c_prev and rho with the quadrature nodes and densities precomputed, so the
/// bisection for c_k only re-evaluates the normal tail.
#[derive(Debug, Clone)]
pub struct QChain {
    /// rho x at each node.
    rho_x: Vec<f64>,
    /// Quadrature weight times phi(x) at each node.
    weight_pdf: Vec<f64>,
    /// sqrt(1 - rho^2).
    s: f64,
}

impl QChain {
    /// Prepares Q for the previous critical value `c_prev` and correlation `rho` in [0, 1).
    pub fn new(c_prev: f64, rho: f64) -> Self {
        let rule = gl96();
        let (lo, hi) = (LOWER, c_prev.max(LOWER));
        let (h, m) = (0.5 * (hi - lo), 0.5 * (hi + lo));
        let xs = rule.nodes.iter().map(|&u| m + h * u);
        Self {
            rho_x: xs.clone().map(|x| rho * x).collect(),
            weight_pdf: xs
                .zip(&rule.weights)
                .map(|(x, &w)| h * w * normal::pdf(x))
                .collect(),
            s: (1.0 - rho * rho).sqrt(),
        }
    }

    /// Q(c) = P(Z' < c_prev, Z >= c).
    pub fn eval(&self, c: f64) -> f64 {
        self.rho_x
            .iter()
            .zip(&self.weight_pdf)
            .map(|(rx, wp)| {
                let z = (c - rx) / self.s;
                // Beyond TAIL_CUT the tail is < 1e-300 (subnormal further out, and subnormal
                // arithmetic is slow); it cannot move Q at any spend we use.
                if z > TAIL_CUT {
                    0.0
                } else {
                    wp * normal::sf(z)
                }
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precomputed_form_equals_direct_quadrature() {
        let (cp, c, rho) = (2.3, 2.2, 0.93);
        let s = (1.0f64 - rho * rho).sqrt();
        let direct = gl96().integrate(LOWER, cp, |x| {
            normal::pdf(x) * normal::sf((c - rho * x) / s)
        });
        assert!((q_chain(cp, c, rho) / direct - 1.0).abs() < 1e-13);
        assert_eq!(q_chain(-10.0, 0.0, 0.5), 0.0);
    }

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

//! Gauss–Legendre quadrature with 96 nodes, computed once by Newton's method on P_96.

use std::sync::OnceLock;

/// Number of Gauss–Legendre nodes used by the boundary integrals.
pub const NODES: usize = 96;

/// Nodes and weights on [-1, 1].
#[derive(Debug, Clone)]
pub struct GaussLegendre {
    /// Abscissae in [-1, 1].
    pub nodes: Vec<f64>,
    /// Matching weights (they sum to 2).
    pub weights: Vec<f64>,
}

/// Legendre polynomial P_n(x) and its derivative by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, x);
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
    (p1, dp)
}

impl GaussLegendre {
    /// Computes the n-point rule (Newton from the Tricomi initial guesses).
    pub fn new(n: usize) -> Self {
        let mut nodes = vec![0.0; n];
        let mut weights = vec![0.0; n];
        for i in 0..n.div_ceil(2) {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            for _ in 0..100 {
                let (p, dp) = legendre(n, x);
                let dx = p / dp;
                x -= dx;
                if dx.abs() < 1e-15 {
                    break;
                }
            }
            let (_, dp) = legendre(n, x);
            let w = 2.0 / ((1.0 - x * x) * dp * dp);
            nodes[i] = -x;
            nodes[n - 1 - i] = x;
            weights[i] = w;
            weights[n - 1 - i] = w;
        }
        Self { nodes, weights }
    }

    /// Integral of `f` over [a, b].
    pub fn integrate(&self, a: f64, b: f64, f: impl Fn(f64) -> f64) -> f64 {
        let (h, m) = (0.5 * (b - a), 0.5 * (b + a));
        h * self
            .nodes
            .iter()
            .zip(&self.weights)
            .map(|(&x, &w)| w * f(m + h * x))
            .sum::<f64>()
    }
}

/// The shared 96-node rule.
pub fn gl96() -> &'static GaussLegendre {
    static RULE: OnceLock<GaussLegendre> = OnceLock::new();
    RULE.get_or_init(|| GaussLegendre::new(NODES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_two_and_polynomials_integrate_exactly() {
        let g = gl96();
        assert_eq!(g.nodes.len(), 96);
        assert!((g.weights.iter().sum::<f64>() - 2.0).abs() < 1e-13);
        assert!(g.nodes.windows(2).all(|w| w[0] < w[1]));
        // x^190 on [-1, 1] = 2/191: degree 2n - 1 = 191 is exact.
        let v = g.integrate(-1.0, 1.0, |x| x.powi(190));
        assert!((v - 2.0 / 191.0).abs() < 1e-14, "{v}");
        let e = g.integrate(0.0, 1.0, f64::exp);
        assert!((e - (std::f64::consts::E - 1.0)).abs() < 1e-14);
    }
}

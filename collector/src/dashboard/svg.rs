//! Server-drawn SVG: a relative impact with its confidence interval against zero and the alert
//! threshold. No chart library and no script: the picture is in the page, with a text
//! alternative saying the same numbers.

use maud::{Markup, html};

use super::layout::pct;

const W: f64 = 320.0;
const H: f64 = 44.0;
const PAD: f64 = 12.0;

/// What the interval is drawn with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalPlot {
    /// Relative impact (fraction), the dot.
    pub estimate: f64,
    /// Lower end of its interval.
    pub low: f64,
    /// Upper end of its interval.
    pub high: f64,
    /// The degradation threshold as a signed relative change (e.g. +0.10 when an increase is
    /// bad), if a policy applies.
    pub threshold: Option<f64>,
}

/// The axis range: zero, the interval and the threshold, with a margin.
fn domain(p: &IntervalPlot) -> (f64, f64) {
    let mut lo = p.low.min(0.0).min(p.estimate);
    let mut hi = p.high.max(0.0).max(p.estimate);
    if let Some(t) = p.threshold {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    if !(lo.is_finite() && hi.is_finite()) || hi - lo < 1e-9 {
        return (-0.1, 0.1);
    }
    let m = (hi - lo) * 0.1;
    (lo - m, hi + m)
}

/// The chart; `class` colours the interval (`ok`, `bad`, `neutral`).
pub fn interval_chart(p: &IntervalPlot, class: &str) -> Markup {
    let (lo, hi) = domain(p);
    let x = |v: f64| PAD + (v.clamp(lo, hi) - lo) / (hi - lo) * (W - 2.0 * PAD);
    let label = format!(
        "Relative impact {} (interval {} to {}){}",
        pct(p.estimate),
        pct(p.low),
        pct(p.high),
        p.threshold
            .map(|t| format!(", alert threshold {}", pct(t)))
            .unwrap_or_default()
    );
    let mid = H / 2.0;
    html! {
        svg.chart role="img" aria-label=(label) viewBox=(format!("0 0 {W} {H}")) width="100%"
            preserveAspectRatio="xMidYMid meet" {
            title { (label) }
            line.axis x1=(PAD) x2=(W - PAD) y1=(mid) y2=(mid) {}
            line.zero x1=(x(0.0)) x2=(x(0.0)) y1="4" y2=(H - 4.0) {}
            text.tick x=(x(0.0)) y=(H - 1.0) text-anchor="middle" { "0" }
            @if let Some(t) = p.threshold {
                line.threshold x1=(x(t)) x2=(x(t)) y1="2" y2=(H - 8.0) {}
                text.tick x=(x(t)) y="10" text-anchor="middle" { "threshold " (pct(t)) }
            }
            line class=(format!("ci {class}")) x1=(x(p.low)) x2=(x(p.high)) y1=(mid) y2=(mid) {}
            line class=(format!("ci {class}")) x1=(x(p.low)) x2=(x(p.low)) y1=(mid - 6.0) y2=(mid + 6.0) {}
            line class=(format!("ci {class}")) x1=(x(p.high)) x2=(x(p.high)) y1=(mid - 6.0) y2=(mid + 6.0) {}
            circle class=(format!("dot {class}")) cx=(x(p.estimate)) cy=(mid) r="4.5" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_holds_zero_the_interval_and_the_threshold() {
        let p = IntervalPlot {
            estimate: 0.3,
            low: 0.2,
            high: 0.4,
            threshold: Some(0.5),
        };
        let (lo, hi) = domain(&p);
        assert!(lo < 0.0 && hi > 0.5);
        let svg = interval_chart(&p, "bad").into_string();
        assert!(svg.contains("threshold +50.0 %"), "{svg}");
        assert!(svg.contains("Relative impact +30.0 %"), "{svg}");
    }
}

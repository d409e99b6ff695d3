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
            preserveAspectRatio="xMidYMid meet" data-low=(p.low) data-high=(p.high)
            data-threshold=[p.threshold] {
            title { (label) }
            line.axis x1=(PAD) x2=(W - PAD) y1=(mid) y2=(mid) {}
            line.zero x1=(x(0.0)) x2=(x(0.0)) y1="4" y2=(H - 4.0) {}
            text.tick x=(x(0.0)) y=(H - 1.0) text-anchor="middle" { "0" }
            @if let Some(t) = p.threshold {
                line.threshold x1=(x(t)) x2=(x(t)) y1="2" y2=(H - 8.0) {}
                @let anchor = if x(t) < W * 0.25 { "start" } else if x(t) > W * 0.75 { "end" } else { "middle" };
                text.tick x=(x(t)) y="10" text-anchor=(anchor) { "threshold " (pct(t)) }
            }
            line class=(format!("ci {class}")) x1=(x(p.low)) x2=(x(p.high)) y1=(mid) y2=(mid) {}
            line class=(format!("ci {class}")) x1=(x(p.low)) x2=(x(p.low)) y1=(mid - 6.0) y2=(mid + 6.0) {}
            line class=(format!("ci {class}")) x1=(x(p.high)) x2=(x(p.high)) y1=(mid - 6.0) y2=(mid + 6.0) {}
            circle class=(format!("dot {class}")) cx=(x(p.estimate)) cy=(mid) r="4.5" {}
        }
    }
}

/// One look of a monitor on the trend chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendPoint {
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// Relative impact (fraction).
    pub estimate: f64,
    /// Lower end of its (one-sided) interval; `None` is unbounded.
    pub low: Option<f64>,
    /// Upper end; `None` is unbounded.
    pub high: Option<f64>,
    /// False for an unscheduled look (late data, a recalculation): drawn hollow.
    pub scheduled: bool,
}

const TW: f64 = 420.0;
const TH: f64 = 150.0;
const TL: f64 = 46.0;
const TB: f64 = 18.0;

/// The trend of the relative impact and its interval over the looks so far, against zero and
/// the signed threshold; unbounded interval ends run to the chart's edge. Scheduled checks are
/// filled dots, unscheduled looks hollow rings ([`trend_legend`] says so).
pub fn trend_chart(points: &[TrendPoint], threshold: Option<f64>) -> Markup {
    let finite = points
        .iter()
        .flat_map(|p| [Some(p.estimate), p.low, p.high])
        .flatten()
        .chain(threshold)
        .chain([0.0])
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.05, hi + 0.05);
    }
    let m = (hi - lo) * 0.08;
    let (lo, hi) = (lo - m, hi + m);
    let t0 = points.first().map_or(0, |p| p.time_ms);
    let t1 = points.last().map_or(1, |p| p.time_ms).max(t0 + 1);
    let x = |t: i64| TL + (t - t0) as f64 / (t1 - t0) as f64 * (TW - TL - 8.0);
    let y = |v: f64| 6.0 + (hi - v.clamp(lo, hi)) / (hi - lo) * (TH - TB - 6.0);
    let band: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.time_ms), y(p.high.unwrap_or(hi))))
        .chain(
            points
                .iter()
                .rev()
                .map(|p| format!("{:.1},{:.1}", x(p.time_ms), y(p.low.unwrap_or(lo)))),
        )
        .collect();
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.time_ms), y(p.estimate)))
        .collect();
    let looks = points.iter().filter(|p| !p.scheduled).count();
    let label = match points.last() {
        Some(p) => format!(
            "Relative impact over {} checks{}, latest {}{}",
            points.len() - looks,
            match looks {
                0 => String::new(),
                1 => " and 1 unscheduled look".to_string(),
                n => format!(" and {n} unscheduled looks"),
            },
            pct(p.estimate),
            threshold
                .map(|t| format!(", alert threshold {}", pct(t)))
                .unwrap_or_default()
        ),
        None => "No checks yet".to_string(),
    };
    let clock = |t: i64| super::layout::time(t)[11..16].to_string();
    html! {
        svg.trend role="img" aria-label=(label) viewBox=(format!("0 0 {TW} {TH}")) width="100%" {
            title { (label) }
            @if points.len() > 1 { polygon.band points=(band.join(" ")) {} }
            line.zero x1=(TL) x2=(TW - 8.0) y1=(y(0.0)) y2=(y(0.0)) {}
            @if let Some(t) = threshold {
                line.threshold x1=(TL) x2=(TW - 8.0) y1=(y(t)) y2=(y(t)) {}
            }
            polyline.est points=(line.join(" ")) {}
            @for p in points {
                @let (cx, cy) = (format!("{:.1}", x(p.time_ms)), format!("{:.1}", y(p.estimate)));
                @if p.scheduled {
                    circle.pt data-look="scheduled" cx=(cx) cy=(cy) r="3" {}
                } @else {
                    circle.pt.look data-look="unscheduled" cx=(cx) cy=(cy) r="4.5" {}
                }
            }
            text.tick x=(TL - 4.0) y=(y(hi) + 8.0) text-anchor="end" { (pct(hi)) }
            text.tick x=(TL - 4.0) y=(y(lo)) text-anchor="end" { (pct(lo)) }
            text.tick x=(TL) y=(TH - 4.0) { (clock(t0)) }
            text.tick x=(TW - 8.0) y=(TH - 4.0) text-anchor="end" { (clock(t1)) }
        }
    }
}

/// The key of [`trend_chart`]'s marks, as a list under it (its swatches are decoration).
pub fn trend_legend() -> Markup {
    let swatch = |mark: Markup| {
        html! {
            svg.key aria-hidden="true" focusable="false" viewBox="0 0 22 12" width="22" height="12" { (mark) }
        }
    };
    html! {
        ul.legend.trend-legend {
            li { (swatch(html! { circle.pt cx="11" cy="6" r="3" {} })) "scheduled check" }
            li data-legend="unscheduled" {
                (swatch(html! { circle.pt.look cx="11" cy="6" r="4" {} }))
                "unscheduled look (late data or a recalculation)"
            }
            li { (swatch(html! { rect.band x="1" y="1" width="20" height="10" {} })) "interval" }
            li { (swatch(html! { line.threshold x1="1" x2="21" y1="6" y2="6" {} })) "alert threshold" }
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

    #[test]
    fn the_trend_draws_every_look_and_unbounded_ends_reach_the_edge() {
        let pts = [
            TrendPoint {
                time_ms: 0,
                estimate: 0.1,
                low: Some(-0.2),
                high: None,
                scheduled: true,
            },
            TrendPoint {
                time_ms: 60_000,
                estimate: 0.2,
                low: Some(0.05),
                high: None,
                scheduled: true,
            },
            TrendPoint {
                time_ms: 90_000,
                estimate: 0.25,
                low: Some(0.02),
                high: None,
                scheduled: false,
            },
        ];
        let svg = trend_chart(&pts, Some(0.0)).into_string();
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        assert_eq!(
            svg.matches(r#"data-look="unscheduled""#).count(),
            1,
            "{svg}"
        );
        assert!(
            svg.contains("over 2 checks and 1 unscheduled look, latest +25.0 %"),
            "{svg}"
        );
        assert!(svg.contains("class=\"band\""), "{svg}");
    }
}

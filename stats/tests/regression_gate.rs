//! Regression gate for the boundaries (notes 3.d, last item): re-simulates a few cells of the
//! notes' power table and an A/A cell with seeded paths and a modest R, and checks each figure
//! lies within an honest Monte Carlo tolerance of the notes' value: the notes' own tolerance
//! (±0.03 power, ±1 check for t50) plus 4 standard errors of an R-path estimate. A change that
//! breaks the Bonferroni level, the Hunter–Worsley chain, the spending or the plug-in correlation
//! moves these figures by far more (e.g. using alpha instead of alpha / K at every check sends
//! the A/A rate above 0.2; dropping the chain and using z_(1 - alpha/K) removes the power gain).
//!
//! `STATS_GATE_PATHS=n` changes R (default 400; the figures are seeded, so reruns agree).

use stats::sim::{CellResult, Family, ModeSummary, SimConfig, run_cell};

/// Paths per cell.
fn paths() -> u64 {
    std::env::var("STATS_GATE_PATHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// Notes' tolerance on power plus 4 Monte Carlo standard errors of a rate near `p` from `r` paths.
fn tolerance(p: f64, r: u64) -> f64 {
    0.03 + 4.0 * (p * (1.0 - p) / r as f64).sqrt()
}

fn cell(family: Family, effect: f64, seed: u64) -> CellResult {
    let cfg = SimConfig {
        family,
        effect,
        seed,
        ..SimConfig::default()
    };
    run_cell(&cfg, paths(), 2).expect("valid cell")
}

/// Power within the tolerance of the notes' figure.
fn assert_power(what: &str, m: &ModeSummary, notes: f64, r: u64) {
    let tol = tolerance(notes, r);
    eprintln!(
        "{what}: power {:.4}, notes {notes}, tolerance {tol:.4}",
        m.rate
    );
    assert!(
        (m.rate - notes).abs() <= tol,
        "{what}: power {:.4} vs notes {notes} (tolerance {tol:.4}, R = {r})",
        m.rate
    );
}

/// t50 within ±1 check of the notes' figure, allowing for Monte Carlo error: the cumulative
/// detection rate one check before the notes' t50 is at most 0.5 + 4 SE, one check after at
/// least 0.5 - 4 SE.
fn assert_t50(what: &str, m: &ModeSummary, offsets: &[u32], notes_minutes: u32, r: u64) {
    let j = offsets
        .iter()
        .position(|&t| t == notes_minutes)
        .expect("notes' t50 is a check of the schedule");
    let cum = |upto: usize| m.first_alert_histogram[..=upto].iter().sum::<u64>() as f64 / r as f64;
    let slack = 4.0 * (0.25 / r as f64).sqrt();
    eprintln!(
        "{what}: detected {:.3} / {:.3} / {:.3} at the check before / at / after the notes' t50 {notes_minutes} min",
        if j >= 1 { cum(j - 1) } else { 0.0 },
        cum(j),
        cum((j + 1).min(offsets.len() - 1))
    );
    if j >= 1 {
        assert!(
            cum(j - 1) <= 0.5 + slack,
            "{what}: {:.3} detected a check before the notes' t50 ({notes_minutes} min)",
            cum(j - 1)
        );
    }
    if j + 1 < offsets.len() {
        assert!(
            cum(j + 1) >= 0.5 - slack,
            "{what}: only {:.3} detected a check after the notes' t50 ({notes_minutes} min)",
            cum(j + 1)
        );
    }
}

#[test]
fn power_and_time_to_detect_match_the_notes() {
    let r = paths();
    // (family, effect, bonferroni power, t50 min, sequential power, t50 min) from notes 3.d item 4.
    let table = [
        (Family::Pct, 0.05, 0.70, Some(18 * 60), 0.78, Some(15 * 60)),
        (Family::Pct, 0.10, 1.00, Some(6 * 60), 1.00, Some(315)),
        (Family::Fixed, 0.10, 0.97, Some(9 * 60), 0.99, None),
        (Family::Count, 0.20, 0.99, Some(9 * 60), 1.00, Some(345)),
    ];
    for (i, (family, effect, bp, bt, sp, st)) in table.into_iter().enumerate() {
        let c = cell(family, effect, 3_000 + i as u64);
        let what = |mode: &str| format!("{family:?} {effect} {mode}");
        assert_eq!(c.dominance_violations, 0, "{}", what("dominance"));
        assert_power(&what("bonferroni"), &c.bonferroni, bp, r);
        assert_power(&what("sequential"), &c.sequential, sp, r);
        if let Some(t) = bt {
            assert_t50(&what("bonferroni t50"), &c.bonferroni, &c.offsets, t, r);
        }
        if let Some(t) = st {
            assert_t50(&what("sequential t50"), &c.sequential, &c.offsets, t, r);
        }
    }
}

#[test]
fn sequential_power_gain_matches_the_notes() {
    // Paired on the same paths: the gain's SE is that of the share of paths only the sequential
    // mode caught (dominance makes the other discordant share zero).
    let r = paths();
    for (family, effect, gain, seed) in [
        (Family::Pct, 0.05, 0.78 - 0.70, 3_000),
        (Family::Fixed, 0.05, 0.54 - 0.38, 3_100),
    ] {
        let c = cell(family, effect, seed);
        let observed = c.sequential.rate - c.bonferroni.rate;
        let tol = tolerance(gain, r);
        eprintln!("{family:?} {effect}: gain {observed:.4}, notes {gain:.2}, tolerance {tol:.4}");
        assert!(
            (observed - gain).abs() <= tol,
            "{family:?} {effect}: gain {observed:.4} vs notes {gain:.2} (tolerance {tol:.4})"
        );
    }
}

#[test]
fn a_a_false_alert_rate_matches_the_notes() {
    let r = paths();
    // Notes: bonferroni 0.007-0.021, sequential 0.029-0.036 (24 h); 0.05 is the level.
    let c = cell(Family::Pct, 0.0, 3_200);
    for (what, m, lo, hi) in [
        ("bonferroni", &c.bonferroni, 0.007, 0.021),
        ("sequential", &c.sequential, 0.029, 0.036),
    ] {
        let se = |p: f64| 4.0 * (p * (1.0 - p) / r as f64).sqrt();
        eprintln!("A/A {what}: {:.4}, notes [{lo}, {hi}]", m.rate);
        assert!(
            m.rate >= lo - se(lo) && m.rate <= hi + se(hi),
            "A/A {what}: {:.4} outside [{lo}, {hi}] ± 4 SE (R = {r})",
            m.rate
        );
    }
    assert_eq!(c.dominance_violations, 0);
}

//! Deterministic tests of the simulator (fixed seeds; no rate thresholds that could flake).

use super::*;

#[test]
fn dominance_holds_on_every_path() {
    // A real effect so both modes alert on many paths and the comparison is exercised.
    for (family, effect) in [
        (Family::Pct, 0.1),
        (Family::Fixed, 0.15),
        (Family::Count, 0.25),
    ] {
        let cfg = SimConfig {
            family,
            users_per_day: 3_000.0,
            effect,
            seed: 20_261_122,
            ..SimConfig::default()
        };
        let r = run_cell(&cfg, 100, 2).unwrap();
        assert_eq!(r.dominance_violations, 0, "{family:?}");
        assert!(
            r.bonferroni.alerts > 0 && r.sequential.alerts >= r.bonferroni.alerts,
            "{family:?}"
        );
        assert!(
            r.sequential_earlier > 0,
            "{family:?}: the sequential mode never helped"
        );
    }
}

#[test]
fn smoke_a_a_cells_are_deterministic_and_consistent() {
    for family in [Family::Fixed, Family::Pct, Family::Count] {
        let cfg = SimConfig {
            family,
            users_per_day: 3_000.0,
            seed: 7,
            ..SimConfig::default()
        };
        let a = run_cell(&cfg, 12, 1).unwrap();
        let b = run_cell(&cfg, 12, 3).unwrap();
        assert_eq!(a, b, "results must not depend on threads");
        assert_eq!(a.offsets.len(), 52);
        for m in [&a.bonferroni, &a.sequential, &a.always_valid] {
            assert_eq!(m.first_alert_histogram.iter().sum::<u64>(), m.alerts);
            assert!((m.rate - m.alerts as f64 / 12.0).abs() < 1e-15);
        }
        assert_eq!(a.dominance_violations, 0);
    }
}

#[test]
fn bad_config_is_typed() {
    let cfg = SimConfig {
        window_minutes: 10,
        ..SimConfig::default()
    };
    assert!(run_cell(&cfg, 1, 1).is_err());
    let cfg = SimConfig {
        alpha: 0.0,
        ..SimConfig::default()
    };
    assert!(run_cell(&cfg, 1, 1).is_err());
}

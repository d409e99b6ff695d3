//! Monte Carlo driver for notes 3.d: A/A false-alert rate, power and time to detect, dominance.
//!
//! `cargo run --release -p stats --bin simulate -- --paths 10000 --families fixed,pct,count --effects 0`
//! Flags: --paths R, --families (fixed, pct, count, binary), --effects (relative, comma list),
//! --users-per-day, --window (minutes), --split (treatment share), --threshold (relative),
//! --alpha, --min-samples, --min-samples-rule (fixed | skew_adjusted), --arrival (uniform |
//! burst), --seed, --threads. Prints a markdown table, one row per cell.
//!
//! `simulate srm --assigned-share 0.51 --users-per-day 100000 ...`: sample-ratio mismatch cell
//! (chi-square at each check and the sequential test; rule weights from --split).
//! `simulate gauss --info -,347,521,694,868,1042 --paths 1000000`: normal-theory false-alert rate
//! of both boundaries for a Gaussian walk at those per-check information levels (`-` = skipped).

use stats::min_samples::MinSamplesRule;
use stats::sim::{
    Arrival, CellResult, Family, SimConfig, SrmCellResult, gaussian_hw_rate, run_cell, run_srm_cell,
};
use std::time::Instant;

struct Args {
    command: Command,
    info: Vec<Option<f64>>,
    paths: u64,
    families: Vec<Family>,
    effects: Vec<f64>,
    threads: usize,
    base: SimConfig,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        command: Command::Cells,
        info: Vec::new(),
        paths: 1_000,
        families: vec![Family::Fixed, Family::Pct, Family::Count],
        effects: vec![0.0],
        threads: 1,
        base: SimConfig::default(),
    };
    let mut it = std::env::args().skip(1).peekable();
    match it.peek().map(String::as_str) {
        Some("srm") => a.command = Command::Srm,
        Some("gauss") => a.command = Command::Gauss,
        _ => {}
    }
    if a.command != Command::Cells {
        it.next();
    }
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--paths" => a.paths = num(&v)? as u64,
            "--threads" => a.threads = num(&v)? as usize,
            "--users-per-day" => a.base.users_per_day = num(&v)?,
            "--window" => a.base.window_minutes = num(&v)? as u32,
            "--split" => a.base.treatment_share = num(&v)?,
            "--threshold" => a.base.threshold = num(&v)?,
            "--alpha" => a.base.alpha = num(&v)?,
            "--min-samples" => a.base.min_samples = num(&v)? as u64,
            "--seed" => a.base.seed = num(&v)? as u64,
            "--assigned-share" => a.base.assigned_share = Some(num(&v)?),
            "--arrival" => {
                a.base.arrival = match v.as_str() {
                    "uniform" => Arrival::Uniform,
                    "burst" => Arrival::Burst,
                    other => return Err(format!("unknown arrival {other}")),
                }
            }
            "--min-samples-rule" => {
                a.base.min_samples_rule = match v.as_str() {
                    "fixed" => MinSamplesRule::Fixed,
                    "skew_adjusted" => MinSamplesRule::SkewAdjusted,
                    other => return Err(format!("unknown min-samples rule {other}")),
                }
            }
            "--info" => {
                a.info = v
                    .split(',')
                    .map(|x| if x == "-" { Ok(None) } else { num(x).map(Some) })
                    .collect::<Result<_, _>>()?;
            }
            "--effects" => {
                a.effects = v.split(',').map(num).collect::<Result<_, _>>()?;
            }
            "--families" => {
                a.families = v
                    .split(',')
                    .map(|f| match f {
                        "fixed" => Ok(Family::Fixed),
                        "pct" => Ok(Family::Pct),
                        "count" => Ok(Family::Count),
                        "binary" => Ok(Family::Binary),
                        other => Err(format!("unknown family {other}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// Which table the run prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Cells,
    Srm,
    Gauss,
}

fn t50(m: Option<u32>) -> String {
    match m {
        None => "-".into(),
        Some(x) if x % 60 == 0 => format!("{}h", x / 60),
        Some(x) => format!("{x}m"),
    }
}

fn row(r: &CellResult, secs: f64) -> String {
    let c = &r.config;
    let mode = |m: &stats::sim::ModeSummary| {
        format!("{:.4} ±{:.4} / {}", m.rate, m.mc_se, t50(m.t50_minutes))
    };
    format!(
        "| {:?} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
        c.family,
        c.effect,
        c.users_per_day,
        c.window_minutes,
        r.paths,
        mode(&r.bonferroni),
        mode(&r.sequential),
        mode(&r.always_valid),
        r.dominance_violations,
        r.sequential_earlier,
        secs
    )
}

/// Mean check offset (minutes) of the first flag among flagged windows.
fn mean_first(m: &stats::sim::ModeSummary, offsets: &[u32]) -> String {
    if m.alerts == 0 {
        return "-".into();
    }
    let total: f64 = m
        .first_alert_histogram
        .iter()
        .zip(offsets)
        .map(|(&h, &t)| h as f64 * t as f64)
        .sum();
    format!("{:.0}m", total / m.alerts as f64)
}

fn srm_row(r: &SrmCellResult, secs: f64) -> String {
    let c = &r.config;
    let mode = |m: &stats::sim::ModeSummary| {
        format!(
            "{:.4} ±{:.4} / {} / {}",
            m.rate,
            m.mc_se,
            t50(m.t50_minutes),
            mean_first(m, &r.offsets)
        )
    };
    format!(
        "| {} | {} | {:?} | {} | {} | {} | {} | {} | {:.1} |",
        c.treatment_share,
        c.assigned_share.unwrap_or(c.treatment_share),
        c.arrival,
        c.users_per_day,
        c.window_minutes,
        r.paths,
        mode(&r.chi_square),
        mode(&r.sequential),
        secs
    )
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("simulate: {e}");
    std::process::exit(1);
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("simulate: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    match args.command {
        Command::Cells => {}
        Command::Srm => {
            println!(
                "| rule share | real share | arrival | users/day | window min | R | chi-square per check: flagged ±MC-SE / t50 / mean first flag | sequential SRM | seconds |"
            );
            println!("|---|---|---|---|---|---|---|---|---|");
            match run_srm_cell(&args.base, args.paths, args.threads) {
                Ok(r) => println!("{}", srm_row(&r, start.elapsed().as_secs_f64())),
                Err(e) => fail(e),
            }
            return;
        }
        Command::Gauss => {
            match gaussian_hw_rate(args.base.alpha, &args.info, args.paths, args.base.seed) {
                Ok((seq, bonf)) => {
                    let se = |p: f64| (p * (1.0 - p) / args.paths as f64).sqrt();
                    println!(
                        "gaussian walk, R = {}: sequential {seq:.5} ±{:.5}, bonferroni {bonf:.5} ±{:.5}",
                        args.paths,
                        se(seq),
                        se(bonf)
                    );
                }
                Err(e) => fail(e),
            }
            return;
        }
    }
    println!(
        "| family | effect | users/day | window min | R | bonferroni rate ±MC-SE / t50 | sequential (HW) | always-valid | dominance violations | seq earlier | seconds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &family in &args.families {
        for &effect in &args.effects {
            let cfg = SimConfig {
                family,
                effect,
                ..args.base
            };
            let start = Instant::now();
            match run_cell(&cfg, args.paths, args.threads) {
                Ok(r) => println!("{}", row(&r, start.elapsed().as_secs_f64())),
                Err(e) => {
                    eprintln!("simulate: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}

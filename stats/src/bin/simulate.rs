//! Monte Carlo driver for notes 3.d: A/A false-alert rate, power and time to detect, dominance.
//!
//! `cargo run --release -p stats --bin simulate -- --paths 10000 --families fixed,pct,count --effects 0`
//! Flags: --paths R, --families, --effects (relative, comma list), --users-per-day, --window
//! (minutes), --split (treatment share), --threshold (relative), --alpha, --min-samples, --seed,
//! --threads. Prints a markdown table, one row per cell.

use stats::sim::{CellResult, Family, SimConfig, run_cell};
use std::time::Instant;

struct Args {
    paths: u64,
    families: Vec<Family>,
    effects: Vec<f64>,
    threads: usize,
    base: SimConfig,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        paths: 1_000,
        families: vec![Family::Fixed, Family::Pct, Family::Count],
        effects: vec![0.0],
        threads: 1,
        base: SimConfig::default(),
    };
    let mut it = std::env::args().skip(1);
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
                        other => Err(format!("unknown family {other}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
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

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("simulate: {e}");
            std::process::exit(2);
        }
    };
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

//! The browser demo (examples/src/browser.rs): a collector, a 50/50 flag and a shop page that
//! runs the browser agent; open the page, click through visitors, then look at the dashboard.
//!
//! Run: `bash bindings-wasm/scripts/build.sh` once (it builds the package the page loads), then
//! `cargo run --release -p examples --bin browser-demo [-- [--dist DIR] [DATA_DIR]]`. Enter (or
//! the end of input) stops it.

use std::io::BufRead;

use anyhow::{Context, bail};
use examples::browser::{Options, start};

const USAGE: &str = "usage: browser-demo [--dist DIR] [DATA_DIR]
  --dist DIR  the built browser package (default: bindings-wasm/dist, made by
              `bash bindings-wasm/scripts/build.sh`)
  DATA_DIR    where the collector keeps its data (default: a temporary directory)";

fn main() -> anyhow::Result<()> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dist" => options.dist = args.next().context("--dist needs a directory")?.into(),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag}\n{USAGE}"),
            _ => options.data_dir = Some(arg.into()),
        }
    }
    let demo = start(options)?;
    println!(
        "collector on {} (data in {})",
        demo.collector_url,
        demo.collector_dir.display()
    );
    if demo.flag_killed {
        println!(
            "flag {}: killed in an earlier run, so every visitor gets `off`; restore it on its \
             dashboard page",
            demo.flag
        );
    } else {
        println!(
            "flag {}: 50% on (the new checkout: slower, and it fails one payment in three), \
             50% off",
            demo.flag
        );
    }
    println!("\nopen the shop: {}", demo.page_url);
    println!(
        "then the dashboard: {}/ui/ (sign in with the admin key `{}`; the monitoring runs every minute)",
        demo.collector_url, demo.admin_key
    );
    println!("press Enter to stop (Ctrl-C leaves a temporary data directory behind)");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    demo.stop()
}

//! Generates the browser agent's JS glue: wasm-bindgen's `--target web
//! --experimental-reset-state-function --no-typescript --out-name rum_agent_wasm`, from the
//! wasm-bindgen-cli-support version pinned in Cargo.lock.
//!
//! A workspace binary rather than `cargo install wasm-bindgen-cli`: the glue must match the
//! `wasm-bindgen` crate exactly, and a fresh CI machine then builds it once with the workspace's
//! shared dependencies instead of a separate multi-minute install.
//!
//! Usage: `rum-wasm-bindgen <input.wasm> <out-dir>`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use wasm_bindgen_cli_support::Bindgen;

/// The module name the wrapper (`js/agent.js`) imports.
const OUT_NAME: &str = "rum_agent_wasm";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rum-wasm-bindgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out_dir] = args.as_slice() else {
        bail!("usage: rum-wasm-bindgen <input.wasm> <out-dir>");
    };
    let (input, out_dir) = (PathBuf::from(input), PathBuf::from(out_dir));
    let mut bindgen = Bindgen::new();
    bindgen
        .input_path(&input)
        .web(true)
        .context("selecting the web target")?
        .typescript(false)
        .reset_state_function(true)
        .out_name(OUT_NAME);
    bindgen.generate(&out_dir).with_context(|| {
        format!(
            "generating glue for {} into {}",
            input.display(),
            out_dir.display()
        )
    })
}

//! wasm-bindgen's own CLI (`wasm-bindgen --target web ...`), at the version pinned in Cargo.lock.
//!
//! A workspace binary rather than `cargo install wasm-bindgen-cli`: the glue must match the
//! `wasm-bindgen` crate exactly, and a fresh CI machine builds it with the workspace's shared
//! dependencies instead of a separate multi-minute install.

fn main() -> anyhow::Result<()> {
    wasm_bindgen_cli::wasm_bindgen::run_cli_with_args(std::env::args_os())
}

//! wasm-bindgen's test runner (the `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER` of
//! bindings-wasm's wasm-bindgen-test suite, run in Node), at the version pinned in Cargo.lock.

fn main() -> anyhow::Result<()> {
    wasm_bindgen_cli::wasm_bindgen_test_runner::run_cli_with_args(std::env::args_os())
}

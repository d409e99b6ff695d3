//! Runs `tests/core_api.rs` (wasm-bindgen-test) in Node from the host suite: a nested
//! `cargo test --target wasm32-unknown-unknown` in target/wasm (so it never waits on the outer
//! cargo's lock) with the workspace's pinned `rum-wasm-bindgen-test-runner` as the runner.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_core_api_passes_wasm_bindgen_test_in_node() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(&cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "-q", "--locked", "-p", "wasm-bindgen-pinned"])
        .status()
        .expect("cargo runs");
    assert!(build.success(), "building the pinned test runner");
    let runner = target.join("debug/rum-wasm-bindgen-test-runner");
    let out = Command::new(&cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner)
        .args([
            "test",
            "--locked",
            "-p",
            "bindings-wasm",
            "--target",
            "wasm32-unknown-unknown",
            "--test",
            "core_api",
        ])
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "wasm-bindgen-test in Node failed:\n{stdout}\n{stderr}"
    );
    let passed = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(
        passed.is_some_and(|n| n >= 11),
        "expected the core_api tests to run and pass:\n{stdout}\n{stderr}"
    );
}

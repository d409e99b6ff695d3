//! The browser demo's servers (examples/src/browser.rs) without a browser: what the page gets,
//! the flag across runs on one data dir, and the message when the package is not built. The page
//! itself runs in Chromium in e2e/tests/browser_demo.rs.

use std::path::Path;
use std::time::Duration;

use examples::admin::Admin;
use examples::browser::{BrowserDemo, Options, start};
use serde_json::Value;

/// A stand-in for the built package: these tests check what is served, not what it runs.
fn fake_dist(dir: &Path) {
    std::fs::write(dir.join("agent.js"), "export class Agent {}").expect("agent.js");
    std::fs::write(dir.join("rum_agent_wasm_bg.wasm"), b"\0asm\x01\0\0\0").expect("wasm");
}

fn demo_on(dist: &Path, data: &Path) -> anyhow::Result<BrowserDemo> {
    start(Options {
        dist: dist.to_path_buf(),
        data_dir: Some(data.to_path_buf()),
        monitor_interval: Duration::ZERO,
    })
}

#[test]
fn the_page_its_settings_and_the_package_are_served_and_a_killed_flag_stays_killed()
-> anyhow::Result<()> {
    let (dist, data) = (tempfile::tempdir()?, tempfile::tempdir()?);
    fake_dist(dist.path());
    let demo = demo_on(dist.path(), data.path())?;
    assert!(!demo.flag_killed);
    let page = reqwest::blocking::get(&demo.page_url)?;
    let policy = page.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(policy.contains("'wasm-unsafe-eval'"), "{policy}");
    assert!(page.text()?.contains("Acme shop"));
    let settings: Value =
        reqwest::blocking::get(format!("{}settings.json", demo.page_url))?.json()?;
    assert_eq!(settings["collector"], demo.collector_url.as_str());
    assert_eq!(settings["flag"], demo.flag);
    let wasm = reqwest::blocking::get(format!("{}dist/rum_agent_wasm_bg.wasm", demo.page_url))?;
    assert_eq!(wasm.headers()["content-type"], "application/wasm");

    // Killed in the dashboard, the flag stays killed at the next run on the same data dir.
    let admin = Admin::new(demo.collector_url.clone(), demo.admin_key);
    admin.send(
        "POST",
        &format!("/api/v1/admin/flags/{}/kill", demo.flag),
        None,
    )?;
    demo.stop()?;
    let again = demo_on(dist.path(), data.path())?;
    assert!(again.flag_killed);
    again.stop()
}

#[test]
fn without_the_built_package_the_demo_says_how_to_build_it() {
    let (dist, data) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let message = match demo_on(dist.path(), data.path()) {
        Ok(_) => panic!("started without a package"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        message.contains("bash bindings-wasm/scripts/build.sh"),
        "{message}"
    );
}

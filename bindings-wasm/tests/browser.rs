//! End to end in headless Chromium: a page served on loopback loads the built package, evaluates
//! a flag, throws an error and leaves a rejection unhandled, then navigates away; the real
//! collector receives both errors with their JS stack traces, the page-load and web-vital
//! events, all attributed to the page's identity, and the impression of the treatment it saw.

mod support;

use std::process::Command;
use std::time::Duration;

use e2e::{Fixture, SDK_KEY, wait_until};

#[test]
fn a_page_in_chromium_reports_errors_page_load_and_web_vitals() {
    if let Err(e) = support::build_package() {
        panic!("{e}");
    }
    let fixture = Fixture::start().expect("collector");
    fixture.create_rollout_flag("web_checkout").expect("flag");
    let dir = support::crate_dir();
    // The page and the package under one origin; the collector on another.
    let site = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        dir.join("js/e2e/index.html"),
        site.path().join("index.html"),
    )
    .expect("copy");
    std::fs::create_dir(site.path().join("dist")).expect("mkdir");
    for f in ["agent.js", "rum_agent_wasm_bg.wasm"] {
        std::fs::copy(dir.join("dist").join(f), site.path().join("dist").join(f)).expect("copy");
    }
    let addr = support::serve_static(site.path().to_path_buf());
    let page = format!(
        "http://{addr}/?sdk_key={SDK_KEY}&collector={}",
        fixture.url()
    );

    let out = Command::new("node")
        .arg("js/e2e/drive.mjs")
        .current_dir(&dir)
        .env("RUM_PAGE_URL", &page)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "driver failed: {stdout}");
    let result: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("driver result");
    let treatment = result["treatment"].as_str().expect("treatment").to_owned();
    assert!(treatment == "on" || treatment == "off", "{treatment}");

    let user = "key = 'browser-user-7'";
    let count = |filter: &str| fixture.count("events", filter).unwrap_or(-1);
    let arrived = wait_until(Duration::from_secs(20), || {
        count(&format!("{user} AND type = 'rum.webvitals.lcp'")) >= 1
            && count(&format!("{user} AND type = 'rum.error'")) >= 2
    });
    assert!(arrived, "errors and the beaconed LCP arrived");

    let errors = support::events(&fixture, &format!("{user} AND type = 'rum.error'"));
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (expected_type, message) in [
        ("TypeError", "boom from the checkout page"),
        ("RangeError", "rejected in the checkout page"),
    ] {
        let e = errors
            .iter()
            .find(|(_, _, p)| p["exception.type"] == expected_type)
            .unwrap_or_else(|| panic!("no {expected_type} in {errors:?}"));
        assert_eq!(e.2["exception.message"], message);
        let stack = e.2["exception.stacktrace"].as_str().unwrap_or("");
        assert!(
            stack.contains(&format!("http://{addr}/")),
            "stack trace points into the page: {stack}"
        );
    }
    for t in [
        "rum.page.load.time",
        "rum.page.dom.interactive.time",
        "rum.webvitals.ttfb",
        "rum.webvitals.fcp",
        "rum.webvitals.lcp",
        "rum.webvitals.cls",
    ] {
        assert_eq!(count(&format!("{user} AND type = '{t}'")), 1, "{t}");
    }
    let lcp = support::events(&fixture, &format!("{user} AND type = 'rum.webvitals.lcp'"));
    assert_eq!(lcp[0].2["browser.web_vital.name"], "LCP");
    assert!(lcp[0].2["browser.web_vital.rating"].is_string());
    assert_eq!(count("key <> 'browser-user-7'"), 0, "everything attributed");
    let seen = fixture
        .count(
            "impressions",
            &format!("{user} AND flag = 'web_checkout' AND treatment = '{treatment}'"),
        )
        .unwrap_or(-1);
    assert_eq!(seen, 1, "the impression of the treatment the page saw");
    assert_eq!(result["traps"], 0);
}

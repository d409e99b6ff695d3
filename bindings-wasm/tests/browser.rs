//! End to end in headless Chromium: a page served on loopback loads the built package, evaluates
//! a flag, throws an error and leaves a rejection unhandled, is clicked and typed in (handlers
//! that block the main thread: INP), then navigates away; the real collector receives both errors
//! with their JS stack traces, the page-load and web-vital events (INP included), all attributed
//! to the page's identity, and the impression of the treatment it saw.
//! Then flag changes pushed over SSE: see `flag_changes_reach_the_page_over_sse`. The pages are
//! served with a content security policy that forbids `eval` (see `support::serve_static`).
#![cfg(not(target_arch = "wasm32"))]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{ADMIN_KEY, Fixture, SDK_KEY, wait_until};

/// The pages and the package under one origin (a temp dir the static server serves); the
/// collector is on another.
fn site(dir: &Path) -> tempfile::TempDir {
    let site = tempfile::tempdir().expect("tmp");
    for page in ["index.html", "sse.html"] {
        std::fs::copy(dir.join("js/e2e").join(page), site.path().join(page)).expect("copy");
    }
    std::fs::create_dir(site.path().join("dist")).expect("mkdir");
    for f in ["agent.js", "rum_agent_wasm_bg.wasm"] {
        std::fs::copy(dir.join("dist").join(f), site.path().join("dist").join(f)).expect("copy");
    }
    site
}

/// Runs a playwright-core driver script with `env`; its last JSON line.
fn drive(dir: &Path, script: &str, env: &[(&str, String)]) -> serde_json::Value {
    let out = Command::new("node")
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "driver {script} failed: {stdout}");
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("driver result")
}

/// Pages whose content security policy forbids `eval` (most that set one) must be able to run
/// the agent: the built bundle neither evaluates text nor calls the `Function` constructor. The
/// page tests below run under such a policy; this covers code paths they do not reach.
#[test]
fn the_bundle_evaluates_no_code_from_text() {
    if let Err(e) = support::build_package() {
        panic!("{e}");
    }
    let bundle =
        std::fs::read_to_string(support::crate_dir().join("dist/agent.js")).expect("dist/agent.js");
    for needle in ["eval(", "Function(", "new Function"] {
        assert!(!bundle.contains(needle), "the bundle calls {needle}");
    }
    assert!(bundle.contains("sendBeacon"), "the bundle is the agent's");
}

#[test]
fn a_page_in_chromium_reports_errors_page_load_and_web_vitals() {
    if let Err(e) = support::build_package() {
        panic!("{e}");
    }
    let fixture = Fixture::start().expect("collector");
    fixture.create_rollout_flag("web_checkout").expect("flag");
    support::create_pattern_flag(&fixture, "web_staff");
    let dir = support::crate_dir();
    let site = site(&dir);
    let addr = support::serve_static(site.path().to_path_buf());
    let page = format!(
        "http://{addr}/?sdk_key={SDK_KEY}&collector={}",
        fixture.url()
    );

    let result = drive(&dir, "js/e2e/drive.mjs", &[("RUM_PAGE_URL", page)]);
    let treatment = result["treatment"].as_str().expect("treatment").to_owned();
    assert!(treatment == "on" || treatment == "off", "{treatment}");
    // The regex matcher evaluated under a policy without `eval`: matching, then not.
    assert_eq!(result["patterns"], serde_json::json!(["on", "off"]));

    let user = "key = 'browser-user-7'";
    let count = |filter: &str| fixture.count("events", filter).unwrap_or(-1);
    let arrived = wait_until(Duration::from_secs(20), || {
        count(&format!("{user} AND type = 'rum.webvitals.lcp'")) >= 1
            && count(&format!("{user} AND type = 'rum.webvitals.inp'")) >= 1
            && count(&format!("{user} AND type = 'rum.error'")) >= 2
    });
    assert!(arrived, "errors and the beaconed LCP and INP arrived");

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
        "rum.webvitals.inp",
    ] {
        assert_eq!(count(&format!("{user} AND type = '{t}'")), 1, "{t}");
    }
    let lcp = support::events(&fixture, &format!("{user} AND type = 'rum.webvitals.lcp'"));
    assert_eq!(lcp[0].2["browser.web_vital.name"], "LCP");
    assert!(lcp[0].2["browser.web_vital.rating"].is_string());
    // INP of the click and the key press, whose handlers blocked the main thread.
    let inp = support::events(&fixture, &format!("{user} AND type = 'rum.webvitals.inp'"));
    assert_eq!(inp[0].2["browser.web_vital.name"], "INP");
    let inp_value = inp[0].2["browser.web_vital.value"].as_f64().unwrap_or(-1.0);
    eprintln!("INP stored: {inp_value} ms");
    assert!(inp_value > 0.0, "INP is positive: {inp:?}");
    assert_eq!(
        count(&format!(
            "{user} AND type = 'rum.webvitals.inp' AND value = {inp_value}"
        )),
        1,
        "the event's value is the INP"
    );
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

/// Flag changes made on the collector reach open pages without a reload: over the SSE stream
/// (`EventSource` with the key as `?sdk_key=`) for a page that polls once an hour, by polling for
/// a page whose stream requests fail; the stream refuses a bad key with 401.
#[test]
fn flag_changes_reach_the_page_over_sse() {
    if let Err(e) = support::build_package() {
        panic!("{e}");
    }
    let fixture = Fixture::start().expect("collector");
    support::create_on_flag(&fixture, "web_banner");
    let dir = support::crate_dir();
    let site = site(&dir);
    let addr = support::serve_static(site.path().to_path_buf());
    let page = format!(
        "http://{addr}/sse.html?sdk_key={SDK_KEY}&collector={}",
        fixture.url()
    );
    let r = drive(
        &dir,
        "js/e2e/sse.mjs",
        &[
            ("RUM_PAGE_URL", page),
            ("RUM_COLLECTOR", fixture.url()),
            ("RUM_ADMIN_KEY", ADMIN_KEY.to_owned()),
            ("RUM_SDK_KEY", SDK_KEY.to_owned()),
        ],
    );
    eprintln!("driver: {r}");

    // The hourly-polling page: each change came with exactly one flag fetch after setup's,
    // which only a stream announcement triggers.
    assert_eq!(r["initial"], "on");
    assert_eq!(r["afterKill"], "off", "the kill reached the page");
    assert_eq!(r["afterRestore"], "on", "the restore reached the page");
    assert_eq!(r["flagGetsBefore"], 1, "setup's fetch only");
    assert_eq!(
        r["flagGetsAfterKill"], 2,
        "one fetch, announced by the stream"
    );
    assert_eq!(r["flagGetsAfterRestore"], 3);
    assert_eq!(r["flushed"], true);
    assert_eq!(r["streamingAfterSecondKill"], "off");
    // The page whose stream fails: polling covered.
    assert_eq!(r["fallbackInitial"], "on");
    assert_eq!(r["fallbackAfterKill"], "off", "polling took over");
    assert_eq!(r["fallbackStreaming"], false);
    // The stream route and the key in its URL.
    assert_eq!(r["badKeyStatus"], 401);
    assert_eq!(r["goodKeyStatus"], 200);
    assert!(
        r["goodKeyType"]
            .as_str()
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{r}"
    );

    // What the streaming page saw is in the collector: the treatment before the kill (version 1),
    // the default under it (label `killed`, version 2), and the treatment again after the restore
    // (version 3). Counted as distinct versions: the page keeps evaluating while step 2 waits, and
    // deduplication (Split's optimized mode) sends a repeat after delivery as one more row
    // carrying a count; the second kill (version 4) may or may not be uploaded before the end.
    let versions = |filter: &str| -> Vec<i64> {
        let sql = format!(
            "SELECT DISTINCT version FROM impressions WHERE key = 'sse-user' \
             AND flag = 'web_banner' AND version <= 3 AND {filter} ORDER BY version"
        );
        let db = fixture.db().expect("db");
        let mut st = db.prepare(&sql).expect("query");
        st.query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("versions")
    };
    assert_eq!(versions("treatment = 'off' AND label = 'killed'"), vec![2]);
    assert_eq!(
        versions("treatment = 'on'"),
        vec![1, 3],
        "before the kill and after the restore"
    );
}

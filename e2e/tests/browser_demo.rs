//! The browser demo (examples/src/browser.rs) in headless Chromium
//! (e2e/dashboard-browser/browser-demo.mjs): the page a newcomer opens loads the built browser
//! agent from its own origin, and what its visitors do reaches the demo's collector, attributed
//! to the treatment each one saw: the new checkout's failed payments (handled, with their stacks)
//! only for visitors on `on`, a checkout for every other purchase, the uncaught error, and each
//! visitor's own page load. The page shows what each click did, with no console error.
//!
//! Needs node, /usr/bin/chromium, `npm ci` in bindings-wasm and e2e/dashboard-browser, wasm-opt
//! and the wasm32 target (.ci/run has them all); without them it prints SKIPPED, and fails under
//! CI=true.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use examples::browser::{BrowserDemo, Options, default_dist, start};
use rusqlite::Connection;

const CHROMIUM: &str = "/usr/bin/chromium";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What is missing to run the demo in a browser, if anything.
fn missing_tools() -> Option<String> {
    for tool in ["node", "wasm-opt"] {
        if !Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(tool.into());
        }
    }
    if !Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM.into());
    }
    let packages = [
        ("bindings-wasm", "esbuild"),
        ("e2e/dashboard-browser", "playwright-core"),
    ];
    for (dir, package) in packages {
        if !root().join(dir).join("node_modules").join(package).exists() {
            return Some(format!("{package} (npm ci in {dir})"));
        }
    }
    None
}

/// Builds the browser package the page loads (as a newcomer does before running the demo).
fn build_package() -> anyhow::Result<()> {
    let out = Command::new("bash")
        .arg(root().join("bindings-wasm/scripts/build.sh"))
        .env("CARGO_TARGET_DIR", root().join("target/wasm"))
        .output()
        .context("run bindings-wasm/scripts/build.sh")?;
    ensure!(
        out.status.success(),
        "bindings-wasm/scripts/build.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs the driver on the demo's page; its JSON line.
fn drive(demo: &BrowserDemo) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("node")
        .arg("browser-demo.mjs")
        .current_dir(root().join("e2e/dashboard-browser"))
        .env("DEMO_PAGE_URL", &demo.page_url)
        .output()
        .context("run node browser-demo.mjs")?;
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "the driver failed: {stdout}");
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("the driver's result line")
}

/// (key, type, message, stack) of the events of `types`.
fn events(db: &Connection, types: &str) -> anyhow::Result<Vec<(String, String, String, String)>> {
    let sql =
        format!("SELECT key, type, properties FROM events WHERE type IN ({types}) ORDER BY ts");
    let mut stmt = db.prepare(&sql)?;
    let rows = stmt.query_map([], |r| {
        let props: String = r.get(2)?;
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, props))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, kind, props) = row?;
        let props: serde_json::Value = serde_json::from_str(&props)?;
        let text = |name: &str| props[name].as_str().unwrap_or_default().to_owned();
        out.push((
            key,
            kind,
            text("exception.message"),
            text("exception.stacktrace"),
        ));
    }
    Ok(out)
}

#[test]
fn the_browser_demo_reports_what_its_visitors_did_by_treatment() -> anyhow::Result<()> {
    if let Some(what) = missing_tools() {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs the browser demo's tools: {what} is missing"
        );
        println!("SKIPPED: {what} is missing");
        return Ok(());
    }
    build_package()?;
    let demo = start(Options {
        dist: default_dist(),
        data_dir: None,
        // Nothing to wait for here: the test reads what arrived, not the comparisons.
        monitor_interval: Duration::ZERO,
    })?;
    let result = drive(&demo)?;
    ensure!(
        result["flushed"] == true,
        "the page's flush failed: {result}"
    );
    let errors = result["consoleErrors"]
        .as_array()
        .context("console errors")?;
    ensure!(errors.is_empty(), "console errors: {errors:?}");
    let visitor = |which: &str| {
        result[which]["visitor"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (first, second, last) = (visitor("first"), visitor("second"), visitor("last"));
    let shown = |which: &str| result[which].as_str().unwrap_or_default().to_owned();
    let first_treatment = result["first"]["treatment"].as_str().unwrap_or_default();
    ensure!(
        shown("who").contains(&first) && shown("who").contains(&format!(": {first_treatment})")),
        "{result}"
    );
    ensure!(
        shown("bought").contains("paid €129.90") || shown("bought").contains("payment failed"),
        "{result}"
    );
    ensure!(
        shown("many").starts_with("Done: 20 more visitors bought."),
        "{result}"
    );
    ensure!(shown("broke").contains("uncaught"), "{result}");
    let db = Connection::open_with_flags(
        demo.collector_dir.join("collector.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;

    // Every visitor's treatment, from the impressions the pages sent.
    let mut stmt = db.prepare("SELECT key, treatment FROM impressions WHERE flag = ?1")?;
    let treatment: HashMap<String, String> = stmt
        .query_map([demo.flag], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    ensure!(treatment.len() == 22, "22 visitors: {treatment:?}");
    ensure!(treatment.get(&first).map(String::as_str) == Some(first_treatment));
    ensure!(treatment.contains_key(&second) && treatment.contains_key(&last));

    let purchases = events(&db, "'checkout.time'")?;
    let buyers: HashSet<String> = purchases.iter().map(|e| e.0.clone()).collect();
    ensure!(
        purchases.len() == buyers.len(),
        "a visitor bought twice: {purchases:?}"
    );
    ensure!(
        buyers.len() == 21 && buyers.contains(&first) && !buyers.contains(&second),
        "{buyers:?}"
    );
    let on = buyers.iter().filter(|k| treatment[*k] == "on").count();
    ensure!(
        on > 0 && on < 21,
        "both checkouts were tried: {on} of 21 on `on`"
    );

    // Every third payment of the new checkout failed, and was reported as a handled error.
    let errors = events(&db, "'rum.error'")?;
    let failed: Vec<_> = errors.iter().filter(|e| e.2.contains("refused")).collect();
    ensure!(
        failed.len() == on / 3,
        "{} failed of {on}: {errors:?}",
        failed.len()
    );
    for (key, _, _, stack) in &failed {
        ensure!(treatment[key] == "on", "a failed payment of {key} on `off`");
        ensure!(stack.contains("newCheckout"), "no stack: {stack}");
    }
    let completed = events(&db, "'checkout.completed'")?;
    ensure!(
        completed.len() == 21 - on / 3,
        "{} checkouts: {completed:?}",
        completed.len()
    );
    ensure!(
        completed.iter().all(|e| buyers.contains(&e.0)),
        "checkouts of visitors who did not buy"
    );

    // The uncaught error, for the visitor it happened to.
    let uncaught = errors.iter().find(|e| e.2.contains("broke the page"));
    match uncaught {
        Some((key, _, _, _)) if *key == last => {}
        other => bail!("the uncaught error of {last}: {other:?}"),
    }
    // Each page load is its own visitor's: the first's, the second's and the last's at least
    // (the twenty hand over as soon as they bought, some before their load is timed).
    let loads: HashSet<String> = events(&db, "'rum.page.load.time'")?
        .into_iter()
        .map(|e| e.0)
        .collect();
    eprintln!("page loads of {} visitors", loads.len());
    ensure!(
        [&first, &second, &last].iter().all(|v| loads.contains(*v)),
        "page loads: {loads:?}"
    );
    ensure!(loads.iter().all(|k| treatment.contains_key(k)), "{loads:?}");
    demo.stop()
}

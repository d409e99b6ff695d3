//! Unscheduled looks on the impact page's trend chart, on a real collector (loopback, SQLite in a
//! temp dir, monitoring on simulated time): a recalculation between two scheduled checks and a
//! late-data look after the window are both logged in `monitor_checks` and drawn as hollow
//! markers (with a legend entry), apart from the filled scheduled checks.

mod dashboard_support;
#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use dashboard_support::{browser, get, sign_in};
use monitoring_support::{run_clean, send, start, windowed_half_flag};
use notify_support::Admin;
use reqwest::StatusCode;
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const USERS: usize = 2_000;
const FLAG: &str = "looks";

fn entry(start: i64, u: usize) -> i64 {
    start + (u as i64 * 110 * MINUTE) / USERS as i64
}

fn error(u: usize, ts: i64) -> (bool, Value) {
    (
        false,
        json!({"id": uuid::Uuid::new_v4().to_string(), "key": format!("user-{u}"),
               "traffic_type": "user", "type": "error", "value": null, "ts": ts, "properties": {}}),
    )
}

/// One impression per user of `flag`'s 50/50 rollout (even users `on`), entering over 110 minutes.
fn impressions(flag: &str, version: u64, start_ms: i64) -> Vec<(bool, Value)> {
    (0..USERS)
        .map(|u| {
            (
                true,
                json!({"id": uuid::Uuid::new_v4().to_string(), "key": format!("user-{u}"),
                       "flag": flag, "treatment": if u % 2 == 0 { "on" } else { "off" },
                       "version": version, "label": "everyone", "ts": entry(start_ms, u)}),
            )
        })
        .collect()
}

/// The `<svg class="trend">` of the first trend box of `treatment`.
fn trend_of<'a>(page: &'a str, treatment: &str) -> &'a str {
    let h = format!("<h3>Trend of {treatment} over ");
    let at = page
        .find(&h)
        .unwrap_or_else(|| panic!("no trend of {treatment}: {page}"));
    let svg = at + page[at..].find("<svg class=\"trend\"").expect("trend svg");
    let end = svg + page[svg..].find("</svg>").expect("svg end");
    &page[svg..end]
}

/// A 50/50 flag `key` with a 120-minute window and a "users with errors" metric; answers the
/// flag's version, when it started and the metric.
async fn errors_flag(admin: &Admin, key: &str) -> (u64, i64, Value) {
    let (version, start_ms) = windowed_half_flag(admin, key, 120).await;
    let (s, m) = admin
        .post(
            "/api/v1/admin/metrics",
            json!({"name": "users with errors", "event_type": "error",
                   "metric_type": "percent_users", "direction": "decrease"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    (version, start_ms, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscheduled_looks_are_drawn_hollow_on_the_trend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let (version, start_ms, m) = errors_flag(&admin, FLAG).await;
    let (s, p) = admin
        .post(
            "/api/v1/admin/policies",
            json!({"name": "errors up", "metric_id": m["id"], "flag": FLAG,
                   "threshold": {"relative": 0.0}}),
        )
        .await;
    assert_eq!(s, 201, "{p}");

    // No effect: every tenth user of each arm has an error a minute after entry.
    let mut items = impressions(FLAG, version, start_ms);
    items.extend(
        (0..USERS)
            .filter(|u| (u / 2) % 10 == 0)
            .map(|u| error(u, entry(start_ms, u) + MINUTE)),
    );
    send(&c, &items).await;

    // Scheduled checks up to minute 60, a recalculation between two of them, the rest.
    let early = run_clean(&admin, start_ms + 60 * MINUTE).await;
    let early_checks = early["checks_run"].as_u64().expect("checks_run");
    assert!(early_checks > 0, "{early}");
    let (s, recalc) = admin
        .post(
            &format!("/api/v1/admin/flags/{FLAG}/recalculate"),
            json!({"at": start_ms + 61 * MINUTE}),
        )
        .await;
    assert_eq!(s, 200, "{recalc}");
    assert_eq!(
        recalc["looks"].as_array().map(Vec::len),
        Some(1),
        "{recalc}"
    );
    let rest = run_clean(&admin, start_ms + 180 * MINUTE).await;
    let scheduled = early_checks + rest["checks_run"].as_u64().expect("checks_run");
    assert!(scheduled > early_checks, "{rest}");

    // Late data after the window: the next run takes one unscheduled look.
    let late: Vec<(bool, Value)> = (0..USERS)
        .filter(|u| u % 2 == 0 && (u / 2) % 5 < 2)
        .map(|u| error(u, entry(start_ms, u) + 2 * MINUTE))
        .collect();
    send(&c, &late).await;
    let after = run_clean(&admin, start_ms + 240 * MINUTE).await;
    assert_eq!(after["late_data_looks"], 1, "{after}");
    assert_eq!(after["checks_run"], 0, "{after}");

    // The impact page: every look on the trend, the two unscheduled ones hollow.
    let page = impact_page(&c, FLAG).await;
    let svg = trend_of(&page, "on");
    assert_eq!(
        svg.matches(r#"data-look="unscheduled""#).count(),
        2,
        "{svg}"
    );
    assert_eq!(
        svg.matches(r#"data-look="scheduled""#).count() as u64,
        scheduled,
        "{svg}"
    );
    assert!(
        svg.contains(&format!(
            "over {scheduled} checks and 2 unscheduled looks, latest"
        )),
        "{svg}"
    );
    assert!(
        svg.contains(r#"<circle class="pt look" data-look="unscheduled""#),
        "{svg}"
    );
    assert!(page.contains(r#"data-legend="unscheduled""#), "{page}");
    assert!(page.contains("unscheduled look (late data or a recalculation)"));
    assert_eq!(
        page.matches("<td>unscheduled look</td>").count(),
        2,
        "{page}"
    );
    c.shutdown().await.expect("shutdown");
}

/// Signs in and answers the impact page of `flag`.
async fn impact_page(c: &collector::RunningCollector, flag: &str) -> String {
    let (http, base) = (browser(), c.url());
    let cookie = sign_in(&http, &base).await;
    let (status, page) = get(&http, &base, &cookie, &format!("/ui/flags/{flag}/impact")).await;
    assert_eq!(status, StatusCode::OK);
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_metric_without_a_policy_has_its_own_trend_of_two_sided_checks() {
    const KEYED: &str = "keyed";
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let admin = Admin::new(&c);
    let (version, start_ms, m) = errors_flag(&admin, KEYED).await;
    let (s, k) = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/flags/{KEYED}/key-metrics"),
            Some(json!({"metric_ids": [m["id"]]})),
        )
        .await;
    assert_eq!(s, 200, "{k}");

    // A real effect and no policy: 30 % of `on` users have an error, 5 % of `off` users.
    let mut items = impressions(KEYED, version, start_ms);
    items.extend(
        (0..USERS)
            .filter(|u| (u / 2) % 20 < if u % 2 == 0 { 6 } else { 1 })
            .map(|u| error(u, entry(start_ms, u) + MINUTE)),
    );
    send(&c, &items).await;
    let summary = run_clean(&admin, start_ms + 180 * MINUTE).await;
    assert_eq!(
        summary["key_metric_alert_ids"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );

    let page = impact_page(&c, KEYED).await;
    let at = page
        .find("<h3>Trend of on over ")
        .unwrap_or_else(|| panic!("a key metric's trend without a policy: {page}"));
    let heading = &page[at..at + page[at..].find("</h3>").expect("heading end")];
    let looks: u64 = heading
        .trim_start_matches("<h3>Trend of on over ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{heading}"));
    assert!(heading.ends_with("key-metric checks"), "{heading}");
    assert!(looks >= 1, "{heading}");
    let svg = trend_of(&page, "on");
    assert_eq!(
        svg.matches(r#"data-look="scheduled""#).count() as u64,
        looks,
        "{svg}"
    );
    assert!(
        !svg.contains("line class=\"threshold\""),
        "key metrics alert on any change: no threshold line: {svg}"
    );
    assert!(page.contains("Two-sided interval"), "{page}");
    assert!(
        page[at..].contains("<td>yes</td>"),
        "the check that fired the key-metric alert is marked: {page}"
    );
    c.shutdown().await.expect("shutdown");
}

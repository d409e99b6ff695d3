//! Dashboard sessions and sign-in limits on a real collector (loopback, SQLite in a temp dir):
//! a session survives a restart on the same database file, is stored by the hash of its token
//! only, ends at sign-out and when idle or old (times moved back in the file while the collector
//! is stopped); failed sign-ins from one client address end in 429 with Retry-After, other
//! addresses are unaffected, and a success resets the count.

mod dashboard_support;
#[path = "monitoring_support/mod.rs"]
mod monitoring_support;
mod notify_support;

use dashboard_support::csrf;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use collector::auth::hash_key;
use collector::dashboard::sign_in_limit::{MAX_FAILURES, WINDOW};
use monitoring_support::start;
use notify_support::ADMIN;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};

const HOUR: i64 = 3_600_000;

/// A browser without a cookie jar, from `from` (any 127/8 address works on loopback).
fn browser(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .local_address(from.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client")
}

async fn try_sign_in(http: &reqwest::Client, base: &str, key: &str) -> reqwest::Response {
    http.post(format!("{base}/ui/sign-in"))
        .form(&[("key", key)])
        .send()
        .await
        .expect("sent")
}

/// Signs in; answers the `Cookie` header value and the token in it.
async fn sign_in(http: &reqwest::Client, base: &str) -> (String, String) {
    let r = try_sign_in(http, base, ADMIN).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[SET_COOKIE].to_str().expect("ascii").to_string();
    let pair = set.split(';').next().expect("pair").to_string();
    let token = pair.strip_prefix("rum_session=").expect("name").to_string();
    (pair, token)
}

/// The flags page with `cookie`: `Some(page)` when signed in, `None` when sent to sign in.
async fn flags_page(http: &reqwest::Client, base: &str, cookie: &str) -> Option<String> {
    let r = http
        .get(format!("{base}/ui/flags"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("sent");
    if r.status() == StatusCode::SEE_OTHER {
        assert_eq!(r.headers()[LOCATION], "/ui/sign-in");
        return None;
    }
    assert_eq!(r.status(), StatusCode::OK);
    Some(r.text().await.expect("body"))
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("collector.db")).expect("open the collector's file")
}

fn stored_hashes(dir: &Path) -> Vec<String> {
    let c = db(dir);
    let mut st = c
        .prepare("SELECT token_hash FROM dashboard_sessions ORDER BY token_hash")
        .expect("prepare");
    st.query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_restart_and_ends_at_sign_out_or_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let http = browser("127.0.0.1");
    let (cookie, token) = sign_in(&http, &c.url()).await;
    let before = flags_page(&http, &c.url(), &cookie)
        .await
        .expect("signed in");

    // Only the token's SHA-256 is stored.
    assert_eq!(stored_hashes(dir.path()), vec![hash_key(&token)]);
    let dump: String = db(dir.path())
        .query_row(
            "SELECT group_concat(token_hash || created_at || last_seen) FROM dashboard_sessions",
            [],
            |r| r.get(0),
        )
        .expect("dump");
    assert!(!dump.contains(&token), "{dump}");

    // The same file after a restart: the cookie still works, with the same form token.
    c.shutdown().await.expect("shutdown");
    let c = start(dir.path()).await;
    let after = flags_page(&http, &c.url(), &cookie)
        .await
        .expect("the session survived the restart");
    assert_eq!(csrf(&after), csrf(&before));

    // Sign-out deletes it: the cookie no longer works, here or after another restart.
    let r = http
        .post(format!("{}/ui/sign-out", c.url()))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf(&after).as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(r.headers()[LOCATION], "/ui/sign-in");
    assert_eq!(flags_page(&http, &c.url(), &cookie).await, None);
    assert!(stored_hashes(dir.path()).is_empty());

    // Three sessions, then their times moved back while the collector is stopped: unused for
    // 13 h (past the 12 h idle limit), signed in 8 days ago though used now (past the 7-day
    // limit), and unused for 11 h (still alive).
    let (idle, idle_token) = sign_in(&http, &c.url()).await;
    let (old, old_token) = sign_in(&http, &c.url()).await;
    let (fine, fine_token) = sign_in(&http, &c.url()).await;
    c.shutdown().await.expect("shutdown");
    let now = collector::store::sqlite::now_ms();
    let conn = db(dir.path());
    let set = |token: &str, created: i64, seen: i64| {
        let n = conn
            .execute(
                "UPDATE dashboard_sessions SET created_at = ?2, last_seen = ?3 WHERE token_hash = ?1",
                rusqlite::params![hash_key(token), created, seen],
            )
            .expect("update");
        assert_eq!(n, 1);
    };
    set(&idle_token, now - 13 * HOUR, now - 13 * HOUR);
    set(&old_token, now - 8 * 24 * HOUR, now);
    set(&fine_token, now - 11 * HOUR, now - 11 * HOUR);
    drop(conn);
    let c = start(dir.path()).await;
    assert_eq!(flags_page(&http, &c.url(), &idle).await, None, "idle");
    assert_eq!(flags_page(&http, &c.url(), &old).await, None, "too old");
    assert!(flags_page(&http, &c.url(), &fine).await.is_some(), "alive");
    // The expired ones were forgotten; the live one was marked used just now.
    assert_eq!(stored_hashes(dir.path()), vec![hash_key(&fine_token)]);
    let seen: i64 = db(dir.path())
        .query_row("SELECT last_seen FROM dashboard_sessions", [], |r| r.get(0))
        .expect("last_seen");
    assert!(seen >= now, "{seen} < {now}");
    c.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_sign_ins_from_one_address_get_429_until_a_success_resets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = start(dir.path()).await;
    let base = c.url();
    let attacker = browser("127.0.0.1");
    for i in 0..MAX_FAILURES - 1 {
        let r = try_sign_in(&attacker, &base, &format!("guess-{i}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.headers().get(RETRY_AFTER).is_none());
    }
    // The last allowed failure already says so; from then on even the right key is refused.
    for key in ["guess-last", ADMIN, "sdk-key"] {
        let r = try_sign_in(&attacker, &base, key).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{key}");
        assert!(r.headers().get(SET_COOKIE).is_none());
        let wait: u64 = r.headers()[RETRY_AFTER]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(wait >= 1 && wait <= WINDOW.as_secs(), "{wait}");
        let page = r.text().await.expect("body");
        assert!(page.contains("role=\"alert\""), "{page}");
        assert!(page.contains("too many failed sign-ins"), "{page}");
        assert!(page.contains("Try again in 5 minutes"), "{page}");
    }

    // Another client address is not limited.
    let other = browser("127.0.0.2");
    let (cookie, _) = sign_in(&other, &base).await;
    assert!(flags_page(&other, &base, &cookie).await.is_some());

    // A success forgets the failures: nine, a success, then the full allowance again.
    let user = browser("127.0.0.3");
    for i in 0..MAX_FAILURES - 1 {
        let r = try_sign_in(&user, &base, &format!("typo-{i}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    sign_in(&user, &base).await;
    for i in 0..MAX_FAILURES - 1 {
        let r = try_sign_in(&user, &base, &format!("typo-again-{i}")).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {i} after the success"
        );
    }
    let r = try_sign_in(&user, &base, "one-too-many").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    c.shutdown().await.expect("shutdown");
}

//! The dashboard over HTTP with the session cookie handled by hand (no cookie jar, redirects not
//! followed), shared by the dashboard tests.
#![allow(dead_code)]

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::notify_support::ADMIN;

/// A browser without a cookie jar: redirects are not followed, so each answer can be checked.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Signs in; answers the `Cookie` header value.
pub async fn sign_in(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .post(format!("{base}/ui/sign-in"))
        .form(&[("key", ADMIN)])
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_string();
    set.split(';').next().expect("pair").to_string()
}

/// GETs `path` with the session cookie; answers the status and the body.
pub async fn get(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
) -> (StatusCode, String) {
    let r = http
        .get(format!("{base}{path}"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("sent");
    let st = r.status();
    (st, r.text().await.expect("body"))
}

/// POSTs a form to `path` with the session cookie.
pub async fn post(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(format!("{base}{path}"))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .expect("sent")
}

/// The CSRF token of a page's forms.
pub fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("page has a csrf field")
        + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().expect("value").to_string()
}

/// The `Location` header of a redirect (empty when none).
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

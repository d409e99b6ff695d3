//! The dashboard: server-rendered HTML pages under `/ui/` for people, signed in with an admin
//! key, over the same handlers and stores the JSON admin API uses.
//!
//! Templates are [maud](https://maud.lambda.xyz/) (compile-time HTML in Rust, every `(value)`
//! splice HTML-escaped), so a page is a plain function per concept and a user-controlled name
//! can never become markup. The CSS and JS are compiled into the binary ([`assets`]); charts are
//! server-drawn SVG ([`svg`]). Pages are behind a server-side session ([`session`]): the cookie
//! holds a random token, never the key. Every state-changing form is a POST carrying the
//! session's CSRF token, on top of the `SameSite=Strict` cookie. Changes follow
//! post/redirect/get, with the outcome shown once on the next page ("flash").

pub mod alerts;
pub mod assets;
pub mod flags;
pub mod forms;
pub mod impact;
pub mod layout;
pub mod live;
pub mod metrics;
pub mod sensitivity;
pub mod session;
pub mod session_store;
pub mod sign_in_limit;
pub mod svg;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;

use crate::error::ApiError;
use crate::server::AppState;
use session::Sessions;
use sign_in_limit::SignInLimiter;

/// Where the dashboard lives.
pub const BASE: &str = "/ui";

/// State of the dashboard routes: the collector's state plus the sign-in sessions.
#[derive(Clone)]
pub struct Dash {
    /// The collector's shared state (stores, flag snapshot, notifier).
    pub app: AppState,
    /// Signed-in browser sessions' pending messages (the sessions are in the store).
    pub sessions: Arc<Sessions>,
    /// Failed sign-ins per client address.
    pub limiter: Arc<SignInLimiter>,
}

/// The dashboard's router (state applied), to merge into the collector's.
pub fn router(app: AppState) -> Router {
    let dash = Dash {
        app,
        sessions: Arc::new(Sessions::default()),
        limiter: Arc::new(SignInLimiter::default()),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/flags") }))
        .route("/ui", get(|| async { Redirect::to("/ui/flags") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/flags") }))
        .route(
            "/ui/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/ui/sign-out", post(session::sign_out))
        .route("/ui/assets/{name}", get(assets::get_asset))
        .route("/ui/live", get(live::stream))
        .route("/ui/flags", get(flags::list_page))
        .route("/ui/flags/{key}", get(flags::flag_page))
        .route("/ui/flags/{key}/rollout", post(flags::post_rollout))
        .route("/ui/flags/{key}/kill", post(flags::post_kill))
        .route("/ui/flags/{key}/restore", post(flags::post_restore))
        .route(
            "/ui/flags/{key}/key-metrics",
            post(metrics::post_key_metrics),
        )
        .route("/ui/flags/{key}/impact", get(impact::impact_page))
        .route("/ui/flags/{key}/impact/{metric}", get(impact::metric_page))
        .route("/ui/alerts", get(alerts::alerts_page))
        .route("/ui/alerts/{id}/dismiss", post(alerts::post_dismiss))
        .route(
            "/ui/metrics",
            get(metrics::metrics_page).post(metrics::post_metric),
        )
        .route("/ui/metrics/{id}", get(metrics::metric_page))
        .route("/ui/metrics/{id}/edit", post(metrics::post_metric_edit))
        .route("/ui/metrics/{id}/delete", post(metrics::post_delete_metric))
        .route("/ui/policies", post(metrics::post_policy))
        .route("/ui/policies/{id}", get(metrics::policy_page))
        .route("/ui/policies/{id}/edit", post(metrics::post_policy_edit))
        .route("/ui/sensitivity", get(sensitivity::sensitivity_page))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(dash)
}

/// Pages are private and must not be framed or cached; scripts and styles come only from here.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        if !h.contains_key(&k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::CACHE_CONTROL, "no-store");
    r
}

/// An HTML answer with a status.
pub fn html(status: StatusCode, page: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

/// A failed page: the API error's status and message in the layout, signed in or not.
pub fn error_page(e: &ApiError) -> Response {
    let body = maud::html! {
        h1 { "Something went wrong" }
        p role="alert" { (e.message) }
        p { a href="/ui/flags" { "Back to the flags" } }
    };
    html(e.status, layout::bare("Error", body))
}

/// Percent-encodes a path segment (flag keys may hold any character).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

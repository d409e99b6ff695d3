//! Sign-in with an admin key, server-side sessions, and the CSRF token of every form.
//!
//! The cookie holds a random session token (two v4 UUIDs: 244 random bits from the OS
//! generator), never the key; it is `HttpOnly`, `SameSite=Strict`, and `Secure` when the request
//! came over HTTPS (directly or through a proxy saying so in `X-Forwarded-Proto`). Sessions live
//! in memory: a restart signs everyone out, which is acceptable for an operator console.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::forms::Fields;
use super::{Dash, html as page};
use crate::auth::hash_key;
use crate::server::blocking;
use crate::store::Principal;

/// Name of the session cookie.
pub const COOKIE: &str = "rum_session";
/// A session unused this long is forgotten.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// At most this many sessions are kept (the least recently used go first).
const MAX_SESSIONS: usize = 10_000;

/// A one-time message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// True for a failure (announced as an alert).
    pub error: bool,
    /// The message.
    pub text: String,
}

#[derive(Debug, Clone)]
struct SessionData {
    csrf: String,
    last_seen: Instant,
    flash: Option<Flash>,
}

/// The signed-in sessions, by token.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, SessionData>>);

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Sessions {
    /// Starts a session; answers its token.
    pub fn create(&self) -> String {
        let token = random_token();
        if let Ok(mut m) = self.0.lock() {
            let now = Instant::now();
            m.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
            if m.len() >= MAX_SESSIONS
                && let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, s)| s.last_seen)
                    .map(|(k, _)| k.clone())
            {
                m.remove(&oldest);
            }
            m.insert(
                token.clone(),
                SessionData {
                    csrf: random_token(),
                    last_seen: now,
                    flash: None,
                },
            );
        }
        token
    }

    /// The CSRF token of a live session (and marks it used).
    fn touch(&self, token: &str) -> Option<String> {
        let mut m = self.0.lock().ok()?;
        let now = Instant::now();
        let s = m.get_mut(token)?;
        if now.duration_since(s.last_seen) >= IDLE {
            m.remove(token);
            return None;
        }
        s.last_seen = now;
        Some(s.csrf.clone())
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(token);
        }
    }

    /// Leaves a message for the session's next page.
    pub fn set_flash(&self, token: &str, flash: Flash) {
        if let Ok(mut m) = self.0.lock()
            && let Some(s) = m.get_mut(token)
        {
            s.flash = Some(flash);
        }
    }

    /// Takes the session's pending message.
    pub fn take_flash(&self, token: &str) -> Option<Flash> {
        self.0.lock().ok()?.get_mut(token)?.flash.take()
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|t| !t.is_empty())
}

/// Extractor: a signed-in browser session. Without one, pages redirect to the sign-in form.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The session token (from the cookie).
    pub token: String,
    /// The token forms must echo.
    pub csrf: String,
}

/// Where requests without a session go.
pub struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/ui/sign-in").into_response()
    }
}

impl FromRequestParts<Dash> for Signed {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, state: &Dash) -> Result<Self, SignInFirst> {
        let token = cookie_token(&parts.headers).ok_or(SignInFirst)?;
        let csrf = state.sessions.touch(token).ok_or(SignInFirst)?;
        Ok(Signed {
            token: token.to_string(),
            csrf,
        })
    }
}

/// A form whose CSRF token did not match its session.
#[derive(Debug)]
pub struct CsrfRejected;

impl IntoResponse for CsrfRejected {
    fn into_response(self) -> Response {
        page(
            StatusCode::FORBIDDEN,
            super::layout::bare(
                "Form expired",
                html! {
                    h1 { "This form has expired" }
                    p role="alert" { "csrf: the form's token does not match your session. \
                        Reload the page and try again." }
                    p { a href="/ui/flags" { "Back to the flags" } }
                },
            ),
        )
    }
}

impl Signed {
    /// Checks the form's `csrf` field against the session's token (constant time).
    pub fn check(&self, form: &Fields) -> Result<(), CsrfRejected> {
        let given = form.get("csrf").unwrap_or_default().as_bytes();
        let want = self.csrf.as_bytes();
        let diff = given.len() != want.len()
            || given
                .iter()
                .zip(want)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0;
        if diff { Err(CsrfRejected) } else { Ok(()) }
    }

    /// Redirects to `to` after leaving a message for it.
    pub fn redirect(
        &self,
        dash: &Dash,
        to: &str,
        error: bool,
        text: impl Into<String>,
    ) -> Response {
        dash.sessions.set_flash(
            &self.token,
            Flash {
                error,
                text: text.into(),
            },
        );
        Redirect::to(to).into_response()
    }
}

fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn sign_in_form(error: Option<&str>, status: StatusCode) -> Response {
    page(
        status,
        super::layout::bare(
            "Sign in",
            html! {
                h1 { "Sign in" }
                @if let Some(e) = error { p.flash.error role="alert" { (e) } }
                form.card method="post" action="/ui/sign-in" {
                    label for="key" { "Admin key" }
                    input #key name="key" type="password" required autocomplete="current-password"
                        autofocus;
                    button type="submit" { "Sign in" }
                }
                p.muted { "The key is checked once; the browser keeps only a session cookie." }
            },
        ),
    )
}

/// `GET /ui/sign-in`.
pub async fn sign_in_page() -> Response {
    sign_in_form(None, StatusCode::OK)
}

/// `POST /ui/sign-in`: checks the admin key, starts a session, sets the cookie.
pub async fn sign_in(State(dash): State<Dash>, headers: HeaderMap, form: Fields) -> Response {
    let key = form.get("key").unwrap_or_default().trim().to_string();
    if key.is_empty() {
        return sign_in_form(Some("key: enter an admin key"), StatusCode::BAD_REQUEST);
    }
    let hash = hash_key(&key);
    let principal = match dash.app.key_cache().get(&hash) {
        Some(p) => Some(p),
        None => {
            let store = dash.app.store.clone();
            let h = hash.clone();
            match blocking(move || store.principal(&h)).await {
                Ok(p) => p,
                Err(e) => return super::error_page(&e),
            }
        }
    };
    if principal != Some(Principal::Admin) {
        return sign_in_form(
            Some("key: not an admin key of this collector"),
            StatusCode::UNAUTHORIZED,
        );
    }
    let token = dash.sessions.create();
    let secure = if is_https(&headers) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/flags")).into_response()
}

/// `POST /ui/sign-out`: ends the session and clears the cookie.
pub async fn sign_out(State(dash): State<Dash>, s: Signed, form: Fields) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    dash.sessions.remove(&s.token);
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/sign-in")).into_response()
}

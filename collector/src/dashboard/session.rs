//! Sign-in with an admin key, server-side sessions, and the CSRF token of every form.
//!
//! The cookie holds a random session token (two v4 UUIDs: 244 random bits from the OS
//! generator), never the key; it is `HttpOnly`, `SameSite=Strict`, and `Secure` when the request
//! came over HTTPS (directly or through a proxy saying so in `X-Forwarded-Proto`). Sessions are
//! stored ([`super::session_store`]) by the SHA-256 hash of the token, so they survive a restart
//! and the database never holds a usable token; a session ends after [`IDLE`] unused, [`ABSOLUTE`]
//! after sign-in, or at sign-out. The CSRF token is derived from the session token (a hash with
//! a distinct prefix), so it needs no storage and cannot be computed from the database. The
//! one-time messages after a form ("flash") stay in memory: a restart loses at most one.
//! Failed sign-ins are limited per client address ([`super::sign_in_limit`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::forms::Fields;
use super::{Dash, html as page};
use crate::auth::hash_key;
use crate::error::ApiError;
use crate::server::blocking;
use crate::store::Principal;
use crate::store::sqlite::now_ms;

/// Name of the session cookie.
pub const COOKIE: &str = "rum_session";
/// A session unused this long is over.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session is over this long after its sign-in, however much it is used.
pub const ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session's last use is written at most this often (each page view would be a write).
const TOUCH_EVERY_MS: i64 = 60_000;
/// At most this many sessions are kept (the least recently used go first).
const MAX_SESSIONS: usize = 10_000;
/// A message not shown within this long is dropped.
const FLASH_LIFE: Duration = Duration::from_secs(600);

/// A one-time message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// True for a failure (announced as an alert).
    pub error: bool,
    /// The message.
    pub text: String,
}

/// The sessions' pending one-time messages, by token hash (the sessions themselves are stored).
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, (Flash, Instant)>>);

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The CSRF token of a session: derived, so nothing but the cookie's holder can know it.
fn csrf_of(token: &str) -> String {
    hash_key(&format!("rum-dashboard-csrf\0{token}"))
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// True while a session with these times may be used at `now`.
pub fn alive(created_at: i64, last_seen: i64, now: i64) -> bool {
    now - last_seen < ms(IDLE) && now - created_at < ms(ABSOLUTE)
}

impl Sessions {
    /// Starts and stores a session; answers its token.
    pub async fn create(&self, dash: &Dash) -> Result<String, ApiError> {
        let token = random_token();
        let (store, hash, now) = (dash.app.store.clone(), hash_key(&token), now_ms());
        blocking(move || {
            store.insert_session(&hash, now, now - ms(IDLE), now - ms(ABSOLUTE), MAX_SESSIONS)
        })
        .await?;
        Ok(token)
    }

    /// The CSRF token of a live session (and marks it used); `None` when there is none.
    async fn touch(&self, dash: &Dash, token: &str) -> Result<Option<String>, ApiError> {
        let (store, hash, now) = (dash.app.store.clone(), hash_key(token), now_ms());
        let live = blocking(move || {
            let Some(s) = store.find_session(&hash)? else {
                return Ok(false);
            };
            if !alive(s.created_at, s.last_seen, now) {
                store.delete_session(&hash)?;
                return Ok(false);
            }
            if now - s.last_seen >= TOUCH_EVERY_MS {
                store.touch_session(&hash, now)?;
            }
            Ok(true)
        })
        .await?;
        Ok(live.then(|| csrf_of(token)))
    }

    /// Ends a session.
    pub async fn remove(&self, dash: &Dash, token: &str) -> Result<(), ApiError> {
        let (store, hash) = (dash.app.store.clone(), hash_key(token));
        if let Ok(mut m) = self.0.lock() {
            m.remove(&hash);
        }
        blocking(move || store.delete_session(&hash)).await
    }

    /// Leaves a message for the session's next page.
    pub fn set_flash(&self, token: &str, flash: Flash) {
        if let Ok(mut m) = self.0.lock() {
            let now = Instant::now();
            m.retain(|_, (_, at)| now.duration_since(*at) < FLASH_LIFE);
            if m.len() < MAX_SESSIONS {
                m.insert(hash_key(token), (flash, now));
            }
        }
    }

    /// Takes the session's pending message.
    pub fn take_flash(&self, token: &str) -> Option<Flash> {
        self.0.lock().ok()?.remove(&hash_key(token)).map(|(f, _)| f)
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

/// Where requests without a session go (or the error page when the store failed).
pub enum SignInFirst {
    /// No session: to the sign-in form.
    Redirect,
    /// The session could not be read.
    Failed(ApiError),
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        match self {
            SignInFirst::Redirect => Redirect::to("/ui/sign-in").into_response(),
            SignInFirst::Failed(e) => super::error_page(&e),
        }
    }
}

impl FromRequestParts<Dash> for Signed {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, state: &Dash) -> Result<Self, SignInFirst> {
        let token = cookie_token(&parts.headers).ok_or(SignInFirst::Redirect)?;
        let csrf = state
            .sessions
            .touch(state, token)
            .await
            .map_err(SignInFirst::Failed)?
            .ok_or(SignInFirst::Redirect)?;
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

/// The address failed sign-ins are counted under (all unknown clients share one).
fn client_ip(conn: Option<Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    conn.map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |Extension(ConnectInfo(a))| a.ip(),
    )
}

/// The answer to a client that used up its failed sign-ins: 429 with `Retry-After`.
fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let minutes = secs.div_ceil(60);
    let text = format!(
        "key: too many failed sign-ins from your address. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    );
    let mut r = sign_in_form(Some(&text), StatusCode::TOO_MANY_REQUESTS);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}

/// `POST /ui/sign-in`: checks the admin key, starts a session, sets the cookie. Failures are
/// limited per client address ([`super::sign_in_limit`]).
pub async fn sign_in(
    State(dash): State<Dash>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Fields,
) -> Response {
    let ip = client_ip(conn);
    if let Some(wait) = dash.limiter.blocked(ip, Instant::now()) {
        return too_many(wait);
    }
    let key = form.get("key").unwrap_or_default().trim().to_string();
    if key.is_empty() {
        return sign_in_form(Some("key: enter an admin key"), StatusCode::BAD_REQUEST);
    }
    if let Err(wait) = dash.limiter.attempt(ip, Instant::now()) {
        return too_many(wait);
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
        if let Some(wait) = dash.limiter.blocked(ip, Instant::now()) {
            return too_many(wait);
        }
        return sign_in_form(
            Some("key: not an admin key of this collector"),
            StatusCode::UNAUTHORIZED,
        );
    }
    dash.limiter.succeeded(ip);
    let token = match dash.sessions.create(&dash).await {
        Ok(t) => t,
        Err(e) => return super::error_page(&e),
    };
    let secure = if is_https(&headers) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/flags")).into_response()
}

/// `POST /ui/sign-out`: ends the session (deleting it from the store) and clears the cookie.
pub async fn sign_out(State(dash): State<Dash>, s: Signed, form: Fields) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    if let Err(e) = dash.sessions.remove(&dash, &s.token).await {
        return super::error_page(&e);
    }
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/sign-in")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_old() {
        let (h, d) = (3_600_000, 24 * 3_600_000);
        assert!(alive(0, 0, 12 * h - 1));
        assert!(!alive(0, 0, 12 * h));
        assert!(alive(0, 7 * d - h, 7 * d - 1));
        assert!(!alive(0, 7 * d - h, 7 * d));
    }

    #[test]
    fn the_csrf_token_is_not_the_session_token_nor_its_stored_hash() {
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(csrf_of(&t), t);
        assert_ne!(csrf_of(&t), hash_key(&t));
        assert_eq!(csrf_of(&t), csrf_of(&t));
    }
}

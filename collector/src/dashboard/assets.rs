//! The dashboard's stylesheet and script, compiled into the binary (no CDN, no build step).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The stylesheet.
pub const APP_CSS: &str = include_str!("assets/app.css");
/// The script: live updates and confirmations (pages work without it).
pub const APP_JS: &str = include_str!("assets/app.js");

/// `GET /ui/assets/{name}`.
pub async fn get_asset(Path(name): Path<String>) -> Response {
    let (ctype, body) = match name.as_str() {
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

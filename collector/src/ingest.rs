//! `POST /api/v1/batch`: validates a whole batch, then stores it; 202 only after the commit.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use agent_core::wire::{Batch, EVENT_TYPE_PATTERN, MAX_BATCH_ITEMS, is_valid_event_type};

use crate::auth::SdkAuth;
use crate::error::{ApiError, parse_json};
use crate::server::{AppState, blocking};
use crate::store::IngestOutcome;

/// Latest accepted timestamp (year 9999, in Unix ms); earlier than 0 is refused too.
pub const MAX_TS: i64 = 253_402_300_799_999;
/// Longest accepted key, flag, treatment or label.
pub const MAX_STRING: usize = 1024;

fn check_str(path: impl FnOnce() -> String, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{}: must not be empty",
            path()
        )));
    }
    if value.len() > MAX_STRING {
        return Err(ApiError::bad_request(format!(
            "{}: longer than {MAX_STRING} bytes",
            path()
        )));
    }
    Ok(())
}

fn check_ts(path: impl FnOnce() -> String, ts: i64) -> Result<(), ApiError> {
    if !(0..=MAX_TS).contains(&ts) {
        return Err(ApiError::bad_request(format!(
            "{}: {ts} is outside 0..={MAX_TS} (Unix milliseconds)",
            path()
        )));
    }
    Ok(())
}

/// Checks everything the types cannot: limits, formats and ranges, naming the field at fault.
pub fn validate_batch(batch: &Batch) -> Result<(), ApiError> {
    if batch.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "batch holds {} items (impressions + events); at most {MAX_BATCH_ITEMS} are accepted",
                batch.len()
            ),
        ));
    }
    for (i, imp) in batch.impressions.iter().enumerate() {
        let p = |f: &str| format!("impressions[{i}].{f}");
        check_str(|| p("key"), &imp.key)?;
        check_str(|| p("flag"), &imp.flag)?;
        check_str(|| p("treatment"), &imp.treatment)?;
        check_str(|| p("label"), &imp.label)?;
        check_ts(|| p("ts"), imp.ts)?;
        if imp.version > i64::MAX as u64 {
            return Err(ApiError::bad_request(format!(
                "{}: too large",
                p("version")
            )));
        }
        if imp.count == 0 {
            return Err(ApiError::bad_request(format!(
                "{}: must be at least 1",
                p("count")
            )));
        }
        if let Some(b) = &imp.bucketing_key {
            check_str(|| p("bucketing_key"), b)?;
        }
    }
    for (i, ev) in batch.events.iter().enumerate() {
        let p = |f: &str| format!("events[{i}].{f}");
        if !is_valid_event_type(&ev.event_type) {
            return Err(ApiError::bad_request(format!(
                "{}: {:?} does not match {EVENT_TYPE_PATTERN}",
                p("type"),
                ev.event_type
            )));
        }
        check_str(|| p("key"), &ev.key)?;
        check_str(|| p("traffic_type"), &ev.traffic_type)?;
        check_ts(|| p("ts"), ev.ts)?;
        if let Some(v) = ev.value
            && !v.is_finite()
        {
            return Err(ApiError::bad_request(format!(
                "{}: must be finite",
                p("value")
            )));
        }
    }
    Ok(())
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence == "text/plain" {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content-type {essence:?} is not accepted; send application/json or text/plain"
            ),
        ))
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    let text = rejection.body_text();
    if status == StatusCode::PAYLOAD_TOO_LARGE || text.contains("length limit") {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body: too large ({text})"),
        )
    } else {
        ApiError::new(status, format!("body: {text}"))
    }
}

/// Handler of `POST /api/v1/batch`.
pub async fn post_batch(
    State(state): State<AppState>,
    auth: SdkAuth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestOutcome>), ApiError> {
    check_content_type(&headers)?;
    let body = body.map_err(body_error)?;
    let batch: Batch = parse_json(&body)?;
    validate_batch(&batch)?;
    let times = crate::monitoring::late::BatchTimes::of(&batch);
    // Held until the batch is fed, so a state rebuild sees each batch once (see incremental_set).
    let gate = state.incremental.ingest_guard().await;
    let relevant = state.incremental.select(&batch);
    let store = state.store.clone();
    let outcome = blocking(move || store.ingest(batch, &auth.environment)).await;
    state
        .incremental
        .feed(relevant, outcome.as_ref().map_err(|_| ()));
    drop(gate);
    let outcome = outcome?;
    let late = state.late.late_versions(&times);
    if !late.is_empty() {
        let store = state.store.clone();
        if let Err(e) = blocking(move || store.mark_late(late)).await {
            // The batch is committed; a lost mark only delays the look to the next recalculation.
            tracing::warn!(error = ?e, "could not mark late data");
        }
    }
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

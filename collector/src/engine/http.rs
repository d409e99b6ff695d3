//! `GET /api/v1/admin/flags/{key}/impact?version=V&at=ms&alpha=a`: a full recalculation over the
//! store, for the flag's current version or an older one (its definition read from history).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::EngineError;
use super::analysis::{DEFAULT_ALPHA, ImpactReport};
use super::metric::MetricSpec;
use super::recalc::{RecalcOptions, recalculate};
use super::source::StoreSource;
use crate::auth::AdminAuth;
use crate::error::ApiError;
use crate::server::AppState;
use crate::store::sqlite::now_ms;

/// Route of the impact report.
pub const IMPACT_PATH: &str = "/api/v1/admin/flags/{key}/impact";

/// Query of the impact route.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImpactQuery {
    /// Flag version (default: the current one).
    pub version: Option<u64>,
    /// Analysis time in Unix milliseconds (default: now).
    pub at: Option<i64>,
    /// Two-sided level (default 0.05).
    pub alpha: Option<f64>,
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Input { .. } => ApiError::bad_request(e.to_string()),
            EngineError::Store(s) => ApiError::from(s),
            EngineError::Metric { .. } | EngineError::File(_) => ApiError::internal(e.to_string()),
        }
    }
}

/// Handler of [`IMPACT_PATH`].
pub async fn get_impact(
    State(state): State<AppState>,
    _auth: AdminAuth,
    Path(key): Path<String>,
    Query(q): Query<ImpactQuery>,
) -> Result<Json<ImpactReport>, ApiError> {
    if let Some(at) = q.at.filter(|at| *at < 0) {
        return Err(ApiError::bad_request(format!(
            "at: {at} is negative (Unix milliseconds)"
        )));
    }
    let current = state
        .flags
        .current()
        .flag(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("flag {key:?} not found")))?;
    let store = state.store.clone();
    let opts = RecalcOptions {
        at_ms: q.at.unwrap_or_else(now_ms),
        alpha: q.alpha.unwrap_or(DEFAULT_ALPHA),
        baseline: None,
    };
    tokio::task::spawn_blocking(move || -> Result<ImpactReport, ApiError> {
        let version = q.version.unwrap_or(current.version);
        let definition = if version == current.version {
            current
        } else {
            store
                .flag_history(&key)?
                .into_iter()
                .find(|h| h.version == version)
                .map(|h| h.definition)
                .ok_or_else(|| {
                    ApiError::not_found(format!("version: flag {key:?} has no version {version}"))
                })?
        };
        let metrics = store
            .metrics()?
            .iter()
            .map(MetricSpec::from_metric)
            .collect::<Result<Vec<_>, _>>()?;
        let source = StoreSource(&*store);
        Ok(recalculate(
            &source,
            &key,
            version,
            Some(&definition),
            &metrics,
            &opts,
        )?)
    })
    .await
    .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
    .map(Json)
}

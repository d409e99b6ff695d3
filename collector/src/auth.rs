//! Bearer-key authentication: admin keys for the management API, SDK keys (per environment)
//! for ingest and flag reads. Keys are stored as SHA-256 hashes only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::server::{AppState, blocking};
use crate::store::Principal;

/// Hex SHA-256 of a key, the form in which keys are stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random key with a prefix telling its kind (`adm_…` or `sdk_…`).
pub fn generate_key(prefix: &str) -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{prefix}_{}{}", a.simple(), b.simple())
}

/// Name of the query parameter carrying an SDK key where headers cannot be set
/// (`navigator.sendBeacon`, `EventSource` in browsers). Admin keys are never read from URLs.
pub const SDK_KEY_PARAM: &str = "sdk_key";

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Authorization header must be `Bearer <key>`",
            )
        })
}

fn query_key(parts: &Parts) -> Option<&str> {
    parts.uri.query()?.split('&').find_map(|pair| {
        pair.strip_prefix(SDK_KEY_PARAM)?
            .strip_prefix('=')
            .filter(|k| !k.is_empty())
    })
}

async fn principal(
    parts: &Parts,
    state: &AppState,
    allow_query: bool,
) -> Result<Principal, ApiError> {
    let key = match bearer(parts)? {
        Some(k) => k,
        None => allow_query
            .then(|| query_key(parts))
            .flatten()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing Authorization header: send `Authorization: Bearer <key>`",
                )
            })?,
    };
    let hash = hash_key(key);
    if let Some(p) = state.key_cache().get(&hash) {
        return Ok(p);
    }
    let store = state.store.clone();
    let lookup = hash.clone();
    match blocking(move || store.principal(&lookup)).await? {
        Some(p) => {
            state.key_cache().insert(hash, p.clone());
            Ok(p)
        }
        None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown key")),
    }
}

/// Extractor: the request carries a valid SDK key; holds its environment.
#[derive(Debug, Clone)]
pub struct SdkAuth {
    /// The key's environment.
    pub environment: String,
}

/// Extractor: the request carries a valid admin key.
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

impl FromRequestParts<AppState> for SdkAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state, true).await? {
            Principal::Sdk { environment } => Ok(SdkAuth { environment }),
            Principal::Admin => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this endpoint needs an SDK key; an admin key was given",
            )),
        }
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match principal(parts, state, false).await? {
            Principal::Admin => Ok(AdminAuth),
            Principal::Sdk { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this endpoint needs an admin key; an SDK key was given",
            )),
        }
    }
}

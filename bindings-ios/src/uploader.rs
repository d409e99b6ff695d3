//! The foreign uploader: the app does the HTTP request (URLSession on iOS), the core decides
//! everything else (retries, backoff, drops).

use std::collections::HashMap;

use crate::error::RumError;

/// One request to make: `POST url` with these headers and body.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct UploadRequest {
    /// Full URL (collector base URL plus the batch path).
    pub url: String,
    /// Request headers (content type and encoding, authorization, protocol version).
    pub headers: HashMap<String, String>,
    /// Request body (gzip-compressed JSON; send as is).
    pub body: Vec<u8>,
}

/// What came of an upload.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum UploadOutcome {
    /// The server answered with this status (and `Retry-After` in seconds, if it sent one).
    Http {
        /// HTTP status code.
        status: u16,
        /// The `Retry-After` header in seconds.
        retry_after_seconds: Option<u64>,
    },
    /// No answer: offline, timeout, DNS failure, TLS failure…
    NetworkError,
}

/// Implemented by the app to send uploads with its own HTTP stack; called on the agent's pump
/// thread, one request at a time. Blocking is expected (wait for the response, with a timeout).
/// Throwing is safe: it counts as a network error and the upload is retried later.
#[uniffi::export(with_foreign)]
pub trait Uploader: Send + Sync {
    /// Sends `request` and reports what the server answered.
    fn upload(&self, request: UploadRequest) -> Result<UploadOutcome, RumError>;
}

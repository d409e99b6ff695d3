//! The pull-upload protocol between the core and a platform's HTTP stack.
//!
//! The platform asks [`crate::pipeline::Pipeline::next_upload`] (through the agent) for work, does
//! only the HTTP request, and reports back with `upload_result`; every retry and drop decision
//! stays in the core.

use std::time::Duration;

use uuid::Uuid;

/// What the platform's uploader should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadTask {
    /// Send this request, then report its result.
    Upload(UploadRequest),
    /// Nothing to send now; ask again after this many milliseconds (or when woken).
    Wait {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// The agent is stopping or shut down: stop uploading (what is left was spooled for the next
    /// start, or is lost with a memory-only agent).
    Done,
}

/// One HTTP request to make: `POST {collector}{path}` with these headers and body.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRequest {
    /// Id to report the result under (the batch id).
    pub id: Uuid,
    /// Path on the collector, e.g. `/api/v1/batch`.
    pub path: String,
    /// Request body (JSON, gzip-compressed when `Content-Encoding` says so).
    pub body: Vec<u8>,
    /// Request headers (content type and encoding, authorization, protocol version).
    pub headers: Vec<(String, String)>,
}

/// What happened to an upload.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadResult {
    /// The server answered with this status (and `Retry-After`, if it sent one).
    Http {
        /// HTTP status code.
        status: u16,
        /// Parsed `Retry-After` header.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, timeout, DNS failure…
    NetworkError,
}

//! The native uploader: a thread ("rum-agent-uploader") that drives the pull-upload protocol with
//! reqwest (blocking, rustls). It only does HTTP; every retry and drop decision is the pipeline's.

use std::time::Duration;

use reqwest::blocking::Client;

use crate::agent::Link;
use crate::upload::{UploadRequest, UploadResult, UploadTask};

/// Name of the uploader thread.
pub(crate) const THREAD_NAME: &str = "rum-agent-uploader";

/// Timeout of one upload request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of connecting to the collector.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// POSTs upload requests to a collector.
#[derive(Debug, Clone)]
pub struct HttpUploader {
    client: Client,
    collector: String,
}

impl HttpUploader {
    /// An uploader for the collector at `collector` (e.g. `http://127.0.0.1:8080`).
    pub fn new(collector: impl Into<String>) -> Result<HttpUploader, reqwest::Error> {
        let client = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(HttpUploader {
            client,
            collector: collector.into().trim_end_matches('/').to_owned(),
        })
    }

    /// Sends one request: `POST {collector}{path}` with its headers and body.
    pub fn send(&self, request: &UploadRequest) -> UploadResult {
        let mut builder = self
            .client
            .post(format!("{}{}", self.collector, request.path))
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match builder.send() {
            Ok(response) => UploadResult::Http {
                status: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
            },
            Err(_) => UploadResult::NetworkError,
        }
    }
}

/// Parses a `Retry-After` header: seconds, or an HTTP date (the time from now until then; a
/// date past is zero).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The uploader thread's body: pull, send, report; sleep on `Wait` but wake early on flush.
pub(crate) fn run(link: Link, collector: String) {
    let shared = link.shared.clone();
    // Built here, not in `build()`: creating the client starts a runtime thread.
    let Ok(uploader) = HttpUploader::new(collector) else {
        return;
    };
    loop {
        if shared.stopping() {
            return;
        }
        let seen = shared.upload_wake.generation();
        match link.next_upload() {
            UploadTask::Upload(request) => {
                let result = uploader.send(&request);
                link.upload_result(request.id, result);
            }
            UploadTask::Wait { ms } => shared.upload_wake.wait(seen, Duration::from_millis(ms)),
            UploadTask::Done => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_retry_after;
    use std::time::Duration;

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date past"
        );
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let waited = parse_retry_after(&httpdate::fmt_http_date(later)).expect("a date");
        // The date has whole seconds: 119–120 s from now.
        assert!(
            (Duration::from_secs(118)..=Duration::from_secs(120)).contains(&waited),
            "{waited:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}

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
            // Followed in `send`, as POSTs, on the collector's host only: reqwest's own policy
            // turns a POST answered 301/302 into a bodiless GET (the batch then "delivered" or
            // refused) and follows any host.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(HttpUploader {
            client,
            collector: collector.into().trim_end_matches('/').to_owned(),
        })
    }

    /// Sends one request: `POST {collector}{path}` with its headers and body. A redirect (301,
    /// 302, 307, 308; at most [`MAX_REDIRECTS`]) is followed with the same POST when it stays on
    /// the collector's host, from http to https at most (the SDK key and the users' data go
    /// along); any other is answered as its status (retried by the core).
    pub fn send(&self, request: &UploadRequest) -> UploadResult {
        let Ok(mut url) = reqwest::Url::parse(&format!("{}{}", self.collector, request.path))
        else {
            return UploadResult::NetworkError;
        };
        let mut hops = 0;
        loop {
            let mut builder = self.client.post(url.clone()).body(request.body.clone());
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let Ok(response) = builder.send() else {
                return UploadResult::NetworkError;
            };
            let status = response.status().as_u16();
            let next = matches!(status, 301 | 302 | 307 | 308)
                .then(|| response.headers().get(reqwest::header::LOCATION))
                .flatten()
                .and_then(|v| v.to_str().ok())
                .and_then(|location| url.join(location).ok())
                .filter(|next| hops < MAX_REDIRECTS && same_collector(&url, next));
            match next {
                Some(next) => {
                    url = next;
                    hops += 1;
                }
                None => {
                    return UploadResult::Http {
                        status,
                        retry_after: response
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(parse_retry_after),
                    };
                }
            }
        }
    }
}

/// Most redirects one upload follows.
pub const MAX_REDIRECTS: usize = 3;

/// The redirect policy of the flag-sync client's GETs: as for uploads, only on the collector's
/// host, never from https to http (the SDK key goes along, and definitions from elsewhere would
/// be applied as flags), at most [`MAX_REDIRECTS`].
pub(crate) fn collector_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let allowed = attempt.previous().len() <= MAX_REDIRECTS
            && attempt
                .previous()
                .last()
                .is_some_and(|from| same_collector(from, attempt.url()));
        if allowed {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Whether a redirect from `from` to `to` stays with the collector: the same host, and the same
/// scheme or an upgrade from http to https.
pub(crate) fn same_collector(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    let scheme =
        to.scheme() == from.scheme() || (from.scheme() == "http" && to.scheme() == "https");
    scheme
        && to
            .host_str()
            .zip(from.host_str())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
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
    use super::{parse_retry_after, same_collector};
    use std::time::Duration;

    #[test]
    fn redirects_stay_on_the_collectors_host_and_never_go_to_plain_http() {
        let url = |s: &str| reqwest::Url::parse(s).expect("url");
        let follows = |from: &str, to: &str| same_collector(&url(from), &url(to));
        assert!(
            follows("http://c.example/a", "https://c.example/b"),
            "upgrade"
        );
        assert!(follows("https://c.example/a", "https://C.example:8443/b"));
        assert!(
            !follows("https://c.example/a", "http://c.example/a"),
            "downgrade"
        );
        assert!(!follows("https://c.example/a", "https://evil.example/a"));
        assert!(!follows("http://127.0.0.1:1/a", "http://localhost:1/a"));
    }

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

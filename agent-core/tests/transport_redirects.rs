//! The native uploader's redirects: followed as the same POST on the collector's host only (the
//! SDK key and the users' data go along), never to another host nor from https to http; 301 and
//! 302 re-POST the batch (reqwest's own policy would turn them into a bodiless GET). The flag
//! sync's GETs follow the same rule.
#![cfg(feature = "native-transport")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use agent_core::transport::HttpUploader;
use agent_core::upload::{UploadRequest, UploadResult};

/// What a server saw: `METHOD path authorization body`.
type Seen = Arc<Mutex<Vec<String>>>;

/// A loopback server answering every request with `answer(path)` (status line and headers) and
/// no body.
fn server(answer: impl Fn(&str) -> String + Send + 'static) -> (String, Seen) {
    server_with_body(move |path| (answer(path), String::new()))
}

/// A loopback server answering every request with `answer(path)`: status line and headers, body.
fn server_with_body(answer: impl Fn(&str) -> (String, String) + Send + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let (mut length, mut auth) = (0, String::new());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                let lower = header.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = header["authorization:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock().expect("lock").push(format!(
                "{method} {path} {auth} {}",
                String::from_utf8_lossy(&body)
            ));
            let mut stream = stream;
            let (head, body) = answer(&path);
            let _ = write!(
                stream,
                "{head}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

fn request() -> UploadRequest {
    UploadRequest {
        id: uuid::Uuid::new_v4(),
        path: "/api/v1/batch".into(),
        body: b"{\"batch\":1}".to_vec(),
        headers: vec![("Authorization".into(), "Bearer sdk-secret".into())],
    }
}

fn status(result: UploadResult) -> u16 {
    match result {
        UploadResult::Http { status, .. } => status,
        UploadResult::NetworkError => 0,
    }
}

#[test]
fn redirects_on_the_collectors_host_are_followed_as_the_same_post() {
    let (target, seen) = server(|_| "HTTP/1.1 202 Accepted\r\n".into());
    for code in [301, 302, 307, 308] {
        let to = target.clone();
        let (moved, _) =
            server(move |path| format!("HTTP/1.1 {code} Moved\r\nlocation: {to}/new{path}\r\n"));
        let uploader = HttpUploader::new(moved).expect("client");
        assert_eq!(status(uploader.send(&request())), 202, "{code} followed");
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 4);
    for s in seen.iter() {
        assert_eq!(s, "POST /new/api/v1/batch Bearer sdk-secret {\"batch\":1}");
    }
}

#[test]
fn redirects_to_another_host_are_not_followed() {
    let (target, seen) = server(|_| "HTTP/1.1 202 Accepted\r\n".into());
    // localhost is another host name than 127.0.0.1.
    let elsewhere = target.replace("127.0.0.1", "localhost");
    let (moved, asked) =
        server(move |path| format!("HTTP/1.1 307 Moved\r\nlocation: {elsewhere}{path}\r\n"));
    let uploader = HttpUploader::new(moved).expect("client");
    assert_eq!(
        status(uploader.send(&request())),
        307,
        "answered as its status: retried later"
    );
    assert_eq!(asked.lock().expect("lock").len(), 1);
    assert!(
        seen.lock().expect("lock").is_empty(),
        "nothing went to the other host"
    );
    // Nor in circles (https to http: `same_collector`'s unit test).
    let (looping, asked) = server(|path| format!("HTTP/1.1 308 Moved\r\nlocation: {path}\r\n"));
    let uploader = HttpUploader::new(looping).expect("client");
    assert_eq!(status(uploader.send(&request())), 308);
    assert_eq!(
        asked.lock().expect("lock").len(),
        1 + agent_core::transport::MAX_REDIRECTS
    );
}

/// An agent syncing flags from `collector`, polling rarely (the first fetch is what counts).
fn syncing_agent(collector: &str) -> agent_core::Agent {
    agent_core::Agent::builder("sdk-test")
        .collector(collector)
        .poll_interval(std::time::Duration::from_secs(600))
        .build()
        .expect("agent")
}

#[test]
fn flag_sync_follows_redirects_on_the_collectors_host_only() {
    let flags = r#"{"version":4,"full":true,"segments":[],"flags":[]}"#;
    let (target, seen) = server_with_body(move |_| {
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n".into(),
            flags.into(),
        )
    });
    let to = target.clone();
    let (moved, _) = server(move |path| format!("HTTP/1.1 307 Moved\r\nlocation: {to}{path}\r\n"));
    let agent = syncing_agent(&moved);
    assert!(
        agent.wait_for_flags(std::time::Duration::from_secs(10)),
        "same host: followed"
    );
    assert_eq!(agent.flag_set_version(), 4);
    let _ = agent.shutdown(std::time::Duration::from_millis(100));
    assert!(!seen.lock().expect("lock").is_empty());

    // A fresh target, so that only this agent could have asked it.
    let (other, seen) = server_with_body(move |_| {
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n".into(),
            flags.into(),
        )
    });
    let elsewhere = other.replace("127.0.0.1", "localhost");
    let (moved, _) =
        server(move |path| format!("HTTP/1.1 307 Moved\r\nlocation: {elsewhere}{path}\r\n"));
    let agent = syncing_agent(&moved);
    assert!(
        !agent.wait_for_flags(std::time::Duration::from_secs(2)),
        "definitions from another host are not taken"
    );
    let _ = agent.shutdown(std::time::Duration::from_millis(100));
    assert!(
        seen.lock().expect("lock").is_empty(),
        "the other host was not asked"
    );
}

//! Shared by the wasm binding's tests: building the package once (wasm-release, the pinned wasm-bindgen,
//! wasm-opt, esbuild) in its own target dir, and flags on the fixture collector.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use e2e::Fixture;
use serde_json::json;

/// bindings-wasm/.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tools the package build needs, or why they are missing (the tests then fail, they do not
/// skip: .ci/run installs them).
fn check_tools(dir: &Path) -> Result<(), String> {
    for tool in ["wasm-opt", "node"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        if !found {
            return Err(format!("{tool} is not installed (see .ci/run)"));
        }
    }
    if !dir.join("node_modules/.bin/esbuild").exists() {
        return Err("run `npm ci` in bindings-wasm (see .ci/run)".into());
    }
    Ok(())
}

/// Runs scripts/build.sh once per test process; its nested cargo uses target/wasm, so it does
/// not wait on the outer cargo's lock.
pub fn build_package() -> &'static Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = crate_dir();
        check_tools(&dir)?;
        let target = dir.join("../target/wasm");
        let out = Command::new(dir.join("scripts/build.sh"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .map_err(|e| format!("scripts/build.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/build.sh failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    })
}

/// Creates flag `key` (see `Fixture::create_flag`) with this suite's seeds and one `rule`.
fn create_flag(fixture: &Fixture, key: &str, rule: serde_json::Value) {
    if let Err(e) = fixture.create_flag(key, 42, 7, rule) {
        panic!("create flag {key}: {e}");
    }
}

/// Creates flag `key` serving `on` to everyone (one rule without matchers).
pub fn create_on_flag(fixture: &Fixture, key: &str) {
    create_flag(
        fixture,
        key,
        json!({"name": "everyone", "matchers": [], "treatment": "on"}),
    );
}

/// Creates flag `key` serving `on` to users whose `email` attribute ends in `@example.com` (any
/// case: a `regex` matcher with Rust's inline `(?i)` flag), `off` to everyone else.
pub fn create_pattern_flag(fixture: &Fixture, key: &str) {
    create_flag(
        fixture,
        key,
        json!({"name": "staff", "treatment": "on", "matchers": [
            {"type": "regex", "attribute": "email", "pattern": "(?i)@EXAMPLE\\.com$"}]}),
    );
}

/// Rows of `SELECT <cols> FROM events WHERE <filter>` as (key, type, properties JSON).
pub fn events(fixture: &Fixture, filter: &str) -> Vec<(String, String, serde_json::Value)> {
    let db = fixture.db().expect("open db");
    let sql = format!("SELECT key, type, properties FROM events WHERE {filter} ORDER BY ts");
    let mut stmt = db.prepare(&sql).expect("prepare");
    stmt.query_map([], |r| {
        let props: String = r.get(2)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            serde_json::from_str(&props).unwrap_or_default(),
        ))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// A static file server on loopback for the browser test (its own origin, so the agent's calls
/// to the collector are cross-origin like on a real site): serves `root`, `/` as `index.html`.
/// Pages come with the script policy of a site that forbids `eval` and `new Function` (only
/// the pages' inline module and compiling the wasm allowed): the agent must work under it.
pub fn serve_static(root: PathBuf) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                // Drain the headers.
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                    h.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/");
                let rel = if path == "/" {
                    "index.html"
                } else {
                    path.trim_start_matches('/')
                };
                let file = root.join(rel);
                let (status, body) = match (rel.contains(".."), std::fs::read(&file)) {
                    (false, Ok(b)) => ("200 OK", b),
                    _ => ("404 Not Found", b"not found".to_vec()),
                };
                let ctype = match file.extension().and_then(|e| e.to_str()) {
                    Some("html") => "text/html; charset=utf-8",
                    Some("js") => "text/javascript",
                    Some("wasm") => "application/wasm",
                    _ => "application/octet-stream",
                };
                let csp = if ctype.starts_with("text/html") {
                    "Content-Security-Policy: script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'\r\n"
                } else {
                    ""
                };
                let mut s = &stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{csp}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&body);
            });
        }
    });
    addr
}

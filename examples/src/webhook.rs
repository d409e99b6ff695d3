//! The on-call webhook of the demo: a tiny HTTP receiver in this process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// A tiny HTTP server that answers 200 to every POST and keeps the bodies (the on-call webhook).
pub struct WebhookReceiver {
    addr: std::net::SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl WebhookReceiver {
    /// Listens on a free loopback port; every POST body is kept.
    pub fn start() -> anyhow::Result<WebhookReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = receive(stream, &sink);
            }
        });
        Ok(WebhookReceiver { addr, bodies })
    }

    /// Where the collector should deliver.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/rollouts", self.addr)
    }

    /// The bodies received so far.
    pub fn received(&self) -> Vec<String> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// What arrived once `n` notifications have (the collector delivers from its durable
    /// outbox in the background), or after `timeout`.
    pub fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || std::time::Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn receive(stream: std::net::TcpStream, sink: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if let Ok(mut bodies) = sink.lock() {
        bodies.push(String::from_utf8_lossy(&body).into_owned());
    }
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

/// The notification's text, or the start of its body.
pub fn summary_line(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["text"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

//! A small blocking client for the collector's admin API.

use anyhow::bail;
use serde_json::Value;

/// The collector's admin API at `url`, authenticated with `key`.
pub struct Admin {
    /// The collector's base URL.
    pub url: String,
    key: String,
    client: reqwest::blocking::Client,
}

impl Admin {
    /// A client for the collector at `url` using the admin `key`.
    pub fn new(url: impl Into<String>, key: impl Into<String>) -> Admin {
        Admin {
            url: url.into(),
            key: key.into(),
            client: reqwest::blocking::Client::new(),
        }
    }

    /// Sends `body` (if any) with `method` to `path`; answers the JSON reply or the error.
    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        let request = match method {
            "POST" => self.client.post(url),
            _ => self.client.get(url),
        };
        let request = request.bearer_auth(&self.key);
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let response = request.send()?;
        let status = response.status();
        let text = response.text()?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }
}

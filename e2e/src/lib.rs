//! Shared fixtures of the end-to-end tests: a real collector on loopback with known keys, an
//! admin client, and direct reads of the collector's SQLite file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use collector::config::Config;
use collector::server::BackgroundCollector;
use serde_json::{Value, json};

/// The admin key every fixture collector accepts.
pub const ADMIN_KEY: &str = "e2e-admin-key";
/// The SDK key every fixture collector accepts.
pub const SDK_KEY: &str = "e2e-sdk-key";

/// A collector on loopback with its data directory.
pub struct Fixture {
    /// The running collector (None while stopped).
    pub collector: Option<BackgroundCollector>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its address (kept across restarts).
    pub addr: SocketAddr,
    _tmp: Option<tempfile::TempDir>,
}

impl Fixture {
    /// Starts a collector on a free port in a fresh temp dir.
    pub fn start() -> anyhow::Result<Fixture> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().join("collector");
        let collector = start_collector(([127, 0, 0, 1], 0).into(), &data_dir)?;
        Ok(Fixture {
            addr: collector.addr,
            collector: Some(collector),
            data_dir,
            _tmp: Some(tmp),
        })
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the collector (graceful).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.collector.take() {
            c.stop()?;
        }
        Ok(())
    }

    /// Starts the collector again on the same address and data directory.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.collector = Some(start_collector(self.addr, &self.data_dir)?);
        Ok(())
    }

    /// An admin request: `method path` with a JSON body, answering (status, JSON).
    pub fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let client = reqwest::blocking::Client::new();
        let url = format!("{}{}", self.url(), path);
        let req = match method {
            "GET" => client.get(url),
            "POST" => client.post(url),
            "PUT" => client.put(url),
            "DELETE" => client.delete(url),
            other => anyhow::bail!("unsupported method {other}"),
        };
        let req = req.bearer_auth(ADMIN_KEY);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let resp = req.send()?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        Ok((status, value))
    }

    /// Creates flag `key` with treatments `on`/`off` (default and baseline `off`), the given
    /// bucketing seeds and one `rule`; answers its version.
    pub fn create_flag(
        &self,
        key: &str,
        seed: i32,
        traffic_allocation_seed: i32,
        rule: Value,
    ) -> anyhow::Result<u64> {
        let (status, body) = self.admin(
            "POST",
            "/api/v1/admin/flags",
            Some(json!({
                "key": key,
                "traffic_type": "user",
                "treatments": [{"name": "on"}, {"name": "off"}],
                "default_treatment": "off",
                "baseline_treatment": "off",
                "seed": seed,
                "traffic_allocation": 100,
                "traffic_allocation_seed": traffic_allocation_seed,
                "rules": [rule]
            })),
        )?;
        anyhow::ensure!(
            status == 201 || status == 200,
            "create flag answered {status}: {body}"
        );
        body["version"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no version in {body}"))
    }

    /// Creates a plain 50/50 rollout flag `key` (treatments `on`/`off`, default and baseline `off`).
    pub fn create_rollout_flag(&self, key: &str) -> anyhow::Result<u64> {
        self.create_flag(
            key,
            1_234_567,
            7_654_321,
            json!({"name": "rollout", "matchers": [], "rollout": [
                {"treatment": "on", "weight": 50}, {"treatment": "off", "weight": 50}]}),
        )
    }

    /// Opens the collector's SQLite file read-only (the durable truth).
    pub fn db(&self) -> anyhow::Result<rusqlite::Connection> {
        Ok(rusqlite::Connection::open_with_flags(
            self.data_dir.join("collector.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?)
    }

    /// `SELECT COUNT(*)` with a WHERE clause over the given table.
    pub fn count(&self, table: &str, filter: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {filter}");
        Ok(self.db()?.query_row(&sql, [], |r| r.get(0))?)
    }
}

fn start_collector(listen: SocketAddr, data_dir: &Path) -> anyhow::Result<BackgroundCollector> {
    let mut config = Config::new(listen, data_dir);
    config.admin_key = Some(ADMIN_KEY.into());
    config.sdk_key = Some(SDK_KEY.into());
    BackgroundCollector::start(config)
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; answers whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback address nobody listens on (bound then released).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

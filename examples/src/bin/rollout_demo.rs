//! The rollout demo: the whole loop on simulated time, in seconds.
//!
//! A collector on the embedded SQLite default; a 50/50 flag; a few thousand simulated users going
//! through agent-core over six simulated hours, where the new treatment (`on`) raises the error
//! rate and slows the checkout. After each simulated hour the collector's monitoring runs the
//! checks due by then: the degraded metric is detected, the alert fires, a webhook (a small
//! receiver in this process) is called, and the flag is killed, which reaches the agent over SSE.
//! It ends by printing what the collector holds.
//!
//! Run: `cargo run --release -p examples --bin rollout-demo [-- USERS [DATA_DIR]]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_core::Agent;
use agent_core::clock::{Clock, ManualClock, SystemClock};
use agent_core::flags::Attributes;
use anyhow::{Context, bail};
use collector::config::Config;
use collector::server::BackgroundCollector;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

const ADMIN_KEY: &str = "demo-admin-key";
const SDK_KEY: &str = "demo-sdk-key";
const FLAG: &str = "new-checkout";
const HOURS: i64 = 6;
const HOUR_MS: i64 = 3_600_000;

/// How each treatment behaves in the simulation: the new code (`on`) is worse.
struct Behaviour {
    error_rate: f64,
    checkout_ms: f64,
}

fn behaviour(treatment: &str) -> Behaviour {
    match treatment {
        "on" => Behaviour {
            error_rate: 0.08,
            checkout_ms: 340.0,
        },
        _ => Behaviour {
            error_rate: 0.03,
            checkout_ms: 250.0,
        },
    }
}

#[derive(Debug)]
struct CheckoutError(&'static str);

impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "checkout failed: {}", self.0)
    }
}

impl std::error::Error for CheckoutError {}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = match args.next() {
        Some(n) => n.parse().context("USERS must be a number")?,
        None => 6_000,
    };
    let tmp = tempfile::tempdir()?;
    let data_dir = args
        .next()
        .map(Into::into)
        .unwrap_or_else(|| tmp.path().to_path_buf());

    let mut config = Config::new(([127, 0, 0, 1], 0).into(), data_dir.join("collector"));
    config.admin_key = Some(ADMIN_KEY.into());
    config.sdk_key = Some(SDK_KEY.into());
    // Monitoring runs on simulated time, driven below; no wall-clock checks.
    config.monitor_interval = Duration::ZERO;
    let collector = BackgroundCollector::start(config)?;
    let url = collector.url();
    println!(
        "collector listening on {url} (data in {})",
        data_dir.display()
    );
    let admin = Admin {
        url: url.clone(),
        client: reqwest::blocking::Client::new(),
    };

    let webhook = WebhookReceiver::start()?;
    let channel = admin.send(
        "POST",
        "/api/v1/admin/channels",
        Some(json!({"name": "on-call", "kind": "webhook",
                    "config": {"url": webhook.url(), "secret": "demo-webhook-secret"}})),
    )?;
    let created = admin.send("POST", "/api/v1/admin/flags", Some(flag()))?;
    println!(
        "created flag {FLAG} (version {}): 50% on, 50% off",
        created["version"]
    );

    // Simulated time starts now (the flag's version starts now on the collector's clock).
    let clock = ManualClock::new(SystemClock.now_ms());
    let start_ms = clock.now_ms();
    let agent = Agent::builder(SDK_KEY)
        .collector(&url)
        .data_dir(data_dir.join("agent"))
        .sdk("rollout-demo", env!("CARGO_PKG_VERSION"), "rust")
        .clock(clock.clone())
        // A simulated hour of telemetry arrives in a burst; a deeper hand-off queue keeps the burst
        // from being dropped on the caller's side (a real app's rate is far lower).
        .queue_capacity(1 << 17)
        .build()?;
    if !agent.wait_for_flags(Duration::from_secs(10)) {
        bail!("the agent did not receive flag definitions");
    }

    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let per_hour = users / HOURS as usize;
    let mut policy: Option<i64> = None;
    for hour in 0..HOURS {
        for i in 0..per_hour {
            let user = hour as usize * per_hour + i;
            clock.set(start_ms + hour * HOUR_MS + (i as i64 * HOUR_MS) / per_hour as i64);
            simulate_user(&agent, &mut rng, user);
        }
        clock.set(start_ms + (hour + 1) * HOUR_MS);
        agent
            .flush(Duration::from_secs(60))
            .context("delivering the simulated telemetry")?;
        if policy.is_none() {
            policy = Some(create_policy(&admin, channel["id"].as_i64().unwrap_or(0))?);
        }
        let run = admin.send(
            "POST",
            "/api/v1/admin/monitoring/run",
            Some(json!({"at": clock.now_ms()})),
        )?;
        println!(
            "hour {}: {} users so far; monitoring ran {} checks, {} alerts fired, flags killed: {}",
            hour + 1,
            (hour as usize + 1) * per_hour,
            run["checks_run"],
            run["alerts_fired"],
            run["flags_killed"]
        );
        if run["alerts_fired"].as_u64().unwrap_or(0) > 0 {
            break;
        }
    }
    println!("simulated in {:.2?} of wall time", started.elapsed());

    let alerts = admin.send("GET", "/api/v1/admin/alerts", None)?;
    print_alerts(&alerts);
    let fired = usize::from(alerts.as_array().is_some_and(|a| !a.is_empty()));
    let deliveries = webhook.wait_for(fired, std::time::Duration::from_secs(10));
    println!(
        "\nwebhook received {} signed notification(s)",
        deliveries.len()
    );
    if let Some(first) = deliveries.first() {
        println!("  first: {}", summary_line(first));
    }
    let flag_now = admin.send("GET", &format!("/api/v1/admin/flags/{FLAG}"), None)?;
    println!(
        "flag {FLAG}: killed = {}, version {}",
        flag_now["killed"], flag_now["version"]
    );
    let target = flag_now["version"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while agent.flag_set_version() < target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let eval = agent.treatment("user-new", FLAG, &Attributes::new());
    println!(
        "the agent now serves `{}` (label `{}`) to every user",
        eval.treatment, eval.label
    );
    agent.shutdown(Duration::from_secs(5))?;

    print_metrics(&admin.send("GET", "/api/v1/admin/metrics", None)?);
    print_stats(&admin.send("GET", "/api/v1/admin/stats", None)?);
    collector.stop()?;
    Ok(())
}

fn flag() -> Value {
    json!({
        "key": FLAG,
        "traffic_type": "user",
        "treatments": [{"name": "on"}, {"name": "off"}],
        "default_treatment": "off",
        "baseline_treatment": "off",
        "seed": 20_261_121,
        "traffic_allocation": 100,
        "traffic_allocation_seed": 11_212_026,
        "rules": [{"name": "rollout", "matchers": [], "rollout": [
            {"treatment": "on", "weight": 50}, {"treatment": "off", "weight": 50}]}]
    })
}

/// An alert policy on the auto-created "percent of users with an error" metric that kills the
/// flag and calls the webhook when it fires.
fn create_policy(admin: &Admin, channel: i64) -> anyhow::Result<i64> {
    let metrics = admin.send("GET", "/api/v1/admin/metrics", None)?;
    let metric = metrics
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["event_type"] == "error" && m["metric_type"] == "percent_users")
        .context("the collector auto-creates the error metrics when errors first arrive")?;
    let policy = admin.send(
        "POST",
        "/api/v1/admin/policies",
        Some(json!({
            "name": "errors must not grow",
            "metric_id": metric["id"],
            "flag": FLAG,
            "threshold": {"relative": 0.0},
            "kind": {"type": "error_rate"},
            "channels": [channel],
            "kill_flag": true
        })),
    )?;
    println!(
        "alert policy on `{}`: any significant increase kills the flag and calls the webhook",
        metric["name"].as_str().unwrap_or("?")
    );
    Ok(policy["id"].as_i64().unwrap_or(0))
}

fn simulate_user(agent: &Agent, rng: &mut rand::rngs::StdRng, i: usize) {
    let key = format!("user-{i:05}");
    let user = agent.for_key(&key);
    let evaluation = user.treatment(FLAG, &Attributes::new().with("plan", "free"));
    let b = behaviour(&evaluation.treatment);
    let visits = rng.random_range(1..=3);
    for _ in 0..visits {
        // Log-normal-ish checkout time around the treatment's median.
        let jitter: f64 = rng.random_range(-0.35..0.35);
        user.track_timing(
            "checkout",
            Duration::from_secs_f64(b.checkout_ms * jitter.exp() / 1000.0),
        );
        if rng.random_bool(b.error_rate) {
            user.track_error(&CheckoutError("payment gateway timeout"));
        } else {
            let mut props = Map::new();
            props.insert("currency".into(), json!("EUR"));
            user.track(
                "purchase",
                Some(rng.random_range(5.0..120.0_f64).round()),
                props,
            );
        }
    }
}

/// A tiny HTTP server that answers 200 to every POST and keeps the bodies (the on-call webhook).
struct WebhookReceiver {
    addr: std::net::SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl WebhookReceiver {
    fn start() -> anyhow::Result<WebhookReceiver> {
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

    fn url(&self) -> String {
        format!("http://{}/hooks/rollouts", self.addr)
    }

    fn received(&self) -> Vec<String> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// What arrived once `n` notifications have (the collector delivers from its durable
    /// outbox in the background), or after `timeout`.
    fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<String> {
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

fn summary_line(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["text"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

struct Admin {
    url: String,
    client: reqwest::blocking::Client,
}

impl Admin {
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        let request = match method {
            "POST" => self.client.post(url),
            _ => self.client.get(url),
        };
        let request = request.bearer_auth(ADMIN_KEY);
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

fn print_alerts(alerts: &Value) {
    let pct = |v: &Value| match v.as_f64() {
        Some(x) => format!("{:+.1}%", 100.0 * x),
        None => "unbounded".to_owned(),
    };
    println!("\nalerts:");
    for a in alerts.as_array().into_iter().flatten() {
        println!(
            "  {} v{} metric {} treatment {} vs {}: {:.4} vs {:.4}, relative impact {} [{}, {}], \
             state {}, flag killed: {}",
            a["flag"].as_str().unwrap_or("?"),
            a["version"],
            a["metric_id"],
            a["treatment"].as_str().unwrap_or("?"),
            a["baseline_treatment"].as_str().unwrap_or("?"),
            a["treatment_value"].as_f64().unwrap_or(f64::NAN),
            a["baseline_value"].as_f64().unwrap_or(f64::NAN),
            pct(&a["impact_rel"]),
            pct(&a["interval_rel"]["low"]),
            pct(&a["interval_rel"]["high"]),
            a["state"].as_str().unwrap_or("?"),
            a["flag_killed"]
        );
    }
}

fn print_metrics(metrics: &Value) {
    println!("\nmetrics the collector created when it first saw each event type:");
    println!(
        "  {:<38} {:<16} {:<14} {:<10} auto",
        "name", "event type", "type", "direction"
    );
    for m in metrics.as_array().into_iter().flatten() {
        println!(
            "  {:<38} {:<16} {:<14} {:<10} {}",
            m["name"].as_str().unwrap_or("?"),
            m["event_type"].as_str().unwrap_or("?"),
            m["metric_type"].as_str().unwrap_or("?"),
            m["direction"].as_str().unwrap_or("?"),
            if m["auto_created"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
        );
    }
}

fn print_stats(stats: &Value) {
    println!(
        "\nraw per-treatment counts ({} batches stored):",
        stats["batches"]
    );
    println!("  {:<14} {:<10} {:>7}", "flag", "treatment", "users");
    for i in stats["impressions"].as_array().into_iter().flatten() {
        println!(
            "  {:<14} {:<10} {:>7}",
            i["flag"].as_str().unwrap_or("?"),
            i["treatment"].as_str().unwrap_or("?"),
            i["users"].as_u64().unwrap_or(0)
        );
    }
    println!(
        "\n  {:<10} {:<16} {:>7} {:>13} {:>14}",
        "treatment", "event type", "events", "users with it", "mean value"
    );
    for t in stats["by_treatment"].as_array().into_iter().flatten() {
        let events = t["events"].as_f64().unwrap_or(0.0);
        let mean = if events > 0.0 {
            t["value_sum"].as_f64().unwrap_or(0.0) / events
        } else {
            0.0
        };
        println!(
            "  {:<10} {:<16} {:>7} {:>13} {:>14.1}",
            t["treatment"].as_str().unwrap_or("?"),
            t["event_type"].as_str().unwrap_or("?"),
            t["events"].as_u64().unwrap_or(0),
            t["users"].as_u64().unwrap_or(0),
            mean
        );
    }
    println!(
        "\nThe impact of every metric, per treatment with intervals: GET /api/v1/admin/flags/{FLAG}/impact"
    );
}

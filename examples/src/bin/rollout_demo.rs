//! The rollout demo: a collector on the embedded SQLite default, a 50/50 flag, and a few thousand
//! simulated users going through agent-core, where the new treatment raises the error rate and
//! slows the checkout. It ends by printing what the collector holds: the auto-created metrics
//! and the raw per-treatment counts.
//!
//! Run: `cargo run --release -p examples --bin rollout-demo [-- USERS [DATA_DIR]]`.

use std::time::{Duration, Instant};

use agent_core::Agent;
use agent_core::flags::Attributes;
use anyhow::{Context, bail};
use collector::config::Config;
use collector::server::BackgroundCollector;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

const ADMIN_KEY: &str = "demo-admin-key";
const SDK_KEY: &str = "demo-sdk-key";
const FLAG: &str = "new-checkout";

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
        None => 5_000,
    };
    let tmp = tempfile::tempdir()?;
    let data_dir = args
        .next()
        .map(Into::into)
        .unwrap_or_else(|| tmp.path().to_path_buf());

    let mut config = Config::new(([127, 0, 0, 1], 0).into(), data_dir.join("collector"));
    config.admin_key = Some(ADMIN_KEY.into());
    config.sdk_key = Some(SDK_KEY.into());
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
    let created = admin.send("POST", "/api/v1/admin/flags", Some(flag()))?;
    println!(
        "created flag {FLAG} (version {}): 50% on, 50% off",
        created["version"]
    );

    let agent = Agent::builder(SDK_KEY)
        .collector(&url)
        .data_dir(data_dir.join("agent"))
        .sdk("rollout-demo", env!("CARGO_PKG_VERSION"), "rust")
        // The simulation fires thousands of users' telemetry in a burst; a real app's rate is far
        // lower. A deeper hand-off queue keeps the burst from being dropped on the caller's side.
        .queue_capacity(1 << 17)
        .build()?;
    if !agent.wait_for_flags(Duration::from_secs(10)) {
        bail!("the agent did not receive flag definitions");
    }

    let started = Instant::now();
    simulate(&agent, users);
    agent
        .flush(Duration::from_secs(60))
        .context("delivering the simulated telemetry")?;
    let stats = agent.stats()?;
    println!(
        "simulated {users} users in {:.2?}: {} items delivered, {} dropped",
        started.elapsed(),
        stats.pipeline.delivered_items,
        stats.pipeline.dropped.iter().map(|d| d.count).sum::<u64>()
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

fn simulate(agent: &Agent, users: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for i in 0..users {
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
        "\nThe new treatment (on) shows more errors per user and slower checkouts. The monitoring \
         engine (issue 3) turns these raw counts into per-user metrics with significance tests."
    );
}

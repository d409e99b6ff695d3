//! The host-facing hot calls, measured on the caller's thread: `Agent::treatment` (evaluate and
//! enqueue an impression) and `track_error` with and without stack capture, side by side with the
//! `sentry` crate's `capture_error` into a no-op transport, in the same run.
//!
//! Run: `cargo bench -p agent-core --bench agent_calls`.
//!
//! Ours only captures an unresolved backtrace on the caller's thread and symbolizes it on the
//! worker; Sentry resolves in the caller. Both sides do their real work; only the network is
//! replaced (ours: no collector, items stay in the bounded queue and drop when it is full, which
//! the worker counts; Sentry: a transport that discards envelopes).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agent_core::Agent;
use agent_core::flags::Attributes;
use agent_core::wire::FlagChanges;
use divan::{Bencher, black_box};
use serde_json::json;

fn main() {
    divan::main();
}

/// The error both sides report: a typical app error with a cause.
#[derive(Debug)]
struct CheckoutError {
    source: std::io::Error,
}

impl fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checkout failed for cart 42")
    }
}

impl std::error::Error for CheckoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn error() -> CheckoutError {
    CheckoutError {
        source: std::io::Error::new(std::io::ErrorKind::TimedOut, "payment gateway timed out"),
    }
}

fn agent(capture_stacks: bool) -> Agent {
    let agent = Agent::builder("bench-sdk-key")
        .capture_stacks(capture_stacks)
        .queue_capacity(1 << 20)
        .build()
        .expect("agent builds");
    let changes: FlagChanges = serde_json::from_value(json!({
        "version": 7,
        "full": true,
        "flags": [{
            "key": "checkout",
            "version": 7,
            "traffic_type": "user",
            "treatments": [{"name": "on"}, {"name": "off"}],
            "default_treatment": "off",
            "seed": 1_482_532_081,
            "rules": [
                {"name": "allow-list", "matchers": [{"type": "key_in_list", "values": ["qa-1", "qa-2"]}],
                 "treatment": "on"},
                {"name": "enterprise", "matchers": [{"type": "equals", "attribute": "plan", "value": "enterprise"}],
                 "rollout": [{"treatment": "on", "weight": 100}]},
                {"name": "half", "rollout": [{"treatment": "on", "weight": 50}, {"treatment": "off", "weight": 50}]}
            ]
        }]
    }))
    .expect("valid flags");
    agent.apply_flag_changes(&changes).expect("flags apply");
    agent
}

#[divan::bench]
fn treatment(bencher: Bencher) {
    let agent = agent(false);
    let attributes = Attributes::new().with("plan", "free");
    let keys: Vec<String> = (0..4096).map(|i| format!("user-{i}")).collect();
    let mut i = 0usize;
    bencher.bench_local(|| {
        i = (i + 1) & 4095;
        black_box(agent.treatment(&keys[i], "checkout", &attributes))
    });
    let _ = agent.shutdown(Duration::from_secs(1));
}

#[divan::bench]
fn track_error_with_stack(bencher: Bencher) {
    let agent = agent(true);
    agent.identify("user-1").expect("a valid key");
    let err = error();
    bencher.bench_local(|| agent.track_error(black_box(&err)));
    let _ = agent.shutdown(Duration::from_secs(1));
}

#[divan::bench]
fn track_error_without_stack(bencher: Bencher) {
    let agent = agent(false);
    agent.identify("user-1").expect("a valid key");
    let err = error();
    bencher.bench_local(|| agent.track_error_without_stack(black_box(&err)));
    let _ = agent.shutdown(Duration::from_secs(1));
}

struct NoopTransport;

impl sentry::Transport for NoopTransport {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        black_box(envelope);
    }
}

fn sentry_hub(attach_stacktrace: bool) -> Arc<sentry::Hub> {
    let mut options = sentry::ClientOptions::new();
    options.dsn = "https://public@sentry.invalid/1".parse().ok();
    options.attach_stacktrace = attach_stacktrace;
    options.transport = Some(Arc::new(|_: &sentry::ClientOptions| {
        Arc::new(NoopTransport) as Arc<dyn sentry::Transport>
    }));
    // The default integrations (stack attachment among them) are what `sentry::init` installs.
    let client = Arc::new(sentry::Client::from(sentry::apply_defaults(options)));
    assert!(
        client.is_enabled(),
        "the sentry client must be enabled to measure real work"
    );
    Arc::new(sentry::Hub::new(
        Some(client),
        Arc::new(sentry::Scope::default()),
    ))
}

#[divan::bench]
fn sentry_capture_error_with_stack(bencher: Bencher) {
    let hub = sentry_hub(true);
    let err = error();
    bencher.bench_local(|| black_box(hub.capture_error(black_box(&err))));
}

#[divan::bench]
fn sentry_capture_error_without_stack(bencher: Bencher) {
    let hub = sentry_hub(false);
    let err = error();
    bencher.bench_local(|| black_box(hub.capture_error(black_box(&err))));
}

//! The dashboard in headless Chromium (e2e/dashboard-browser/run.mjs: sign in, every page with
//! screenshots and axe-core at 1280 px and at 390 px with no sideways scroll, the degraded card,
//! the alert, the kill from the flag page with the keyboard only — Tab with visible focus at
//! every stop, the confirmation dialog cancelled with Escape and then confirmed) against the
//! collector of the rollout demo (examples/src/rollout.rs: agent-core users on simulated time,
//! the degraded error metric detected and alerted on, the flag left for the page to kill), run
//! here in-process, plus what the page cannot see: a real agent-core Agent, syncing flags over
//! SSE from the same collector, evaluates the flag before the kill and switches to the default
//! treatment after it.
//!
//! Needs node, /usr/bin/chromium and `npm ci` in e2e/dashboard-browser (.ci/run does all three);
//! without them it prints SKIPPED, and fails under CI=true.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use agent_core::Agent;
use agent_core::flags::{Attributes, labels};
use anyhow::{Context, bail, ensure};
use e2e::wait_until;
use examples::rollout::{Demo, Options, RULE};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest the whole browser run may take (two viewports of seven pages each, with axe-core).
const NODE_LIMIT: Duration = Duration::from_secs(300);
/// Longest a flag change may take to reach the agent over SSE.
const SYNC_LIMIT: Duration = Duration::from_secs(20);
/// Simulated users: 3000 is enough for the degraded error metric to fire within the demo's hours
/// (examples/tests/rollout_demo.rs checks the same count) and keeps the run short.
const DEMO_USERS: usize = 3000;

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboard-browser")
}

/// What is missing to run the suite, if anything.
fn missing_tools() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node {
        return Some("node".into());
    }
    if !std::path::Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM.into());
    }
    for package in ["playwright-core", "axe-core"] {
        if !suite_dir().join("node_modules").join(package).exists() {
            return Some(format!("{package} (npm ci in e2e/dashboard-browser)"));
        }
    }
    None
}

/// The node run: its stdin (for the handshake) and its stdout lines, echoed to stderr.
struct NodeRun {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl NodeRun {
    fn start(demo: &Demo, metric: i64) -> anyhow::Result<NodeRun> {
        let mut child = Command::new("node")
            .arg("run.mjs")
            .current_dir(suite_dir())
            .env("COLLECTOR_URL", &demo.url)
            .env("ADMIN_KEY", demo.admin_key)
            .env("SDK_KEY", demo.sdk_key)
            .env("RUM_DEMO_FLAG", demo.flag)
            .env("RUM_DEMO_METRIC", metric.to_string())
            .env("RUM_DEMO_AT", demo.at.to_string())
            .env("RUM_DEMO_VERSION", demo.version.to_string())
            .env("RUM_AGENT_HANDSHAKE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start node run.mjs")?;
        let stdin = child.stdin.take().context("node stdin")?;
        let stdout = child.stdout.take().context("node stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("node: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(NodeRun {
            child,
            stdin,
            lines,
        })
    }

    /// Waits for the line starting with `marker` and answers the JSON after it.
    fn expect(&mut self, marker: &str, deadline: Instant) -> anyhow::Result<serde_json::Value> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(marker) {
                        return serde_json::from_str(rest.trim())
                            .with_context(|| format!("{marker} line: {line}"));
                    }
                }
                Err(RecvTimeoutError::Timeout) => bail!("no {marker} from node in time"),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait()?;
                    bail!("node ended ({status}) before {marker}");
                }
            }
        }
    }

    fn go(&mut self) -> anyhow::Result<()> {
        writeln!(self.stdin, "go")?;
        Ok(self.stdin.flush()?)
    }

    /// Waits for node to exit; fails unless it passed.
    fn finish(mut self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "the browser suite failed: {status}");
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.child.kill()?;
                self.child.wait()?;
                bail!("the browser suite took longer than {NODE_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        // A failed assertion above leaves node (and its Chromium) running otherwise.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn the_dashboard_in_chromium_kills_a_flag_an_agent_follows() -> anyhow::Result<()> {
    if let Some(what) = missing_tools() {
        ensure!(
            std::env::var("CI").is_err(),
            "CI needs node, chromium and the suite's npm packages: {what} is missing"
        );
        println!("SKIPPED: {what} is missing");
        return Ok(());
    }
    // The policy only notifies: the kill is the page's to make.
    let demo = examples::rollout::run(Options {
        users: DEMO_USERS,
        data_dir: None,
        kill: false,
    })?;
    ensure!(
        demo.alerts_fired == 1,
        "the demo's degraded metric fires one alert"
    );
    let metric = demo.metric_id.context("the demo's policy metric")?;
    let deadline = Instant::now() + NODE_LIMIT;
    let mut node = NodeRun::start(&demo, metric)?;

    // The suite has checked every page against the demo's data; the flag page is open.
    let ready = node.expect("READY_FOR_KILL", deadline)?;
    let flag = ready["flag"].as_str().context("flag in READY_FOR_KILL")?;
    assert_eq!(flag, demo.flag, "the page kills the demo's flag");
    let fed_version = ready["version"].as_u64().context("version")?;
    assert_eq!(fed_version, demo.version, "nothing changed the flag yet");
    let data = tempfile::tempdir()?;
    // Only the stream can bring the kill in time: the poll fallback waits an hour.
    let agent = Agent::builder(demo.sdk_key)
        .collector(&demo.url)
        .data_dir(data.path())
        .poll_interval(Duration::from_secs(3600))
        .build()?;
    ensure!(agent.wait_for_flags(SYNC_LIMIT), "flags reach the agent");
    let attrs = Attributes::new();
    let on_user = (0..200)
        .map(|i| format!("agent-user-{i}"))
        .find(|k| agent.treatment(k, flag, &attrs).treatment == "on")
        .context("someone gets `on` in a 50/50 rollout")?;
    let before = agent.treatment(&on_user, flag, &attrs);
    assert_eq!(before.label, RULE, "{before:?}");
    assert_eq!(before.version, fed_version, "{before:?}");
    node.go()?;

    let killed = node.expect("KILLED", deadline)?;
    let killed_version = killed["version"].as_u64().context("version")?;
    let switched = wait_until(SYNC_LIMIT, || {
        let e = agent.treatment(&on_user, flag, &attrs);
        e.version == killed_version && e.label == labels::KILLED
    });
    let after = agent.treatment(&on_user, flag, &attrs);
    assert!(switched, "the kill reaches the agent over SSE: {after:?}");
    assert_eq!(after.treatment, "off", "the default treatment: {after:?}");
    node.finish(deadline)?;
    agent.shutdown(Duration::from_secs(5))?;
    demo.stop()
}

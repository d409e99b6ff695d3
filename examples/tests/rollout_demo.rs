//! The rollout demo runs the whole loop: the degraded metric is detected, the alert fires, the
//! webhook is called and the flag is killed, which the agent then serves.

use std::process::Command;

#[test]
fn the_demo_detects_the_degradation_alerts_and_kills_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_rollout-demo"))
        .arg("3000")
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 alerts fired"), "{stdout}");
    assert!(
        stdout.contains("webhook received 1 signed notification"),
        "{stdout}"
    );
    assert!(stdout.contains("killed = true"), "{stdout}");
    assert!(stdout.contains("serves `off` (label `killed`)"), "{stdout}");
    assert!(stdout.contains("error: percent of users"), "{stdout}");
}

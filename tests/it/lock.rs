//! One writer per stack: a lock held elsewhere stops apply and destroy before any change,
//! naming the holder; plan and drift need no lock; two applies at once, exactly one proceeds;
//! a dead run's lock on this machine is taken over.

use crate::harness::*;
use std::process::{Command, Stdio};

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&config_for_tests().await)
}

async fn hold(stack: &str, holder: &str) {
    ssm()
        .await
        .put_parameter()
        .name(format!("/moodle-ha/{stack}/lock"))
        .value(holder)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("hold the lock");
}

async fn lock_exists(stack: &str) -> bool {
    ssm()
        .await
        .get_parameter()
        .name(format!("/moodle-ha/{stack}/lock"))
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_stops_apply_and_destroy_but_not_plan_or_drift() {
    let stack = example_spec(&unique("lock"), |t| t);
    let spec = stack.path.to_str().expect("path");
    hold(
        &stack.name,
        r#"{"who":"ci@runner-7","host":"runner-7","pid":4242,"command":"apply","since":"2026-11-25T01:00:00Z"}"#,
    )
    .await;
    let refused = moodle_ha(&["apply", "--yes", spec]);
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(
        err.contains(
            "locked by ci@runner-7 (pid 4242, running `apply`) since 2026-11-25T01:00:00Z"
        ),
        "{err}"
    );
    assert!(err.contains("--force-unlock"), "{err}");
    assert!(
        tagged_counts(&stack.name)
            .await
            .iter()
            .all(|(_, n)| *n == 0),
        "nothing was created"
    );
    let refused = moodle_ha(&["destroy", "--yes", spec]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("locked by ci@runner-7"));

    // Reading needs no lock.
    let planned = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(planned.status.code(), Some(2), "{}", stderr(&planned));
    let drift = moodle_ha(&["drift", spec]);
    assert_eq!(drift.status.code(), Some(2), "{}", stderr(&drift));

    // Told that the other run is dead, apply takes the lock over and releases it when done.
    ok(moodle_ha(&["apply", "--yes", "--force-unlock", spec]));
    assert!(!lock_exists(&stack.name).await, "released after apply");
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
    assert!(!lock_exists(&stack.name).await, "released after destroy");
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_applies_at_once_exactly_one_proceeds() {
    let stack = example_spec(&unique("race"), |t| t);
    let spec = stack.path.to_str().expect("path");
    endpoint();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_moodle-ha"))
            .args(["apply", "--yes", spec])
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apply")
    };
    let (a, b) = (start(), start());
    let (a, b) = (
        a.wait_with_output().expect("first apply"),
        b.wait_with_output().expect("second apply"),
    );
    let outcomes = [a.status.code(), b.status.code()];
    assert!(
        outcomes.contains(&Some(0)) && outcomes.contains(&Some(1)),
        "exactly one proceeds: {outcomes:?}\n{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let loser = if a.status.success() { &b } else { &a };
    assert!(stderr(loser).contains("is locked by"), "{}", stderr(loser));
    let again = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_runs_lock_on_this_machine_is_taken_over() {
    let stack = example_spec(&unique("dead"), |t| t);
    let spec = stack.path.to_str().expect("path");
    // A process of this machine that has finished: its PID no longer exists.
    let mut gone = Command::new("true").spawn().expect("spawn");
    let pid = gone.id();
    let _ = gone.wait();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    hold(
        &stack.name,
        &format!(
            r#"{{"who":"me@{host}","host":"{host}","pid":{pid},"command":"apply","since":"2026-11-25T01:00:00Z"}}"#
        ),
    )
    .await;
    ok(moodle_ha(&["apply", "--yes", spec]));
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
}

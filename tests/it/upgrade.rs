//! The upgrade workflow against the emulator, with a stand-in for the cron instance's agent
//! (it answers the requests the CLI writes to `/moodle-ha/<stack>/agent` the way
//! `userdata/agent.sh` does: a claim per request ID, its output and outcome in the stack's
//! bucket; the real agent runs in the node lab). A newer `git_ref` plans the workflow and
//! nothing else; apply runs it: the preflight on the cron instance, warm capacity (the group
//! raised, its scaling suspended), maintenance, cron paused, a tagged snapshot recorded in the
//! journal, `upgrade` once, the fleet switched (old nodes retired, capacity given back),
//! maintenance off with every suspended process resumed; the cron instance is not replaced; a
//! second plan is empty; `history` shows it. A failed `upgrade` leaves the site in
//! maintenance and the next apply resumes at it (one snapshot). New nodes that never finish
//! booting fail the warm-capacity step before maintenance. A CLI killed (SIGKILL) at every
//! step in turn, run again each time, resumes where it was: each of the agent's actions runs
//! once, the upgrade once, one snapshot, nothing left suspended.

use crate::harness::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stand-in agent does with each action.
#[derive(Default)]
pub(crate) struct AgentState {
    /// Request IDs claimed, in order.
    pub(crate) claimed: Vec<String>,
    /// Actions that fail once (then succeed).
    pub(crate) fail_once: Vec<String>,
    /// An action left unanswered while set (it "runs").
    pub(crate) hold: Option<String>,
    /// The web nodes never finish booting (they report nothing).
    pub(crate) no_boots: bool,
    /// The web nodes that reported their boot done.
    pub(crate) booted: Vec<String>,
}

/// What the web nodes' boots do, as far as the CLI can see: each instance of the web group,
/// the first time it is seen, reports the release the record names then as the one it waits
/// for (`nodes/<instance-id>`, as `userdata/bootstrap.sh` does once its boot is done).
async fn report_boots(
    asg: &aws_sdk_autoscaling::Client,
    ssm: &aws_sdk_ssm::Client,
    s3: &aws_sdk_s3::Client,
    stack: &str,
    bucket: &str,
    shared: &Mutex<AgentState>,
) {
    if shared.lock().expect("agent state").no_boots {
        return;
    }
    let Ok(groups) = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{stack}-web"))
        .send()
        .await
    else {
        return;
    };
    let Some(commit) = ssm
        .get_parameter()
        .name(format!("/moodle-ha/{stack}/release"))
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter().and_then(|p| p.value()).map(str::to_string))
        .and_then(|v| serde_json::from_str::<Value>(&v).ok())
        .and_then(|v| v["commit"].as_str().map(str::to_string))
    else {
        return;
    };
    let ids: Vec<String> = groups
        .auto_scaling_groups()
        .iter()
        .flat_map(|g| g.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    for id in ids {
        if shared.lock().expect("agent state").booted.contains(&id) {
            continue;
        }
        let put = s3
            .put_object()
            .bucket(bucket)
            .key(format!("nodes/{id}"))
            .body(format!("{commit}\n").into_bytes().into())
            .send()
            .await;
        if put.is_ok() {
            shared.lock().expect("agent state").booted.push(id);
        }
    }
}

/// The cron instance's agent, as far as the CLI can see it.
pub(crate) struct FakeAgent {
    state: Arc<Mutex<AgentState>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeAgent {
    pub(crate) fn start(stack: &str, bucket: &str) -> Self {
        let state = Arc::new(Mutex::new(AgentState::default()));
        let (stack, bucket, shared) = (stack.to_string(), bucket.to_string(), state.clone());
        let task = tokio::spawn(async move {
            let config = config_for_tests().await;
            let ssm = aws_sdk_ssm::Client::new(&config);
            let s3 = aws_sdk_s3::Client::new(&config);
            let asg = aws_sdk_autoscaling::Client::new(&config);
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                report_boots(&asg, &ssm, &s3, &stack, &bucket, &shared).await;
                let Ok(out) = ssm
                    .get_parameter()
                    .name(format!("/moodle-ha/{stack}/agent"))
                    .send()
                    .await
                else {
                    continue;
                };
                let Some(request) = out
                    .parameter()
                    .and_then(|p| p.value())
                    .and_then(|v| serde_json::from_str::<Value>(v).ok())
                else {
                    continue;
                };
                let id = request["id"].as_str().unwrap_or_default().to_string();
                let action = request["action"].as_str().unwrap_or_default().to_string();
                let status = {
                    let mut st = shared.lock().expect("agent state");
                    if st.claimed.contains(&id) || st.hold.as_deref() == Some(action.as_str()) {
                        continue;
                    }
                    st.claimed.push(id.clone());
                    match st.fail_once.iter().position(|a| *a == action) {
                        Some(i) => {
                            st.fail_once.remove(i);
                            "failed"
                        }
                        None => "ok",
                    }
                };
                let put = |key: String, body: Vec<u8>| {
                    s3.put_object()
                        .bucket(&bucket)
                        .key(key)
                        .body(body.into())
                        .send()
                };
                let _ = put(
                    format!("agent/output/{id}.log"),
                    format!("running {action}\n{action}: {status}\n").into_bytes(),
                )
                .await;
                let outcome = json!({
                    "id": id, "action": action, "commit": request["commit"],
                    "status": status, "exit_code": i32::from(status != "ok"),
                    "started": "2026-12-06T15:00:00Z", "ended": "2026-12-06T15:00:01Z",
                    "message": if status == "ok" { "done".to_string() } else { format!("{action} exited 1") },
                });
                let _ = put(
                    format!("agent/results/{id}.json"),
                    outcome.to_string().into_bytes(),
                )
                .await;
            }
        });
        Self { state, task }
    }

    /// The actions run, in order (one per claimed request).
    pub(crate) fn actions(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("agent state")
            .claimed
            .iter()
            .map(|id| {
                // `<workflow>.<action>.<attempt>`
                let mut parts = id.rsplitn(3, '.');
                let _attempt = parts.next();
                parts.next().unwrap_or_default().to_string()
            })
            .collect()
    }

    pub(crate) fn set(&self, f: impl FnOnce(&mut AgentState)) {
        f(&mut self.state.lock().expect("agent state"));
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn group(stack: &str) -> aws_sdk_autoscaling::types::AutoScalingGroup {
    let asg = aws_sdk_autoscaling::Client::new(&config_for_tests().await);
    asg.describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{stack}-web"))
        .send()
        .await
        .expect("group")
        .auto_scaling_groups()
        .first()
        .cloned()
        .expect("the web group")
}

/// The group's instance IDs (`live`: only those not terminating).
fn instance_ids(g: &aws_sdk_autoscaling::types::AutoScalingGroup, live: bool) -> Vec<String> {
    g.instances()
        .iter()
        .filter(|i| {
            !live
                || !i
                    .lifecycle_state()
                    .is_some_and(|s| s.as_str().starts_with("Terminat"))
        })
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}

async fn cron_instance(stack: &str) -> String {
    let out = ec2()
        .await
        .describe_instances()
        .filters(stack_filter(stack))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:moodle-ha:resource")
                .values("instance/cron")
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .expect("instances");
    let ids: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

pub(crate) async fn journal(bucket: &str, id: &str) -> Value {
    let object = s3()
        .await
        .get_object()
        .bucket(bucket)
        .key(format!("workflows/{id}.json"))
        .send()
        .await
        .expect("the journal");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    serde_json::from_slice(&bytes).expect("JSON")
}

async fn snapshots_of(db: &str) -> Vec<aws_sdk_rds::types::DbSnapshot> {
    rds()
        .await
        .describe_db_snapshots()
        .db_instance_identifier(db)
        .snapshot_type("manual")
        .send()
        .await
        .expect("snapshots")
        .db_snapshots()
        .to_vec()
}

/// The stack's bucket, as the release record names it.
pub(crate) async fn bucket_of(stack: &str) -> String {
    let out = aws_sdk_ssm::Client::new(&config_for_tests().await)
        .get_parameter()
        .name(format!("/moodle-ha/{stack}/release"))
        .send()
        .await
        .expect("the release record");
    let v: Value = serde_json::from_str(out.parameter().and_then(|p| p.value()).expect("value"))
        .expect("JSON");
    v["bucket"].as_str().expect("bucket").to_string()
}

/// Runs the CLI without blocking the agent's task.
pub(crate) async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        moodle_ha(&args)
    })
    .await
    .expect("the CLI ran")
}

pub(crate) fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_release_is_upgraded_by_the_workflow_once_and_recorded() {
    let name = unique("upg");
    let stack = example_spec(&name, |t| t);
    let spec = stack.path.to_str().expect("path").to_string();
    ok(moodle_ha(&["apply", "--yes", &spec]));
    let bucket = bucket_of(&name).await;
    let cron_before = cron_instance(&name).await;
    let before = group(&name).await;
    let agent = FakeAgent::start(&name, &bucket);

    // The plan: the upgrade and nothing else.
    let newer = example_spec(&name, |t| t.replace("git_ref: v4.5.6", "git_ref: v4.5.7"));
    let newer_path = newer.path.to_str().expect("path").to_string();
    let doc = json(moodle_ha(&["plan", "--output", "json", &newer_path]));
    assert_eq!(doc["changes"], json!([]), "{doc:#}");
    let up = &doc["upgrade"];
    assert_eq!(up["from"]["release"], "4.5.6 (Build: 20260101)");
    assert_eq!(up["to"]["release"], "4.5.7 (Build: 20260101)");
    assert_eq!(up["major"], false);
    assert_eq!(up["steps"].as_array().map(Vec::len), Some(8));
    let text = stdout(&moodle_ha(&["plan", &newer_path]));
    assert!(
        text.contains("upgrade Moodle 4.5.6 (Build: 20260101) → 4.5.7"),
        "{text}"
    );
    assert!(text.contains("Maintenance window: about"), "{text}");
    assert!(
        agent.actions().is_empty(),
        "plan asks the cron instance nothing"
    );

    // The first attempt's upgrade.php fails: the site stays in maintenance, exit 1.
    agent.set(|s| s.fail_once.push("upgrade".into()));
    let failed = cli(args(&["apply", "--yes", &newer_path])).await;
    let out = format!("{}{}", stdout(&failed), stderr(&failed));
    assert_eq!(failed.status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED at `upgrade`"), "{out}");
    assert!(out.contains("The site stays in maintenance"), "{out}");
    assert!(
        out.contains("upgrade exited 1"),
        "the agent's message: {out}"
    );
    assert_eq!(
        agent.actions(),
        ["check-plugins", "maintenance-on", "cron-pause", "upgrade"]
    );
    let suspended: Vec<String> = group(&name)
        .await
        .suspended_processes()
        .iter()
        .filter_map(|p| p.process_name().map(str::to_string))
        .collect();
    assert!(
        suspended.iter().any(|p| p == "ReplaceUnhealthy"),
        "health-check replacement stays suspended while in maintenance: {suspended:?}"
    );

    // Apply again: resumes at the upgrade (no second snapshot), then finishes.
    let second = cli(args(&["apply", "--yes", &newer_path])).await;
    let out = format!("{}{}", stdout(&second), stderr(&second));
    assert!(second.status.success(), "{out}");
    assert!(out.contains("snapshot (done before)"), "{out}");
    assert_eq!(
        agent.actions(),
        [
            "check-plugins",
            "maintenance-on",
            "cron-pause",
            "upgrade",
            "upgrade",
            "smoke",
            "maintenance-off",
            "cron-resume"
        ]
    );

    // One snapshot, tagged with the stack and both releases, recorded in the journal.
    let snaps = snapshots_of(&format!("{name}-db")).await;
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let tags: Vec<(String, String)> = snaps[0]
        .tag_list()
        .iter()
        .map(|t| (t.key().unwrap_or("").into(), t.value().unwrap_or("").into()))
        .collect();
    assert!(
        tags.contains(&("moodle-ha:stack".into(), name.clone())),
        "{tags:?}"
    );
    assert!(
        tags.iter()
            .any(|(k, v)| k == "moodle-ha:to" && v.starts_with("4.5.7")),
        "{tags:?}"
    );
    let id = up["id"].as_str().expect("id").to_string();
    let resumed_id = {
        // The second run resumed the first's workflow (its ID), not this plan's.
        let listed = stdout(&moodle_ha(&["history", "--output", "json", &newer_path]));
        let h: Value = serde_json::from_str(&listed).expect("history JSON");
        let w = h["workflows"].as_array().expect("workflows");
        assert_eq!(w.len(), 1, "{h:#}");
        assert_eq!(w[0]["state"]["state"], "succeeded", "{h:#}");
        w[0]["id"].as_str().expect("id").to_string()
    };
    assert!(resumed_id.starts_with("upgrade-"), "{resumed_id} / {id}");
    let j = journal(&bucket, &resumed_id).await;
    assert_eq!(
        j["facts"]["snapshot"].as_str(),
        snaps[0].db_snapshot_identifier()
    );
    let upgrade_entry = j["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|e| e["step"] == "upgrade")
        .cloned()
        .expect("the upgrade step");
    assert_eq!(upgrade_entry["attempts"], 2);
    assert_eq!(upgrade_entry["outcome"], "done");

    // The fleet: processes resumed, capacity given back, the cron instance kept.
    let after = group(&name).await;
    assert!(after.suspended_processes().is_empty(), "{after:?}");
    assert_eq!(after.max_size(), before.max_size());
    assert_eq!(after.desired_capacity(), before.desired_capacity());
    let old = instance_ids(&before, false);
    let live_old: Vec<String> = instance_ids(&after, true)
        .into_iter()
        .filter(|i| old.contains(i))
        .collect();
    assert!(live_old.is_empty(), "old nodes retired: {live_old:?}");
    assert_eq!(
        cron_instance(&name).await,
        cron_before,
        "the cron instance is kept"
    );

    // History in text; the record names the new release: a second plan is empty.
    let history = ok(moodle_ha(&["history", &newer_path]));
    assert!(
        history.contains("[succeeded]") && history.contains("snapshot:"),
        "{history}"
    );
    drop(agent);
    converged_then_destroyed(&newer_path);
}

/// The running cron instance's ID and launch time (seconds since the epoch).
async fn cron_launched(stack: &str) -> (String, i64) {
    let id = cron_instance(stack).await;
    let out = ec2()
        .await
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .expect("the cron instance");
    let at = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find_map(|i| i.launch_time().map(|t| t.secs()))
        .expect("its launch time");
    (id, at)
}

/// A journal entry's time (RFC 3339), in seconds since the epoch.
fn entry_time(j: &Value, step: &str, which: &str) -> i64 {
    let text = j["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|e| e["step"] == step)
        .and_then(|e| e[which].as_str())
        .unwrap_or_else(|| panic!("{step} {which}: {j:#}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
        .unix_timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_branch_that_changes_php_replaces_the_cron_instance_inside_the_window() {
    // Amazon Linux 2023: the newest PHP each branch supports is 8.3 for 4.5, 8.4 for 5.1, so
    // the new branch changes the PHP the cron instance installs (its user data): it is
    // replaced, inside the window, and its agent runs the upgrade.
    let al2023 = |t: String| {
        t.replace(
            "ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
            "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        )
    };
    let name = unique("upp");
    let stack = example_spec(&name, al2023);
    let spec = stack.path.to_str().expect("path").to_string();
    ok(moodle_ha(&["apply", "--yes", &spec]));
    let bucket = bucket_of(&name).await;
    let (cron_before, _) = cron_launched(&name).await;
    let agent = FakeAgent::start(&name, &bucket);
    let newer = example_spec(&name, |t| {
        al2023(t)
            .replace("version: \"4.5\"", "version: \"5.1\"")
            .replace("git_ref: v4.5.6", "git_ref: v5.1.6")
    });
    let newer_path = newer.path.to_str().expect("path").to_string();

    // The plan: the replacement is the upgrade's, inside its window, not a change before it.
    let doc = json(moodle_ha(&["plan", "--output", "json", &newer_path]));
    let keys = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|c| c["key"].to_string()).collect())
            .unwrap_or_default()
    };
    assert!(
        !keys(&doc["changes"])
            .iter()
            .any(|k| k.contains("instance/cron")),
        "{doc:#}"
    );
    let in_window = &doc["upgrade"]["in_window"];
    assert_eq!(keys(in_window).len(), 1, "{doc:#}");
    assert!(keys(in_window)[0].contains("instance/cron"), "{doc:#}");
    assert_eq!(in_window[0]["action"], "replace", "{doc:#}");
    assert_eq!(doc["upgrade"]["major"], true);
    let text = stdout(&moodle_ha(&["plan", &newer_path]));
    assert!(
        text.contains("Inside the window, before upgrade.php"),
        "{text}"
    );

    let run = cli(args(&["apply", "--yes", &newer_path])).await;
    let out = format!("{}{}", stdout(&run), stderr(&run));
    assert!(run.status.success(), "{out}");
    assert_eq!(
        agent.actions(),
        [
            "check-plugins",
            "maintenance-on",
            "cron-pause",
            "ping",
            "upgrade",
            "smoke",
            "maintenance-off",
            "cron-resume"
        ]
    );
    // A new cron instance, launched after the snapshot and before the upgrade ended.
    let (cron_after, launched) = cron_launched(&name).await;
    assert_ne!(cron_after, cron_before, "{out}");
    let listed = stdout(&moodle_ha(&["history", "--output", "json", &newer_path]));
    let h: Value = serde_json::from_str(&listed).expect("history JSON");
    let j = &h["workflows"][0];
    assert_eq!(j["state"]["state"], "succeeded", "{h:#}");
    assert!(
        launched >= entry_time(j, "snapshot", "ended") - 1
            && launched <= entry_time(j, "upgrade", "ended") + 1,
        "launched at {launched}: {j:#}"
    );
    drop(agent);
    converged_then_destroyed(&newer_path);
}

/// A second plan of `spec` is empty (exit 0 with `--detailed-exitcode`); then the stack goes.
fn converged_then_destroyed(spec: &str) {
    let second_plan = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(
        second_plan.status.code(),
        Some(0),
        "{}",
        stdout(&second_plan)
    );
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
}

/// Starts `apply SPEC` in the background (killed later with SIGKILL: nothing cleaned up).
fn spawn_apply(spec: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_moodle-ha"))
        .args(["apply", "--yes", spec])
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("MOODLE_HA_RELEASE_CACHE", release_cache())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("apply")
}

/// Waits until the CLI has asked the agent of `stack` for `action`.
async fn asked_for(stack: &str, action: &str) {
    let ssm = aws_sdk_ssm::Client::new(&config_for_tests().await);
    let wanted = format!("\"{action}\"");
    let asked = async {
        loop {
            if let Ok(out) = ssm
                .get_parameter()
                .name(format!("/moodle-ha/{stack}/agent"))
                .send()
                .await
            {
                if out
                    .parameter()
                    .and_then(|p| p.value())
                    .is_some_and(|v| v.contains(&wanted))
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(300), asked)
        .await
        .unwrap_or_else(|_| panic!("`{action}` was asked for"));
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_step_the_upgrade_resumes_with_one_snapshot_and_one_upgrade() {
    let name = unique("upk");
    let stack = example_spec(&name, |t| t);
    let spec = stack.path.to_str().expect("path").to_string();
    ok(moodle_ha(&["apply", "--yes", &spec]));
    let bucket = bucket_of(&name).await;
    let agent = FakeAgent::start(&name, &bucket);
    let newer = example_spec(&name, |t| t.replace("git_ref: v4.5.6", "git_ref: v4.5.7"));
    let newer_path = newer.path.to_str().expect("path").to_string();

    let before = group(&name).await;
    let desired = before.desired_capacity().expect("desired");
    // New nodes that never finish booting: killed (SIGKILL) while the warm-capacity step
    // waits for them, after it raised the capacity; what it recorded of the fleet before
    // survives the kill (the warm nodes are not taken for old ones by the next run).
    agent.set(|s| s.no_boots = true);
    let mut child = spawn_apply(&newer_path);
    let raised = async {
        while group(&name).await.desired_capacity() != Some(2 * desired) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(300), raised)
        .await
        .expect("the capacity was raised");
    child.kill().expect("kill");
    let _ = child.wait();
    // Run again, the waits bounded here by --max-wait: it fails before maintenance, the site
    // never saw the upgrade.
    let stuck = cli(args(&["apply", "--yes", "--max-wait", "10", &newer_path])).await;
    let out = format!("{}{}", stdout(&stuck), stderr(&stuck));
    assert_eq!(stuck.status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED at `warm-capacity`"), "{out}");
    assert!(out.contains("did not finish booting"), "{out}");
    assert!(
        out.contains("booting"),
        "names the nodes still booting: {out}"
    );
    assert_eq!(agent.actions(), ["check-plugins"], "no maintenance: {out}");
    agent.set(|s| s.no_boots = false);

    // Killed (SIGKILL) while it waits for each of the agent's actions in turn: after the
    // preflight, maintenance on, cron paused, the snapshot (before `upgrade`), the switch
    // (before `smoke`), maintenance off. Each run again takes over the dead run's lock and
    // resumes where it was.
    for action in [
        "maintenance-on",
        "cron-pause",
        "upgrade",
        "smoke",
        "maintenance-off",
        "cron-resume",
    ] {
        agent.set(|s| s.hold = Some(action.into()));
        let mut child = spawn_apply(&newer_path);
        asked_for(&name, action).await;
        child.kill().expect("kill");
        let _ = child.wait();
        agent.set(|s| s.hold = None);
    }
    let last = cli(args(&["apply", "--yes", &newer_path])).await;
    let out = format!("{}{}", stdout(&last), stderr(&last));
    assert!(last.status.success(), "{out}");

    // Each action ran once (the upgrade once), one snapshot, the workflow recorded as
    // succeeded, nothing left suspended, capacity given back, and nothing left to do.
    assert_eq!(
        agent.actions(),
        [
            "check-plugins",
            "maintenance-on",
            "cron-pause",
            "upgrade",
            "smoke",
            "maintenance-off",
            "cron-resume"
        ]
    );
    assert_eq!(snapshots_of(&format!("{name}-db")).await.len(), 1);
    let listed = stdout(&moodle_ha(&["history", "--output", "json", &newer_path]));
    let h: Value = serde_json::from_str(&listed).expect("history JSON");
    let w = h["workflows"].as_array().expect("workflows");
    assert_eq!(w.len(), 1, "{h:#}");
    assert_eq!(w[0]["state"]["state"], "succeeded", "{h:#}");
    let g = group(&name).await;
    assert!(g.suspended_processes().is_empty(), "{g:?}");
    assert_eq!(g.desired_capacity(), before.desired_capacity(), "{g:?}");
    assert_eq!(g.max_size(), before.max_size(), "{g:?}");
    let was = instance_ids(&before, false);
    let live = instance_ids(&g, true);
    assert_eq!(live.len(), desired as usize, "{live:?}");
    assert!(
        live.iter().all(|i| !was.contains(i)),
        "old nodes retired: {live:?}"
    );
    drop(agent);
    converged_then_destroyed(&newer_path);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_the_snapshot_under_the_original_name_and_the_previous_release() {
    let name = unique("upr");
    let stack = example_spec(&name, |t| t);
    let spec = stack.path.to_str().expect("path").to_string();
    ok(moodle_ha(&["apply", "--yes", &spec]));
    let bucket = bucket_of(&name).await;
    let db = format!("{name}-db");
    let original = rds()
        .await
        .describe_db_instances()
        .db_instance_identifier(&db)
        .send()
        .await
        .expect("the database")
        .db_instances()[0]
        .clone();
    let group_before = group(&name).await;
    let agent = FakeAgent::start(&name, &bucket);
    agent.set(|s| s.fail_once.push("upgrade".into()));
    // A new branch: its launch template (the 5.1 user data, serving `public/`) would refuse
    // the previous release, so the rollback puts the group's previous version back.
    let newer = example_spec(&name, |t| {
        t.replace("version: \"4.5\"", "version: \"5.1\"")
            .replace("git_ref: v4.5.6", "git_ref: v5.1.6")
    });
    let newer_path = newer.path.to_str().expect("path").to_string();
    let failed = cli(args(&["apply", "--yes", &newer_path])).await;
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));

    // Without a terminal and without --yes, nothing happens.
    let asked = cli(args(&["rollback", &spec])).await;
    assert_eq!(asked.status.code(), Some(1));
    assert!(
        stderr(&asked).contains("pass `--yes`"),
        "{}",
        stderr(&asked)
    );
    assert!(
        stderr(&asked).contains("restored as"),
        "printed first: {}",
        stderr(&asked)
    );

    let rolled = cli(args(&["rollback", "--yes", &spec])).await;
    let out = format!("{}{}", stdout(&rolled), stderr(&rolled));
    assert!(rolled.status.success(), "{out}");
    assert!(out.contains("the site runs Moodle 4.5.6"), "{out}");
    let tail: Vec<String> = agent.actions().split_off(4);
    assert_eq!(
        tail,
        [
            "maintenance-on",
            "cron-pause",
            "switch",
            "smoke",
            "maintenance-off",
            "cron-resume"
        ]
    );

    // The original name is the restored instance (same endpoint), the upgraded one is kept
    // aside, out of the stack.
    let instances = rds()
        .await
        .describe_db_instances()
        .send()
        .await
        .expect("instances");
    let mine: Vec<&aws_sdk_rds::types::DbInstance> = instances
        .db_instances()
        .iter()
        .filter(|i| {
            i.db_instance_identifier()
                .is_some_and(|id| id.starts_with(&db))
        })
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    let now = mine
        .iter()
        .find(|i| i.db_instance_identifier() == Some(db.as_str()))
        .expect("the original name");
    let tags = |i: &aws_sdk_rds::types::DbInstance| -> Vec<String> {
        i.tag_list()
            .iter()
            .filter_map(|t| t.key().map(str::to_string))
            .collect()
    };
    assert!(
        tags(now).contains(&"moodle-ha:restored-by".to_string()),
        "{now:?}"
    );
    assert_eq!(
        now.endpoint().and_then(|e| e.address()),
        original.endpoint().and_then(|e| e.address())
    );
    let aside = mine
        .iter()
        .find(|i| i.db_instance_identifier() != Some(db.as_str()))
        .expect("the upgraded instance, kept");
    assert!(
        !tags(aside).contains(&"moodle-ha:stack".to_string()),
        "{aside:?}"
    );
    assert!(
        tags(aside).contains(&"moodle-ha:set-aside-by".to_string()),
        "{aside:?}"
    );
    let record = aws_sdk_ssm::Client::new(&config_for_tests().await)
        .get_parameter()
        .name(format!("/moodle-ha/{name}/release"))
        .send()
        .await
        .expect("record");
    assert!(
        record
            .parameter()
            .and_then(|p| p.value())
            .is_some_and(|v| v.contains("4.5.6 (Build")),
        "{record:?}"
    );
    let h: Value = serde_json::from_str(&ok(moodle_ha(&["history", "--output", "json", &spec])))
        .expect("history");
    let states: Vec<String> = h["workflows"]
        .as_array()
        .expect("workflows")
        .iter()
        .map(|w| w["state"]["state"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(states, ["closed", "succeeded"], "{h:#}");

    // The web group as it was before the upgrade: its launch template version (the 4.5 user
    // data), its capacity; the previous release's spec plans no change to it.
    let template = |g: &aws_sdk_autoscaling::types::AutoScalingGroup| {
        g.mixed_instances_policy()
            .and_then(|p| p.launch_template())
            .and_then(|t| t.launch_template_specification())
            .and_then(|t| t.version())
            .map(str::to_string)
    };
    let group_after = group(&name).await;
    assert_eq!(template(&group_after), template(&group_before));
    assert_eq!(
        group_after.desired_capacity(),
        group_before.desired_capacity()
    );
    assert_eq!(group_after.max_size(), group_before.max_size());
    let doc = json(moodle_ha(&["plan", "--output", "json", &spec]));
    // (The launch template's latest version is the 5.1 one: it gets a new version with the
    // 4.5 content, which the group already runs: no instance refresh.)
    let group_changes: Vec<&Value> = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["key"] == "auto-scaling-group/web")
        .collect();
    assert!(group_changes.is_empty(), "{group_changes:#?}");
    // The previous release's spec converges (what a restore cannot set is repaired in place),
    // then plans nothing.
    ok(moodle_ha(&["apply", "--yes", &spec]));
    let again = moodle_ha(&["plan", "--detailed-exitcode", &spec]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    drop(agent);
    // The instance set aside is the operator's to delete (it still uses the stack's subnet
    // and parameter groups, so the stack cannot be destroyed before it is gone).
    let aside_id = aside.db_instance_identifier().expect("id").to_string();
    let rds = rds().await;
    let _ = rds
        .modify_db_instance()
        .db_instance_identifier(&aside_id)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await;
    rds.delete_db_instance()
        .db_instance_identifier(&aside_id)
        .skip_final_snapshot(true)
        .send()
        .await
        .expect("delete the instance set aside");
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        &spec,
    ]));
}

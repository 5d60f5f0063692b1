//! The cron instance: exactly one, on-demand, in a private subnet with the cron group,
//! IMDSv2 only, its user data holding exactly one cron entry; a second apply keeps exactly
//! one; a new type is an in-place stop/modify/start, new user data a planned replacement.

use crate::harness::*;
use aws_sdk_ec2::types::Filter;

async fn cron_instances(stack: &str) -> Vec<aws_sdk_ec2::types::Instance> {
    let out = ec2()
        .await
        .describe_instances()
        .filters(stack_filter(stack))
        .filters(
            Filter::builder()
                .name("tag:moodle-ha:resource")
                .values("instance/cron")
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .expect("instances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances().iter().cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_cron_instance_with_its_settings_and_one_cron_entry() {
    let stack = example_spec(&unique("cron"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    ok(moodle_ha(&["apply", "--yes", spec]));
    ok(moodle_ha(&["apply", "--yes", spec]));
    let found = cron_instances(&name).await;
    assert_eq!(
        found.len(),
        1,
        "exactly one cron instance after two applies"
    );
    let cron = &found[0];
    let id = cron.instance_id().expect("id").to_string();
    assert_eq!(
        cron.instance_type().map(|t| t.as_str()),
        Some("t3.large"),
        "on-demand, the spec's type"
    );
    assert!(cron.instance_lifecycle().is_none(), "not Spot");
    let ec2 = ec2().await;
    let subnet = ec2
        .describe_subnets()
        .subnet_ids(cron.subnet_id().expect("subnet"))
        .send()
        .await
        .expect("subnet");
    let tag = subnet.subnets()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("moodle-ha:resource"))
        .and_then(|t| t.value())
        .map(str::to_string);
    assert_eq!(
        tag.as_deref(),
        Some("subnet/private-eu-west-1a"),
        "a private subnet"
    );
    let groups: Vec<String> = cron
        .security_groups()
        .iter()
        .filter_map(|g| g.group_name().map(str::to_string))
        .collect();
    assert_eq!(groups, [format!("{name}-cron")]);
    assert_eq!(
        cron.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required")
    );
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    let text = user_data
        .user_data()
        .and_then(|u| u.value())
        .and_then(|v| aws_smithy_types::base64::decode(v).ok())
        .map(|b| moodle_ha::render::decode_user_data(&b))
        .expect("user data set");
    // The agent's calls that switch cron off and on or list its tasks run no cron.
    let runs: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("admin/cli/cron.php"))
        .filter(|l| {
            !["--enable", "--disable", "--list"]
                .iter()
                .any(|o| l.contains(&format!("cron.php {o}")))
        })
        .collect();
    assert_eq!(runs.len(), 1, "exactly one cron entry: {runs:?}\n{text}");
    assert!(
        text.contains("path: /etc/cron.d/moodle"),
        "a file, never appended"
    );

    // The generated secrets exist once each.
    let sm = secrets().await;
    for secret in ["db-user", "admin"] {
        let listed = sm
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                    .values(format!("moodle-ha/{name}/{secret}"))
                    .build(),
            )
            .send()
            .await
            .expect("list");
        assert_eq!(listed.secret_list().len(), 1, "{secret}");
    }

    // A new type: an update of that field, done in place on the same instance.
    let bigger = example_spec(&name, |t| {
        t.replace("  instance_type: t3.large", "  instance_type: t3.xlarge")
    });
    let bigger_path = bigger.path.to_str().expect("path");
    let doc = json(moodle_ha(&["plan", "--output", "json", bigger_path]));
    assert_eq!(doc["changes"][0]["key"], "instance/cron");
    assert_eq!(doc["changes"][0]["action"], "update");
    ok(moodle_ha(&["apply", "--yes", bigger_path]));
    let found = cron_instances(&name).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].instance_id(),
        Some(id.as_str()),
        "the same instance"
    );
    assert_eq!(
        found[0].instance_type().map(|t| t.as_str()),
        Some("t3.xlarge")
    );

    // New user data (the code path changes): a planned replacement, and still exactly one.
    let moved = example_spec(&name, |t| {
        t.replace("  instance_type: t3.large", "  instance_type: t3.xlarge")
            .replace(
                "  web_server: nginx\n",
                "  web_server: nginx\n  code_path: /srv/moodle\n",
            )
    });
    let moved_path = moved.path.to_str().expect("path");
    let doc = json(moodle_ha(&["plan", "--output", "json", moved_path]));
    let cron_change = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["key"] == "instance/cron")
        .expect("cron changes");
    assert_eq!(cron_change["action"], "replace");
    ok(moodle_ha(&["apply", "--yes", moved_path]));
    let found = cron_instances(&name).await;
    assert_eq!(found.len(), 1, "exactly one after the replacement");
    assert_ne!(found[0].instance_id(), Some(id.as_str()), "a new instance");
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        moved_path,
    ]));
    assert!(cron_instances(&name).await.is_empty(), "terminated");
}

/// `apply` killed right after AWS made the cron instance, before the answer arrived: the next
/// apply finds it by its tags and makes no second one (the create carried a client token and
/// its tags). The order of requests is fixed with `--concurrency 1`, so the request number of
/// `RunInstances` is read from a first, uninterrupted run of the same shape.
#[tokio::test(flavor = "multi_thread")]
async fn apply_killed_after_the_cron_instance_is_made_resumes_with_exactly_one() {
    use crate::proxy::{Behaviour, Proxy};
    use std::process::{Command, Stdio};

    // 1. Where in the run RunInstances comes.
    let probe = example_spec(&unique("cronprobe"), |t| t);
    let probe_path = probe.path.to_str().expect("path");
    let proxy = Proxy::start(endpoint(), Behaviour::Forward);
    ok(moodle_ha_at(
        proxy.url(),
        &["apply", "--yes", "--concurrency", "1", probe_path],
    ));
    let k = proxy
        .records()
        .iter()
        .find(|r| r.operation == "RunInstances")
        .map(|r| r.n)
        .expect("the run makes the cron instance");
    drop(proxy);
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        probe_path,
    ]));

    // 2. The same run, killed once RunInstances has reached AWS and its answer is held.
    let stack = example_spec(&unique("cronkill"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let proxy = Proxy::start(endpoint(), Behaviour::TripAfter(k));
    let mut child = Command::new(env!("CARGO_BIN_EXE_moodle-ha"))
        .args(["apply", "--yes", "--concurrency", "1", spec])
        .env("AWS_ENDPOINT_URL", proxy.url())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moodle-ha");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !proxy.tripped() {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "apply ended before request {k}"
        );
        assert!(std::time::Instant::now() < deadline, "never tripped");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let held = proxy
        .records()
        .into_iter()
        .find(|r| r.n == k)
        .map(|r| r.operation)
        .unwrap_or_default();
    assert_eq!(held, "RunInstances", "the run was cut where intended");
    drop(proxy);
    assert_eq!(
        cron_instances(&stack.name).await.len(),
        1,
        "AWS made the instance before the kill"
    );

    // 3. Resume: converges, still exactly one, and nothing left to do.
    ok(moodle_ha(&["apply", "--yes", spec]));
    assert_eq!(
        cron_instances(&stack.name).await.len(),
        1,
        "no second instance"
    );
    let doc = json(moodle_ha(&["plan", "--output", "json", spec]));
    assert_eq!(
        doc["changes"].as_array().map(Vec::len),
        Some(0),
        "nothing left to do: {doc:#}"
    );
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
}

/// `render` writes the four files, and with the stack applied, config.php holds the real
/// endpoints instead of the placeholders; `--offline` never calls AWS.
#[tokio::test(flavor = "multi_thread")]
async fn render_writes_the_files_with_the_stacks_endpoints_once_they_exist() {
    let stack = example_spec(&unique("render"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("before");
    let out_s = out.to_str().expect("path");
    ok(moodle_ha_at(
        "http://127.0.0.1:9",
        &["render", "--offline", spec, "--out", out_s],
    ));
    let names = [
        "web-user-data.yaml",
        "cron-user-data.yaml",
        "config.php",
        "nginx-site.conf",
    ];
    for name in names {
        assert!(out.join(name).exists(), "{name}");
    }
    let before = std::fs::read_to_string(out.join("config.php")).expect("config.php");
    assert!(before.contains("'<known after apply: database.endpoint>'"));

    ok(moodle_ha(&["apply", "--yes", spec]));
    let after_dir = dir.path().join("after");
    let after_s = after_dir.to_str().expect("path");
    let doc = json(moodle_ha(&[
        "render", "--output", "json", spec, "--out", after_s,
    ]));
    assert_eq!(doc["known_after_apply"], serde_json::json!([]), "{doc:#}");
    let after = std::fs::read_to_string(after_dir.join("config.php")).expect("config.php");
    let db = rds()
        .await
        .describe_db_instances()
        .db_instance_identifier(format!("{}-db", stack.name))
        .send()
        .await
        .expect("db");
    let endpoint = db.db_instances()[0]
        .endpoint()
        .and_then(|e| e.address())
        .expect("endpoint")
        .to_string();
    assert!(
        after.contains(&format!("$CFG->dbhost    = '{endpoint}';")),
        "{after}"
    );
    assert!(!after.contains("<known after apply: cache"));
    // The user data is the same before and after: it never holds an endpoint.
    assert_eq!(
        std::fs::read_to_string(out.join("web-user-data.yaml")).ok(),
        std::fs::read_to_string(after_dir.join("web-user-data.yaml")).ok()
    );
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
}

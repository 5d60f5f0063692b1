//! Rendered user data and the Spot interruption watcher, run against a fake metadata service
//! (stub `curl` and `aws` on PATH that log their arguments).

use super::*;
use std::path::Path;
use std::process::Command;

fn example() -> Spec {
    match crate::spec::load_str(include_str!("../../stacks/example.yaml")) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    }
}

#[derive(serde::Deserialize)]
struct CloudConfig {
    write_files: Vec<WriteFile>,
    runcmd: Vec<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct WriteFile {
    path: String,
    content: String,
}

#[test]
fn web_user_data_is_cloud_config_that_installs_the_watcher_verbatim_and_no_cron() {
    let text = web_user_data(&example()).expect("renders");
    assert!(text.starts_with("#cloud-config\n"));
    let doc: CloudConfig = serde_saphyr::from_str(&text).expect("valid YAML");
    let watcher = doc
        .write_files
        .iter()
        .find(|f| f.path == "/usr/local/sbin/moodle-ha-spot-watcher")
        .expect("watcher written");
    assert_eq!(watcher.content.trim_end(), SPOT_WATCHER.trim_end());
    assert!(
        doc.runcmd
            .iter()
            .any(|c| c.join(" ") == "systemctl enable --now moodle-ha-spot-watcher.service")
    );
    for needle in ["cron.php", "crontab", "/etc/cron.d", ".timer"] {
        assert!(!text.contains(needle), "web user data mentions {needle}");
    }
    assert!(describe_user_data(&text).starts_with("web node, placeholder"));
}

#[test]
fn user_data_descriptions_change_with_the_text() {
    let a = describe_user_data("#cloud-config\n# moodle-ha user-data: web node\nx: 1\n");
    let b = describe_user_data("#cloud-config\n# moodle-ha user-data: web node\nx: 2\n");
    assert!(a.starts_with("web node sha256:") && b.starts_with("web node sha256:"));
    assert_ne!(a, b);
    assert!(describe_user_data("#!/bin/sh\n").starts_with("not rendered by moodle-ha"));
}

/// Writes an executable stub.
fn stub(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).expect("write stub");
    let _ = Command::new("chmod").arg("+x").arg(&path).status();
}

/// Runs the watcher with stub `curl` / `aws`; `notice` is the metadata path that answers.
fn run_watcher(notice: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("calls.log");
    // Fake IMDSv2: a token from PUT /latest/api/token; metadata only with that token.
    stub(
        dir.path(),
        "curl",
        &format!(
            r#"echo "curl $*" >> '{log}'
args="$*"
for a in "$@"; do [[ $a == http* ]] && url=$a; done
if [[ $args == *"-X PUT"* && $url == */latest/api/token ]]; then echo TOKEN-1; exit 0; fi
[[ $args == *"X-aws-ec2-metadata-token: TOKEN-1"* ]] || exit 22
case "$url" in
  */meta-data/{notice}) echo '{{"action":"terminate"}}' ;;
  */meta-data/instance-id) echo i-0abc ;;
  */meta-data/placement/region) echo eu-west-1 ;;
  */meta-data/tags/instance/aws:autoscaling:groupName) echo stack-web ;;
  *) exit 22 ;;
esac"#,
            log = log.display()
        ),
    );
    stub(
        dir.path(),
        "aws",
        &format!(
            r#"echo "aws $*" >> '{log}'
if [[ $2 == describe-auto-scaling-groups ]]; then echo arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/stack-web/1; fi"#,
            log = log.display()
        ),
    );
    stub(dir.path(), "logger", "exit 0");
    // The test never waits: the first pause ends the watcher (as systemd's stop would).
    stub(dir.path(), "sleep", "kill -TERM $PPID; exit 0");
    let script = dir.path().join("watcher.sh");
    std::fs::write(&script, SPOT_WATCHER).expect("write watcher");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("bash")
        .arg(&script)
        .env("PATH", path)
        .env("MOODLE_HA_IMDS", "http://imds.test")
        .status()
        .expect("run bash");
    (
        status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn the_watcher_leaves_the_target_group_on_an_interruption_or_rebalance_notice() {
    for notice in ["spot/instance-action", "events/recommendations/rebalance"] {
        let (left, calls) = run_watcher(notice);
        assert!(left, "{notice}: the watcher exits once out\n{calls}");
        let lines: Vec<&str> = calls.lines().collect();
        // A session token first, then every metadata read carries it.
        assert!(
            lines[0].contains("-X PUT http://imds.test/latest/api/token")
                && lines[0].contains("X-aws-ec2-metadata-token-ttl-seconds: 300"),
            "{calls}"
        );
        for l in lines.iter().filter(|l| l.contains("/latest/meta-data/")) {
            assert!(l.contains("X-aws-ec2-metadata-token: TOKEN-1"), "{l}");
        }
        assert!(
            calls.contains(&format!("http://imds.test/latest/meta-data/{notice}")),
            "{calls}"
        );
        assert!(
            calls.contains("aws elbv2 deregister-targets --region eu-west-1 --target-group-arn arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/stack-web/1 --targets Id=i-0abc"),
            "{calls}"
        );
    }
}

#[test]
fn without_a_notice_the_watcher_keeps_the_node_in_service() {
    let (left, calls) = run_watcher("nothing-answers-here");
    assert!(!left, "still watching when stopped\n{calls}");
    assert!(calls.contains("meta-data/spot/instance-action"), "{calls}");
    assert!(
        calls.contains("meta-data/events/recommendations/rebalance"),
        "{calls}"
    );
    assert!(!calls.contains("deregister-targets"), "{calls}");
}

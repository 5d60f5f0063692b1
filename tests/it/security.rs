//! Issue 20's controls (part A) on the emulator, read back as Prowler reads them: after
//! `apply` of the example each is on; switched off behind the tool's back it is drift (`drift`
//! exits 2 naming it), `apply` repairs it in place, and the next plan is empty.

use crate::harness::*;

async fn logs() -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&config_for_tests().await)
}

/// The log groups under `prefix`: name, retention, and the `moodle-ha:resource` tag.
async fn log_groups(prefix: &str) -> Vec<(String, Option<i32>, Option<String>)> {
    let client = logs().await;
    let groups = client
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .send()
        .await
        .expect("DescribeLogGroups");
    let mut out = Vec::new();
    for g in groups.log_groups() {
        let arn = g.log_group_arn().expect("logGroupArn");
        let tags = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource");
        out.push((
            g.log_group_name().expect("name").to_string(),
            g.retention_in_days(),
            tags.tags()
                .and_then(|t| t.get("moodle-ha:resource"))
                .cloned(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_databases_log_groups_keep_the_specs_retention_and_go_with_the_stack() {
    let stack = example_spec(&unique("logs"), |t| {
        t.replace("retention_days: 90", "retention_days: 14")
    });
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    ok(moodle_ha(&["apply", "--yes", spec]));
    let prefix = format!("/aws/rds/instance/{name}-db/");
    let group = |log: &str, days: Option<i32>| {
        (
            format!("{prefix}{log}"),
            days,
            Some(format!("log-group/rds-{log}")),
        )
    };
    assert_eq!(
        log_groups(&prefix).await,
        [group("error", Some(14)), group("slowquery", Some(14))]
    );

    // Retention removed behind the tool's back: the events would be kept (and paid) forever.
    logs()
        .await
        .delete_retention_policy()
        .log_group_name(format!("{prefix}error"))
        .send()
        .await
        .expect("DeleteRetentionPolicy");
    let drift = moodle_ha(&["drift", spec]);
    assert_eq!(drift.status.code(), Some(2), "{}", stdout(&drift));
    let report = stdout(&drift);
    assert!(
        report.contains("log-group/rds-error") && report.contains("retention_days"),
        "{report}"
    );
    ok(moodle_ha(&["apply", "--yes", spec]));
    assert_eq!(log_groups(&prefix).await[0], group("error", Some(14)));
    let clean = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));

    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
    assert_eq!(
        log_groups(&prefix).await,
        [],
        "destroy deletes the log groups"
    );
}

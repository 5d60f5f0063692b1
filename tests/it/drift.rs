//! Drift against the emulator: changes made behind the tool's back with plain SDK calls are
//! each reported exactly (and an untagged stray is not), apply repairs them, drift is then
//! clean. Saved plans are refused once stale; `--only web.scaling` touches nothing else.

use crate::harness::*;
use crate::web_tier::{autoscaling, elbv2};
use serde_json::Value;
use std::path::Path;

/// The report with the stack's name and AWS IDs replaced, for a stable snapshot.
fn normalized(doc: &Value, stack: &str) -> Value {
    let mut report = doc.clone();
    if let Some(map) = report.as_object_mut() {
        map.remove("api_calls");
    }
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    let text = text.replace(stack, "STACK");
    let re = regex::Regex::new(r"(sg|subnet|vpc|fs|fsmt)-[0-9a-f]{8,17}").expect("regex");
    let text = re.replace_all(&text, "$1-ID").into_owned();
    let arn = regex::Regex::new(r#"arn:aws:[^"]+"#).expect("regex");
    let text = arn.replace_all(&text, "ARN").into_owned();
    serde_json::from_str(&text).expect("still JSON")
}

fn snapshot(name: &str, value: &Value) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/it/snapshots/{name}.json"));
    let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &text).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert_eq!(
        text, expected,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 rewrites it)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_behind_the_tools_back_are_reported_repaired_and_gone() {
    let stack = example_spec(&unique("drift"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    ok(moodle_ha(&["apply", "--yes", spec]));
    let clean = moodle_ha(&["drift", spec]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));

    // Behind the tool's back, with plain SDK calls.
    let elb = elbv2().await;
    let tg_arn = elb
        .describe_target_groups()
        .names(format!("{name}-web"))
        .send()
        .await
        .expect("tg")
        .target_groups()[0]
        .target_group_arn()
        .expect("arn")
        .to_string();
    elb.modify_target_group_attributes()
        .target_group_arn(&tg_arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("300")
                .build(),
        )
        .send()
        .await
        .expect("deregistration delay");
    let asg = autoscaling().await;
    let group = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{name}-web"))
        .send()
        .await
        .expect("group");
    let mut policy = group.auto_scaling_groups()[0]
        .mixed_instances_policy()
        .expect("policy")
        .clone();
    let template = policy.launch_template().expect("template").clone();
    let fewer = aws_sdk_autoscaling::types::LaunchTemplate::builder()
        .launch_template_specification(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .set_launch_template_id(
                    template
                        .launch_template_specification()
                        .and_then(|s| s.launch_template_id())
                        .map(str::to_string),
                )
                .set_version(
                    template
                        .launch_template_specification()
                        .and_then(|s| s.version())
                        .map(str::to_string),
                )
                .build(),
        )
        .set_overrides(Some(template.overrides()[..3].to_vec()))
        .build();
    policy = aws_sdk_autoscaling::types::MixedInstancesPolicy::builder()
        .launch_template(fewer)
        .set_instances_distribution(policy.instances_distribution().cloned())
        .build();
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(format!("{name}-web"))
        .max_size(12)
        .mixed_instances_policy(policy)
        .send()
        .await
        .expect("max and types");
    let ec2 = ec2().await;
    let groups = ec2
        .describe_security_groups()
        .filters(stack_filter(&name))
        .send()
        .await
        .expect("groups");
    let db_sg = groups
        .security_groups()
        .iter()
        .find(|g| g.group_name() == Some(format!("{name}-db").as_str()))
        .expect("db group");
    let vpc = db_sg.vpc_id().expect("vpc").to_string();
    ec2.authorize_security_group_ingress()
        .group_id(db_sg.group_id().expect("id"))
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3306)
                .to_port(3306)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("10.0.0.0/8")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("extra rule");
    elasticache()
        .await
        .increase_replica_count()
        .replication_group_id(format!("{name}-redis"))
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .expect("replicas");
    let efs = efs().await;
    let fs_id = stack_file_systems(&name).await[0]
        .file_system_id()
        .to_string();
    efs.update_file_system()
        .file_system_id(&fs_id)
        .throughput_mode(aws_sdk_efs::types::ThroughputMode::Bursting)
        .send()
        .await
        .expect("throughput");
    let mounts = efs
        .describe_mount_targets()
        .file_system_id(&fs_id)
        .send()
        .await
        .expect("mounts");
    let mount_a = mounts
        .mount_targets()
        .iter()
        .find(|m| m.availability_zone_name() == Some("eu-west-1a"))
        .expect("mount in a")
        .mount_target_id()
        .to_string();
    efs.delete_mount_target()
        .mount_target_id(&mount_a)
        .send()
        .await
        .expect("delete mount");
    rds()
        .await
        .modify_db_instance()
        .db_instance_identifier(format!("{name}-db"))
        .backup_retention_period(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("retention");
    ec2.create_security_group()
        .group_name(format!("{name}-by-hand"))
        .description("made in the console, untagged")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("untagged stray");
    ec2.create_security_group()
        .group_name(format!("{name}-tagged-by-hand"))
        .description("made in the console, tagged for the stack")
        .vpc_id(&vpc)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("moodle-ha:stack")
                        .value(&name)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("tagged stray");

    // Drift names each change exactly, and not the untagged group.
    let drift = moodle_ha(&["drift", "--output", "json", spec]);
    assert_eq!(drift.status.code(), Some(2), "{}", stderr(&drift));
    let doc: Value = serde_json::from_str(&stdout(&drift)).expect("JSON");
    let found: Vec<(String, String, Vec<String>)> = doc["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let key = r["key"].as_str().unwrap_or_default();
            let key = if key.starts_with("security-group/stray-") {
                "security-group/stray-<id>"
            } else {
                key
            };
            (
                key.to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
                r["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|x| x["field"].as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect();
    let s = |v: &str| v.to_string();
    assert_eq!(
        found,
        vec![
            (s("security-group/stray-<id>"), s("unmanaged"), vec![]),
            (
                s("security-group-rules/db"),
                s("drifted"),
                vec![s("ingress")]
            ),
            (
                s("file-system/moodledata"),
                s("drifted"),
                vec![s("throughput_mode")]
            ),
            (s("mount-target/eu-west-1a"), s("missing"), vec![]),
            (
                s("db-instance/main"),
                s("drifted"),
                vec![s("backup_retention_days")]
            ),
            (
                s("replication-group/main"),
                s("drifted"),
                vec![s("replicas")]
            ),
            (
                s("target-group/web"),
                s("drifted"),
                vec![s("deregistration_delay_seconds")]
            ),
            (
                s("auto-scaling-group/web"),
                s("drifted"),
                vec![s("instance_types"), s("max_size")]
            ),
        ]
    );
    assert!(
        !stdout(&drift).contains("by-hand\""),
        "the untagged group is not the stack's"
    );
    snapshot("drift", &normalized(&doc, &name));
    let text = stdout(&moodle_ha(&["drift", spec]));
    assert!(
        text.contains("deregistration_delay_seconds: expected 120, actual 300"),
        "{text}"
    );

    // A saved plan goes stale when AWS changes under it.
    let dir = tempfile::tempdir().expect("dir");
    let saved = dir.path().join("repair.json");
    let saved = saved.to_str().expect("path");
    ok(moodle_ha(&["plan", "--out", saved, spec]));
    elb.modify_target_group_attributes()
        .target_group_arn(&tg_arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("90")
                .build(),
        )
        .send()
        .await
        .expect("deregistration delay again");
    let stale = moodle_ha(&["apply", "--yes", saved]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(stderr(&stale).contains("stale plan"), "{}", stderr(&stale));

    // A fresh saved plan is applied exactly, and repairs everything.
    ok(moodle_ha(&["plan", "--out", saved, spec]));
    ok(moodle_ha(&["apply", "--yes", saved]));
    let repaired = moodle_ha(&["drift", spec]);
    assert_eq!(repaired.status.code(), Some(0), "{}", stdout(&repaired));
    let left = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values(format!("{name}-by-hand"))
                .build(),
        )
        .send()
        .await
        .expect("groups");
    assert_eq!(
        left.security_groups().len(),
        1,
        "the untagged group is left alone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_web_scaling_changes_the_fleet_size_and_policies_and_nothing_else() {
    let stack = example_spec(&unique("only"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    ok(moodle_ha(&["apply", "--yes", spec]));
    let edited = example_spec(&name, |t| {
        t.replace("cpu_target_percent: 60", "cpu_target_percent: 45")
            .replace("  max: 8\n", "  max: 9\n")
            .replace(
                "instance_class: db.r6g.large",
                "instance_class: db.r6g.xlarge",
            )
            .replace("replicas: 1", "replicas: 2")
    });
    let edited_path = edited.path.to_str().expect("path");
    let doc = json(moodle_ha(&[
        "plan",
        "--only",
        "web.scaling",
        "--output",
        "json",
        edited_path,
    ]));
    let keys: Vec<&str> = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert_eq!(keys, ["auto-scaling-group/web", "scaling-policy/cpu"]);
    ok(moodle_ha(&[
        "apply",
        "--yes",
        "--only",
        "web.scaling",
        edited_path,
    ]));
    let group = autoscaling()
        .await
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{name}-web"))
        .send()
        .await
        .expect("group");
    assert_eq!(group.auto_scaling_groups()[0].max_size(), Some(9));
    let db = rds()
        .await
        .describe_db_instances()
        .db_instance_identifier(format!("{name}-db"))
        .send()
        .await
        .expect("db");
    let db = &db.db_instances()[0];
    assert_eq!(db.db_instance_class(), Some("db.r6g.large"));
    assert!(
        db.pending_modified_values()
            .and_then(|p| p.db_instance_class())
            .is_none()
    );
    let rg = elasticache()
        .await
        .describe_replication_groups()
        .replication_group_id(format!("{name}-redis"))
        .send()
        .await
        .expect("redis");
    assert_eq!(
        rg.replication_groups()[0].member_clusters().len(),
        2,
        "cache untouched"
    );
    // What is left for a full apply: the database and the cache only.
    let rest = json(moodle_ha(&["plan", "--output", "json", edited_path]));
    let keys: Vec<&str> = rest["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert_eq!(keys, ["db-instance/main", "replication-group/main"]);
    let bad = moodle_ha(&["plan", "--only", "everything", spec]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("web.scaling"), "{}", stderr(&bad));
}

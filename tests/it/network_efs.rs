//! Apply from empty creates the network, least-privilege security groups, the file system and
//! a mount target per private AZ; a second plan is empty; destroy leaves nothing tagged.

use crate::harness::*;
use std::collections::{BTreeMap, BTreeSet};

/// `(direction, protocol, port, peer)` with peers named by role (`sg:web`) or CIDR.
type RuleSet = BTreeSet<(String, String, i32, String)>;

async fn rules_by_role(stack: &str) -> BTreeMap<String, RuleSet> {
    let ec2 = ec2().await;
    let groups = ec2
        .describe_security_groups()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("describe sgs");
    let role_of_id: BTreeMap<String, String> = groups
        .security_groups()
        .iter()
        .map(|g| {
            (
                g.group_id().unwrap_or_default().to_string(),
                g.group_name()
                    .unwrap_or_default()
                    .trim_start_matches(&format!("{stack}-"))
                    .to_string(),
            )
        })
        .collect();
    let mut out = BTreeMap::new();
    for g in groups.security_groups() {
        let mut set = RuleSet::new();
        for (dir, perms) in [
            ("in", g.ip_permissions()),
            ("out", g.ip_permissions_egress()),
        ] {
            for p in perms {
                let proto = p.ip_protocol().unwrap_or_default().to_string();
                let port = p.from_port().unwrap_or(-1);
                assert_eq!(p.from_port(), p.to_port(), "single ports only");
                for r in p.ip_ranges() {
                    set.insert((
                        dir.into(),
                        proto.clone(),
                        port,
                        r.cidr_ip().unwrap_or_default().to_string(),
                    ));
                }
                for pair in p.user_id_group_pairs() {
                    let role = role_of_id
                        .get(pair.group_id().unwrap_or_default())
                        .cloned()
                        .unwrap_or_else(|| "foreign".into());
                    set.insert((dir.into(), proto.clone(), port, format!("sg:{role}")));
                }
            }
        }
        out.insert(role_of_id[g.group_id().unwrap_or_default()].clone(), set);
    }
    out
}

fn rules(list: &[(&str, &str, i32, &str)]) -> RuleSet {
    list.iter()
        .map(|(d, p, port, peer)| (d.to_string(), p.to_string(), *port, peer.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_the_network_and_file_system_then_plan_is_empty_and_destroy_clears_it() {
    let stack = example_spec(&unique("it-net"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");

    let out = ok(moodle_ha(&["apply", "--yes", spec]));
    assert!(out.contains("65 to add"), "{out}");
    assert!(out.contains("Done: 65 steps succeeded, 0 failed"), "{out}");

    // Network: one VPC, a public and a private subnet in each of three AZs, gateways, routes.
    let counts: BTreeMap<_, _> = tagged_counts(&stack.name).await.into_iter().collect();
    assert_eq!(counts["vpc"], 1);
    assert_eq!(counts["subnet"], 6);
    assert_eq!(counts["internet-gateway"], 1);
    assert_eq!(counts["nat-gateway"], 3);
    assert_eq!(counts["elastic-ip"], 3);
    assert_eq!(counts["route-table"], 4);
    assert_eq!(counts["security-group"], 6);
    assert_eq!(counts["file-system"], 1);

    let ec2 = ec2().await;
    let subnets = ec2
        .describe_subnets()
        .filters(stack_filter(&stack.name))
        .send()
        .await
        .expect("subnets");
    let tier = |s: &aws_sdk_ec2::types::Subnet| {
        s.tags()
            .iter()
            .find(|t| t.key() == Some("moodle-ha:resource"))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let private: BTreeMap<String, String> = subnets
        .subnets()
        .iter()
        .filter(|s| tier(s).starts_with("subnet/private-"))
        .map(|s| {
            (
                s.subnet_id().unwrap_or_default().to_string(),
                s.availability_zone().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        private.values().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["eu-west-1a", "eu-west-1b", "eu-west-1c"].map(String::from))
    );

    // Least-privilege security groups, rule for rule.
    let got = rules_by_role(&stack.name).await;
    let expected: BTreeMap<String, RuleSet> = [
        (
            "alb",
            rules(&[
                ("in", "tcp", 443, "0.0.0.0/0"),
                ("in", "tcp", 80, "0.0.0.0/0"),
                ("out", "tcp", 80, "sg:web"),
            ]),
        ),
        (
            "web",
            rules(&[("in", "tcp", 80, "sg:alb"), ("out", "-1", -1, "0.0.0.0/0")]),
        ),
        ("cron", rules(&[("out", "-1", -1, "0.0.0.0/0")])),
        (
            "db",
            rules(&[
                ("in", "tcp", 3306, "sg:web"),
                ("in", "tcp", 3306, "sg:cron"),
            ]),
        ),
        (
            "redis",
            rules(&[
                ("in", "tcp", 6379, "sg:web"),
                ("in", "tcp", 6379, "sg:cron"),
            ]),
        ),
        (
            "efs",
            rules(&[
                ("in", "tcp", 2049, "sg:web"),
                ("in", "tcp", 2049, "sg:cron"),
            ]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, expected);

    // The file system: encrypted, elastic, lifecycle, backups; one mount target per private AZ.
    let efs = efs().await;
    let fs = stack_file_systems(&stack.name)
        .await
        .into_iter()
        .next()
        .expect("the stack's file system");
    assert_eq!(fs.encrypted(), Some(true));
    assert_eq!(fs.throughput_mode().map(|t| t.as_str()), Some("elastic"));
    assert_eq!(fs.performance_mode().as_str(), "generalPurpose");
    let lifecycle = efs
        .describe_lifecycle_configuration()
        .file_system_id(fs.file_system_id())
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(lifecycle.lifecycle_policies().len(), 2);
    let backup = efs
        .describe_backup_policy()
        .file_system_id(fs.file_system_id())
        .send()
        .await
        .expect("backup policy");
    assert_eq!(
        backup.backup_policy().map(|b| b.status().as_str()),
        Some("ENABLED")
    );
    let mounts = efs
        .describe_mount_targets()
        .file_system_id(fs.file_system_id())
        .send()
        .await
        .expect("mount targets");
    let mount_azs: Vec<String> = mounts
        .mount_targets()
        .iter()
        .map(|m| m.availability_zone_name().unwrap_or_default().to_string())
        .collect();
    assert_eq!(mount_azs.len(), 3);
    assert_eq!(
        mount_azs.iter().cloned().collect::<BTreeSet<_>>().len(),
        3,
        "one per AZ: {mount_azs:?}"
    );
    let efs_sg = ec2
        .describe_security_groups()
        .filters(stack_filter(&stack.name))
        .send()
        .await
        .expect("sgs")
        .security_groups()
        .iter()
        .find(|g| g.group_name() == Some(&format!("{}-efs", stack.name)))
        .and_then(|g| g.group_id().map(str::to_string))
        .expect("efs group");
    for m in mounts.mount_targets() {
        assert!(
            private.contains_key(m.subnet_id()),
            "mount target in a private subnet"
        );
        let groups = efs
            .describe_mount_target_security_groups()
            .mount_target_id(m.mount_target_id())
            .send()
            .await
            .expect("mt sgs");
        assert_eq!(groups.security_groups(), [efs_sg.clone()]);
    }

    // A second plan has nothing to do, and says so with exit code 0.
    let again = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}{}",
        stdout(&again),
        stderr(&again)
    );
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));
    let second_apply = ok(moodle_ha(&["apply", "--yes", spec]));
    assert!(second_apply.contains("No changes"), "{second_apply}");

    // Destroy asks first; with --yes it leaves nothing carrying the stack's tag.
    let refused = moodle_ha(&["destroy", spec]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        tagged_counts(&stack.name)
            .await
            .iter()
            .map(|(_, n)| n)
            .sum::<usize>(),
        25,
        "nothing deleted without confirmation"
    );
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
    let left: Vec<_> = tagged_counts(&stack.name)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let plan_after = ok(moodle_ha(&["plan", spec]));
    assert!(plan_after.contains("65 to add"), "{plan_after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_json_is_versioned_and_counts_changes_and_requests() {
    let stack = example_spec(&unique("it-json"), |t| t);
    let out = ok(moodle_ha(&[
        "--output",
        "json",
        "plan",
        stack.path.to_str().expect("path"),
    ]));
    let doc: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["stack"], stack.name.as_str());
    assert_eq!(doc["summary"]["create"], 65);
    assert_eq!(doc["changes"].as_array().map(Vec::len), Some(65));
    assert!(
        doc["api_calls"]["total"].as_u64().unwrap_or(0) >= 8,
        "{}",
        doc["api_calls"]
    );
}

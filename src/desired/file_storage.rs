//! File storage: the EFS file system for moodledata and one mount target per private AZ.

use super::node_role::node_role_arn;
use super::{Facts, Part, json_name};
use crate::model::{FileSystemProps, Kind, MountTargetProps, Policy, Props, Ref, Set};
use crate::spec::Spec;
use serde_json::json;

/// The file-system policy (statements without `Resource`, which is the file system itself):
/// nothing without TLS; the node roles may mount and write, the cron instance's also as root
/// (it gives moodledata to the web user); no other principal may mount at all, so a client
/// must mount with IAM as one of them. Management calls are untouched (no lockout). With
/// `web_role: None` (the spec names its own instance profile, whose role is unknown) only the
/// cron role is named and no one else is shut out: that role's own policy must allow mounting.
pub fn file_system_policy(cron_role: &str, web_role: Option<&str>) -> Policy {
    let mut mounters = vec![cron_role.to_string()];
    mounters.extend(web_role.map(str::to_string));
    // One principal is written as a string, as IAM writes it back.
    let mounters = if mounters.len() == 1 {
        json!(cron_role)
    } else {
        json!(mounters)
    };
    let client = [
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientWrite",
        "elasticfilesystem:ClientRootAccess",
    ];
    let mut statements = vec![
        json!({
            "Sid": "DenyWithoutTls",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }),
        json!({
            "Sid": "NodesMountAndWrite",
            "Effect": "Allow",
            "Principal": {"AWS": mounters.clone()},
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
        }),
        json!({
            "Sid": "CronOwnsMoodledata",
            "Effect": "Allow",
            "Principal": {"AWS": cron_role},
            "Action": "elasticfilesystem:ClientRootAccess"
        }),
    ];
    if web_role.is_some() {
        statements.push(json!({
            "Sid": "OnlyTheNodesMount",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": client,
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": mounters}}
        }));
    }
    Policy::new(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The file system and its mount targets.
pub(super) fn file_storage(spec: &Spec, facts: &Facts, private: &[(String, Ref)]) -> Part {
    let mut out = Part::default();
    let fs = &spec.file_storage;
    let account = facts.account.as_deref().unwrap_or_default();
    let role = |node: &str| node_role_arn(&spec.region, account, &spec.name, node);
    let managed_web_role = spec.web.instance_profile.is_none();
    let web_role = managed_web_role.then(|| role("web"));
    let mut policy_roles = vec![Ref::to(Kind::IamRole, "cron")];
    if managed_web_role {
        policy_roles.push(Ref::to(Kind::IamRole, "web"));
    }
    out.add(
        Kind::FileSystem,
        crate::names::FILE_SYSTEM,
        Props::FileSystem(FileSystemProps {
            encrypted: true,
            kms_key_id: fs.kms_key_id.clone(),
            performance_mode: json_name(&fs.performance_mode),
            throughput_mode: json_name(&fs.throughput_mode),
            provisioned_throughput_mibps: fs.provisioned_throughput_mibps,
            transition_to_ia: fs.transition_to_ia.clone(),
            transition_to_primary_storage_class: fs.transition_to_primary_storage_class.clone(),
            backup: fs.backup,
            policy: file_system_policy(&role("cron"), web_role.as_deref()),
            policy_roles: Set::new(policy_roles),
        }),
    );
    let mut seen_azs = std::collections::BTreeSet::new();
    for (az, subnet) in private {
        if !seen_azs.insert(az.clone()) {
            continue; // EFS allows one mount target per AZ
        }
        out.add(
            Kind::MountTarget,
            az,
            Props::MountTarget(MountTargetProps {
                file_system: Ref::to(Kind::FileSystem, crate::names::FILE_SYSTEM),
                subnet: subnet.clone(),
                security_groups: Set::new([Ref::to(Kind::SecurityGroup, "efs")]),
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_system_policy_requires_tls_and_lets_only_the_node_roles_mount() {
        let policy = file_system_policy("arn:cron", Some("arn:web")).canonical();
        let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
        let by_sid = |sid: &str| {
            statements
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            by_sid("DenyWithoutTls")["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
        assert_eq!(
            by_sid("NodesMountAndWrite")["Principal"]["AWS"],
            json!(["arn:cron", "arn:web"])
        );
        assert_eq!(by_sid("CronOwnsMoodledata")["Principal"]["AWS"], "arn:cron");
        assert_eq!(
            by_sid("OnlyTheNodesMount")["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
            json!(["arn:cron", "arn:web"])
        );
        // Nothing allows everyone, and nothing touches the management API (no lockout).
        for s in &statements {
            if s["Effect"] == "Allow" {
                assert_ne!(s["Principal"]["AWS"], "*");
            }
            assert!(s.get("Resource").is_none());
        }
        // An instance profile of the operator's: its role is unknown, so nobody is shut out.
        let own = file_system_policy("arn:cron", None).canonical();
        assert!(
            !own["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["Sid"] == "OnlyTheNodesMount")
        );
    }
}

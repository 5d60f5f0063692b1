//! The IAM role and instance profile of one kind of node (web or cron): EC2 may assume the
//! role, every node gets the same AWS managed policies, and each kind its own inline policy.

use super::Part;
use crate::model::{IamRoleProps, InstanceProfileProps, Kind, Props, Ref};

/// AWS managed policies every node gets: SSM Session Manager and the CloudWatch agent.
pub const NODE_MANAGED_POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
];

/// The trust policy of an EC2 instance role.
pub fn ec2_trust_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The trust policy of a role AWS service `service` assumes on the stack's behalf, pinned to
/// the stack's account when it is known (`aws:SourceAccount`, and `source_arn` when given):
/// another account cannot get the service to act with this role (the cross-service confused
/// deputy).
pub fn service_trust_policy(
    service: &str,
    account: Option<&str>,
    source_arn: Option<String>,
) -> serde_json::Value {
    let mut statement = serde_json::json!({
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole"
    });
    let mut condition = serde_json::Map::new();
    if let Some(account) = account {
        condition.insert(
            "StringEquals".into(),
            serde_json::json!({ "aws:SourceAccount": account }),
        );
    }
    if let Some(arn) = source_arn {
        condition.insert(
            "ArnLike".into(),
            serde_json::json!({ "aws:SourceArn": arn }),
        );
    }
    if !condition.is_empty() {
        statement["Condition"] = serde_json::Value::Object(condition);
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": [statement]})
}

/// The ARN of node role `node` (`web`, `cron`) of `stack` in `account`, with its path, as
/// resource policies name it (and as `aws:PrincipalArn` reads for its sessions).
pub fn node_role_arn(region: &str, account: &str, stack: &str, node: &str) -> String {
    format!(
        "arn:{}:iam::{account}:role/moodle-ha/{stack}/{stack}-{node}-role",
        crate::names::partition(region)
    )
}

/// The role `<stack>-<node>-role` with `inline_policy`, and its profile
/// `<stack>-<node>-profile`, both under the path `/moodle-ha/<stack>/`, as resources
/// `iam-role/<node>` and `instance-profile/<node>`.
pub(super) fn node_role(
    out: &mut Part,
    stack: &str,
    node: &str,
    what: &str,
    inline_policy: serde_json::Value,
) -> Ref {
    let path = format!("/moodle-ha/{stack}/");
    out.add(
        Kind::IamRole,
        node,
        Props::IamRole(IamRoleProps {
            name: format!("{stack}-{node}-role"),
            path: path.clone(),
            description: format!("moodle-ha {stack}: {what}"),
            assume_role_policy: ec2_trust_policy().into(),
            managed_policies: NODE_MANAGED_POLICIES
                .iter()
                .map(|p| p.to_string())
                .collect(),
            inline_policy: inline_policy.into(),
        }),
    );
    out.add(
        Kind::InstanceProfile,
        node,
        Props::InstanceProfile(InstanceProfileProps {
            name: format!("{stack}-{node}-profile"),
            path,
            role: Ref::to(Kind::IamRole, node),
        }),
    );
    Ref::to(Kind::InstanceProfile, node)
}

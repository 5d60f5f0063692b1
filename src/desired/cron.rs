//! The cron instance: its role, profile, generated secrets and the one on-demand instance.

use super::node_role::node_role;
use super::web::find_the_stacks_endpoints;
use super::{Facts, Part};
use crate::model::{InstanceProps, Kind, Props, Ref, SecretProps, Set};
use crate::names::{AGENT_OUTPUT_PREFIX, AGENT_RESULTS_PREFIX, partition};
use crate::spec::Spec;

/// The inline policy of the cron instance's role: the stack's own secrets (tagged), the RDS
/// managed master secret of the stack's database (tagged by RDS with the database's ARN), the
/// describes that find the database, Redis and the file system by name, the file system
/// with root access (the cron instance gives moodledata to the web user), and the agent's
/// exchange with the CLI ([`agent_statements`]).
pub fn cron_node_policy(stack: &str, region: &str, bucket: &str) -> serde_json::Value {
    let names = crate::names::Names::of(stack);
    let release = super::release::read_the_release(stack, region, bucket);
    let agent = agent_statements(stack, region, bucket);
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadTheStacksSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": "*",
                "Condition": {"StringEquals": {"secretsmanager:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "ReadTheDatabasesMasterSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": format!("arn:aws:secretsmanager:{region}:*:secret:rds!*"),
                // Also the one a rollback's restore made under its temporary `-rb-` name
                // (renamed to the original since; never the one set aside, `-upgraded-`).
                "Condition": {"StringLike": {
                    "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": [
                        format!("arn:aws:rds:{region}:*:db:{}", names.db_instance()),
                        format!("arn:aws:rds:{region}:*:db:{}-rb-*", names.db_instance()),
                    ],
                }}
            },
            {
                "Sid": "ReadTheClustersMasterSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": format!("arn:aws:secretsmanager:{region}:*:secret:rds!*"),
                "Condition": {"StringLike": {
                    "secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn": [
                        format!("arn:aws:rds:{region}:*:cluster:{}", names.db_cluster()),
                        format!("arn:aws:rds:{region}:*:cluster:{}-rb-*", names.db_cluster()),
                    ],
                }}
            },
            find_the_stacks_endpoints(),
            release[0],
            release[1],
            agent[0],
            agent[1],
            {
                "Sid": "MountMoodledataAndOwnIt",
                "Effect": "Allow",
                "Action": [
                    "elasticfilesystem:ClientMount",
                    "elasticfilesystem:ClientWrite",
                    "elasticfilesystem:ClientRootAccess"
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            }
        ]
    })
}

/// What the cron instance's agent (`userdata/agent.sh`) needs and nothing more: read the
/// request parameter, and write results and output under their two prefixes of the stack
/// bucket (no read, list or delete there).
fn agent_statements(stack: &str, region: &str, bucket: &str) -> [serde_json::Value; 2] {
    let names = crate::names::Names::of(stack);
    let partition = partition(region);
    [
        serde_json::json!({
            "Sid": "ReadTheAgentsRequests",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": format!("arn:{partition}:ssm:{region}:*:parameter{}", names.agent_parameter())
        }),
        serde_json::json!({
            "Sid": "WriteTheAgentsResults",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": [
                format!("arn:{partition}:s3:::{bucket}/{AGENT_RESULTS_PREFIX}*"),
                format!("arn:{partition}:s3:::{bucket}/{AGENT_OUTPUT_PREFIX}*")
            ]
        }),
    ]
}

/// The cron instance, its role and instance profile, and the secrets generated for Moodle
/// (the database user's password, the admin's password).
pub(super) fn cron_tier(spec: &Spec, facts: &Facts, private: &[Ref]) -> Part {
    let mut out = Part::default();
    let stack = &spec.name;
    let names = crate::names::Names::of(stack);
    for (name, what) in [
        ("db-user", "Moodle's database user password (generated)"),
        ("admin", "Moodle's admin password (generated)"),
    ] {
        out.add(
            Kind::Secret,
            name,
            Props::Secret(SecretProps {
                name: names.secret(name),
                description: format!("moodle-ha {stack}: {what}"),
                policy: super::secrets::policy_of(spec, facts, name),
            }),
        );
    }
    let profile = node_role(
        &mut out,
        stack,
        "cron",
        "the cron instance",
        cron_node_policy(stack, &spec.region, &super::bucket_name(spec, facts)),
    );
    let ami = spec.cron.ami.as_ref().unwrap_or(&spec.web.ami);
    let (image_id, root_device_name) = match facts.images.get(ami) {
        Some(image) => (image.id.clone(), image.root_device_name.clone()),
        None => (ami.clone(), "/dev/sda1".into()),
    };
    let user_data = crate::render::cron_user_data(spec)
        .unwrap_or_else(|e| format!("#cloud-config\n# moodle-ha user-data: {e}\n"));
    let Some(subnet) = private.first() else {
        return out;
    };
    out.add(
        Kind::Instance,
        "cron",
        Props::Instance(InstanceProps {
            image_id,
            instance_type: spec.cron.instance_type.clone(),
            subnet: subnet.clone(),
            security_groups: Set::new([Ref::to(Kind::SecurityGroup, "cron")]),
            instance_profile: profile,
            http_tokens: "required".into(),
            http_put_response_hop_limit: 1,
            root_device_name,
            root_volume_gib: spec.cron.root_volume_gib,
            root_volume_type: "gp3".into(),
            root_volume_encrypted: true,
            detailed_monitoring: true,
            user_data: crate::render::describe_user_data(&user_data),
            user_data_text: Some(user_data),
        }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements of `policy` that allow `action`, with their resources.
    fn allowing(policy: &serde_json::Value, action: &str) -> Vec<String> {
        let mut out = Vec::new();
        for s in policy["Statement"].as_array().into_iter().flatten() {
            let actions: Vec<&str> = match &s["Action"] {
                serde_json::Value::String(a) => vec![a.as_str()],
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
                _ => Vec::new(),
            };
            if s["Effect"] != "Allow" || !actions.iter().any(|a| *a == action) {
                continue;
            }
            match &s["Resource"] {
                serde_json::Value::String(r) => out.push(r.clone()),
                serde_json::Value::Array(r) => {
                    out.extend(r.iter().filter_map(|x| x.as_str().map(str::to_string)))
                }
                _ => {}
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_cron_role_reads_the_agents_requests_and_writes_only_its_results_and_output() {
        let cron = cron_node_policy("s", "eu-west-1", "bucket");
        assert_eq!(
            allowing(&cron, "ssm:GetParameter"),
            [
                "arn:aws:ssm:eu-west-1:*:parameter/moodle-ha/s/agent",
                "arn:aws:ssm:eu-west-1:*:parameter/moodle-ha/s/release",
            ]
        );
        assert_eq!(
            allowing(&cron, "s3:PutObject"),
            [
                "arn:aws:s3:::bucket/agent/output/*",
                "arn:aws:s3:::bucket/agent/results/*",
            ]
        );
        assert_eq!(
            allowing(&cron, "s3:GetObject"),
            ["arn:aws:s3:::bucket/releases/*"]
        );
        for action in [
            "ssm:PutParameter",
            "s3:DeleteObject",
            "s3:ListBucket",
            "s3:*",
            "ssm:*",
        ] {
            assert!(allowing(&cron, action).is_empty(), "{action}");
        }
        // Another partition's ARNs.
        let cn = cron_node_policy("s", "cn-north-1", "bucket");
        assert!(
            allowing(&cn, "s3:PutObject")
                .iter()
                .all(|r| r.starts_with("arn:aws-cn:s3:::bucket/agent/"))
        );
    }

    #[test]
    fn the_web_role_gets_nothing_of_the_agents() {
        let web = crate::desired::web_node_policy("s", "eu-west-1", "bucket");
        assert_eq!(
            allowing(&web, "ssm:GetParameter"),
            ["arn:aws:ssm:eu-west-1:*:parameter/moodle-ha/s/release"]
        );
        // A web node writes only its boot report (no read, list or delete there).
        assert_eq!(
            allowing(&web, "s3:PutObject"),
            ["arn:aws:s3:::bucket/nodes/*"]
        );
        assert!(allowing(&web, "s3:DeleteObject").is_empty());
        let text = web.to_string();
        assert!(!text.contains("agent"), "{text}");
    }
}

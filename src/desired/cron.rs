//! The cron instance: its role, profile, generated secrets and the one on-demand instance.

use super::node_role::node_role;
use super::web::find_the_stacks_endpoints;
use super::{Facts, Part};
use crate::model::{InstanceProps, Kind, Props, Ref, SecretProps, Set};
use crate::spec::Spec;

/// The inline policy of the cron instance's role: the stack's own secrets (tagged), the RDS
/// managed master secret of the stack's database (tagged by RDS with the database's ARN), the
/// describes that find the database, Redis and the file system by name, and the file system
/// with root access (the cron instance gives moodledata to the web user).
pub fn cron_node_policy(stack: &str, region: &str, bucket: &str) -> serde_json::Value {
    let names = crate::names::Names::of(stack);
    let release = super::release::read_the_release(stack, region, bucket);
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
                "Condition": {"StringLike": {
                    "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": format!("arn:aws:rds:{region}:*:db:{}", names.db_instance()),
                }}
            },
            {
                "Sid": "ReadTheClustersMasterSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": format!("arn:aws:secretsmanager:{region}:*:secret:rds!*"),
                "Condition": {"StringLike": {
                    "secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn": format!("arn:aws:rds:{region}:*:cluster:{}", names.db_cluster()),
                }}
            },
            find_the_stacks_endpoints(),
            release[0],
            release[1],
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

//! The web tier: the load balancer, its target group and listeners, the web nodes' role and
//! launch template, the Auto Scaling group with its policies and scheduled actions.

use super::node_role::node_role;
use super::{Facts, Part};
use crate::model::{
    AutoScalingGroupProps, Kind, LaunchTemplateProps, ListenerAction, ListenerProps,
    LoadBalancerProps, Props, Ref, ScalingPolicyProps, ScheduledActionProps, Set, TargetGroupProps,
};
use crate::spec::Spec;

/// How long a new web node may stay out of service between heartbeats of its boot script
/// (which beats every 5 minutes while the site is installed) before the group gives up on it.
pub const LAUNCH_READY_SECONDS: u32 = 1800;

/// Read-only describes a node uses at boot to find the stack's database, Redis and file
/// system by their names (describes take no tag conditions).
pub(super) fn find_the_stacks_endpoints() -> serde_json::Value {
    serde_json::json!({
        "Sid": "FindTheStacksDatabaseCacheAndFiles",
        "Effect": "Allow",
        "Action": [
            "rds:DescribeDBInstances",
            "rds:DescribeDBClusters",
            "elasticache:DescribeReplicationGroups",
            "elasticfilesystem:DescribeFileSystems"
        ],
        "Resource": "*"
    })
}

/// The stack's secrets a web node reads at boot: the database user's password and the Redis
/// AUTH token (never the admin's, which only the cron instance's installer uses).
pub const WEB_NODE_SECRETS: &[&str] = &["db-user", "redis-auth"];

/// The inline policy of the web nodes' role: only what they need, limited to the stack's own
/// resources by their `moodle-ha:stack` tag; of the secrets, only [`WEB_NODE_SECRETS`] (by
/// name: Secrets Manager appends `-` and six characters to a secret's ARN); the release record
/// and the release archives in `bucket`, and the node's boot report there (write only).
pub fn web_node_policy(stack: &str, region: &str, bucket: &str) -> serde_json::Value {
    let release = super::release::read_the_release(stack, region, bucket);
    let names = crate::names::Names::of(stack);
    let secrets: Vec<String> = WEB_NODE_SECRETS
        .iter()
        .map(|s| {
            format!(
                "arn:{}:secretsmanager:{region}:*:secret:{}-??????",
                crate::names::partition(region),
                names.secret(s)
            )
        })
        .collect();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadTheSecretsAWebNodeNeeds",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": secrets,
                "Condition": {"StringEquals": {"secretsmanager:ResourceTag/moodle-ha:stack": stack}}
            },
            find_the_stacks_endpoints(),
            release[0],
            release[1],
            {
                "Sid": "ReportTheBootDone",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": format!(
                    "arn:{}:s3:::{bucket}/{}*",
                    crate::names::partition(region),
                    crate::names::NODES_PREFIX
                )
            },
            {
                "Sid": "MountMoodledata",
                "Effect": "Allow",
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "LeaveTheTargetGroupOnASpotNotice",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:DeregisterTargets",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "GoInServiceWhenServing",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:CompleteLifecycleAction",
                    "autoscaling:RecordLifecycleActionHeartbeat"
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/moodle-ha:stack": stack}}
            },
            {
                "Sid": "FindTheGroupsTargetGroups",
                "Effect": "Allow",
                "Action": "autoscaling:DescribeAutoScalingGroups",
                "Resource": "*"
            }
        ]
    })
}

/// The load balancer, target group and listeners; the web nodes' role (unless the spec names
/// an instance profile), launch template, Auto Scaling group, scaling policies and scheduled
/// actions.
pub(super) fn web_tier(
    spec: &Spec,
    facts: &Facts,
    vpc: &Ref,
    public: &[Ref],
    private: &[Ref],
) -> Part {
    let (profile, mut out) = web_role(spec, facts);
    out.extend(load_balancer(spec, vpc, public));
    out.extend(web_fleet(spec, facts, private, profile));
    out
}

/// The web nodes' role and instance profile (unless the spec names a profile of its own), and
/// the profile the nodes get.
fn web_role(spec: &Spec, facts: &Facts) -> (Ref, Part) {
    let mut out = Part::default();
    let stack = &spec.name;
    let profile = match &spec.web.instance_profile {
        Some(name) => Ref::External(name.clone()),
        None => node_role(
            &mut out,
            stack,
            "web",
            "web nodes",
            web_node_policy(stack, &spec.region, &super::bucket_name(spec, facts)),
        ),
    };
    (profile, out)
}

/// The internet-facing load balancer, the web target group and both listeners.
fn load_balancer(spec: &Spec, vpc: &Ref, public: &[Ref]) -> Part {
    let mut out = Part::default();
    let stack = &spec.name;
    let lb = &spec.load_balancer;
    out.add(
        Kind::LoadBalancer,
        "main",
        Props::LoadBalancer(LoadBalancerProps {
            name: format!("{stack}-alb"),
            scheme: "internet-facing".into(),
            subnets: Set::new(public.iter().cloned()),
            security_groups: Set::new([Ref::to(Kind::SecurityGroup, "alb")]),
            idle_timeout_seconds: lb.idle_timeout_seconds,
            drop_invalid_header_fields: true,
            desync_mitigation_mode: lb.desync_mitigation_mode.as_str().into(),
            deletion_protection: true,
            access_logs_bucket: Some(Ref::to(Kind::Bucket, crate::names::BUCKET)),
            access_logs_prefix: crate::names::ACCESS_LOG_PREFIX.into(),
        }),
    );
    let hc = &lb.health_check;
    out.add(
        Kind::TargetGroup,
        "web",
        Props::TargetGroup(TargetGroupProps {
            name: format!("{stack}-web"),
            protocol: "HTTP".into(),
            port: 80,
            vpc: vpc.clone(),
            target_type: "instance".into(),
            health_check_path: hc.path.clone(),
            health_check_interval_seconds: hc.interval_seconds,
            health_check_timeout_seconds: hc.timeout_seconds,
            healthy_threshold: hc.healthy_threshold,
            unhealthy_threshold: hc.unhealthy_threshold,
            matcher: hc.matcher.clone(),
            deregistration_delay_seconds: lb.deregistration_delay_seconds,
            stickiness_enabled: lb.stickiness.enabled,
            stickiness_duration_seconds: lb.stickiness.duration_seconds,
        }),
    );
    let alb = Ref::to(Kind::LoadBalancer, "main");
    let target_group = Ref::to(Kind::TargetGroup, "web");
    out.add(
        Kind::Listener,
        "https",
        Props::Listener(ListenerProps {
            load_balancer: alb.clone(),
            protocol: "HTTPS".into(),
            port: 443,
            certificate_arn: Some(lb.certificate_arn.clone()),
            ssl_policy: Some(lb.ssl_policy.clone()),
            action: ListenerAction::Forward {
                target_group: target_group.clone(),
            },
        }),
    );
    out.add(
        Kind::Listener,
        "http",
        Props::Listener(ListenerProps {
            load_balancer: alb,
            protocol: "HTTP".into(),
            port: 80,
            certificate_arn: None,
            ssl_policy: None,
            action: ListenerAction::Redirect {
                protocol: "HTTPS".into(),
                port: "443".into(),
                status_code: "HTTP_301".into(),
            },
        }),
    );
    out
}

/// The launch template, the Auto Scaling group, its scaling policies and scheduled actions.
fn web_fleet(spec: &Spec, facts: &Facts, private: &[Ref], profile: Ref) -> Part {
    let mut out = Part::default();
    let stack = &spec.name;
    let names = crate::names::Names::of(stack);
    let web = &spec.web;
    let target_group = Ref::to(Kind::TargetGroup, "web");
    let (image_id, root_device_name) = match facts.images.get(&web.ami) {
        Some(image) => (image.id.clone(), image.root_device_name.clone()),
        // Only in tests without facts: `check_facts` stops a real run before this.
        None => (web.ami.clone(), "/dev/sda1".into()),
    };
    let user_data = crate::render::web_user_data(spec)
        .unwrap_or_else(|e| format!("#cloud-config\n# moodle-ha user-data: {e}\n"));
    let template = Props::LaunchTemplate(LaunchTemplateProps {
        name: format!("{stack}-web"),
        image_id,
        instance_profile: profile,
        security_groups: Set::new([Ref::to(Kind::SecurityGroup, "web")]),
        http_tokens: "required".into(),
        http_put_response_hop_limit: web.imds_hop_limit,
        instance_metadata_tags: true,
        root_device_name,
        root_volume_gib: web.root_volume_gib,
        root_volume_type: "gp3".into(),
        root_volume_encrypted: true,
        detailed_monitoring: true,
        user_data: crate::render::describe_user_data(&user_data),
        user_data_text: Some(user_data),
    });
    let fingerprint = {
        let mut t = template.clone();
        t.normalize();
        t.fingerprint()
    };
    out.add(Kind::LaunchTemplate, "web", template);
    let group = Ref::to(Kind::AutoScalingGroup, "web");
    out.add(
        Kind::AutoScalingGroup,
        "web",
        Props::AutoScalingGroup(AutoScalingGroupProps {
            name: names.web_group(),
            launch_template: Ref::to(Kind::LaunchTemplate, "web"),
            launch_template_version: fingerprint,
            min_size: web.min,
            max_size: web.max,
            desired_capacity: web.desired,
            subnets: Set::new(private.iter().cloned()),
            instance_types: web.instance_types.clone(),
            on_demand_base_capacity: web.on_demand_base_capacity,
            on_demand_percentage_above_base: web.on_demand_percentage_above_base,
            spot_allocation_strategy: "price-capacity-optimized".into(),
            capacity_rebalance: true,
            target_groups: Set::new([target_group.clone()]),
            health_check_type: "ELB".into(),
            health_check_grace_seconds: web.health_check_grace_period_seconds,
            termination_drain_seconds: web.termination_drain_seconds,
            launch_ready_seconds: LAUNCH_READY_SECONDS,
            refresh_min_healthy_percent: web.refresh_min_healthy_percent,
        }),
    );
    if let Some(cpu) = web.scaling.cpu_target_percent {
        out.add(
            Kind::ScalingPolicy,
            "cpu",
            Props::ScalingPolicy(ScalingPolicyProps {
                group: group.clone(),
                name: format!("{stack}-web-cpu"),
                metric: "ASGAverageCPUUtilization".into(),
                target_value: f64::from(cpu),
                target_group: None,
                listener: None,
            }),
        );
    }
    if let Some(requests) = web.scaling.requests_per_target {
        out.add(
            Kind::ScalingPolicy,
            "requests",
            Props::ScalingPolicy(ScalingPolicyProps {
                group: group.clone(),
                name: format!("{stack}-web-requests"),
                metric: "ALBRequestCountPerTarget".into(),
                target_value: f64::from(requests),
                target_group: Some(target_group),
                listener: Some(Ref::to(Kind::Listener, "https")),
            }),
        );
    }
    for action in &web.scheduled_actions {
        out.add(
            Kind::ScheduledAction,
            &action.name,
            Props::ScheduledAction(ScheduledActionProps {
                group: group.clone(),
                name: format!("{stack}-{}", action.name),
                recurrence: action.recurrence.clone(),
                time_zone: action.time_zone.clone(),
                min_size: action.min,
                max_size: action.max,
                desired_capacity: action.desired,
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret ARNs (patterns) a role's inline policy lets it read.
    fn readable_secrets(policy: &serde_json::Value) -> Vec<String> {
        policy["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["Action"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "secretsmanager:GetSecretValue"))
            })
            .flat_map(|s| match &s["Resource"] {
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                other => vec![other.as_str().unwrap_or_default().to_string()],
            })
            .collect()
    }

    #[test]
    fn a_web_node_reads_the_database_and_redis_secrets_but_not_the_admin_password() {
        let readable = readable_secrets(&web_node_policy("s", "eu-west-1", "bucket"));
        assert_eq!(
            readable,
            [
                "arn:aws:secretsmanager:eu-west-1:*:secret:moodle-ha/s/db-user-??????",
                "arn:aws:secretsmanager:eu-west-1:*:secret:moodle-ha/s/redis-auth-??????"
            ]
        );
        assert!(!readable.iter().any(|r| r == "*" || r.contains("admin")));
        // The cron instance's installer still reads every secret of the stack.
        let cron = readable_secrets(&crate::desired::cron_node_policy(
            "s",
            "eu-west-1",
            "bucket",
        ));
        assert!(cron.contains(&"*".to_string()), "{cron:?}");
    }
}

//! The web tier against the emulator: load balancer, target group (health check and
//! deregistration delay read from its attributes), listeners, launch template (IMDSv2, user
//! data), the mixed-instances Spot group with its hook and policies, the nodes' role. Scaling
//! edits are in-place updates of exactly the changed fields; a template change is a new
//! version the group follows by number; an unmanaged desired capacity is left alone.

use crate::harness::*;
use serde_json::Value;

pub async fn autoscaling() -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::new(&config_for_tests().await)
}

pub async fn elbv2() -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&config_for_tests().await)
}

pub async fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&config_for_tests().await)
}

async fn subnets_of(stack: &str, tier: &str) -> Vec<String> {
    let out = ec2()
        .await
        .describe_subnets()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("subnets");
    let mut ids: Vec<String> = out
        .subnets()
        .iter()
        .filter(|s| {
            s.tags().iter().any(|t| {
                t.key() == Some("moodle-ha:resource")
                    && t.value()
                        .is_some_and(|v| v.starts_with(&format!("subnet/{tier}-")))
            })
        })
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

async fn group_id(stack: &str, role: &str) -> String {
    let out = ec2()
        .await
        .describe_security_groups()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("sgs");
    out.security_groups()
        .iter()
        .find(|g| g.group_name() == Some(format!("{stack}-{role}").as_str()))
        .and_then(|g| g.group_id())
        .expect("group")
        .to_string()
}

/// `(key, action, [fields])` of each change in a JSON plan.
fn changes(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
                c["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|x| x["field"].as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_web_tier_is_created_as_specified_and_scaling_edits_are_in_place() {
    let stack = example_spec(&unique("web"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    ok(moodle_ha(&["apply", "--yes", spec]));

    let elb = elbv2().await;
    let public = subnets_of(&name, "public").await;
    let private = subnets_of(&name, "private").await;

    // Load balancer: internet-facing, in the public subnets, with the alb group only.
    let lbs = elb
        .describe_load_balancers()
        .names(format!("{name}-alb"))
        .send()
        .await
        .expect("load balancer");
    let lb = &lbs.load_balancers()[0];
    let lb_arn = lb.load_balancer_arn().expect("arn").to_string();
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    let mut lb_subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    lb_subnets.sort();
    assert_eq!(lb_subnets, public);
    assert_eq!(lb.security_groups(), [group_id(&name, "alb").await]);

    // Target group: health check and, from its attributes, the deregistration delay.
    let tgs = elb
        .describe_target_groups()
        .names(format!("{name}-web"))
        .send()
        .await
        .expect("target group");
    let tg = &tgs.target_groups()[0];
    let tg_arn = tg.target_group_arn().expect("arn").to_string();
    assert_eq!(tg.health_check_path(), Some("/login/index.php"));
    assert_eq!(tg.health_check_interval_seconds(), Some(30));
    assert_eq!(tg.healthy_threshold_count(), Some(2));
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200"));
    let attributes = elb
        .describe_target_group_attributes()
        .target_group_arn(&tg_arn)
        .send()
        .await
        .expect("attributes");
    let attribute = |k: &str| {
        attributes
            .attributes()
            .iter()
            .find(|a| a.key() == Some(k))
            .and_then(|a| a.value())
            .map(str::to_string)
    };
    assert_eq!(
        attribute("deregistration_delay.timeout_seconds").as_deref(),
        Some("120")
    );
    assert_eq!(attribute("stickiness.enabled").as_deref(), Some("false"));

    // Listeners: HTTPS forwards with the spec's certificate and policy; HTTP redirects.
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .expect("listeners");
    let https = listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(443))
        .expect("https");
    assert_eq!(https.protocol().map(|p| p.as_str()), Some("HTTPS"));
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some("arn:aws:acm:eu-west-1:123456789012:certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f")
    );
    assert_eq!(
        https.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(
        https.default_actions()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );
    let http = listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(80))
        .expect("http");
    let redirect = http.default_actions()[0]
        .redirect_config()
        .expect("redirect");
    assert_eq!(
        (
            redirect.protocol(),
            redirect.port(),
            redirect.status_code().map(|c| c.as_str())
        ),
        (Some("HTTPS"), Some("443"), Some("HTTP_301"))
    );

    // Launch template: IMDSv2 only, encrypted root, the web group, the profile, user data.
    let ec2 = ec2().await;
    let templates = ec2
        .describe_launch_templates()
        .launch_template_names(format!("{name}-web"))
        .send()
        .await
        .expect("template");
    let template_id = templates.launch_templates()[0]
        .launch_template_id()
        .expect("id")
        .to_string();
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_id(&template_id)
        .versions("$Default")
        .send()
        .await
        .expect("versions");
    let version = &versions.launch_template_versions()[0];
    let data = version.launch_template_data().expect("data");
    let metadata = data.metadata_options().expect("metadata options");
    assert_eq!(metadata.http_tokens().map(|t| t.as_str()), Some("required"));
    assert_eq!(metadata.http_put_response_hop_limit(), Some(1));
    let root = data.block_device_mappings()[0].ebs().expect("root volume");
    assert_eq!(root.encrypted(), Some(true));
    assert_eq!(data.security_group_ids(), [group_id(&name, "web").await]);
    assert_eq!(
        data.iam_instance_profile().and_then(|p| p.name()),
        Some(format!("{name}-web-profile").as_str())
    );
    let user_data =
        aws_smithy_types::base64::decode(data.user_data().expect("user data")).expect("base64");
    assert!(
        user_data.len() <= moodle_ha::render::MAX_USER_DATA,
        "within EC2's limit"
    );
    let user_data = moodle_ha::render::decode_user_data(&user_data);
    assert!(user_data.starts_with("#cloud-config"));
    assert!(user_data.contains("moodle-ha-spot-watcher"));
    assert!(!user_data.contains("cron.php"));

    // The group: mixed instances, Spot majority, rebalancing, sizes, subnets, target group.
    let asg_client = autoscaling().await;
    let groups = asg_client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{name}-web"))
        .send()
        .await
        .expect("group");
    let g = &groups.auto_scaling_groups()[0];
    let asg_arn = g.auto_scaling_group_arn().expect("arn").to_string();
    let policy = g.mixed_instances_policy().expect("mixed instances policy");
    let lt = policy.launch_template().expect("template");
    let types: Vec<&str> = lt
        .overrides()
        .iter()
        .filter_map(|o| o.instance_type())
        .collect();
    assert_eq!(
        types,
        [
            "m7i.large",
            "m6i.large",
            "c7i.large",
            "c6i.large",
            "t3.large"
        ]
    );
    let spec_version = lt.launch_template_specification().expect("spec");
    assert_eq!(
        spec_version.launch_template_id(),
        Some(template_id.as_str())
    );
    assert_eq!(
        spec_version.version(),
        Some("1"),
        "an explicit version number"
    );
    let dist = policy.instances_distribution().expect("distribution");
    assert_eq!(dist.on_demand_base_capacity(), Some(1));
    assert_eq!(dist.on_demand_percentage_above_base_capacity(), Some(0));
    assert_eq!(
        dist.spot_allocation_strategy(),
        Some("price-capacity-optimized")
    );
    assert_eq!(g.capacity_rebalance(), Some(true));
    assert_eq!(
        (g.min_size(), g.desired_capacity(), g.max_size()),
        (Some(2), Some(4), Some(8))
    );
    let mut asg_subnets: Vec<String> = g
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    asg_subnets.sort();
    assert_eq!(asg_subnets, private);
    assert_eq!(g.target_group_arns(), [tg_arn.clone()]);
    assert_eq!(g.health_check_type(), Some("ELB"));
    assert_eq!(g.health_check_grace_period(), Some(300));
    let hooks = asg_client
        .describe_lifecycle_hooks()
        .auto_scaling_group_name(format!("{name}-web"))
        .send()
        .await
        .expect("hooks");
    let hook = |name: &str| {
        hooks
            .lifecycle_hooks()
            .iter()
            .find(|h| h.lifecycle_hook_name() == Some(name))
            .map(|h| {
                (
                    h.lifecycle_transition().map(str::to_string),
                    h.heartbeat_timeout(),
                    h.default_result().map(str::to_string),
                )
            })
    };
    // Terminating nodes drain; new nodes stay out of service until their boot completes the
    // launch hook (given up, so replaced, without a heartbeat for 30 minutes).
    assert_eq!(
        hook("moodle-ha-drain"),
        Some((
            Some("autoscaling:EC2_INSTANCE_TERMINATING".into()),
            Some(150),
            Some("CONTINUE".into())
        ))
    );
    assert_eq!(
        hook("moodle-ha-ready"),
        Some((
            Some("autoscaling:EC2_INSTANCE_LAUNCHING".into()),
            Some(1800),
            Some("ABANDON".into())
        ))
    );

    // Policies: CPU and requests per target.
    let policies = asg_client
        .describe_policies()
        .auto_scaling_group_name(format!("{name}-web"))
        .send()
        .await
        .expect("policies");
    let target_of = |suffix: &str| {
        policies
            .scaling_policies()
            .iter()
            .find(|p| p.policy_name() == Some(format!("{name}-web-{suffix}").as_str()))
            .and_then(|p| p.target_tracking_configuration())
            .and_then(|t| t.target_value())
    };
    assert_eq!(target_of("cpu"), Some(60.0));
    assert_eq!(target_of("requests"), Some(1000.0));

    // The nodes' role: SSM and CloudWatch, plus the inline policy scoped by the stack tag.
    let role = format!("{name}-web-role");
    let attached = iam()
        .await
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .expect("attached");
    let mut arns: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    arns.sort();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
        ]
    );

    // A second plan is empty.
    let second = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));

    // CPU target and max: exactly those two fields, applied in place.
    let edited = example_spec(&name, |t| {
        t.replace("cpu_target_percent: 60", "cpu_target_percent: 50")
            .replace("  max: 8\n", "  max: 10\n")
    });
    let edited_path = edited.path.to_str().expect("path");
    let doc = json(moodle_ha(&["plan", "--output", "json", edited_path]));
    assert_eq!(
        changes(&doc),
        vec![
            (
                "auto-scaling-group/web".to_string(),
                "update".to_string(),
                vec!["max_size".to_string()]
            ),
            (
                "scaling-policy/cpu".to_string(),
                "update".to_string(),
                vec!["target_value".to_string()]
            ),
        ]
    );
    ok(moodle_ha(&["apply", "--yes", edited_path]));
    let groups = asg_client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{name}-web"))
        .send()
        .await
        .expect("group");
    let g = &groups.auto_scaling_groups()[0];
    assert_eq!(g.max_size(), Some(10));
    assert_eq!(
        g.auto_scaling_group_arn(),
        Some(asg_arn.as_str()),
        "the same group"
    );
    assert!(g.mixed_instances_policy().is_some(), "policy kept");
    let policies = asg_client
        .describe_policies()
        .auto_scaling_group_name(format!("{name}-web"))
        .send()
        .await
        .expect("policies");
    let cpu = policies
        .scaling_policies()
        .iter()
        .find(|p| p.policy_name() == Some(format!("{name}-web-cpu").as_str()))
        .and_then(|p| p.target_tracking_configuration())
        .and_then(|t| t.target_value());
    assert_eq!(cpu, Some(50.0));
    let lbs = elb
        .describe_load_balancers()
        .names(format!("{name}-alb"))
        .send()
        .await
        .expect("load balancer");
    assert_eq!(
        lbs.load_balancers()[0].load_balancer_arn(),
        Some(lb_arn.as_str()),
        "the same load balancer"
    );
    let again = moodle_ha(&["plan", "--detailed-exitcode", edited_path]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    // Without `desired` in the spec, the group's current desired capacity is kept.
    let unmanaged = example_spec(&name, |t| {
        t.replace("cpu_target_percent: 60", "cpu_target_percent: 50")
            .replace("  max: 8\n", "  max: 10\n")
            .replace("  desired: 4\n", "")
    });
    asg_client
        .set_desired_capacity()
        .auto_scaling_group_name(format!("{name}-web"))
        .desired_capacity(7)
        .send()
        .await
        .expect("scale by hand");
    let kept = moodle_ha(&[
        "plan",
        "--detailed-exitcode",
        unmanaged.path.to_str().expect("path"),
    ]);
    assert_eq!(kept.status.code(), Some(0), "{}", stdout(&kept));

    // A template change: a new version, followed by number, rolled out by instance refresh.
    let bigger_disk = example_spec(&name, |t| {
        t.replace("cpu_target_percent: 60", "cpu_target_percent: 50")
            .replace("  max: 8\n", "  max: 10\n  root_volume_gib: 30\n")
            .replace("  desired: 4\n", "")
    });
    let bigger_path = bigger_disk.path.to_str().expect("path");
    let doc = json(moodle_ha(&["plan", "--output", "json", bigger_path]));
    assert_eq!(
        changes(&doc),
        vec![
            (
                "launch-template/web".to_string(),
                "update".to_string(),
                vec!["root_volume_gib".to_string()]
            ),
            (
                "auto-scaling-group/web".to_string(),
                "update".to_string(),
                vec!["launch_template_version".to_string()]
            ),
        ]
    );
    assert_eq!(
        doc["changes"][1]["fields"][0]["applies"],
        serde_json::json!({"when": "instance_refresh", "min_healthy_percent": 90})
    );
    ok(moodle_ha(&["apply", "--yes", bigger_path]));
    let groups = asg_client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{name}-web"))
        .send()
        .await
        .expect("group");
    let version = groups.auto_scaling_groups()[0]
        .mixed_instances_policy()
        .and_then(|p| p.launch_template())
        .and_then(|t| t.launch_template_specification())
        .and_then(|s| s.version())
        .map(str::to_string);
    assert_eq!(version.as_deref(), Some("2"));
    let refreshes = asg_client
        .describe_instance_refreshes()
        .auto_scaling_group_name(format!("{name}-web"))
        .send()
        .await
        .expect("refreshes");
    assert_eq!(
        refreshes.instance_refreshes().len(),
        1,
        "one rolling refresh"
    );

    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        bigger_path,
    ]));
    let left = asg_client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{name}-web"))
        .send()
        .await
        .expect("groups");
    assert!(left.auto_scaling_groups().is_empty(), "group gone");
    let left = elb
        .describe_load_balancers()
        .names(format!("{name}-alb"))
        .send()
        .await;
    assert!(
        left.map(|o| o.load_balancers().is_empty()).unwrap_or(true),
        "load balancer gone"
    );
    let roles = iam()
        .await
        .list_roles()
        .path_prefix(format!("/moodle-ha/{name}/"))
        .send()
        .await
        .expect("roles");
    assert!(roles.roles().is_empty(), "role gone");
}

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

/// What Prowler's checks of part A read, for the stack `name`, as one comparable value.
#[derive(Debug, PartialEq)]
struct Controls {
    /// `require_secure_transport`, `slow_query_log`, `log_output` in the DB parameter group.
    parameters: Vec<(String, String)>,
    /// EnabledCloudwatchLogsExports, MonitoringInterval, a monitoring role and an
    /// EnhancedMonitoringResourceArn, PerformanceInsightsEnabled.
    database: (Vec<String>, i32, bool, bool, bool),
    /// Rules of the VPC's default security group (ingress, egress).
    default_group_rules: (usize, usize),
    /// The VPC's flow logs: status, log group.
    flow_logs: Vec<(String, String)>,
    /// Monitoring state of every instance of the stack (cron and web), and the launch
    /// template's Monitoring.Enabled.
    monitoring: (Vec<String>, Option<bool>),
    /// AutoMinorVersionUpgrade, SnapshotRetentionLimit of the replication group.
    cache: (Option<bool>, Option<i32>),
}

async fn controls(name: &str) -> Controls {
    let rds = rds().await;
    let db = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{name}-db"))
        .send()
        .await
        .expect("DescribeDBInstances");
    let db = &db.db_instances()[0];
    let group = db.db_parameter_groups()[0]
        .db_parameter_group_name()
        .expect("group");
    let params = rds
        .describe_db_parameters()
        .db_parameter_group_name(group)
        .source("user")
        .send()
        .await
        .expect("DescribeDBParameters");
    let mut parameters: Vec<(String, String)> = params
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_name()?.to_string(),
                p.parameter_value()?.to_string(),
            ))
        })
        .filter(|(n, _)| {
            ["require_secure_transport", "slow_query_log", "log_output"].contains(&n.as_str())
        })
        .collect();
    parameters.sort();
    let mut exports = db.enabled_cloudwatch_logs_exports().to_vec();
    exports.sort();
    let database = (
        exports,
        db.monitoring_interval().unwrap_or_default(),
        db.monitoring_role_arn()
            .is_some_and(|a| a.ends_with(&format!("/{name}-rds-monitoring-role"))),
        db.enhanced_monitoring_resource_arn().is_some(),
        db.performance_insights_enabled().unwrap_or_default(),
    );
    let ec2 = ec2().await;
    let vpc = ec2
        .describe_vpcs()
        .filters(stack_filter(name))
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()[0]
        .vpc_id()
        .expect("vpc")
        .to_string();
    let filter = |n: &str, v: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name(n)
            .values(v)
            .build()
    };
    let default = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &vpc))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .expect("DescribeSecurityGroups");
    let default = &default.security_groups()[0];
    let flows = ec2
        .describe_flow_logs()
        .filter(filter("resource-id", &vpc))
        .send()
        .await
        .expect("DescribeFlowLogs");
    let flow_logs = flows
        .flow_logs()
        .iter()
        .map(|f| {
            (
                f.flow_log_status().unwrap_or_default().to_string(),
                f.log_group_name().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let instances = ec2
        .describe_instances()
        .filters(stack_filter(name))
        .filters(filter("instance-state-name", "running"))
        .send()
        .await
        .expect("DescribeInstances");
    let states = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            i.monitoring()
                .and_then(|m| m.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default()
        })
        .collect();
    let template = ec2
        .describe_launch_template_versions()
        .launch_template_name(format!("{name}-web"))
        .versions("$Default")
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions");
    let template_monitoring = template.launch_template_versions()[0]
        .launch_template_data()
        .and_then(|d| d.monitoring())
        .and_then(|m| m.enabled());
    let cache = elasticache()
        .await
        .describe_replication_groups()
        .replication_group_id(format!("{name}-redis"))
        .send()
        .await
        .expect("DescribeReplicationGroups");
    let cache = &cache.replication_groups()[0];
    Controls {
        parameters,
        database,
        default_group_rules: (
            default.ip_permissions().len(),
            default.ip_permissions_egress().len(),
        ),
        flow_logs,
        monitoring: (states, template_monitoring),
        cache: (
            cache.auto_minor_version_upgrade(),
            cache.snapshot_retention_limit(),
        ),
    }
}

fn all_on(name: &str) -> Controls {
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    Controls {
        parameters: vec![
            pair("log_output", "FILE"),
            pair("require_secure_transport", "1"),
            pair("slow_query_log", "1"),
        ],
        database: (
            vec!["error".into(), "slowquery".into()],
            60,
            true,
            true,
            true,
        ),
        default_group_rules: (0, 0),
        flow_logs: vec![pair("ACTIVE", &format!("/moodle-ha/{name}/vpc-flow-logs"))],
        // The cron instance and the four web nodes.
        monitoring: (vec!["enabled".to_string(); 5], Some(true)),
        cache: (Some(true), Some(7)),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_control_is_on_and_one_switched_off_is_drift_that_apply_repairs() {
    let stack = example_spec(&unique("secure"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    ok(moodle_ha(&["apply", "--yes", spec]));
    assert_eq!(controls(&name).await, all_on(&name));
    let clean = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));

    // Each control switched off behind the tool's back, as in the console.
    let rds = rds().await;
    rds.modify_db_instance()
        .db_instance_identifier(format!("{name}-db"))
        .cloudwatch_logs_export_configuration(
            aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
                .disable_log_types("slowquery")
                .build(),
        )
        .monitoring_interval(0)
        .enable_performance_insights(false)
        .apply_immediately(true)
        .send()
        .await
        .expect("ModifyDBInstance");
    rds.modify_db_parameter_group()
        .db_parameter_group_name(format!("{name}-mysql8-4"))
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("require_secure_transport")
                .parameter_value("0")
                .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .expect("ModifyDBParameterGroup");
    let ec2 = ec2().await;
    let vpc = ec2
        .describe_vpcs()
        .filters(stack_filter(&name))
        .send()
        .await
        .expect("vpcs")
        .vpcs()[0]
        .vpc_id()
        .expect("vpc")
        .to_string();
    let default = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .expect("default group");
    let default_id = default.security_groups()[0]
        .group_id()
        .expect("id")
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&default_id)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress");
    let flow = ec2
        .describe_flow_logs()
        .filter(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(&vpc)
                .build(),
        )
        .send()
        .await
        .expect("flow logs");
    ec2.delete_flow_logs()
        .flow_log_ids(flow.flow_logs()[0].flow_log_id().expect("id"))
        .send()
        .await
        .expect("DeleteFlowLogs");
    let cron = ec2
        .describe_instances()
        .filters(stack_filter(&name))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:moodle-ha:resource")
                .values("instance/cron")
                .build(),
        )
        .send()
        .await
        .expect("cron");
    let cron_id = cron.reservations()[0].instances()[0]
        .instance_id()
        .expect("id")
        .to_string();
    ec2.unmonitor_instances()
        .instance_ids(&cron_id)
        .send()
        .await
        .expect("UnmonitorInstances");
    elasticache()
        .await
        .modify_replication_group()
        .replication_group_id(format!("{name}-redis"))
        .auto_minor_version_upgrade(false)
        .snapshot_retention_limit(0)
        .apply_immediately(true)
        .send()
        .await
        .expect("ModifyReplicationGroup");
    assert_ne!(controls(&name).await, all_on(&name));

    let drift = moodle_ha(&["drift", spec]);
    assert_eq!(drift.status.code(), Some(2), "{}", stdout(&drift));
    let report = stdout(&drift);
    for (resource, field) in [
        ("db-instance/main", "cloudwatch_logs_exports"),
        ("db-instance/main", "monitoring_interval"),
        ("db-instance/main", "performance_insights"),
        ("db-parameter-group/main", "require_secure_transport"),
        ("vpc/main", "default_security_group_rules"),
        ("flow-log/main", ""),
        ("instance/cron", "detailed_monitoring"),
        ("replication-group/main", "auto_minor_version_upgrade"),
        ("replication-group/main", "snapshot_retention_days"),
    ] {
        assert!(
            report.contains(resource) && report.contains(field),
            "drift names {resource} {field}:\n{report}"
        );
    }
    ok(moodle_ha(&["apply", "--yes", spec]));
    assert_eq!(controls(&name).await, all_on(&name));
    let clean = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    let drift = moodle_ha(&["drift", spec]);
    assert_eq!(drift.status.code(), Some(0), "{}", stdout(&drift));
}

//! Planner tests of issue 20's security controls: each is in the example's desired state, and
//! one switched off in AWS (the console, a script) plans an in-place update that turns it
//! back on, never a replacement.

use super::*;
use crate::desired::{DesiredState, Facts, desired_state};
use crate::model::{Props, ResourceKey};
use crate::observed::{ObservedResource, ObservedState};

fn desired() -> DesiredState {
    match crate::spec::load_str(include_str!("../../stacks/example.yaml")) {
        Ok(l) => desired_state(&l.spec, &Facts::default()),
        Err(e) => panic!("{e}"),
    }
}

/// What AWS would report after a perfect apply of `d`, changed by `f` behind the tool's back.
fn observed_with(d: &DesiredState, f: impl Fn(&ResourceKey, &mut Props)) -> ObservedState {
    let mut state = ObservedState {
        resources: d
            .resources
            .iter()
            .map(|(key, props)| {
                let mut props = props.clone();
                f(key, &mut props);
                ObservedResource {
                    unknown: Default::default(),
                    key: key.clone(),
                    id: format!("id-{key}"),
                    props,
                    outputs: Default::default(),
                }
            })
            .collect(),
    };
    state.symbolize();
    state
}

/// The plan's changes as (key, action, changed fields).
fn changes(d: &DesiredState, o: &ObservedState) -> Vec<(String, Action, Vec<String>)> {
    let options = planner::PlanOptions {
        plan_id: "test".into(),
        ..Default::default()
    };
    planner::plan(d, o, &options)
        .changes
        .iter()
        .map(|c| {
            (
                c.key.to_string(),
                c.action,
                c.fields.iter().map(|f| f.field.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn the_databases_logs_go_to_log_groups_with_the_specs_retention() {
    let d = desired();
    let groups: Vec<(String, String, Option<u32>)> = d
        .resources
        .iter()
        .filter_map(|(k, p)| match p {
            Props::LogGroup(g) if k.name.starts_with("rds-") => {
                Some((k.to_string(), g.name.clone(), g.retention_days))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        groups,
        [
            (
                "log-group/rds-error".to_string(),
                "/aws/rds/instance/moodle-example-db/error".to_string(),
                Some(90)
            ),
            (
                "log-group/rds-slowquery".to_string(),
                "/aws/rds/instance/moodle-example-db/slowquery".to_string(),
                Some(90)
            ),
        ]
    );
}

#[test]
fn a_log_group_whose_retention_was_removed_is_updated_in_place() {
    let d = desired();
    let o = observed_with(&d, |k, p| {
        if let (true, Props::LogGroup(g)) = (k.name == "rds-error", p) {
            g.retention_days = None;
        }
    });
    assert_eq!(
        changes(&d, &o),
        [(
            "log-group/rds-error".to_string(),
            Action::Update,
            vec!["retention_days".to_string()]
        )]
    );
    let renamed = observed_with(&d, |k, p| {
        if let (true, Props::LogGroup(g)) = (k.name == "rds-error", p) {
            g.name = "/aws/rds/instance/other/error".into();
        }
    });
    assert_eq!(
        changes(&d, &renamed)
            .iter()
            .map(|(k, a, _)| (k.as_str(), *a))
            .collect::<Vec<_>>(),
        [
            ("db-instance/main", Action::Update),
            ("log-group/rds-error", Action::Replace)
        ],
        "a log group cannot be renamed; the instance exporting to it follows"
    );
}

#[test]
fn each_control_switched_off_in_aws_plans_an_in_place_update_of_that_field() {
    let d = desired();
    let cases: &[(&str, &str, fn(&mut Props))] = &[
        ("db-instance/main", "cloudwatch_logs_exports", |p| {
            if let Props::DbInstance(i) = p {
                i.cloudwatch_logs_exports = Some(crate::model::Set::default());
            }
        }),
        ("db-instance/main", "monitoring_interval", |p| {
            if let Props::DbInstance(i) = p {
                i.monitoring_interval = 0;
            }
        }),
        ("db-instance/main", "performance_insights", |p| {
            if let Props::DbInstance(i) = p {
                i.performance_insights = false;
            }
        }),
        ("db-parameter-group/main", "parameters", |p| {
            if let Props::DbParameterGroup(g) = p {
                g.parameters
                    .insert("require_secure_transport".into(), "0".into());
            }
        }),
        ("vpc/main", "default_security_group_rules", |p| {
            if let Props::Vpc(v) = p {
                v.default_security_group_rules = 2;
            }
        }),
        ("instance/cron", "detailed_monitoring", |p| {
            if let Props::Instance(i) = p {
                i.detailed_monitoring = false;
            }
        }),
        ("launch-template/web", "detailed_monitoring", |p| {
            if let Props::LaunchTemplate(t) = p {
                t.detailed_monitoring = false;
            }
        }),
        (
            "replication-group/main",
            "auto_minor_version_upgrade",
            |p| {
                if let Props::ReplicationGroup(g) = p {
                    g.auto_minor_version_upgrade = false;
                }
            },
        ),
    ];
    for (target, field, switch_off) in cases {
        let o = observed_with(&d, |k, p| {
            if k.to_string() == *target {
                switch_off(p);
            }
        });
        let planned = changes(&d, &o);
        let own: Vec<_> = planned
            .iter()
            .filter(|(k, _, _)| k == target)
            .cloned()
            .collect();
        assert_eq!(
            own,
            [(target.to_string(), Action::Update, vec![field.to_string()])],
            "{target} {field}: {planned:?}"
        );
    }
}

#[test]
fn a_deleted_flow_log_is_created_again_and_only_a_created_vpc_has_one() {
    let d = desired();
    let mut o = observed_with(&d, |_, _| {});
    o.resources.retain(|r| r.key.to_string() != "flow-log/main");
    let planned: Vec<(String, Action)> = changes(&d, &o)
        .into_iter()
        .map(|(k, a, _)| (k, a))
        .collect();
    assert_eq!(planned, [("flow-log/main".to_string(), Action::Create)]);
    let mut spec = match crate::spec::load_str(include_str!("../../stacks/example.yaml")) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    spec.network.create = None;
    spec.network.existing = Some(crate::spec::ExistingNetwork {
        vpc_id: "vpc-1".into(),
        public_subnets: vec!["subnet-1".into(), "subnet-2".into()],
        private_subnets: vec!["subnet-3".into(), "subnet-4".into()],
    });
    let adopted = desired_state(&spec, &Facts::default());
    let kinds: Vec<String> = adopted
        .resources
        .keys()
        .filter(|k| {
            matches!(
                k.kind,
                crate::model::Kind::FlowLog | crate::model::Kind::Vpc
            ) || k.name == "flow-logs"
                || k.name == "vpc-flow-logs"
        })
        .map(ToString::to_string)
        .collect();
    assert!(kinds.is_empty(), "an adopted VPC is only read: {kinds:?}");
}

#[test]
fn aurora_requires_tls_in_its_cluster_parameter_group_and_exports_from_the_cluster() {
    let mut spec = match crate::spec::load_str(include_str!("../../stacks/example.yaml")) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    spec.database.engine = crate::spec::DbEngine::AuroraMysql3;
    let d = desired_state(&spec, &Facts::default());
    let key = |k: crate::model::Kind, n: &str| ResourceKey::new(k, n);
    let Some(Props::DbClusterParameterGroup(group)) = d
        .resources
        .get(&key(crate::model::Kind::DbClusterParameterGroup, "main"))
    else {
        panic!("no cluster parameter group");
    };
    assert_eq!(
        group
            .parameters
            .get("require_secure_transport")
            .map(String::as_str),
        Some("ON")
    );
    let Some(Props::DbParameterGroup(instance_group)) = d
        .resources
        .get(&key(crate::model::Kind::DbParameterGroup, "main"))
    else {
        panic!("no DB parameter group");
    };
    assert!(
        !instance_group
            .parameters
            .contains_key("require_secure_transport"),
        "a cluster-level parameter in an instance group: AWS refuses it"
    );
    let Some(Props::DbCluster(cluster)) =
        d.resources.get(&key(crate::model::Kind::DbCluster, "main"))
    else {
        panic!("no cluster");
    };
    assert_eq!(
        cluster.parameter_group,
        crate::model::Ref::to(crate::model::Kind::DbClusterParameterGroup, "main")
    );
    assert_eq!(cluster.cloudwatch_logs_exports.len(), 2);
    let groups: Vec<String> = d
        .resources
        .iter()
        .filter_map(|(_, p)| match p {
            Props::LogGroup(g) if g.name.starts_with("/aws/rds/") => Some(g.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        groups,
        [
            "/aws/rds/cluster/moodle-example-db-cluster/error",
            "/aws/rds/cluster/moodle-example-db-cluster/slowquery"
        ]
    );
    let o = observed_with(&d, |k, p| {
        if let (crate::model::Kind::DbClusterParameterGroup, Props::DbClusterParameterGroup(g)) =
            (k.kind, p)
        {
            g.parameters
                .insert("require_secure_transport".into(), "OFF".into());
        }
    });
    assert_eq!(
        changes(&d, &o),
        [(
            "db-cluster-parameter-group/main".to_string(),
            Action::Update,
            vec!["parameters".to_string()]
        )]
    );
}

#[test]
fn service_roles_trust_only_their_service_on_behalf_of_the_stacks_account() {
    let d = desired();
    let trust = |name: &str| match d
        .resources
        .get(&ResourceKey::new(crate::model::Kind::IamRole, name))
    {
        Some(Props::IamRole(r)) => r.assume_role_policy.canonical(),
        other => panic!("iam-role/{name}: {other:?}"),
    };
    assert_eq!(
        trust("rds-monitoring")["Statement"][0],
        serde_json::json!({
            "Effect": "Allow",
            "Principal": {"Service": "monitoring.rds.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}
        })
    );
    assert_eq!(
        trust("flow-logs")["Statement"][0]["Condition"],
        serde_json::json!({
            "StringEquals": {"aws:SourceAccount": "123456789012"},
            "ArnLike": {"aws:SourceArn": "arn:aws:ec2:eu-west-1:123456789012:vpc-flow-log/*"}
        })
    );
    let Some(Props::IamRole(flow)) = d
        .resources
        .get(&ResourceKey::new(crate::model::Kind::IamRole, "flow-logs"))
    else {
        panic!("no flow logs role");
    };
    assert_eq!(
        flow.inline_policy.canonical()["Statement"][0]["Resource"],
        serde_json::json!([
            "arn:aws:logs:eu-west-1:123456789012:log-group:/moodle-ha/moodle-example/vpc-flow-logs",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/moodle-ha/moodle-example/vpc-flow-logs:*"
        ]),
        "the delivery role may write only the stack's flow log group"
    );
}

//! Planner tests on fake observed states.

use super::*;
use crate::desired::{DesiredState, Facts, desired_state};
use crate::model::{Kind, Props, Ref, ResourceKey, Set};
use crate::observed::{ObservedResource, ObservedState};

fn desired() -> DesiredState {
    let spec = match crate::spec::load_str(include_str!("../../stacks/example.yaml")) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    desired_state(&spec, &Facts::default())
}

/// What AWS would report after a perfect apply of `d`, with made-up IDs.
fn observed_as(d: &DesiredState) -> ObservedState {
    let mut state = ObservedState {
        resources: d
            .resources
            .iter()
            .map(|(key, props)| ObservedResource {
                unknown: Default::default(),
                key: key.clone(),
                id: format!("id-{key}"),
                props: props.clone(),
                outputs: Default::default(),
            })
            .collect(),
    };
    state.symbolize();
    state
}

fn opts() -> PlanOptions {
    PlanOptions {
        plan_id: "test".into(),
        ..PlanOptions::default()
    }
}

fn key(kind: Kind, name: &str) -> ResourceKey {
    ResourceKey::new(kind, name)
}

fn action_of(plan: &Plan, k: &ResourceKey) -> Option<Action> {
    plan.changes.iter().find(|c| &c.key == k).map(|c| c.action)
}

#[test]
fn an_empty_account_gets_everything_created() {
    let d = desired();
    let p = plan(&d, &ObservedState::default(), &opts());
    assert_eq!(p.changes.len(), d.resources.len());
    assert!(p.changes.iter().all(|c| c.action == Action::Create));
    assert_eq!(p.summary().create, d.resources.len());
    // Every private AZ gets a mount target, and nothing else of that kind.
    let mounts: Vec<_> = p
        .changes
        .iter()
        .filter(|c| c.key.kind == Kind::MountTarget)
        .map(|c| c.key.name.as_str())
        .collect();
    assert_eq!(mounts, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
}

#[test]
fn a_matching_account_gets_no_changes() {
    let d = desired();
    let p = plan(&d, &observed_as(&d), &opts());
    assert!(p.is_empty(), "{:?}", p.changes);
    assert_eq!(p.unchanged.len(), d.resources.len());
}

#[test]
fn one_changed_field_is_one_update_of_that_field() {
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let Props::FileSystem(fs) = &mut r.props {
            fs.throughput_mode = "bursting".into();
        }
    }
    let p = plan(&d, &o, &opts());
    assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
    let c = &p.changes[0];
    assert_eq!(
        (c.key.clone(), c.action),
        (key(Kind::FileSystem, "moodledata"), Action::Update)
    );
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].field, "throughput_mode");
    assert_eq!(
        (c.fields[0].before.as_str(), c.fields[0].after.as_str()),
        (Some("bursting"), Some("elastic"))
    );
    assert!(!c.destroys_data);
}

#[test]
fn a_rule_added_outside_the_tool_is_an_update_that_removes_it() {
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let (Kind::SecurityGroupRules, "db", Props::SecurityGroupRules(rules)) =
            (r.key.kind, r.key.name.as_str(), &mut r.props)
        {
            rules.ingress.insert(crate::model::Rule {
                protocol: "tcp".into(),
                from_port: 3306,
                to_port: 3306,
                peer: crate::model::RuleSource::Cidr("0.0.0.0/0".into()),
                description: String::new(),
            });
        }
    }
    let p = plan(&d, &o, &opts());
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.changes[0].action, Action::Update);
    assert_eq!(p.changes[0].fields[0].field, "ingress");
}

#[test]
fn a_resource_no_longer_in_the_spec_is_deleted() {
    let mut d = desired();
    let o = observed_as(&d);
    let gone = key(Kind::MountTarget, "eu-west-1c");
    d.resources.remove(&gone);
    let p = plan(&d, &o, &opts());
    assert_eq!(p.changes.len(), 1);
    assert_eq!(action_of(&p, &gone), Some(Action::Delete));
    assert_eq!(
        p.changes[0].id.as_deref(),
        Some("id-mount-target/eu-west-1c")
    );
}

#[test]
fn a_duplicate_is_deleted_and_the_first_kept() {
    let d = desired();
    let mut o = observed_as(&d);
    let extra = o
        .resources
        .iter()
        .find(|r| r.key.kind == Kind::Vpc)
        .cloned();
    if let Some(mut extra) = extra {
        extra.id = "id-duplicate".into();
        o.resources.push(extra);
    }
    let p = plan(&d, &o, &opts());
    assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
    assert_eq!(
        (p.changes[0].action, p.changes[0].id.as_deref()),
        (Action::Delete, Some("id-duplicate"))
    );
}

#[test]
fn an_immutable_change_replaces_and_cascades_to_what_refers_to_it() {
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let (Kind::Subnet, "private-eu-west-1a", Props::Subnet(s)) =
            (r.key.kind, r.key.name.as_str(), &mut r.props)
        {
            s.cidr = "10.40.64.0/20".into();
        }
    }
    let p = plan(&d, &o, &opts());
    assert_eq!(
        action_of(&p, &key(Kind::Subnet, "private-eu-west-1a")),
        Some(Action::Replace)
    );
    // The mount target's subnet cannot change in place; the route table's associations can.
    assert_eq!(
        action_of(&p, &key(Kind::MountTarget, "eu-west-1a")),
        Some(Action::Replace)
    );
    assert_eq!(
        action_of(&p, &key(Kind::RouteTable, "private-eu-west-1a")),
        Some(Action::Update)
    );
    assert_eq!(action_of(&p, &key(Kind::MountTarget, "eu-west-1b")), None);
}

#[test]
fn replacing_the_file_system_is_marked_as_data_loss() {
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let Props::FileSystem(fs) = &mut r.props {
            fs.encrypted = false;
        }
    }
    let p = plan(&d, &o, &opts());
    assert_eq!(
        action_of(&p, &key(Kind::FileSystem, "moodledata")),
        Some(Action::Replace)
    );
    assert_eq!(p.data_loss().len(), 1);
    assert!(render::render_plan(&p).contains("DESTROYS DATA"));
}

#[test]
fn unmanaged_fields_never_differ() {
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let Props::FileSystem(fs) = &mut r.props {
            // The spec leaves the key to AWS (None); AWS reports its managed key.
            fs.kms_key_id = Some("arn:aws:kms:eu-west-1:123456789012:key/aws-managed".into());
        }
    }
    assert!(plan(&d, &o, &opts()).is_empty());
}

#[test]
fn observed_ids_of_own_resources_become_keys() {
    let mut o = ObservedState {
        resources: vec![
            ObservedResource {
                unknown: Default::default(),
                key: key(Kind::Vpc, "main"),
                id: "vpc-1".into(),
                props: Props::Vpc(crate::model::VpcProps {
                    cidr: "10.0.0.0/16".into(),
                    dns_support: true,
                    dns_hostnames: true,
                    default_security_group_rules: 0,
                }),
                outputs: Default::default(),
            },
            ObservedResource {
                unknown: Default::default(),
                key: key(Kind::Subnet, "a"),
                id: "subnet-1".into(),
                props: Props::Subnet(crate::model::SubnetProps {
                    vpc: Ref::External("vpc-1".into()),
                    cidr: "10.0.0.0/24".into(),
                    availability_zone: "x".into(),
                }),
                outputs: Default::default(),
            },
            ObservedResource {
                unknown: Default::default(),
                key: key(Kind::Subnet, "b"),
                id: "subnet-2".into(),
                props: Props::Subnet(crate::model::SubnetProps {
                    vpc: Ref::External("vpc-other".into()),
                    cidr: "10.0.1.0/24".into(),
                    availability_zone: "x".into(),
                }),
                outputs: Default::default(),
            },
        ],
    };
    o.symbolize();
    let vpc_of = |name: &str| match o.get(&key(Kind::Subnet, name)).map(|r| &r.props) {
        Some(Props::Subnet(s)) => s.vpc.clone(),
        _ => Ref::External(String::new()),
    };
    assert_eq!(vpc_of("a"), Ref::to(Kind::Vpc, "main"));
    assert_eq!(vpc_of("b"), Ref::External("vpc-other".into()));
}

#[test]
fn the_human_plan_shows_changed_fields_and_counts() {
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let Props::FileSystem(fs) = &mut r.props {
            fs.backup = false;
        }
    }
    let text = render::render_plan(&plan(&d, &o, &opts()));
    assert!(text.contains("~ update  file-system/moodledata"), "{text}");
    assert!(text.contains("backup: false → true"), "{text}");
    assert!(
        !text.contains("throughput_mode"),
        "unchanged fields are not shown: {text}"
    );
    assert!(
        text.contains("0 to add, 1 to change, 0 to replace, 0 to destroy"),
        "{text}"
    );
}

/// The observed state of a perfect apply, with one resource of `kind` changed by `f`.
fn drifted(d: &DesiredState, kind: Kind, f: impl Fn(&mut Props)) -> ObservedState {
    let mut o = observed_as(d);
    for r in o.resources.iter_mut().filter(|r| r.key.kind == kind) {
        f(&mut r.props);
    }
    o
}

fn only_change(p: &Plan) -> &Change {
    assert_eq!(p.changes.len(), 1, "{:#?}", p.changes);
    &p.changes[0]
}

fn fields_of(c: &Change) -> Vec<&str> {
    c.fields.iter().map(|f| f.field.as_str()).collect()
}

fn window() -> Applies {
    Applies::MaintenanceWindow {
        window: "sun:04:00-sun:05:00".into(),
    }
}

#[test]
fn data_tier_settings_aws_can_change_are_in_place_updates_with_their_timing() {
    let d = desired();
    type Edit = Box<dyn Fn(&mut Props)>;
    let cases: Vec<(Kind, Edit, &str, Option<Applies>)> = vec![
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.instance_class = "db.r6g.xlarge".into()
                }
            }),
            "instance_class",
            Some(window()),
        ),
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.allocated_storage_gib = Some(50)
                }
            }),
            "allocated_storage_gib",
            Some(window()),
        ),
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.multi_az = Some(false)
                }
            }),
            "multi_az",
            Some(window()),
        ),
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.backup_retention_days = Some(1)
                }
            }),
            "backup_retention_days",
            Some(Applies::Now),
        ),
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.deletion_protection = Some(false)
                }
            }),
            "deletion_protection",
            Some(Applies::Now),
        ),
        (
            Kind::DbParameterGroup,
            Box::new(|p| {
                if let Props::DbParameterGroup(g) = p {
                    g.parameters
                        .insert("max_allowed_packet".into(), "67108864".into());
                }
            }),
            "parameters",
            Some(Applies::Now),
        ),
        (
            Kind::DbParameterGroup,
            Box::new(|p| {
                if let Props::DbParameterGroup(g) = p {
                    g.parameters
                        .insert("innodb_buffer_pool_size".into(), "1073741824".into());
                }
            }),
            "parameters",
            Some(Applies::NextReboot),
        ),
        (
            Kind::DbSubnetGroup,
            Box::new(|p| {
                if let Props::DbSubnetGroup(g) = p {
                    let last = g.subnets.iter().last().cloned();
                    g.subnets.retain(|s| Some(s) != last.as_ref());
                }
            }),
            "subnets",
            None,
        ),
        (
            Kind::ReplicationGroup,
            Box::new(|p| {
                if let Props::ReplicationGroup(g) = p {
                    g.node_type = "cache.r7g.xlarge".into()
                }
            }),
            "node_type",
            Some(Applies::MaintenanceWindow {
                window: "sun:05:00-sun:06:00".into(),
            }),
        ),
        (
            Kind::ReplicationGroup,
            Box::new(|p| {
                if let Props::ReplicationGroup(g) = p {
                    g.replicas = 3
                }
            }),
            "replicas",
            Some(Applies::Now),
        ),
        (
            Kind::ReplicationGroup,
            Box::new(|p| {
                if let Props::ReplicationGroup(g) = p {
                    g.snapshot_retention_days = 0
                }
            }),
            "snapshot_retention_days",
            Some(Applies::Now),
        ),
    ];
    for (kind, edit, field, applies) in cases {
        let p = plan(&d, &drifted(&d, kind, edit), &opts());
        let c = only_change(&p);
        assert_eq!(
            (c.key.kind, c.action, fields_of(c)),
            (kind, Action::Update, vec![field]),
            "{field}"
        );
        assert_eq!(c.fields[0].applies, applies, "{field}");
        assert!(!c.destroys_data && c.final_snapshot.is_none(), "{field}");
        assert_eq!(p.check_allowed(false, false), Ok(()), "{field}");
    }
}

#[test]
fn apply_immediately_in_the_spec_makes_window_changes_apply_now() {
    let text = include_str!("../../stacks/example.yaml").replace(
        "  final_snapshot: true\n",
        "  final_snapshot: true\n  apply_immediately: true\n",
    );
    let spec = match crate::spec::load_str(&text) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    let d = desired_state(&spec, &Facts::default());
    let p = plan(
        &d,
        &drifted(&d, Kind::DbInstance, |p| {
            if let Props::DbInstance(i) = p {
                i.instance_class = "db.r6g.xlarge".into();
                // AWS never reports the directive back; it must not be a difference.
                i.apply_immediately = false;
            }
        }),
        &opts(),
    );
    let c = only_change(&p);
    assert_eq!(fields_of(c), ["instance_class"]);
    assert_eq!(c.fields[0].applies, Some(Applies::Now));
}

#[test]
fn what_aws_cannot_change_in_place_replaces_and_a_database_replacement_is_refused() {
    let d = desired();
    type Edit = Box<dyn Fn(&mut Props)>;
    let cases: Vec<(Kind, Edit, &str, bool)> = vec![
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.engine_version = Some("8.0".into())
                }
            }),
            "engine_version",
            true,
        ),
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.storage_encrypted = Some(false)
                }
            }),
            "storage_encrypted",
            true,
        ),
        (
            Kind::DbInstance,
            Box::new(|p| {
                if let Props::DbInstance(i) = p {
                    i.subnet_group = Some(Ref::External("someone-elses".into()))
                }
            }),
            "subnet_group",
            true,
        ),
        (
            Kind::ReplicationGroup,
            Box::new(|p| {
                if let Props::ReplicationGroup(g) = p {
                    g.transit_encryption = false
                }
            }),
            "transit_encryption",
            false,
        ),
        (
            Kind::ReplicationGroup,
            Box::new(|p| {
                if let Props::ReplicationGroup(g) = p {
                    g.at_rest_encryption = false
                }
            }),
            "at_rest_encryption",
            false,
        ),
        (
            Kind::ReplicationGroup,
            Box::new(|p| {
                if let Props::ReplicationGroup(g) = p {
                    g.engine = "valkey".into()
                }
            }),
            "engine",
            false,
        ),
    ];
    for (kind, edit, field, data) in cases {
        let p = plan(&d, &drifted(&d, kind, edit), &opts());
        let c = only_change(&p);
        assert_eq!((c.key.kind, c.action), (kind, Action::Replace), "{field}");
        let forced: Vec<&str> = c
            .fields
            .iter()
            .filter(|f| f.forces_replacement)
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(forced, [field]);
        assert_eq!(c.destroys_data, data, "{field}");
        if data {
            assert_eq!(
                c.final_snapshot.as_deref(),
                Some("moodle-example-db-final-test"),
                "{field}: a final snapshot of the observed identifier"
            );
            let refusal = p.check_allowed(false, true).expect_err("refused");
            assert!(
                refusal.contains("db-instance/main") && refusal.contains("--allow-data-loss"),
                "{refusal}"
            );
            // Deletion protection is on in the example: a second flag is needed too.
            let refusal = p.check_allowed(true, false).expect_err("refused");
            assert!(
                refusal.contains("--disable-deletion-protection"),
                "{refusal}"
            );
            assert_eq!(p.check_allowed(true, true), Ok(()));
        } else {
            assert_eq!(p.check_allowed(false, false), Ok(()), "{field}");
        }
    }
}

#[test]
fn a_new_parameter_group_family_replaces_the_group_and_moves_the_instance_to_it() {
    let d = desired();
    let o = drifted(&d, Kind::DbParameterGroup, |p| {
        if let Props::DbParameterGroup(g) = p {
            g.family = "mysql8.0".into()
        }
    });
    let p = plan(&d, &o, &opts());
    assert_eq!(
        action_of(&p, &key(Kind::DbParameterGroup, "main")),
        Some(Action::Replace)
    );
    // The instance only points at a new group: an update, never a data-losing replacement.
    assert_eq!(
        action_of(&p, &key(Kind::DbInstance, "main")),
        Some(Action::Update)
    );
    assert!(p.data_loss().is_empty());
}

#[test]
fn destroying_the_stack_snapshots_the_database_unless_the_spec_says_not_to() {
    let d = desired();
    let o = observed_as(&d);
    let empty = DesiredState {
        stack: d.stack.clone(),
        region: d.region.clone(),
        tags: d.tags.clone(),
        resources: Default::default(),
    };
    let p = plan(&empty, &o, &opts());
    let db = p
        .changes
        .iter()
        .find(|c| c.key == key(Kind::DbInstance, "main"))
        .expect("db deleted");
    assert!(db.destroys_data);
    assert_eq!(
        db.final_snapshot.as_deref(),
        Some("moodle-example-db-final-test")
    );
    let no_snapshot = PlanOptions {
        final_snapshot: false,
        ..opts()
    };
    let p = plan(&empty, &o, &no_snapshot);
    assert!(p.changes.iter().all(|c| c.final_snapshot.is_none()));
    assert!(render::render_plan(&p).contains("no final snapshot"));
}

#[test]
fn removing_an_aurora_reader_loses_no_data() {
    let text = include_str!("../../stacks/example.yaml").replace(
        "engine: mysql-8.4",
        "engine: aurora-mysql-3\n  aurora_readers: 2",
    );
    let spec = match crate::spec::load_str(&text) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    let d = desired_state(&spec, &Facts::default());
    let instances: Vec<String> = d
        .resources
        .keys()
        .filter(|k| k.kind == Kind::DbInstance)
        .map(|k| k.name.clone())
        .collect();
    assert_eq!(instances, ["aurora-1", "aurora-2", "aurora-3"]);
    let mut fewer = d.clone();
    fewer.resources.remove(&key(Kind::DbInstance, "aurora-3"));
    let p = plan(&fewer, &observed_as(&d), &opts());
    let c = only_change(&p);
    assert_eq!((c.action, c.destroys_data), (Action::Delete, false));
    assert_eq!(p.check_allowed(false, false), Ok(()));
}

fn example_with(edit: impl Fn(String) -> String) -> DesiredState {
    let text = edit(include_str!("../../stacks/example.yaml").to_string());
    let spec = match crate::spec::load_str(&text) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    desired_state(&spec, &Facts::default())
}

#[test]
fn scaling_edits_touch_only_the_changed_fields_of_the_group_and_policy() {
    let before = desired();
    let after = example_with(|t| {
        t.replace("cpu_target_percent: 60", "cpu_target_percent: 50")
            .replace("  max: 8\n", "  max: 10\n")
    });
    let p = plan(&after, &observed_as(&before), &opts());
    let got: Vec<(String, Action, Vec<&str>)> = p
        .changes
        .iter()
        .map(|c| (c.key.to_string(), c.action, fields_of(c)))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "auto-scaling-group/web".to_string(),
                Action::Update,
                vec!["max_size"]
            ),
            (
                "scaling-policy/cpu".to_string(),
                Action::Update,
                vec!["target_value"]
            ),
        ]
    );
    // The same group and load balancer: nothing replaced, nothing in the data tier touched.
    assert!(p.changes.iter().all(|c| c.action == Action::Update));
}

#[test]
fn a_template_change_is_a_new_version_that_the_group_rolls_onto() {
    let before = desired();
    let after = example_with(|t| t.replace("  max: 8\n", "  max: 8\n  root_volume_gib: 30\n"));
    let p = plan(&after, &observed_as(&before), &opts());
    let template = p
        .changes
        .iter()
        .find(|c| c.key == key(Kind::LaunchTemplate, "web"))
        .expect("template changes");
    assert_eq!(
        (template.action, fields_of(template)),
        (Action::Update, vec!["root_volume_gib"])
    );
    let group = p
        .changes
        .iter()
        .find(|c| c.key == key(Kind::AutoScalingGroup, "web"))
        .expect("group follows");
    assert_eq!(
        (group.action, fields_of(group)),
        (Action::Update, vec!["launch_template_version"])
    );
    assert_eq!(
        group.fields[0].applies,
        Some(Applies::InstanceRefresh {
            min_healthy_percent: 90
        })
    );
    assert!(
        render::render_plan(&p).contains("rolls the fleet (instance refresh, 90% kept in service)")
    );
}

#[test]
fn an_unset_desired_capacity_is_never_fought_over() {
    let d = example_with(|t| t.replace("  desired: 4\n", ""));
    let o = drifted(&d, Kind::AutoScalingGroup, |p| {
        if let Props::AutoScalingGroup(g) = p {
            g.desired_capacity = Some(7); // the scaling policies moved it
        }
    });
    assert!(plan(&d, &o, &opts()).is_empty());
    // When the spec sets it, it is managed.
    let d = desired();
    let o = drifted(&d, Kind::AutoScalingGroup, |p| {
        if let Props::AutoScalingGroup(g) = p {
            g.desired_capacity = Some(7);
        }
    });
    let p = plan(&d, &o, &opts());
    assert_eq!(fields_of(only_change(&p)), ["desired_capacity"]);
}

#[test]
fn the_plan_shows_user_data_by_description_only() {
    let d = desired();
    let p = plan(&d, &ObservedState::default(), &opts());
    let text = render::render_plan(&p);
    assert!(
        text.contains("user_data: web node, Moodle 4.5, nginx, ubuntu-24.04, PHP 8.3 sha256:")
            && text.contains("user_data: cron instance, nginx, ubuntu-24.04, PHP 8.3 sha256:"),
        "{text}"
    );
    assert!(
        !text.contains("#cloud-config"),
        "the user data itself is not printed"
    );
}

#[test]
fn drift_reads_the_plan_backwards() {
    let d = desired();
    let mut o = drifted(&d, Kind::TargetGroup, |p| {
        if let Props::TargetGroup(t) = p {
            t.deregistration_delay_seconds = 300;
        }
    });
    o.resources
        .retain(|r| r.key != key(Kind::MountTarget, "eu-west-1a"));
    o.resources.push(ObservedResource {
        unknown: Default::default(),
        key: key(Kind::SecurityGroup, "stray-sg-1"),
        id: "sg-1".into(),
        props: Props::SecurityGroup(crate::model::SecurityGroupProps {
            vpc: Ref::to(Kind::Vpc, "main"),
            group_name: "by-hand".into(),
            description: "made in the console".into(),
        }),
        outputs: Default::default(),
    });
    let report = drift::report(&plan(&d, &o, &opts()));
    assert!(report.drift);
    let got: Vec<(String, drift::DriftStatus)> = report
        .resources
        .iter()
        .map(|r| (r.key.to_string(), r.status))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "security-group/stray-sg-1".to_string(),
                drift::DriftStatus::Unmanaged
            ),
            (
                "mount-target/eu-west-1a".to_string(),
                drift::DriftStatus::Missing
            ),
            ("target-group/web".to_string(), drift::DriftStatus::Drifted),
        ]
    );
    let tg = &report.resources[2];
    assert_eq!(tg.fields.len(), 1);
    assert_eq!(tg.fields[0].field, "deregistration_delay_seconds");
    assert_eq!(
        (&tg.fields[0].expected, &tg.fields[0].actual),
        (&serde_json::json!(120), &serde_json::json!(300))
    );
    assert_eq!(
        (
            report.summary.drifted,
            report.summary.missing,
            report.summary.unmanaged
        ),
        (1, 1, 1)
    );
    let text = drift::render(&report);
    assert!(
        text.contains("deregistration_delay_seconds: expected 120, actual 300"),
        "{text}"
    );
    let none = drift::report(&plan(&d, &observed_as(&d), &opts()));
    assert!(!none.drift && none.resources.is_empty());
}

#[test]
fn only_web_scaling_keeps_the_group_size_and_policies_and_nothing_else() {
    let before = desired();
    let after = example_with(|t| {
        t.replace("cpu_target_percent: 60", "cpu_target_percent: 50")
            .replace("  max: 8\n", "  max: 10\n  root_volume_gib: 30\n")
            .replace(
                "instance_class: db.r6g.large",
                "instance_class: db.r6g.xlarge",
            )
    });
    let full = plan(&after, &observed_as(&before), &opts());
    assert!(full.changes.iter().any(|c| c.key.kind == Kind::DbInstance));
    let limited = select::select(&full, "web.scaling").expect("a part");
    let got: Vec<(String, Vec<&str>)> = limited
        .changes
        .iter()
        .map(|c| (c.key.to_string(), fields_of(c)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("auto-scaling-group/web".to_string(), vec!["max_size"]),
            ("scaling-policy/cpu".to_string(), vec!["target_value"]),
        ]
    );
    // What apply sends for the group: AWS's current state with only the new size.
    let Some(Props::AutoScalingGroup(g)) = &limited.changes[0].desired else {
        panic!("group attributes");
    };
    let Some(Props::AutoScalingGroup(was)) = &limited.changes[0].observed else {
        panic!("observed group");
    };
    assert_eq!(g.max_size, 10);
    assert_eq!(g.launch_template_version, was.launch_template_version);
    assert_eq!(limited.only.as_deref(), Some("web.scaling"));
    let err = select::select(&full, "everything").expect_err("unknown part");
    assert!(
        err.contains("web.scaling") && err.contains("database"),
        "{err}"
    );
}

#[test]
fn a_saved_plan_is_stale_once_a_managed_attribute_changes_in_aws() {
    let d = example_with(|t| t.replace("  desired: 4\n", ""));
    let o = observed_as(&d);
    let p = plan(&d, &o, &opts());
    assert!(p.still_matches(&o));
    // The scaling policies move the desired capacity: the spec leaves it to them.
    let scaled = drifted(&d, Kind::AutoScalingGroup, |p| {
        if let Props::AutoScalingGroup(g) = p {
            g.desired_capacity = Some(6);
        }
    });
    assert!(p.still_matches(&scaled));
    // Someone changes the maximum: the plan no longer describes AWS.
    let edited = drifted(&d, Kind::AutoScalingGroup, |p| {
        if let Props::AutoScalingGroup(g) = p {
            g.max_size = 20;
        }
    });
    assert!(!p.still_matches(&edited));
    // A saved plan round-trips through its JSON form.
    let text = serde_json::to_string(&p).expect("serialize");
    let back: Plan = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, p);
}

#[test]
fn the_requests_policy_waits_for_the_listener_that_attaches_its_target_group() {
    let d = desired();
    let policy = &d.resources[&key(Kind::ScalingPolicy, "requests")];
    let deps = policy.dependencies();
    assert!(deps.contains(&key(Kind::Listener, "https")), "{deps:?}");
    // The listener is an ordering directive, never a difference with AWS.
    let o = drifted(&d, Kind::ScalingPolicy, |p| {
        if let Props::ScalingPolicy(s) = p {
            s.listener = None;
        }
    });
    assert!(plan(&d, &o, &opts()).is_empty());
}

/// What AWS would report after a perfect apply of `d`, before `symbolize`: references are the
/// made-up IDs `id-<key>` of what they refer to.
fn raw_observed_as(d: &DesiredState) -> ObservedState {
    ObservedState {
        resources: d
            .resources
            .iter()
            .map(|(key, props)| {
                let mut props = props.clone();
                props.map_refs(|r| match r {
                    Ref::Managed { key } => Ref::External(format!("id-{key}")),
                    other => other.clone(),
                });
                ObservedResource {
                    unknown: Default::default(),
                    key: key.clone(),
                    id: format!("id-{key}"),
                    props,
                    outputs: Default::default(),
                }
            })
            .collect(),
    }
}

/// Adds a second resource under `k` with ID `id` (sorting before the `id-…` of the one in use), unwired: what a
/// create whose answer was lost leaves when it is sent again.
fn with_duplicate(mut o: ObservedState, k: &ResourceKey, id: &str, props: Props) -> ObservedState {
    o.resources.push(ObservedResource {
        unknown: Default::default(),
        key: k.clone(),
        id: id.into(),
        props,
        outputs: Default::default(),
    });
    o
}

fn only_the_duplicate_goes(d: &DesiredState, mut o: ObservedState, k: &ResourceKey, dup: &str) {
    planner::symbolize(&mut o);
    assert_eq!(
        o.ids().get(k).map(String::as_str),
        Some(format!("id-{k}").as_str()),
        "apply resolves {k} to the one in use"
    );
    let p = plan(d, &o, &opts());
    let changes: Vec<_> = p
        .changes
        .iter()
        .map(|c| (c.key.to_string(), c.action, c.id.clone()))
        .collect();
    assert_eq!(
        changes,
        [(k.to_string(), Action::Delete, Some(dup.to_string()))],
        "{:?}",
        p.changes
    );
    assert!(
        p.changes[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("duplicate of")),
        "{:?}",
        p.changes[0].reason
    );
}

#[test]
fn of_two_elastic_ips_the_one_a_nat_gateway_holds_is_kept() {
    let d = desired();
    let eip = key(Kind::ElasticIp, "nat-eu-west-1a");
    let o = with_duplicate(
        raw_observed_as(&d),
        &eip,
        "dup-eipalloc",
        Props::ElasticIp {},
    );
    only_the_duplicate_goes(&d, o, &eip, "dup-eipalloc");
}

#[test]
fn of_two_vpcs_the_one_with_the_subnets_is_kept() {
    let d = desired();
    let vpc = key(Kind::Vpc, "main");
    let props = d.resources[&vpc].clone();
    let o = with_duplicate(raw_observed_as(&d), &vpc, "dup-vpc", props);
    only_the_duplicate_goes(&d, o, &vpc, "dup-vpc");
}

#[test]
fn of_two_subnets_the_one_in_use_is_kept() {
    let d = desired();
    let subnet = key(Kind::Subnet, "private-eu-west-1a");
    let mut props = d.resources[&subnet].clone();
    props.map_refs(|r| match r {
        Ref::Managed { key } => Ref::External(format!("id-{key}")),
        other => other.clone(),
    });
    let o = with_duplicate(raw_observed_as(&d), &subnet, "dup-subnet", props);
    only_the_duplicate_goes(&d, o, &subnet, "dup-subnet");
}

#[test]
fn of_two_internet_gateways_the_attached_one_is_kept() {
    let d = desired();
    let igw = key(Kind::InternetGateway, "main");
    let o = with_duplicate(
        raw_observed_as(&d),
        &igw,
        "dup-igw",
        Props::InternetGateway(crate::model::InternetGatewayProps { vpc: None }),
    );
    only_the_duplicate_goes(&d, o, &igw, "dup-igw");
}

#[test]
fn of_two_route_tables_the_one_with_routes_and_subnets_is_kept() {
    let d = desired();
    let table = key(Kind::RouteTable, "private-eu-west-1a");
    let o = with_duplicate(
        raw_observed_as(&d),
        &table,
        "dup-rtb",
        Props::RouteTable(crate::model::RouteTableProps {
            vpc: Ref::External("id-vpc/main".into()),
            routes: Set::default(),
            subnets: Set::default(),
        }),
    );
    only_the_duplicate_goes(&d, o, &table, "dup-rtb");
}

#[test]
fn symbolize_changes_nothing_without_duplicates() {
    let d = desired();
    let mut o = raw_observed_as(&d);
    planner::symbolize(&mut o);
    assert_eq!(o, observed_as(&d));
    assert!(plan(&d, &o, &opts()).changes.is_empty());
}

/// `props` as AWS might answer: every list in another order (reversed).
fn reversed_lists(props: &Props) -> Props {
    fn reverse(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Array(items) => {
                items.reverse();
                items.iter_mut().for_each(reverse);
            }
            serde_json::Value::Object(map) => map.values_mut().for_each(reverse),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(props).unwrap_or_default();
    reverse(&mut value);
    match serde_json::from_value(value) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn sets_in_any_order_plan_nothing_and_a_reordered_sequence_is_one_printed_update() {
    // The spec's AZs (and their CIDRs) in another order than AWS lists them.
    let text = include_str!("../../stacks/example.yaml")
        .replace(
            "[eu-west-1a, eu-west-1b, eu-west-1c]",
            "[eu-west-1c, eu-west-1a, eu-west-1b]",
        )
        .replace(
            "[10.40.0.0/24, 10.40.1.0/24, 10.40.2.0/24]",
            "[10.40.2.0/24, 10.40.0.0/24, 10.40.1.0/24]",
        )
        .replace(
            "[10.40.16.0/20, 10.40.32.0/20, 10.40.48.0/20]",
            "[10.40.48.0/20, 10.40.16.0/20, 10.40.32.0/20]",
        );
    let spec = match crate::spec::load_str(&text) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    let d = desired_state(&spec, &Facts::default());
    // AWS answers with every list reversed.
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        r.props = reversed_lists(&r.props);
    }
    let p = plan(&d, &o, &opts());
    // Only the instance types, a priority order, differ.
    let changed: Vec<(String, Vec<String>)> = p
        .changes
        .iter()
        .map(|c| {
            (
                c.key.to_string(),
                c.fields.iter().map(|f| f.field.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        vec![(
            "auto-scaling-group/web".to_string(),
            vec!["instance_types".to_string()]
        )]
    );
    assert_eq!(p.changes[0].action, Action::Update);
    let text = render::render_plan(&p);
    assert!(
        text.contains(
            "instance_types: [t3.large, c6i.large, c7i.large, m6i.large, m7i.large] → [m7i.large, m6i.large, c7i.large, c6i.large, t3.large]"
        ),
        "{text}"
    );
}

#[test]
fn every_printed_update_says_what_changed() {
    // A set that gains and loses members prints them; nothing prints a bare `field:`.
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let Props::RouteTable(rt) = &mut r.props {
            if r.key.name == "public" {
                rt.subnets = Set::new([Ref::External("subnet-stray".into())]);
            }
        }
    }
    let text = render::render_plan(&plan(&d, &o, &opts()));
    assert!(text.contains("- subnet-stray"), "{text}");
    assert!(text.contains("+ subnet/public-eu-west-1a"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        if line.starts_with("      ") && line.trim_end().ends_with(':') {
            let next = lines.get(n + 1).copied().unwrap_or_default();
            assert!(
                next.starts_with("        "),
                "a change that prints nothing: {line:?}\n{text}"
            );
        }
    }
}

#[test]
fn a_field_aws_did_not_report_is_unknown_never_a_replacement() {
    let d = desired();
    let mut o = observed_as(&d);
    for r in &mut o.resources {
        if let Props::Instance(i) = &mut r.props {
            // The root volume was not in DescribeVolumes' answer: placeholders, marked unknown.
            i.root_volume_gib = 0;
            i.root_volume_type = String::new();
            i.root_volume_encrypted = false;
            r.unknown = [
                "root_volume_gib",
                "root_volume_type",
                "root_volume_encrypted",
            ]
            .map(String::from)
            .into();
        }
    }
    let p = plan(&d, &o, &opts());
    assert!(p.is_empty(), "{:?}", p.changes);
    let cron = key(Kind::Instance, "cron");
    assert_eq!(
        p.unreadable.get(&cron).map(Vec::len),
        Some(3),
        "{:?}",
        p.unreadable
    );
    let report = drift::report(&p);
    assert!(!report.drift);
    let text = drift::render(&report);
    assert!(text.contains("instance/cron: AWS did not report root_volume_encrypted, root_volume_gib, root_volume_type; not checked"), "{text}");
    // The same answer without the unknown marks would replace the instance.
    for r in &mut o.resources {
        r.unknown.clear();
    }
    assert_eq!(
        action_of(&plan(&d, &o, &opts()), &cron),
        Some(Action::Replace)
    );
}

#[test]
fn a_stack_bucket_control_switched_off_is_an_in_place_update_and_deleting_it_says_what_goes() {
    let d = desired();
    let mut o = observed_as(&d);
    let bucket = key(Kind::Bucket, "stack");
    for r in &mut o.resources {
        if let (true, Props::Bucket(b)) = (r.key == bucket, &mut r.props) {
            b.block_public_access = false;
            b.policy = crate::model::Policy::default();
        }
    }
    let p = plan(&d, &o, &opts());
    let c = p
        .changes
        .iter()
        .find(|c| c.key == bucket)
        .expect("the bucket changes");
    assert_eq!(c.action, Action::Update);
    let fields: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["block_public_access", "policy"]);
    assert!(!c.destroys_data);

    let nothing = DesiredState {
        resources: Default::default(),
        ..d.clone()
    };
    let gone = plan(&nothing, &observed_as(&d), &opts());
    let c = gone
        .changes
        .iter()
        .find(|c| c.key == bucket)
        .expect("the bucket is deleted");
    assert!(c.destroys_data);
    assert!(
        c.reason
            .as_deref()
            .is_some_and(|r| r.contains("access logs and the Moodle releases")),
        "{:?}",
        c.reason
    );
}

#[test]
fn a_new_release_is_one_update_of_the_release_and_nothing_else() {
    let spec = match crate::spec::load_str(include_str!("../../stacks/example.yaml")) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    let release = |commit: &str, version: &str| crate::release::Release {
        commit: commit.repeat(40),
        key: crate::release::archive_key(&commit.repeat(40)),
        sha256: commit.repeat(64),
        version: version.into(),
        release: "4.5.x".into(),
        branch: "405".into(),
    };
    let facts = |r| Facts {
        account: Some("123456789012".into()),
        release: Some(r),
        ..Facts::default()
    };
    let before = desired_state(&spec, &facts(release("a", "2024100706.00")));
    let after = desired_state(&spec, &facts(release("b", "2024100707.00")));
    let p = plan(&after, &observed_as(&before), &opts());
    let changed: Vec<(ResourceKey, Action, Vec<&str>)> = p
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            (
                c.key.clone(),
                c.action,
                c.fields.iter().map(|f| f.field.as_str()).collect(),
            )
        })
        .collect();
    // The launch template and the cron instance (their user data) are untouched: a node reads
    // the record at boot, so only the record changes.
    assert_eq!(
        changed,
        vec![(
            key(Kind::Release, "site"),
            Action::Update,
            vec!["commit", "key", "sha256", "version"]
        )]
    );
    // Built before the record is written: the release refers to the stack's bucket.
    let Some(Props::Release(r)) = after.resources.get(&key(Kind::Release, "site")) else {
        panic!("no release");
    };
    assert_eq!(r.bucket, Ref::to(Kind::Bucket, "stack"));
    assert_eq!(r.parameter, "/moodle-ha/moodle-example/release");
    // Without a built release (render) there is no release resource.
    assert!(
        !desired()
            .resources
            .contains_key(&key(Kind::Release, "site"))
    );
}

#[test]
fn load_balancer_protections_switched_off_are_updated_in_place_and_guard_its_deletion() {
    let d = desired();
    let mut o = observed_as(&d);
    let lb = key(Kind::LoadBalancer, "main");
    for r in &mut o.resources {
        if let (true, Props::LoadBalancer(p)) = (r.key == lb, &mut r.props) {
            p.drop_invalid_header_fields = false;
            p.desync_mitigation_mode = "monitor".into();
            p.access_logs_bucket = None;
        }
    }
    let p = plan(&d, &o, &opts());
    let c = p.changes.iter().find(|c| c.key == lb).expect("changed");
    assert_eq!(c.action, Action::Update);
    let fields: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "access_logs_bucket",
            "desync_mitigation_mode",
            "drop_invalid_header_fields"
        ]
    );

    let nothing = DesiredState {
        resources: Default::default(),
        ..d.clone()
    };
    let gone = plan(&nothing, &observed_as(&d), &opts());
    let refused = gone.check_allowed(true, false).err().unwrap_or_default();
    assert!(refused.contains("load-balancer/main"), "{refused}");
    assert!(gone.check_allowed(true, true).is_ok());
}

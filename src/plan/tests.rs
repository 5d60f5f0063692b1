//! Planner tests on fake observed states.

use super::*;
use crate::desired::{DesiredState, Facts, desired_state};
use crate::model::{Kind, Props, Ref, ResourceKey};
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
            rules.ingress.push(crate::model::Rule {
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
                key: key(Kind::Vpc, "main"),
                id: "vpc-1".into(),
                props: Props::Vpc(crate::model::VpcProps {
                    cidr: "10.0.0.0/16".into(),
                    dns_support: true,
                    dns_hostnames: true,
                }),
                outputs: Default::default(),
            },
            ObservedResource {
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

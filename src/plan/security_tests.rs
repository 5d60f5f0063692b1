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
        [("log-group/rds-error", Action::Replace)],
        "a log group cannot be renamed"
    );
}

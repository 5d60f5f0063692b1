//! Reading AWS's answers, the one way for every adapter: a value the stack needs (the ID a
//! create returns) is [`required`] (its absence is an error naming the call, never an empty
//! ID); a name already taken is adopted only when it is the stack's ([`adopt_if_ours`], one
//! wording everywhere); the groups RDS and ElastiCache answer alike are mapped once
//! ([`subnet_group`], [`parameter_group`]). Managed attributes that may be absent go through
//! [`crate::observed::Unknown`] instead.

use crate::model::{DbParameterGroupProps, Kind, Props, Ref, ResourceKey, SubnetGroupProps};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{anyhow, bail};
use std::collections::BTreeMap;

/// An optional text as an owned string, empty when absent. Only for values that are not
/// managed attributes or IDs (names in messages, lookups that then fail to match).
pub fn text(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// The identifier `field` of `call`'s answer: an error naming both when AWS left it out or
/// empty (the resource may exist; the next plan finds it by its tags).
pub fn required(value: Option<&str>, call: &str, field: &str) -> anyhow::Result<String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(anyhow!(
            "{call} answered without the new resource's {field}; if it was created, the next `moodle-ha apply` finds it by its tags"
        )),
    }
}

/// A create found `name` taken (an interrupted earlier run, or someone else): adopt it only
/// when its tags say it is resource `key` of stack `stack` (`owner`), otherwise refuse and
/// leave it alone.
pub fn adopt_if_ours(
    stack: &str,
    what: &str,
    name: &str,
    key: &ResourceKey,
    owner: Option<&ResourceKey>,
) -> anyhow::Result<()> {
    if owner == Some(key) {
        return Ok(());
    }
    bail!(
        "{what} `{name}` already exists and is not tagged as {key} of stack `{stack}`; it was left alone"
    )
}

/// A DB or cluster parameter group (`kind`) as the model sees it: its name, family,
/// description and the parameters set in it. A family or description AWS left out is unknown.
/// Pure.
pub fn parameter_group(
    kind: Kind,
    key: ResourceKey,
    name: &str,
    family: Option<&str>,
    description: Option<&str>,
    parameters: BTreeMap<String, String>,
) -> ObservedResource {
    let mut u = Unknown::default();
    let group = DbParameterGroupProps {
        parameters,
        name: name.to_string(),
        family: u.text("family", family),
        description: u.text("description", description),
    };
    ObservedResource {
        unknown: u.fields(),
        key,
        id: name.to_string(),
        props: match kind {
            Kind::DbClusterParameterGroup => Props::DbClusterParameterGroup(group),
            _ => Props::DbParameterGroup(group),
        },
        outputs: BTreeMap::new(),
    }
}

/// The parameters of a DescribeDBParameters or DescribeDBClusterParameters answer that have
/// a value, by name. Pure.
pub fn parameter_values(params: &[aws_sdk_rds::types::Parameter]) -> BTreeMap<String, String> {
    params
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_name()?.to_string(),
                p.parameter_value()?.to_string(),
            ))
        })
        .collect()
}

/// A DB or cache subnet group (`kind`) as the model sees it, from what both services' answers
/// hold: its name, description and subnet IDs. A description or subnet list AWS left out is
/// unknown (a group always has subnets). Pure.
pub fn subnet_group(
    kind: Kind,
    key: ResourceKey,
    name: &str,
    description: Option<&str>,
    subnets: Vec<&str>,
) -> ObservedResource {
    let mut u = Unknown::default();
    if subnets.is_empty() {
        u.missing("subnets");
    }
    let group = SubnetGroupProps {
        name: name.to_string(),
        description: u.text("description", description),
        subnets: subnets
            .into_iter()
            .map(|s| Ref::External(s.to_string()))
            .collect(),
    };
    let mut props = match kind {
        Kind::CacheSubnetGroup => Props::CacheSubnetGroup(group),
        _ => Props::DbSubnetGroup(group),
    };
    props.normalize();
    ObservedResource {
        unknown: u.fields(),
        key,
        id: name.to_string(),
        props,
        outputs: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_the_id_is_an_error_naming_the_call_and_field() {
        let e = required(None, "PutScalingPolicy", "PolicyARN")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("PutScalingPolicy answered without the new resource's PolicyARN"),
            "{e}"
        );
        assert!(required(Some(""), "CreateVpc", "VpcId").is_err());
        assert_eq!(
            required(Some("vpc-1"), "CreateVpc", "VpcId")
                .ok()
                .as_deref(),
            Some("vpc-1")
        );
    }

    #[test]
    fn a_taken_name_is_adopted_only_when_its_tags_say_it_is_ours() {
        let key = ResourceKey::new(crate::model::Kind::Secret, "admin");
        assert!(adopt_if_ours("s", "secret", "moodle-ha/s/admin", &key, Some(&key)).is_ok());
        let other = ResourceKey::new(crate::model::Kind::Secret, "db-user");
        for owner in [None, Some(&other)] {
            let e = adopt_if_ours("s", "secret", "moodle-ha/s/admin", &key, owner)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!(
                e,
                "secret `moodle-ha/s/admin` already exists and is not tagged as secret/admin of stack `s`; it was left alone"
            );
        }
    }
}

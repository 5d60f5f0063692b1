//! The Aurora cluster's parameter group (RDS): the settings Aurora MySQL only takes at the
//! cluster level, `require_secure_transport` first among them. Read like the DB parameter
//! groups: every group named for the stack, its tags and user-set parameters at once.

use super::Aws;
use super::errors::tolerate;
use super::rds::{ensure_owned, owned_by_arn, tags};
use crate::executor::{Operation, Step};
use crate::model::{DbParameterGroupProps, Kind, Props, ResourceKey};
use crate::observed::ObservedResource;
use anyhow::{Context, bail};
use aws_sdk_rds::types::{ApplyMethod, Parameter};
use std::collections::BTreeMap;

/// The stack's cluster parameter groups.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let groups: Vec<_> = aws
        .rds
        .describe_db_cluster_parameter_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeDBClusterParameterGroups")?;
    let candidates: Vec<_> = groups
        .into_iter()
        .filter(|g| {
            g.db_cluster_parameter_group_name()
                .is_some_and(|n| n.starts_with(&format!("{}-", aws.tags.stack)))
        })
        .collect();
    let details = futures::future::try_join_all(candidates.iter().map(|g| async move {
        let name = g.db_cluster_parameter_group_name().unwrap_or_default();
        tokio::try_join!(
            owned_by_arn(
                aws,
                name,
                g.db_cluster_parameter_group_arn().unwrap_or_default()
            ),
            user_parameters(aws, name)
        )
    }))
    .await?;
    Ok(candidates
        .into_iter()
        .zip(details)
        .filter_map(|(g, (key, parameters))| map_group(&g, key?, parameters))
        .collect())
}

/// A cluster parameter group with the parameters set in it (read by their own call): a
/// family or description AWS left out is unknown. `None` without a name. Pure.
pub fn map_group(
    g: &aws_sdk_rds::types::DbClusterParameterGroup,
    key: ResourceKey,
    parameters: BTreeMap<String, String>,
) -> Option<ObservedResource> {
    Some(super::answer::parameter_group(
        Kind::DbClusterParameterGroup,
        key,
        g.db_cluster_parameter_group_name()?,
        g.db_parameter_group_family(),
        g.description(),
        parameters,
    ))
}

/// The parameters set in the group (not the engine defaults).
async fn user_parameters(aws: &Aws, group: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let params: Vec<_> = aws
        .rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name(group)
        .source("user")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeDBClusterParameters")?;
    Ok(super::answer::parameter_values(&params))
}

/// Carries out one planned step on a cluster parameter group.
pub async fn execute(aws: &Aws, op: &Operation) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Create, Some(Props::DbClusterParameterGroup(p))) => {
            create(aws, &change.key, p).await?;
            Ok(Some(p.name.clone()))
        }
        (Step::Update, Some(Props::DbClusterParameterGroup(p))) => {
            let old = match change.observed.as_ref() {
                Some(Props::DbClusterParameterGroup(b)) => b.parameters.clone(),
                _ => BTreeMap::new(),
            };
            set_parameters(aws, &p.name, &old, &p.parameters)
                .await
                .map(|()| None)
        }
        (Step::Delete, _) => {
            tolerate(
                aws.rds
                    .delete_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(&id)
                    .send()
                    .await,
                &["DBParameterGroupNotFound"],
                "DeleteDBClusterParameterGroup",
            )?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

async fn create(aws: &Aws, key: &ResourceKey, p: &DbParameterGroupProps) -> anyhow::Result<()> {
    let created = aws
        .rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(&p.name)
        .db_parameter_group_family(&p.family)
        .description(&p.description)
        .set_tags(Some(tags(aws, key)))
        .send()
        .await;
    let existing = match created {
        Ok(_) => BTreeMap::new(),
        Err(e) if super::errors::is_code(&e, "DBParameterGroupAlreadyExists") => {
            let out = aws
                .rds
                .describe_db_cluster_parameter_groups()
                .db_cluster_parameter_group_name(&p.name)
                .send()
                .await
                .context("DescribeDBClusterParameterGroups")?;
            let arn = out
                .db_cluster_parameter_groups()
                .first()
                .and_then(|g| g.db_cluster_parameter_group_arn())
                .unwrap_or_default();
            ensure_owned(aws, "DB cluster parameter group", key, &p.name, arn).await?;
            user_parameters(aws, &p.name).await?
        }
        Err(e) => return Err(e).context("CreateDBClusterParameterGroup"),
    };
    set_parameters(aws, &p.name, &existing, &p.parameters).await
}

/// Sets changed parameters at once (the cluster-level ones the stack sets are dynamic) and
/// resets the ones no longer wanted, at most 20 per call.
async fn set_parameters(
    aws: &Aws,
    group: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let parameter = |name: &str, value: Option<&String>| {
        Parameter::builder()
            .parameter_name(name)
            .set_parameter_value(value.cloned())
            .apply_method(ApplyMethod::Immediate)
            .build()
    };
    let changed: Vec<Parameter> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| parameter(k, Some(v)))
        .collect();
    for chunk in changed.chunks(20) {
        aws.rds
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(group)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .context("ModifyDBClusterParameterGroup")?;
    }
    let removed: Vec<Parameter> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| parameter(k, None))
        .collect();
    for chunk in removed.chunks(20) {
        aws.rds
            .reset_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(group)
            .reset_all_parameters(false)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .context("ResetDBClusterParameterGroup")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use aws_sdk_rds::types::DbClusterParameterGroup;

    #[test]
    fn a_cluster_parameter_group_maps_its_parameters_and_marks_what_aws_left_out() {
        let key = || ResourceKey::new(Kind::DbClusterParameterGroup, "main");
        let set = BTreeMap::from([("require_secure_transport".to_string(), "ON".to_string())]);
        let full = DbClusterParameterGroup::builder()
            .db_cluster_parameter_group_name("s-aurora-mysql8-0-cluster")
            .db_parameter_group_family("aurora-mysql8.0")
            .description("moodle-ha s")
            .build();
        let r = map_group(&full, key(), set.clone()).expect("a group");
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let Props::DbClusterParameterGroup(p) = &r.props else {
            panic!("not a cluster parameter group")
        };
        assert_eq!(p.parameters["require_secure_transport"], "ON");
        let bare = DbClusterParameterGroup::builder()
            .db_cluster_parameter_group_name("s-aurora-mysql8-0-cluster")
            .build();
        let r = map_group(&bare, key(), set).expect("a group");
        assert_eq!(
            r.unknown.iter().collect::<Vec<_>>(),
            ["description", "family"]
        );
        assert!(
            map_group(
                &DbClusterParameterGroup::builder().build(),
                key(),
                BTreeMap::new()
            )
            .is_none()
        );
    }
}

//! The CloudWatch Logs adapter: the stack's log groups (the database's exported logs, the
//! VPC's flow logs, any group the desired state names), each created with the stack's tags
//! and the spec's retention. DescribeLogGroups cannot filter by tag: the groups are listed
//! under the name prefixes the stack's names use ([`Names::log_group_prefixes`]), then each
//! one's tags (ListTagsForResource, all at once) say whether it is the stack's.

use super::Aws;
use super::answer::adopt_if_ours;
use super::errors::{is_code, tolerate};
use crate::executor::{Operation, Step};
use crate::model::{Kind, LogGroupProps, Props, ResourceKey};
use crate::names::Names;
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_cloudwatchlogs::types::LogGroup;
use std::collections::{BTreeMap, HashMap};

/// The output naming a log group's ARN, e.g. `log-group.rds-error.arn`.
pub fn arn_output(name: &str) -> String {
    format!("log-group.{name}.arn")
}

/// The stack's log groups: one paginated DescribeLogGroups per name prefix, then every
/// group's tags at once.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let prefixes = Names::of(&aws.tags.stack).log_group_prefixes();
    let lists = futures::future::try_join_all(prefixes.iter().map(|prefix| async move {
        let groups: Vec<LogGroup> = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .context("DescribeLogGroups")?;
        Ok::<_, anyhow::Error>(groups)
    }))
    .await?;
    // Prefixes do not overlap today; a group listed twice is still read once.
    let mut groups: BTreeMap<String, LogGroup> = BTreeMap::new();
    for g in lists.into_iter().flatten() {
        if let Some(name) = g.log_group_name() {
            groups.entry(name.to_string()).or_insert(g);
        }
    }
    let found = futures::future::try_join_all(groups.values().map(|g| async move {
        let Some(arn) = group_arn(g) else {
            return Ok(None);
        };
        let tags = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .context("ListTagsForResource")?;
        let owner = tags.tags().and_then(|t| {
            aws.tags
                .owned_key(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        });
        Ok::<_, anyhow::Error>(owner.and_then(|key| map_log_group(g, key)))
    }))
    .await?;
    Ok(found.into_iter().flatten().collect())
}

/// A log group's ARN without the `:*` DescribeLogGroups' `arn` ends with (the form
/// ListTagsForResource takes).
fn group_arn(g: &LogGroup) -> Option<String> {
    g.log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
}

/// A log group of the stack (`key`, from its tags) as the model sees it; `None` for a key of
/// another kind or a group without a name. A group without a retention keeps its events
/// forever (`None`, which AWS says by leaving `retentionInDays` out). Its name is its ID; its
/// ARN an output. Pure.
pub fn map_log_group(g: &LogGroup, key: ResourceKey) -> Option<ObservedResource> {
    if key.kind != Kind::LogGroup {
        return None;
    }
    let name = g.log_group_name()?.to_string();
    let u = Unknown::default();
    let props = Props::LogGroup(LogGroupProps {
        name: name.clone(),
        retention_days: g.retention_in_days().and_then(|d| u32::try_from(d).ok()),
    });
    let outputs = group_arn(g)
        .map(|arn| BTreeMap::from([(arn_output(&key.name), arn)]))
        .unwrap_or_default();
    Some(ObservedResource {
        unknown: u.fields(),
        outputs,
        key,
        id: name,
        props,
    })
}

/// Carries out one planned step on a log group.
pub async fn execute(aws: &Aws, op: &Operation) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Create, Some(Props::LogGroup(p))) => {
            create(aws, &change.key, p).await?;
            Ok(Some(p.name.clone()))
        }
        (Step::Update, Some(Props::LogGroup(p))) => {
            set_retention(aws, &id, p.retention_days).await?;
            Ok(None)
        }
        (Step::Delete, _) => {
            tolerate(
                aws.logs.delete_log_group().log_group_name(&id).send().await,
                &["ResourceNotFoundException"],
                "DeleteLogGroup",
            )?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

/// Creates the group with the stack's tags (or adopts the one an earlier run made), then
/// sets its retention.
async fn create(aws: &Aws, key: &ResourceKey, p: &LogGroupProps) -> anyhow::Result<()> {
    let tags: HashMap<String, String> = aws.tags.for_resource(key).into_iter().collect();
    let created = aws
        .logs
        .create_log_group()
        .log_group_name(&p.name)
        .set_tags(Some(tags))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if is_code(&e, "ResourceAlreadyExistsException") => {
            let found = aws
                .logs
                .describe_log_groups()
                .log_group_name_prefix(&p.name)
                .send()
                .await
                .context("DescribeLogGroups")?;
            let arn = found
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(p.name.as_str()))
                .and_then(group_arn)
                .with_context(|| format!("log group `{}` exists but is not listed", p.name))?;
            let tags = aws
                .logs
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .context("ListTagsForResource")?;
            let owner = tags.tags().and_then(|t| {
                aws.tags
                    .owned_key(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            });
            adopt_if_ours(&aws.tags.stack, "log group", &p.name, key, owner.as_ref())?;
        }
        Err(e) => return Err(e).context("CreateLogGroup"),
    }
    set_retention(aws, &p.name, p.retention_days).await
}

/// PutRetentionPolicy, or DeleteRetentionPolicy (keep forever) for `None`.
async fn set_retention(aws: &Aws, name: &str, days: Option<u32>) -> anyhow::Result<()> {
    match days {
        Some(days) => {
            aws.logs
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(i32::try_from(days).context("retention in days")?)
                .send()
                .await
                .context("PutRetentionPolicy")?;
        }
        None => {
            aws.logs
                .delete_retention_policy()
                .log_group_name(name)
                .send()
                .await
                .context("DeleteRetentionPolicy")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ResourceKey {
        ResourceKey::new(Kind::LogGroup, "rds-error")
    }

    #[test]
    fn a_group_maps_its_name_retention_and_arn() {
        let g = LogGroup::builder()
            .log_group_name("/aws/rds/instance/s-db/error")
            .retention_in_days(90)
            .arn("arn:aws:logs:eu-west-1:1:log-group:/aws/rds/instance/s-db/error:*")
            .build();
        let r = map_log_group(&g, key()).expect("the stack's group");
        assert_eq!(r.id, "/aws/rds/instance/s-db/error");
        assert_eq!(
            r.props,
            Props::LogGroup(LogGroupProps {
                name: "/aws/rds/instance/s-db/error".into(),
                retention_days: Some(90),
            })
        );
        assert_eq!(
            r.outputs.get("log-group.rds-error.arn").map(String::as_str),
            Some("arn:aws:logs:eu-west-1:1:log-group:/aws/rds/instance/s-db/error"),
            "the ARN without `:*`"
        );
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn a_group_without_retention_keeps_events_forever_and_other_kinds_are_not_mapped() {
        let g = LogGroup::builder()
            .log_group_name("/moodle-ha/s/vpc-flow-logs")
            .log_group_arn("arn:aws:logs:eu-west-1:1:log-group:/moodle-ha/s/vpc-flow-logs")
            .build();
        let r = map_log_group(&g, key()).expect("the stack's group");
        assert!(matches!(
            r.props,
            Props::LogGroup(LogGroupProps {
                retention_days: None,
                ..
            })
        ));
        assert!(map_log_group(&g, ResourceKey::new(Kind::Secret, "admin")).is_none());
        assert!(map_log_group(&LogGroup::builder().build(), key()).is_none());
    }
}

//! A rollback's database steps on RDS: the upgrade's snapshot restored under a new
//! identifier, with the current instance's placement and settings (subnet group, security
//! groups, parameter group, class, Multi-AZ, logs) and tags, then the identifiers swapped:
//! the upgraded instance renamed aside and taken out of the stack (its stack tags replaced
//! by `moodle-ha:set-aside-by`; it is kept, never deleted), the restored one renamed to the
//! original identifier, so its endpoint is the one config.php names. Each call checks what
//! exists first: a resumed rollback finds what its earlier attempt did. Settings a restore
//! cannot take (monitoring, Performance Insights, backup retention) are repaired by the next
//! `apply`, as any drift. The instance renames, waits and tags here serve the Aurora path too
//! ([`super::restore_cluster`]).

use super::Aws;
use super::errors::is_code;
use super::wait::{self, Poll};
use anyhow::{Context, bail};
use aws_sdk_rds::types::{DbInstance, Tag};
use std::time::Duration;

/// A restore of a site's database takes minutes to an hour.
pub(super) const WAIT_MAX: Duration = Duration::from_secs(3 * 60 * 60);

/// The tag a restored instance carries (the rollback's ID).
pub const RESTORED_BY: &str = "moodle-ha:restored-by";
/// The tag an instance renamed aside carries (the rollback's ID).
pub const SET_ASIDE_BY: &str = "moodle-ha:set-aside-by";

/// The instance `id`, `None` when RDS does not know it.
pub async fn instance(aws: &Aws, id: &str) -> anyhow::Result<Option<DbInstance>> {
    match aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) if is_code(&e, "DBInstanceNotFound") => Ok(None),
        Err(e) => Err(e).with_context(|| format!("DescribeDBInstances {id}")),
    }
}

/// The value of tag `key` among `tags`.
pub(super) fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// A restored copy's tags: the original's, with [`RESTORED_BY`] = `rollback`. Pure.
pub(super) fn restored_tags(original: &[Tag], rollback: &str) -> Vec<Tag> {
    let mut tags: Vec<Tag> = original
        .iter()
        .filter(|t| t.key() != Some(RESTORED_BY))
        .cloned()
        .collect();
    tags.push(Tag::builder().key(RESTORED_BY).value(rollback).build());
    tags
}

/// Restores `snapshot` as `restored` with `current`'s settings and tags (plus
/// [`RESTORED_BY`] = `rollback`), unless it exists (or has already taken `current`'s name),
/// and waits until it is available.
pub async fn restore(
    aws: &Aws,
    current: &str,
    snapshot: &str,
    restored: &str,
    rollback: &str,
) -> anyhow::Result<()> {
    let swapped = instance(aws, current)
        .await?
        .is_some_and(|i| tag(i.tag_list(), RESTORED_BY) == Some(rollback));
    if swapped || instance(aws, restored).await?.is_some() {
        return available(aws, if swapped { current } else { restored }).await;
    }
    let Some(now) = instance(aws, current).await? else {
        bail!("the database {current} does not exist: nothing to restore its settings from");
    };
    let tags = restored_tags(now.tag_list(), rollback);
    let call = aws
        .rds
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier(restored)
        .db_snapshot_identifier(snapshot)
        .set_db_instance_class(now.db_instance_class().map(str::to_string))
        .set_db_subnet_group_name(
            now.db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .map(str::to_string),
        )
        .set_vpc_security_group_ids(Some(
            now.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                .collect(),
        ))
        .set_db_parameter_group_name(
            now.db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_string),
        )
        .set_multi_az(now.multi_az())
        .set_storage_type(now.storage_type().map(str::to_string))
        .publicly_accessible(false)
        .set_deletion_protection(now.deletion_protection())
        .set_copy_tags_to_snapshot(now.copy_tags_to_snapshot())
        .set_enable_cloudwatch_logs_exports(Some(now.enabled_cloudwatch_logs_exports().to_vec()))
        .set_ca_certificate_identifier(now.ca_certificate_identifier().map(str::to_string))
        .set_manage_master_user_password(now.master_user_secret().map(|_| true))
        .set_tags(Some(tags));
    match call.send().await {
        Ok(_) => {}
        Err(e) if is_code(&e, "DBInstanceAlreadyExists") => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!("RestoreDBInstanceFromDBSnapshot {snapshot} as {restored}")
            });
        }
    }
    available(aws, restored).await
}

/// Renames `current` to `aside` (taking it out of the stack) and `restored` to `current`,
/// each only when not done yet; waits until `current` is the restored one and available.
pub async fn swap(
    aws: &Aws,
    current: &str,
    restored: &str,
    aside: &str,
    rollback: &str,
) -> anyhow::Result<()> {
    if let Some(i) = instance(aws, current).await? {
        if tag(i.tag_list(), RESTORED_BY) == Some(rollback) {
            return available(aws, current).await;
        }
        rename(aws, current, aside).await?;
    }
    if let Some(aside_now) = instance(aws, aside).await? {
        let arn = aside_now
            .db_instance_arn()
            .context("DescribeDBInstances gave no ARN")?;
        set_aside(aws, arn, rollback).await?;
    }
    if instance(aws, restored).await?.is_some() {
        // A name is free only once RDS has finished renaming the instance that had it.
        gone(aws, current).await?;
        rename(aws, restored, current).await?;
    }
    available(aws, current).await
}

/// Renames instance `from` to `to` once it is available; waits until RDS knows it as `to`.
pub(super) async fn rename(aws: &Aws, from: &str, to: &str) -> anyhow::Result<()> {
    // A rename an interrupted attempt asked for may be under way (`from` still listed,
    // `renaming`) or done (`to` exists): then there is nothing to ask.
    let done = std::sync::atomic::AtomicBool::new(false);
    let what = format!("{from} available to be renamed {to}");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        if instance(aws, to).await?.is_some() {
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            return Ok(Poll::Ready);
        }
        Ok(match instance(aws, from).await? {
            Some(i) if i.db_instance_status() == Some("available") => Poll::Ready,
            Some(i) => Poll::Pending(i.db_instance_status().unwrap_or("unknown").to_string()),
            None => Poll::Pending("renaming".into()),
        })
    })
    .await?;
    if done.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    aws.rds
        .modify_db_instance()
        .db_instance_identifier(from)
        .new_db_instance_identifier(to)
        .apply_immediately(true)
        .send()
        .await
        .with_context(|| format!("ModifyDBInstance {from} → {to} (rename)"))?;
    let what = format!("{from} renamed {to}");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        Ok(match instance(aws, to).await? {
            Some(_) => Poll::Ready,
            None => Poll::Pending("renaming".into()),
        })
    })
    .await?;
    Ok(())
}

/// Takes the renamed instance or cluster `arn` out of the stack: no stack or resource tag (the
/// stack would see two databases), [`SET_ASIDE_BY`] instead.
pub(super) async fn set_aside(aws: &Aws, arn: &str, rollback: &str) -> anyhow::Result<()> {
    aws.rds
        .remove_tags_from_resource()
        .resource_name(arn)
        .tag_keys(super::tags::STACK_TAG)
        .tag_keys(super::tags::RESOURCE_TAG)
        .send()
        .await
        .with_context(|| format!("RemoveTagsFromResource {arn}"))?;
    aws.rds
        .add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key(SET_ASIDE_BY).value(rollback).build())
        .send()
        .await
        .with_context(|| format!("AddTagsToResource {arn}"))?;
    Ok(())
}

/// Waits until instance `id` is available.
pub(super) async fn available(aws: &Aws, id: &str) -> anyhow::Result<()> {
    let what = format!("database {id} available");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        Ok(match instance(aws, id).await? {
            Some(i) if i.db_instance_status() == Some("available") => Poll::Ready,
            Some(i) => Poll::Pending(i.db_instance_status().unwrap_or("unknown").to_string()),
            None => Poll::Pending("not visible yet".into()),
        })
    })
    .await?;
    Ok(())
}

/// Waits until no instance is called `id` (a rename away from it has taken effect).
pub(super) async fn gone(aws: &Aws, id: &str) -> anyhow::Result<()> {
    let what = format!("the name {id} free");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        Ok(match instance(aws, id).await? {
            Some(_) => Poll::Pending("still taken".into()),
            None => Poll::Ready,
        })
    })
    .await?;
    Ok(())
}

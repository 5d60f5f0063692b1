//! A rollback's database steps on Aurora: the upgrade's cluster snapshot restored as a new
//! cluster with the current cluster's settings (engine and version, subnet group, security
//! groups, cluster parameter group, port, deletion protection, log exports, KMS key) and tags,
//! then what the restore call cannot take set with one ModifyDBCluster (backup retention and
//! windows, the managed master secret), then as many instances as the current cluster has,
//! each with its counterpart's class, zone, promotion tier, parameter group, monitoring and
//! tags. The swap renames the upgraded cluster and its instances aside (`-upgraded-<time>`,
//! stack tags replaced by `moodle-ha:set-aside-by`; kept, never deleted) and gives the restored
//! cluster and its instances the original identifiers: the cluster endpoint config.php names
//! and the instance names the desired model expects stay what they were. Each call checks
//! what exists first (by identifier and tags), so a resumed rollback finds what its earlier
//! attempt did and never restores twice.

use super::Aws;
use super::errors::is_code;
use super::rds::settled;
use super::restore::{self, RESTORED_BY, WAIT_MAX, restored_tags, tag};
use super::wait::{self, Poll};
use crate::upgrade::rollback::Renaming;
use anyhow::{Context, bail};
use aws_sdk_rds::operation::create_db_instance::builders::CreateDbInstanceInputBuilder;
use aws_sdk_rds::operation::modify_db_cluster::builders::ModifyDbClusterInputBuilder;
use aws_sdk_rds::operation::restore_db_cluster_from_snapshot::builders::RestoreDbClusterFromSnapshotInputBuilder;
use aws_sdk_rds::types::{DbCluster, DbInstance};

/// The cluster `id`, `None` when RDS does not know it.
pub async fn cluster(aws: &Aws, id: &str) -> anyhow::Result<Option<DbCluster>> {
    match aws
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_clusters().first().cloned()),
        Err(e) if is_code(&e, "DBClusterNotFoundFault") => Ok(None),
        Err(e) => Err(e).with_context(|| format!("DescribeDBClusters {id}")),
    }
}

/// The cluster's instances, its writer first. Pure.
pub fn members(c: &DbCluster) -> Vec<String> {
    let mut members: Vec<(bool, String)> = c
        .db_cluster_members()
        .iter()
        .filter_map(|m| {
            let id = m.db_instance_identifier()?;
            Some((!m.is_cluster_writer().unwrap_or(false), id.to_string()))
        })
        .collect();
    members.sort();
    members.into_iter().map(|(_, id)| id).collect()
}

/// RestoreDBClusterFromSnapshot of `snapshot` as `restored`, with `now`'s settings and tags
/// (plus [`RESTORED_BY`] = `rollback`); storage encryption follows the snapshot, with `now`'s
/// KMS key when it is encrypted. Pure.
pub fn restore_input(
    now: &DbCluster,
    snapshot: &str,
    restored: &str,
    rollback: &str,
) -> RestoreDbClusterFromSnapshotInputBuilder {
    let encrypted = now.storage_encrypted() == Some(true);
    RestoreDbClusterFromSnapshotInputBuilder::default()
        .db_cluster_identifier(restored)
        .snapshot_identifier(snapshot)
        .set_engine(now.engine().map(str::to_string))
        .set_engine_version(now.engine_version().map(str::to_string))
        .set_port(now.port())
        .set_availability_zones(Some(now.availability_zones().to_vec()))
        .set_db_subnet_group_name(now.db_subnet_group().map(str::to_string))
        .set_vpc_security_group_ids(Some(
            now.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                .collect(),
        ))
        .set_db_cluster_parameter_group_name(now.db_cluster_parameter_group().map(str::to_string))
        .set_deletion_protection(now.deletion_protection())
        .set_copy_tags_to_snapshot(now.copy_tags_to_snapshot())
        .set_enable_cloudwatch_logs_exports(Some(now.enabled_cloudwatch_logs_exports().to_vec()))
        .set_enable_iam_database_authentication(now.iam_database_authentication_enabled())
        .set_kms_key_id(now.kms_key_id().filter(|_| encrypted).map(str::to_string))
        .set_tags(Some(restored_tags(now.tag_list(), rollback)))
}

/// The ModifyDBCluster that gives `restored` what `now` has and the restore call cannot take
/// (backup retention, backup and maintenance windows, a managed master secret); `None` when
/// nothing differs. Pure.
pub fn settings_left(now: &DbCluster, restored: &DbCluster) -> Option<ModifyDbClusterInputBuilder> {
    let mut call = ModifyDbClusterInputBuilder::default()
        .set_db_cluster_identifier(restored.db_cluster_identifier().map(str::to_string))
        .apply_immediately(true);
    let mut any = false;
    if now.backup_retention_period().is_some()
        && now.backup_retention_period() != restored.backup_retention_period()
    {
        call = call.set_backup_retention_period(now.backup_retention_period());
        any = true;
    }
    let window = |c: &DbCluster| c.preferred_backup_window().map(str::to_string);
    if window(now).is_some() && window(now) != window(restored) {
        call = call.set_preferred_backup_window(window(now));
        any = true;
    }
    let maintenance = |c: &DbCluster| c.preferred_maintenance_window().map(str::to_string);
    if maintenance(now).is_some() && maintenance(now) != maintenance(restored) {
        call = call.set_preferred_maintenance_window(maintenance(now));
        any = true;
    }
    if let (Some(secret), None) = (now.master_user_secret(), restored.master_user_secret()) {
        call = call
            .manage_master_user_password(true)
            .set_master_user_secret_kms_key_id(secret.kms_key_id().map(str::to_string));
        any = true;
    }
    any.then_some(call)
}

/// CreateDBInstance of `id` in cluster `cluster`, with `member`'s class, zone, promotion tier,
/// parameter group, maintenance window, monitoring and tags (plus [`RESTORED_BY`] =
/// `rollback`). Pure.
pub fn member_input(
    member: &DbInstance,
    cluster: &str,
    id: &str,
    rollback: &str,
) -> CreateDbInstanceInputBuilder {
    let insights = member.performance_insights_enabled() == Some(true);
    CreateDbInstanceInputBuilder::default()
        .db_instance_identifier(id)
        .db_cluster_identifier(cluster)
        .set_engine(member.engine().map(str::to_string))
        .set_db_instance_class(member.db_instance_class().map(str::to_string))
        .set_availability_zone(member.availability_zone().map(str::to_string))
        .set_promotion_tier(member.promotion_tier())
        .set_db_parameter_group_name(
            member
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_string),
        )
        .set_publicly_accessible(member.publicly_accessible())
        .set_preferred_maintenance_window(member.preferred_maintenance_window().map(str::to_string))
        .set_auto_minor_version_upgrade(member.auto_minor_version_upgrade())
        .set_ca_certificate_identifier(member.ca_certificate_identifier().map(str::to_string))
        .set_monitoring_interval(member.monitoring_interval())
        .set_monitoring_role_arn(
            member
                .monitoring_role_arn()
                .filter(|arn| !arn.is_empty())
                .map(str::to_string),
        )
        .set_enable_performance_insights(member.performance_insights_enabled())
        .set_performance_insights_kms_key_id(
            member
                .performance_insights_kms_key_id()
                .filter(|_| insights)
                .map(str::to_string),
        )
        .set_performance_insights_retention_period(
            member
                .performance_insights_retention_period()
                .filter(|_| insights),
        )
        .set_tags(Some(restored_tags(member.tag_list(), rollback)))
}

/// Restores `snapshot` as the cluster `names.restored(current)` with `current`'s settings,
/// tags and instances (each named `names.restored(<its counterpart>)`), unless it exists (or
/// has already taken `current`'s name); waits until the cluster and its instances are
/// available.
pub async fn restore(
    aws: &Aws,
    current: &str,
    snapshot: &str,
    names: &Renaming,
    rollback: &str,
) -> anyhow::Result<()> {
    let Some(now) = cluster(aws, current).await? else {
        bail!(
            "the database cluster {current} does not exist: nothing to restore its settings from"
        );
    };
    if tag(now.tag_list(), RESTORED_BY) == Some(rollback) {
        return available(aws, current).await;
    }
    let restored = names.restored(current);
    if cluster(aws, &restored).await?.is_none() {
        let answer = restore_input(&now, snapshot, &restored, rollback)
            .send_with(&aws.rds)
            .await;
        match answer {
            Ok(_) => tracing::info!(cluster = restored, snapshot, "cluster restore started"),
            Err(e) if is_code(&e, "DBClusterAlreadyExistsFault") => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("RestoreDBClusterFromSnapshot {snapshot} as {restored}")
                });
            }
        }
    }
    cluster_available(aws, &restored).await?;
    let Some(copy) = cluster(aws, &restored).await? else {
        bail!("the restored cluster {restored} disappeared");
    };
    if let Some(call) = settings_left(&now, &copy) {
        call.send_with(&aws.rds).await.with_context(|| {
            format!("ModifyDBCluster {restored} (the settings a restore cannot take)")
        })?;
        cluster_available(aws, &restored).await?;
    }
    restore_members(aws, &now, &restored, names, rollback).await?;
    available(aws, &restored).await
}

/// Creates the restored cluster's instances not there yet, one per instance of `now` (its
/// writer's counterpart first, which Aurora makes the writer).
async fn restore_members(
    aws: &Aws,
    now: &DbCluster,
    restored: &str,
    names: &Renaming,
    rollback: &str,
) -> anyhow::Result<()> {
    for member in members(now) {
        let id = names.restored(&member);
        if restore::instance(aws, &id).await?.is_some() {
            continue;
        }
        let Some(original) = restore::instance(aws, &member).await? else {
            bail!("the instance {member} of {restored}'s original disappeared");
        };
        match member_input(&original, restored, &id, rollback)
            .send_with(&aws.rds)
            .await
        {
            Ok(_) => tracing::info!(instance = id, cluster = restored, "instance started"),
            Err(e) if is_code(&e, "DBInstanceAlreadyExists") => {}
            Err(e) => {
                return Err(e).with_context(|| format!("CreateDBInstance {id} in {restored}"));
            }
        }
    }
    Ok(())
}

/// Renames cluster `current` and its instances aside (out of the stack) and the restored
/// cluster and its instances to the original identifiers, each only when not done yet; waits
/// until `current` is the restored cluster and it and its instances are available.
pub async fn swap(
    aws: &Aws,
    current: &str,
    names: &Renaming,
    rollback: &str,
) -> anyhow::Result<()> {
    let aside = names.aside(current);
    // The cluster renames are done once `current` is the restored cluster; its instances'
    // renames may still be left (an attempt killed between them): they follow below.
    let swapped = match cluster(aws, current).await? {
        Some(c) => tag(c.tag_list(), RESTORED_BY) == Some(rollback),
        None => false,
    };
    let restored = names.restored(current);
    if !swapped {
        if cluster(aws, current).await?.is_some() {
            rename(aws, current, &aside).await?;
        }
        if let Some(c) = cluster(aws, &aside).await? {
            set_aside(aws, &c, names, rollback).await?;
        }
        if cluster(aws, &restored).await?.is_some() {
            // A name is free only once RDS has finished renaming the cluster that had it.
            gone(aws, current).await?;
            rename(aws, &restored, current).await?;
        }
    }
    let Some(now) = cluster(aws, current).await? else {
        bail!("neither {current} nor {restored} exists: the restore step has not run");
    };
    for member in members(&now) {
        if let Some(original) = names.original_of_restored(&member) {
            restore::gone(aws, original).await?;
            restore::rename(aws, &member, original).await?;
        }
    }
    available(aws, current).await
}

/// Takes the cluster renamed aside and its instances out of the stack: the instances renamed
/// aside too (freeing their names for the restored ones), every one's stack tags replaced.
async fn set_aside(
    aws: &Aws,
    c: &DbCluster,
    names: &Renaming,
    rollback: &str,
) -> anyhow::Result<()> {
    let arn = c
        .db_cluster_arn()
        .context("DescribeDBClusters gave no ARN")?;
    restore::set_aside(aws, arn, rollback).await?;
    for member in members(c) {
        let id = if names.is_aside(&member) {
            member
        } else {
            let to = names.aside(&member);
            restore::rename(aws, &member, &to).await?;
            to
        };
        let Some(i) = restore::instance(aws, &id).await? else {
            bail!("the instance {id} set aside disappeared");
        };
        let arn = i
            .db_instance_arn()
            .context("DescribeDBInstances gave no ARN")?;
        restore::set_aside(aws, arn, rollback).await?;
    }
    Ok(())
}

/// Renames cluster `from` to `to` once it is available; waits until RDS knows it as `to`.
async fn rename(aws: &Aws, from: &str, to: &str) -> anyhow::Result<()> {
    // A rename an interrupted attempt asked for may be under way or done (`to` exists).
    let done = std::sync::atomic::AtomicBool::new(false);
    let what = format!("cluster {from} available to be renamed {to}");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        if cluster(aws, to).await?.is_some() {
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            return Ok(Poll::Ready);
        }
        Ok(match cluster(aws, from).await? {
            Some(c) => settled(c.status().unwrap_or("unknown")),
            None => Poll::Pending("renaming".into()),
        })
    })
    .await?;
    if done.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    aws.rds
        .modify_db_cluster()
        .db_cluster_identifier(from)
        .new_db_cluster_identifier(to)
        .apply_immediately(true)
        .send()
        .await
        .with_context(|| format!("ModifyDBCluster {from} → {to} (rename)"))?;
    let what = format!("cluster {from} renamed {to}");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        Ok(match cluster(aws, to).await? {
            Some(_) => Poll::Ready,
            None => Poll::Pending("renaming".into()),
        })
    })
    .await?;
    Ok(())
}

/// Waits until cluster `id` and every instance of it are available.
async fn available(aws: &Aws, id: &str) -> anyhow::Result<()> {
    cluster_available(aws, id).await?;
    let Some(c) = cluster(aws, id).await? else {
        bail!("the database cluster {id} disappeared");
    };
    for member in members(&c) {
        restore::available(aws, &member).await?;
    }
    Ok(())
}

async fn cluster_available(aws: &Aws, id: &str) -> anyhow::Result<()> {
    let what = format!("database cluster {id} available");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        Ok(match cluster(aws, id).await? {
            Some(c) => settled(c.status().unwrap_or("unknown")),
            None => Poll::Pending("not visible yet".into()),
        })
    })
    .await?;
    Ok(())
}

async fn gone(aws: &Aws, id: &str) -> anyhow::Result<()> {
    let what = format!("the cluster name {id} free");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        Ok(match cluster(aws, id).await? {
            Some(_) => Poll::Pending("still taken".into()),
            None => Poll::Ready,
        })
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::types::{
        DbClusterMember, DbParameterGroupStatus, MasterUserSecret, Tag, VpcSecurityGroupMembership,
    };

    fn tag(k: &str, v: &str) -> Tag {
        Tag::builder().key(k).value(v).build()
    }

    fn current() -> DbCluster {
        DbCluster::builder()
            .db_cluster_identifier("site-db-cluster")
            .engine("aurora-mysql")
            .engine_version("8.0.mysql_aurora.3.08.2")
            .port(3306)
            .availability_zones("eu-west-1a")
            .db_subnet_group("site-db-subnets")
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id("sg-1")
                    .build(),
            )
            .db_cluster_parameter_group("site-cluster-aurora-mysql8-0")
            .deletion_protection(true)
            .copy_tags_to_snapshot(true)
            .enabled_cloudwatch_logs_exports("error")
            .enabled_cloudwatch_logs_exports("slowquery")
            .storage_encrypted(true)
            .kms_key_id("arn:aws:kms:eu-west-1:1:key/k")
            .backup_retention_period(14)
            .preferred_backup_window("02:00-02:30")
            .preferred_maintenance_window("sun:04:00-sun:05:00")
            .master_user_secret(
                MasterUserSecret::builder()
                    .secret_arn("arn:secret")
                    .kms_key_id("arn:key")
                    .build(),
            )
            .db_cluster_members(
                DbClusterMember::builder()
                    .db_instance_identifier("site-db-2")
                    .is_cluster_writer(false)
                    .build(),
            )
            .db_cluster_members(
                DbClusterMember::builder()
                    .db_instance_identifier("site-db-1")
                    .is_cluster_writer(true)
                    .build(),
            )
            .tag_list(tag("moodle-ha:stack", "site"))
            .tag_list(tag(RESTORED_BY, "rollback-older"))
            .build()
    }

    #[test]
    fn the_restore_takes_the_current_clusters_settings_and_tags() {
        let input = restore_input(&current(), "snap", "site-db-cluster-rb-t", "rollback-t")
            .build()
            .expect("input");
        assert_eq!(input.db_cluster_identifier(), Some("site-db-cluster-rb-t"));
        assert_eq!(input.snapshot_identifier(), Some("snap"));
        assert_eq!(input.engine(), Some("aurora-mysql"));
        assert_eq!(input.engine_version(), Some("8.0.mysql_aurora.3.08.2"));
        assert_eq!(input.port(), Some(3306));
        assert_eq!(input.db_subnet_group_name(), Some("site-db-subnets"));
        assert_eq!(input.vpc_security_group_ids(), ["sg-1"]);
        assert_eq!(
            input.db_cluster_parameter_group_name(),
            Some("site-cluster-aurora-mysql8-0")
        );
        assert_eq!(input.deletion_protection(), Some(true));
        assert_eq!(input.copy_tags_to_snapshot(), Some(true));
        assert_eq!(
            input.enable_cloudwatch_logs_exports(),
            ["error", "slowquery"]
        );
        assert_eq!(input.kms_key_id(), Some("arn:aws:kms:eu-west-1:1:key/k"));
        let tags: Vec<(&str, &str)> = input
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
            .collect();
        assert_eq!(
            tags,
            [("moodle-ha:stack", "site"), (RESTORED_BY, "rollback-t")],
            "the older restored-by tag replaced"
        );
        let plain = DbCluster::builder()
            .storage_encrypted(false)
            .kms_key_id("k")
            .build();
        let input = restore_input(&plain, "s", "r", "x").build().expect("input");
        assert_eq!(input.kms_key_id(), None, "an unencrypted snapshot stays so");
        assert_eq!(input.engine(), None, "what AWS did not say is not invented");
    }

    #[test]
    fn what_the_restore_cannot_take_follows_in_one_modification() {
        let now = current();
        let restored = DbCluster::builder()
            .db_cluster_identifier("site-db-cluster-rb-t")
            .backup_retention_period(1)
            .preferred_backup_window("02:00-02:30")
            .preferred_maintenance_window("wed:02:40-wed:03:10")
            .build();
        let call = settings_left(&now, &restored)
            .expect("a modification")
            .build()
            .expect("input");
        assert_eq!(call.db_cluster_identifier(), Some("site-db-cluster-rb-t"));
        assert_eq!(call.apply_immediately(), Some(true));
        assert_eq!(call.backup_retention_period(), Some(14));
        assert_eq!(call.preferred_backup_window(), None, "already the same");
        assert_eq!(
            call.preferred_maintenance_window(),
            Some("sun:04:00-sun:05:00")
        );
        assert_eq!(call.manage_master_user_password(), Some(true));
        assert_eq!(call.master_user_secret_kms_key_id(), Some("arn:key"));
        let same = now.clone();
        assert!(settings_left(&now, &same).is_none(), "nothing to do twice");
    }

    #[test]
    fn the_writer_comes_first_and_each_instance_copies_its_counterpart() {
        assert_eq!(members(&current()), ["site-db-1", "site-db-2"]);
        let member = DbInstance::builder()
            .db_instance_identifier("site-db-2")
            .engine("aurora-mysql")
            .db_instance_class("db.r6g.large")
            .availability_zone("eu-west-1b")
            .promotion_tier(1)
            .db_parameter_groups(
                DbParameterGroupStatus::builder()
                    .db_parameter_group_name("site-aurora-mysql8-0")
                    .build(),
            )
            .publicly_accessible(false)
            .monitoring_interval(60)
            .monitoring_role_arn("arn:aws:iam::1:role/site-rds-monitoring-role")
            .performance_insights_enabled(false)
            .performance_insights_kms_key_id("ignored")
            .tag_list(tag("moodle-ha:resource", "db-instance/aurora-2"))
            .build();
        let input = member_input(
            &member,
            "site-db-cluster-rb-t",
            "site-db-2-rb-t",
            "rollback-t",
        )
        .build()
        .expect("input");
        assert_eq!(input.db_instance_identifier(), Some("site-db-2-rb-t"));
        assert_eq!(input.db_cluster_identifier(), Some("site-db-cluster-rb-t"));
        assert_eq!(input.db_instance_class(), Some("db.r6g.large"));
        assert_eq!(input.availability_zone(), Some("eu-west-1b"));
        assert_eq!(input.promotion_tier(), Some(1));
        assert_eq!(
            input.db_parameter_group_name(),
            Some("site-aurora-mysql8-0")
        );
        assert_eq!(input.publicly_accessible(), Some(false));
        assert_eq!(input.monitoring_interval(), Some(60));
        assert_eq!(
            input.monitoring_role_arn(),
            Some("arn:aws:iam::1:role/site-rds-monitoring-role")
        );
        assert_eq!(input.performance_insights_kms_key_id(), None);
        assert_eq!(input.tags().len(), 2);
        assert_eq!(input.tags()[1].key(), Some(RESTORED_BY));
    }
}

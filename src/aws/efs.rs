//! The EFS adapter: the moodledata file system and its mount targets. EFS has no tag filter,
//! so one paginated DescribeFileSystems is filtered by tag here; lifecycle, backup policy and
//! mount targets have no batch form and are read per file system / mount target.

use super::Aws;
use super::ec2::resolve;
use super::wait::{self, Poll};
use crate::executor::{Ids, Operation, Step};
use crate::model::{FileSystemProps, Kind, MountTargetProps, Policy, Props, Ref, ResourceKey};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, anyhow, bail};
use aws_sdk_efs::types::{
    BackupPolicy, LifecyclePolicy, PerformanceMode, Status, Tag, ThroughputMode,
    TransitionToIaRules, TransitionToPrimaryStorageClassRules,
};
use std::time::Duration;

/// An EFS lifecycle state as a wait outcome (file systems and mount targets share them).
fn settled(state: String) -> Poll {
    match state.as_str() {
        "available" => Poll::Ready,
        "error" => Poll::Failed("AWS reports lifecycle state `error`".into()),
        _ => Poll::Pending(state),
    }
}

/// The stack's file systems and their mount targets.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let all: Vec<_> = aws
        .efs
        .describe_file_systems()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeFileSystems")?;
    let mut out = Vec::new();
    for fs in all {
        let Some(key) = aws.tags.owner(fs.tags()) else {
            continue;
        };
        let state = fs.life_cycle_state().as_str();
        if state == "deleting" || state == "deleted" {
            continue;
        }
        let id = fs.file_system_id().to_string();
        let (lifecycle, backup, policy, mounts) = tokio::try_join!(
            lifecycle(aws, &id),
            backup(aws, &id),
            file_system_policy(aws, &id),
            mount_targets(aws, &id)
        )?;
        let mut r = map_file_system(&fs, lifecycle, backup, key);
        if let Props::FileSystem(p) = &mut r.props {
            match without_resource(policy.as_deref(), fs.file_system_arn().unwrap_or_default()) {
                Some(policy) => p.policy = policy,
                None => {
                    r.unknown.insert("policy".into());
                }
            }
        }
        out.push(r);
        out.extend(mounts);
    }
    Ok(out)
}

/// The file system as the model sees it, from DescribeFileSystems, its lifecycle transitions
/// (to IA, back to Standard) and its backup policy; what the answer lacks is unknown. Pure.
pub fn map_file_system(
    fs: &aws_sdk_efs::types::FileSystemDescription,
    lifecycle: (String, String),
    backup: bool,
    key: ResourceKey,
) -> ObservedResource {
    let mut u = Unknown::default();
    let props = Props::FileSystem(FileSystemProps {
        encrypted: u.flag("encrypted", fs.encrypted()),
        kms_key_id: fs.kms_key_id().map(str::to_string),
        performance_mode: fs.performance_mode().as_str().to_string(),
        throughput_mode: u.text("throughput_mode", fs.throughput_mode().map(|t| t.as_str())),
        provisioned_throughput_mibps: fs.provisioned_throughput_in_mibps(),
        transition_to_ia: lifecycle.0,
        transition_to_primary_storage_class: lifecycle.1,
        backup,
        policy: Policy::default(),
        policy_roles: Default::default(),
    });
    ObservedResource {
        unknown: u.fields(),
        key,
        id: fs.file_system_id().to_string(),
        props,
        outputs: Default::default(),
    }
}

/// The file-system policy's text; `None` when it has none.
async fn file_system_policy(aws: &Aws, id: &str) -> anyhow::Result<Option<String>> {
    match aws
        .efs
        .describe_file_system_policy()
        .file_system_id(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.policy().map(str::to_string)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_policy_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e).context("DescribeFileSystemPolicy"),
    }
}

/// A file-system policy as the model holds it: each statement's `Resource` left out when it
/// is the file system itself (`arn`); `Policy::default()` for none; `None` when the text is
/// not JSON (unknown). Pure.
pub fn without_resource(text: Option<&str>, arn: &str) -> Option<Policy> {
    let Some(text) = text else {
        return Some(Policy::default());
    };
    let mut doc: serde_json::Value = serde_json::from_str(text).ok()?;
    if let Some(statements) = doc.get_mut("Statement").and_then(|s| s.as_array_mut()) {
        for statement in statements {
            if let Some(map) = statement.as_object_mut()
                && map.get("Resource").and_then(|r| r.as_str()) == Some(arn)
            {
                map.remove("Resource");
            }
        }
    }
    Some(Policy::new(doc))
}

/// The policy to put on the file system `arn`: each statement gets it as its `Resource`. Pure.
pub fn with_resource(policy: &Policy, arn: &str) -> String {
    let mut doc = policy.canonical();
    if let Some(statements) = doc.get_mut("Statement").and_then(|s| s.as_array_mut()) {
        for statement in statements {
            if let Some(map) = statement.as_object_mut() {
                map.entry("Resource")
                    .or_insert_with(|| serde_json::Value::String(arn.to_string()));
            }
        }
    }
    doc.to_string()
}

/// Puts the file-system policy (never bypassing EFS's lockout safety check), or removes it
/// when none is wanted.
async fn put_policy(aws: &Aws, id: &str, policy: &Policy) -> anyhow::Result<()> {
    if policy.canonical().is_null() {
        return match aws
            .efs
            .delete_file_system_policy()
            .file_system_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_file_system_not_found()) =>
            {
                Ok(())
            }
            Err(e) => Err(e).context("DeleteFileSystemPolicy"),
        };
    }
    let described = aws
        .efs
        .describe_file_systems()
        .file_system_id(id)
        .send()
        .await
        .context("DescribeFileSystems")?;
    let arn = described
        .file_systems()
        .first()
        .and_then(|f| f.file_system_arn())
        .context("DescribeFileSystems answered no file system ARN")?
        .to_string();
    aws.efs
        .put_file_system_policy()
        .file_system_id(id)
        .policy(with_resource(policy, &arn))
        .bypass_policy_lockout_safety_check(false)
        .send()
        .await
        .context("PutFileSystemPolicy")?;
    Ok(())
}

async fn lifecycle(aws: &Aws, id: &str) -> anyhow::Result<(String, String)> {
    let out = aws
        .efs
        .describe_lifecycle_configuration()
        .file_system_id(id)
        .send()
        .await
        .context("DescribeLifecycleConfiguration")?;
    let mut ia = "NONE".to_string();
    let mut primary = "NONE".to_string();
    for p in out.lifecycle_policies() {
        if let Some(t) = p.transition_to_ia() {
            ia = t.as_str().to_string();
        }
        if let Some(t) = p.transition_to_primary_storage_class() {
            primary = t.as_str().to_string();
        }
    }
    Ok((ia, primary))
}

async fn backup(aws: &Aws, id: &str) -> anyhow::Result<bool> {
    match aws
        .efs
        .describe_backup_policy()
        .file_system_id(id)
        .send()
        .await
    {
        Ok(out) => Ok(matches!(
            out.backup_policy().map(|b| b.status()),
            Some(Status::Enabled | Status::Enabling)
        )),
        // Never set: automatic backups are off.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_policy_not_found()) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).context("DescribeBackupPolicy"),
    }
}

/// Mount targets carry no tags: they belong to the stack through their file system, and are
/// keyed by availability zone.
async fn mount_targets(aws: &Aws, fs_id: &str) -> anyhow::Result<Vec<ObservedResource>> {
    let mut targets = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .efs
            .describe_mount_targets()
            .file_system_id(fs_id)
            .set_marker(marker)
            .send()
            .await
            .context("DescribeMountTargets")?;
        targets.extend(
            page.mount_targets()
                .iter()
                .filter(|mt| {
                    let state = mt.life_cycle_state().as_str();
                    state != "deleting" && state != "deleted"
                })
                .cloned(),
        );
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    // Each target's groups have no batch form: all asked at once.
    let groups = futures::future::try_join_all(targets.iter().map(|mt| async move {
        let groups = aws
            .efs
            .describe_mount_target_security_groups()
            .mount_target_id(mt.mount_target_id())
            .send()
            .await
            .context("DescribeMountTargetSecurityGroups")?;
        Ok::<_, anyhow::Error>(groups.security_groups().to_vec())
    }))
    .await?;
    Ok(targets
        .iter()
        .zip(groups)
        .filter_map(|(mt, groups)| map_mount_target(mt, fs_id, &groups))
        .collect())
}

/// A mount target of the file system `fs_id`, with its security groups (their own call),
/// keyed by its availability zone: `None` when AWS did not name the zone (the target cannot
/// be told apart). Pure.
pub fn map_mount_target(
    mt: &aws_sdk_efs::types::MountTargetDescription,
    fs_id: &str,
    groups: &[String],
) -> Option<ObservedResource> {
    let zone = mt.availability_zone_name()?;
    let mut props = Props::MountTarget(MountTargetProps {
        file_system: Ref::External(fs_id.to_string()),
        subnet: Ref::External(mt.subnet_id().to_string()),
        security_groups: groups.iter().map(|g| Ref::External(g.clone())).collect(),
    });
    props.normalize();
    Some(ObservedResource {
        unknown: Default::default(),
        key: ResourceKey::new(Kind::MountTarget, zone),
        id: mt.mount_target_id().to_string(),
        props,
        outputs: Default::default(),
    })
}

/// Carries out one planned step on an EFS resource.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            delete(aws, change.key.kind, &id).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::FileSystem(p))) => {
            create_file_system(aws, &change.key, p).await.map(Some)
        }
        (Step::Create, Some(Props::MountTarget(p))) => {
            create_mount_target(aws, &change.key, p, ids)
                .await
                .map(Some)
        }
        (Step::Update, Some(Props::FileSystem(p))) => {
            let before = match change.observed.as_ref() {
                Some(Props::FileSystem(b)) => Some(b),
                _ => None,
            };
            update_file_system(aws, &id, p, before).await?;
            Ok(None)
        }
        (Step::Update, Some(Props::MountTarget(p))) => {
            let groups = p
                .security_groups
                .iter()
                .map(|g| resolve(g, ids))
                .collect::<anyhow::Result<Vec<_>>>()?;
            aws.efs
                .modify_mount_target_security_groups()
                .mount_target_id(&id)
                .set_security_groups(Some(groups))
                .send()
                .await
                .context("ModifyMountTargetSecurityGroups")?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

async fn create_file_system(
    aws: &Aws,
    key: &ResourceKey,
    p: &FileSystemProps,
) -> anyhow::Result<String> {
    // The creation token makes the call idempotent: a retried or resumed create returns
    // FileSystemAlreadyExists with the ID of the one made before.
    let token = crate::names::Names::of(&aws.tags.stack).efs_creation_token(&key.name);
    let tags = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .context("building tags")?;
    let created = aws
        .efs
        .create_file_system()
        .creation_token(&token)
        .encrypted(p.encrypted)
        .set_kms_key_id(p.kms_key_id.clone())
        .performance_mode(PerformanceMode::from(p.performance_mode.as_str()))
        .throughput_mode(ThroughputMode::from(p.throughput_mode.as_str()))
        .set_provisioned_throughput_in_mibps(p.provisioned_throughput_mibps)
        .backup(p.backup)
        .set_tags(Some(tags))
        .send()
        .await;
    let id = match created {
        Ok(out) => out.file_system_id().to_string(),
        Err(e) => match e.into_service_error() {
            aws_sdk_efs::operation::create_file_system::CreateFileSystemError::FileSystemAlreadyExists(existing) => {
                existing.file_system_id().to_string()
            }
            other => return Err(anyhow!(other)).context("CreateFileSystem"),
        },
    };
    wait_file_system(aws, &id).await?;
    put_lifecycle(aws, &id, p).await?;
    put_policy(aws, &id, &p.policy).await?;
    Ok(id)
}

async fn wait_file_system(aws: &Aws, id: &str) -> anyhow::Result<()> {
    wait::until(
        &aws.progress,
        &format!("file-system {id}"),
        aws.wait_max(Duration::from_secs(600)),
        || async {
            let out = aws
                .efs
                .describe_file_systems()
                .file_system_id(id)
                .send()
                .await
                .context("DescribeFileSystems")?;
            let state = out
                .file_systems()
                .first()
                .map(|f| f.life_cycle_state().as_str().to_string())
                .unwrap_or_default();
            Ok(settled(state))
        },
    )
    .await?;
    Ok(())
}

async fn put_lifecycle(aws: &Aws, id: &str, p: &FileSystemProps) -> anyhow::Result<()> {
    let mut policies = Vec::new();
    if p.transition_to_ia != "NONE" {
        policies.push(
            LifecyclePolicy::builder()
                .transition_to_ia(TransitionToIaRules::from(p.transition_to_ia.as_str()))
                .build(),
        );
    }
    if p.transition_to_primary_storage_class != "NONE" {
        policies.push(
            LifecyclePolicy::builder()
                .transition_to_primary_storage_class(TransitionToPrimaryStorageClassRules::from(
                    p.transition_to_primary_storage_class.as_str(),
                ))
                .build(),
        );
    }
    aws.efs
        .put_lifecycle_configuration()
        .file_system_id(id)
        .set_lifecycle_policies(Some(policies))
        .send()
        .await
        .context("PutLifecycleConfiguration")?;
    Ok(())
}

async fn update_file_system(
    aws: &Aws,
    id: &str,
    p: &FileSystemProps,
    before: Option<&FileSystemProps>,
) -> anyhow::Result<()> {
    let changed = |f: &dyn Fn(&FileSystemProps) -> String| before.is_none_or(|b| f(b) != f(p));
    if changed(&|x| format!("{}{:?}", x.throughput_mode, x.provisioned_throughput_mibps)) {
        aws.efs
            .update_file_system()
            .file_system_id(id)
            .throughput_mode(ThroughputMode::from(p.throughput_mode.as_str()))
            .set_provisioned_throughput_in_mibps(p.provisioned_throughput_mibps)
            .send()
            .await
            .map_err(|e| {
                // AWS allows one throughput-mode change per 24 hours; retrying cannot help.
                let too_soon = e
                    .as_service_error()
                    .is_some_and(|s| s.is_too_many_requests());
                let err = anyhow!(e).context("UpdateFileSystem");
                if too_soon {
                    err.context(
                        "EFS allows one throughput change per 24 hours; apply again tomorrow",
                    )
                } else {
                    err
                }
            })?;
    }
    if changed(&|x| {
        format!(
            "{}{}",
            x.transition_to_ia, x.transition_to_primary_storage_class
        )
    }) {
        put_lifecycle(aws, id, p).await?;
    }
    if changed(&|x| x.backup.to_string()) {
        let status = if p.backup {
            Status::Enabled
        } else {
            Status::Disabled
        };
        let policy = BackupPolicy::builder()
            .status(status)
            .build()
            .context("building backup policy")?;
        aws.efs
            .put_backup_policy()
            .file_system_id(id)
            .backup_policy(policy)
            .send()
            .await
            .context("PutBackupPolicy")?;
    }
    if before.is_none_or(|b| b.policy != p.policy) {
        put_policy(aws, id, &p.policy).await?;
    }
    Ok(())
}

async fn create_mount_target(
    aws: &Aws,
    key: &ResourceKey,
    p: &MountTargetProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let fs_id = resolve(&p.file_system, ids)?;
    let subnet = resolve(&p.subnet, ids)?;
    let groups = p
        .security_groups
        .iter()
        .map(|g| resolve(g, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created = aws
        .efs
        .create_mount_target()
        .file_system_id(&fs_id)
        .subnet_id(&subnet)
        .set_security_groups(Some(groups))
        .send()
        .await;
    let id = match created {
        Ok(out) => out.mount_target_id().to_string(),
        // One mount target per AZ: a resumed run finds the one it made before.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_mount_target_conflict()) =>
        {
            let existing = mount_targets(aws, &fs_id).await?;
            existing
                .into_iter()
                .find(|m| m.key == *key)
                .map(|m| m.id)
                .ok_or_else(|| {
                    anyhow!("{key}: AWS reports a conflicting mount target that is not in this AZ")
                })?
        }
        Err(e) => return Err(e).context("CreateMountTarget"),
    };
    wait::until(
        &aws.progress,
        &format!("{key} {id}"),
        aws.wait_max(Duration::from_secs(600)),
        || async {
            let out = aws
                .efs
                .describe_mount_targets()
                .mount_target_id(&id)
                .send()
                .await
                .context("DescribeMountTargets")?;
            let state = out
                .mount_targets()
                .first()
                .map(|m| m.life_cycle_state().as_str().to_string())
                .unwrap_or_default();
            Ok(settled(state))
        },
    )
    .await?;
    Ok(id)
}

async fn delete(aws: &Aws, kind: Kind, id: &str) -> anyhow::Result<()> {
    match kind {
        Kind::MountTarget => {
            match aws
                .efs
                .delete_mount_target()
                .mount_target_id(id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_mount_target_not_found()) =>
                {
                    return Ok(());
                }
                Err(e) => return Err(e).context("DeleteMountTarget"),
            }
            // The file system can only go once its mount targets are gone.
            wait::until(
                &aws.progress,
                &format!("mount target {id} deletion"),
                aws.wait_max(Duration::from_secs(600)),
                || async {
                    match aws
                        .efs
                        .describe_mount_targets()
                        .mount_target_id(id)
                        .send()
                        .await
                    {
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|s| s.is_mount_target_not_found()) =>
                        {
                            Ok(Poll::Ready)
                        }
                        Err(e) => Err(e).context("DescribeMountTargets"),
                        Ok(out) => Ok(match out.mount_targets().first() {
                            None => Poll::Ready,
                            Some(m) if m.life_cycle_state().as_str() == "deleted" => Poll::Ready,
                            Some(m) => Poll::Pending(m.life_cycle_state().as_str().to_string()),
                        }),
                    }
                },
            )
            .await?;
            Ok(())
        }
        Kind::FileSystem => match aws.efs.delete_file_system().file_system_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_file_system_not_found()) =>
            {
                Ok(())
            }
            Err(e) => Err(e).context("DeleteFileSystem"),
        },
        other => bail!("{other} is not an EFS resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_efs::types::{FileSystemDescription, FileSystemSize, LifeCycleState};

    fn file_system(encrypted: Option<bool>) -> FileSystemDescription {
        FileSystemDescription::builder()
            .owner_id("1")
            .creation_token("moodle-ha/s/moodledata")
            .file_system_id("fs-1")
            .creation_time(aws_smithy_types::DateTime::from_secs(0))
            .life_cycle_state(LifeCycleState::Available)
            .number_of_mount_targets(3)
            .size_in_bytes(FileSystemSize::builder().value(0).build())
            .performance_mode(PerformanceMode::GeneralPurpose)
            .set_encrypted(encrypted)
            .throughput_mode(ThroughputMode::Elastic)
            .set_tags(Some(Vec::new()))
            .build()
            .expect("a file system")
    }

    #[test]
    fn a_file_system_maps_its_settings_and_an_unsaid_encryption_is_unknown() {
        let key = ResourceKey::new(Kind::FileSystem, "moodledata");
        let lifecycle = ("AFTER_30_DAYS".to_string(), "AFTER_1_ACCESS".to_string());
        let r = map_file_system(
            &file_system(Some(true)),
            lifecycle.clone(),
            true,
            key.clone(),
        );
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let Props::FileSystem(p) = r.props else {
            panic!("not a file system");
        };
        assert_eq!(
            (
                p.encrypted,
                p.throughput_mode.as_str(),
                p.transition_to_ia.as_str()
            ),
            (true, "elastic", "AFTER_30_DAYS")
        );
        // Encryption is immutable: read as `false` it would plan a replacement.
        let r = map_file_system(&file_system(None), lifecycle, true, key);
        assert!(r.unknown.contains("encrypted"), "{:?}", r.unknown);
    }

    #[test]
    fn a_mount_target_is_keyed_by_its_zone_and_one_without_a_zone_is_left_out() {
        use aws_sdk_efs::types::MountTargetDescription;
        let target = |zone: Option<&str>| {
            MountTargetDescription::builder()
                .mount_target_id("fsmt-1")
                .file_system_id("fs-1")
                .subnet_id("subnet-a")
                .life_cycle_state(LifeCycleState::Available)
                .set_availability_zone_name(zone.map(str::to_string))
                .build()
                .expect("a mount target")
        };
        let groups = ["sg-b".to_string(), "sg-a".to_string()];
        let r = map_mount_target(&target(Some("eu-west-1a")), "fs-1", &groups).expect("mapped");
        assert_eq!(r.key.to_string(), "mount-target/eu-west-1a");
        let Props::MountTarget(p) = &r.props else {
            panic!("not a mount target")
        };
        assert_eq!(
            p.security_groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>(),
            ["sg-a", "sg-b"]
        );
        assert_eq!(p.subnet, Ref::External("subnet-a".into()));
        assert!(map_mount_target(&target(None), "fs-1", &groups).is_none());
    }

    #[test]
    fn the_policy_is_put_with_the_file_system_as_resource_and_read_back_without_it() {
        let arn = "arn:aws:elasticfilesystem:eu-west-1:1:file-system/fs-1";
        let policy = Policy::new(serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]}));
        let sent = with_resource(&policy, arn);
        let doc: serde_json::Value = serde_json::from_str(&sent).expect("JSON");
        assert_eq!(doc["Statement"][0]["Resource"], arn);
        assert_eq!(without_resource(Some(&sent), arn), Some(policy));
        assert_eq!(without_resource(None, arn), Some(Policy::default()));
        assert_eq!(without_resource(Some("not json"), arn), None);
        // A statement about another resource stays as it is, so it shows as a difference.
        let other = sent.replace("fs-1", "fs-2");
        assert_ne!(
            without_resource(Some(&other), arn),
            without_resource(Some(&sent), arn)
        );
    }
}

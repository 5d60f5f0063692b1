//! The RDS adapter: the DB subnet group, the DB parameter group, the Aurora cluster and the DB
//! instances. Instances and clusters carry their tags in the describe answer; subnet and
//! parameter groups do not, so their tags are read for the stack's names only.

use super::Aws;
use super::answer::{self, adopt_if_ours, text};
use super::ec2::resolve;
use super::errors::{is_code, tolerate};
use super::wait::{self, Poll};
use crate::executor::{Ids, Operation, Step};
use crate::model::STATIC_DB_PARAMETERS;
use crate::model::{
    DbClusterProps, DbInstanceProps, DbParameterGroupProps, Kind, Props, Ref, ResourceKey, Set,
    SubnetGroupProps,
};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_rds::types::{ApplyMethod, CloudwatchLogsExportConfiguration, Parameter, Tag};
use std::collections::BTreeMap;
use std::time::Duration;

/// RDS creates and modifications take minutes; a Multi-AZ create up to an hour.
const WAIT_MAX: Duration = Duration::from_secs(90 * 60);

pub(super) fn tags(aws: &Aws, key: &ResourceKey) -> Vec<Tag> {
    aws.tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn gib(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

/// `8.4.3` → `8.4`; `8.0.mysql_aurora.3.08.0` → `3` (the versions the spec names).
pub fn major_version(engine: &str, version: &str) -> String {
    if engine.starts_with("aurora")
        && let Some(rest) = version.split("mysql_aurora.").nth(1)
    {
        return rest.split('.').next().unwrap_or(rest).to_string();
    }
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// A DB status as a wait outcome.
pub(super) fn settled(status: &str) -> Poll {
    match status {
        "available" => Poll::Ready,
        "failed"
        | "incompatible-parameters"
        | "incompatible-network"
        | "incompatible-restore"
        | "incompatible-option-group"
        | "inaccessible-encryption-credentials"
        | "restore-error"
        | "storage-full" => Poll::Failed(format!("AWS reports status `{status}`")),
        other => Poll::Pending(other.to_string()),
    }
}

/// Everything RDS holds for the stack.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let (subnet_groups, parameter_groups, clusters, instances) = tokio::try_join!(
        observe_subnet_groups(aws),
        observe_parameter_groups(aws),
        observe_clusters(aws),
        observe_instances(aws)
    )?;
    Ok(subnet_groups
        .into_iter()
        .chain(parameter_groups)
        .chain(clusters)
        .chain(instances)
        .collect())
}

/// The stack's key of the named RDS resource, from its tags (one call; only for names that
/// start with the stack's name, the only ones this stack creates).
pub(super) async fn owned_by_arn(
    aws: &Aws,
    name: &str,
    arn: &str,
) -> anyhow::Result<Option<ResourceKey>> {
    if !name.starts_with(&format!("{}-", aws.tags.stack)) {
        return Ok(None);
    }
    let out = aws
        .rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .context("ListTagsForResource")?;
    Ok(aws.tags.owner(out.tag_list()))
}

async fn observe_subnet_groups(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let groups: Vec<_> = aws
        .rds
        .describe_db_subnet_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeDBSubnetGroups")?;
    // Every candidate's tags at once (one round trip).
    let keys = futures::future::try_join_all(groups.iter().map(|g| {
        owned_by_arn(
            aws,
            g.db_subnet_group_name().unwrap_or_default(),
            g.db_subnet_group_arn().unwrap_or_default(),
        )
    }))
    .await?;
    let mut out = Vec::new();
    for (g, key) in groups.into_iter().zip(keys) {
        out.extend(key.and_then(|key| map_subnet_group(&g, key)));
    }
    Ok(out)
}

/// A DB subnet group as the model sees it: a description or subnet list AWS left out is
/// unknown (a group always has subnets). `None` without a name. Pure.
pub fn map_subnet_group(
    g: &aws_sdk_rds::types::DbSubnetGroup,
    key: ResourceKey,
) -> Option<ObservedResource> {
    let subnets = g.subnets().iter().filter_map(|s| s.subnet_identifier());
    Some(answer::subnet_group(
        Kind::DbSubnetGroup,
        key,
        g.db_subnet_group_name()?,
        g.db_subnet_group_description(),
        subnets.collect(),
    ))
}

async fn observe_parameter_groups(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let groups: Vec<_> = aws
        .rds
        .describe_db_parameter_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeDBParameterGroups")?;
    // Only groups named for the stack are candidates; their tags and user-set parameters are
    // read together, every group at once (one round trip).
    let candidates: Vec<_> = groups
        .into_iter()
        .filter(|g| {
            g.db_parameter_group_name()
                .is_some_and(|n| n.starts_with(&format!("{}-", aws.tags.stack)))
        })
        .collect();
    let details = futures::future::try_join_all(candidates.iter().map(|g| async move {
        let name = g.db_parameter_group_name().unwrap_or_default();
        tokio::try_join!(
            owned_by_arn(aws, name, g.db_parameter_group_arn().unwrap_or_default()),
            user_parameters(aws, name)
        )
    }))
    .await?;
    let mut out = Vec::new();
    for (g, (key, parameters)) in candidates.into_iter().zip(details) {
        out.extend(key.and_then(|key| map_parameter_group(&g, key, parameters)));
    }
    Ok(out)
}

/// A DB parameter group with the parameters set in it (read by their own call): a family or
/// description AWS left out is unknown. `None` without a name. Pure.
pub fn map_parameter_group(
    g: &aws_sdk_rds::types::DbParameterGroup,
    key: ResourceKey,
    parameters: BTreeMap<String, String>,
) -> Option<ObservedResource> {
    Some(super::answer::parameter_group(
        Kind::DbParameterGroup,
        key,
        g.db_parameter_group_name()?,
        g.db_parameter_group_family(),
        g.description(),
        parameters,
    ))
}

/// The parameters set in the group (not the engine defaults).
async fn user_parameters(aws: &Aws, group: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let params: Vec<_> = aws
        .rds
        .describe_db_parameters()
        .db_parameter_group_name(group)
        .source("user")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeDBParameters")?;
    Ok(super::answer::parameter_values(&params))
}

async fn observe_clusters(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let clusters: Vec<_> = aws
        .rds
        .describe_db_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeDBClusters")?;
    let mut out = Vec::new();
    for c in clusters {
        let Some(key) = aws.tags.owner(c.tag_list()) else {
            continue;
        };
        if c.status() == Some("deleting") {
            continue;
        }
        out.push(map_cluster(&c, key));
    }
    Ok(out)
}

/// The Aurora cluster as the model sees it, from DescribeDBClusters, with its endpoints and
/// master secret as outputs; what the answer lacks is unknown. Pure.
pub fn map_cluster(c: &aws_sdk_rds::types::DbCluster, key: ResourceKey) -> ObservedResource {
    let engine = text(c.engine());
    let mut u = Unknown::default();
    let version = u.text("engine_version", c.engine_version());
    let mut props = Props::DbCluster(DbClusterProps {
        identifier: text(c.db_cluster_identifier()),
        engine_version: major_version(&engine, &version),
        engine,
        subnet_group: Ref::External(text(c.db_subnet_group())),
        parameter_group: Ref::External(u.text("parameter_group", c.db_cluster_parameter_group())),
        security_groups: c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .map(|g| Ref::External(g.to_string()))
            .collect(),
        storage_encrypted: u.flag("storage_encrypted", c.storage_encrypted()),
        kms_key_id: c.kms_key_id().map(str::to_string),
        database_name: u.text("database_name", c.database_name()),
        master_username: u.text("master_username", c.master_username()),
        managed_master_password: c.master_user_secret().is_some(),
        backup_retention_days: u
            .or_default("backup_retention_days", gib(c.backup_retention_period())),
        backup_window: u.text("backup_window", c.preferred_backup_window()),
        maintenance_window: u.text("maintenance_window", c.preferred_maintenance_window()),
        deletion_protection: u.flag("deletion_protection", c.deletion_protection()),
        copy_tags_to_snapshot: u.flag("copy_tags_to_snapshot", c.copy_tags_to_snapshot()),
        cloudwatch_logs_exports: c
            .enabled_cloudwatch_logs_exports()
            .iter()
            .cloned()
            .collect(),
        log_groups: Set::default(),
        apply_immediately: false,
    });
    props.normalize();
    let mut outputs = BTreeMap::new();
    if let Some(e) = c.endpoint() {
        outputs.insert("database.endpoint".into(), e.to_string());
    }
    if let Some(e) = c.reader_endpoint() {
        outputs.insert("database.reader_endpoint".into(), e.to_string());
    }
    if let Some(p) = c.port() {
        outputs.insert("database.port".into(), p.to_string());
    }
    if let Some(arn) = c.master_user_secret().and_then(|s| s.secret_arn()) {
        outputs.insert("database.master_secret_arn".into(), arn.to_string());
    }
    ObservedResource {
        unknown: u.fields(),
        key,
        id: text(c.db_cluster_identifier()),
        props,
        outputs,
    }
}

async fn observe_instances(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let instances: Vec<_> = aws
        .rds
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeDBInstances")?;
    let mut out = Vec::new();
    for i in instances {
        let Some(key) = aws.tags.owner(i.tag_list()) else {
            continue;
        };
        if i.db_instance_status() == Some("deleting") {
            continue;
        }
        out.push(map_instance(&i, key));
    }
    Ok(out)
}

/// The role name an IAM role ARN ends with (`arn:aws:iam::1:role/path/name` → `name`): the
/// stack's roles are known by name.
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// An RDS MySQL instance or Aurora member as the model sees it, from DescribeDBInstances: a
/// modification pending for the maintenance window counts as made; a setting the answer lacks
/// is unknown (an Aurora member's storage, backups and credentials are its cluster's, not
/// reported). Pure.
pub fn map_instance(i: &aws_sdk_rds::types::DbInstance, key: ResourceKey) -> ObservedResource {
    let engine = text(i.engine());
    let member = i.db_cluster_identifier().is_some();
    let Settings {
        class,
        storage,
        multi_az,
        storage_type,
        retention,
        version,
    } = Settings::of(i);
    let mut u = Unknown::default();
    // Aurora members' storage, backups and credentials are the cluster's: not reported.
    let mut reported = |field: &str, present: bool| {
        if !member && !present {
            u.missing(field);
        }
    };
    reported("engine_version", version.is_some());
    reported("multi_az", multi_az.is_some());
    reported("storage_type", storage_type.is_some());
    reported("allocated_storage_gib", storage.is_some());
    reported("storage_encrypted", i.storage_encrypted().is_some());
    reported("database_name", i.db_name().is_some());
    reported("master_username", i.master_username().is_some());
    reported("backup_retention_days", retention.is_some());
    reported("backup_window", i.preferred_backup_window().is_some());
    reported("deletion_protection", i.deletion_protection().is_some());
    reported("copy_tags_to_snapshot", i.copy_tags_to_snapshot().is_some());
    let mut props = Props::DbInstance(DbInstanceProps {
        identifier: text(i.db_instance_identifier()),
        engine_version: Some(major_version(&engine, version.unwrap_or_default())),
        engine,
        instance_class: u.text("instance_class", class),
        cluster: i
            .db_cluster_identifier()
            .map(|c| Ref::External(c.to_string())),
        promotion_tier: i.promotion_tier().filter(|_| member),
        subnet_group: i
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name())
            .map(|g| Ref::External(g.to_string())),
        parameter_group: Ref::External(
            u.text(
                "parameter_group",
                i.db_parameter_groups()
                    .first()
                    .and_then(|g| g.db_parameter_group_name()),
            ),
        ),
        security_groups: Some(
            i.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id())
                .map(|g| Ref::External(g.to_string()))
                .collect(),
        ),
        publicly_accessible: u.flag("publicly_accessible", i.publicly_accessible()),
        multi_az,
        storage_type: storage_type.map(str::to_string),
        allocated_storage_gib: gib(storage),
        max_allocated_storage_gib: gib(i.max_allocated_storage()),
        storage_encrypted: i.storage_encrypted(),
        kms_key_id: i.kms_key_id().map(str::to_string),
        database_name: i.db_name().map(str::to_string),
        master_username: i.master_username().map(str::to_string),
        managed_master_password: Some(i.master_user_secret().is_some()),
        backup_retention_days: gib(retention),
        backup_window: i.preferred_backup_window().map(str::to_string),
        maintenance_window: u.text("maintenance_window", i.preferred_maintenance_window()),
        deletion_protection: i.deletion_protection(),
        copy_tags_to_snapshot: i.copy_tags_to_snapshot(),
        // An Aurora member's logs are its cluster's.
        cloudwatch_logs_exports: (!member).then(|| {
            i.enabled_cloudwatch_logs_exports()
                .iter()
                .cloned()
                .collect()
        }),
        monitoring_interval: u.count("monitoring_interval", i.monitoring_interval()),
        monitoring_role: i
            .monitoring_role_arn()
            .filter(|arn| !arn.is_empty())
            .map(|arn| Ref::External(role_name(arn).to_string())),
        performance_insights: u.flag("performance_insights", i.performance_insights_enabled()),
        log_groups: Set::default(),
        apply_immediately: false,
    });
    props.normalize();
    ObservedResource {
        unknown: u.fields(),
        key,
        id: text(i.db_instance_identifier()),
        props,
        outputs: if member {
            BTreeMap::new()
        } else {
            instance_outputs(i)
        },
    }
}

/// The settings of an instance that a modification may be pending for: a modification waiting
/// for the maintenance window is what the instance will be, reported as such so that a second
/// plan does not ask for it again.
struct Settings<'a> {
    class: Option<&'a str>,
    storage: Option<i32>,
    multi_az: Option<bool>,
    storage_type: Option<&'a str>,
    retention: Option<i32>,
    version: Option<&'a str>,
}

impl<'a> Settings<'a> {
    fn of(i: &'a aws_sdk_rds::types::DbInstance) -> Self {
        let pending = i.pending_modified_values();
        Self {
            class: pending
                .and_then(|p| p.db_instance_class())
                .or(i.db_instance_class()),
            storage: pending
                .and_then(|p| p.allocated_storage())
                .or(i.allocated_storage()),
            multi_az: pending.and_then(|p| p.multi_az()).or(i.multi_az()),
            storage_type: pending.and_then(|p| p.storage_type()).or(i.storage_type()),
            retention: pending
                .and_then(|p| p.backup_retention_period())
                .or(i.backup_retention_period()),
            version: pending
                .and_then(|p| p.engine_version())
                .or(i.engine_version()),
        }
    }
}

/// A standalone instance's outputs: its endpoint, port and master secret.
fn instance_outputs(i: &aws_sdk_rds::types::DbInstance) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    if let Some(e) = i.endpoint() {
        if let Some(a) = e.address() {
            outputs.insert("database.endpoint".into(), a.to_string());
        }
        if let Some(p) = e.port() {
            outputs.insert("database.port".into(), p.to_string());
        }
    }
    if let Some(arn) = i.master_user_secret().and_then(|s| s.secret_arn()) {
        outputs.insert("database.master_secret_arn".into(), arn.to_string());
    }
    outputs
}

/// Carries out one planned step on an RDS resource.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    let before = change.observed.as_ref();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            delete(
                aws,
                change.key.kind,
                &id,
                before,
                change.final_snapshot.as_deref(),
            )
            .await?;
            Ok(None)
        }
        (Step::Create, Some(Props::DbSubnetGroup(p))) => {
            create_subnet_group(aws, &change.key, p, ids)
                .await
                .map(Some)
        }
        (Step::Update, Some(Props::DbSubnetGroup(p))) => {
            modify_subnet_group(aws, p, ids).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::DbParameterGroup(p))) => {
            create_parameter_group(aws, &change.key, p).await.map(Some)
        }
        (Step::Update, Some(Props::DbParameterGroup(p))) => {
            let old = match before {
                Some(Props::DbParameterGroup(b)) => b.parameters.clone(),
                _ => BTreeMap::new(),
            };
            set_parameters(aws, &p.name, &old, &p.parameters).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::DbCluster(p))) => {
            create_cluster(aws, &change.key, p, ids).await.map(Some)
        }
        (Step::Update, Some(Props::DbCluster(p))) => {
            let b = match before {
                Some(Props::DbCluster(b)) => Some(b),
                _ => None,
            };
            modify_cluster(aws, p, b, ids).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::DbInstance(p))) => {
            create_instance(aws, &change.key, p, ids).await.map(Some)
        }
        (Step::Update, Some(Props::DbInstance(p))) => {
            let b = match before {
                Some(Props::DbInstance(b)) => Some(b),
                _ => None,
            };
            modify_instance(aws, p, b, ids).await?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

async fn create_subnet_group(
    aws: &Aws,
    key: &ResourceKey,
    p: &SubnetGroupProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let subnets = p
        .subnets
        .iter()
        .map(|s| resolve(s, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created = aws
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name(&p.name)
        .db_subnet_group_description(&p.description)
        .set_subnet_ids(Some(subnets))
        .set_tags(Some(tags(aws, key)))
        .send()
        .await;
    match created {
        Ok(_) => Ok(p.name.clone()),
        // A resumed run finds the one it made before: adopt it when it is this stack's.
        Err(e) if is_code(&e, "DBSubnetGroupAlreadyExists") => {
            ensure_owned_subnet_group(aws, key, &p.name).await?;
            modify_subnet_group(aws, p, ids).await?;
            Ok(p.name.clone())
        }
        Err(e) => Err(e).context("CreateDBSubnetGroup"),
    }
}

async fn ensure_owned_subnet_group(aws: &Aws, key: &ResourceKey, name: &str) -> anyhow::Result<()> {
    let out = aws
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(name)
        .send()
        .await
        .context("DescribeDBSubnetGroups")?;
    let arn = out
        .db_subnet_groups()
        .first()
        .and_then(|g| g.db_subnet_group_arn())
        .unwrap_or_default();
    ensure_owned(aws, "DB subnet group", key, name, arn).await
}

pub(super) async fn ensure_owned(
    aws: &Aws,
    what: &str,
    key: &ResourceKey,
    name: &str,
    arn: &str,
) -> anyhow::Result<()> {
    let owner = owned_by_arn(aws, name, arn).await?;
    adopt_if_ours(&aws.tags.stack, what, name, key, owner.as_ref())
}

async fn modify_subnet_group(aws: &Aws, p: &SubnetGroupProps, ids: &Ids) -> anyhow::Result<()> {
    let subnets = p
        .subnets
        .iter()
        .map(|s| resolve(s, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    aws.rds
        .modify_db_subnet_group()
        .db_subnet_group_name(&p.name)
        .db_subnet_group_description(&p.description)
        .set_subnet_ids(Some(subnets))
        .send()
        .await
        .context("ModifyDBSubnetGroup")?;
    Ok(())
}

async fn create_parameter_group(
    aws: &Aws,
    key: &ResourceKey,
    p: &DbParameterGroupProps,
) -> anyhow::Result<String> {
    let created = aws
        .rds
        .create_db_parameter_group()
        .db_parameter_group_name(&p.name)
        .db_parameter_group_family(&p.family)
        .description(&p.description)
        .set_tags(Some(tags(aws, key)))
        .send()
        .await;
    let existing = match created {
        Ok(_) => BTreeMap::new(),
        Err(e) if is_code(&e, "DBParameterGroupAlreadyExists") => {
            let out = aws
                .rds
                .describe_db_parameter_groups()
                .db_parameter_group_name(&p.name)
                .send()
                .await
                .context("DescribeDBParameterGroups")?;
            let arn = out
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_arn())
                .unwrap_or_default();
            ensure_owned(aws, "DB parameter group", key, &p.name, arn).await?;
            user_parameters(aws, &p.name).await?
        }
        Err(e) => return Err(e).context("CreateDBParameterGroup"),
    };
    set_parameters(aws, &p.name, &existing, &p.parameters).await?;
    Ok(p.name.clone())
}

/// Sets changed parameters (static ones at the next reboot, dynamic ones at once) and resets
/// the ones no longer wanted. At most 20 parameters per call, as RDS requires.
async fn set_parameters(
    aws: &Aws,
    group: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let method = |name: &str| {
        if STATIC_DB_PARAMETERS.contains(&name) {
            ApplyMethod::PendingReboot
        } else {
            ApplyMethod::Immediate
        }
    };
    let changed: Vec<Parameter> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_name(k)
                .parameter_value(v)
                .apply_method(method(k))
                .build()
        })
        .collect();
    for chunk in changed.chunks(20) {
        aws.rds
            .modify_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .context("ModifyDBParameterGroup")?;
    }
    let removed: Vec<Parameter> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| {
            Parameter::builder()
                .parameter_name(k)
                .apply_method(method(k))
                .build()
        })
        .collect();
    for chunk in removed.chunks(20) {
        aws.rds
            .reset_db_parameter_group()
            .db_parameter_group_name(group)
            .reset_all_parameters(false)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .context("ResetDBParameterGroup")?;
    }
    Ok(())
}

fn group_ids(groups: &Set<Ref>, ids: &Ids) -> anyhow::Result<Vec<String>> {
    groups.iter().map(|g| resolve(g, ids)).collect()
}

async fn create_cluster(
    aws: &Aws,
    key: &ResourceKey,
    p: &DbClusterProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let created = aws
        .rds
        .create_db_cluster()
        .db_cluster_identifier(&p.identifier)
        .engine(&p.engine)
        .database_name(&p.database_name)
        .master_username(&p.master_username)
        .manage_master_user_password(p.managed_master_password)
        .db_subnet_group_name(resolve(&p.subnet_group, ids)?)
        .db_cluster_parameter_group_name(resolve(&p.parameter_group, ids)?)
        .set_vpc_security_group_ids(Some(group_ids(&p.security_groups, ids)?))
        .storage_encrypted(p.storage_encrypted)
        .set_kms_key_id(p.kms_key_id.clone())
        .backup_retention_period(i32::try_from(p.backup_retention_days)?)
        .preferred_backup_window(&p.backup_window)
        .preferred_maintenance_window(&p.maintenance_window)
        .deletion_protection(p.deletion_protection)
        .copy_tags_to_snapshot(p.copy_tags_to_snapshot)
        .set_enable_cloudwatch_logs_exports(Some(
            p.cloudwatch_logs_exports.iter().cloned().collect(),
        ))
        .set_tags(Some(tags(aws, key)))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if is_code(&e, "DBClusterAlreadyExistsFault") => {
            let out = aws
                .rds
                .describe_db_clusters()
                .db_cluster_identifier(&p.identifier)
                .send()
                .await
                .context("DescribeDBClusters")?;
            let found = out
                .db_clusters()
                .first()
                .and_then(|c| aws.tags.owner(c.tag_list()));
            adopt_if_ours(
                &aws.tags.stack,
                "DB cluster",
                &p.identifier,
                key,
                found.as_ref(),
            )?;
        }
        Err(e) => return Err(e).context("CreateDBCluster"),
    }
    wait_available(aws, Db::Cluster, &p.identifier).await?;
    Ok(p.identifier.clone())
}

/// A database or cluster, for the waits they share.
#[derive(Clone, Copy)]
enum Db {
    Cluster,
    Instance,
}

impl Db {
    fn label(self) -> &'static str {
        match self {
            Db::Cluster => "db-cluster",
            Db::Instance => "db-instance",
        }
    }

    /// Its status, `None` once AWS no longer knows it.
    async fn status(self, aws: &Aws, identifier: &str) -> anyhow::Result<Option<String>> {
        match self {
            Db::Cluster => cluster_status(aws, identifier).await,
            Db::Instance => instance_status(aws, identifier).await,
        }
    }
}

/// Waits until the database is `available` (a failed status stops the wait).
async fn wait_available(aws: &Aws, db: Db, identifier: &str) -> anyhow::Result<()> {
    wait::until(
        &aws.progress,
        &format!("{} {identifier}", db.label()),
        aws.wait_max(WAIT_MAX),
        || async {
            Ok(match db.status(aws, identifier).await? {
                Some(s) => settled(&s),
                None => Poll::Failed(format!("the {} disappeared", db.label())),
            })
        },
    )
    .await?;
    Ok(())
}

/// Waits until AWS no longer knows the database.
async fn wait_gone(aws: &Aws, db: Db, identifier: &str) -> anyhow::Result<()> {
    wait::until(
        &aws.progress,
        &format!("{} {identifier} deletion", db.label()),
        aws.wait_max(WAIT_MAX),
        || async {
            Ok(match db.status(aws, identifier).await? {
                None => Poll::Ready,
                Some(s) => Poll::Pending(s),
            })
        },
    )
    .await?;
    Ok(())
}

async fn cluster_status(aws: &Aws, identifier: &str) -> anyhow::Result<Option<String>> {
    match aws
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_clusters().first().map(|c| text(c.status()))),
        Err(e) if is_code(&e, "DBClusterNotFoundFault") => Ok(None),
        Err(e) => Err(e).context("DescribeDBClusters"),
    }
}

async fn modify_cluster(
    aws: &Aws,
    p: &DbClusterProps,
    before: Option<&DbClusterProps>,
    ids: &Ids,
) -> anyhow::Result<()> {
    let differs = |f: &dyn Fn(&DbClusterProps) -> String| before.is_none_or(|b| f(b) != f(p));
    let mut call = aws
        .rds
        .modify_db_cluster()
        .db_cluster_identifier(&p.identifier)
        .apply_immediately(p.apply_immediately);
    if differs(&|x| format!("{:?}", x.security_groups)) {
        call = call.set_vpc_security_group_ids(Some(group_ids(&p.security_groups, ids)?));
    }
    if differs(&|x| format!("{:?}", x.parameter_group)) {
        call = call.db_cluster_parameter_group_name(resolve(&p.parameter_group, ids)?);
    }
    if differs(&|x| x.backup_retention_days.to_string()) {
        call = call.backup_retention_period(i32::try_from(p.backup_retention_days)?);
    }
    if differs(&|x| x.backup_window.clone()) {
        call = call.preferred_backup_window(&p.backup_window);
    }
    if differs(&|x| x.maintenance_window.clone()) {
        call = call.preferred_maintenance_window(&p.maintenance_window);
    }
    if differs(&|x| x.deletion_protection.to_string()) {
        call = call.deletion_protection(p.deletion_protection);
    }
    if differs(&|x| x.copy_tags_to_snapshot.to_string()) {
        call = call.copy_tags_to_snapshot(p.copy_tags_to_snapshot);
    }
    if differs(&|x| x.managed_master_password.to_string()) {
        call = call.manage_master_user_password(p.managed_master_password);
    }
    if let Some(change) = log_exports_change(
        &p.cloudwatch_logs_exports,
        before.map(|b| &b.cloudwatch_logs_exports),
    ) {
        call = call.cloudwatch_logs_export_configuration(change);
    }
    call.send().await.context("ModifyDBCluster")?;
    wait_available(aws, Db::Cluster, &p.identifier).await
}

/// The ARN of the stack's role `role` (RDS and the flow logs service take ARNs; the stack
/// knows its roles by name).
pub async fn role_arn(aws: &Aws, role: &Ref, ids: &Ids) -> anyhow::Result<String> {
    let name = resolve(role, ids)?;
    let out = aws
        .iam
        .get_role()
        .role_name(&name)
        .send()
        .await
        .context("GetRole")?;
    out.role()
        .map(|r| r.arn().to_string())
        .filter(|a| !a.is_empty())
        .with_context(|| format!("GetRole answered without the ARN of `{name}`"))
}

/// The log types to turn on and off to go from `before` (unknown: every wanted one is sent)
/// to `want`; `None` when they are the same. Pure.
pub fn log_exports_change(
    want: &Set<String>,
    before: Option<&Set<String>>,
) -> Option<CloudwatchLogsExportConfiguration> {
    let empty = Set::default();
    let have = before.unwrap_or(&empty);
    let enable: Vec<String> = want.iter().filter(|l| !have.contains(l)).cloned().collect();
    let disable: Vec<String> = have.iter().filter(|l| !want.contains(l)).cloned().collect();
    if enable.is_empty() && disable.is_empty() {
        return None;
    }
    Some(
        CloudwatchLogsExportConfiguration::builder()
            .set_enable_log_types(Some(enable))
            .set_disable_log_types(Some(disable))
            .build(),
    )
}

async fn create_instance(
    aws: &Aws,
    key: &ResourceKey,
    p: &DbInstanceProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let to_i32 = |n: Option<u32>| n.map(i32::try_from).transpose();
    let monitoring_role = match &p.monitoring_role {
        Some(role) if p.monitoring_interval > 0 => Some(role_arn(aws, role, ids).await?),
        _ => None,
    };
    let mut call = aws
        .rds
        .create_db_instance()
        .db_instance_identifier(&p.identifier)
        .engine(&p.engine)
        .set_engine_version(p.engine_version.clone())
        .db_instance_class(&p.instance_class)
        .db_parameter_group_name(resolve(&p.parameter_group, ids)?)
        .publicly_accessible(p.publicly_accessible)
        .preferred_maintenance_window(&p.maintenance_window)
        .set_multi_az(p.multi_az)
        .set_storage_type(p.storage_type.clone())
        .set_allocated_storage(to_i32(p.allocated_storage_gib)?)
        .set_max_allocated_storage(to_i32(p.max_allocated_storage_gib)?)
        .set_storage_encrypted(p.storage_encrypted)
        .set_kms_key_id(p.kms_key_id.clone())
        .set_db_name(p.database_name.clone())
        .set_master_username(p.master_username.clone())
        .set_manage_master_user_password(p.managed_master_password)
        .set_backup_retention_period(to_i32(p.backup_retention_days)?)
        .set_preferred_backup_window(p.backup_window.clone())
        .set_deletion_protection(p.deletion_protection)
        .set_copy_tags_to_snapshot(p.copy_tags_to_snapshot)
        .set_promotion_tier(p.promotion_tier)
        .set_enable_cloudwatch_logs_exports(
            p.cloudwatch_logs_exports
                .as_ref()
                .map(|logs| logs.iter().cloned().collect()),
        )
        .monitoring_interval(i32::try_from(p.monitoring_interval)?)
        .set_monitoring_role_arn(monitoring_role)
        .enable_performance_insights(p.performance_insights)
        .set_tags(Some(tags(aws, key)));
    if let Some(cluster) = &p.cluster {
        call = call.db_cluster_identifier(resolve(cluster, ids)?);
    }
    if let Some(group) = &p.subnet_group {
        call = call.db_subnet_group_name(resolve(group, ids)?);
    }
    if let Some(groups) = &p.security_groups {
        call = call.set_vpc_security_group_ids(Some(group_ids(groups, ids)?));
    }
    match call.send().await {
        Ok(_) => {}
        Err(e) if is_code(&e, "DBInstanceAlreadyExists") => {
            let out = aws
                .rds
                .describe_db_instances()
                .db_instance_identifier(&p.identifier)
                .send()
                .await
                .context("DescribeDBInstances")?;
            let found = out
                .db_instances()
                .first()
                .and_then(|i| aws.tags.owner(i.tag_list()));
            adopt_if_ours(
                &aws.tags.stack,
                "DB instance",
                &p.identifier,
                key,
                found.as_ref(),
            )?;
        }
        Err(e) => return Err(e).context("CreateDBInstance"),
    }
    wait_available(aws, Db::Instance, &p.identifier).await?;
    Ok(p.identifier.clone())
}

async fn instance_status(aws: &Aws, identifier: &str) -> anyhow::Result<Option<String>> {
    match aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .db_instances()
            .first()
            .map(|i| text(i.db_instance_status()))),
        Err(e) if is_code(&e, "DBInstanceNotFound") => Ok(None),
        Err(e) => Err(e).context("DescribeDBInstances"),
    }
}

async fn modify_instance(
    aws: &Aws,
    p: &DbInstanceProps,
    before: Option<&DbInstanceProps>,
    ids: &Ids,
) -> anyhow::Result<()> {
    let differs = |f: &dyn Fn(&DbInstanceProps) -> String| before.is_none_or(|b| f(b) != f(p));
    let to_i32 = |n: Option<u32>| n.map(i32::try_from).transpose();
    let mut call = aws
        .rds
        .modify_db_instance()
        .db_instance_identifier(&p.identifier)
        .apply_immediately(p.apply_immediately);
    if differs(&|x| x.instance_class.clone()) {
        call = call.db_instance_class(&p.instance_class);
    }
    if differs(&|x| format!("{:?}", x.parameter_group)) {
        call = call.db_parameter_group_name(resolve(&p.parameter_group, ids)?);
    }
    if let Some(groups) = &p.security_groups
        && differs(&|x| format!("{:?}", x.security_groups))
    {
        call = call.set_vpc_security_group_ids(Some(group_ids(groups, ids)?));
    }
    if differs(&|x| x.publicly_accessible.to_string()) {
        call = call.publicly_accessible(p.publicly_accessible);
    }
    if differs(&|x| x.maintenance_window.clone()) {
        call = call.preferred_maintenance_window(&p.maintenance_window);
    }
    if p.promotion_tier.is_some() && differs(&|x| format!("{:?}", x.promotion_tier)) {
        call = call.set_promotion_tier(p.promotion_tier);
    }
    // Fields that Aurora members leave to their cluster (`None`) are never sent.
    macro_rules! optional {
        ($field:ident, $setter:ident) => {
            optional!($field, $setter, |v| Ok::<_, anyhow::Error>(v))
        };
        ($field:ident, $setter:ident, $conv:expr) => {
            if p.$field.is_some() && differs(&|x| format!("{:?}", x.$field)) {
                call = call.$setter($conv(p.$field.clone())?);
            }
        };
    }
    optional!(multi_az, set_multi_az);
    optional!(storage_type, set_storage_type);
    optional!(allocated_storage_gib, set_allocated_storage, to_i32);
    optional!(max_allocated_storage_gib, set_max_allocated_storage, to_i32);
    optional!(backup_retention_days, set_backup_retention_period, to_i32);
    optional!(backup_window, set_preferred_backup_window);
    optional!(deletion_protection, set_deletion_protection);
    optional!(copy_tags_to_snapshot, set_copy_tags_to_snapshot);
    optional!(managed_master_password, set_manage_master_user_password);
    if let Some(logs) = &p.cloudwatch_logs_exports {
        let have = before.and_then(|b| b.cloudwatch_logs_exports.as_ref());
        if let Some(change) = log_exports_change(logs, have) {
            call = call.cloudwatch_logs_export_configuration(change);
        }
    }
    if differs(&|x| format!("{}{:?}", x.monitoring_interval, x.monitoring_role)) {
        call = call.monitoring_interval(i32::try_from(p.monitoring_interval)?);
        if let (Some(role), true) = (&p.monitoring_role, p.monitoring_interval > 0) {
            call = call.monitoring_role_arn(role_arn(aws, role, ids).await?);
        }
    }
    if differs(&|x| x.performance_insights.to_string()) {
        call = call.enable_performance_insights(p.performance_insights);
    }
    call.send().await.context("ModifyDBInstance")?;
    if p.apply_immediately {
        wait_available(aws, Db::Instance, &p.identifier).await?;
    }
    Ok(())
}

/// Deletes a DB resource: turns deletion protection off first (the CLI only plans that when
/// told to), takes the planned final snapshot, and waits until it is gone.
async fn delete(
    aws: &Aws,
    kind: Kind,
    id: &str,
    before: Option<&Props>,
    final_snapshot: Option<&str>,
) -> anyhow::Result<()> {
    let protected = before.is_some_and(Props::deletion_protection);
    let member = matches!(before, Some(Props::DbInstance(p)) if p.cluster.is_some());
    match kind {
        Kind::DbSubnetGroup => tolerate(
            aws.rds
                .delete_db_subnet_group()
                .db_subnet_group_name(id)
                .send()
                .await,
            &["DBSubnetGroupNotFoundFault"],
            "DeleteDBSubnetGroup",
        ),
        Kind::DbParameterGroup => tolerate(
            aws.rds
                .delete_db_parameter_group()
                .db_parameter_group_name(id)
                .send()
                .await,
            &["DBParameterGroupNotFound"],
            "DeleteDBParameterGroup",
        ),
        Kind::DbInstance => {
            if protected {
                aws.rds
                    .modify_db_instance()
                    .db_instance_identifier(id)
                    .deletion_protection(false)
                    .apply_immediately(true)
                    .send()
                    .await
                    .context("ModifyDBInstance (deletion protection off)")?;
            }
            let mut call = aws.rds.delete_db_instance().db_instance_identifier(id);
            if !member {
                call = match final_snapshot {
                    Some(snapshot) => call
                        .skip_final_snapshot(false)
                        .final_db_snapshot_identifier(snapshot),
                    None => call.skip_final_snapshot(true),
                };
            }
            match call.send().await {
                Ok(_) => {}
                Err(e) if is_code(&e, "DBInstanceNotFound") => return Ok(()),
                Err(e) => return Err(e).context("DeleteDBInstance"),
            }
            wait_gone(aws, Db::Instance, id).await
        }
        Kind::DbCluster => {
            if protected {
                aws.rds
                    .modify_db_cluster()
                    .db_cluster_identifier(id)
                    .deletion_protection(false)
                    .apply_immediately(true)
                    .send()
                    .await
                    .context("ModifyDBCluster (deletion protection off)")?;
            }
            let call = aws.rds.delete_db_cluster().db_cluster_identifier(id);
            let call = match final_snapshot {
                Some(snapshot) => call
                    .skip_final_snapshot(false)
                    .final_db_snapshot_identifier(snapshot),
                None => call.skip_final_snapshot(true),
            };
            match call.send().await {
                Ok(_) => {}
                Err(e) if is_code(&e, "DBClusterNotFoundFault") => return Ok(()),
                Err(e) => return Err(e).context("DeleteDBCluster"),
            }
            wait_gone(aws, Db::Cluster, id).await
        }
        other => bail!("{other} is not an RDS resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::types::{DbInstance, PendingModifiedValues};

    fn instance() -> DbInstance {
        with_instance().build()
    }

    fn with_instance() -> aws_sdk_rds::types::builders::DbInstanceBuilder {
        DbInstance::builder()
            .db_instance_identifier("s-db")
            .engine("mysql")
            .engine_version("8.4.5")
            .db_instance_class("db.r6g.large")
            .multi_az(true)
            .storage_type("gp3")
            .allocated_storage(100)
            .storage_encrypted(true)
            .db_name("moodle")
            .master_username("admin")
            .backup_retention_period(14)
            .preferred_backup_window("02:00-03:00")
            .preferred_maintenance_window("sun:04:00-sun:05:00")
            .deletion_protection(true)
            .copy_tags_to_snapshot(true)
            .publicly_accessible(false)
            .db_parameter_groups(
                aws_sdk_rds::types::DbParameterGroupStatus::builder()
                    .db_parameter_group_name("s-mysql8-4")
                    .build(),
            )
            .enabled_cloudwatch_logs_exports("slowquery")
            .enabled_cloudwatch_logs_exports("error")
            .monitoring_interval(60)
            .monitoring_role_arn("arn:aws:iam::1:role/moodle-ha/s/s-rds-monitoring-role")
            .performance_insights_enabled(true)
    }

    fn key() -> ResourceKey {
        ResourceKey::new(Kind::DbInstance, "main")
    }

    #[test]
    fn a_cluster_maps_its_settings_and_outputs_and_what_it_lacks_is_unknown() {
        let c = aws_sdk_rds::types::DbCluster::builder()
            .db_cluster_identifier("s-db-cluster")
            .engine("aurora-mysql")
            .engine_version("8.0.mysql_aurora.3.08.0")
            .storage_encrypted(true)
            .database_name("moodle")
            .master_username("admin")
            .backup_retention_period(14)
            .preferred_backup_window("02:00-03:00")
            .preferred_maintenance_window("sun:04:00-sun:05:00")
            .deletion_protection(true)
            .copy_tags_to_snapshot(true)
            .db_cluster_parameter_group("s-cluster-aurora-mysql8-0")
            .endpoint("s-db-cluster.cluster-1.eu-west-1.rds.amazonaws.com")
            .port(3306)
            .build();
        let r = map_cluster(&c, ResourceKey::new(Kind::DbCluster, "main"));
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(
            r.outputs.get("database.port").map(String::as_str),
            Some("3306")
        );
        let bare = aws_sdk_rds::types::DbCluster::builder()
            .db_cluster_identifier("s-db-cluster")
            .engine("aurora-mysql")
            .build();
        let r = map_cluster(&bare, ResourceKey::new(Kind::DbCluster, "main"));
        for field in [
            "storage_encrypted",
            "deletion_protection",
            "backup_retention_days",
        ] {
            assert!(r.unknown.contains(field), "{field}: {:?}", r.unknown);
        }
    }

    #[test]
    fn a_complete_answer_leaves_nothing_unknown() {
        let r = map_instance(&instance(), key());
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let Props::DbInstance(p) = r.props else {
            panic!("not an instance");
        };
        assert_eq!(
            (
                p.cloudwatch_logs_exports,
                p.monitoring_interval,
                p.monitoring_role,
                p.performance_insights
            ),
            (
                Some(Set::new(["error".to_string(), "slowquery".to_string()])),
                60,
                Some(Ref::External("s-rds-monitoring-role".into())),
                true
            )
        );
    }

    #[test]
    fn log_exports_are_switched_on_and_off_by_difference() {
        let set = |logs: &[&str]| -> Set<String> { logs.iter().map(|l| l.to_string()).collect() };
        let want = set(&["error", "slowquery"]);
        assert!(log_exports_change(&want, Some(&want)).is_none());
        let change = log_exports_change(&want, Some(&set(&["audit", "error"]))).expect("a change");
        assert_eq!(
            (change.enable_log_types(), change.disable_log_types()),
            (&["slowquery".to_string()][..], &["audit".to_string()][..])
        );
        let unknown = log_exports_change(&want, None).expect("a change");
        assert_eq!(unknown.enable_log_types().len(), 2);
    }

    #[test]
    fn a_pending_modification_counts_as_made() {
        let i = with_instance()
            .pending_modified_values(
                PendingModifiedValues::builder()
                    .db_instance_class("db.r6g.xlarge")
                    .build(),
            )
            .build();
        let r = map_instance(&i, key());
        let Props::DbInstance(p) = r.props else {
            panic!("not an instance");
        };
        assert_eq!(p.instance_class, "db.r6g.xlarge");
        assert_eq!(p.engine_version.as_deref(), Some("8.4"));
    }

    #[test]
    fn what_the_answer_lacks_is_unknown_for_an_instance_but_not_for_an_aurora_member() {
        let bare = DbInstance::builder()
            .db_instance_identifier("s-db")
            .engine("mysql")
            .build();
        let r = map_instance(&bare, key());
        for field in [
            "storage_encrypted",
            "deletion_protection",
            "instance_class",
            "backup_window",
        ] {
            assert!(r.unknown.contains(field), "{field}: {:?}", r.unknown);
        }
        let member = DbInstance::builder()
            .db_instance_identifier("s-db-0")
            .engine("aurora-mysql")
            .db_cluster_identifier("s-db-cluster")
            .db_instance_class("db.r6g.large")
            .publicly_accessible(false)
            .preferred_maintenance_window("sun:04:00-sun:05:00")
            .build();
        let r = map_instance(&member, ResourceKey::new(Kind::DbInstance, "0"));
        assert!(!r.unknown.contains("storage_encrypted"), "{:?}", r.unknown);
    }

    #[test]
    fn a_subnet_group_and_a_parameter_group_map_what_aws_said_and_mark_what_it_did_not() {
        use aws_sdk_rds::types::{DbParameterGroup, DbSubnetGroup, Subnet};
        let group = DbSubnetGroup::builder()
            .db_subnet_group_name("s-db-subnets")
            .subnets(Subnet::builder().subnet_identifier("subnet-b").build())
            .subnets(Subnet::builder().subnet_identifier("subnet-a").build())
            .build();
        let r = map_subnet_group(&group, ResourceKey::new(Kind::DbSubnetGroup, "main"))
            .expect("a group");
        assert_eq!(r.unknown.iter().collect::<Vec<_>>(), ["description"]);
        let Props::DbSubnetGroup(p) = &r.props else {
            panic!("not a subnet group")
        };
        assert_eq!(
            p.subnets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["subnet-a", "subnet-b"]
        );
        let bare = DbSubnetGroup::builder()
            .db_subnet_group_name("s-db-subnets")
            .db_subnet_group_description("d")
            .build();
        let r = map_subnet_group(&bare, ResourceKey::new(Kind::DbSubnetGroup, "main"))
            .expect("a group");
        assert_eq!(r.unknown.iter().collect::<Vec<_>>(), ["subnets"]);

        let params = DbParameterGroup::builder()
            .db_parameter_group_name("s-mysql8-4")
            .db_parameter_group_family("mysql8.4")
            .build();
        let set = BTreeMap::from([("max_allowed_packet".to_string(), "268435456".to_string())]);
        let r = map_parameter_group(
            &params,
            ResourceKey::new(Kind::DbParameterGroup, "main"),
            set,
        )
        .expect("a group");
        assert_eq!(r.unknown.iter().collect::<Vec<_>>(), ["description"]);
        let Props::DbParameterGroup(p) = &r.props else {
            panic!("not a parameter group")
        };
        assert_eq!((p.family.as_str(), p.parameters.len()), ("mysql8.4", 1));
        assert!(
            map_parameter_group(
                &DbParameterGroup::builder().build(),
                ResourceKey::new(Kind::DbParameterGroup, "main"),
                BTreeMap::new()
            )
            .is_none()
        );
    }
}

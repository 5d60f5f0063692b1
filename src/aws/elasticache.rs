//! The ElastiCache adapter: the cache subnet group and the Redis replication group. The
//! describe calls have no tag filter, so the stack's names are confirmed by their tags; the
//! group's security groups, subnet group, maintenance window and engine version are only
//! reported on its member clusters, read with one paginated DescribeCacheClusters.

use super::Aws;
use super::answer::{self, adopt_if_ours, text};
use super::ec2::resolve;
use super::errors::{is_code, tolerate};
use super::secrets;
use super::wait::{self, Poll};
use crate::executor::{Ids, Operation, Step};
use crate::model::{Kind, Props, Ref, ReplicationGroupProps, ResourceKey, SubnetGroupProps};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_elasticache::types::{AutomaticFailoverStatus, MultiAzStatus, Tag};
use std::collections::BTreeMap;
use std::time::Duration;

/// Creating or resizing a replication group takes 5–20 minutes on AWS.
const WAIT_MAX: Duration = Duration::from_secs(60 * 60);

/// `7.1.0` → `7.1`, the form the spec uses.
fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn tags(aws: &Aws, key: &ResourceKey) -> Vec<Tag> {
    aws.tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

async fn owned_by_arn(aws: &Aws, name: &str, arn: &str) -> anyhow::Result<Option<ResourceKey>> {
    if !name.starts_with(&format!("{}-", aws.tags.stack)) || arn.is_empty() {
        return Ok(None);
    }
    let out = aws
        .elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .context("ListTagsForResource")?;
    Ok(aws.tags.owner(out.tag_list()))
}

/// The stack's cache subnet groups and replication groups.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let (subnet_groups, groups) =
        tokio::try_join!(observe_subnet_groups(aws), observe_replication_groups(aws))?;
    Ok(subnet_groups.into_iter().chain(groups).collect())
}

async fn observe_subnet_groups(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let groups: Vec<_> = aws
        .elasticache
        .describe_cache_subnet_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeCacheSubnetGroups")?;
    let mut out = Vec::new();
    for g in groups {
        let name = text(g.cache_subnet_group_name());
        let Some(key) = owned_by_arn(aws, &name, g.arn().unwrap_or_default()).await? else {
            continue;
        };
        out.extend(map_subnet_group(&g, key));
    }
    Ok(out)
}

/// A cache subnet group as the model sees it: a description or subnet list AWS left out is
/// unknown (a group always has subnets). `None` without a name. Pure.
pub fn map_subnet_group(
    g: &aws_sdk_elasticache::types::CacheSubnetGroup,
    key: ResourceKey,
) -> Option<ObservedResource> {
    let subnets = g.subnets().iter().filter_map(|s| s.subnet_identifier());
    Some(answer::subnet_group(
        Kind::CacheSubnetGroup,
        key,
        g.cache_subnet_group_name()?,
        g.cache_subnet_group_description(),
        subnets.collect(),
    ))
}

async fn observe_replication_groups(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let (groups, clusters) = tokio::try_join!(
        async {
            aws.elasticache
                .describe_replication_groups()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .context("DescribeReplicationGroups")
        },
        async {
            aws.elasticache
                .describe_cache_clusters()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .context("DescribeCacheClusters")
        }
    )?;
    let groups: Vec<_> = groups;
    let clusters: Vec<_> = clusters;
    let mut out = Vec::new();
    for g in groups {
        let id = text(g.replication_group_id());
        if g.status() == Some("deleting") {
            continue;
        }
        let Some(key) = owned_by_arn(aws, &id, g.arn().unwrap_or_default()).await? else {
            continue;
        };
        // Settings AWS reports per member cluster: take the primary's (all members share them).
        let member = clusters
            .iter()
            .find(|c| c.replication_group_id() == Some(id.as_str()));
        out.push(map_replication_group(&g, member, key));
    }
    Ok(out)
}

/// The replication group as the model sees it, from DescribeReplicationGroups and its primary
/// member cluster (DescribeCacheClusters: the only place AWS reports the group's security
/// groups, subnet group, maintenance window and engine version; without it those are
/// unknown). Pure.
pub fn map_replication_group(
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    member: Option<&aws_sdk_elasticache::types::CacheCluster>,
    key: ResourceKey,
) -> ObservedResource {
    let id = text(g.replication_group_id());
    let node_group = g.node_groups().first();
    let mut u = Unknown::default();
    let mut props = Props::ReplicationGroup(ReplicationGroupProps {
        id: id.clone(),
        description: text(g.description()),
        engine: g.engine().unwrap_or("redis").to_string(),
        engine_version: major_minor(
            &u.text("engine_version", member.and_then(|m| m.engine_version())),
        ),
        node_type: u.text("node_type", g.cache_node_type()),
        replicas: u32::try_from(g.member_clusters().len().saturating_sub(1)).unwrap_or(0),
        automatic_failover: matches!(
            g.automatic_failover(),
            Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
        ),
        multi_az: g.multi_az() == Some(&MultiAzStatus::Enabled),
        subnet_group: Ref::External(u.text(
            "subnet_group",
            member.and_then(|m| m.cache_subnet_group_name()),
        )),
        security_groups: u.or_default(
            "security_groups",
            member.map(|m| {
                m.security_groups()
                    .iter()
                    .filter_map(|s| s.security_group_id())
                    .map(|s| Ref::External(s.to_string()))
                    .collect()
            }),
        ),
        transit_encryption: u.flag("transit_encryption", g.transit_encryption_enabled()),
        at_rest_encryption: u.flag("at_rest_encryption", g.at_rest_encryption_enabled()),
        auth_token: u.flag("auth_token", g.auth_token_enabled()),
        auth_secret: None,
        snapshot_retention_days: u.count("snapshot_retention_days", g.snapshot_retention_limit()),
        auto_minor_version_upgrade: u.flag(
            "auto_minor_version_upgrade",
            g.auto_minor_version_upgrade()
                .or_else(|| member.and_then(|m| m.auto_minor_version_upgrade())),
        ),
        maintenance_window: u.text(
            "maintenance_window",
            member.and_then(|m| m.preferred_maintenance_window()),
        ),
        apply_immediately: false,
    });
    props.normalize();
    let mut outputs = BTreeMap::new();
    if let Some(e) = node_group.and_then(|n| n.primary_endpoint()) {
        outputs.insert("cache.primary_endpoint".into(), text(e.address()));
        if let Some(port) = e.port() {
            outputs.insert("cache.port".into(), port.to_string());
        }
    }
    if let Some(e) = node_group.and_then(|n| n.reader_endpoint()) {
        outputs.insert("cache.reader_endpoint".into(), text(e.address()));
    }
    ObservedResource {
        unknown: u.fields(),
        key,
        id,
        props,
        outputs,
    }
}

/// Carries out one planned step on an ElastiCache resource.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            delete(aws, change.key.kind, &id).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::CacheSubnetGroup(p))) => {
            create_subnet_group(aws, &change.key, p, ids)
                .await
                .map(Some)
        }
        (Step::Update, Some(Props::CacheSubnetGroup(p))) => {
            modify_subnet_group(aws, p, ids).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::ReplicationGroup(p))) => {
            create_group(aws, &change.key, p, ids).await.map(Some)
        }
        (Step::Update, Some(Props::ReplicationGroup(p))) => {
            let before = match change.observed.as_ref() {
                Some(Props::ReplicationGroup(b)) => Some(b),
                _ => None,
            };
            modify_group(aws, p, before, ids).await?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

fn subnet_ids(p: &SubnetGroupProps, ids: &Ids) -> anyhow::Result<Vec<String>> {
    p.subnets.iter().map(|s| resolve(s, ids)).collect()
}

async fn create_subnet_group(
    aws: &Aws,
    key: &ResourceKey,
    p: &SubnetGroupProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let created = aws
        .elasticache
        .create_cache_subnet_group()
        .cache_subnet_group_name(&p.name)
        .cache_subnet_group_description(&p.description)
        .set_subnet_ids(Some(subnet_ids(p, ids)?))
        .set_tags(Some(tags(aws, key)))
        .send()
        .await;
    match created {
        Ok(_) => Ok(p.name.clone()),
        Err(e) if is_code(&e, "CacheSubnetGroupAlreadyExists") => {
            let out = aws
                .elasticache
                .describe_cache_subnet_groups()
                .cache_subnet_group_name(&p.name)
                .send()
                .await
                .context("DescribeCacheSubnetGroups")?;
            let arn = out
                .cache_subnet_groups()
                .first()
                .and_then(|g| g.arn())
                .unwrap_or_default();
            let owner = owned_by_arn(aws, &p.name, arn).await?;
            adopt_if_ours(
                &aws.tags.stack,
                "cache subnet group",
                &p.name,
                key,
                owner.as_ref(),
            )?;
            modify_subnet_group(aws, p, ids).await?;
            Ok(p.name.clone())
        }
        Err(e) => Err(e).context("CreateCacheSubnetGroup"),
    }
}

async fn modify_subnet_group(aws: &Aws, p: &SubnetGroupProps, ids: &Ids) -> anyhow::Result<()> {
    aws.elasticache
        .modify_cache_subnet_group()
        .cache_subnet_group_name(&p.name)
        .cache_subnet_group_description(&p.description)
        .set_subnet_ids(Some(subnet_ids(p, ids)?))
        .send()
        .await
        .context("ModifyCacheSubnetGroup")?;
    Ok(())
}

async fn create_group(
    aws: &Aws,
    key: &ResourceKey,
    p: &ReplicationGroupProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let auth = match &p.auth_secret {
        Some(secret) => Some(secrets::value(aws, &resolve(secret, ids)?).await?),
        None => None,
    };
    let groups = p
        .security_groups
        .iter()
        .map(|g| resolve(g, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created = aws
        .elasticache
        .create_replication_group()
        .replication_group_id(&p.id)
        .replication_group_description(&p.description)
        .engine(&p.engine)
        .engine_version(&p.engine_version)
        .cache_node_type(&p.node_type)
        .num_cache_clusters(i32::try_from(p.replicas + 1)?)
        .automatic_failover_enabled(p.automatic_failover)
        .multi_az_enabled(p.multi_az)
        .cache_subnet_group_name(resolve(&p.subnet_group, ids)?)
        .set_security_group_ids(Some(groups))
        .transit_encryption_enabled(p.transit_encryption)
        .at_rest_encryption_enabled(p.at_rest_encryption)
        .set_auth_token(auth.filter(|_| p.auth_token))
        .snapshot_retention_limit(i32::try_from(p.snapshot_retention_days)?)
        .auto_minor_version_upgrade(p.auto_minor_version_upgrade)
        .preferred_maintenance_window(&p.maintenance_window)
        .port(6379)
        .set_tags(Some(tags(aws, key)))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if is_code(&e, "ReplicationGroupAlreadyExists") => {
            let arn = group_arn(aws, &p.id).await?;
            let owner = owned_by_arn(aws, &p.id, &arn).await?;
            adopt_if_ours(
                &aws.tags.stack,
                "replication group",
                &p.id,
                key,
                owner.as_ref(),
            )?;
        }
        Err(e) => return Err(e).context("CreateReplicationGroup"),
    }
    wait_group(aws, &p.id).await?;
    Ok(p.id.clone())
}

async fn group_status(aws: &Aws, id: &str) -> anyhow::Result<Option<(String, String)>> {
    match aws
        .elasticache
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .replication_groups()
            .first()
            .map(|g| (text(g.status()), text(g.arn())))),
        Err(e) if is_code(&e, "ReplicationGroupNotFoundFault") => Ok(None),
        Err(e) => Err(e).context("DescribeReplicationGroups"),
    }
}

async fn group_arn(aws: &Aws, id: &str) -> anyhow::Result<String> {
    Ok(group_status(aws, id)
        .await?
        .map(|s| s.1)
        .unwrap_or_default())
}

async fn wait_group(aws: &Aws, id: &str) -> anyhow::Result<()> {
    wait::until(
        &aws.progress,
        &format!("replication-group {id}"),
        aws.wait_max(WAIT_MAX),
        || async {
            Ok(match group_status(aws, id).await? {
                Some((s, _)) if s == "available" => Poll::Ready,
                Some((s, _)) if s == "create-failed" => {
                    Poll::Failed("AWS reports status `create-failed`".into())
                }
                Some((s, _)) => Poll::Pending(s),
                None => Poll::Failed("the replication group disappeared".into()),
            })
        },
    )
    .await?;
    Ok(())
}

/// Changes a replication group in place. Replicas are added before failover and Multi-AZ
/// are turned on, and removed after they are turned off, as AWS requires.
async fn modify_group(
    aws: &Aws,
    p: &ReplicationGroupProps,
    before: Option<&ReplicationGroupProps>,
    ids: &Ids,
) -> anyhow::Result<()> {
    let old_replicas = before.map_or(p.replicas, |b| b.replicas);
    if p.replicas > old_replicas {
        set_replicas(aws, p, true).await?;
    }
    let differs =
        |f: &dyn Fn(&ReplicationGroupProps) -> String| before.is_none_or(|b| f(b) != f(p));
    let mut call = aws
        .elasticache
        .modify_replication_group()
        .replication_group_id(&p.id)
        .apply_immediately(p.apply_immediately);
    let mut any = false;
    if differs(&|x| x.description.clone()) {
        call = call.replication_group_description(&p.description);
        any = true;
    }
    if differs(&|x| x.node_type.clone()) {
        call = call.cache_node_type(&p.node_type);
        any = true;
    }
    if differs(&|x| x.engine_version.clone()) {
        call = call.engine_version(&p.engine_version);
        any = true;
    }
    if differs(&|x| x.automatic_failover.to_string()) {
        call = call.automatic_failover_enabled(p.automatic_failover);
        any = true;
    }
    if differs(&|x| x.multi_az.to_string()) {
        call = call.multi_az_enabled(p.multi_az);
        any = true;
    }
    if differs(&|x| format!("{:?}", x.security_groups)) {
        let groups = p
            .security_groups
            .iter()
            .map(|g| resolve(g, ids))
            .collect::<anyhow::Result<Vec<_>>>()?;
        call = call.set_security_group_ids(Some(groups));
        any = true;
    }
    if differs(&|x| x.snapshot_retention_days.to_string()) {
        call = call.snapshot_retention_limit(i32::try_from(p.snapshot_retention_days)?);
        any = true;
    }
    if differs(&|x| x.maintenance_window.clone()) {
        call = call.preferred_maintenance_window(&p.maintenance_window);
        any = true;
    }
    if differs(&|x| x.auto_minor_version_upgrade.to_string()) {
        call = call.auto_minor_version_upgrade(p.auto_minor_version_upgrade);
        any = true;
    }
    if any {
        call.send().await.context("ModifyReplicationGroup")?;
        wait_group(aws, &p.id).await?;
    }
    if p.replicas < old_replicas {
        set_replicas(aws, p, false).await?;
    }
    Ok(())
}

async fn set_replicas(aws: &Aws, p: &ReplicationGroupProps, increase: bool) -> anyhow::Result<()> {
    let count = i32::try_from(p.replicas)?;
    if increase {
        aws.elasticache
            .increase_replica_count()
            .replication_group_id(&p.id)
            .new_replica_count(count)
            .apply_immediately(true)
            .send()
            .await
            .context("IncreaseReplicaCount")?;
    } else {
        aws.elasticache
            .decrease_replica_count()
            .replication_group_id(&p.id)
            .new_replica_count(count)
            .apply_immediately(true)
            .send()
            .await
            .context("DecreaseReplicaCount")?;
    }
    wait_group(aws, &p.id).await
}

async fn delete(aws: &Aws, kind: Kind, id: &str) -> anyhow::Result<()> {
    match kind {
        Kind::CacheSubnetGroup => tolerate(
            aws.elasticache
                .delete_cache_subnet_group()
                .cache_subnet_group_name(id)
                .send()
                .await,
            &["CacheSubnetGroupNotFoundFault"],
            "DeleteCacheSubnetGroup",
        ),
        Kind::ReplicationGroup => {
            match aws
                .elasticache
                .delete_replication_group()
                .replication_group_id(id)
                .retain_primary_cluster(false)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_code(&e, "ReplicationGroupNotFoundFault") => return Ok(()),
                Err(e) => return Err(e).context("DeleteReplicationGroup"),
            }
            wait::until(
                &aws.progress,
                &format!("replication-group {id} deletion"),
                aws.wait_max(WAIT_MAX),
                || async {
                    Ok(match group_status(aws, id).await? {
                        None => Poll::Ready,
                        Some((s, _)) => Poll::Pending(s),
                    })
                },
            )
            .await?;
            Ok(())
        }
        other => bail!("{other} is not an ElastiCache resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticache::types::{
        CacheCluster, Endpoint, NodeGroup, ReplicationGroup, SecurityGroupMembership,
    };

    fn group() -> ReplicationGroup {
        ReplicationGroup::builder()
            .replication_group_id("s-redis")
            .description("sessions")
            .cache_node_type("cache.r7g.large")
            .member_clusters("s-redis-001")
            .member_clusters("s-redis-002")
            .automatic_failover(AutomaticFailoverStatus::Enabled)
            .multi_az(MultiAzStatus::Enabled)
            .transit_encryption_enabled(true)
            .at_rest_encryption_enabled(true)
            .auth_token_enabled(true)
            .snapshot_retention_limit(1)
            .auto_minor_version_upgrade(true)
            .node_groups(
                NodeGroup::builder()
                    .primary_endpoint(Endpoint::builder().address("master.s").port(6379).build())
                    .build(),
            )
            .build()
    }

    fn member() -> CacheCluster {
        CacheCluster::builder()
            .replication_group_id("s-redis")
            .engine_version("7.1.0")
            .cache_subnet_group_name("s-redis-subnets")
            .preferred_maintenance_window("sun:05:00-sun:06:00")
            .security_groups(
                SecurityGroupMembership::builder()
                    .security_group_id("sg-1")
                    .build(),
            )
            .build()
    }

    fn key() -> ResourceKey {
        ResourceKey::new(Kind::ReplicationGroup, "main")
    }

    #[test]
    fn a_group_and_its_primary_map_every_setting() {
        let r = map_replication_group(&group(), Some(&member()), key());
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let Props::ReplicationGroup(p) = r.props else {
            panic!("not a replication group");
        };
        assert_eq!(
            (
                p.engine_version.as_str(),
                p.replicas,
                p.automatic_failover,
                p.multi_az
            ),
            ("7.1", 1, true, true)
        );
        assert_eq!(
            r.outputs.get("cache.primary_endpoint").map(String::as_str),
            Some("master.s")
        );
    }

    #[test]
    fn without_its_member_cluster_the_members_settings_are_unknown_not_empty() {
        let r = map_replication_group(&group(), None, key());
        for field in [
            "security_groups",
            "subnet_group",
            "maintenance_window",
            "engine_version",
        ] {
            assert!(r.unknown.contains(field), "{field}: {:?}", r.unknown);
        }
        assert!(!r.unknown.contains("node_type"));
    }

    #[test]
    fn a_subnet_group_without_its_subnets_has_them_unknown_not_empty() {
        use aws_sdk_elasticache::types::{CacheSubnetGroup, Subnet};
        let key = || ResourceKey::new(Kind::CacheSubnetGroup, "main");
        let full = CacheSubnetGroup::builder()
            .cache_subnet_group_name("s-cache-subnets")
            .cache_subnet_group_description("private subnets")
            .subnets(Subnet::builder().subnet_identifier("subnet-a").build())
            .build();
        let r = map_subnet_group(&full, key()).expect("a group");
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let bare = CacheSubnetGroup::builder()
            .cache_subnet_group_name("s-cache-subnets")
            .build();
        let r = map_subnet_group(&bare, key()).expect("a group");
        assert_eq!(
            r.unknown.iter().collect::<Vec<_>>(),
            ["description", "subnets"]
        );
        assert!(map_subnet_group(&CacheSubnetGroup::builder().build(), key()).is_none());
    }
}

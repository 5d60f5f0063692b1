"""ElastiCache: cache subnet groups and replication groups (member clusters, replicas, modify, delete);
issue 20's auto minor version upgrade and snapshot retention.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

from . import patch
from .expect import expect, expect_equal, expect_error, paginate


def _elasticache_subnet_group_azs(backend, subnet_group_name):
    """The availability zones of a cache subnet group's subnets, in subnet order."""
    group = backend.cache_subnet_groups.get(subnet_group_name or "")
    azs = [s["subnet_availability_zone"] for s in group.subnets] if group else []
    azs = [az["Name"] if isinstance(az, dict) else az for az in azs]
    return azs or [backend.region_name + "a", backend.region_name + "b"]


@patch
def elasticache_subnet_availability_zone():
    """ElastiCache `CreateCacheSubnetGroup` / `DescribeCacheSubnetGroups`: Subnets[].SubnetAvailabilityZone.

    AWS: `{"Name": "eu-west-1a"}` for each subnet. moto 5.2.5: an empty structure `{}` (it stores
    the zone as a bare string, which the serializer cannot fit into the structure). Needed by:
    the replication group patches below (members are placed in the subnet group's zones) and
    any reader of a subnet group's zones.
    """
    from moto.elasticache.models import CacheSubnetGroup

    original = CacheSubnetGroup.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        for subnet in self.subnets:
            az = subnet.get("subnet_availability_zone")
            if isinstance(az, str):
                subnet["subnet_availability_zone"] = {"Name": az}

    CacheSubnetGroup.__init__ = __init__


@patch
def elasticache_modify_cache_subnet_group():
    """ElastiCache `ModifyCacheSubnetGroup` (SubnetIds, CacheSubnetGroupDescription).

    AWS: replaces the group's subnets (and description) and answers with the group. moto 5.2.5:
    HTTP 500, action not implemented. Needed by: moodle-ha's cache subnet group drift repair
    (subnets changed after the stack's VPC grew or shrank).
    """
    from moto.core.responses import ActionResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound
    from moto.elasticache.models import CacheSubnetGroup
    from moto.elasticache.responses import ElastiCacheResponse

    def modify_cache_subnet_group(self):
        backend = self.elasticache_backend
        name = self._get_param("CacheSubnetGroupName")
        group = backend.cache_subnet_groups.get(name)
        if group is None:
            raise CacheSubnetGroupNotFound(name)
        description = self._get_param("CacheSubnetGroupDescription")
        subnet_ids = self._get_param("SubnetIds")
        if subnet_ids:
            fresh = CacheSubnetGroup(
                backend.account_id, backend.region_name, name,
                description or group.cache_subnet_group_description, subnet_ids, None,
            )
            group.subnet_ids = fresh.subnet_ids
            group.subnets = fresh.subnets
            group.supported_network_types = fresh.supported_network_types
            group.vpc_id = fresh.vpc_id
        if description is not None:
            group.cache_subnet_group_description = description
        return ActionResult({"CacheSubnetGroup": group})

    ElastiCacheResponse.modify_cache_subnet_group = modify_cache_subnet_group


@patch
def elasticache_delete_cache_subnet_group():
    """ElastiCache `DeleteCacheSubnetGroup` (F1 in EMULATOR.md).

    AWS: deletes the group (200, empty answer); a later describe or delete answers
    CacheSubnetGroupNotFoundFault; while a cluster or replication group uses it, the delete
    answers CacheSubnetGroupInUse. moto 5.2.5: HTTP 500 "NotImplementedError" (the SDK retries
    for minutes). Needed by: moodle-ha destroy (cache subnet group after the replication group).
    """
    from moto.core.responses import EmptyResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound, ElastiCacheException
    from moto.elasticache.responses import ElastiCacheResponse

    def delete_cache_subnet_group(self):
        backend = self.elasticache_backend
        name = self._get_param("CacheSubnetGroupName")
        if name not in backend.cache_subnet_groups:
            raise CacheSubnetGroupNotFound(name)
        users = list(backend.replication_groups.values()) + list(backend.cache_clusters.values())
        if any(u.cache_subnet_group_name == name for u in users):
            raise ElastiCacheException(
                "CacheSubnetGroupInUse", f"Cache subnet group {name} is currently in use by a cache cluster."
            )
        group = backend.cache_subnet_groups.pop(name)
        backend.tagging_service.delete_all_tags_for_resource(group.arn)
        return EmptyResult()

    ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group


@patch
def elasticache_replication_group_num_cache_clusters():
    """ElastiCache `CreateReplicationGroup` with `NumCacheClusters` (cluster mode off; F2).

    AWS: creates NumCacheClusters member clusters `<id>-001` … `<id>-00N` (one primary, N-1
    replicas), placed in the zones of the group's cache subnet group when no
    PreferredCacheClusterAZs are given; rejects AutomaticFailoverEnabled=true with fewer than 2
    clusters (InvalidParameterCombination). moto 5.2.5: ignores NumCacheClusters (only
    ReplicasPerNodeGroup counts), so it makes one member, always in "us-east-1a"/"us-east-1b",
    and accepts automatic failover on a single node. Needed by: moodle-ha's Redis (primary +
    replicas, Multi-AZ) create and observe.
    """
    from moto.elasticache.exceptions import InvalidParameterCombinationException
    from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup

    original_members = ReplicationGroup._set_node_members_clusters_disabled
    original_create = ElastiCacheBackend.create_replication_group

    def _set_node_members_clusters_disabled(self, **kwargs):
        if not kwargs.get("replicas_per_node_group") and kwargs.get("num_cache_clusters"):
            kwargs["replicas_per_node_group"] = kwargs["num_cache_clusters"] - 1
        original_members(self, **kwargs)

    def create_replication_group(self, **kwargs):
        cluster_mode_on = kwargs.get("cluster_mode") == "enabled" or (kwargs.get("num_node_groups") or 1) > 1
        if not cluster_mode_on:
            count = kwargs.get("num_cache_clusters") or (kwargs.get("replicas_per_node_group") or 0) + 1
            if kwargs.get("automatic_failover_enabled") and count < 2:
                raise InvalidParameterCombinationException(
                    "When using automatic failover, there must be at least 2 cache clusters in the replication group."
                )
            if not kwargs.get("preferred_cache_cluster_azs"):
                azs = _elasticache_subnet_group_azs(self, kwargs.get("cache_subnet_group_name"))
                kwargs["preferred_cache_cluster_azs"] = [azs[i % len(azs)] for i in range(count)]
        return original_create(self, **kwargs)

    ReplicationGroup._set_node_members_clusters_disabled = _set_node_members_clusters_disabled
    ElastiCacheBackend.create_replication_group = create_replication_group


@patch
def elasticache_replication_group_reader_endpoint():
    """ElastiCache `DescribeReplicationGroups`: NodeGroups[0].ReaderEndpoint (cluster mode off).

    AWS: every cluster-mode-off group has a ReaderEndpoint {Address, Port} next to its
    PrimaryEndpoint. moto 5.2.5: computes the address but never returns it. Needed by: moodle-ha
    observe (the reader endpoint is an output of the stack).
    """
    from moto.elasticache.models import ReplicationGroup

    original = ReplicationGroup._set_node_members_clusters_disabled

    def _set_node_members_clusters_disabled(self, **kwargs):
        original(self, **kwargs)
        node_group = kwargs["node_group"]
        node_group["reader_endpoint"] = {
            "address": node_group["reader_endpoint_address"],
            "port": node_group["port"],
        }

    ReplicationGroup._set_node_members_clusters_disabled = _set_node_members_clusters_disabled


# Full engine versions ElastiCache reports for a <major>.<minor> request (DescribeCacheEngineVersions).
ELASTICACHE_FULL_VERSIONS = {"7.1": "7.1.0", "7.0": "7.0.7", "6.2": "6.2.6", "6.x": "6.2.6", "6.0": "6.0.5"}


def _elasticache_full_version(engine, version):
    if not version:
        return "7.1.0" if engine == "redis" else None
    if version in ELASTICACHE_FULL_VERSIONS:
        return ELASTICACHE_FULL_VERSIONS[version]
    return version + ".0" if version.count(".") == 1 else version


@patch
def elasticache_replication_group_member_clusters():
    """ElastiCache `DescribeCacheClusters` for the member clusters of a replication group (F3).

    AWS: every member (`<id>-001` …) is a cache cluster of its own: DescribeCacheClusters (all,
    or by id) returns it with ReplicationGroupId, CacheNodeType, Engine, the full EngineVersion
    ("7.1.0" for a group created with "7.1"), CacheSubnetGroupName, SecurityGroups
    [{SecurityGroupId, Status: active}], PreferredMaintenanceWindow, SnapshotRetentionLimit,
    SnapshotWindow, PreferredAvailabilityZone, CacheClusterStatus "available",
    TransitEncryptionEnabled, AtRestEncryptionEnabled, AuthTokenEnabled. moto 5.2.5: members
    exist only as names in the group (CacheClusterNotFound for `<id>-001`, none in a list), and
    no cache cluster has SecurityGroups or AtRestEncryptionEnabled. Needed by: moodle-ha observe,
    which reads the group's subnet group, security groups, maintenance window and engine version
    from its members because DescribeReplicationGroups does not return them.

    The members are derived from the group at each describe, so every later change of the group
    (modify, replica count, delete) shows in them.
    """
    import inspect

    from moto.elasticache.exceptions import CacheClusterNotFound
    from moto.elasticache.models import CacheCluster, ElastiCacheBackend

    CacheCluster.security_groups = property(
        lambda self: [{"SecurityGroupId": g, "Status": "active"} for g in self.security_group_ids]
    )
    parameters = [p for p in inspect.signature(CacheCluster.__init__).parameters if p != "self"]

    def member(backend, group, node):
        kwargs = dict.fromkeys(parameters)
        kwargs.update(
            account_id=backend.account_id,
            region_name=backend.region_name,
            cache_cluster_id=node["cache_cluster_id"],
            cache_node_type=group.cache_node_type,
            replication_group_id=group.replication_group_id,
            preferred_availability_zone=node.get("preferred_availability_zone"),
            num_cache_nodes=1,
            engine=group.engine,
            engine_version=_elasticache_full_version(group.engine, group.engine_version),
            cache_parameter_group_name=group.cache_parameter_group_name,
            cache_subnet_group_name=group.cache_subnet_group_name,
            transit_encryption_enabled=group.transit_encryption_enabled,
            preferred_maintenance_window=group.preferred_maintenance_window,
            port=group.port,
            auto_minor_version_upgrade=group.auto_minor_version_upgrade,
            snapshot_retention_limit=group.snapshot_retention_limit,
            snapshot_window=group.snapshot_window,
            security_group_ids=list(group.security_group_ids or []),
            network_type=group.network_type,
            ip_discovery=group.ip_discovery,
        )
        cluster = CacheCluster(**kwargs)
        cluster.at_rest_encryption_enabled = group.at_rest_encryption_enabled
        cluster.auth_token_enabled = group.auth_token_enabled
        cluster.cache_cluster_create_time = group.replication_group_create_time
        cluster.arn = f"arn:aws:elasticache:{backend.region_name}:{backend.account_id}:cluster:{cluster.cache_cluster_id}"
        return cluster

    def describe_cache_clusters(self, cache_cluster_id=None):
        clusters = dict(self.cache_clusters)
        for group in self.replication_groups.values():
            for node_group in group.node_groups:
                for node in node_group["node_group_members"]:
                    clusters[node["cache_cluster_id"]] = member(self, group, node)
        if cache_cluster_id:
            if cache_cluster_id not in clusters:
                raise CacheClusterNotFound(cache_cluster_id)
            return [clusters[cache_cluster_id]]
        return list(clusters.values())

    ElastiCacheBackend.describe_cache_clusters = describe_cache_clusters


@patch
def elasticache_modify_replication_group():
    """ElastiCache `ModifyReplicationGroup` (ApplyImmediately=true).

    AWS: applies every parameter sent (CacheNodeType, AutomaticFailoverEnabled, MultiAZEnabled,
    SnapshotRetentionLimit, SnapshotWindow, PreferredMaintenanceWindow, EngineVersion,
    SecurityGroupIds, CacheParameterGroupName, description) and leaves the omitted ones
    unchanged; the member clusters show the change; AutomaticFailoverEnabled=true on a group of
    one cluster answers InvalidParameterCombination. moto 5.2.5: silently ignores SnapshotWindow,
    PreferredMaintenanceWindow, EngineVersion, SecurityGroupIds and CacheParameterGroupName, and
    accepts automatic failover on one cluster. Needed by: moodle-ha's Redis drift repair.
    """
    from moto.elasticache.exceptions import InvalidParameterCombinationException
    from moto.elasticache.responses import ElastiCacheResponse

    original = ElastiCacheResponse.modify_replication_group
    extra = {
        "SnapshotWindow": "snapshot_window",
        "PreferredMaintenanceWindow": "preferred_maintenance_window",
        "EngineVersion": "engine_version",
        "SecurityGroupIds": "security_group_ids",
        "CacheParameterGroupName": "cache_parameter_group_name",
    }

    def modify_replication_group(self):
        group = self.elasticache_backend.describe_replication_groups(self._get_param("ReplicationGroupId"))[0]
        if self._get_bool_param("AutomaticFailoverEnabled") and len(group.member_clusters) < 2:
            raise InvalidParameterCombinationException(
                "When using automatic failover, there must be at least 2 cache clusters in the replication group."
            )
        result = original(self)
        for param, attribute in extra.items():
            value = self._get_param(param)
            if value is not None:
                setattr(group, attribute, value)
        if group.snapshot_retention_limit and not group.snapshotting_cluster_id:
            group.snapshotting_cluster_id = group.member_clusters[-1]
        if not group.snapshot_retention_limit:
            group.snapshotting_cluster_id = None
        return result

    ElastiCacheResponse.modify_replication_group = modify_replication_group


@patch
def elasticache_replica_count():
    """ElastiCache `IncreaseReplicaCount` / `DecreaseReplicaCount` (cluster mode off).

    AWS: adds replicas `<id>-00N` (numbered after the highest member) or removes replicas
    (ReplicasToRemove, or the highest-numbered ones) until the group has NewReplicaCount
    replicas, and answers with the group; a decrease below 1 replica with automatic failover
    enabled answers InvalidParameterValue. moto 5.2.5: HTTP 500, actions not implemented.
    Needed by: moodle-ha's Redis replica count change (drift repair and resize).
    """
    from moto.core.responses import ActionResult
    from moto.elasticache.exceptions import InvalidParameterValueException
    from moto.elasticache.responses import ElastiCacheResponse

    def change(self, increase):
        backend = self.elasticache_backend
        group = backend.describe_replication_groups(self._get_param("ReplicationGroupId"))[0]
        node_group = group.node_groups[0]
        members = node_group["node_group_members"]
        current, wanted = len(members) - 1, self._get_int_param("NewReplicaCount")
        if wanted is None:
            raise InvalidParameterValueException("The parameter NewReplicaCount must be provided.")
        if increase and not current < wanted <= 5:
            raise InvalidParameterValueException(
                f"The new replica count ({wanted}) must be greater than the current replica count ({current}) and at most 5."
            )
        if not increase and not 0 <= wanted < current:
            raise InvalidParameterValueException(
                f"The new replica count ({wanted}) must be less than the current replica count ({current})."
            )
        if not increase and wanted < 1 and group.automatic_failover == "enabled":
            raise InvalidParameterValueException(
                "Must have at least 1 replica when cluster mode is disabled with auto failover enabled."
            )
        if increase:
            domain = node_group["primary_endpoint_address"].split(".", 1)[1]
            azs = _elasticache_subnet_group_azs(backend, group.cache_subnet_group_name)
            number = max(int(m["cache_cluster_id"].rsplit("-", 1)[1]) for m in members)
            for _ in range(wanted - current):
                number += 1
                cluster_id = f"{group.replication_group_id}-{number:03d}"
                members.append({
                    "cache_cluster_id": cluster_id,
                    "cache_node_id": node_group["node_group_id"],
                    "read_endpoint": {"address": f"{cluster_id}.{domain}", "port": group.port},
                    "preferred_availability_zone": azs[len(members) % len(azs)],
                    "current_role": "replica",
                })
        else:
            replicas = [m for m in members if m.get("current_role") != "primary"]
            named = self._get_param("ReplicasToRemove") or []
            unknown = [n for n in named if n not in [m["cache_cluster_id"] for m in replicas]]
            if unknown:
                raise InvalidParameterValueException(f"Replicas {unknown} are not replicas of this group.")
            remove = named or [m["cache_cluster_id"] for m in replicas][wanted:]
            if len(replicas) - len(remove) != wanted:
                raise InvalidParameterValueException("ReplicasToRemove does not match NewReplicaCount.")
            members[:] = [m for m in members if m["cache_cluster_id"] not in remove]
        group.member_clusters = [m["cache_cluster_id"] for m in members]
        if group.snapshotting_cluster_id not in group.member_clusters + [None]:
            group.snapshotting_cluster_id = group.member_clusters[-1]
        return ActionResult({"ReplicationGroup": group})

    ElastiCacheResponse.increase_replica_count = lambda self: change(self, True)
    ElastiCacheResponse.decrease_replica_count = lambda self: change(self, False)


@patch
def elasticache_delete_replication_group():
    """ElastiCache `DeleteReplicationGroup` with RetainPrimaryCluster=false (F4).

    AWS: answers the group with Status "deleting" and all its members, takes a final snapshot
    when FinalSnapshotIdentifier is given, and some minutes later the group, its member clusters
    and its tags are gone (describe: ReplicationGroupNotFoundFault). moto 5.2.5: the group stays
    "deleting" for ever (and drops its primary from MemberClusters); no final snapshot. Here the
    group is gone as soon as the delete has answered. Needed by: moodle-ha destroy, which waits
    for ReplicationGroupNotFoundFault before deleting the cache subnet group.
    """
    from moto.core.responses import ActionResult
    from moto.elasticache.responses import ElastiCacheResponse

    original = ElastiCacheResponse.delete_replication_group

    def delete_replication_group(self):
        if self._get_bool_param("RetainPrimaryCluster"):
            return original(self)
        backend = self.elasticache_backend
        group_id = self._get_param("ReplicationGroupId")
        group = backend.describe_replication_groups(group_id)[0]
        final_snapshot = self._get_param("FinalSnapshotIdentifier")
        if final_snapshot:
            backend.create_snapshot(final_snapshot, group_id, None, None, None)
        group.status = "deleting"
        del backend.replication_groups[group_id]
        backend.tagging_service.delete_all_tags_for_resource(group.arn)
        return ActionResult({"ReplicationGroup": group})

    ElastiCacheResponse.delete_replication_group = delete_replication_group


# RDS ------------------------------------------------------------------------------------------


@patch
def elasticache_auto_minor_version_upgrade():
    """ElastiCache `AutoMinorVersionUpgrade` on replication groups (create default, modify).

    AWS: a replication group (and each member cluster) has AutoMinorVersionUpgrade true unless
    created with false, and ModifyReplicationGroup changes it. moto 5.2.5: absent when not sent
    on create, and ModifyReplicationGroup ignores it. Needed by: issue 20's
    elasticache_redis_cluster_auto_minor_version_upgrades control (moodle-ha sets it and checks
    it for drift).
    """
    from moto.elasticache.models import ReplicationGroup
    from moto.elasticache.responses import ElastiCacheResponse

    original_init = ReplicationGroup.__init__
    original_modify = ElastiCacheResponse.modify_replication_group

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.auto_minor_version_upgrade is None:
            self.auto_minor_version_upgrade = True

    def modify_replication_group(self):
        result = original_modify(self)
        value = self._get_bool_param("AutoMinorVersionUpgrade")
        if value is not None:
            group = self.elasticache_backend.describe_replication_groups(self._get_param("ReplicationGroupId"))[0]
            group.auto_minor_version_upgrade = value
        return result

    ReplicationGroup.__init__ = __init__
    ElastiCacheResponse.modify_replication_group = modify_replication_group


# Checks --------------------------------------------------------------------------------------


def check_elasticache(ctx):
    ec = ctx.elasticache
    tag = [{"Key": "moodle-ha:stack", "Value": ctx.run}]

    # Cache subnet group: create, describe (all, paginated), modify, tags.
    group = ctx.name("csg")
    created = ec.create_cache_subnet_group(
        CacheSubnetGroupName=group, CacheSubnetGroupDescription="check", SubnetIds=ctx.subnets[:2], Tags=tag
    )["CacheSubnetGroup"]
    group_arn = f"arn:aws:elasticache:{ctx.region}:{ctx.account}:subnetgroup:{group}"
    expect_equal(created.get("ARN"), group_arn, "CreateCacheSubnetGroup ARN")
    expect_equal(
        sorted(str(s["SubnetAvailabilityZone"].get("Name")) for s in created["Subnets"]),
        [f"{ctx.region}a", f"{ctx.region}b"],
        "CreateCacheSubnetGroup Subnets[].SubnetAvailabilityZone.Name",
    )
    extra = [ctx.name(f"csg-page{i}") for i in range(21)]
    for name in extra:
        ec.create_cache_subnet_group(CacheSubnetGroupName=name, CacheSubnetGroupDescription="page", SubnetIds=ctx.subnets[:1])
    groups, pages = paginate(ec, "describe_cache_subnet_groups", "CacheSubnetGroups", 20)
    names = [g["CacheSubnetGroupName"] for g in groups]
    expect(set(extra + [group]) <= set(names), "DescribeCacheSubnetGroups (all, paginated) misses groups")
    expect(pages >= 2, "DescribeCacheSubnetGroups: more than 20 groups must take more than one page of 20:", pages)
    expect_equal(len(names), len(set(names)), "DescribeCacheSubnetGroups: no group twice across pages")
    modified = ec.modify_cache_subnet_group(CacheSubnetGroupName=group, SubnetIds=ctx.subnets)["CacheSubnetGroup"]
    expect_equal(sorted(s["SubnetIdentifier"] for s in modified["Subnets"]), sorted(ctx.subnets), "ModifyCacheSubnetGroup answer subnets")
    described = ec.describe_cache_subnet_groups(CacheSubnetGroupName=group)["CacheSubnetGroups"][0]
    expect_equal(sorted(s["SubnetIdentifier"] for s in described["Subnets"]), sorted(ctx.subnets), "DescribeCacheSubnetGroups after modify")
    expect_equal(described["CacheSubnetGroupDescription"], "check", "ModifyCacheSubnetGroup keeps the description")
    expect_equal(ec.list_tags_for_resource(ResourceName=group_arn)["TagList"], tag, "ListTagsForResource(subnet group)")
    ec.add_tags_to_resource(ResourceName=group_arn, Tags=[{"Key": "extra", "Value": "1"}])
    tags = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=group_arn)["TagList"]}
    expect_equal(tags, {"moodle-ha:stack": ctx.run, "extra": "1"}, "AddTagsToResource(subnet group) then ListTagsForResource")

    # AWS rejects automatic failover on a single cluster.
    expect_error(
        "InvalidParameterCombination", ec.create_replication_group,
        ReplicationGroupId=ctx.name("rg-bad"), ReplicationGroupDescription="check", Engine="redis",
        CacheNodeType="cache.t4g.small", NumCacheClusters=1, AutomaticFailoverEnabled=True, CacheSubnetGroupName=group,
    )

    # Replication group, cluster mode off, primary + 1 replica.
    rg = ctx.name("rg")
    auth_token = "A" * 32
    answer = ec.create_replication_group(
        ReplicationGroupId=rg, ReplicationGroupDescription="check", Engine="redis", EngineVersion="7.1",
        CacheNodeType="cache.t4g.small", NumCacheClusters=2, AutomaticFailoverEnabled=True, MultiAZEnabled=True,
        CacheSubnetGroupName=group, SecurityGroupIds=[ctx.sgs[0]], TransitEncryptionEnabled=True,
        AtRestEncryptionEnabled=True, AuthToken=auth_token, PreferredMaintenanceWindow="sun:05:00-sun:06:00",
        SnapshotRetentionLimit=7, SnapshotWindow="03:00-04:00", Tags=tag, Port=6379,
    )["ReplicationGroup"]
    members = [f"{rg}-001", f"{rg}-002"]
    expect_equal(answer["MemberClusters"], members, "CreateReplicationGroup NumCacheClusters=2 MemberClusters (F2)")
    rg_arn = f"arn:aws:elasticache:{ctx.region}:{ctx.account}:replicationgroup:{rg}"

    # Pagination of groups and clusters: 21 more single-node groups, one on Redis 7.0.
    page_groups = [ctx.name(f"rgp{i:02d}") for i in range(21)]
    for i, name in enumerate(page_groups):
        ec.create_replication_group(
            ReplicationGroupId=name, ReplicationGroupDescription="page", Engine="redis",
            EngineVersion="7.0" if i == 0 else "7.1", CacheNodeType="cache.t4g.micro", NumCacheClusters=1,
            CacheSubnetGroupName=extra[i],
        )
    groups, pages = paginate(ec, "describe_replication_groups", "ReplicationGroups", 20)
    ids = [g["ReplicationGroupId"] for g in groups]
    expect(set(page_groups + [rg]) <= set(ids), "DescribeReplicationGroups (all, paginated) misses groups")
    expect(pages >= 2, "DescribeReplicationGroups: 22 groups must take more than one page of 20:", pages)
    expect_equal(len(ids), len(set(ids)), "DescribeReplicationGroups: no group twice across pages")

    g = next(g for g in groups if g["ReplicationGroupId"] == rg)
    expect_equal(g["MemberClusters"], members, "DescribeReplicationGroups MemberClusters")
    expect_equal(g["Status"], "available", "DescribeReplicationGroups Status")
    expect_equal(g.get("ARN"), rg_arn, "DescribeReplicationGroups ARN")
    node_group = g["NodeGroups"][0]
    for endpoint in ("PrimaryEndpoint", "ReaderEndpoint"):
        expect(node_group.get(endpoint, {}).get("Address"), f"DescribeReplicationGroups NodeGroups[0].{endpoint}.Address missing:", node_group)
        expect_equal(node_group[endpoint].get("Port"), 6379, f"NodeGroups[0].{endpoint}.Port")
    expect_equal(sorted(m["CacheClusterId"] for m in node_group["NodeGroupMembers"]), members, "NodeGroupMembers")
    for field, wanted in [
        ("AutomaticFailover", "enabled"), ("MultiAZ", "enabled"), ("CacheNodeType", "cache.t4g.small"),
        ("TransitEncryptionEnabled", True), ("AtRestEncryptionEnabled", True), ("AuthTokenEnabled", True),
        ("SnapshotRetentionLimit", 7), ("SnapshotWindow", "03:00-04:00"), ("ClusterEnabled", False),
    ]:
        expect_equal(g.get(field), wanted, f"DescribeReplicationGroups {field}")

    # Member clusters (F3).
    clusters, pages = paginate(ec, "describe_cache_clusters", "CacheClusters", 20)
    by_id = {c["CacheClusterId"]: c for c in clusters}
    expect(set(members + [f"{n}-001" for n in page_groups]) <= set(by_id), "DescribeCacheClusters (all, paginated) misses member clusters (F3)")
    expect(pages >= 2, "DescribeCacheClusters: 23 clusters must take more than one page of 20:", pages)
    expect_equal(len(clusters), len(by_id), "DescribeCacheClusters: no cluster twice across pages")
    zones = set()
    for member in members:
        c = ec.describe_cache_clusters(CacheClusterId=member)["CacheClusters"][0]
        for field, wanted in [
            ("ReplicationGroupId", rg), ("CacheNodeType", "cache.t4g.small"), ("Engine", "redis"),
            ("EngineVersion", "7.1.0"), ("CacheSubnetGroupName", group),
            ("SecurityGroups", [{"SecurityGroupId": ctx.sgs[0], "Status": "active"}]),
            ("PreferredMaintenanceWindow", "sun:05:00-sun:06:00"), ("SnapshotRetentionLimit", 7),
            ("CacheClusterStatus", "available"), ("TransitEncryptionEnabled", True), ("AtRestEncryptionEnabled", True),
            ("NumCacheNodes", 1),
        ]:
            expect_equal(c.get(field), wanted, f"DescribeCacheClusters({member}) {field}")
        expect(str(c.get("PreferredAvailabilityZone", "")).startswith(ctx.region), f"{member} PreferredAvailabilityZone not in {ctx.region}:", c.get("PreferredAvailabilityZone"))
        zones.add(c["PreferredAvailabilityZone"])
    expect(len(zones) == 2, "Multi-AZ members must be spread over the subnet group's zones:", zones)

    # ModifyReplicationGroup: every field sent shows in groups and members; omitted fields stay.
    ec.modify_replication_group(
        ReplicationGroupId=rg, ApplyImmediately=True, CacheNodeType="cache.r7g.large",
        SnapshotRetentionLimit=3, SnapshotWindow="01:00-02:00", PreferredMaintenanceWindow="mon:05:00-mon:06:00",
        SecurityGroupIds=[ctx.sgs[1]],
    )
    g = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    for field, wanted in [
        ("CacheNodeType", "cache.r7g.large"), ("SnapshotRetentionLimit", 3), ("SnapshotWindow", "01:00-02:00"),
        ("AutomaticFailover", "enabled"), ("MultiAZ", "enabled"), ("MemberClusters", members),
    ]:
        expect_equal(g.get(field), wanted, f"ModifyReplicationGroup then DescribeReplicationGroups {field}")
    for member in members:
        c = ec.describe_cache_clusters(CacheClusterId=member)["CacheClusters"][0]
        for field, wanted in [
            ("CacheNodeType", "cache.r7g.large"), ("PreferredMaintenanceWindow", "mon:05:00-mon:06:00"),
            ("SecurityGroups", [{"SecurityGroupId": ctx.sgs[1], "Status": "active"}]),
            ("CacheSubnetGroupName", group), ("EngineVersion", "7.1.0"),
        ]:
            expect_equal(c.get(field), wanted, f"ModifyReplicationGroup then DescribeCacheClusters({member}) {field}")
    ec.modify_replication_group(ReplicationGroupId=rg, ApplyImmediately=True, MultiAZEnabled=False)
    ec.modify_replication_group(ReplicationGroupId=rg, ApplyImmediately=True, AutomaticFailoverEnabled=False)
    g = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    expect_equal((g["AutomaticFailover"], g["MultiAZ"]), ("disabled", "disabled"), "ModifyReplicationGroup failover/Multi-AZ off")
    expect_equal((g["CacheNodeType"], g["SnapshotWindow"]), ("cache.r7g.large", "01:00-02:00"), "ModifyReplicationGroup keeps omitted fields")
    ec.modify_replication_group(ReplicationGroupId=rg, ApplyImmediately=True, AutomaticFailoverEnabled=True, MultiAZEnabled=True)
    g = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    expect_equal((g["AutomaticFailover"], g["MultiAZ"]), ("enabled", "enabled"), "ModifyReplicationGroup failover/Multi-AZ on")
    # Engine version upgrade on the 7.0 group.
    ec.modify_replication_group(ReplicationGroupId=page_groups[0], ApplyImmediately=True, EngineVersion="7.1")
    c = ec.describe_cache_clusters(CacheClusterId=f"{page_groups[0]}-001")["CacheClusters"][0]
    expect_equal(c["EngineVersion"], "7.1.0", "ModifyReplicationGroup EngineVersion 7.0 -> 7.1, member EngineVersion")
    expect_error(
        "InvalidParameterCombination", ec.modify_replication_group,
        ReplicationGroupId=page_groups[1], ApplyImmediately=True, AutomaticFailoverEnabled=True,
    )

    # Replica count.
    g = ec.increase_replica_count(ReplicationGroupId=rg, NewReplicaCount=3, ApplyImmediately=True)["ReplicationGroup"]
    four = [f"{rg}-00{i}" for i in range(1, 5)]
    expect_equal(g["MemberClusters"], four, "IncreaseReplicaCount to 3 MemberClusters")
    g = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
    expect_equal(g["MemberClusters"], four, "DescribeReplicationGroups after IncreaseReplicaCount")
    c = ec.describe_cache_clusters(CacheClusterId=f"{rg}-004")["CacheClusters"][0]
    expect_equal((c["ReplicationGroupId"], c["CacheNodeType"]), (rg, "cache.r7g.large"), "new replica cluster")
    g = ec.decrease_replica_count(ReplicationGroupId=rg, NewReplicaCount=1, ApplyImmediately=True)["ReplicationGroup"]
    expect_equal(g["MemberClusters"], members, "DecreaseReplicaCount to 1 MemberClusters")
    expect_error("CacheClusterNotFound", ec.describe_cache_clusters, CacheClusterId=f"{rg}-004")
    expect_error("InvalidParameterValue", ec.decrease_replica_count, ReplicationGroupId=rg, NewReplicaCount=0, ApplyImmediately=True)

    # Tags on the replication group.
    expect_equal(ec.list_tags_for_resource(ResourceName=rg_arn)["TagList"], tag, "ListTagsForResource(replication group)")
    ec.add_tags_to_resource(ResourceName=rg_arn, Tags=[{"Key": "extra", "Value": "2"}])
    tags = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=rg_arn)["TagList"]}
    expect_equal(tags, {"moodle-ha:stack": ctx.run, "extra": "2"}, "AddTagsToResource(replication group)")

    # Delete: subnet group in use, then group with a final snapshot (F4), then subnet group (F1).
    expect_error("CacheSubnetGroupInUse", ec.delete_cache_subnet_group, CacheSubnetGroupName=group)
    final = ctx.name("rg-final")
    g = ec.delete_replication_group(ReplicationGroupId=rg, RetainPrimaryCluster=False, FinalSnapshotIdentifier=final)["ReplicationGroup"]
    expect_equal(g["Status"], "deleting", "DeleteReplicationGroup answer Status")
    expect_error("ReplicationGroupNotFoundFault", ec.describe_replication_groups, ReplicationGroupId=rg)
    for member in members:
        expect_error("CacheClusterNotFound", ec.describe_cache_clusters, CacheClusterId=member)
    snapshots = ec.describe_snapshots(SnapshotName=final)["Snapshots"]
    expect_equal([s["SnapshotName"] for s in snapshots], [final], "DeleteReplicationGroup FinalSnapshotIdentifier snapshot")
    ec.delete_snapshot(SnapshotName=final)
    for name in page_groups:
        ec.delete_replication_group(ReplicationGroupId=name)
    ec.delete_cache_subnet_group(CacheSubnetGroupName=group)
    expect_error("CacheSubnetGroupNotFoundFault", ec.describe_cache_subnet_groups, CacheSubnetGroupName=group)
    expect_error("CacheSubnetGroupNotFoundFault", ec.delete_cache_subnet_group, CacheSubnetGroupName=group)
    for name in extra:
        ec.delete_cache_subnet_group(CacheSubnetGroupName=name)


def check_security_controls(ctx):
    """Issue 20's Redis controls: AutoMinorVersionUpgrade and SnapshotRetentionLimit, on the group and its members."""
    ec = ctx.elasticache
    group = ctx.name("csg-sec")
    ec.create_cache_subnet_group(CacheSubnetGroupName=group, CacheSubnetGroupDescription="check", SubnetIds=ctx.subnets[:2])
    rg = ctx.name("rg-sec")
    plain = ctx.name("rg-sec-default")
    ec.create_replication_group(ReplicationGroupId=plain, ReplicationGroupDescription="check", Engine="redis", CacheNodeType="cache.t4g.micro",
                                NumCacheClusters=1, CacheSubnetGroupName=group)
    g = ec.describe_replication_groups(ReplicationGroupId=plain)["ReplicationGroups"][0]
    expect_equal((g.get("AutoMinorVersionUpgrade"), g.get("SnapshotRetentionLimit")), (True, 0), "CreateReplicationGroup defaults AutoMinorVersionUpgrade/SnapshotRetentionLimit")
    ec.create_replication_group(ReplicationGroupId=rg, ReplicationGroupDescription="check", Engine="redis", CacheNodeType="cache.t4g.small",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True, CacheSubnetGroupName=group,
                                AutoMinorVersionUpgrade=True, SnapshotRetentionLimit=5)
    for change, wanted in (({}, (True, 5)), ({"AutoMinorVersionUpgrade": False, "SnapshotRetentionLimit": 0}, (False, 0)),
                           ({"AutoMinorVersionUpgrade": True}, (True, 0))):
        if change:
            ec.modify_replication_group(ReplicationGroupId=rg, ApplyImmediately=True, **change)
        g = ec.describe_replication_groups(ReplicationGroupId=rg)["ReplicationGroups"][0]
        expect_equal((g.get("AutoMinorVersionUpgrade"), g.get("SnapshotRetentionLimit")), wanted, f"DescribeReplicationGroups after {change or 'create'}")
        for member in g["MemberClusters"]:
            c = ec.describe_cache_clusters(CacheClusterId=member)["CacheClusters"][0]
            expect_equal((c.get("AutoMinorVersionUpgrade"), c.get("SnapshotRetentionLimit")), wanted, f"DescribeCacheClusters({member}) after {change or 'create'}")
    for name in (rg, plain):
        ec.delete_replication_group(ReplicationGroupId=name)
    ec.delete_cache_subnet_group(CacheSubnetGroupName=group)

"""Start moto in server mode, with small patches where moto 5.2.5 answers differently from AWS.

Each patch restores one documented AWS behaviour and names the test that needs it. The fixes
live here, in the emulator launcher, so that moodle-ha's product code stays faithful to AWS and
never special-cases the emulator. The fixtures (last section) are not gaps: they put into every
region what a real account has and moto cannot (the example stack's ACM certificate, AWS's
public Ubuntu AMI parameters). `check_emulator.py` (next to this file) checks the ElastiCache,
RDS, Secrets Manager, ELBv2, IAM, Auto Scaling and launch template behaviour, creates sent again
(client tokens, ELBv2 and EFS idempotency), and the fixtures, against a running launcher.

Usage: python moto_launcher.py [-H HOST] [-p PORT]   (the arguments of moto_server)
"""

import copy
import json
import string
import sys

PATCHES = []


def patch(func):
    """Register a patch; the launcher applies every registered patch before serving."""
    PATCHES.append(func)
    return func


@patch
def efs_update_file_system():
    """EFS `UpdateFileSystem` (PUT /2015-02-01/file-systems/{id}).

    AWS: changes ThroughputMode / ProvisionedThroughputInMibps in place and answers with the file
    system description (202). moto 5.2.5: HTTP 500, "The update_file_system action has not been
    implemented". Needed by: tests/it/efs.rs (throughput mode update, drift repair).
    """
    from moto.efs.models import EFSBackend
    from moto.efs.responses import EFSResponse

    def backend_update(self, file_system_id, throughput_mode, provisioned):
        _, fss = self.describe_file_systems(file_system_id=file_system_id)
        fs = fss[0]
        if throughput_mode:
            fs.throughput_mode = throughput_mode
        if throughput_mode and throughput_mode != "provisioned":
            fs.provisioned_throughput_in_mibps = None
        if provisioned is not None:
            fs.provisioned_throughput_in_mibps = provisioned
        return fs

    def response_update(self):
        fs = self.efs_backend.update_file_system(
            self._get_param("FileSystemId"),
            self._get_param("ThroughputMode"),
            self._get_param("ProvisionedThroughputInMibps"),
        )
        return json.dumps(fs.info_json()), {"status": 202, "Content-Type": "application/json"}

    EFSBackend.update_file_system = backend_update
    EFSResponse.update_file_system = response_update


@patch
def efs_put_backup_policy():
    """EFS `PutBackupPolicy` (PUT /2015-02-01/file-systems/{id}/backup-policy).

    AWS: sets automatic backups ENABLED or DISABLED and answers with the policy. moto 5.2.5:
    HTTP 500, action not implemented. Needed by: tests/it/efs.rs (backup policy update).
    """
    from moto.efs.models import FileSystem
    from moto.efs.responses import EFSResponse

    original = FileSystem.backup_policy

    def backup_policy(self):
        # AWS answers DISABLED (not PolicyNotFound) once a policy has been put.
        explicit = getattr(self, "_backup_status", None)
        return {"Status": explicit} if explicit else original.fget(self)

    def response_put(self):
        fs_id = self._get_param("FileSystemId")
        status = (self._get_param("BackupPolicy") or {}).get("Status", "DISABLED")
        _, fss = self.efs_backend.describe_file_systems(file_system_id=fs_id)
        fss[0]._backup = status == "ENABLED"
        fss[0]._backup_status = status
        return json.dumps({"BackupPolicy": {"Status": status}}), {"Content-Type": "application/json"}

    FileSystem.backup_policy = property(backup_policy)
    EFSResponse.put_backup_policy = response_put


@patch
def efs_file_system_already_exists_id():
    """EFS `CreateFileSystem` with a CreationToken already used (a retry whose answer was lost).

    AWS: HTTP 409 `FileSystemAlreadyExists` whose body carries the existing file system's
    `FileSystemId` (and `ErrorCode`), so the caller can adopt it. moto 5.2.5: the same error
    with a message only, no `FileSystemId`. Needed by: tests/it/resilience.rs
    (apply_converges_when_answers_are_lost) and every resumed create of a file system.
    """
    from moto.efs.exceptions import FileSystemAlreadyExists
    from moto.efs.models import EFSBackend

    original = EFSBackend.create_file_system

    def create_file_system(self, creation_token, *args, **kwargs):
        if creation_token and creation_token in self.creation_tokens:
            existing = next(fs for fs in self.file_systems_by_id.values() if fs.creation_token == creation_token)
            error = FileSystemAlreadyExists(creation_token)
            error.description = json.dumps({
                "__type": "FileSystemAlreadyExists",
                "ErrorCode": "FileSystemAlreadyExists",
                "Message": error.message,
                "message": error.message,
                "FileSystemId": existing.file_system_id,
            })
            raise error
        return original(self, creation_token, *args, **kwargs)

    EFSBackend.create_file_system = create_file_system


@patch
def ec2_nat_gateway_tag_filters():
    """EC2 `DescribeNatGateways` with a `tag:<key>` (or `tag-key`, `tag-value`) filter.

    AWS: returns only the gateways carrying the tag. moto 5.2.5: ignores tag filters and
    returns every gateway in the region, so a tool that finds its resources by tag would
    adopt another stack's gateways. Needed by: tests/it/adopt.rs (nothing left tagged after
    destroy) and every observe of a stack with NAT gateways.
    """
    from moto.ec2.models.nat_gateways import NatGatewayBackend
    from moto.ec2.utils import is_tag_filter, tag_filter_matches

    original = NatGatewayBackend.describe_nat_gateways

    def describe_nat_gateways(self, filters, nat_gateway_ids):
        gateways = original(self, filters, nat_gateway_ids)
        for name, values in (filters or {}).items():
            if is_tag_filter(name):
                gateways = [g for g in gateways if tag_filter_matches(g, name, values)]
        return gateways

    NatGatewayBackend.describe_nat_gateways = describe_nat_gateways


# ElastiCache ----------------------------------------------------------------------------------


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
def rds_modify_db_subnet_group():
    """RDS `ModifyDBSubnetGroup` (SubnetIds, DBSubnetGroupDescription).

    AWS: replaces the group's subnets and answers with the group, which stays in place.
    moto 5.2.5: answers with the modified group but removes it from the region (it pops it and
    never puts it back): the next DescribeDBSubnetGroups does not list it, CreateDBInstance
    answers DBSubnetGroupNotFoundFault and ListTagsForResource on its ARN answers no tags; an
    unknown name answers HTTP 500 (KeyError). Needed by: moodle-ha's DB subnet group drift repair.
    """
    from moto.rds.exceptions import DBSubnetGroupNotFoundError
    from moto.rds.models import RDSBackend

    def modify_db_subnet_group(self, subnet_name, description, subnets):
        if subnet_name not in self.subnet_groups:
            raise DBSubnetGroupNotFoundError(subnet_name)
        subnet_group = self.subnet_groups[subnet_name]
        if subnets:
            subnet_group.subnets = subnets
        if description is not None:
            subnet_group.description = description
        return subnet_group

    RDSBackend.modify_db_subnet_group = modify_db_subnet_group


@patch
def rds_paginate_subnet_groups_and_clusters():
    """RDS `DescribeDBSubnetGroups` / `DescribeDBClusters` with MaxRecords (and Marker).

    AWS: answers at most MaxRecords (20-100, default 100) items and a Marker for the next page.
    moto 5.2.5: ignores MaxRecords and answers every item in one page, so a client's paging
    (Marker handling) is never exercised. Needed by: moodle-ha observe, which lists all DB subnet
    groups and clusters page by page.
    """
    from moto.core.responses import PaginatedResult
    from moto.core.utils import get_pagination_model
    from moto.rds.responses import RDSResponse

    model = get_pagination_model("rds")
    for operation, method in (("DescribeDBSubnetGroups", "describe_db_subnet_groups"), ("DescribeDBClusters", "describe_db_clusters")):
        model[operation]["unique_attribute"] = "resource_id"
        original = getattr(RDSResponse, method)
        setattr(RDSResponse, method, lambda self, original=original: PaginatedResult(original(self).result))


# The full version RDS for MySQL gives an instance created (or upgraded) with a major version only.
# AWS picks the engine's current default minor version, which changes over time; these stand in for it.
RDS_MYSQL_FULL_VERSIONS = {"8.4": "8.4.3", "8.0": "8.0.40", "5.7": "5.7.44"}


@patch
def rds_mysql_full_engine_version():
    """RDS `CreateDBInstance` / `ModifyDBInstance` with Engine mysql and EngineVersion "8.4" (major only).

    AWS: the instance runs the default minor version of that major version and
    DescribeDBInstances answers it in full (e.g. "8.4.3"); a modify to the major version it
    already runs leaves the version unchanged. moto 5.2.5: answers EngineVersion "8.4", exactly
    as sent, so a client comparing the wanted and the running version would see no drift here
    and constant drift on AWS. Needed by: moodle-ha observe/plan of the RDS MySQL engine version.
    """
    from moto.rds.models import DBInstance

    original = DBInstance.engine_version

    def set_engine_version(self, value):
        if getattr(self, "engine", None) == "mysql" and value and value.count(".") == 1:
            current = getattr(self, "_engine_version", None) or ""
            if current.startswith(value + "."):
                value = current
            else:
                value = RDS_MYSQL_FULL_VERSIONS.get(value, value + ".0")
        original.fset(self, value)

    DBInstance.engine_version = property(original.fget, set_engine_version)


@patch
def rds_aurora_mysql_defaults():
    """RDS `CreateDBCluster` with Engine aurora-mysql and no EngineVersion.

    AWS: creates an Aurora MySQL version 3 cluster (MySQL 8.0 compatible; version 2 ended
    standard support in 2024), e.g. EngineVersion "8.0.mysql_aurora.3.08.2", with the cluster
    parameter group "default.aurora-mysql8.0"; its instances created without
    DBParameterGroupName get "default.aurora-mysql8.0". moto 5.2.5: EngineVersion
    "5.7.mysql_aurora.2.07.2", DBClusterParameterGroup "default.aurora8.0" and instance
    parameter group "default.aurora-mysql<version minus its last part>" (names AWS does not
    have). Needed by: moodle-ha's Aurora create/observe (DB parameter groups of family
    aurora-mysql8.0 only fit a version 3 cluster).
    """
    from moto.rds.models import DBCluster, DBInstance

    original_default = DBCluster.default_engine_version
    original_init = DBCluster.__init__

    def default_engine_version(engine):
        if engine == "aurora-mysql":
            return "8.0.mysql_aurora.3.08.2"
        return original_default(engine)

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.engine == "aurora-mysql" and not kwargs.get("db_cluster_parameter_group_name"):
            self.parameter_group = "default.aurora-mysql" + self.engine_version.split(".mysql_aurora")[0]

    original_details = DBInstance.default_db_parameter_group_details

    def default_db_parameter_group_details(self):
        if ".mysql_aurora." in str(self.engine_version):
            family = self.engine.lower() + self.engine_version.split(".mysql_aurora")[0]
            return family, f"default.{family}"
        return original_details(self)

    DBCluster.default_engine_version = staticmethod(default_engine_version)
    DBCluster.__init__ = __init__
    DBInstance.default_db_parameter_group_details = default_db_parameter_group_details


@patch
def rds_master_user_secret_value():
    """RDS `CreateDBInstance` / `CreateDBCluster` with ManageMasterUserPassword=true: the secret's value.

    AWS: the managed secret (MasterUserSecret.SecretArn) holds
    {"username": <MasterUsername>, "password": <a generated password>}. moto 5.2.5: always
    {"username": "admin", "password": "P@55w0rd!"}, whatever MasterUsername was. Needed by:
    moodle-ha, which hands the secret's credentials to Moodle's database configuration.
    """
    import secrets

    from moto.rds.models import MasterUserSecret

    alphabet = string.ascii_letters + string.digits + "!#$%&()*+,-.:;<=>?[]^_{|}~"

    def _generate_secret_string(self):
        password = "".join(secrets.choice(alphabet) for _ in range(32))
        return json.dumps({"username": self.resource.master_username, "password": password})

    MasterUserSecret._generate_secret_string = _generate_secret_string


@patch
def rds_describe_db_parameters_source():
    """RDS `DescribeDBParameters` on a custom DB parameter group, with or without `Source` (F5).

    AWS: every parameter carries a Source ("user" for the ones set by ModifyDBParameterGroup,
    "engine-default"/"system" for the others); Source=user returns only the user-set ones.
    moto 5.2.5: knows only the user-set parameters, returns them without a Source field, and
    ignores the Source filter. Here they carry Source "user", and a Source filter other than
    "user" returns none (moto has no engine defaults to return). Needed by: moodle-ha's
    parameter group drift check, which asks for Source=user.
    """
    from moto.rds.responses import RDSResponse

    original = RDSResponse.describe_db_parameters

    def describe_db_parameters(self):
        result = original(self)
        source = self.params.get("Source")
        parameters = [dict(p, Source="user") for p in result.result["Parameters"]]
        result.result["Parameters"] = parameters if source in (None, "user") else []
        return result

    RDSResponse.describe_db_parameters = describe_db_parameters


@patch
def rds_pending_modified_values():
    """RDS `ModifyDBInstance` with ApplyImmediately=false (or omitted).

    AWS: DBInstanceClass, AllocatedStorage, MultiAZ, EngineVersion, StorageType, Iops,
    StorageThroughput and CACertificateIdentifier changes wait for the next maintenance window:
    the instance keeps its current values and shows the new ones under PendingModifiedValues;
    a later modify with ApplyImmediately=true applies them together with its own changes. Other
    settings (windows, backup retention, MaxAllocatedStorage, DeletionProtection, security
    groups, parameter group) apply at once either way. moto 5.2.5: applies everything at once
    and never returns PendingModifiedValues. The emulator has no maintenance window, so pending
    values stay pending until a modify with ApplyImmediately=true. Needed by: moodle-ha's RDS
    drift repair when it defers disruptive changes to the maintenance window.
    """
    from moto.rds.models import RDSBackend

    original = RDSBackend.modify_db_instance
    deferred = {
        "db_instance_class": "DBInstanceClass",
        "allocated_storage": "AllocatedStorage",
        "multi_az": "MultiAZ",
        "engine_version": "EngineVersion",
        "storage_type": "StorageType",
        "iops": "Iops",
        "storage_throughput": "StorageThroughput",
        "ca_certificate_identifier": "CACertificateIdentifier",
    }

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        database = self.describe_db_instances(db_instance_identifier)[0]
        pending = dict(getattr(database, "pending_modified_values", None) or {})
        if db_kwargs.get("apply_immediately"):
            for key, name in deferred.items():
                if name in pending and db_kwargs.get(key) is None:
                    db_kwargs[key] = pending[name]
            pending = {}
        else:
            for key, name in deferred.items():
                value = db_kwargs.get(key)
                if value is not None:
                    del db_kwargs[key]
                    current = getattr(database, key, None)
                    if key == "engine_version" and str(current).startswith(f"{value}."):
                        value = current  # a major version only: the one it runs already
                    if value != current:
                        pending[name] = value
                    else:
                        pending.pop(name, None)
        database = original(self, db_instance_identifier, db_kwargs)
        database.pending_modified_values = pending or None
        return database

    RDSBackend.modify_db_instance = modify_db_instance


@patch
def rds_delete_groups_in_use():
    """RDS `DeleteDBSubnetGroup` / `DeleteDBParameterGroup` while a DB instance or cluster uses the group.

    AWS: refuses, with InvalidDBSubnetGroupStateFault ("Cannot delete the subnet group … because
    at least one database instance: … is still using it.") or InvalidDBParameterGroupState
    ("One or more database instances are still members of this parameter group …"). moto 5.2.5:
    deletes the group and leaves the instance pointing at a group that no longer exists. Needed
    by: moodle-ha destroy, which must delete the groups only after the instances and clusters.
    """
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    original_subnet = RDSBackend.delete_subnet_group
    original_parameter = RDSBackend.delete_db_parameter_group

    def delete_subnet_group(self, subnet_name):
        users = [
            d.db_instance_identifier for d in self.databases.values()
            if getattr(d, "_db_subnet_group_name", None) == subnet_name  # its getter raises (write-only)
        ]
        users += [c.db_cluster_identifier for c in self.clusters.values() if c.db_subnet_group_name == subnet_name]
        if users:
            raise RDSClientError(
                "InvalidDBSubnetGroupStateFault",
                f"Cannot delete the subnet group '{subnet_name}' because at least one database instance: {users[0]} is still using it.",
            )
        return original_subnet(self, subnet_name)

    def delete_db_parameter_group(self, db_parameter_group_name):
        in_use = [d for d in self.databases.values() if (d.db_parameter_group_name or "").lower() == db_parameter_group_name.lower()]
        if in_use:
            raise RDSClientError(
                "InvalidDBParameterGroupState",
                f"One or more database instances are still members of this parameter group {db_parameter_group_name}, so the group cannot be deleted",
            )
        return original_parameter(self, db_parameter_group_name)

    RDSBackend.delete_subnet_group = delete_subnet_group
    RDSBackend.delete_db_parameter_group = delete_db_parameter_group


# Secrets Manager ------------------------------------------------------------------------------


@patch
def secretsmanager_create_secret_scheduled_for_deletion():
    """Secrets Manager `CreateSecret` with the name of a secret that is scheduled for deletion.

    AWS: InvalidRequestException "You can't create this secret because a secret with this name
    is already scheduled for deletion." (the old secret can be restored or force-deleted).
    moto 5.2.5: ResourceExistsException, the answer for a live secret of that name, which a
    client would take as "already created". Needed by: moodle-ha deploy after a destroy that
    left the stack's redis-auth secret in its recovery window.
    """
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.create_secret

    def create_secret(self, name, *args, **kwargs):
        existing = self.secrets.get(name)
        if existing is not None and getattr(existing, "deleted_date", None):
            raise InvalidRequestException(
                "You can't create this secret because a secret with this name is already scheduled for deletion."
            )
        return original(self, name, *args, **kwargs)

    SecretsManagerBackend.create_secret = create_secret


# ELBv2 -----------------------------------------------------------------------------------------


@patch
def elbv2_default_attributes():
    """ELBv2 `DescribeLoadBalancerAttributes` / `DescribeTargetGroupAttributes` / `ModifyTargetGroupAttributes`.

    AWS: an Application Load Balancer has idle_timeout.timeout_seconds "60",
    routing.http2.enabled "true", access_logs.s3.enabled "false",
    routing.http.drop_invalid_header_fields.enabled "false" and load_balancing.cross_zone.enabled
    "true" (always, for an ALB) from the start; an HTTP/HTTPS target group has
    stickiness.lb_cookie.duration_seconds "86400" next to stickiness.type "lb_cookie"; and
    ModifyTargetGroupAttributes answers every attribute of the group, not only the modified
    ones. moto 5.2.5: no idle timeout, HTTP/2 or access log flag, cross-zone "false", no cookie
    duration, and ModifyTargetGroupAttributes answers only what was sent. Needed by: moodle-ha's
    ALB and target group observe/drift check (a default must read as the default, not as
    missing) and attribute repair.
    """
    from moto.core.responses import ActionResult
    from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup
    from moto.elbv2.responses import ELBV2Response

    original_lb = FakeLoadBalancer.__init__
    original_tg = FakeTargetGroup.__init__
    original_modify = ELBV2Response.modify_target_group_attributes

    def lb_init(self, *args, **kwargs):
        original_lb(self, *args, **kwargs)
        if self.type == "application":
            self.attrs.update({
                "access_logs.s3.enabled": "false",
                "idle_timeout.timeout_seconds": "60",
                "routing.http2.enabled": "true",
                "routing.http.drop_invalid_header_fields.enabled": "false",
                "load_balancing.cross_zone.enabled": "true",
            })

    def tg_init(self, *args, **kwargs):
        original_tg(self, *args, **kwargs)
        if self.attributes.get("stickiness.type") == "lb_cookie":
            self.attributes["stickiness.lb_cookie.duration_seconds"] = "86400"

    def modify_target_group_attributes(self):
        original_modify(self)
        group = self.elbv2_backend.target_groups[self._get_param("TargetGroupArn")]
        return ActionResult({"Attributes": group.attributes})

    FakeLoadBalancer.__init__ = lb_init
    FakeTargetGroup.__init__ = tg_init
    ELBV2Response.modify_target_group_attributes = modify_target_group_attributes


@patch
def elbv2_describe_pagination():
    """ELBv2 `DescribeTargetGroups` / `DescribeListeners` with PageSize (and Marker).

    AWS: answers at most PageSize items (default 400) and a NextMarker for the next page.
    moto 5.2.5: ignores PageSize and Marker and answers everything in one page (only
    DescribeLoadBalancers pages), so a client's paging is never exercised. Needed by: moodle-ha
    observe, which lists all target groups of the region and all listeners of a load balancer.
    """
    from moto.elbv2.responses import ELBV2Response

    def paginated(method, key):
        original = getattr(ELBV2Response, method)

        def describe(self):
            result = original(self)
            items = result.result[key]
            marker = self._get_param("Marker")
            arns = [item.arn for item in items]
            start = arns.index(marker) + 1 if marker in arns else 0
            size = self._get_int_param("PageSize", 400)
            result.result[key] = items[start:start + size]
            if start + size < len(items):
                result.result["NextMarker"] = arns[start + size - 1]
            return result

        setattr(ELBV2Response, method, describe)

    paginated("describe_target_groups", "TargetGroups")
    paginated("describe_listeners", "Listeners")


@patch
def elbv2_listener_actions_and_ssl_policy():
    """ELBv2 `CreateListener` / `ModifyListener` / `DescribeListeners`: DefaultActions and SslPolicy.

    AWS: a redirect action answers its RedirectConfig with every component, the ones not sent
    filled with the keywords that keep them: Protocol "#{protocol}", Port "#{port}", Host
    "#{host}", Path "/#{path}", Query "#{query}" (an HTTP→HTTPS redirect sent as {Protocol HTTPS,
    Port "443", StatusCode HTTP_301} comes back with Host "#{host}", Path "/#{path}", Query
    "#{query}"); a forward action sent with TargetGroupArn alone also answers ForwardConfig
    {TargetGroups [{TargetGroupArn, Weight 1}], TargetGroupStickinessConfig {Enabled false}};
    an HTTP listener has no SslPolicy. moto 5.2.5: answers the RedirectConfig as sent, no
    ForwardConfig, and SslPolicy "ELBSecurityPolicy-2016-08" on HTTP listeners. Needed by:
    moodle-ha's listener observe/drift check, which must compare what AWS answers.
    """
    from moto.elbv2.models import FakeAction, FakeListener

    original_action = FakeAction.__init__
    original_listener = FakeListener.__init__
    redirect_defaults = {"Protocol": "#{protocol}", "Port": "#{port}", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}"}

    def action_init(self, data):
        if data.get("Type") == "redirect" and isinstance(data.get("RedirectConfig"), dict):
            data["RedirectConfig"] = {**redirect_defaults, **data["RedirectConfig"]}
        if data.get("Type") == "forward" and data.get("TargetGroupArn") and not data.get("ForwardConfig"):
            data["ForwardConfig"] = {"TargetGroups": [{"TargetGroupArn": data["TargetGroupArn"], "Weight": 1}]}
        original_action(self, data)

    def listener_init(self, load_balancer_arn, arn, protocol, port, ssl_policy, *args, **kwargs):
        if (protocol or "").upper() not in ("HTTPS", "TLS"):
            ssl_policy = None
        original_listener(self, load_balancer_arn, arn, protocol, port, ssl_policy, *args, **kwargs)

    FakeAction.__init__ = action_init
    FakeListener.__init__ = listener_init


@patch
def elbv2_target_group_load_balancer_arns():
    """ELBv2 `DescribeTargetGroups` LoadBalancerArns after ModifyListener / DeleteListener / DeleteLoadBalancer.

    AWS: LoadBalancerArns lists, once each, the load balancers whose listeners (or rules)
    forward to the target group now. moto 5.2.5: appends the load balancer at each
    CreateListener / CreateRule and never removes it: it stays after the listener or the load
    balancer is deleted, appears twice after a second listener, and a ModifyListener that
    forwards to another group does not show there. Needed by: moodle-ha observe (which load
    balancer a target group is behind; the request-count policy's ResourceLabel) and destroy.
    """
    from moto.elbv2.models import FakeTargetGroup, elbv2_backends

    def load_balancer_arns(self):
        backend = elbv2_backends[self.account_id][self.region_name]
        found = []
        for balancer in backend.load_balancers.values():
            for listener in balancer.listeners.values():
                actions = [a for rule in listener.rules.values() for a in rule.actions]
                if any(self.arn in backend._get_target_group_arns_from(action_data=a.data) for a in actions if a.type == "forward"):
                    found.append(balancer.arn)
                    break
        return found

    FakeTargetGroup.load_balancer_arns = property(load_balancer_arns, lambda self, value: None)


@patch
def elbv2_create_idempotent():
    """ELBv2 `CreateLoadBalancer` / `CreateTargetGroup` with the name of one that exists, and
    `CreateListener` on a port of the load balancer that has a listener.

    AWS: all three are idempotent: a create with the same settings as the existing load balancer
    (target group, listener on that port) answers it and creates nothing; other settings answer
    DuplicateLoadBalancerName (DuplicateTargetGroupName, DuplicateListener). moto 5.2.5: a second
    CreateLoadBalancer makes a second load balancer of the same name, a second CreateListener a
    second listener on the same port (its port check looks among listener ARNs), and a second
    CreateTargetGroup answers DuplicateTargetGroupName, so an SDK retry whose first answer was
    lost duplicates or fails. Here "the same settings" means the same request parameters as the
    create that made it (tags included). Needed by: tests/it/resilience.rs
    (apply_converges_when_answers_are_lost).
    """
    from moto.core.responses import ActionResult
    from moto.elbv2.exceptions import DuplicateListenerError, DuplicateLoadBalancerName, DuplicateTargetGroupName
    from moto.elbv2.responses import ELBV2Response

    def idempotent(self, original, key, existing, answer_key, duplicate):
        requests = self.elbv2_backend.__dict__.setdefault("_create_requests", {})
        request = sorted((k, v) for k, v in self.querystring.items() if k not in ("Action", "Version"))
        found = existing(self.elbv2_backend)
        if found:
            if requests.get(key) != request:
                raise duplicate()
            return ActionResult({answer_key: found[:1]})
        result = original(self)
        requests[key] = request
        return result

    def listeners_on_port(backend, arn, port):
        balancer = backend.load_balancers.get(arn)
        return [l for l in (balancer.listeners.values() if balancer else []) if str(l.port) == str(port)]

    original_lb = ELBV2Response.create_load_balancer
    original_tg = ELBV2Response.create_target_group
    original_listener = ELBV2Response.create_listener

    def create_load_balancer(self):
        name = self._get_param("Name")
        return idempotent(
            self, original_lb, ("lb", name),
            lambda b: [lb for lb in b.load_balancers.values() if lb.name == name],
            "LoadBalancers", DuplicateLoadBalancerName,
        )

    def create_target_group(self):
        name = self._get_param("Name")
        return idempotent(
            self, original_tg, ("tg", name),
            lambda b: [tg for tg in b.target_groups.values() if tg.name == name],
            "TargetGroups", DuplicateTargetGroupName,
        )

    def create_listener(self):
        arn, port = self._get_param("LoadBalancerArn"), self._get_param("Port")
        return idempotent(
            self, original_listener, ("listener", arn, str(port)),
            lambda b: listeners_on_port(b, arn, port),
            "Listeners", DuplicateListenerError,
        )

    ELBV2Response.create_load_balancer = create_load_balancer
    ELBV2Response.create_target_group = create_target_group
    ELBV2Response.create_listener = create_listener


# IAM -------------------------------------------------------------------------------------------


@patch
def iam_aws_managed_policies():
    """IAM `AttachRolePolicy` / `DetachRolePolicy` / `GetPolicy` with an AWS managed policy ARN.

    AWS: every AWS managed policy exists in every account (e.g.
    arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore, …/CloudWatchAgentServerPolicy).
    moto 5.2.5: knows none unless MOTO_IAM_LOAD_MANAGED_POLICIES=true (NoSuchEntity "Policy …
    does not exist or is not attachable"). Loading moto's copy of them costs about 50 ms per
    account. Needed by: moodle-ha's web role (SSM and CloudWatch agent policies).
    """
    import os

    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


@patch
def iam_list_url_encoded_documents():
    """IAM `ListRoles` / `ListInstanceProfiles` / `GetInstanceProfile` / `ListInstanceProfilesForRole`: AssumeRolePolicyDocument.

    AWS: every policy document in an IAM answer is URL-encoded (RFC 3986), in lists as in
    GetRole / GetRolePolicy. moto 5.2.5: URL-encodes it in CreateRole, GetRole and
    GetRolePolicy, but answers plain JSON in ListRoles and in the Roles of instance profiles.
    (boto3 decodes these documents itself, so only a raw answer shows the difference; the
    Rust SDK hands the string over as received.) Needed by: moodle-ha's role observe, which
    decodes the document it lists.
    """
    from moto.core.serialize import url_encode
    from moto.iam.responses import IamResponse

    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER.update({
        "ListRolesResponse.Roles.Role.AssumeRolePolicyDocument": url_encode,
        "Roles.Role.AssumeRolePolicyDocument": url_encode,  # the Roles of an instance profile
    })


@patch
def iam_list_instance_profiles_path_prefix():
    """IAM `ListInstanceProfiles` with PathPrefix (and MaxItems / Marker).

    AWS: answers only the instance profiles whose path starts with PathPrefix, MaxItems at a
    time (default 100) with IsTruncated and Marker. moto 5.2.5: ignores PathPrefix, MaxItems
    and Marker and answers every instance profile of the account. Needed by: moodle-ha observe
    and adopt, which find a stack's instance profiles by path (/moodle-ha/<stack>/).
    """
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    def list_instance_profiles(self):
        prefix = self._get_param("PathPrefix") or "/"
        profiles = [p for p in self.backend.get_instance_profiles() if p.path.startswith(prefix)]
        start = int(self._get_param("Marker") or 0)
        size = int(self._get_param("MaxItems") or 100)
        result = {"InstanceProfiles": profiles[start:start + size], "IsTruncated": start + size < len(profiles)}
        if result["IsTruncated"]:
            result["Marker"] = str(start + size)
        return ActionResult(result)

    IamResponse.list_instance_profiles = list_instance_profiles


# Auto Scaling / EC2 ---------------------------------------------------------------------------


@patch
def autoscaling_policy_enabled_no_predictive():
    """Auto Scaling `DescribePolicies` on a target-tracking policy (F6).

    AWS: each policy has `Enabled` (true unless PutScalingPolicy sent Enabled=false) and only a
    predictive-scaling policy has a PredictiveScalingConfiguration. moto 5.2.5: no `Enabled`,
    and an empty PredictiveScalingConfiguration on every policy. Needed by: moodle-ha's scaling
    policy observe/drift check.
    """
    from moto.autoscaling.models import FakeScalingPolicy
    from moto.autoscaling.responses import AutoScalingResponse

    original_init = FakeScalingPolicy.__init__
    original_put = AutoScalingResponse.put_scaling_policy

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.enabled = True
        if not self.predictive_scaling_configuration:
            self.predictive_scaling_configuration = None

    def put_scaling_policy(self):
        result = original_put(self)
        enabled = self._get_bool_param("Enabled")
        if enabled is not None:
            group, name = self._get_param("AutoScalingGroupName"), self._get_param("PolicyName")
            for policy in self.autoscaling_backend.policies.values():
                if (policy.auto_scaling_group_name, policy.name) == (group, name):
                    policy.enabled = enabled
        return result

    FakeScalingPolicy.__init__ = __init__
    AutoScalingResponse.put_scaling_policy = put_scaling_policy


@patch
def autoscaling_update_keeps_mixed_instances_policy():
    """Auto Scaling `UpdateAutoScalingGroup` without MixedInstancesPolicy (e.g. only MaxSize) (F7).

    AWS: leaves every omitted setting unchanged, the group's MixedInstancesPolicy included (it
    is replaced only by a new MixedInstancesPolicy, LaunchTemplate or LaunchConfigurationName).
    moto 5.2.5: drops the MixedInstancesPolicy. Needed by: moodle-ha's ASG resize and drift
    repair, which send only the fields that changed.
    """
    from moto.autoscaling.models import FakeAutoScalingGroup

    original = FakeAutoScalingGroup.update

    def update(self, *args, **kwargs):
        replaced = kwargs.get("mixed_instances_policy") or kwargs.get("launch_template") or kwargs.get("launch_config_name")
        if not replaced and self.mixed_instances_policy:
            kept = copy.deepcopy(self.mixed_instances_policy)
            spec = kept["LaunchTemplate"]["LaunchTemplateSpecification"]
            if spec.get("LaunchTemplateId"):  # moto stores id and name; a request may name only one
                spec.pop("LaunchTemplateName", None)
            kwargs["mixed_instances_policy"] = kept
        return original(self, *args, **kwargs)

    FakeAutoScalingGroup.update = update


@patch
def ec2_launch_template_own_tags():
    """EC2 `CreateLaunchTemplate` with top-level TagSpecifications (ResourceType launch-template) (F8).

    AWS: those tags go on the launch template itself (DescribeLaunchTemplates Tags); the
    version's LaunchTemplateData.TagSpecifications holds only what LaunchTemplateData sent (the
    tags for instances and volumes launched from it). moto 5.2.5: also appends the top-level
    TagSpecifications to LaunchTemplateData.TagSpecifications, so instances launched from the
    template would carry them and a client comparing the template data sees drift. Needed by:
    moodle-ha's launch template observe/drift check.
    """
    from moto.ec2.models.launch_templates import LaunchTemplateBackend

    original = LaunchTemplateBackend.create_launch_template

    def create_launch_template(self, name, description, template_data, tag_spec, *args, **kwargs):
        # moto's response handler appended one entry per top-level resource type: take them back out.
        appended = [
            {"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            for kind, tags in (tag_spec or {}).items()
        ]
        specs = template_data.get("TagSpecifications") or []
        if appended and specs[-len(appended):] == appended:
            del specs[-len(appended):]
            if not specs:
                del template_data["TagSpecifications"]
        return original(self, name, description, template_data, tag_spec, *args, **kwargs)

    LaunchTemplateBackend.create_launch_template = create_launch_template


@patch
def ec2_launch_template_client_token():
    """EC2 `CreateLaunchTemplate` / `CreateLaunchTemplateVersion` retried with the same ClientToken.

    AWS: the token makes the call idempotent: a retry with the same token and parameters answers
    the template (or version) the first call created and creates nothing; the same token with
    other parameters answers IdempotentParameterMismatch. moto 5.2.5: ignores ClientToken, so a
    retried CreateLaunchTemplate answers InvalidLaunchTemplateName.AlreadyExistsException and a
    retried CreateLaunchTemplateVersion creates a second version. Needed by: moodle-ha's launch
    template create/update, which retries with the same token after a timeout.
    """
    from moto.ec2.responses.launch_templates import LaunchTemplates

    original_create = LaunchTemplates.create_launch_template
    original_version = LaunchTemplates.create_launch_template_version

    def create_launch_template(self):
        return _ec2_idempotent(self, original_create, "template", snapshot=True)

    def create_launch_template_version(self):
        template = self._get_param("LaunchTemplateId") or self._get_param("LaunchTemplateName")
        return _ec2_idempotent(self, original_version, ("version", template), snapshot=True)

    LaunchTemplates.create_launch_template = create_launch_template
    LaunchTemplates.create_launch_template_version = create_launch_template_version


def _ec2_idempotent(response, original, scope, snapshot):
    """Runs an EC2 create action `original` once per ClientToken, as AWS does.

    The first call with a token runs it and remembers the request and the answer; a later call
    with the same token and the same parameters answers the same (a copy of the answer as it
    was when `snapshot`, else the same resource as it is now) and creates nothing; the same
    token with other parameters answers IdempotentParameterMismatch. Without a token the
    action runs as usual.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError

    token = response._get_param("ClientToken")
    if not token:
        return original(response)
    tokens = response.ec2_backend.__dict__.setdefault("_client_tokens", {})
    request = sorted((k, v) for k, v in response.querystring.items() if k not in ("ClientToken", "Action", "Version"))
    key = (scope, token)
    if key in tokens:
        seen, answer = tokens[key]
        if seen != request:
            raise EC2ClientError("IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already deleted or has different parameters.")
        return ActionResult(copy.deepcopy(answer) if snapshot else answer)
    result = original(response)
    tokens[key] = (request, copy.deepcopy(result.result) if snapshot else result.result)
    return result


@patch
def ec2_client_token_nat_route_table_instances():
    """EC2 `CreateNatGateway`, `CreateRouteTable` and `RunInstances` retried with the same ClientToken.

    AWS: the token makes each call idempotent: a retry with the same token and parameters
    answers the gateway, route table or reservation the first call created and creates nothing
    (a different request with the same token: IdempotentParameterMismatch). moto 5.2.5:
    ignores ClientToken, so a retry whose first answer was lost creates a second NAT gateway,
    route table or instance. Needed by: tests/it/resilience.rs
    (apply_converges_when_answers_are_lost), which loses the answer to these creates.
    """
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.responses.nat_gateways import NatGateways
    from moto.ec2.responses.route_tables import RouteTables

    for cls, action in (
        (NatGateways, "create_nat_gateway"),
        (RouteTables, "create_route_table"),
        (InstanceResponse, "run_instances"),
    ):
        original = getattr(cls, action)

        def idempotent(self, original=original, action=action):
            return _ec2_idempotent(self, original, action, snapshot=False)

        setattr(cls, action, idempotent)


@patch
def ec2_launch_template_version_user_data():
    """EC2 `CreateLaunchTemplateVersion` with LaunchTemplateData.UserData, then an ASG launching from it.

    AWS: a version's UserData is base64 like the first version's, and an Auto Scaling group
    launches instances from any version. moto 5.2.5: keeps the UserData of versions 2+ as a
    plain string, so a CreateAutoScalingGroup / UpdateAutoScalingGroup / SetDesiredCapacity that
    launches an instance from such a version answers HTTP 500 (AssertionError in
    LaunchTemplateVersion.user_data). Needed by: moodle-ha's web tier, whose ASG runs the
    latest launch template version (user data in every version).
    """
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    original = LaunchTemplate.create_version

    def create_version(self, data, description):
        if isinstance(data, dict) and isinstance(data.get("UserData"), str):
            data["UserData"] = parse_user_data(data["UserData"])
        return original(self, data, description)

    LaunchTemplate.create_version = create_version

@patch
def ec2_launch_template_pagination():
    """EC2 `DescribeLaunchTemplates` / `DescribeLaunchTemplateVersions` with more results than one page.

    AWS: answers every match when MaxResults is omitted, or MaxResults of them and a NextToken for
    the rest. moto 5.2.5: answers at most MaxResults (15 when omitted) and never a NextToken, so
    the 16th template (or version) silently disappears. Needed by: moodle-ha observe (all
    templates of a stack; all versions of a template that has been updated often).
    """
    from moto.ec2.responses.launch_templates import LaunchTemplates

    def paginated(method, key):
        original = getattr(LaunchTemplates, method)

        def describe(self):
            limit = self._get_int_param("MaxResults")
            start = int(self._get_param("NextToken") or 0)
            get_int = self._get_int_param
            self._get_int_param = lambda name, default=None: 1 << 30 if name == "MaxResults" else get_int(name, default)
            try:
                result = original(self)
            finally:
                del self._get_int_param
            items = result.result[key]
            end = len(items) if limit is None else start + limit
            result.result[key] = items[start:end]
            if end < len(items):
                result.result["NextToken"] = str(end)
            return result

        setattr(LaunchTemplates, method, describe)

    paginated("describe_launch_templates", "LaunchTemplates")
    paginated("describe_launch_template_versions", "LaunchTemplateVersions")


def _mixed_instances_policy_defaults(policy):
    """Fill InstancesDistribution with the defaults AWS answers (see the patch below)."""
    if not policy:
        return policy
    overrides = (policy.get("LaunchTemplate") or {}).get("Overrides") or []
    distribution = policy.setdefault("InstancesDistribution", {})
    with_requirements = any("InstanceRequirements" in o for o in overrides)
    distribution.setdefault("OnDemandAllocationStrategy", "lowest-price" if with_requirements else "prioritized")
    distribution.setdefault("OnDemandBaseCapacity", 0)
    distribution.setdefault("OnDemandPercentageAboveBaseCapacity", 100)
    distribution.setdefault("SpotAllocationStrategy", "lowest-price")
    if distribution["SpotAllocationStrategy"] == "lowest-price":
        distribution.setdefault("SpotInstancePools", 2)
    return policy


@patch
def autoscaling_mixed_instances_policy_defaults_and_partial_update():
    """Auto Scaling `CreateAutoScalingGroup` / `UpdateAutoScalingGroup` with a MixedInstancesPolicy.

    AWS: DescribeAutoScalingGroups answers the InstancesDistribution with every default filled
    in (OnDemandAllocationStrategy "prioritized" — "lowest-price" when the overrides use
    InstanceRequirements —, OnDemandBaseCapacity 0, OnDemandPercentageAboveBaseCapacity 100,
    SpotAllocationStrategy "lowest-price", SpotInstancePools 2 with lowest-price only). An update
    changes only what its MixedInstancesPolicy names ("Any parameters that you don't specify are
    not changed"; LaunchTemplate is "not required when updating the group"): a policy with only
    a new LaunchTemplateSpecification keeps the Overrides and the InstancesDistribution, and an
    InstancesDistribution with one field keeps the others. moto 5.2.5: fills the defaults only
    when InstancesDistribution is absent, and an update replaces the whole policy (no
    Overrides, no InstancesDistribution left). Needed by: moodle-ha's ASG observe/drift check
    and its launch template version roll-out (UpdateAutoScalingGroup with the new version).
    """
    from moto.autoscaling.models import FakeAutoScalingGroup

    original_init = FakeAutoScalingGroup.__init__
    original_update = FakeAutoScalingGroup.update

    def __init__(self, *args, **kwargs):
        _mixed_instances_policy_defaults(kwargs.get("mixed_instances_policy"))
        original_init(self, *args, **kwargs)

    def update(self, *args, **kwargs):
        sent = kwargs.get("mixed_instances_policy")
        if sent and self.mixed_instances_policy:
            merged = copy.deepcopy(self.mixed_instances_policy)
            spec = merged["LaunchTemplate"]["LaunchTemplateSpecification"]
            if spec.get("LaunchTemplateId"):  # moto stores id and name; a request names only one
                spec.pop("LaunchTemplateName", None)
            merged["LaunchTemplate"].update(sent.get("LaunchTemplate") or {})
            merged.setdefault("InstancesDistribution", {}).update(sent.get("InstancesDistribution") or {})
            kwargs["mixed_instances_policy"] = _mixed_instances_policy_defaults(merged)
        else:
            _mixed_instances_policy_defaults(sent)
        return original_update(self, *args, **kwargs)

    FakeAutoScalingGroup.__init__ = __init__
    FakeAutoScalingGroup.update = update


@patch
def autoscaling_update_capacity_rebalance():
    """Auto Scaling `UpdateAutoScalingGroup` with CapacityRebalance.

    AWS: turns capacity rebalancing on or off (DescribeAutoScalingGroups CapacityRebalance).
    moto 5.2.5: ignores the parameter. Needed by: moodle-ha's ASG drift repair.
    """
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.update_auto_scaling_group

    def update_auto_scaling_group(self):
        result = original(self)
        rebalance = self._get_bool_param("CapacityRebalance")
        if rebalance is not None:
            self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")].capacity_rebalance = rebalance
        return result

    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group


@patch
def autoscaling_lifecycle_hooks():
    """Auto Scaling lifecycle hooks: `CreateAutoScalingGroup` LifecycleHookSpecificationList, `PutLifecycleHook`.

    AWS: CreateAutoScalingGroup creates the hooks of LifecycleHookSpecificationList with the
    group; DescribeLifecycleHooks answers RoleARN, NotificationTargetARN and NotificationMetadata
    only when they were set, and GlobalTimeout = min(100 × HeartbeatTimeout, 172800). moto 5.2.5:
    ignores LifecycleHookSpecificationList (the group has no hooks), ignores the three optional
    fields of PutLifecycleHook and answers made-up ones ("arn:aws:sqs:us-east-1:123456789012:
    my-queue", "arn:aws:iam::1234567890:role/my-auto-scaling-role"), and GlobalTimeout 172800.
    Needed by: moodle-ha's ASG create (drain hook) and its hook observe/drift check.
    """
    from moto.autoscaling.models import LifecycleHook
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    original_init = LifecycleHook.__init__
    original_create = AutoScalingResponse.create_auto_scaling_group

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.role_arn = self.notification_target_arn = self.notification_metadata = None
        self.global_timeout = min(100 * self.heartbeat_timeout, 172800)

    fields = {
        "LifecycleTransition": "lifecycle_transition", "HeartbeatTimeout": "heartbeat_timeout",
        "DefaultResult": "default_result", "RoleARN": "role_arn",
        "NotificationTargetARN": "notification_target_arn", "NotificationMetadata": "notification_metadata",
    }

    def put_hook(backend, group, spec):
        # PutLifecycleHook on an existing hook changes only the fields it names.
        hook = backend.lifecycle_hooks.get(f"{group}_{spec.get('LifecycleHookName')}")
        if hook is None:
            hook = backend.create_lifecycle_hook(
                name=spec.get("LifecycleHookName"), as_name=group, transition=spec.get("LifecycleTransition"),
                timeout=spec.get("HeartbeatTimeout"), result=spec.get("DefaultResult"),
            )
        for field, attribute in fields.items():
            if spec.get(field) is not None:
                setattr(hook, attribute, spec[field])
        hook.global_timeout = min(100 * hook.heartbeat_timeout, 172800)

    def create_auto_scaling_group(self):
        result = original_create(self)
        for spec in self._get_params().get("LifecycleHookSpecificationList") or []:
            put_hook(self.autoscaling_backend, self._get_param("AutoScalingGroupName"), spec)
        return result

    def put_lifecycle_hook(self):
        put_hook(self.autoscaling_backend, self._get_param("AutoScalingGroupName"), self._get_params())
        return EmptyResult()

    LifecycleHook.__init__ = __init__
    AutoScalingResponse.create_auto_scaling_group = create_auto_scaling_group
    AutoScalingResponse.put_lifecycle_hook = put_lifecycle_hook


@patch
def autoscaling_put_scaling_policy_arn():
    """Auto Scaling `PutScalingPolicy`: the answer names the policy as `PolicyARN`.

    AWS: PutScalingPolicyResult has `PolicyARN` (and `Alarms`). moto 5.2.5 answers `PolicyArn`,
    which no SDK reads, so the answer seems to lack the new policy's ARN. Needed by: moodle-ha's
    scaling policy create, which refuses an answer without the new resource's identifier.
    """
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    original_put = AutoScalingResponse.put_scaling_policy

    def put_scaling_policy(self):
        result = original_put(self)
        answer = getattr(result, "result", None)
        if isinstance(answer, dict) and "PolicyArn" in answer:
            answer = dict(answer)
            answer["PolicyARN"] = answer.pop("PolicyArn")
            return ActionResult(answer)
        return result

    AutoScalingResponse.put_scaling_policy = put_scaling_policy


@patch
def autoscaling_policies_and_scheduled_actions_per_group():
    """Auto Scaling scaling policies and scheduled actions: names are unique per group, not per region.

    AWS: two groups can each have a policy (or scheduled action) named "cpu"; DeletePolicy and
    DeleteScheduledAction (AutoScalingGroupName, name) delete only that group's; scheduled
    actions carry a ScheduledActionARN. moto 5.2.5: keys both by name alone, so a second group's
    PutScalingPolicy "cpu" replaces the first group's policy, DeletePolicy ignores
    AutoScalingGroupName (and deletes another group's policy of that name), and no
    ScheduledActionARN. Needed by: moodle-ha tests that run several stacks in one emulator
    (policy names are `<stack>-web-cpu`, but scheduled action names are not prefixed).
    """
    import uuid

    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    original_put_policy = AutoScalingBackend.put_scaling_policy
    original_put_action = AutoScalingBackend.put_scheduled_update_group_action

    def put_scaling_policy(self, name, *args, **kwargs):
        policy = original_put_policy(self, name, *args, **kwargs)
        del self.policies[name]
        self.policies[(policy.auto_scaling_group_name, name)] = policy
        return policy

    def policy_key(response):
        name = response._get_param("PolicyName")
        group = response._get_param("AutoScalingGroupName")
        if name.startswith("arn:"):  # PolicyName may be the policy's ARN
            group = name.split(":autoScalingGroupName/")[1].split(":policyName/")[0]
            name = name.split(":policyName/")[1]
        return group, name

    def delete_policy(self):
        self.autoscaling_backend.policies.pop(policy_key(self), None)
        return EmptyResult()

    def execute_policy(self):
        self.autoscaling_backend.policies[policy_key(self)].execute()
        return EmptyResult()

    def put_scheduled_update_group_action(self, name, *args, **kwargs):
        action = original_put_action(self, name, *args, **kwargs)
        del self.scheduled_actions[action.scheduled_action_name]
        key = (name, action.scheduled_action_name)
        old = self.scheduled_actions.get(key)
        action.scheduled_action_arn = getattr(old, "scheduled_action_arn", None) or (
            f"arn:aws:autoscaling:{self.region_name}:{self.account_id}:scheduledUpdateGroupAction:{uuid.uuid4()}"
            f":autoScalingGroupName/{name}:scheduledActionName/{action.scheduled_action_name}"
        )
        self.scheduled_actions[key] = action
        return action

    def delete_scheduled_action(self, auto_scaling_group_name, scheduled_action_name):
        if self.scheduled_actions.pop((auto_scaling_group_name, scheduled_action_name), None) is None:
            raise ValidationError("Scheduled action name not found")

    AutoScalingBackend.put_scaling_policy = put_scaling_policy
    AutoScalingResponse.delete_policy = delete_policy
    AutoScalingResponse.execute_policy = execute_policy
    AutoScalingBackend.put_scheduled_update_group_action = put_scheduled_update_group_action
    AutoScalingBackend.delete_scheduled_action = delete_scheduled_action


@patch
def autoscaling_alb_request_count_resource_label():
    """Auto Scaling `PutScalingPolicy` with PredefinedMetricType ALBRequestCountPerTarget.

    AWS: the ResourceLabel (`app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>`) is required
    and must name a target group attached to the group, behind that load balancer; otherwise
    ValidationError ("Target group not attached to the Auto Scaling group"). moto 5.2.5: accepts
    any label, or none. Needed by: moodle-ha's request-count policy, which must be put after
    the target group is attached (and its label built from the real ARNs).
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.put_scaling_policy

    def put_scaling_policy(self, name, policy_type, *args, **kwargs):
        config = kwargs.get("target_tracking_config") or {}
        spec = config.get("PredefinedMetricSpecification") or {}
        if spec.get("PredefinedMetricType") == "ALBRequestCountPerTarget":
            label = spec.get("ResourceLabel")
            if not label:
                raise ValidationError("ResourceLabel must be specified for the predefined metric type ALBRequestCountPerTarget.")
            group = self.autoscaling_groups.get(kwargs.get("as_name"))
            labels = set()
            for tg_arn in group.target_group_arns if group else []:
                target_group = self.elbv2_backend.target_groups.get(tg_arn)
                for lb_arn in target_group.load_balancer_arns if target_group else []:
                    labels.add(lb_arn.split(":loadbalancer/", 1)[1] + "/" + tg_arn.split(":", 5)[5])
            if label not in labels:
                raise ValidationError("Target group not attached to the Auto Scaling group")
        return original(self, name, policy_type, *args, **kwargs)

    AutoScalingBackend.put_scaling_policy = put_scaling_policy


@patch
def autoscaling_delete_group():
    """Auto Scaling `DeleteAutoScalingGroup`.

    AWS: deletes the group's scaling policies, lifecycle hooks and scheduled actions with it;
    without ForceDelete, a group that still has instances answers ResourceInUse ("You cannot
    delete an AutoScalingGroup while there are instances or pending Spot instance request(s)
    still in the group."). moto 5.2.5: leaves the policies, hooks and scheduled actions behind
    (DescribePolicies of a re-created group of that name lists them) and deletes a group with
    instances without ForceDelete. Needed by: moodle-ha destroy and tests that re-create a stack.
    """
    from moto.autoscaling.exceptions import AutoscalingClientError
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse

    original_backend = AutoScalingBackend.delete_auto_scaling_group
    original_response = AutoScalingResponse.delete_auto_scaling_group

    def delete_auto_scaling_group(self, group_name):
        original_backend(self, group_name)
        for store, group_of in (
            (self.policies, lambda p: p.auto_scaling_group_name),
            (self.lifecycle_hooks, lambda h: h.auto_scaling_group_name),
            (self.scheduled_actions, lambda a: a.auto_scaling_group_name),
        ):
            for key in [k for k, v in store.items() if group_of(v) == group_name]:
                del store[key]
        getattr(self, "_instance_refreshes", {}).pop(group_name, None)

    def delete_response(self):
        group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
        if group is not None and group.instance_states and not self._get_bool_param("ForceDelete"):
            raise AutoscalingClientError(
                "ResourceInUse",
                "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.",
            )
        return original_response(self)

    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
    AutoScalingResponse.delete_auto_scaling_group = delete_response


@patch
def autoscaling_instance_refresh():
    """Auto Scaling `StartInstanceRefresh` / `DescribeInstanceRefreshes` / `CancelInstanceRefresh`.

    AWS: StartInstanceRefresh answers an InstanceRefreshId; DescribeInstanceRefreshes (newest
    first) answers each refresh with its Status (Pending, InProgress, … Successful),
    PercentageComplete, InstancesToUpdate, StartTime/EndTime, Strategy and the Preferences with
    AWS's defaults filled in (MinHealthyPercentage 90, SkipMatching false, AutoRollback false,
    ScaleInProtectedInstances and StandbyInstances "Ignore"); CancelInstanceRefresh without an
    active refresh answers ActiveInstanceRefreshNotFound. moto 5.2.5: HTTP 500, actions not
    implemented. Here a refresh is Successful (100 %, nothing left to update) as soon as it
    starts, as moto replaces nothing. Needed by: moodle-ha's launch template roll-out.
    """
    import datetime
    import uuid

    from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    def refreshes(response):
        backend = response.autoscaling_backend
        name = response._get_param("AutoScalingGroupName")
        if name not in backend.autoscaling_groups:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
        return backend.__dict__.setdefault("_instance_refreshes", {}).setdefault(name, [])

    def start_instance_refresh(self):
        started = refreshes(self)
        params = self._get_params()
        preferences = dict(params.get("Preferences") or {})
        for key, value in (("MinHealthyPercentage", 90), ("SkipMatching", False), ("AutoRollback", False),
                           ("ScaleInProtectedInstances", "Ignore"), ("StandbyInstances", "Ignore")):
            preferences.setdefault(key, value)
        now = datetime.datetime.now(datetime.timezone.utc)
        refresh = {
            "InstanceRefreshId": str(uuid.uuid4()),
            "AutoScalingGroupName": self._get_param("AutoScalingGroupName"),
            "Status": "Successful",
            "StartTime": now,
            "EndTime": now,
            "PercentageComplete": 100,
            "InstancesToUpdate": 0,
            "Preferences": preferences,
            "Strategy": params.get("Strategy") or "Rolling",
        }
        if params.get("DesiredConfiguration"):
            refresh["DesiredConfiguration"] = params["DesiredConfiguration"]
        started.insert(0, refresh)
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def describe_instance_refreshes(self):
        ids = self._get_param("InstanceRefreshIds") or []
        found = [r for r in refreshes(self) if not ids or r["InstanceRefreshId"] in ids]
        start = int(self._get_param("NextToken") or 0)
        limit = self._get_int_param("MaxRecords") or 50
        result = {"InstanceRefreshes": found[start:start + limit]}
        if start + limit < len(found):
            result["NextToken"] = str(start + limit)
        return ActionResult(result)

    def cancel_instance_refresh(self):
        active = [r for r in refreshes(self) if r["Status"] in ("Pending", "InProgress")]
        if not active:
            raise AutoscalingClientError("ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found for Auto Scaling group " + self._get_param("AutoScalingGroupName"))
        active[0]["Status"] = "Cancelled"
        return ActionResult({"InstanceRefreshId": active[0]["InstanceRefreshId"]})

    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh


# Fixtures --------------------------------------------------------------------------------------
# Not gaps: resources that exist in a real AWS account (or that the example stack names) and that
# moto cannot have. Each is put into every region's backend as moto creates it (at the first
# request for that region, and again after POST /moto-api/reset), so it is there before any
# request can look for it.

FIXTURES = []


def fixture(func):
    """Register a fixture; the launcher applies every registered fixture before serving."""
    FIXTURES.append(func)
    return func


# The certificate that stacks/example.yaml names (tls.certificate_arn).
FIXTURE_CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f"
FIXTURE_CERTIFICATE_DOMAIN = "moodle.example.edu"


@fixture
def acm_example_certificate():
    """ACM: an ISSUED certificate for moodle.example.edu with the exact ARN stacks/example.yaml names.

    moto's CreateListener (HTTPS) and ModifyListener answer CertificateNotFound for a
    certificate ACM does not know, and ACM makes up its own ARNs, so the example stack could not
    be applied. The certificate (AMAZON_ISSUED, ISSUED, RSA 2048, one year) is in every region
    under that ARN, so the example also applies in us-east-1; DescribeCertificate and
    ListCertificates answer it. Needed by: tests/it web tier (HTTPS listener) and the example.
    """
    from moto.acm.models import AWSCertificateManagerBackend, CertBundle

    original = AWSCertificateManagerBackend.__init__
    pem = {}

    def __init__(self, region_name, account_id):
        original(self, region_name, account_id)
        if not pem:  # one key for every region: generating an RSA key takes a while
            generated = CertBundle.generate_cert(FIXTURE_CERTIFICATE_DOMAIN, account_id, region_name)
            pem.update(certificate=generated.cert, private_key=generated.key)
        self._certificates[FIXTURE_CERTIFICATE_ARN] = CertBundle(
            account_id, pem["certificate"], pem["private_key"], region=region_name,
            arn=FIXTURE_CERTIFICATE_ARN, cert_type="AMAZON_ISSUED", cert_status="ISSUED",
        )

    AWSCertificateManagerBackend.__init__ = __init__


# AWS public parameters for Ubuntu 24.04 and the built-in moto AMI each stands for (same in every
# region: amis.json is loaded everywhere). amd64: Canonical's Ubuntu 16.04 image (x86_64, root
# /dev/sda1, as Ubuntu's); arm64: moto has no arm64 Ubuntu, so Amazon Linux 2022 arm64 (root
# /dev/xvda). A client must read Architecture and RootDeviceName from DescribeImages.
FIXTURE_UBUNTU_PARAMETERS = {
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id": "ami-785db401",
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id": "ami-0e9271c829888680e",
}


@fixture
def ssm_ubuntu_ami_parameters():
    """SSM: the public parameters Canonical publishes for Ubuntu 24.04 AMIs (amd64 and arm64, ebs-gp3).

    AWS: GetParameter(s) answers them in every region (String, DataType text). moto 5.2.5 has
    only the Amazon Linux ones (/aws/service/ami-amazon-linux-latest/…, which point at AMIs its
    DescribeImages knows) and answers ParameterNotFound. These point at moto built-in AMIs (see
    above). Needed by: stacks/example.yaml (ami: ssm:/aws/service/canonical/…) and the web tier
    tests that resolve it.
    """
    from moto.ssm.models import Parameter, SimpleSystemManagerBackend

    original = SimpleSystemManagerBackend.__init__

    def __init__(self, region_name, account_id):
        original(self, region_name, account_id)
        for name, ami in FIXTURE_UBUNTU_PARAMETERS.items():
            # defaultdict's own __getitem__: ParameterDict's would try to lazy-load AWS's trees
            dict.setdefault(self._parameters, name, []).append(Parameter(
                account_id=account_id, name=name, value=ami, parameter_type="String", description=None,
                allowed_pattern=None, keyid=None, last_modified_date=1735689600.0, version=1, data_type="text",
            ))

    SimpleSystemManagerBackend.__init__ = __init__


def main(argv):
    for apply_patch in PATCHES + FIXTURES:
        apply_patch()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])

"""RDS: DB subnet groups, parameter groups (Source), engine versions, Aurora MySQL, pending modifications, deletes;
issue 20's log exports, enhanced monitoring, Performance Insights, require_secure_transport.

Patches (`@patch`) and fixtures (`@fixture`) first, then the checks (`check_*(ctx)`) that
check_emulator.py runs and that fail without them. See patches/__init__.py.
"""

import json
import string

from . import patch
from .expect import expect, expect_equal, expect_error, paginate


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
def rds_performance_insights_and_enhanced_monitoring():
    """RDS `CreateDBInstance` / `ModifyDBInstance` / `DescribeDBInstances`: Performance Insights and enhanced monitoring.

    AWS: PerformanceInsightsEnabled is always in the description (false by default); with
    EnablePerformanceInsights=true also PerformanceInsightsRetentionPeriod (7 unless sent) and
    PerformanceInsightsKMSKeyId (the account's aws/rds key unless sent); with MonitoringInterval
    > 0, EnhancedMonitoringResourceArn (arn:aws:logs:<region>:<account>:log-group:RDSOSMetrics:
    log-stream:<DbiResourceId>), gone again when the interval is set back to 0. Both change in
    place with ModifyDBInstance, whatever ApplyImmediately says. moto 5.2.5: ignores
    EnablePerformanceInsights (no PerformanceInsights* field ever) and never answers
    EnhancedMonitoringResourceArn. Needed by: issue 20's rds_instance_enhanced_monitoring_enabled
    control (Prowler reads EnhancedMonitoringResourceArn) and Performance Insights switch.
    """
    import uuid

    from moto.rds.models import RDSBackend

    original_create = RDSBackend.create_db_instance
    original_modify = RDSBackend.modify_db_instance

    def apply(self, database, db_kwargs):
        enabled = db_kwargs.get("enable_performance_insights")
        if enabled is not None:
            database.performance_insights_enabled = bool(enabled)
        if not hasattr(database, "performance_insights_enabled"):
            database.performance_insights_enabled = False
        if database.performance_insights_enabled:
            database.performance_insights_retention_period = (
                db_kwargs.get("performance_insights_retention_period")
                or getattr(database, "performance_insights_retention_period", None) or 7
            )
            database.performance_insights_kms_key_id = (
                db_kwargs.get("performance_insights_kms_key_id")
                or getattr(database, "performance_insights_kms_key_id", None)
                or f"arn:aws:kms:{self.region_name}:{self.account_id}:key/{uuid.uuid5(uuid.NAMESPACE_URL, self.account_id + self.region_name)}"
            )
        else:
            database.performance_insights_retention_period = None
            database.performance_insights_kms_key_id = None
        database.enhanced_monitoring_resource_arn = (
            f"arn:aws:logs:{self.region_name}:{self.account_id}:log-group:RDSOSMetrics:log-stream:{database.dbi_resource_id}"
            if database.monitoring_interval else None
        )
        return database

    def create_db_instance(self, db_kwargs):
        return apply(self, original_create(self, db_kwargs), db_kwargs)

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        return apply(self, original_modify(self, db_instance_identifier, db_kwargs), db_kwargs)

    RDSBackend.create_db_instance = create_db_instance
    RDSBackend.modify_db_instance = modify_db_instance


# Issue 19's Aurora rollback: a cluster restored from its snapshot, then clusters and instances renamed.


@patch
def rds_restore_db_cluster_from_snapshot():
    """RDS `RestoreDBClusterFromSnapshot` from a DB cluster snapshot.

    AWS: creates a new cluster from the snapshot "with a default configuration" (API reference):
    the snapshot's engine, engine version (unless sent), master user name, database name, port
    (unless sent), storage encryption and KMS key (a key sent encrypts it with that key); the
    settings sent (subnet group, security groups, cluster parameter group, deletion protection,
    copy tags to snapshot, log exports, tags); every other setting a new cluster's default: no
    managed master user secret (ModifyDBCluster ManageMasterUserPassword adds one), only the tags
    sent, no instances (CreateDBInstance adds them). An identifier in use answers
    DBClusterAlreadyExistsFault. moto 5.2.5: HTTP 500 (KeyError '_master_user_password') for a
    snapshot of a cluster with ManageMasterUserPassword; otherwise it copies the source cluster's
    current settings and silently replaces a cluster of the same identifier. Needed by:
    moodle-ha's Aurora rollback (tests/it/rollback_aurora.rs).
    """
    import uuid

    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    def restore_db_cluster_from_snapshot(self, from_snapshot_id, overrides):
        snapshot = self.describe_db_cluster_snapshots(db_cluster_identifier=None, db_snapshot_identifier=from_snapshot_id)[0]
        identifier = overrides["db_cluster_identifier"].lower()
        if identifier in self.clusters:
            raise RDSClientError("DBClusterAlreadyExistsFault", f"DB Cluster already exists: {identifier}")
        source = snapshot.cluster
        props = {
            "engine": snapshot.engine,
            "engine_version": snapshot.engine_version,
            "master_username": snapshot.master_username,
            # The snapshot's data holds the master password; moto needs one for a cluster
            # without a managed secret, and nobody can read it back.
            "master_user_password": getattr(source, "_master_user_password", None) or uuid.uuid4().hex,
            "database_name": source.database_name,
            "port": snapshot.port,
            "storage_encrypted": snapshot.encrypted,
            "kms_key_id": snapshot.kms_key_id,
            "allocated_storage": snapshot.allocated_storage,
        }
        sent = {k: v for k, v in overrides.items() if v is not None and k != "snapshot_identifier"}
        props.update(sent)
        props["db_cluster_identifier"] = identifier
        if sent.get("kms_key_id"):
            props["storage_encrypted"] = True
        return self.create_db_cluster(props)

    RDSBackend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot


@patch
def rds_rename_db_cluster():
    """RDS `ModifyDBCluster` with NewDBClusterIdentifier (or an unknown DBClusterIdentifier).

    AWS: renames the cluster; its DB instances stay its members (DescribeDBClusters lists them,
    DescribeDBInstances answers the new DBClusterIdentifier), its tags stay with it, its ARN and
    endpoints take the new name ("Renaming a Multi-AZ DB cluster"); a name in use answers
    DBClusterAlreadyExistsFault, an unknown cluster DBClusterNotFoundFault. moto 5.2.5: the
    instances keep the old cluster name, so the renamed cluster has no members (and a cluster
    later given the old name would get them); a name in use is taken over and the cluster that
    had it is lost; an unknown cluster answers HTTP 500 (KeyError). Needed by: moodle-ha's
    Aurora rollback, which renames the upgraded cluster aside and the restored one to the
    original name (tests/it/rollback_aurora.rs).
    """
    from moto.rds.exceptions import DBClusterNotFoundError, RDSClientError
    from moto.rds.models import RDSBackend

    original = RDSBackend.modify_db_cluster

    def modify_db_cluster(self, kwargs):
        identifier = kwargs["db_cluster_identifier"]
        if identifier not in self.clusters:
            raise DBClusterNotFoundError(identifier)
        new = (kwargs.get("new_db_cluster_identifier") or "").lower()
        if not new or new == identifier:
            kwargs.pop("new_db_cluster_identifier", None)
            return original(self, kwargs)
        if new in self.clusters:
            raise RDSClientError("DBClusterAlreadyExistsFault", f"DB Cluster already exists: {new}")
        kwargs["new_db_cluster_identifier"] = new
        members = list(self.clusters[identifier]._members)
        answer = original(self, kwargs)
        for member in members:
            member.db_cluster_identifier = new
        return answer

    RDSBackend.modify_db_cluster = modify_db_cluster


@patch
def rds_rename_db_instance_to_a_name_in_use():
    """RDS `ModifyDBInstance` with NewDBInstanceIdentifier naming another existing DB instance.

    AWS: DBInstanceAlreadyExists, nothing renamed ("You can't use an existing DB instance name
    when renaming an instance", Renaming a DB instance). moto 5.2.5: renames it and drops the
    instance that had the name. Needed by: moodle-ha's rollback, whose swap must never lose an
    instance (tests/it/rollback_aurora.rs, tests/it/upgrade.rs).
    """
    from moto.rds.exceptions import DBInstanceAlreadyExists
    from moto.rds.models import RDSBackend

    original = RDSBackend.modify_db_instance

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        new = (db_kwargs.get("new_db_instance_identifier") or "").lower()
        if new and new != db_instance_identifier.lower() and new in self.databases:
            raise DBInstanceAlreadyExists()
        return original(self, db_instance_identifier, db_kwargs)

    RDSBackend.modify_db_instance = modify_db_instance


@patch
def rds_cluster_endpoint_of_the_account():
    """RDS `DescribeDBClusters` Endpoint and ReaderEndpoint.

    AWS: `<cluster>.cluster-<id>.<region>.rds.amazonaws.com` (reader: `cluster-ro-<id>`), where
    <id> belongs to the account and Region, the same in every cluster and instance endpoint
    there (the Aurora user guide's examples: mydbcluster.cluster-c7tj4example.us-east-1…,
    mydbinstance.c7tj4example.us-east-1…): a cluster renamed to a name another cluster had gets
    the endpoint that cluster had. moto 5.2.5: a random <id> per cluster (its instances all
    have `aaaaaaaaaa`). Needed by: moodle-ha's Aurora rollback, which keeps config.php's database
    host by giving the restored cluster the original name (tests/it/rollback_aurora.rs).
    """
    from moto.rds.models import DBCluster

    original_init = DBCluster.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.url_identifier = "aaaaaaaaaa"

    DBCluster.__init__ = __init__


# Checks --------------------------------------------------------------------------------------


def check_rds(ctx):
    rds = ctx.rds
    tag = [{"Key": "moodle-ha:stack", "Value": ctx.run}]

    # DB subnet group.
    group = ctx.name("dsg")
    created = rds.create_db_subnet_group(
        DBSubnetGroupName=group, DBSubnetGroupDescription="check", SubnetIds=ctx.subnets[:2], Tags=tag
    )["DBSubnetGroup"]
    extra = [ctx.name(f"dsg-page{i}") for i in range(21)]
    for name in extra:
        rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="page", SubnetIds=ctx.subnets[:2])
    groups, pages = paginate(rds, "describe_db_subnet_groups", "DBSubnetGroups", 20)
    names = [g["DBSubnetGroupName"] for g in groups]
    expect(set(extra + [group]) <= set(names), "DescribeDBSubnetGroups (all, paginated) misses groups")
    expect(pages >= 2, "DescribeDBSubnetGroups: 22 groups must take more than one page of 20:", pages)
    rds.modify_db_subnet_group(DBSubnetGroupName=group, SubnetIds=ctx.subnets)
    described = rds.describe_db_subnet_groups(DBSubnetGroupName=group)["DBSubnetGroups"]
    expect_equal(len(described), 1, "DescribeDBSubnetGroups finds the group after ModifyDBSubnetGroup")
    expect_equal(sorted(s["SubnetIdentifier"] for s in described[0]["Subnets"]), sorted(ctx.subnets), "ModifyDBSubnetGroup subnets")
    expect_equal(rds.list_tags_for_resource(ResourceName=created["DBSubnetGroupArn"])["TagList"], tag, "ListTagsForResource(DB subnet group)")
    for name in extra:
        rds.delete_db_subnet_group(DBSubnetGroupName=name)

    # DB parameter groups.
    parameter_groups = {}
    for family in ("mysql8.4", "mysql8.0", "aurora-mysql8.0"):
        name = ctx.name("pg-" + family.replace(".", "-"))
        answer = rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily=family, Description="check", Tags=tag)
        parameter_groups[family] = (name, answer["DBParameterGroup"]["DBParameterGroupArn"])
    pg84, pg84_arn = parameter_groups["mysql8.4"]
    sent = [
        {"ParameterName": "innodb_buffer_pool_size", "ParameterValue": "{DBInstanceClassMemory*3/4}", "ApplyMethod": "pending-reboot"},
        {"ParameterName": "max_allowed_packet", "ParameterValue": "1073741824", "ApplyMethod": "immediate"},
    ]
    rds.modify_db_parameter_group(DBParameterGroupName=pg84, Parameters=sent)
    got = rds.describe_db_parameters(DBParameterGroupName=pg84, Source="user")["Parameters"]
    got = sorted(({k: p.get(k) for k in ("ParameterName", "ParameterValue", "ApplyMethod", "Source")} for p in got), key=lambda p: p["ParameterName"])
    expect_equal(got, [dict(p, Source="user") for p in sent], "DescribeDBParameters Source=user (F5)")
    all_groups = [g["DBParameterGroupName"] for g in paginate(rds, "describe_db_parameter_groups", "DBParameterGroups", 20)[0]]
    expect({n for n, _ in parameter_groups.values()} <= set(all_groups), "DescribeDBParameterGroups misses groups")
    expect_equal(rds.list_tags_for_resource(ResourceName=pg84_arn)["TagList"], tag, "ListTagsForResource(DB parameter group)")

    # DB instances, MySQL 8.4 and 8.0.
    common = dict(
        Engine="mysql", DBInstanceClass="db.t4g.medium", AllocatedStorage=100, MaxAllocatedStorage=1000,
        StorageType="gp3", StorageEncrypted=True, MultiAZ=True, DBName="moodle", MasterUsername="moodleadmin",
        ManageMasterUserPassword=True, DBSubnetGroupName=group, VpcSecurityGroupIds=[ctx.sgs[0]],
        BackupRetentionPeriod=7, PreferredBackupWindow="02:00-02:30", PreferredMaintenanceWindow="sun:04:00-sun:05:00",
        DeletionProtection=True, PubliclyAccessible=False, CopyTagsToSnapshot=True, Tags=tag,
    )
    db84, db80 = ctx.name("db84"), ctx.name("db80")
    rds.create_db_instance(DBInstanceIdentifier=db84, EngineVersion="8.4", DBParameterGroupName=pg84, **common)
    rds.create_db_instance(DBInstanceIdentifier=db80, EngineVersion="8.0", DBParameterGroupName=parameter_groups["mysql8.0"][0], **common)
    instances, _ = paginate(rds, "describe_db_instances", "DBInstances", 20)
    by_id = {i["DBInstanceIdentifier"]: i for i in instances}
    expect({db84, db80} <= set(by_id), "DescribeDBInstances (all, paginated) misses instances")
    for db, major, pg in ((db84, "8.4", pg84), (db80, "8.0", parameter_groups["mysql8.0"][0])):
        i = by_id[db]
        version = i.get("EngineVersion", "")
        expect(version.startswith(major + ".") and len(version.split(".")) >= 3, f"{db} EngineVersion must be a full {major}.x version:", version)
        for field, wanted in [
            ("DBInstanceClass", "db.t4g.medium"), ("Engine", "mysql"), ("AllocatedStorage", 100), ("MaxAllocatedStorage", 1000),
            ("StorageType", "gp3"), ("StorageEncrypted", True), ("MultiAZ", True), ("DBName", "moodle"),
            ("MasterUsername", "moodleadmin"), ("BackupRetentionPeriod", 7), ("PreferredBackupWindow", "02:00-02:30"),
            ("PreferredMaintenanceWindow", "sun:04:00-sun:05:00"), ("DeletionProtection", True),
            ("PubliclyAccessible", False), ("CopyTagsToSnapshot", True), ("TagList", tag), ("DBInstanceStatus", "available"),
        ]:
            expect_equal(i.get(field), wanted, f"DescribeDBInstances({db}) {field}")
        expect_equal([p["DBParameterGroupName"] for p in i["DBParameterGroups"]], [pg], f"{db} DBParameterGroups")
        expect_equal(i["DBSubnetGroup"]["DBSubnetGroupName"], group, f"{db} DBSubnetGroup.DBSubnetGroupName")
        expect_equal([g["VpcSecurityGroupId"] for g in i["VpcSecurityGroups"]], [ctx.sgs[0]], f"{db} VpcSecurityGroups")
        expect(i.get("Endpoint", {}).get("Address") and i["Endpoint"].get("Port") == 3306, f"{db} Endpoint:", i.get("Endpoint"))
        secret_arn = i.get("MasterUserSecret", {}).get("SecretArn", "")
        expect(secret_arn.startswith(f"arn:aws:secretsmanager:{ctx.region}:"), f"{db} MasterUserSecret.SecretArn:", secret_arn)
        expect("moodleadmin" in ctx.secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"], f"{db} master user secret has the user name")

    # ModifyDBInstance, ApplyImmediately=true.
    pg84b = ctx.name("pg-mysql8-4-b")
    rds.create_db_parameter_group(DBParameterGroupName=pg84b, DBParameterGroupFamily="mysql8.4", Description="check")
    rds.modify_db_instance(
        DBInstanceIdentifier=db84, ApplyImmediately=True, DBInstanceClass="db.r6g.large", AllocatedStorage=200,
        MaxAllocatedStorage=2000, BackupRetentionPeriod=14, PreferredBackupWindow="01:00-01:30",
        PreferredMaintenanceWindow="mon:04:00-mon:05:00", MultiAZ=False, DeletionProtection=False,
        VpcSecurityGroupIds=[ctx.sgs[1]], DBParameterGroupName=pg84b, EngineVersion="8.4",
    )
    i = rds.describe_db_instances(DBInstanceIdentifier=db84)["DBInstances"][0]
    for field, wanted in [
        ("DBInstanceClass", "db.r6g.large"), ("AllocatedStorage", 200), ("MaxAllocatedStorage", 2000),
        ("BackupRetentionPeriod", 14), ("PreferredBackupWindow", "01:00-01:30"),
        ("PreferredMaintenanceWindow", "mon:04:00-mon:05:00"), ("MultiAZ", False), ("DeletionProtection", False),
        ("EngineVersion", by_id[db84]["EngineVersion"]),
    ]:
        expect_equal(i.get(field), wanted, f"ModifyDBInstance(ApplyImmediately=true) then {field}")
    expect_equal([g["VpcSecurityGroupId"] for g in i["VpcSecurityGroups"]], [ctx.sgs[1]], "ModifyDBInstance VpcSecurityGroups")
    expect_equal([p["DBParameterGroupName"] for p in i["DBParameterGroups"]], [pg84b], "ModifyDBInstance DBParameterGroups")
    expect(not i.get("PendingModifiedValues"), "ModifyDBInstance(ApplyImmediately=true) leaves nothing pending:", i.get("PendingModifiedValues"))

    # ModifyDBInstance, ApplyImmediately=false: class/storage/Multi-AZ wait in PendingModifiedValues.
    rds.modify_db_instance(
        DBInstanceIdentifier=db84, ApplyImmediately=False, DBInstanceClass="db.r6g.xlarge", AllocatedStorage=300,
        MultiAZ=True, BackupRetentionPeriod=10, EngineVersion="8.4",
    )
    i = rds.describe_db_instances(DBInstanceIdentifier=db84)["DBInstances"][0]
    expect_equal(
        (i["DBInstanceClass"], i["AllocatedStorage"], i["MultiAZ"], i["BackupRetentionPeriod"]),
        ("db.r6g.large", 200, False, 10), "ModifyDBInstance(ApplyImmediately=false): current values",
    )
    expect_equal(
        i.get("PendingModifiedValues"), {"DBInstanceClass": "db.r6g.xlarge", "AllocatedStorage": 300, "MultiAZ": True},
        "ModifyDBInstance(ApplyImmediately=false) PendingModifiedValues",
    )
    rds.modify_db_instance(DBInstanceIdentifier=db84, ApplyImmediately=True, BackupRetentionPeriod=7)
    i = rds.describe_db_instances(DBInstanceIdentifier=db84)["DBInstances"][0]
    expect_equal(
        (i["DBInstanceClass"], i["AllocatedStorage"], i["MultiAZ"], i["BackupRetentionPeriod"]),
        ("db.r6g.xlarge", 300, True, 7), "ModifyDBInstance(ApplyImmediately=true) applies the pending values",
    )
    expect(not i.get("PendingModifiedValues"), "nothing pending after ApplyImmediately=true:", i.get("PendingModifiedValues"))

    # Deletion.
    expect_error("InvalidParameterCombination", rds.delete_db_instance, DBInstanceIdentifier=db80, SkipFinalSnapshot=True)
    expect_error("InvalidDBParameterGroupState", rds.delete_db_parameter_group, DBParameterGroupName=pg84b)
    expect_error("InvalidDBSubnetGroupStateFault", rds.delete_db_subnet_group, DBSubnetGroupName=group)
    final = ctx.name("db84-final")
    answer = rds.delete_db_instance(DBInstanceIdentifier=db84, FinalDBSnapshotIdentifier=final)["DBInstance"]
    expect_equal(answer["DBInstanceStatus"], "deleting", "DeleteDBInstance answer DBInstanceStatus")
    snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=final)["DBSnapshots"]
    expect_equal([(s["DBSnapshotIdentifier"], s["DBInstanceIdentifier"]) for s in snapshot], [(final, db84)], "FinalDBSnapshotIdentifier snapshot")
    expect_error("DBInstanceNotFound", rds.describe_db_instances, DBInstanceIdentifier=db84)
    rds.modify_db_instance(DBInstanceIdentifier=db80, ApplyImmediately=True, DeletionProtection=False)
    rds.delete_db_instance(DBInstanceIdentifier=db80, SkipFinalSnapshot=True)
    manual = rds.describe_db_snapshots(DBInstanceIdentifier=db80, SnapshotType="manual")["DBSnapshots"]
    expect_equal(manual, [], "DeleteDBInstance SkipFinalSnapshot takes no snapshot")
    expect_error("DBInstanceNotFound", rds.describe_db_instances, DBInstanceIdentifier=db80)
    rds.delete_db_snapshot(DBSnapshotIdentifier=final)

    # Aurora MySQL.
    cluster, cluster_pinned = ctx.name("aurora"), ctx.name("aurora-pinned")
    cluster_args = dict(
        Engine="aurora-mysql", MasterUsername="moodleadmin", ManageMasterUserPassword=True, StorageEncrypted=True,
        BackupRetentionPeriod=7, PreferredBackupWindow="02:00-02:30", PreferredMaintenanceWindow="sun:04:00-sun:05:00",
        DBSubnetGroupName=group, VpcSecurityGroupIds=[ctx.sgs[0]], DatabaseName="moodle", Tags=tag,
    )
    rds.create_db_cluster(DBClusterIdentifier=cluster, DeletionProtection=True, **cluster_args)
    pinned = rds.create_db_cluster(DBClusterIdentifier=cluster_pinned, EngineVersion="8.0.mysql_aurora.3.08.0", **cluster_args)["DBCluster"]
    expect_equal(pinned["EngineVersion"], "8.0.mysql_aurora.3.08.0", "CreateDBCluster EngineVersion as sent")
    pga = parameter_groups["aurora-mysql8.0"][0]
    writer, reader = ctx.name("aurora-w"), ctx.name("aurora-r")
    for instance in (writer, reader):
        rds.create_db_instance(
            DBInstanceIdentifier=instance, DBClusterIdentifier=cluster, Engine="aurora-mysql",
            DBInstanceClass="db.r6g.large", DBParameterGroupName=pga,
        )
    c = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    expect(c["EngineVersion"].startswith("8.0.mysql_aurora.3."), "CreateDBCluster without EngineVersion: AWS default is Aurora MySQL 3:", c["EngineVersion"])
    expect_equal(c.get("TagList"), tag, "DescribeDBClusters TagList")
    expect(c.get("Endpoint") and c.get("ReaderEndpoint") and c["Endpoint"] != c["ReaderEndpoint"], "DescribeDBClusters Endpoint/ReaderEndpoint:", c.get("Endpoint"), c.get("ReaderEndpoint"))
    expect(c.get("MasterUserSecret", {}).get("SecretArn"), "DescribeDBClusters MasterUserSecret.SecretArn missing")
    expect_equal(
        sorted((m["DBInstanceIdentifier"], m["IsClusterWriter"]) for m in c["DBClusterMembers"]),
        sorted([(writer, True), (reader, False)]), "DescribeDBClusters DBClusterMembers/IsClusterWriter",
    )
    for field, wanted in [("DatabaseName", "moodle"), ("StorageEncrypted", True), ("DeletionProtection", True), ("DBSubnetGroup", group)]:
        expect_equal(c.get(field), wanted, f"DescribeDBClusters {field}")
    i = rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]
    expect_equal([p["DBParameterGroupName"] for p in i["DBParameterGroups"]], [pga], "Aurora instance DBParameterGroups")
    expect_equal(i.get("EngineVersion"), c["EngineVersion"], "Aurora instance EngineVersion is the cluster's")
    expect_equal(c.get("DBClusterParameterGroup"), "default.aurora-mysql8.0", "DescribeDBClusters default DBClusterParameterGroup")
    default_pg = ctx.name("aurora-default-pg")
    i = rds.create_db_instance(
        DBInstanceIdentifier=default_pg, DBClusterIdentifier=cluster_pinned, Engine="aurora-mysql", DBInstanceClass="db.r6g.large",
    )["DBInstance"]
    expect_equal([p["DBParameterGroupName"] for p in i["DBParameterGroups"]], ["default.aurora-mysql8.0"], "Aurora instance default DBParameterGroups")
    rds.delete_db_instance(DBInstanceIdentifier=default_pg, SkipFinalSnapshot=True)
    rds.modify_db_cluster(
        DBClusterIdentifier=cluster, ApplyImmediately=True, BackupRetentionPeriod=14, PreferredBackupWindow="01:00-01:30",
        PreferredMaintenanceWindow="mon:04:00-mon:05:00", VpcSecurityGroupIds=[ctx.sgs[1]],
    )
    c = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    for field, wanted in [("BackupRetentionPeriod", 14), ("PreferredBackupWindow", "01:00-01:30"), ("PreferredMaintenanceWindow", "mon:04:00-mon:05:00")]:
        expect_equal(c.get(field), wanted, f"ModifyDBCluster then {field}")
    expect_equal([g["VpcSecurityGroupId"] for g in c["VpcSecurityGroups"]], [ctx.sgs[1]], "ModifyDBCluster VpcSecurityGroups")
    final = ctx.name("aurora-final")
    expect_error("InvalidParameterCombination", rds.delete_db_cluster, DBClusterIdentifier=cluster, FinalDBSnapshotIdentifier=final)
    rds.modify_db_cluster(DBClusterIdentifier=cluster, ApplyImmediately=True, DeletionProtection=False)
    expect_error("InvalidDBClusterStateFault", rds.delete_db_cluster, DBClusterIdentifier=cluster, FinalDBSnapshotIdentifier=final)
    for instance in (reader, writer):
        rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
    rds.delete_db_cluster(DBClusterIdentifier=cluster, FinalDBSnapshotIdentifier=final)
    expect_error("DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier=cluster)
    snapshots = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=final)["DBClusterSnapshots"]
    expect_equal([s["DBClusterSnapshotIdentifier"] for s in snapshots], [final], "DeleteDBCluster FinalDBSnapshotIdentifier snapshot")
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=final)
    rds.delete_db_cluster(DBClusterIdentifier=cluster_pinned, SkipFinalSnapshot=True)

    # Groups go last.
    for name, _ in list(parameter_groups.values()) + [(pg84b, None)]:
        rds.delete_db_parameter_group(DBParameterGroupName=name)
    expect_error("DBParameterGroupNotFound", rds.describe_db_parameters, DBParameterGroupName=pg84)
    rds.delete_db_subnet_group(DBSubnetGroupName=group)
    expect_error("DBSubnetGroupNotFoundFault", rds.describe_db_subnet_groups, DBSubnetGroupName=group)


def check_security_controls(ctx):
    """Issue 20's RDS controls: log exports, enhanced monitoring, Performance Insights, require_secure_transport."""
    rds = ctx.rds
    group = ctx.name("dsg-sec")
    rds.create_db_subnet_group(DBSubnetGroupName=group, DBSubnetGroupDescription="check", SubnetIds=ctx.subnets[:2])
    pg = ctx.name("pg-sec")
    rds.create_db_parameter_group(DBParameterGroupName=pg, DBParameterGroupFamily="mysql8.4", Description="check")
    rds.modify_db_parameter_group(DBParameterGroupName=pg, Parameters=[{"ParameterName": "require_secure_transport", "ParameterValue": "1", "ApplyMethod": "immediate"}])
    got = [(p["ParameterValue"], p.get("Source")) for p in rds.describe_db_parameters(DBParameterGroupName=pg, Source="user")["Parameters"] if p["ParameterName"] == "require_secure_transport"]
    expect_equal(got, [("1", "user")], "require_secure_transport=1 in DescribeDBParameters(Source=user)")
    role = f"arn:aws:iam::{ctx.account}:role/{ctx.name('rds-monitoring')}"
    db, plain = ctx.name("db-sec"), ctx.name("db-sec-default")
    common = dict(Engine="mysql", EngineVersion="8.4", DBInstanceClass="db.r6g.large", AllocatedStorage=100, MasterUsername="moodleadmin",
                  ManageMasterUserPassword=True, DBSubnetGroupName=group, DBParameterGroupName=pg)
    fields = ("EnabledCloudwatchLogsExports", "MonitoringInterval", "MonitoringRoleArn", "PerformanceInsightsEnabled", "PerformanceInsightsRetentionPeriod")

    def described(name):
        i = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
        return i, {k: i.get(k) for k in fields}

    rds.create_db_instance(DBInstanceIdentifier=plain, **common)
    i, got = described(plain)
    expect_equal((got["PerformanceInsightsEnabled"], got["MonitoringInterval"], i.get("EnhancedMonitoringResourceArn")), (False, 0, None), "CreateDBInstance defaults: no Performance Insights, no enhanced monitoring")
    created = rds.create_db_instance(
        DBInstanceIdentifier=db, EnableCloudwatchLogsExports=["error", "slowquery"], MonitoringInterval=60, MonitoringRoleArn=role,
        EnablePerformanceInsights=True, **common,
    )["DBInstance"]
    wanted = {"EnabledCloudwatchLogsExports": ["error", "slowquery"], "MonitoringInterval": 60, "MonitoringRoleArn": role,
              "PerformanceInsightsEnabled": True, "PerformanceInsightsRetentionPeriod": 7}
    expect_equal({k: created.get(k) for k in fields}, wanted, "CreateDBInstance answer (log exports, monitoring, Performance Insights)")
    i, got = described(db)
    expect_equal(got, wanted, "DescribeDBInstances (log exports, monitoring, Performance Insights)")
    expect(str(i.get("PerformanceInsightsKMSKeyId", "")).startswith(f"arn:aws:kms:{ctx.region}:"), "PerformanceInsightsKMSKeyId:", i.get("PerformanceInsightsKMSKeyId"))
    expect_equal(i.get("EnhancedMonitoringResourceArn"), f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:RDSOSMetrics:log-stream:{i['DbiResourceId']}", "EnhancedMonitoringResourceArn")
    expect_error("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier=ctx.name("db-sec-bad"), MonitoringInterval=60, **common)
    rds.modify_db_instance(DBInstanceIdentifier=db, CloudwatchLogsExportConfiguration={"EnableLogTypes": ["audit"], "DisableLogTypes": ["slowquery"]},
                           MonitoringInterval=0, EnablePerformanceInsights=False)
    i, got = described(db)
    expect_equal((sorted(got["EnabledCloudwatchLogsExports"]), got["MonitoringInterval"], got["PerformanceInsightsEnabled"], i.get("EnhancedMonitoringResourceArn")),
                 (["audit", "error"], 0, False, None), "ModifyDBInstance (without ApplyImmediately) log exports, monitoring off, Performance Insights off")
    rds.modify_db_instance(DBInstanceIdentifier=db, MonitoringInterval=15, MonitoringRoleArn=role, EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=31)
    i, got = described(db)
    expect_equal((got["MonitoringInterval"], got["PerformanceInsightsEnabled"], got["PerformanceInsightsRetentionPeriod"], bool(i.get("EnhancedMonitoringResourceArn"))),
                 (15, True, 31, True), "ModifyDBInstance monitoring and Performance Insights back on")
    for name in (db, plain):
        rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
    rds.delete_db_parameter_group(DBParameterGroupName=pg)
    rds.delete_db_subnet_group(DBSubnetGroupName=group)


def check_aurora_rollback(ctx):
    """Issue 19's Aurora rollback: a cluster restored from its snapshot, renames that keep members, tags and endpoints, names in use refused."""
    rds = ctx.rds
    tag = [{"Key": "moodle-ha:stack", "Value": ctx.run}]
    group = ctx.name("dsg-rb")
    rds.create_db_subnet_group(DBSubnetGroupName=group, DBSubnetGroupDescription="check", SubnetIds=ctx.subnets[:2])
    cluster, writer = ctx.name("rb"), ctx.name("rb-1")
    rds.create_db_cluster(
        DBClusterIdentifier=cluster, Engine="aurora-mysql", MasterUsername="moodleadmin", ManageMasterUserPassword=True,
        StorageEncrypted=True, DatabaseName="moodle", DBSubnetGroupName=group, VpcSecurityGroupIds=[ctx.sgs[0]],
        BackupRetentionPeriod=14, DeletionProtection=True, CopyTagsToSnapshot=True, EnableCloudwatchLogsExports=["error"], Tags=tag,
    )
    rds.create_db_instance(DBInstanceIdentifier=writer, DBClusterIdentifier=cluster, Engine="aurora-mysql", DBInstanceClass="db.r6g.large", Tags=tag)
    original = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]

    def members(name):
        return [m["DBInstanceIdentifier"] for m in rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["DBClusterMembers"]]

    # The restore: the snapshot's data and engine, the settings sent, a new cluster's defaults.
    snapshot, restored, restored_1 = ctx.name("rb-snap"), ctx.name("rb-restored"), ctx.name("rb-restored-1")
    rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=snapshot)
    restored_tags = tag + [{"Key": "moodle-ha:restored-by", "Value": ctx.run}]
    r = rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier=restored, SnapshotIdentifier=snapshot, Engine="aurora-mysql", DBSubnetGroupName=group,
        VpcSecurityGroupIds=[ctx.sgs[1]], DeletionProtection=True, Tags=restored_tags,
    )["DBCluster"]
    got = {k: r.get(k) for k in ("MasterUsername", "DatabaseName", "StorageEncrypted", "EngineVersion", "Port", "DBSubnetGroup", "DeletionProtection", "CopyTagsToSnapshot", "TagList")}
    wanted = {"MasterUsername": "moodleadmin", "DatabaseName": "moodle", "StorageEncrypted": True, "EngineVersion": original["EngineVersion"],
              "Port": original["Port"], "DBSubnetGroup": group, "DeletionProtection": True, "CopyTagsToSnapshot": False, "TagList": restored_tags}
    expect_equal(got, wanted, "RestoreDBClusterFromSnapshot: the snapshot's engine and data, the settings sent")
    expect_equal(([g["VpcSecurityGroupId"] for g in r["VpcSecurityGroups"]], r.get("EnabledCloudwatchLogsExports") or [], r.get("DBClusterMembers") or []),
                 ([ctx.sgs[1]], [], []), "RestoreDBClusterFromSnapshot: security groups sent, no log exports or instances unless asked")
    expect("MasterUserSecret" not in r, "RestoreDBClusterFromSnapshot: no managed master secret until ModifyDBCluster adds one:", r.get("MasterUserSecret"))
    expect_error("DBClusterAlreadyExistsFault", rds.restore_db_cluster_from_snapshot, DBClusterIdentifier=restored, SnapshotIdentifier=snapshot, Engine="aurora-mysql")
    expect_equal(members(cluster), [writer], "the snapshot's cluster keeps its instance after a restore")
    rds.modify_db_cluster(DBClusterIdentifier=restored, ManageMasterUserPassword=True, BackupRetentionPeriod=14, ApplyImmediately=True)
    r = rds.describe_db_clusters(DBClusterIdentifier=restored)["DBClusters"][0]
    expect(r.get("MasterUserSecret", {}).get("SecretArn") and r.get("BackupRetentionPeriod") == 14, "ModifyDBCluster after the restore:", r.get("MasterUserSecret"), r.get("BackupRetentionPeriod"))
    rds.create_db_instance(DBInstanceIdentifier=restored_1, DBClusterIdentifier=restored, Engine="aurora-mysql", DBInstanceClass="db.r6g.large", Tags=restored_tags)

    # Names in use are refused; an unknown cluster is not found.
    expect_error("DBClusterAlreadyExistsFault", rds.modify_db_cluster, DBClusterIdentifier=restored, NewDBClusterIdentifier=cluster, ApplyImmediately=True)
    expect_error("DBInstanceAlreadyExists", rds.modify_db_instance, DBInstanceIdentifier=restored_1, NewDBInstanceIdentifier=writer, ApplyImmediately=True)
    expect_equal((members(cluster), members(restored)), ([writer], [restored_1]), "renames to names in use change nothing")
    expect_error("DBClusterNotFoundFault", rds.modify_db_cluster, DBClusterIdentifier=ctx.name("rb-none"), NewDBClusterIdentifier=ctx.name("rb-x"), ApplyImmediately=True)

    # The swap: the original aside (members and tags follow), the restored one to the original name and endpoint.
    aside, writer_aside = ctx.name("rb-aside"), ctx.name("rb-1-aside")
    rds.modify_db_cluster(DBClusterIdentifier=cluster, NewDBClusterIdentifier=aside, ApplyImmediately=True)
    expect_error("DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier=cluster)
    a = rds.describe_db_clusters(DBClusterIdentifier=aside)["DBClusters"][0]
    expect_equal((members(aside), a["TagList"], rds.list_tags_for_resource(ResourceName=a["DBClusterArn"])["TagList"]), ([writer], tag, tag),
                 "ModifyDBCluster NewDBClusterIdentifier: members and tags follow the cluster")
    expect(a["DBClusterArn"].endswith(f":cluster:{aside}") and a["Endpoint"].startswith(f"{aside}.cluster-"), "the renamed cluster's ARN and endpoint:", a["DBClusterArn"], a["Endpoint"])
    expect_equal(rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0].get("DBClusterIdentifier"), aside, "a member's DBClusterIdentifier after the rename")
    rds.modify_db_instance(DBInstanceIdentifier=writer, NewDBInstanceIdentifier=writer_aside, ApplyImmediately=True)
    rds.modify_db_cluster(DBClusterIdentifier=restored, NewDBClusterIdentifier=cluster, ApplyImmediately=True)
    rds.modify_db_instance(DBInstanceIdentifier=restored_1, NewDBInstanceIdentifier=writer, ApplyImmediately=True)
    now = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    expect_equal((now["Endpoint"], now["ReaderEndpoint"]), (original["Endpoint"], original["ReaderEndpoint"]), "a cluster renamed to a former cluster's name: its endpoints")
    expect_equal((members(cluster), members(aside), now["TagList"]), ([writer], [writer_aside], restored_tags), "after the swap: members and tags")
    i = rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]
    expect_equal((i.get("DBClusterIdentifier"), i["TagList"]), (cluster, restored_tags), "the restored member under the original name")

    for instance in (writer, writer_aside):
        rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
    for name in (cluster, aside):
        rds.modify_db_cluster(DBClusterIdentifier=name, DeletionProtection=False, ApplyImmediately=True)
        rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
    rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=snapshot)
    rds.delete_db_subnet_group(DBSubnetGroupName=group)

"""Check that the (patched) emulator answers the calls moodle-ha makes the way AWS does.

Every check names the AWS behaviour it expects. The script stops at the first mismatch, prints
it and exits 1; it prints "all checks passed" and exits 0 otherwise. It uses unique names, so
it can run against an emulator that other tests are using, and it deletes what it created.

Usage: python check_emulator.py [--host 127.0.0.1] [--port 4566] [--region eu-west-1]
"""

import argparse
import base64
import copy
import datetime
import json
import os
import string
import sys
import traceback
import urllib.parse
import uuid

import boto3
import botocore.config
import botocore.exceptions


# The launcher's fixtures (see its Fixtures section): the certificate stacks/example.yaml names, and
# AWS's public AMI parameters with the architecture of the AMI each names.
EXAMPLE_CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f"
UBUNTU_AMD64 = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
AMI_PARAMETERS = {
    UBUNTU_AMD64: "x86_64",
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id": "arm64",
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64": "x86_64",
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64": "arm64",
}


class Mismatch(Exception):
    pass


def expect(condition, message, *details):
    if not condition:
        raise Mismatch(" ".join([message] + [repr(d) for d in details]))


def expect_equal(actual, wanted, what):
    expect(actual == wanted, f"{what}: expected {wanted!r}, got", actual)


def expect_error(code, call, **kwargs):
    """The call must fail with this AWS error code; returns the error message."""
    try:
        answer = call(**kwargs)
    except botocore.exceptions.ClientError as error:
        got = error.response["Error"]["Code"]
        expect(got == code, f"{call.__name__}: expected error {code}, got {got}:", error.response["Error"].get("Message"))
        return error.response["Error"].get("Message")
    raise Mismatch(f"{call.__name__}({kwargs}): expected error {code}, got success: {answer!r}")


def paginate(client, operation, key, page_size, **kwargs):
    """All items of a paginated describe/list, and the number of pages it took."""
    items, pages = [], 0
    limit = "MaxResults" if client.meta.service_model.service_name == "secretsmanager" else "MaxRecords"
    for page in client.get_paginator(operation).paginate(**kwargs, PaginationConfig={"PageSize": page_size}):
        pages += 1
        expect(len(page[key]) <= page_size, f"{operation}: a page holds more than {limit}={page_size}:", len(page[key]))
        items += page[key]
    return items, pages


class Checker:
    def __init__(self, endpoint, region):
        config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
        self.clients = {}
        for service in ("ec2", "elasticache", "rds", "secretsmanager", "autoscaling", "sts", "acm", "ssm", "elbv2", "iam", "efs"):
            self.clients[service] = boto3.client(service, endpoint_url=endpoint, region_name=region, config=config)
        self.endpoint, self.config = endpoint, config
        self.region = region
        self.run = uuid.uuid4().hex[:8]
        self.account = self.sts.get_caller_identity()["Account"]

    def __getattr__(self, name):
        clients = self.__dict__.get("clients", {})
        if name in clients:
            return clients[name]
        raise AttributeError(name)

    def name(self, kind):
        return f"chk-{self.run}-{kind}"

    # -- network -------------------------------------------------------------------------------

    def check_network(self):
        vpc = self.ec2.create_vpc(CidrBlock="10.231.0.0/16")["Vpc"]["VpcId"]
        self.vpc = vpc
        self.subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.231.{i}.0/24", AvailabilityZone=f"{self.region}{az}")["Subnet"]["SubnetId"]
            for i, az in enumerate("abc")
        ]
        self.sgs = [
            self.ec2.create_security_group(GroupName=self.name(f"sg{i}"), Description="check", VpcId=vpc)["GroupId"]
            for i in range(2)
        ]
        self.private_subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.231.{10 + i}.0/24", AvailabilityZone=f"{self.region}{az}")["Subnet"]["SubnetId"]
            for i, az in enumerate("abc")
        ]

    # -- ElastiCache ---------------------------------------------------------------------------

    def check_elasticache(self):
        ec = self.elasticache
        tag = [{"Key": "moodle-ha:stack", "Value": self.run}]

        # Cache subnet group: create, describe (all, paginated), modify, tags.
        group = self.name("csg")
        created = ec.create_cache_subnet_group(
            CacheSubnetGroupName=group, CacheSubnetGroupDescription="check", SubnetIds=self.subnets[:2], Tags=tag
        )["CacheSubnetGroup"]
        group_arn = f"arn:aws:elasticache:{self.region}:{self.account}:subnetgroup:{group}"
        expect_equal(created.get("ARN"), group_arn, "CreateCacheSubnetGroup ARN")
        expect_equal(
            sorted(str(s["SubnetAvailabilityZone"].get("Name")) for s in created["Subnets"]),
            [f"{self.region}a", f"{self.region}b"],
            "CreateCacheSubnetGroup Subnets[].SubnetAvailabilityZone.Name",
        )
        extra = [self.name(f"csg-page{i}") for i in range(21)]
        for name in extra:
            ec.create_cache_subnet_group(CacheSubnetGroupName=name, CacheSubnetGroupDescription="page", SubnetIds=self.subnets[:1])
        groups, pages = paginate(ec, "describe_cache_subnet_groups", "CacheSubnetGroups", 20)
        names = [g["CacheSubnetGroupName"] for g in groups]
        expect(set(extra + [group]) <= set(names), "DescribeCacheSubnetGroups (all, paginated) misses groups")
        expect(pages >= 2, "DescribeCacheSubnetGroups: more than 20 groups must take more than one page of 20:", pages)
        expect_equal(len(names), len(set(names)), "DescribeCacheSubnetGroups: no group twice across pages")
        modified = ec.modify_cache_subnet_group(CacheSubnetGroupName=group, SubnetIds=self.subnets)["CacheSubnetGroup"]
        expect_equal(sorted(s["SubnetIdentifier"] for s in modified["Subnets"]), sorted(self.subnets), "ModifyCacheSubnetGroup answer subnets")
        described = ec.describe_cache_subnet_groups(CacheSubnetGroupName=group)["CacheSubnetGroups"][0]
        expect_equal(sorted(s["SubnetIdentifier"] for s in described["Subnets"]), sorted(self.subnets), "DescribeCacheSubnetGroups after modify")
        expect_equal(described["CacheSubnetGroupDescription"], "check", "ModifyCacheSubnetGroup keeps the description")
        expect_equal(ec.list_tags_for_resource(ResourceName=group_arn)["TagList"], tag, "ListTagsForResource(subnet group)")
        ec.add_tags_to_resource(ResourceName=group_arn, Tags=[{"Key": "extra", "Value": "1"}])
        tags = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=group_arn)["TagList"]}
        expect_equal(tags, {"moodle-ha:stack": self.run, "extra": "1"}, "AddTagsToResource(subnet group) then ListTagsForResource")

        # AWS rejects automatic failover on a single cluster.
        expect_error(
            "InvalidParameterCombination", ec.create_replication_group,
            ReplicationGroupId=self.name("rg-bad"), ReplicationGroupDescription="check", Engine="redis",
            CacheNodeType="cache.t4g.small", NumCacheClusters=1, AutomaticFailoverEnabled=True, CacheSubnetGroupName=group,
        )

        # Replication group, cluster mode off, primary + 1 replica.
        rg = self.name("rg")
        auth_token = "A" * 32
        answer = ec.create_replication_group(
            ReplicationGroupId=rg, ReplicationGroupDescription="check", Engine="redis", EngineVersion="7.1",
            CacheNodeType="cache.t4g.small", NumCacheClusters=2, AutomaticFailoverEnabled=True, MultiAZEnabled=True,
            CacheSubnetGroupName=group, SecurityGroupIds=[self.sgs[0]], TransitEncryptionEnabled=True,
            AtRestEncryptionEnabled=True, AuthToken=auth_token, PreferredMaintenanceWindow="sun:05:00-sun:06:00",
            SnapshotRetentionLimit=7, SnapshotWindow="03:00-04:00", Tags=tag, Port=6379,
        )["ReplicationGroup"]
        members = [f"{rg}-001", f"{rg}-002"]
        expect_equal(answer["MemberClusters"], members, "CreateReplicationGroup NumCacheClusters=2 MemberClusters (F2)")
        rg_arn = f"arn:aws:elasticache:{self.region}:{self.account}:replicationgroup:{rg}"

        # Pagination of groups and clusters: 21 more single-node groups, one on Redis 7.0.
        page_groups = [self.name(f"rgp{i:02d}") for i in range(21)]
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
                ("SecurityGroups", [{"SecurityGroupId": self.sgs[0], "Status": "active"}]),
                ("PreferredMaintenanceWindow", "sun:05:00-sun:06:00"), ("SnapshotRetentionLimit", 7),
                ("CacheClusterStatus", "available"), ("TransitEncryptionEnabled", True), ("AtRestEncryptionEnabled", True),
                ("NumCacheNodes", 1),
            ]:
                expect_equal(c.get(field), wanted, f"DescribeCacheClusters({member}) {field}")
            expect(str(c.get("PreferredAvailabilityZone", "")).startswith(self.region), f"{member} PreferredAvailabilityZone not in {self.region}:", c.get("PreferredAvailabilityZone"))
            zones.add(c["PreferredAvailabilityZone"])
        expect(len(zones) == 2, "Multi-AZ members must be spread over the subnet group's zones:", zones)

        # ModifyReplicationGroup: every field sent shows in groups and members; omitted fields stay.
        ec.modify_replication_group(
            ReplicationGroupId=rg, ApplyImmediately=True, CacheNodeType="cache.r7g.large",
            SnapshotRetentionLimit=3, SnapshotWindow="01:00-02:00", PreferredMaintenanceWindow="mon:05:00-mon:06:00",
            SecurityGroupIds=[self.sgs[1]],
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
                ("SecurityGroups", [{"SecurityGroupId": self.sgs[1], "Status": "active"}]),
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
        expect_equal(tags, {"moodle-ha:stack": self.run, "extra": "2"}, "AddTagsToResource(replication group)")

        # Delete: subnet group in use, then group with a final snapshot (F4), then subnet group (F1).
        expect_error("CacheSubnetGroupInUse", ec.delete_cache_subnet_group, CacheSubnetGroupName=group)
        final = self.name("rg-final")
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

    # -- RDS -----------------------------------------------------------------------------------

    def check_rds(self):
        rds = self.rds
        tag = [{"Key": "moodle-ha:stack", "Value": self.run}]

        # DB subnet group.
        group = self.name("dsg")
        created = rds.create_db_subnet_group(
            DBSubnetGroupName=group, DBSubnetGroupDescription="check", SubnetIds=self.subnets[:2], Tags=tag
        )["DBSubnetGroup"]
        extra = [self.name(f"dsg-page{i}") for i in range(21)]
        for name in extra:
            rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="page", SubnetIds=self.subnets[:2])
        groups, pages = paginate(rds, "describe_db_subnet_groups", "DBSubnetGroups", 20)
        names = [g["DBSubnetGroupName"] for g in groups]
        expect(set(extra + [group]) <= set(names), "DescribeDBSubnetGroups (all, paginated) misses groups")
        expect(pages >= 2, "DescribeDBSubnetGroups: 22 groups must take more than one page of 20:", pages)
        rds.modify_db_subnet_group(DBSubnetGroupName=group, SubnetIds=self.subnets)
        described = rds.describe_db_subnet_groups(DBSubnetGroupName=group)["DBSubnetGroups"]
        expect_equal(len(described), 1, "DescribeDBSubnetGroups finds the group after ModifyDBSubnetGroup")
        expect_equal(sorted(s["SubnetIdentifier"] for s in described[0]["Subnets"]), sorted(self.subnets), "ModifyDBSubnetGroup subnets")
        expect_equal(rds.list_tags_for_resource(ResourceName=created["DBSubnetGroupArn"])["TagList"], tag, "ListTagsForResource(DB subnet group)")
        for name in extra:
            rds.delete_db_subnet_group(DBSubnetGroupName=name)

        # DB parameter groups.
        parameter_groups = {}
        for family in ("mysql8.4", "mysql8.0", "aurora-mysql8.0"):
            name = self.name("pg-" + family.replace(".", "-"))
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
            ManageMasterUserPassword=True, DBSubnetGroupName=group, VpcSecurityGroupIds=[self.sgs[0]],
            BackupRetentionPeriod=7, PreferredBackupWindow="02:00-02:30", PreferredMaintenanceWindow="sun:04:00-sun:05:00",
            DeletionProtection=True, PubliclyAccessible=False, CopyTagsToSnapshot=True, Tags=tag,
        )
        db84, db80 = self.name("db84"), self.name("db80")
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
            expect_equal([g["VpcSecurityGroupId"] for g in i["VpcSecurityGroups"]], [self.sgs[0]], f"{db} VpcSecurityGroups")
            expect(i.get("Endpoint", {}).get("Address") and i["Endpoint"].get("Port") == 3306, f"{db} Endpoint:", i.get("Endpoint"))
            secret_arn = i.get("MasterUserSecret", {}).get("SecretArn", "")
            expect(secret_arn.startswith(f"arn:aws:secretsmanager:{self.region}:"), f"{db} MasterUserSecret.SecretArn:", secret_arn)
            expect("moodleadmin" in self.secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"], f"{db} master user secret has the user name")

        # ModifyDBInstance, ApplyImmediately=true.
        pg84b = self.name("pg-mysql8-4-b")
        rds.create_db_parameter_group(DBParameterGroupName=pg84b, DBParameterGroupFamily="mysql8.4", Description="check")
        rds.modify_db_instance(
            DBInstanceIdentifier=db84, ApplyImmediately=True, DBInstanceClass="db.r6g.large", AllocatedStorage=200,
            MaxAllocatedStorage=2000, BackupRetentionPeriod=14, PreferredBackupWindow="01:00-01:30",
            PreferredMaintenanceWindow="mon:04:00-mon:05:00", MultiAZ=False, DeletionProtection=False,
            VpcSecurityGroupIds=[self.sgs[1]], DBParameterGroupName=pg84b, EngineVersion="8.4",
        )
        i = rds.describe_db_instances(DBInstanceIdentifier=db84)["DBInstances"][0]
        for field, wanted in [
            ("DBInstanceClass", "db.r6g.large"), ("AllocatedStorage", 200), ("MaxAllocatedStorage", 2000),
            ("BackupRetentionPeriod", 14), ("PreferredBackupWindow", "01:00-01:30"),
            ("PreferredMaintenanceWindow", "mon:04:00-mon:05:00"), ("MultiAZ", False), ("DeletionProtection", False),
            ("EngineVersion", by_id[db84]["EngineVersion"]),
        ]:
            expect_equal(i.get(field), wanted, f"ModifyDBInstance(ApplyImmediately=true) then {field}")
        expect_equal([g["VpcSecurityGroupId"] for g in i["VpcSecurityGroups"]], [self.sgs[1]], "ModifyDBInstance VpcSecurityGroups")
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
        final = self.name("db84-final")
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
        cluster, cluster_pinned = self.name("aurora"), self.name("aurora-pinned")
        cluster_args = dict(
            Engine="aurora-mysql", MasterUsername="moodleadmin", ManageMasterUserPassword=True, StorageEncrypted=True,
            BackupRetentionPeriod=7, PreferredBackupWindow="02:00-02:30", PreferredMaintenanceWindow="sun:04:00-sun:05:00",
            DBSubnetGroupName=group, VpcSecurityGroupIds=[self.sgs[0]], DatabaseName="moodle", Tags=tag,
        )
        rds.create_db_cluster(DBClusterIdentifier=cluster, DeletionProtection=True, **cluster_args)
        pinned = rds.create_db_cluster(DBClusterIdentifier=cluster_pinned, EngineVersion="8.0.mysql_aurora.3.08.0", **cluster_args)["DBCluster"]
        expect_equal(pinned["EngineVersion"], "8.0.mysql_aurora.3.08.0", "CreateDBCluster EngineVersion as sent")
        pga = parameter_groups["aurora-mysql8.0"][0]
        writer, reader = self.name("aurora-w"), self.name("aurora-r")
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
        default_pg = self.name("aurora-default-pg")
        i = rds.create_db_instance(
            DBInstanceIdentifier=default_pg, DBClusterIdentifier=cluster_pinned, Engine="aurora-mysql", DBInstanceClass="db.r6g.large",
        )["DBInstance"]
        expect_equal([p["DBParameterGroupName"] for p in i["DBParameterGroups"]], ["default.aurora-mysql8.0"], "Aurora instance default DBParameterGroups")
        rds.delete_db_instance(DBInstanceIdentifier=default_pg, SkipFinalSnapshot=True)
        rds.modify_db_cluster(
            DBClusterIdentifier=cluster, ApplyImmediately=True, BackupRetentionPeriod=14, PreferredBackupWindow="01:00-01:30",
            PreferredMaintenanceWindow="mon:04:00-mon:05:00", VpcSecurityGroupIds=[self.sgs[1]],
        )
        c = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
        for field, wanted in [("BackupRetentionPeriod", 14), ("PreferredBackupWindow", "01:00-01:30"), ("PreferredMaintenanceWindow", "mon:04:00-mon:05:00")]:
            expect_equal(c.get(field), wanted, f"ModifyDBCluster then {field}")
        expect_equal([g["VpcSecurityGroupId"] for g in c["VpcSecurityGroups"]], [self.sgs[1]], "ModifyDBCluster VpcSecurityGroups")
        final = self.name("aurora-final")
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

    # -- Secrets Manager -----------------------------------------------------------------------

    def check_secrets(self):
        sm = self.secretsmanager
        password = sm.get_random_password(PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]
        expect_equal(len(password), 64, "GetRandomPassword length")
        expect(set(password) <= set(string.ascii_letters + string.digits), "GetRandomPassword ExcludePunctuation:", password)

        tag_key = "moodle-ha:stack"
        name = f"moodle-ha/{self.name('stack')}/redis-auth"
        other = f"moodle-ha/{self.name('stack2')}/redis-auth"
        token = str(uuid.uuid4())
        created = sm.create_secret(Name=name, SecretString=password, Tags=[{"Key": tag_key, "Value": self.run}], ClientRequestToken=token)
        expect_equal(created["VersionId"], token, "CreateSecret VersionId is the ClientRequestToken")
        sm.create_secret(Name=other, SecretString="x" * 64, Tags=[{"Key": tag_key, "Value": self.run + "-2"}])
        expect_equal(sm.get_secret_value(SecretId=name)["SecretString"], password, "GetSecretValue")
        expect_error("ResourceExistsException", sm.create_secret, Name=name, SecretString="other", ClientRequestToken=str(uuid.uuid4()))

        def listed(**kwargs):
            secrets, _ = paginate(sm, "list_secrets", "SecretList", 1, Filters=[{"Key": "tag-key", "Values": [tag_key]}], **kwargs)
            return {s["Name"] for s in secrets}

        expect({name, other} <= listed(), "ListSecrets tag-key filter (paginated, MaxResults=1) misses secrets")
        deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
        in_days = (deleted["DeletionDate"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400
        expect(6.9 < in_days < 7.1, "DeleteSecret RecoveryWindowInDays=7 DeletionDate:", deleted["DeletionDate"])
        expect(name not in listed(), "ListSecrets lists a secret scheduled for deletion")
        expect(name in listed(IncludePlannedDeletion=True), "ListSecrets IncludePlannedDeletion=true misses the scheduled secret")
        expect_error("InvalidRequestException", sm.get_secret_value, SecretId=name)
        expect_error("InvalidRequestException", sm.create_secret, Name=name, SecretString="again")
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        expect_error("ResourceNotFoundException", sm.get_secret_value, SecretId=name)
        sm.delete_secret(SecretId=other, ForceDeleteWithoutRecovery=True)
        expect_error("ResourceNotFoundException", sm.get_secret_value, SecretId=other)
        sm.create_secret(Name=other, SecretString="new")
        expect_equal(sm.get_secret_value(SecretId=other)["SecretString"], "new", "CreateSecret after a forced delete")
        sm.delete_secret(SecretId=other, ForceDeleteWithoutRecovery=True)

    # -- Auto Scaling / EC2 --------------------------------------------------------------------

    def check_autoscaling_ec2(self):
        ec2, asg = self.ec2, self.autoscaling
        template_tags = [{"Key": "moodle-ha:stack", "Value": self.run}]
        instance_tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "moodle"}]}]
        template = ec2.create_launch_template(
            LaunchTemplateName=self.name("lt"),
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.small", "TagSpecifications": instance_tags},
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": template_tags}],
        )["LaunchTemplate"]
        template_id = template["LaunchTemplateId"]
        described = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
        expect_equal(described.get("Tags"), template_tags, "DescribeLaunchTemplates Tags")
        data = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        expect_equal(data.get("TagSpecifications"), instance_tags, "CreateLaunchTemplate: top-level TagSpecifications stay out of LaunchTemplateData (F8)")

        group = self.name("asg")
        policy = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
                "Overrides": [{"InstanceType": "t3.small"}, {"InstanceType": "t3a.small"}],
            },
            "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 50},
        }
        asg.create_auto_scaling_group(
            AutoScalingGroupName=group, MinSize=1, MaxSize=3, DesiredCapacity=1, MixedInstancesPolicy=policy,
            VPCZoneIdentifier=",".join(self.subnets), HealthCheckType="ELB", HealthCheckGracePeriod=300,
            Tags=[{"Key": "moodle-ha:stack", "Value": self.run, "PropagateAtLaunch": True}],
        )
        fields = ("MixedInstancesPolicy", "MinSize", "DesiredCapacity", "HealthCheckType", "HealthCheckGracePeriod", "VPCZoneIdentifier", "Tags")

        def describe():
            return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]

        before = describe()
        expect("MixedInstancesPolicy" in before, "CreateAutoScalingGroup MixedInstancesPolicy missing")
        asg.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=5)
        after = describe()
        expect_equal(after["MaxSize"], 5, "UpdateAutoScalingGroup MaxSize")
        for field in fields:
            expect_equal(after.get(field), before.get(field), f"UpdateAutoScalingGroup with only MaxSize keeps {field} (F7)")

        put = asg.put_scaling_policy(
            AutoScalingGroupName=group, PolicyName="cpu", PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 60.0},
        )
        expect(str(put.get("PolicyARN", "")).startswith("arn:aws:autoscaling:"), "PutScalingPolicy answers PolicyARN:", put)
        policy = asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"][0]
        expect_equal(policy.get("Enabled"), True, "DescribePolicies Enabled (F6)")
        expect("PredictiveScalingConfiguration" not in policy, "DescribePolicies: no PredictiveScalingConfiguration on a target-tracking policy (F6):", policy.get("PredictiveScalingConfiguration"))
        expect_equal(policy["TargetTrackingConfiguration"]["TargetValue"], 60.0, "DescribePolicies TargetValue")

        asg.delete_policy(AutoScalingGroupName=group, PolicyName="cpu")
        asg.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
        ec2.delete_launch_template(LaunchTemplateId=template_id)

    # -- Fixtures (not gaps: what a real account has, see the launcher's Fixtures section) -----

    def check_fixtures(self):
        for region in sorted({self.region, "eu-west-1", "us-east-1"}):
            acm = boto3.client("acm", endpoint_url=self.endpoint, region_name=region, config=self.config)
            ssm = boto3.client("ssm", endpoint_url=self.endpoint, region_name=region, config=self.config)
            ec2 = boto3.client("ec2", endpoint_url=self.endpoint, region_name=region, config=self.config)
            cert = acm.describe_certificate(CertificateArn=EXAMPLE_CERTIFICATE_ARN)["Certificate"]
            expect_equal((cert["DomainName"], cert["Status"]), ("moodle.example.edu", "ISSUED"), f"{region} DescribeCertificate(example certificate)")
            listed = [c["CertificateArn"] for c in acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]]
            expect(EXAMPLE_CERTIFICATE_ARN in listed, f"{region} ListCertificates misses the example certificate:", listed)
            answer = ssm.get_parameters(Names=list(AMI_PARAMETERS))
            expect_equal(answer["InvalidParameters"], [], f"{region} GetParameters(public AMI parameters) InvalidParameters")
            for parameter in answer["Parameters"]:
                image = ec2.describe_images(ImageIds=[parameter["Value"]])["Images"]
                expect(len(image) == 1, f"{region} {parameter['Name']} names an AMI DescribeImages does not know:", parameter["Value"])
                expect_equal(image[0]["Architecture"], AMI_PARAMETERS[parameter["Name"]], f"{region} {parameter['Name']} AMI Architecture")
                expect(image[0].get("RootDeviceName"), f"{region} {parameter['Name']} AMI has no RootDeviceName:", image[0])
            single = ssm.get_parameter(Name=UBUNTU_AMD64)["Parameter"]
            expect_equal((single["Type"], single["Value"].startswith("ami-")), ("String", True), f"{region} GetParameter({UBUNTU_AMD64})")

    # -- ELBv2 ---------------------------------------------------------------------------------

    def check_elbv2(self):
        elb = self.elbv2
        tags = [{"Key": "moodle-ha:stack", "Value": self.run}]
        lbs = [
            elb.create_load_balancer(
                Name=self.name(f"lb{i}"), Subnets=self.subnets, SecurityGroups=[self.sgs[0]], Scheme="internet-facing",
                Type="application", IpAddressType="ipv4", Tags=tags,
            )["LoadBalancers"][0]
            for i in range(2)
        ]
        lb = lbs[0]["LoadBalancerArn"]
        self.web_lb, self.web_lb_extra = lb, lbs[1]["LoadBalancerArn"]
        expect_equal(sorted(z["SubnetId"] for z in lbs[0]["AvailabilityZones"]), sorted(self.subnets), "CreateLoadBalancer AvailabilityZones")
        described, pages = paginate(elb, "describe_load_balancers", "LoadBalancers", 1)
        expect({lb, self.web_lb_extra} <= {d["LoadBalancerArn"] for d in described} and pages >= 2, "DescribeLoadBalancers (PageSize=1) pages/LBs:", pages)

        attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb)["Attributes"]}
        for key, wanted in [("idle_timeout.timeout_seconds", "60"), ("routing.http2.enabled", "true"), ("deletion_protection.enabled", "false"),
                            ("access_logs.s3.enabled", "false"), ("load_balancing.cross_zone.enabled", "true")]:
            expect_equal(attributes.get(key), wanted, f"DescribeLoadBalancerAttributes default {key}")
        answer = elb.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "120"}])
        expect_equal({a["Key"]: a["Value"] for a in answer["Attributes"]}, dict(attributes, **{"idle_timeout.timeout_seconds": "120"}), "ModifyLoadBalancerAttributes answers every attribute")
        attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb)["Attributes"]}
        expect_equal(attributes["idle_timeout.timeout_seconds"], "120", "ModifyLoadBalancerAttributes idle_timeout.timeout_seconds")
        elb.set_security_groups(LoadBalancerArn=lb, SecurityGroups=self.sgs)
        elb.set_subnets(LoadBalancerArn=lb, Subnets=self.private_subnets)
        got = elb.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"][0]
        expect_equal(sorted(got["SecurityGroups"]), sorted(self.sgs), "SetSecurityGroups then SecurityGroups")
        expect_equal(sorted(z["SubnetId"] for z in got["AvailabilityZones"]), sorted(self.private_subnets), "SetSubnets then AvailabilityZones")
        elb.set_subnets(LoadBalancerArn=lb, Subnets=self.subnets)

        health = dict(
            HealthCheckProtocol="HTTP", HealthCheckPath="/login/index.php", HealthCheckIntervalSeconds=30, HealthyThresholdCount=2,
            UnhealthyThresholdCount=3, HealthCheckTimeoutSeconds=10, Matcher={"HttpCode": "200"},
        )
        tgs = [
            elb.create_target_group(Name=self.name(f"tg{i}"), Protocol="HTTP", Port=80, VpcId=self.vpc, TargetType="instance", Tags=tags, **health)["TargetGroups"][0]
            for i in range(2)
        ]
        tg = tgs[0]["TargetGroupArn"]
        self.web_tg, self.web_tg_extra = tg, tgs[1]["TargetGroupArn"]
        for field, wanted in health.items():
            expect_equal(tgs[0].get(field), wanted, f"CreateTargetGroup {field}")
        attributes = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=tg)["Attributes"]}
        for key, wanted in [("deregistration_delay.timeout_seconds", "300"), ("stickiness.enabled", "false"),
                            ("stickiness.type", "lb_cookie"), ("stickiness.lb_cookie.duration_seconds", "86400")]:
            expect_equal(attributes.get(key), wanted, f"DescribeTargetGroupAttributes default {key}")
        sent = {"deregistration_delay.timeout_seconds": "120", "stickiness.enabled": "true", "stickiness.type": "lb_cookie",
                "stickiness.lb_cookie.duration_seconds": "86400"}
        answer = elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": k, "Value": v} for k, v in sent.items()])
        expect_equal({a["Key"]: a["Value"] for a in answer["Attributes"]}, dict(attributes, **sent), "ModifyTargetGroupAttributes answers every attribute")
        attributes = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=tg)["Attributes"]}
        expect_equal({k: attributes.get(k) for k in sent}, sent, "ModifyTargetGroupAttributes then DescribeTargetGroupAttributes")
        elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": "stickiness.enabled", "Value": "false"}])
        modified = elb.modify_target_group(TargetGroupArn=tg, HealthCheckPath="/health.php", HealthCheckIntervalSeconds=15, HealthyThresholdCount=3)["TargetGroups"][0]
        expect_equal((modified["HealthCheckPath"], modified["HealthCheckIntervalSeconds"], modified["HealthyThresholdCount"], modified["UnhealthyThresholdCount"]),
                     ("/health.php", 15, 3, 3), "ModifyTargetGroup health check (omitted fields unchanged)")
        elb.modify_target_group(TargetGroupArn=tg, **{k: v for k, v in health.items() if k != "HealthCheckProtocol"})

        https = elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": EXAMPLE_CERTIFICATE_ARN}],
            SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}], Tags=tags,
        )["Listeners"][0]
        http = elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80, Tags=tags,
            DefaultActions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}],
        )["Listeners"][0]
        self.web_listeners = [https["ListenerArn"], http["ListenerArn"]]
        listeners, pages = paginate(elb, "describe_listeners", "Listeners", 1, LoadBalancerArn=lb)
        expect_equal(sorted(x["ListenerArn"] for x in listeners), sorted(self.web_listeners), "DescribeListeners (PageSize=1) listeners")
        expect(pages >= 2, "DescribeListeners: 2 listeners with PageSize=1 must take 2 pages:", pages)
        by_port = {x["Port"]: x for x in listeners}
        expect_equal(by_port[443].get("SslPolicy"), "ELBSecurityPolicy-TLS13-1-2-2021-06", "DescribeListeners HTTPS SslPolicy")
        expect_equal(by_port[443].get("Certificates"), [{"CertificateArn": EXAMPLE_CERTIFICATE_ARN}], "DescribeListeners HTTPS Certificates")
        expect_equal(by_port[443]["DefaultActions"], [{
            "Type": "forward", "TargetGroupArn": tg,
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg, "Weight": 1}], "TargetGroupStickinessConfig": {"Enabled": False}},
        }], "DescribeListeners forward action (AWS adds ForwardConfig)")
        expect("SslPolicy" not in by_port[80], "DescribeListeners: an HTTP listener has no SslPolicy:", by_port[80].get("SslPolicy"))
        expect_equal(by_port[80]["DefaultActions"], [{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301",
        }}], "DescribeListeners redirect action (AWS fills Host/Path/Query)")
        modified = elb.modify_listener(
            ListenerArn=https["ListenerArn"], Certificates=[{"CertificateArn": EXAMPLE_CERTIFICATE_ARN}],
            SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": self.web_tg_extra}],
        )["Listeners"][0]
        expect_equal((modified["SslPolicy"], modified["DefaultActions"][0]["TargetGroupArn"]), ("ELBSecurityPolicy-TLS13-1-3-2021-06", self.web_tg_extra), "ModifyListener")

        def behind(arn):
            return elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["LoadBalancerArns"]

        expect_equal((behind(tg), behind(self.web_tg_extra)), ([], [lb]), "ModifyListener to another target group: DescribeTargetGroups LoadBalancerArns")
        elb.modify_listener(ListenerArn=https["ListenerArn"], SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        expect_equal((behind(tg), behind(self.web_tg_extra)), ([lb], []), "ModifyListener back: DescribeTargetGroups LoadBalancerArns")

        groups, pages = paginate(elb, "describe_target_groups", "TargetGroups", 1)
        by_arn = {g["TargetGroupArn"]: g for g in groups}
        expect({tg, self.web_tg_extra} <= set(by_arn) and pages >= 2, "DescribeTargetGroups (PageSize=1) pages/groups:", pages)
        expect_equal(by_arn[tg].get("LoadBalancerArns"), [lb], "DescribeTargetGroups LoadBalancerArns")
        arns = [lb, self.web_lb_extra, tg, self.web_tg_extra] + self.web_listeners
        described = {d["ResourceArn"]: d["Tags"] for d in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]}
        expect_equal(described, {arn: tags for arn in arns}, "DescribeTags (load balancers, target groups, listeners)")
        expect_error("ResourceInUse", elb.delete_target_group, TargetGroupArn=tg)
        elb.delete_load_balancer(LoadBalancerArn=self.web_lb_extra)
        elb.delete_target_group(TargetGroupArn=self.web_tg_extra)
        expect_error("LoadBalancerNotFound", elb.describe_load_balancers, LoadBalancerArns=[self.web_lb_extra])
        expect_error("TargetGroupNotFound", elb.describe_target_groups, TargetGroupArns=[self.web_tg_extra])

    # -- Creates whose answer was lost: sent again, they create nothing --------------------------

    def check_idempotent_creates(self):
        ec2, elb, efs = self.ec2, self.elbv2, self.efs
        token = f"chk-{self.run}"

        def twice(what, call, pick, **kwargs):
            first, second = pick(call(**kwargs)), pick(call(**kwargs))
            expect_equal(second, first, f"{what} sent again (same parameters, same ClientToken if any) answers the same resource")
            return first

        def tag(kind):
            return [{"ResourceType": kind, "Tags": [{"Key": "moodle-ha:resource", "Value": f"{kind}/{self.run}"}]}]

        table = twice("CreateRouteTable", ec2.create_route_table, lambda a: a["RouteTable"]["RouteTableId"],
                      VpcId=self.vpc, ClientToken=f"{token}-rtb", TagSpecifications=tag("route-table"))
        tables = ec2.describe_route_tables(Filters=[{"Name": "tag:moodle-ha:resource", "Values": [f"route-table/{self.run}"]}])["RouteTables"]
        expect_equal([t["RouteTableId"] for t in tables], [table], "CreateRouteTable twice with one ClientToken: route tables")
        expect_error("IdempotentParameterMismatch", ec2.create_route_table, VpcId=self.vpc, ClientToken=f"{token}-rtb")

        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = twice("CreateNatGateway", ec2.create_nat_gateway, lambda a: a["NatGateway"]["NatGatewayId"],
                    SubnetId=self.subnets[0], AllocationId=allocation, ClientToken=f"{token}-nat")
        nats = ec2.describe_nat_gateways(Filters=[{"Name": "subnet-id", "Values": [self.subnets[0]]}])["NatGateways"]
        expect_equal([n["NatGatewayId"] for n in nats if n["State"] not in ("deleted", "deleting")], [nat], "CreateNatGateway twice with one ClientToken: gateways")

        instance = twice("RunInstances", ec2.run_instances, lambda a: [i["InstanceId"] for i in a["Instances"]],
                         ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.small", SubnetId=self.subnets[0],
                         ClientToken=f"{token}-i", TagSpecifications=tag("instance"))
        running = ec2.describe_instances(Filters=[{"Name": "tag:moodle-ha:resource", "Values": [f"instance/{self.run}"]}])["Reservations"]
        expect_equal([i["InstanceId"] for r in running for i in r["Instances"]], instance, "RunInstances twice with one ClientToken: instances")

        # ELBv2: idempotent by name (load balancer, target group) and by port (listener) with the same settings.
        name = self.name("idem")
        lb_args = dict(Name=name, Subnets=self.subnets, SecurityGroups=[self.sgs[0]], Scheme="internet-facing", Type="application")
        lb = twice("CreateLoadBalancer", elb.create_load_balancer, lambda a: a["LoadBalancers"][0]["LoadBalancerArn"], **lb_args)
        expect_equal([x["LoadBalancerArn"] for x in elb.describe_load_balancers(Names=[name])["LoadBalancers"]], [lb], "CreateLoadBalancer twice: load balancers of that name")
        expect_error("DuplicateLoadBalancerName", elb.create_load_balancer, **dict(lb_args, Scheme="internal"))
        tg_args = dict(Name=name, Protocol="HTTP", Port=80, VpcId=self.vpc, TargetType="instance")
        tg = twice("CreateTargetGroup", elb.create_target_group, lambda a: a["TargetGroups"][0]["TargetGroupArn"], **tg_args)
        expect_error("DuplicateTargetGroupName", elb.create_target_group, **dict(tg_args, Port=8080))
        listener_args = dict(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        listener = twice("CreateListener", elb.create_listener, lambda a: a["Listeners"][0]["ListenerArn"], **listener_args)
        expect_equal([x["ListenerArn"] for x in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]], [listener], "CreateListener twice: listeners on the port")
        redirect = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]
        expect_error("DuplicateListener", elb.create_listener, **dict(listener_args, DefaultActions=redirect))

        # EFS: a creation token used before answers FileSystemAlreadyExists with the file system's ID.
        fs = efs.create_file_system(CreationToken=f"{token}-fs")["FileSystemId"]
        try:
            efs.create_file_system(CreationToken=f"{token}-fs")
            raise Mismatch("CreateFileSystem with a used CreationToken: expected FileSystemAlreadyExists, got success")
        except botocore.exceptions.ClientError as error:
            expect_equal(error.response["Error"]["Code"], "FileSystemAlreadyExists", "CreateFileSystem with a used CreationToken: error")
            expect_equal(error.response.get("FileSystemId"), fs, "FileSystemAlreadyExists FileSystemId")

        efs.delete_file_system(FileSystemId=fs)
        elb.delete_listener(ListenerArn=listener)
        elb.delete_load_balancer(LoadBalancerArn=lb)
        elb.delete_target_group(TargetGroupArn=tg)
        ec2.terminate_instances(InstanceIds=instance)
        ec2.delete_nat_gateway(NatGatewayId=nat)
        ec2.release_address(AllocationId=allocation)
        ec2.delete_route_table(RouteTableId=table)

    # -- Launch templates ----------------------------------------------------------------------

    def check_launch_templates(self):
        ec2 = self.ec2
        image = ec2.describe_images(ImageIds=[self.ssm.get_parameter(Name=UBUNTU_AMD64)["Parameter"]["Value"]])["Images"][0]
        stack_tag = [{"Key": "moodle-ha:stack", "Value": self.run}]

        def data(volume_size, user_data):
            return {
                "ImageId": image["ImageId"], "IamInstanceProfile": {"Name": self.name("web")}, "SecurityGroupIds": [self.sgs[0]],
                "UserData": base64.b64encode(user_data.encode()).decode(),
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled", "InstanceMetadataTags": "enabled"},
                "BlockDeviceMappings": [{"DeviceName": image["RootDeviceName"], "Ebs": {"VolumeSize": volume_size, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
                "TagSpecifications": [{"ResourceType": kind, "Tags": stack_tag} for kind in ("instance", "volume")],
            }

        token = str(uuid.uuid4())
        create = dict(
            ClientToken=token, LaunchTemplateName=self.name("web-lt"), VersionDescription="v1", LaunchTemplateData=data(20, "#!/bin/bash\necho 1\n"),
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": stack_tag}],
        )
        first = ec2.create_launch_template(**create)["LaunchTemplate"]
        again = ec2.create_launch_template(**create)["LaunchTemplate"]
        expect_equal(again["LaunchTemplateId"], first["LaunchTemplateId"], "CreateLaunchTemplate retried with the same ClientToken answers the first template")
        template = self.web_template = first["LaunchTemplateId"]
        versions = {}
        for number in (2, 3):
            sent = data(20 + number, f"#!/bin/bash\necho {number}\n")
            args = dict(LaunchTemplateId=template, VersionDescription=f"v{number}", LaunchTemplateData=sent, ClientToken=str(uuid.uuid4()))
            answer = ec2.create_launch_template_version(**args)["LaunchTemplateVersion"]
            retried = ec2.create_launch_template_version(**args)["LaunchTemplateVersion"]
            expect_equal((answer["VersionNumber"], retried["VersionNumber"]), (number, number), "CreateLaunchTemplateVersion (and its retry with the same ClientToken) VersionNumber")
            versions[number] = sent
        listed = ec2.describe_launch_templates(Filters=[{"Name": "tag:moodle-ha:stack", "Values": [self.run]}])["LaunchTemplates"]
        expect_equal([(t["LaunchTemplateId"], t["LatestVersionNumber"], t["DefaultVersionNumber"]) for t in listed], [(template, 3, 1)], "DescribeLaunchTemplates tag filter")
        expect_equal(listed[0].get("Tags"), stack_tag, "DescribeLaunchTemplates Tags")
        ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion="3")
        for asked in ("$Default", "3"):
            version = ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=[asked])["LaunchTemplateVersions"]
            expect_equal([(v["VersionNumber"], v["DefaultVersion"], v["VersionDescription"]) for v in version], [(3, True, "v3")], f"DescribeLaunchTemplateVersions {asked}")
            expect_equal(version[0]["LaunchTemplateData"], versions[3], f"DescribeLaunchTemplateVersions {asked} LaunchTemplateData as sent (types included)")
        version = ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=["1"])["LaunchTemplateVersions"][0]
        expect_equal((version["DefaultVersion"], version["LaunchTemplateData"]), (False, create["LaunchTemplateData"]), "DescribeLaunchTemplateVersions 1")
        all_versions, pages = [], 0
        for page in ec2.get_paginator("describe_launch_template_versions").paginate(LaunchTemplateId=template, PaginationConfig={"PageSize": 2}):
            all_versions += [v["VersionNumber"] for v in page["LaunchTemplateVersions"]]
            pages += 1
        expect_equal((sorted(all_versions), pages), ([1, 2, 3], 2), "DescribeLaunchTemplateVersions (MaxResults=2) versions/pages")

    # -- Auto Scaling: the web tier's group ----------------------------------------------------

    def check_web_autoscaling(self):
        asg = self.autoscaling
        stack = self.name("web")
        group, other = self.name("web-asg"), self.name("web-asg-2")
        types = ["t3.medium", "t3a.medium", "m6i.large", "m6a.large", "m7i.large"]
        policy = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": self.web_template, "Version": "2"},
                "Overrides": [{"InstanceType": t} for t in types],
            },
            "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 0, "SpotAllocationStrategy": "price-capacity-optimized"},
        }
        tags = [{"Key": "moodle-ha:stack", "Value": stack, "PropagateAtLaunch": True}, {"Key": "Name", "Value": stack, "PropagateAtLaunch": False}]
        hook = {"LifecycleHookName": "drain", "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING", "HeartbeatTimeout": 150, "DefaultResult": "CONTINUE"}
        create = dict(
            MixedInstancesPolicy=policy, MinSize=2, MaxSize=8, DesiredCapacity=4, VPCZoneIdentifier=",".join(self.private_subnets),
            TargetGroupARNs=[self.web_tg], HealthCheckType="ELB", HealthCheckGracePeriod=300, CapacityRebalance=True, Tags=tags,
            LifecycleHookSpecificationList=[hook],
        )
        asg.create_auto_scaling_group(AutoScalingGroupName=group, **create)
        asg.create_auto_scaling_group(AutoScalingGroupName=other, **dict(create, MinSize=0, DesiredCapacity=1, TargetGroupARNs=[], LifecycleHookSpecificationList=[]))
        asg.create_auto_scaling_group(
            AutoScalingGroupName=self.name("not-web"), MinSize=0, MaxSize=1, VPCZoneIdentifier=self.private_subnets[0],
            LaunchTemplate={"LaunchTemplateId": self.web_template, "Version": "1"}, Tags=[{"Key": "moodle-ha:stack", "Value": "another", "PropagateAtLaunch": True}],
        )
        found, pages = paginate(asg, "describe_auto_scaling_groups", "AutoScalingGroups", 1, Filters=[{"Name": "tag:moodle-ha:stack", "Values": [stack]}])
        expect_equal(sorted(g["AutoScalingGroupName"] for g in found), sorted([group, other]), "DescribeAutoScalingGroups tag:moodle-ha:stack filter")
        expect(pages >= 2, "DescribeAutoScalingGroups (MaxRecords=1): 2 groups must take 2 pages:", pages)

        def describe(name=group):
            return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]

        wanted_policy = copy.deepcopy(policy)
        wanted_policy["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateName"] = self.name("web-lt")
        wanted_policy["InstancesDistribution"]["OnDemandAllocationStrategy"] = "prioritized"
        g = describe()
        expect_equal(g.get("MixedInstancesPolicy"), wanted_policy, "DescribeAutoScalingGroups MixedInstancesPolicy (AWS fills OnDemandAllocationStrategy)")
        for field in ("MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "TargetGroupARNs", "HealthCheckType", "HealthCheckGracePeriod", "CapacityRebalance"):
            expect_equal(g.get(field), create[field], f"DescribeAutoScalingGroups {field}")
        expect_equal([{k: t[k] for k in ("Key", "Value", "PropagateAtLaunch")} for t in g["Tags"]], tags, "DescribeAutoScalingGroups Tags")
        hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        expect_equal(hooks, [dict(hook, AutoScalingGroupName=group, GlobalTimeout=15000)], "CreateAutoScalingGroup LifecycleHookSpecificationList, then DescribeLifecycleHooks")
        expect_equal(asg.describe_lifecycle_hooks(AutoScalingGroupName=other)["LifecycleHooks"], [], "DescribeLifecycleHooks of a group without hooks")

        # UpdateAutoScalingGroup: one field at a time; nothing else moves (F7 and the rest).
        compared = ("MixedInstancesPolicy", "MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "TargetGroupARNs",
                    "HealthCheckType", "HealthCheckGracePeriod", "CapacityRebalance", "Tags")
        new_policy = {"LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateId": self.web_template, "Version": "3"}}}
        changes = [
            ({"MaxSize": 9}, {"MaxSize": 9}), ({"MinSize": 3}, {"MinSize": 3}), ({"DesiredCapacity": 5}, {"DesiredCapacity": 5}),
            ({"HealthCheckGracePeriod": 200}, {"HealthCheckGracePeriod": 200}), ({"HealthCheckType": "EC2"}, {"HealthCheckType": "EC2"}),
            ({"CapacityRebalance": False}, {"CapacityRebalance": False}),
            ({"VPCZoneIdentifier": ",".join(self.subnets)}, {"VPCZoneIdentifier": ",".join(self.subnets)}),
        ]
        version3 = copy.deepcopy(wanted_policy)
        version3["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"] = "3"
        changes.append(({"MixedInstancesPolicy": new_policy}, {"MixedInstancesPolicy": version3}))
        fewer = copy.deepcopy(version3)
        fewer["LaunchTemplate"]["Overrides"] = fewer["LaunchTemplate"]["Overrides"][:3]
        changes.append(({"MixedInstancesPolicy": {"LaunchTemplate": {"Overrides": fewer["LaunchTemplate"]["Overrides"]}}}, {"MixedInstancesPolicy": fewer}))
        spot = copy.deepcopy(fewer)
        spot["InstancesDistribution"]["OnDemandBaseCapacity"] = 2
        changes.append(({"MixedInstancesPolicy": {"InstancesDistribution": {"OnDemandBaseCapacity": 2}}}, {"MixedInstancesPolicy": spot}))
        for sent, wanted in changes:
            before = describe()
            asg.update_auto_scaling_group(AutoScalingGroupName=group, **sent)
            after = describe()
            expect_equal({f: after.get(f) for f in compared}, dict({f: before.get(f) for f in compared}, **wanted), f"UpdateAutoScalingGroup with only {sorted(sent)}")
        asg.update_auto_scaling_group(
            AutoScalingGroupName=group, **{k: create[k] for k in ("MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "HealthCheckType", "HealthCheckGracePeriod", "CapacityRebalance")},
            MixedInstancesPolicy=policy,
        )
        expect_equal(describe().get("MixedInstancesPolicy"), wanted_policy, "UpdateAutoScalingGroup with the whole MixedInstancesPolicy")

        # Target groups and lifecycle hooks.
        asg.detach_load_balancer_target_groups(AutoScalingGroupName=group, TargetGroupARNs=[self.web_tg])
        expect_equal(describe()["TargetGroupARNs"], [], "DetachLoadBalancerTargetGroups")
        label = self.web_lb.split(":loadbalancer/")[1] + "/" + self.web_tg.split(":")[-1]
        requests = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}, "TargetValue": 500.0}
        expect_error("ValidationError", asg.put_scaling_policy, AutoScalingGroupName=group, PolicyName=f"{stack}-web-requests",
                     PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=requests)
        asg.attach_load_balancer_target_groups(AutoScalingGroupName=group, TargetGroupARNs=[self.web_tg])
        expect_equal(describe()["TargetGroupARNs"], [self.web_tg], "AttachLoadBalancerTargetGroups")
        asg.put_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="launch", LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout=300, DefaultResult="ABANDON")
        asg.put_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="drain", HeartbeatTimeout=120)
        hooks = {h["LifecycleHookName"]: h for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]}
        expect_equal(hooks.get("drain"), dict(hook, AutoScalingGroupName=group, HeartbeatTimeout=120, GlobalTimeout=12000), "PutLifecycleHook on an existing hook changes only HeartbeatTimeout")
        expect_equal(set(hooks), {"drain", "launch"}, "PutLifecycleHook then DescribeLifecycleHooks")
        asg.delete_lifecycle_hook(AutoScalingGroupName=group, LifecycleHookName="launch")
        expect_equal([h["LifecycleHookName"] for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]], ["drain"], "DeleteLifecycleHook")

        # Scaling policies (F6; names per group; the request-count policy's label).
        cpu = {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 60.0, "DisableScaleIn": False}
        for name in (group, other):
            asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName=f"{stack}-web-cpu", PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=cpu)
        asg.put_scaling_policy(AutoScalingGroupName=group, PolicyName=f"{stack}-web-requests", PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=requests)
        for bad in ("app/other/0123456789abcdef/targetgroup/other/0123456789abcdef", None):
            spec = {"PredefinedMetricType": "ALBRequestCountPerTarget", **({"ResourceLabel": bad} if bad else {})}
            expect_error("ValidationError", asg.put_scaling_policy, AutoScalingGroupName=group, PolicyName=f"{stack}-bad", PolicyType="TargetTrackingScaling",
                         TargetTrackingConfiguration={"PredefinedMetricSpecification": spec, "TargetValue": 1.0})
        policies = {p["PolicyName"]: p for p in asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]}
        expect_equal(sorted(policies), [f"{stack}-web-cpu", f"{stack}-web-requests"], "DescribePolicies(AutoScalingGroupName)")
        for name, config in ((f"{stack}-web-cpu", cpu), (f"{stack}-web-requests", requests)):
            p = policies[name]
            expect_equal((p["PolicyType"], p["TargetTrackingConfiguration"], p.get("Enabled")), ("TargetTrackingScaling", config, True), f"DescribePolicies {name}")
            expect("PredictiveScalingConfiguration" not in p, f"DescribePolicies {name}: no PredictiveScalingConfiguration (F6)")
        expect_equal(len(asg.describe_policies(AutoScalingGroupName=other)["ScalingPolicies"]), 1, "a policy of the same name in another group stays that group's")
        changed = dict(cpu, TargetValue=70.0, DisableScaleIn=True)
        asg.put_scaling_policy(AutoScalingGroupName=group, PolicyName=f"{stack}-web-cpu", PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=changed)
        p = asg.describe_policies(AutoScalingGroupName=group, PolicyNames=[f"{stack}-web-cpu"])["ScalingPolicies"]
        expect_equal([x["TargetTrackingConfiguration"] for x in p], [changed], "PutScalingPolicy again replaces the configuration")
        asg.delete_policy(AutoScalingGroupName=group, PolicyName=f"{stack}-web-requests")
        expect_equal([x["PolicyName"] for x in asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]], [f"{stack}-web-cpu"], "DeletePolicy")
        expect_equal([x["PolicyName"] for x in asg.describe_policies(AutoScalingGroupName=other)["ScalingPolicies"]], [f"{stack}-web-cpu"], "DeletePolicy leaves other groups' policies")

        # Scheduled actions (names per group too).
        night = dict(ScheduledActionName="night", Recurrence="0 22 * * *", MinSize=1, MaxSize=4, DesiredCapacity=2, TimeZone="Europe/Dublin")
        for name in (group, other):
            asg.put_scheduled_update_group_action(AutoScalingGroupName=name, **night)
        actions = asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"]
        expect_equal([{k: a.get(k) for k in night} for a in actions], [night], "DescribeScheduledActions(AutoScalingGroupName)")
        expect(actions[0].get("ScheduledActionARN", "").startswith("arn:aws:autoscaling:"), "DescribeScheduledActions ScheduledActionARN:", actions[0].get("ScheduledActionARN"))
        asg.delete_scheduled_action(AutoScalingGroupName=group, ScheduledActionName="night")
        expect_equal(asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"], [], "DeleteScheduledAction")
        expect_equal(len(asg.describe_scheduled_actions(AutoScalingGroupName=other)["ScheduledUpdateGroupActions"]), 1, "DeleteScheduledAction leaves other groups' actions")

        # Instance refresh.
        preferences = {"MinHealthyPercentage": 90, "InstanceWarmup": 300, "SkipMatching": True}
        refresh = asg.start_instance_refresh(AutoScalingGroupName=group, Strategy="Rolling", Preferences=preferences)["InstanceRefreshId"]
        refreshes = asg.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"]
        expect_equal([(r["InstanceRefreshId"], r["Status"], r["PercentageComplete"]) for r in refreshes], [(refresh, "Successful", 100)], "DescribeInstanceRefreshes")
        expect_equal({k: refreshes[0]["Preferences"].get(k) for k in preferences}, preferences, "DescribeInstanceRefreshes Preferences")
        expect_error("ActiveInstanceRefreshNotFound", asg.cancel_instance_refresh, AutoScalingGroupName=group)

        # Deletion.
        expect_error("ResourceInUse", asg.delete_auto_scaling_group, AutoScalingGroupName=other)
        for name in (group, other, self.name("not-web")):
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
        expect_equal(asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group, other])["AutoScalingGroups"], [], "DeleteAutoScalingGroup ForceDelete: the group is gone")
        expect_equal(asg.describe_policies(AutoScalingGroupName=other)["ScalingPolicies"], [], "DeleteAutoScalingGroup deletes the group's policies")
        expect_equal(asg.describe_scheduled_actions(AutoScalingGroupName=other)["ScheduledUpdateGroupActions"], [], "DeleteAutoScalingGroup deletes the group's scheduled actions")
        expect_equal(asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"], [], "DeleteAutoScalingGroup deletes the group's lifecycle hooks")

        # The web tier's ELB and launch template go last.
        self.ec2.delete_launch_template(LaunchTemplateId=self.web_template)
        expect_equal(self.ec2.describe_launch_templates(Filters=[{"Name": "tag:moodle-ha:stack", "Values": [self.run]}])["LaunchTemplates"], [], "DeleteLaunchTemplate")
        for listener in self.web_listeners:
            self.elbv2.delete_listener(ListenerArn=listener)
        expect_equal(self.elbv2.describe_listeners(LoadBalancerArn=self.web_lb)["Listeners"], [], "DeleteListener")
        target_group = self.elbv2.describe_target_groups(TargetGroupArns=[self.web_tg])["TargetGroups"][0]
        expect_equal(target_group["LoadBalancerArns"], [], "DeleteListener: the target group is behind no load balancer any more")
        self.elbv2.delete_load_balancer(LoadBalancerArn=self.web_lb)
        self.elbv2.delete_target_group(TargetGroupArn=self.web_tg)
        expect_error("LoadBalancerNotFound", self.elbv2.describe_load_balancers, LoadBalancerArns=[self.web_lb])

    # -- IAM -----------------------------------------------------------------------------------

    def check_iam(self):
        iam = self.iam
        raw = {}
        iam.meta.events.register("after-call.iam", lambda http_response, model, **_: raw.__setitem__(model.name, http_response.text))
        stack = self.name("iam")
        path, other_path = f"/moodle-ha/{stack}/", f"/moodle-ha/{stack}-other/"
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        tags = [{"Key": "moodle-ha:stack", "Value": stack}]
        role = f"{stack}-web"
        created = iam.create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=trust, Tags=tags, Description="web")["Role"]
        iam.create_role(RoleName=f"{stack}-web2", Path=path, AssumeRolePolicyDocument=trust)
        iam.create_role(RoleName=f"{stack}-elsewhere", Path=other_path, AssumeRolePolicyDocument=trust)
        expect_equal((created["Path"], created["Arn"].endswith(f":role{path}{role}")), (path, True), "CreateRole Path/Arn")
        roles, pages = [], 0
        for page in iam.get_paginator("list_roles").paginate(PathPrefix=path, PaginationConfig={"PageSize": 1}):
            roles += page["Roles"]
            pages += 1
        expect_equal((sorted(r["RoleName"] for r in roles), pages), (sorted([role, f"{stack}-web2"]), 2), "ListRoles PathPrefix (MaxItems=1) roles/pages")
        encoded = urllib.parse.quote(trust)
        got = iam.get_role(RoleName=role)["Role"]
        expect_equal((got["Description"], got.get("Tags"), got["AssumeRolePolicyDocument"]), ("web", tags, json.loads(trust)), "GetRole")
        for operation in ("CreateRole", "GetRole", "ListRoles"):
            expect(f"<AssumeRolePolicyDocument>{encoded}</AssumeRolePolicyDocument>" in raw[operation], f"{operation}: AssumeRolePolicyDocument must be URL-encoded:", raw[operation][:400])
        document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::moodle/*"}]})
        iam.put_role_policy(RoleName=role, PolicyName="moodledata", PolicyDocument=document)
        expect_equal(iam.get_role_policy(RoleName=role, PolicyName="moodledata")["PolicyDocument"], json.loads(document), "GetRolePolicy")
        expect(f"<PolicyDocument>{urllib.parse.quote(document)}</PolicyDocument>" in raw["GetRolePolicy"], "GetRolePolicy: PolicyDocument must be URL-encoded:", raw["GetRolePolicy"][:400])
        managed = ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]
        for arn in managed:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        expect_equal(sorted(p["PolicyArn"] for p in attached), managed, "AttachRolePolicy (AWS managed policies), then ListAttachedRolePolicies")

        profile = f"{stack}-web"
        iam.create_instance_profile(InstanceProfileName=profile, Path=path, Tags=tags)
        iam.create_instance_profile(InstanceProfileName=f"{stack}-elsewhere", Path=other_path)
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
        profiles = iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"]
        expect_equal([(p["InstanceProfileName"], [r["RoleName"] for r in p["Roles"]]) for p in profiles], [(profile, [role])], "ListInstanceProfiles PathPrefix, with Roles")
        expect(f"<AssumeRolePolicyDocument>{encoded}</AssumeRolePolicyDocument>" in raw["ListInstanceProfiles"], "ListInstanceProfiles: Roles' AssumeRolePolicyDocument must be URL-encoded:", raw["ListInstanceProfiles"][:400])
        expect_error("DeleteConflict", iam.delete_role, RoleName=role)
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
        expect_error("DeleteConflict", iam.delete_role, RoleName=role)
        for arn in managed:
            iam.detach_role_policy(RoleName=role, PolicyArn=arn)
        expect_error("DeleteConflict", iam.delete_role, RoleName=role)
        iam.delete_role_policy(RoleName=role, PolicyName="moodledata")
        for name in (profile, f"{stack}-elsewhere"):
            iam.delete_instance_profile(InstanceProfileName=name)
        for name in (role, f"{stack}-web2", f"{stack}-elsewhere"):
            iam.delete_role(RoleName=name)
        expect_error("NoSuchEntity", iam.get_role, RoleName=role)
        expect_equal(iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"], [], "DeleteInstanceProfile")

    def check_cleanup_network(self):
        for sg in self.sgs:
            self.ec2.delete_security_group(GroupId=sg)
        for subnet in self.subnets + self.private_subnets:
            self.ec2.delete_subnet(SubnetId=subnet)
        self.ec2.delete_vpc(VpcId=self.vpc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--region", default="eu-west-1")
    args = parser.parse_args()
    for variable, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(variable, value)

    checker = Checker(f"http://{args.host}:{args.port}", args.region)
    sections = [
        ("network", checker.check_network),
        ("ElastiCache", checker.check_elasticache),
        ("RDS", checker.check_rds),
        ("Secrets Manager", checker.check_secrets),
        ("Auto Scaling / EC2", checker.check_autoscaling_ec2),
        ("fixtures", checker.check_fixtures),
        ("ELBv2", checker.check_elbv2),
        ("creates sent again", checker.check_idempotent_creates),
        ("launch templates", checker.check_launch_templates),
        ("Auto Scaling (web tier)", checker.check_web_autoscaling),
        ("IAM", checker.check_iam),
        ("cleanup", checker.check_cleanup_network),
    ]
    for title, section in sections:
        try:
            section()
        except Mismatch as mismatch:
            print(f"MISMATCH in {title}: {mismatch}", file=sys.stderr)
            return 1
        except Exception as error:  # an unexpected AWS error, or an answer the SDK cannot parse (HTTP 500)
            here = [
                f for f in traceback.extract_tb(error.__traceback__)
                if os.path.abspath(f.filename) == os.path.abspath(__file__) and f.name not in ("expect_error", "paginate")
            ]
            where = f" (check_emulator.py line {here[-1].lineno}: {here[-1].line})" if here else ""
            text = str(error)
            if "500 Internal Server Error" in text:
                text = "the emulator answered HTTP 500 (an unimplemented action or a crash; see its log)"
            print(f"MISMATCH in {title}{where}: unexpected {type(error).__name__}: {text}", file=sys.stderr)
            return 1
        print(f"ok  {title}")
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

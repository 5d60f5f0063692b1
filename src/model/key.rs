//! Resource identity: a kind and a logical name, stable across runs and stored in the
//! `moodle-ha:resource` tag so the observer can tell which desired resource an AWS one is.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The kinds of resource moodle-ha manages, in dependency-friendly order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A VPC (only when the spec creates the network).
    Vpc,
    /// A subnet of a created VPC.
    Subnet,
    /// The internet gateway of a created VPC.
    InternetGateway,
    /// An Elastic IP for a NAT gateway.
    ElasticIp,
    /// A NAT gateway.
    NatGateway,
    /// A route table and its subnet associations.
    RouteTable,
    /// A security group (the group itself).
    SecurityGroup,
    /// The ingress and egress rules of one security group.
    SecurityGroupRules,
    /// The EFS file system.
    FileSystem,
    /// An EFS mount target (one per AZ).
    MountTarget,
    /// A secret the stack generates (e.g. the Redis AUTH token), in Secrets Manager.
    Secret,
    /// The RDS DB subnet group over the private subnets.
    DbSubnetGroup,
    /// The RDS DB parameter group.
    DbParameterGroup,
    /// The Aurora cluster's parameter group (cluster-level settings such as
    /// `require_secure_transport`).
    DbClusterParameterGroup,
    /// The Aurora MySQL cluster.
    DbCluster,
    /// An RDS MySQL instance, or an Aurora writer or reader.
    DbInstance,
    /// The ElastiCache subnet group over the private subnets.
    CacheSubnetGroup,
    /// The ElastiCache Redis replication group.
    ReplicationGroup,
    /// The IAM role of the web nodes (when the spec names no instance profile).
    IamRole,
    /// The IAM instance profile of the web nodes.
    InstanceProfile,
    /// The stack's S3 bucket: the load balancer's access logs and Moodle releases.
    Bucket,
    /// The load balancer's WAFv2 web ACL (with its association and logging).
    WebAcl,
    /// The application load balancer.
    LoadBalancer,
    /// The web nodes' target group.
    TargetGroup,
    /// A load balancer listener (HTTPS, or HTTP redirecting to HTTPS).
    Listener,
    /// The web nodes' launch template (its default version).
    LaunchTemplate,
    /// The web fleet's Auto Scaling group.
    AutoScalingGroup,
    /// A target-tracking scaling policy of the web fleet.
    ScalingPolicy,
    /// A scheduled action of the web fleet.
    ScheduledAction,
    /// The stable, on-demand cron instance.
    Instance,
    /// The release the nodes run: a record in the stack naming an archive of one commit in
    /// the stack's bucket (uploaded by the same step when the bucket lacks it).
    Release,
    /// A CloudWatch Logs log group the stack writes to (RDS log exports, VPC flow logs …),
    /// with its retention.
    LogGroup,
    /// The flow log of a VPC the stack created.
    FlowLog,
}

const KINDS: &[(Kind, &str)] = &[
    (Kind::Vpc, "vpc"),
    (Kind::Subnet, "subnet"),
    (Kind::InternetGateway, "internet-gateway"),
    (Kind::ElasticIp, "elastic-ip"),
    (Kind::NatGateway, "nat-gateway"),
    (Kind::RouteTable, "route-table"),
    (Kind::SecurityGroup, "security-group"),
    (Kind::SecurityGroupRules, "security-group-rules"),
    (Kind::FileSystem, "file-system"),
    (Kind::MountTarget, "mount-target"),
    (Kind::Secret, "secret"),
    (Kind::DbSubnetGroup, "db-subnet-group"),
    (Kind::DbParameterGroup, "db-parameter-group"),
    (Kind::DbClusterParameterGroup, "db-cluster-parameter-group"),
    (Kind::DbCluster, "db-cluster"),
    (Kind::DbInstance, "db-instance"),
    (Kind::CacheSubnetGroup, "cache-subnet-group"),
    (Kind::ReplicationGroup, "replication-group"),
    (Kind::IamRole, "iam-role"),
    (Kind::InstanceProfile, "instance-profile"),
    (Kind::Bucket, "bucket"),
    (Kind::WebAcl, "web-acl"),
    (Kind::LoadBalancer, "load-balancer"),
    (Kind::TargetGroup, "target-group"),
    (Kind::Listener, "listener"),
    (Kind::LaunchTemplate, "launch-template"),
    (Kind::AutoScalingGroup, "auto-scaling-group"),
    (Kind::ScalingPolicy, "scaling-policy"),
    (Kind::ScheduledAction, "scheduled-action"),
    (Kind::Instance, "instance"),
    (Kind::Release, "release"),
    (Kind::LogGroup, "log-group"),
    (Kind::FlowLog, "flow-log"),
];

impl Kind {
    /// The kind's name as used in keys, tags and output.
    pub fn as_str(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("unknown", |(_, s)| s)
    }

    /// Attributes AWS cannot change in place: a difference in one of them replaces the resource.
    pub fn immutable_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Vpc => &["cidr"],
            Kind::Subnet => &["vpc", "cidr", "availability_zone"],
            Kind::InternetGateway | Kind::ElasticIp | Kind::SecurityGroupRules => &[],
            Kind::NatGateway => &["subnet", "allocation"],
            Kind::RouteTable => &["vpc"],
            Kind::SecurityGroup => &["vpc", "group_name", "description"],
            Kind::FileSystem => &["encrypted", "kms_key_id", "performance_mode"],
            Kind::MountTarget => &["file_system", "subnet"],
            Kind::Secret => &["name"],
            Kind::DbSubnetGroup | Kind::CacheSubnetGroup => &["name"],
            Kind::DbParameterGroup | Kind::DbClusterParameterGroup => &["name", "family"],
            Kind::DbCluster => &[
                "identifier",
                "engine",
                "engine_version",
                "subnet_group",
                "storage_encrypted",
                "kms_key_id",
                "database_name",
                "master_username",
            ],
            Kind::DbInstance => &[
                "identifier",
                "engine",
                "engine_version",
                "cluster",
                "subnet_group",
                "storage_encrypted",
                "kms_key_id",
                "database_name",
                "master_username",
            ],
            Kind::ReplicationGroup => &[
                "id",
                "engine",
                "subnet_group",
                "transit_encryption",
                "at_rest_encryption",
                "auth_token",
            ],
            Kind::IamRole => &["name", "path"],
            Kind::InstanceProfile => &["name", "path"],
            Kind::Bucket | Kind::WebAcl => &["name"],
            Kind::LoadBalancer => &["name", "scheme"],
            Kind::TargetGroup => &["name", "protocol", "port", "vpc", "target_type"],
            Kind::Listener => &["load_balancer"],
            Kind::LaunchTemplate | Kind::LogGroup => &["name"],
            Kind::FlowLog => &[
                "vpc",
                "traffic_type",
                "log_group_name",
                "role",
                "max_aggregation_interval",
            ],
            Kind::AutoScalingGroup => &["name"],
            Kind::ScalingPolicy => &["group", "name"],
            Kind::ScheduledAction => &["group", "name"],
            // A new image, subnet, root volume or user data means a new instance; its type,
            // groups and metadata options change in place (the type by stop, modify, start).
            Kind::Instance => &[
                "image_id",
                "subnet",
                "instance_profile",
                "root_device_name",
                "root_volume_gib",
                "root_volume_type",
                "root_volume_encrypted",
                "user_data",
            ],
            // A new release is a new record (the archive of a commit never changes).
            Kind::Release => &["parameter"],
        }
    }

    /// Settings that steer how a change is made rather than describe the resource (AWS does
    /// not report them back): shown in a plan, never compared with AWS.
    pub fn directives(self) -> &'static [&'static str] {
        match self {
            Kind::DbCluster | Kind::DbInstance => &["apply_immediately", "log_groups"],
            Kind::FlowLog => &["log_group"],
            Kind::ReplicationGroup => &["apply_immediately", "auth_secret"],
            Kind::LaunchTemplate | Kind::Instance => &["user_data_text"],
            Kind::AutoScalingGroup => &["refresh_min_healthy_percent"],
            Kind::ScalingPolicy => &["listener"],
            Kind::FileSystem => &["policy_roles"],
            Kind::WebAcl => &["log_group"],
            _ => &[],
        }
    }

    /// Directives too long to show in a plan's field list (the launch template's user data,
    /// shown by its description instead). They stay in the plan's desired attributes.
    pub fn hidden_fields(self) -> &'static [&'static str] {
        match self {
            Kind::LaunchTemplate | Kind::Instance => &["user_data_text"],
            _ => &[],
        }
    }

    /// Kinds whose replacement or deletion destroys user data: refused unless explicitly allowed.
    /// The stack bucket is one: deleting it deletes the access logs and releases in it.
    pub fn holds_data(self) -> bool {
        matches!(
            self,
            Kind::FileSystem | Kind::DbCluster | Kind::DbInstance | Kind::Bucket
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KINDS
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| format!("unknown resource kind `{s}`"))
    }
}

/// A resource's identity within a stack, written `kind/name` (e.g. `security-group/web`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// What it is.
    pub kind: Kind,
    /// Which one (e.g. `web`, `private-eu-west-1a`).
    pub name: String,
}

impl ResourceKey {
    /// A key.
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl FromStr for ResourceKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not `kind/name`"))?;
        if name.is_empty() {
            return Err(format!("`{s}` has no name"));
        }
        Ok(Self {
            kind: kind.parse()?,
            name: name.to_string(),
        })
    }
}

impl Serialize for ResourceKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for ResourceKey {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResourceKey".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z-]+/.+$",
            "description": "A resource's identity, `kind/name` (e.g. `security-group/web`)."
        })
    }
}

impl<'de> Deserialize<'de> for ResourceKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        for (kind, _) in KINDS {
            let key = ResourceKey::new(*kind, "private-eu-west-1a");
            assert_eq!(key.to_string().parse::<ResourceKey>(), Ok(key));
        }
        assert!("nonsense/x".parse::<ResourceKey>().is_err());
        assert!("subnet/".parse::<ResourceKey>().is_err());
    }
}

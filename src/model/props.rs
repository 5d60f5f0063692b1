//! The managed attributes of each kind of resource. The desired state and the observed state
//! use the same structs, so the planner compares like with like, field by field.

use super::{Kind, Policy, Ref, ResourceKey, Seq, Set};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// MySQL parameters that only take effect when the database restarts. Changing one is
/// planned as "at the next reboot"; moodle-ha never reboots a database on its own.
pub const STATIC_DB_PARAMETERS: &[&str] = &[
    "innodb_buffer_pool_size",
    "innodb_log_buffer_size",
    "innodb_log_file_size",
    "innodb_read_io_threads",
    "innodb_write_io_threads",
    "performance_schema",
    "skip_name_resolve",
];

/// Managed attributes of one resource. A field that is `null` in the desired state means
/// "not managed" (AWS's value is accepted, never reported as drift).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Props {
    /// See [`VpcProps`].
    Vpc(VpcProps),
    /// See [`SubnetProps`].
    Subnet(SubnetProps),
    /// See [`InternetGatewayProps`].
    InternetGateway(InternetGatewayProps),
    /// An Elastic IP has no managed attributes beyond its tags.
    ElasticIp {},
    /// See [`NatGatewayProps`].
    NatGateway(NatGatewayProps),
    /// See [`RouteTableProps`].
    RouteTable(RouteTableProps),
    /// See [`SecurityGroupProps`].
    SecurityGroup(SecurityGroupProps),
    /// See [`SecurityGroupRulesProps`].
    SecurityGroupRules(SecurityGroupRulesProps),
    /// See [`FileSystemProps`].
    FileSystem(FileSystemProps),
    /// See [`MountTargetProps`].
    MountTarget(MountTargetProps),
    /// See [`SecretProps`].
    Secret(SecretProps),
    /// See [`SubnetGroupProps`].
    DbSubnetGroup(SubnetGroupProps),
    /// See [`DbParameterGroupProps`].
    DbParameterGroup(DbParameterGroupProps),
    /// The Aurora cluster's parameter group; see [`DbParameterGroupProps`].
    DbClusterParameterGroup(DbParameterGroupProps),
    /// See [`DbClusterProps`].
    DbCluster(DbClusterProps),
    /// See [`DbInstanceProps`].
    DbInstance(DbInstanceProps),
    /// See [`SubnetGroupProps`].
    CacheSubnetGroup(SubnetGroupProps),
    /// See [`ReplicationGroupProps`].
    ReplicationGroup(ReplicationGroupProps),
    /// See [`IamRoleProps`].
    IamRole(IamRoleProps),
    /// See [`InstanceProfileProps`].
    InstanceProfile(InstanceProfileProps),
    /// See [`BucketProps`].
    Bucket(BucketProps),
    /// See [`WebAclProps`].
    WebAcl(WebAclProps),
    /// See [`LoadBalancerProps`].
    LoadBalancer(LoadBalancerProps),
    /// See [`TargetGroupProps`].
    TargetGroup(TargetGroupProps),
    /// See [`ListenerProps`].
    Listener(ListenerProps),
    /// See [`LaunchTemplateProps`].
    LaunchTemplate(LaunchTemplateProps),
    /// See [`AutoScalingGroupProps`].
    AutoScalingGroup(AutoScalingGroupProps),
    /// See [`ScalingPolicyProps`].
    ScalingPolicy(ScalingPolicyProps),
    /// See [`ScheduledActionProps`].
    ScheduledAction(ScheduledActionProps),
    /// See [`InstanceProps`].
    Instance(InstanceProps),
    /// See [`ReleaseProps`].
    Release(ReleaseProps),
    /// See [`LogGroupProps`].
    LogGroup(LogGroupProps),
    /// See [`FlowLogProps`].
    FlowLog(FlowLogProps),
}

/// A VPC the stack created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VpcProps {
    /// IPv4 CIDR block.
    pub cidr: String,
    /// `enableDnsSupport` (EFS mount by DNS name needs it).
    pub dns_support: bool,
    /// `enableDnsHostnames`.
    pub dns_hostnames: bool,
    /// Rules (sources and destinations) in the VPC's default security group: 0, since nothing
    /// of the stack uses that group and AWS's default rules let anything in it talk to
    /// anything.
    pub default_security_group_rules: u32,
}

/// A subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubnetProps {
    /// Its VPC.
    pub vpc: Ref,
    /// IPv4 CIDR block.
    pub cidr: String,
    /// Availability zone.
    pub availability_zone: String,
}

/// An internet gateway and the VPC it is attached to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InternetGatewayProps {
    /// The attached VPC, if any.
    pub vpc: Option<Ref>,
}

/// A NAT gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NatGatewayProps {
    /// The public subnet it lives in.
    pub subnet: Ref,
    /// Its Elastic IP.
    pub allocation: Ref,
}

/// A route: destination CIDR to a gateway.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    /// Destination CIDR, e.g. `0.0.0.0/0`.
    pub destination: String,
    /// Internet or NAT gateway.
    pub target: Ref,
}

/// A route table, its non-local routes and its subnet associations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteTableProps {
    /// Its VPC.
    pub vpc: Ref,
    /// Routes other than the VPC's local route.
    pub routes: Set<Route>,
    /// Associated subnets.
    pub subnets: Set<Ref>,
}

/// A security group (its rules are a separate resource, so groups can refer to each other
/// without a dependency cycle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupProps {
    /// Its VPC.
    pub vpc: Ref,
    /// The group name, `<stack>-<role>`.
    pub group_name: String,
    /// The description (AWS cannot change it in place).
    pub description: String,
}

/// Where a rule's traffic comes from (ingress) or goes to (egress).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// An IPv4 or IPv6 CIDR block.
    Cidr(String),
    /// Another security group.
    Group(Ref),
    /// A managed prefix list (never desired; seen when added outside moodle-ha).
    PrefixList(String),
}

/// One security group rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    /// `tcp`, `udp` or `-1` (all).
    pub protocol: String,
    /// First port (-1 for all protocols).
    pub from_port: i32,
    /// Last port (-1 for all protocols).
    pub to_port: i32,
    /// Peer.
    pub peer: RuleSource,
    /// Why the rule exists.
    pub description: String,
}

/// The complete ingress and egress rules of one security group: anything else is removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRulesProps {
    /// The group.
    pub group: Ref,
    /// Ingress rules.
    pub ingress: Set<Rule>,
    /// Egress rules.
    pub egress: Set<Rule>,
}

/// The EFS file system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSystemProps {
    /// Encrypted at rest.
    pub encrypted: bool,
    /// KMS key; `None` in the desired state accepts the AWS managed key.
    pub kms_key_id: Option<String>,
    /// `generalPurpose` or `maxIO`.
    pub performance_mode: String,
    /// `elastic`, `bursting` or `provisioned`.
    pub throughput_mode: String,
    /// MiB/s with `provisioned`.
    pub provisioned_throughput_mibps: Option<f64>,
    /// Lifecycle transition to Infrequent Access, `NONE` when there is none.
    pub transition_to_ia: String,
    /// Lifecycle transition back to Standard, `NONE` when there is none.
    pub transition_to_primary_storage_class: String,
    /// Automatic backups.
    pub backup: bool,
    /// The file-system policy, its statements without `Resource` (the file system's own ARN
    /// is added when it is put and taken out when it is read); `null` when it has none.
    #[serde(default)]
    pub policy: Policy,
    /// Directive: the node roles the policy names, which must exist before it is put
    /// (ordering only).
    #[serde(default)]
    pub policy_roles: Set<Ref>,
}

/// An EFS mount target in one AZ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MountTargetProps {
    /// The file system.
    pub file_system: Ref,
    /// The private subnet.
    pub subnet: Ref,
    /// Security groups.
    pub security_groups: Set<Ref>,
}

/// A secret whose value moodle-ha generates and never shows (only its name and ARN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretProps {
    /// The secret's name, `moodle-ha/<stack>/<purpose>`.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its resource policy (`null` for none): who may use it
    /// ([`crate::desired::secret_policy`]).
    #[serde(default)]
    pub policy: Policy,
}

/// The release the nodes run: the record (an SSM parameter) and the archive it names in the
/// stack's bucket. Every field but `parameter` and `bucket` is the record's
/// ([`crate::release::Release`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseProps {
    /// The SSM parameter, `/moodle-ha/<stack>/release`.
    pub parameter: String,
    /// The stack's bucket, holding the archive.
    pub bucket: Ref,
    /// The commit.
    pub commit: String,
    /// The archive's key, `releases/<commit>.tar.gz`.
    pub key: String,
    /// The archive's SHA-256 (hex).
    pub sha256: String,
    /// Moodle's `$version`.
    pub version: String,
    /// Moodle's `$release`.
    pub release: String,
    /// Moodle's `$branch`.
    pub branch: String,
}

impl ReleaseProps {
    /// The record these attributes hold.
    pub fn record(&self) -> crate::release::Release {
        crate::release::Release {
            commit: self.commit.clone(),
            key: self.key.clone(),
            sha256: self.sha256.clone(),
            version: self.version.clone(),
            release: self.release.clone(),
            branch: self.branch.clone(),
        }
    }

    /// The attributes of `record`, stored in `parameter`, the archive in `bucket`.
    pub fn of(parameter: String, bucket: Ref, record: &crate::release::Release) -> Self {
        Self {
            parameter,
            bucket,
            commit: record.commit.clone(),
            key: record.key.clone(),
            sha256: record.sha256.clone(),
            version: record.version.clone(),
            release: record.release.clone(),
            branch: record.branch.clone(),
        }
    }
}

/// A DB or cache subnet group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubnetGroupProps {
    /// Its name, `<stack>-db` or `<stack>-redis`.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The private subnets.
    pub subnets: Set<Ref>,
}

/// The DB parameter group and the parameters the spec sets (anything else set by hand is drift).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbParameterGroupProps {
    /// Its name; includes the family so an engine change gets a new group.
    pub name: String,
    /// The family, e.g. `mysql8.4` or `aurora-mysql8.0`.
    pub family: String,
    /// Its description.
    pub description: String,
    /// User-set parameters, name to value (sizes in bytes).
    pub parameters: BTreeMap<String, String>,
}

/// The Aurora MySQL cluster (storage, backups, credentials; the instances are separate).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbClusterProps {
    /// The cluster identifier, `<stack>-db`.
    pub identifier: String,
    /// `aurora-mysql`.
    pub engine: String,
    /// Major version: `3` for Aurora MySQL 3.
    pub engine_version: String,
    /// The DB subnet group.
    pub subnet_group: Ref,
    /// The cluster parameter group.
    pub parameter_group: Ref,
    /// VPC security groups.
    pub security_groups: Set<Ref>,
    /// Storage encryption.
    pub storage_encrypted: bool,
    /// KMS key; `None` in the desired state accepts the AWS managed key.
    pub kms_key_id: Option<String>,
    /// The initial database.
    pub database_name: String,
    /// The master user.
    pub master_username: String,
    /// The master password is managed by AWS in Secrets Manager.
    pub managed_master_password: bool,
    /// Automated backup retention, days.
    pub backup_retention_days: u32,
    /// Daily backup window (UTC).
    pub backup_window: String,
    /// Weekly maintenance window (UTC).
    pub maintenance_window: String,
    /// Deletion protection.
    pub deletion_protection: bool,
    /// Tags copied to snapshots.
    pub copy_tags_to_snapshot: bool,
    /// Logs exported to CloudWatch Logs (`error`, `slowquery`).
    pub cloudwatch_logs_exports: Set<String>,
    /// Directive: the log groups the exports write to, made before the cluster (ordering only).
    #[serde(default)]
    pub log_groups: Set<Ref>,
    /// Directive: apply modifications now rather than in the maintenance window.
    pub apply_immediately: bool,
}

/// An RDS MySQL instance, or an Aurora writer or reader (whose storage, backups and
/// credentials belong to the cluster: those fields are `None` for them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbInstanceProps {
    /// The instance identifier.
    pub identifier: String,
    /// `mysql` or `aurora-mysql`.
    pub engine: String,
    /// Major version (`8.0`, `8.4`; `None` for Aurora members, set by the cluster).
    pub engine_version: Option<String>,
    /// Instance class, e.g. `db.r6g.large`.
    pub instance_class: String,
    /// The Aurora cluster this instance belongs to.
    pub cluster: Option<Ref>,
    /// Aurora only: failover priority, 0 (the writer's) to 15.
    pub promotion_tier: Option<i32>,
    /// The DB subnet group (`None` for Aurora members: the cluster's).
    pub subnet_group: Option<Ref>,
    /// The DB parameter group.
    pub parameter_group: Ref,
    /// VPC security groups (`None` for Aurora members: the cluster's).
    pub security_groups: Option<Set<Ref>>,
    /// Never reachable from the internet.
    pub publicly_accessible: bool,
    /// A synchronous standby in another AZ (RDS MySQL).
    pub multi_az: Option<bool>,
    /// `gp3`, `io2` … (RDS MySQL).
    pub storage_type: Option<String>,
    /// Allocated storage, GiB (RDS MySQL).
    pub allocated_storage_gib: Option<u32>,
    /// Storage autoscaling ceiling, GiB (RDS MySQL).
    pub max_allocated_storage_gib: Option<u32>,
    /// Storage encryption (RDS MySQL).
    pub storage_encrypted: Option<bool>,
    /// KMS key; `None` accepts the AWS managed key.
    pub kms_key_id: Option<String>,
    /// The initial database (RDS MySQL).
    pub database_name: Option<String>,
    /// The master user (RDS MySQL).
    pub master_username: Option<String>,
    /// The master password is managed by AWS in Secrets Manager (RDS MySQL).
    pub managed_master_password: Option<bool>,
    /// Automated backup retention, days (RDS MySQL).
    pub backup_retention_days: Option<u32>,
    /// Daily backup window, UTC (RDS MySQL).
    pub backup_window: Option<String>,
    /// Weekly maintenance window, UTC.
    pub maintenance_window: String,
    /// Deletion protection (RDS MySQL).
    pub deletion_protection: Option<bool>,
    /// Tags copied to snapshots (RDS MySQL).
    pub copy_tags_to_snapshot: Option<bool>,
    /// Logs exported to CloudWatch Logs (RDS MySQL; an Aurora member's are its cluster's).
    pub cloudwatch_logs_exports: Option<Set<String>>,
    /// Enhanced monitoring: seconds between OS metrics, 0 when off.
    pub monitoring_interval: u32,
    /// The role RDS publishes enhanced monitoring metrics with (`None` when off).
    pub monitoring_role: Option<Ref>,
    /// Performance Insights.
    pub performance_insights: bool,
    /// Directive: the log groups the exports write to, made before the instance (ordering only).
    #[serde(default)]
    pub log_groups: Set<Ref>,
    /// Directive: apply modifications now rather than in the maintenance window.
    pub apply_immediately: bool,
}

/// The ElastiCache Redis replication group (cluster mode off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicationGroupProps {
    /// The replication group ID, `<stack>-redis`.
    pub id: String,
    /// Its description.
    pub description: String,
    /// `redis`.
    pub engine: String,
    /// Major.minor engine version, e.g. `7.1`.
    pub engine_version: String,
    /// Node type, e.g. `cache.r7g.large`.
    pub node_type: String,
    /// Replicas next to the primary.
    pub replicas: u32,
    /// Promote a replica when the primary fails.
    pub automatic_failover: bool,
    /// Nodes spread over AZs.
    pub multi_az: bool,
    /// The cache subnet group.
    pub subnet_group: Ref,
    /// VPC security groups.
    pub security_groups: Set<Ref>,
    /// TLS between clients and nodes.
    pub transit_encryption: bool,
    /// Encryption at rest.
    pub at_rest_encryption: bool,
    /// Clients must send the AUTH token.
    pub auth_token: bool,
    /// Directive: the secret holding the AUTH token (AWS does not say which one it was).
    pub auth_secret: Option<Ref>,
    /// Daily snapshots kept.
    pub snapshot_retention_days: u32,
    /// AWS applies minor engine versions (security fixes) in the maintenance window.
    pub auto_minor_version_upgrade: bool,
    /// Weekly maintenance window (UTC).
    pub maintenance_window: String,
    /// Directive: apply modifications now rather than in the maintenance window.
    pub apply_immediately: bool,
}

/// An IAM role for EC2 instances with exactly the permissions the spec's nodes need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IamRoleProps {
    /// Role name.
    pub name: String,
    /// Path, `/moodle-ha/<stack>/`.
    pub path: String,
    /// Description.
    pub description: String,
    /// Who may assume it (EC2).
    pub assume_role_policy: Policy,
    /// AWS managed policies attached (ARNs).
    pub managed_policies: Set<String>,
    /// The one inline policy, `moodle-ha`.
    pub inline_policy: Policy,
}

/// An IAM instance profile holding one role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceProfileProps {
    /// Profile name.
    pub name: String,
    /// Path, `/moodle-ha/<stack>/`.
    pub path: String,
    /// Its role.
    pub role: Ref,
}

/// The stack's S3 bucket: the load balancer's access logs under one prefix, Moodle releases
/// under another. Private, encrypted, TLS only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BucketProps {
    /// The globally unique name, `moodle-ha-<stack>-<account>-<region>`.
    pub name: String,
    /// Default encryption: `AES256` (SSE-S3, the only one ALB access logs accept).
    pub encryption: String,
    /// All four public access block settings on (any one off reads as `false`).
    pub block_public_access: bool,
    /// `BucketOwnerEnforced`: ACLs off, the bucket owns every object written to it.
    pub object_ownership: String,
    /// The enabled lifecycle expirations, key prefix to days (the access logs'; never the
    /// releases').
    pub expiration_days: BTreeMap<String, u32>,
    /// The bucket policy: TLS only, and the region's ELB log delivery may write the logs.
    pub policy: Policy,
}

/// An AWS managed rule group in the web ACL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManagedRuleGroup {
    /// Evaluation order (lower first).
    pub priority: u32,
    /// Rules of the group that only count (an action override), never block.
    pub count: Set<String>,
}

/// The load balancer's regional WAFv2 web ACL: AWS managed rule groups, a per-IP rate rule,
/// the load balancer it protects and where it logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebAclProps {
    /// Name, `<stack>-alb`.
    pub name: String,
    /// What a request no rule blocks gets: `allow`.
    pub default_action: String,
    /// AWS managed rule groups by name.
    pub managed_rule_groups: BTreeMap<String, ManagedRuleGroup>,
    /// Requests one client IP may send in 5 minutes before the rate rule blocks it.
    pub rate_limit: u32,
    /// Any other rule, by name (none is wanted: one added by hand is drift).
    pub other_rules: Set<String>,
    /// The load balancer it protects.
    pub load_balancer: Option<Ref>,
    /// The CloudWatch Logs group it logs to, by ARN.
    pub log_destination: Option<String>,
    /// Directive: that log group, which must exist first (ordering only).
    #[serde(default)]
    pub log_group: Option<Ref>,
}

/// The internet-facing application load balancer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerProps {
    /// Name, `<stack>-alb`.
    pub name: String,
    /// `internet-facing`.
    pub scheme: String,
    /// Public subnets.
    pub subnets: Set<Ref>,
    /// Security groups.
    pub security_groups: Set<Ref>,
    /// Idle connection timeout, seconds.
    pub idle_timeout_seconds: u32,
    /// `routing.http.drop_invalid_header_fields.enabled`: headers that are not valid HTTP
    /// never reach the nodes.
    pub drop_invalid_header_fields: bool,
    /// `routing.http.desync_mitigation_mode`: `defensive` or `strictest`.
    pub desync_mitigation_mode: String,
    /// `deletion_protection.enabled`: turned off only by `destroy --disable-deletion-protection`.
    pub deletion_protection: bool,
    /// The bucket the access logs go to (`access_logs.s3.enabled` and `.bucket`); `None`:
    /// access logs off.
    pub access_logs_bucket: Option<Ref>,
    /// The access logs' key prefix in it (`access_logs.s3.prefix`).
    pub access_logs_prefix: String,
}

/// The web nodes' target group: health check, deregistration delay and stickiness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupProps {
    /// Name, `<stack>-web`.
    pub name: String,
    /// `HTTP`.
    pub protocol: String,
    /// Port on the nodes.
    pub port: u32,
    /// Its VPC.
    pub vpc: Ref,
    /// `instance`.
    pub target_type: String,
    /// Health check path.
    pub health_check_path: String,
    /// Seconds between checks.
    pub health_check_interval_seconds: u32,
    /// Seconds before a check times out.
    pub health_check_timeout_seconds: u32,
    /// Successes before healthy.
    pub healthy_threshold: u32,
    /// Failures before unhealthy.
    pub unhealthy_threshold: u32,
    /// HTTP codes that count as healthy.
    pub matcher: String,
    /// Seconds a leaving node keeps its in-flight requests.
    pub deregistration_delay_seconds: u32,
    /// Load-balancer cookie stickiness.
    pub stickiness_enabled: bool,
    /// Cookie lifetime, seconds.
    pub stickiness_duration_seconds: u32,
}

/// What a listener does with a request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ListenerAction {
    /// Send it to a target group.
    Forward {
        /// The target group.
        target_group: Ref,
    },
    /// Redirect it (HTTP to HTTPS).
    Redirect {
        /// `HTTPS`.
        protocol: String,
        /// `443`.
        port: String,
        /// `HTTP_301`.
        status_code: String,
    },
}

/// A load balancer listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenerProps {
    /// The load balancer.
    pub load_balancer: Ref,
    /// `HTTPS` or `HTTP`.
    pub protocol: String,
    /// 443 or 80.
    pub port: u32,
    /// ACM certificate (HTTPS).
    pub certificate_arn: Option<String>,
    /// TLS policy (HTTPS).
    pub ssl_policy: Option<String>,
    /// The default action.
    pub action: ListenerAction,
}

/// The launch template's default version: what every new web node is launched with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchTemplateProps {
    /// Name, `<stack>-web`.
    pub name: String,
    /// AMI ID (an SSM parameter in the spec is resolved at plan time).
    pub image_id: String,
    /// Instance profile, by name.
    pub instance_profile: Ref,
    /// Security groups.
    pub security_groups: Set<Ref>,
    /// `required`: IMDSv2 only.
    pub http_tokens: String,
    /// IMDS hop limit (1 keeps containers off the metadata service).
    pub http_put_response_hop_limit: u32,
    /// Instance tags in the metadata (the Spot watcher reads its group's name there).
    pub instance_metadata_tags: bool,
    /// The AMI's root device.
    pub root_device_name: String,
    /// Root volume size, GiB.
    pub root_volume_gib: u32,
    /// `gp3`.
    pub root_volume_type: String,
    /// Root volume encrypted.
    pub root_volume_encrypted: bool,
    /// Detailed (one-minute) CloudWatch monitoring of the nodes.
    pub detailed_monitoring: bool,
    /// What the user data is, with a hash of it (e.g. `web node, Moodle 4.5, … sha256:…`).
    pub user_data: String,
    /// Directive: the user data itself (not compared; its description is).
    pub user_data_text: Option<String>,
}

/// The web fleet's Auto Scaling group with its mixed instances policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoScalingGroupProps {
    /// Name, `<stack>-web`.
    pub name: String,
    /// The launch template.
    pub launch_template: Ref,
    /// Which content of the template the group launches: the fingerprint stored as the
    /// template version's description (the group itself names an explicit version number).
    pub launch_template_version: String,
    /// Smallest size.
    pub min_size: u32,
    /// Largest size.
    pub max_size: u32,
    /// Desired size; `None` leaves it to the scaling policies.
    pub desired_capacity: Option<u32>,
    /// Private subnets.
    pub subnets: Set<Ref>,
    /// Instance types, in priority order (a sequence: reordering them is a change).
    pub instance_types: Seq<String>,
    /// On-demand floor.
    pub on_demand_base_capacity: u32,
    /// Percent on-demand above the floor.
    pub on_demand_percentage_above_base: u32,
    /// `price-capacity-optimized`.
    pub spot_allocation_strategy: String,
    /// Replace Spot nodes at elevated risk before they are interrupted.
    pub capacity_rebalance: bool,
    /// Target groups.
    pub target_groups: Set<Ref>,
    /// `ELB`.
    pub health_check_type: String,
    /// Seconds after launch before health checks count.
    pub health_check_grace_seconds: u32,
    /// Seconds a terminating node may drain (termination lifecycle hook heartbeat).
    pub termination_drain_seconds: u32,
    /// Seconds a new node may stay out of service between heartbeats before it serves (the
    /// launch lifecycle hook its boot script completes; abandoned, so replaced, after that).
    pub launch_ready_seconds: u32,
    /// Directive: instance refresh minimum healthy percentage.
    pub refresh_min_healthy_percent: u32,
}

/// A target-tracking scaling policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicyProps {
    /// The group.
    pub group: Ref,
    /// Policy name, `<stack>-web-<metric>`.
    pub name: String,
    /// `ASGAverageCPUUtilization` or `ALBRequestCountPerTarget`.
    pub metric: String,
    /// The value to keep the metric at.
    pub target_value: f64,
    /// For requests per target: the target group measured.
    pub target_group: Option<Ref>,
    /// Directive: the listener that attaches the target group to the load balancer, which
    /// the requests metric needs before the policy can be made (ordering only).
    #[serde(default)]
    pub listener: Option<Ref>,
}

/// A scheduled change of the fleet's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduledActionProps {
    /// The group.
    pub group: Ref,
    /// Action name.
    pub name: String,
    /// Cron expression.
    pub recurrence: String,
    /// Time zone of the recurrence.
    pub time_zone: String,
    /// New minimum.
    pub min_size: Option<u32>,
    /// New maximum.
    pub max_size: Option<u32>,
    /// New desired size.
    pub desired_capacity: Option<u32>,
}

/// An EC2 instance (the cron instance): on-demand, IMDSv2 only, encrypted root volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceProps {
    /// AMI ID.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Its private subnet.
    pub subnet: Ref,
    /// Security groups.
    pub security_groups: Set<Ref>,
    /// Instance profile, by name.
    pub instance_profile: Ref,
    /// `required`: IMDSv2 only.
    pub http_tokens: String,
    /// IMDS hop limit.
    pub http_put_response_hop_limit: u32,
    /// The AMI's root device.
    pub root_device_name: String,
    /// Root volume size, GiB.
    pub root_volume_gib: u32,
    /// `gp3`.
    pub root_volume_type: String,
    /// Root volume encrypted.
    pub root_volume_encrypted: bool,
    /// Detailed (one-minute) CloudWatch monitoring.
    pub detailed_monitoring: bool,
    /// What the user data is, with a hash of it.
    pub user_data: String,
    /// Directive: the user data itself (not compared; its description is).
    pub user_data_text: Option<String>,
}

/// A CloudWatch Logs log group and how long it keeps its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogGroupProps {
    /// The log group's name (fixed by AWS for RDS exports, e.g. `/aws/rds/instance/<id>/error`).
    pub name: String,
    /// Days its events are kept; `None` when observed means they never expire.
    pub retention_days: Option<u32>,
}

/// The flow log of a VPC the stack created, to a log group of the stack. AWS cannot change
/// a flow log: any difference replaces it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowLogProps {
    /// The VPC.
    pub vpc: Ref,
    /// `ALL`: accepted and rejected traffic.
    pub traffic_type: String,
    /// The log group's name.
    pub log_group_name: String,
    /// The role the flow logs service delivers with.
    pub role: Ref,
    /// Seconds over which packets are aggregated into one record (60 or 600).
    pub max_aggregation_interval: u32,
    /// Directive: the log group (ordering only).
    #[serde(default)]
    pub log_group: Option<Ref>,
}

impl Props {
    /// The kind of resource these attributes describe.
    pub fn kind(&self) -> Kind {
        match self {
            Props::Vpc(_) => Kind::Vpc,
            Props::Subnet(_) => Kind::Subnet,
            Props::InternetGateway(_) => Kind::InternetGateway,
            Props::ElasticIp {} => Kind::ElasticIp,
            Props::NatGateway(_) => Kind::NatGateway,
            Props::RouteTable(_) => Kind::RouteTable,
            Props::SecurityGroup(_) => Kind::SecurityGroup,
            Props::SecurityGroupRules(_) => Kind::SecurityGroupRules,
            Props::FileSystem(_) => Kind::FileSystem,
            Props::MountTarget(_) => Kind::MountTarget,
            Props::Secret(_) => Kind::Secret,
            Props::DbSubnetGroup(_) => Kind::DbSubnetGroup,
            Props::DbParameterGroup(_) => Kind::DbParameterGroup,
            Props::DbClusterParameterGroup(_) => Kind::DbClusterParameterGroup,
            Props::DbCluster(_) => Kind::DbCluster,
            Props::DbInstance(_) => Kind::DbInstance,
            Props::CacheSubnetGroup(_) => Kind::CacheSubnetGroup,
            Props::ReplicationGroup(_) => Kind::ReplicationGroup,
            Props::IamRole(_) => Kind::IamRole,
            Props::InstanceProfile(_) => Kind::InstanceProfile,
            Props::Bucket(_) => Kind::Bucket,
            Props::WebAcl(_) => Kind::WebAcl,
            Props::LoadBalancer(_) => Kind::LoadBalancer,
            Props::TargetGroup(_) => Kind::TargetGroup,
            Props::Listener(_) => Kind::Listener,
            Props::LaunchTemplate(_) => Kind::LaunchTemplate,
            Props::AutoScalingGroup(_) => Kind::AutoScalingGroup,
            Props::ScalingPolicy(_) => Kind::ScalingPolicy,
            Props::ScheduledAction(_) => Kind::ScheduledAction,
            Props::Instance(_) => Kind::Instance,
            Props::Release(_) => Kind::Release,
            Props::LogGroup(_) => Kind::LogGroup,
            Props::FlowLog(_) => Kind::FlowLog,
        }
    }

    /// A short hash of the managed attributes (directives left out): equal content, equal
    /// fingerprint. Launch template versions carry it as their description.
    pub fn fingerprint(&self) -> String {
        let directives = self.kind().directives();
        let fields: BTreeMap<String, Value> = self
            .fields()
            .into_iter()
            .filter(|(k, _)| !directives.contains(&k.as_str()))
            .collect();
        let text = serde_json::to_string(&fields).unwrap_or_default();
        let hash: String = Sha256::digest(text.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("moodle-ha:{hash}")
    }

    /// Replacing or deleting this resource destroys user data: the file system, the Aurora
    /// cluster, an RDS MySQL instance (an Aurora member's data lives in its cluster).
    pub fn holds_data(&self) -> bool {
        match self {
            Props::DbInstance(p) => p.cluster.is_none(),
            other => other.kind().holds_data(),
        }
    }

    /// The deletion protection flag, for resources that have one (databases, the load
    /// balancer).
    pub fn deletion_protection(&self) -> bool {
        match self {
            Props::DbCluster(p) => p.deletion_protection,
            Props::DbInstance(p) => p.deletion_protection.unwrap_or(false),
            Props::LoadBalancer(p) => p.deletion_protection,
            _ => false,
        }
    }

    /// Top-level attributes by name, as JSON values (the unit of field-level diffs).
    pub fn fields(&self) -> BTreeMap<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.into_iter().filter(|(k, _)| k != "kind").collect(),
            _ => BTreeMap::new(),
        }
    }

    /// Every reference this resource holds, for rewriting (see [`Props::map_refs`]).
    fn refs_mut(&mut self) -> Vec<&mut Ref> {
        match self {
            Props::Vpc(_)
            | Props::ElasticIp {}
            | Props::Secret(_)
            | Props::Bucket(_)
            | Props::DbParameterGroup(_)
            | Props::DbClusterParameterGroup(_)
            | Props::IamRole(_)
            | Props::LogGroup(_) => vec![],
            Props::InstanceProfile(p) => vec![&mut p.role],
            Props::FileSystem(p) => p.policy_roles.values_mut().collect(),
            Props::WebAcl(p) => p
                .load_balancer
                .iter_mut()
                .chain(p.log_group.iter_mut())
                .collect(),
            Props::LoadBalancer(p) => p
                .subnets
                .values_mut()
                .chain(p.security_groups.values_mut())
                .chain(p.access_logs_bucket.iter_mut())
                .collect(),
            Props::TargetGroup(p) => vec![&mut p.vpc],
            Props::Listener(p) => {
                let mut refs = vec![&mut p.load_balancer];
                if let ListenerAction::Forward { target_group } = &mut p.action {
                    refs.push(target_group);
                }
                refs
            }
            Props::LaunchTemplate(p) => {
                let mut refs = vec![&mut p.instance_profile];
                refs.extend(p.security_groups.values_mut());
                refs
            }
            Props::AutoScalingGroup(p) => {
                let mut refs = vec![&mut p.launch_template];
                refs.extend(p.subnets.values_mut());
                refs.extend(p.target_groups.values_mut());
                refs
            }
            Props::ScalingPolicy(p) => {
                let mut refs = vec![&mut p.group];
                refs.extend(p.target_group.iter_mut());
                refs.extend(p.listener.iter_mut());
                refs
            }
            Props::ScheduledAction(p) => vec![&mut p.group],
            Props::Release(p) => vec![&mut p.bucket],
            Props::Instance(p) => {
                let mut refs = vec![&mut p.subnet, &mut p.instance_profile];
                refs.extend(p.security_groups.values_mut());
                refs
            }
            Props::DbSubnetGroup(p) | Props::CacheSubnetGroup(p) => {
                p.subnets.values_mut().collect()
            }
            Props::DbCluster(p) => {
                let mut refs = vec![&mut p.subnet_group, &mut p.parameter_group];
                refs.extend(p.security_groups.values_mut());
                refs.extend(p.log_groups.values_mut());
                refs
            }
            Props::FlowLog(p) => {
                let mut refs = vec![&mut p.vpc, &mut p.role];
                refs.extend(p.log_group.iter_mut());
                refs
            }
            Props::DbInstance(p) => {
                let mut refs = vec![&mut p.parameter_group];
                refs.extend(p.monitoring_role.iter_mut());
                refs.extend(p.log_groups.values_mut());
                refs.extend(p.cluster.iter_mut());
                refs.extend(p.subnet_group.iter_mut());
                refs.extend(p.security_groups.iter_mut().flat_map(Set::values_mut));
                refs
            }
            Props::ReplicationGroup(p) => {
                let mut refs = vec![&mut p.subnet_group];
                refs.extend(p.security_groups.values_mut());
                refs.extend(p.auth_secret.iter_mut());
                refs
            }
            Props::Subnet(p) => vec![&mut p.vpc],
            Props::InternetGateway(p) => p.vpc.iter_mut().collect(),
            Props::NatGateway(p) => vec![&mut p.subnet, &mut p.allocation],
            Props::RouteTable(p) => {
                let mut refs = vec![&mut p.vpc];
                refs.extend(p.routes.values_mut().map(|r| &mut r.target));
                refs.extend(p.subnets.values_mut());
                refs
            }
            Props::SecurityGroup(p) => vec![&mut p.vpc],
            Props::SecurityGroupRules(p) => {
                let mut refs = vec![&mut p.group];
                for rule in p.ingress.values_mut().chain(p.egress.values_mut()) {
                    if let RuleSource::Group(r) = &mut rule.peer {
                        refs.push(r);
                    }
                }
                refs
            }
            Props::MountTarget(p) => {
                let mut refs = vec![&mut p.file_system, &mut p.subnet];
                refs.extend(p.security_groups.values_mut());
                refs
            }
        }
    }

    /// The managed resources this one refers to: it is created after them and deleted
    /// before them.
    pub fn dependencies(&self) -> Vec<ResourceKey> {
        let mut copy = self.clone();
        let mut keys: Vec<ResourceKey> = copy
            .refs_mut()
            .into_iter()
            .filter_map(|r| match r {
                Ref::Managed { key } => Some(key.clone()),
                Ref::External(_) => None,
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Rewrites every reference with `f`, then restores canonical order of sorted lists
    /// (used to turn observed AWS IDs into keys).
    pub fn map_refs(&mut self, f: impl Fn(&Ref) -> Ref) {
        for r in self.refs_mut() {
            *r = f(r);
        }
        self.normalize();
    }

    /// Restores the sorted order of every [`Set`] after references in it were rewritten
    /// (iteration order only: sets compare and serialize alike in any order).
    pub fn normalize(&mut self) {
        match self {
            Props::RouteTable(p) => {
                p.routes.restore_order();
                p.subnets.restore_order();
            }
            Props::SecurityGroupRules(p) => {
                p.ingress.restore_order();
                p.egress.restore_order();
            }
            Props::MountTarget(p) => p.security_groups.restore_order(),
            Props::FileSystem(p) => p.policy_roles.restore_order(),
            Props::WebAcl(p) => {
                p.other_rules.restore_order();
                for g in p.managed_rule_groups.values_mut() {
                    g.count.restore_order();
                }
            }
            Props::DbSubnetGroup(p) | Props::CacheSubnetGroup(p) => p.subnets.restore_order(),
            Props::DbCluster(p) => {
                p.security_groups.restore_order();
                p.log_groups.restore_order();
            }
            Props::DbInstance(p) => {
                if let Some(groups) = &mut p.security_groups {
                    groups.restore_order();
                }
                p.log_groups.restore_order();
            }
            Props::ReplicationGroup(p) => p.security_groups.restore_order(),
            Props::LoadBalancer(p) => {
                p.subnets.restore_order();
                p.security_groups.restore_order();
            }
            Props::LaunchTemplate(p) => p.security_groups.restore_order(),
            Props::Instance(p) => p.security_groups.restore_order(),
            Props::AutoScalingGroup(p) => {
                p.subnets.restore_order();
                p.target_groups.restore_order();
            }
            _ => {}
        }
    }
}

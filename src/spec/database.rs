//! The data-tier sections: `database` (RDS), `file_storage` (EFS) and `cache` (ElastiCache).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The database engine and major version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DbEngine {
    /// RDS MySQL 8.0 (Moodle 4.5 only).
    #[serde(rename = "mysql-8.0")]
    Mysql80,
    /// RDS MySQL 8.4 (every supported Moodle branch).
    #[serde(rename = "mysql-8.4")]
    Mysql84,
    /// Aurora MySQL 3 (MySQL 8.0 compatible), a writer and readers.
    #[serde(rename = "aurora-mysql-3")]
    AuroraMysql3,
}

/// The RDS database. The master password is managed by AWS (Secrets Manager) and never
/// appears in the spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// Engine and major version.
    #[serde(default = "default_engine")]
    pub engine: DbEngine,
    /// Instance class, e.g. `db.r6g.large`.
    pub instance_class: String,
    /// Multi-AZ standby (RDS MySQL); Aurora uses `aurora_readers` instead.
    #[serde(default = "yes")]
    pub multi_az: bool,
    /// Aurora readers next to the writer.
    #[serde(default = "one")]
    pub aurora_readers: u32,
    /// Allocated storage in GiB (RDS MySQL).
    #[serde(default = "default_storage")]
    pub allocated_storage_gib: u32,
    /// Storage autoscaling ceiling in GiB (RDS MySQL).
    #[serde(default = "default_max_storage")]
    pub max_allocated_storage_gib: u32,
    /// Automated backup retention in days, 1–35.
    #[serde(default = "default_retention")]
    pub backup_retention_days: u32,
    /// Daily backup window, UTC `hh:mm-hh:mm`.
    #[serde(default = "default_backup_window")]
    pub backup_window: String,
    /// Weekly maintenance window, UTC `ddd:hh:mm-ddd:hh:mm`.
    #[serde(default = "default_maintenance_window")]
    pub maintenance_window: String,
    /// Refuse deletion in AWS until turned off.
    #[serde(default = "yes")]
    pub deletion_protection: bool,
    /// Take a final snapshot when the stack is destroyed.
    #[serde(default = "yes")]
    pub final_snapshot: bool,
    /// Apply modifications now rather than in the maintenance window.
    #[serde(default)]
    pub apply_immediately: bool,
    /// The Moodle database name.
    #[serde(default = "default_db_name")]
    pub name: String,
    /// The master user name (its password is managed by AWS).
    #[serde(default = "default_master_user")]
    pub master_username: String,
    /// Parameter group settings.
    #[serde(default)]
    pub parameters: DbParameters,
    /// Enhanced monitoring: seconds between the OS metrics RDS publishes to CloudWatch Logs
    /// (1, 5, 10, 15, 30 or 60), or 0 for none.
    #[serde(default = "default_monitoring_interval")]
    pub monitoring_interval_seconds: u32,
    /// Performance Insights (its 7 days of history are free). Not available on the smallest
    /// classes (`db.t2`/`db.t3`/`db.t4g` `micro` and `small`; every `db.t2` and `db.t3` on
    /// Aurora), where it is left off with a warning.
    #[serde(default = "yes")]
    pub performance_insights: bool,
}

impl Database {
    /// Whether the instance class supports Performance Insights (AWS's list of exceptions:
    /// "Amazon RDS DB engine, Region, and instance class support for Database Insights").
    pub fn class_supports_performance_insights(&self) -> bool {
        let class = self.instance_class.as_str();
        let tiny = ["micro", "small"].iter().any(|size| {
            ["db.t2.", "db.t3.", "db.t4g."]
                .iter()
                .any(|family| class == format!("{family}{size}"))
        });
        let aurora_burstable = self.engine == DbEngine::AuroraMysql3
            && (class.starts_with("db.t2.") || class.starts_with("db.t3."));
        !tiny && !aurora_burstable
    }
}

/// The database parameter group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbParameters {
    /// `innodb_buffer_pool_size`; by default three quarters of the instance class's memory.
    #[serde(default = "default_buffer_pool")]
    pub innodb_buffer_pool_size: String,
    /// `max_allowed_packet` in bytes or with a K/M/G suffix; at least 256M.
    #[serde(default = "default_max_packet")]
    pub max_allowed_packet: String,
    /// Further parameters, name to value.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

impl Default for DbParameters {
    fn default() -> Self {
        Self {
            innodb_buffer_pool_size: default_buffer_pool(),
            max_allowed_packet: default_max_packet(),
            extra: BTreeMap::new(),
        }
    }
}

/// EFS performance mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PerformanceMode {
    /// Lowest latency; right for Moodle.
    #[default]
    GeneralPurpose,
    /// Higher aggregate throughput at higher latency.
    #[serde(rename = "maxIO")]
    MaxIo,
}

/// EFS throughput mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThroughputMode {
    /// Scales with the workload, paid per use (the default).
    #[default]
    Elastic,
    /// Throughput grows with the amount stored, with burst credits.
    Bursting,
    /// A fixed throughput, `provisioned_throughput_mibps`.
    Provisioned,
}

/// The EFS file system for moodledata. Always encrypted at rest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileStorage {
    /// Performance mode (cannot change after creation).
    #[serde(default)]
    pub performance_mode: PerformanceMode,
    /// Throughput mode. AWS allows one change of it per 24 hours.
    #[serde(default)]
    pub throughput_mode: ThroughputMode,
    /// MiB/s, required with `throughput_mode: provisioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput_mibps: Option<f64>,
    /// A customer managed KMS key (ID or ARN); the AWS managed key when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Move files to Infrequent Access after this long unused: `AFTER_7_DAYS` … `AFTER_365_DAYS`, or `NONE`.
    #[serde(default = "default_ia")]
    pub transition_to_ia: String,
    /// Move files back on first access: `AFTER_1_ACCESS` or `NONE`.
    #[serde(default = "default_to_primary")]
    pub transition_to_primary_storage_class: String,
    /// AWS Backup automatic daily backups.
    #[serde(default = "yes")]
    pub backup: bool,
}

impl Default for FileStorage {
    fn default() -> Self {
        Self {
            performance_mode: PerformanceMode::default(),
            throughput_mode: ThroughputMode::default(),
            provisioned_throughput_mibps: None,
            kms_key_id: None,
            transition_to_ia: default_ia(),
            transition_to_primary_storage_class: default_to_primary(),
            backup: true,
        }
    }
}

/// The ElastiCache Redis replication group (cluster mode off), always encrypted in transit
/// and at rest, with an AUTH token kept in Secrets Manager.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Node type, e.g. `cache.r7g.large`.
    pub node_type: String,
    /// Redis engine version.
    #[serde(default = "default_redis_version")]
    pub engine_version: String,
    /// Replicas next to the primary, 0–5. At least one for failover.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Promote a replica when the primary fails.
    #[serde(default = "yes")]
    pub automatic_failover: bool,
    /// Spread the nodes over AZs.
    #[serde(default = "yes")]
    pub multi_az: bool,
    /// Weekly maintenance window, UTC `ddd:hh:mm-ddd:hh:mm`.
    #[serde(default = "default_cache_maintenance_window")]
    pub maintenance_window: String,
    /// Daily snapshots kept, 0–35 (sessions and caches are rebuildable: one day by default).
    #[serde(default = "one")]
    pub snapshot_retention_days: u32,
    /// Apply modifications now rather than in the maintenance window.
    #[serde(default)]
    pub apply_immediately: bool,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_engine() -> DbEngine {
    DbEngine::Mysql84
}
fn default_monitoring_interval() -> u32 {
    60
}
fn default_storage() -> u32 {
    100
}
fn default_max_storage() -> u32 {
    1000
}
fn default_retention() -> u32 {
    7
}
fn default_backup_window() -> String {
    "02:00-03:00".into()
}
fn default_maintenance_window() -> String {
    "sun:04:00-sun:05:00".into()
}
fn default_cache_maintenance_window() -> String {
    "sun:05:00-sun:06:00".into()
}
fn default_db_name() -> String {
    "moodle".into()
}
fn default_master_user() -> String {
    "moodleadmin".into()
}
fn default_buffer_pool() -> String {
    "{DBInstanceClassMemory*3/4}".into()
}
fn default_max_packet() -> String {
    "1G".into()
}
fn default_ia() -> String {
    "AFTER_30_DAYS".into()
}
fn default_to_primary() -> String {
    "AFTER_1_ACCESS".into()
}
fn default_redis_version() -> String {
    "7.1".into()
}

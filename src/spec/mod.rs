//! The stack spec: the typed form of a `stacks/*.yaml` file, its defaults, loading and validation.
//!
//! The types here are the single source of truth for the YAML format: unknown fields are
//! rejected, defaults are applied by serde, and `stacks/schema.json` is generated from them.

mod database;
mod load;
mod logs;
mod moodle;
mod network;
mod schema;
mod secrets;
mod source_map;
mod validate;
mod web;

pub use database::{
    Cache, Database, DbEngine, DbParameters, FileStorage, PerformanceMode, ThroughputMode,
};
pub use load::{LoadError, LoadedSpec, load_file, load_str};
pub use logs::{LOG_RETENTION_DAYS, Logs};
pub use moodle::{DEFAULT_RDS_CA_BUNDLE_URL, Moodle, MoodleVersion, Os, PhpSettings, WebServer};
pub use network::{CreateNetwork, ExistingNetwork, NatGateways, Network};
pub use schema::json_schema;
pub use secrets::Secrets;
pub use source_map::SourceMap;
pub use validate::{Problem, Severity, architecture_of_types, parse_size, validate};
pub use web::{
    AccessLogs, Cron, CronJob, DesyncMitigationMode, HealthCheck, LoadBalancer, Scaling,
    ScheduledAction, Stickiness, Waf, Web,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A complete highly available Moodle site: everything `moodle-ha` creates and keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Stack name: lowercase letters, digits and hyphens, 3–24 characters. Every resource is
    /// tagged `moodle-ha:stack=<name>` and found again by that tag.
    pub name: String,
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// Extra tags applied to every resource, in the create call.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// VPC and subnets: adopt existing ones, or create them.
    pub network: Network,
    /// The RDS MySQL or Aurora MySQL database.
    pub database: Database,
    /// The EFS file system that holds moodledata.
    #[serde(default)]
    pub file_storage: FileStorage,
    /// The ElastiCache Redis replication group for sessions and MUC.
    pub cache: Cache,
    /// The CloudWatch Logs log groups (database logs, VPC flow logs): their retention.
    #[serde(default)]
    pub logs: Logs,
    /// The application load balancer in the public subnets.
    pub load_balancer: LoadBalancer,
    /// The web fleet: launch template and Spot-majority Auto Scaling group.
    pub web: Web,
    /// The one on-demand instance that runs Moodle cron and ad-hoc tasks.
    pub cron: Cron,
    /// Moodle itself: version, code, wwwroot, paths and PHP settings.
    pub moodle: Moodle,
    /// Who besides the nodes may use the stack's secrets (their resource policies).
    #[serde(default)]
    pub secrets: Secrets,
}

impl Spec {
    /// The nodes' distribution: `web.os`, or what `web.ami` names (validation makes sure one
    /// of them says).
    pub fn os(&self) -> Os {
        self.web
            .os
            .or_else(|| Os::of_ami(&self.web.ami))
            .unwrap_or(Os::Ubuntu2404)
    }

    /// The PHP minor version the nodes run: `moodle.php.version`, or the newest the OS ships
    /// that the branch supports.
    pub fn php_version(&self) -> String {
        if let Some(v) = &self.moodle.php.version {
            return v.clone();
        }
        let branch = self.moodle.version.php_versions();
        self.os()
            .php_versions()
            .iter()
            .rev()
            .find(|v| branch.contains(v))
            .unwrap_or(&"8.3")
            .to_string()
    }

    /// The stack's AWS account, as the load balancer's certificate ARN names it (an ALB can
    /// only use a certificate of its own account): the account service roles' trust policies
    /// pin (`aws:SourceAccount`). `None` when the ARN does not name one.
    pub fn account_id(&self) -> Option<&str> {
        self.load_balancer
            .certificate_arn
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The installer's site short name.
    pub fn site_short_name(&self) -> &str {
        self.moodle.site_short_name.as_deref().unwrap_or(&self.name)
    }
}

#[cfg(test)]
mod tests;

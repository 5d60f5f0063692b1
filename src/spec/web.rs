//! The web-tier sections: `load_balancer`, `web` (the Spot fleet) and `cron` (the stable instance).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The internet-facing application load balancer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// ACM certificate for the HTTPS listener, in the stack's region.
    pub certificate_arn: String,
    /// TLS policy of the HTTPS listener.
    #[serde(default = "default_ssl_policy")]
    pub ssl_policy: String,
    /// Who may reach ports 80 and 443.
    #[serde(default = "default_ingress")]
    pub ingress_cidrs: Vec<String>,
    /// Seconds in-flight requests get to finish when a node leaves, 60–120: inside the
    /// two-minute Spot notice, and never the 300 s AWS default.
    #[serde(default = "default_dereg")]
    pub deregistration_delay_seconds: u32,
    /// Idle connection timeout in seconds.
    #[serde(default = "default_idle")]
    pub idle_timeout_seconds: u32,
    /// Target group health check.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Load-balancer cookie stickiness (sessions live in Redis, so off by default).
    #[serde(default)]
    pub stickiness: Stickiness,
    /// How the load balancer treats requests that may be HTTP desync (request smuggling)
    /// attempts: `defensive` (AWS's default, blocks only the severe ones) or `strictest`
    /// (only RFC 7230-compliant requests; may reject odd but harmless clients). Invalid header
    /// fields are always dropped.
    #[serde(default)]
    pub desync_mitigation_mode: DesyncMitigationMode,
    /// The load balancer's access logs, in the stack bucket under `alb-access-logs/` (always
    /// on: S3 storage is their only cost, delivery is free).
    #[serde(default)]
    pub access_logs: AccessLogs,
    /// A WAFv2 web ACL in front of the load balancer, logged to the CloudWatch Logs group
    /// `aws-waf-logs-<stack>`. Costs money (per web ACL, rule and million requests), so it is
    /// optional. Its rules, in order: AWS's IP reputation list; AWS's common rule set with
    /// `SizeRestrictions_BODY` (8 KB bodies: Moodle's forms, quiz pages and uploads are
    /// larger), `CrossSiteScripting_BODY` (rich-text posts carry HTML; Moodle cleans it when
    /// it shows it), `EC2MetaDataSSRF_BODY`, `GenericRFI_BODY` and `GenericRFI_QUERYARGUMENTS`
    /// (URLs in posts, URL resources and `returnurl`/`wantsurl` parameters) only counted;
    /// known bad inputs (Log4j, Java deserialisation …); AWS's SQL injection rule set with
    /// `SQLi_BODY` and `SQLiExtendedPatterns_BODY` only counted (courses teach SQL; Moodle's
    /// database layer binds every parameter); then the per-IP rate rule. About 1 130 WCUs,
    /// inside the 1 500 a web ACL has without extra charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waf: Option<Waf>,
}

/// `load_balancer.waf`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Waf {
    /// Requests one client IP may send in any 5 minutes before it is blocked until its rate
    /// falls, 100–2 000 000 000. A campus behind one NAT address counts as one client: raise it
    /// for such sites.
    #[serde(default = "default_waf_rate_limit")]
    pub rate_limit_per_5_minutes: u32,
}

fn default_waf_rate_limit() -> u32 {
    3000
}

/// `load_balancer.desync_mitigation_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesyncMitigationMode {
    /// Blocks requests classified as severe; AWS's default.
    #[default]
    Defensive,
    /// Only requests that comply with RFC 7230.
    Strictest,
}

impl DesyncMitigationMode {
    /// How AWS spells it (`routing.http.desync_mitigation_mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            DesyncMitigationMode::Defensive => "defensive",
            DesyncMitigationMode::Strictest => "strictest",
        }
    }
}

/// `load_balancer.access_logs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessLogs {
    /// Days the access logs are kept before S3 deletes them (a lifecycle rule on their prefix
    /// only; releases are never expired), 1–3650.
    #[serde(default = "default_access_log_days")]
    pub expire_days: u32,
}

impl Default for AccessLogs {
    fn default() -> Self {
        Self {
            expire_days: default_access_log_days(),
        }
    }
}

fn default_access_log_days() -> u32 {
    90
}

/// Target group health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Path requested on each node.
    #[serde(default = "default_hc_path")]
    pub path: String,
    /// Seconds between checks.
    #[serde(default = "default_hc_interval")]
    pub interval_seconds: u32,
    /// Consecutive successes before a node is healthy.
    #[serde(default = "default_hc_healthy")]
    pub healthy_threshold: u32,
    /// Consecutive failures before a node is unhealthy.
    #[serde(default = "default_hc_unhealthy")]
    pub unhealthy_threshold: u32,
    /// Seconds before a check times out.
    #[serde(default = "default_hc_timeout")]
    pub timeout_seconds: u32,
    /// HTTP codes that count as healthy.
    #[serde(default = "default_hc_matcher")]
    pub matcher: String,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: default_hc_path(),
            interval_seconds: default_hc_interval(),
            healthy_threshold: default_hc_healthy(),
            unhealthy_threshold: default_hc_unhealthy(),
            timeout_seconds: default_hc_timeout(),
            matcher: default_hc_matcher(),
        }
    }
}

/// Load-balancer cookie stickiness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stickiness {
    /// Turn stickiness on.
    #[serde(default)]
    pub enabled: bool,
    /// Cookie lifetime in seconds.
    #[serde(default = "default_stickiness_duration")]
    pub duration_seconds: u32,
}

impl Default for Stickiness {
    fn default() -> Self {
        Self {
            enabled: false,
            duration_seconds: default_stickiness_duration(),
        }
    }
}

/// The stateless web fleet: a Spot-majority Auto Scaling group with a mixed instances policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Web {
    /// AMI ID (`ami-…`) or an SSM public parameter (`ssm:/aws/service/…`) resolved at plan time.
    #[serde(default = "default_ami")]
    pub ami: String,
    /// The AMI's distribution, for the web nodes and the cron instance; read from `ami` when
    /// that is an SSM public parameter naming it, required for an `ami-…` ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<crate::spec::Os>,
    /// 3–6 instance types across at least two of the t, m and c families.
    pub instance_types: Vec<String>,
    /// Smallest fleet size.
    pub min: u32,
    /// Desired size; when unset the group's current desired capacity is kept (the scaling
    /// policies own it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<u32>,
    /// Largest fleet size.
    pub max: u32,
    /// On-demand instances before any Spot (the floor).
    #[serde(default)]
    pub on_demand_base_capacity: u32,
    /// Percent on-demand above the floor (0 = all Spot).
    #[serde(default)]
    pub on_demand_percentage_above_base: u32,
    /// Seconds after launch before health checks count.
    #[serde(default = "default_grace")]
    pub health_check_grace_period_seconds: u32,
    /// Root volume size in GiB (encrypted gp3).
    #[serde(default = "default_root_gib")]
    pub root_volume_gib: u32,
    /// Existing instance profile name; created with least privilege when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// IMDSv2 hop limit.
    #[serde(default = "one")]
    pub imds_hop_limit: u32,
    /// Target-tracking scaling.
    #[serde(default)]
    pub scaling: Scaling,
    /// Seconds a terminating node may drain before it goes (a termination lifecycle hook),
    /// 30–7200 and at least the load balancer's deregistration delay.
    #[serde(default = "default_drain")]
    pub termination_drain_seconds: u32,
    /// Percent of the fleet kept in service while it rolls onto a new launch template.
    #[serde(default = "default_min_healthy")]
    pub refresh_min_healthy_percent: u32,
    /// Scheduled size changes (e.g. a bigger floor during exams).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled_actions: Vec<ScheduledAction>,
}

/// A scheduled change of the fleet's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledAction {
    /// Name, unique in the stack: letters, digits and hyphens.
    pub name: String,
    /// Cron expression, five fields (`0 7 * * 1-5`).
    pub recurrence: String,
    /// Time zone of the recurrence (IANA name).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// New minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// New maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// New desired size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<u32>,
}

/// Target-tracking scaling policies of the web fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Keep average CPU at this percent.
    #[serde(
        default = "default_cpu_target",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_target_percent: Option<u32>,
    /// Keep ALB requests per target at this number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_target: Option<u32>,
}

impl Default for Scaling {
    fn default() -> Self {
        Self {
            cpu_target_percent: default_cpu_target(),
            requests_per_target: None,
        }
    }
}

/// The stable, on-demand instance: the only host that runs Moodle cron and ad-hoc tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cron {
    /// Instance type, e.g. `t3.large`.
    pub instance_type: String,
    /// AMI; the web fleet's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami: Option<String>,
    /// Root volume size in GiB (encrypted gp3).
    #[serde(default = "default_cron_root_gib")]
    pub root_volume_gib: u32,
    /// CIDRs allowed to SSH in; none by default (use SSM Session Manager).
    #[serde(default)]
    pub ssh_cidrs: Vec<String>,
    /// The site's own scheduled jobs, next to Moodle's cron entry (which is always there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<CronJob>,
}

/// One extra crontab line on the cron instance, run as the web user in the code root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronJob {
    /// Five-field schedule, e.g. `*/15 * * * *`.
    pub schedule: String,
    /// The command, e.g. `php admin/cli/purge_caches.php`; `php` means the node's PHP binary.
    pub command: String,
}

fn one() -> u32 {
    1
}
fn default_ssl_policy() -> String {
    "ELBSecurityPolicy-TLS13-1-2-2021-06".into()
}
fn default_ingress() -> Vec<String> {
    vec!["0.0.0.0/0".into()]
}
fn default_dereg() -> u32 {
    120
}
fn default_idle() -> u32 {
    60
}
fn default_hc_path() -> String {
    "/login/index.php".into()
}
fn default_hc_interval() -> u32 {
    30
}
fn default_hc_healthy() -> u32 {
    2
}
fn default_hc_unhealthy() -> u32 {
    3
}
fn default_hc_timeout() -> u32 {
    10
}
fn default_hc_matcher() -> String {
    "200".into()
}
fn default_stickiness_duration() -> u32 {
    86_400
}
fn default_ami() -> String {
    "ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id".into()
}
fn default_grace() -> u32 {
    300
}
fn default_root_gib() -> u32 {
    20
}
fn default_cron_root_gib() -> u32 {
    30
}
fn default_drain() -> u32 {
    150
}
fn default_min_healthy() -> u32 {
    90
}
fn default_time_zone() -> String {
    "UTC".into()
}
fn default_cpu_target() -> Option<u32> {
    Some(60)
}

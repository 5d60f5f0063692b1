//! The `logs` section: how long the stack's CloudWatch Logs log groups (the database's
//! exported logs, the VPC's flow logs) keep their events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The retentions CloudWatch Logs offers (PutRetentionPolicy accepts nothing else), in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The stack's CloudWatch Logs log groups. Stored events cost per GB-month, so the retention
/// is the spec's to choose; the default keeps three months, enough to look back over a term's
/// incidents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    /// Days every log group of the stack keeps its events: 1, 3, 5, 7, 14, 30, 60, 90, 120,
    /// 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
}

impl Default for Logs {
    fn default() -> Self {
        Self {
            retention_days: default_retention_days(),
        }
    }
}

fn default_retention_days() -> u32 {
    90
}

//! Rules of `logs`: a retention CloudWatch Logs offers.

use super::Checker;
use crate::spec::{LOG_RETENTION_DAYS, Spec};

impl Checker<'_> {
    /// `logs.retention_days`: one of the values PutRetentionPolicy accepts.
    pub(super) fn logs(&mut self, spec: &Spec) {
        let days = spec.logs.retention_days;
        if !LOG_RETENTION_DAYS.contains(&days) {
            let offered: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
            self.err(
                "logs.retention_days",
                format!(
                    "CloudWatch Logs cannot keep events {days} days; use one of {}",
                    offered.join(", ")
                ),
            );
        }
    }
}

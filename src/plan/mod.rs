//! The plan: a closed set of actions on resources, each with field-level before/after,
//! computed by the pure [`planner`] and printed by [`render`].

pub mod drift;
pub mod planner;
pub mod render;
pub mod select;

pub use planner::{PlanOptions, STATIC_DB_PARAMETERS, plan};

use crate::model::{Props, ResourceKey};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Version of the plan's JSON document; bumped on any incompatible change.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What happens to one resource.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Delete it and create it anew (an attribute AWS cannot change in place differs).
    Replace,
    /// Delete it.
    Delete,
}

/// When AWS makes an in-place change take effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum Applies {
    /// As soon as apply makes the call.
    Now,
    /// In the resource's next maintenance window (`apply_immediately: false` in the spec).
    MaintenanceWindow {
        /// The window, UTC.
        window: String,
    },
    /// At the database's next reboot, which moodle-ha never does on its own.
    NextReboot,
    /// New nodes get it at once; running ones are replaced by an instance refresh that keeps
    /// this share of the fleet in service.
    InstanceRefresh {
        /// Percent of the fleet kept in service.
        min_healthy_percent: u32,
    },
    /// New nodes get it at once; running ones are replaced by the upgrade workflow's fleet
    /// switch (held new nodes, then the old ones retired), not by an instance refresh.
    UpgradeSwitch,
}

/// One attribute that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// Attribute name.
    pub field: String,
    /// Value in AWS now (`null` when creating).
    pub before: Value,
    /// Value after apply (`null` when deleting).
    pub after: Value,
    /// AWS cannot change this attribute in place.
    pub forces_replacement: bool,
    /// When an in-place change takes effect, for resources where that varies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies: Option<Applies>,
}

/// A change to one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// The resource, `kind/name`.
    #[schemars(with = "String")]
    pub key: ResourceKey,
    /// What happens to it.
    pub action: Action,
    /// Its AWS ID, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The attributes that differ (all of them for a create).
    pub fields: Vec<FieldChange>,
    /// Why, when the fields alone do not say (a duplicate, a replaced dependency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Destroys user data (a file system or database replaced or deleted).
    pub destroys_data: bool,
    /// The final snapshot taken before a database is deleted (`None`: no snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_snapshot: Option<String>,
    /// Desired attributes (create, update, replace), with `kind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub desired: Option<Props>,
    /// Observed attributes (update, replace, delete), with `kind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub observed: Option<Props>,
}

/// Counts of a plan's actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Resources to create.
    pub create: usize,
    /// Resources to change in place.
    pub update: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources to delete.
    pub delete: usize,
    /// Resources already as desired.
    pub unchanged: usize,
}

/// Everything apply will do to a stack, in key order. No choices are left for apply to make.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// Version of the plan format (`PLAN_FORMAT_VERSION`, now 1); bumped on any incompatible change.
    pub format_version: u32,
    /// The stack.
    pub stack: String,
    /// Its region.
    #[serde(default)]
    pub region: String,
    /// The spec's extra tags (applied in every create call).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Random ID of this plan; client tokens of its creates derive from it.
    pub plan_id: String,
    /// A digest of everything observed when planning: a saved plan is applied only while AWS
    /// still matches it.
    #[serde(default)]
    pub observed_digest: String,
    /// Attributes the spec leaves to AWS, by resource (left out of the digest).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub unmanaged_fields: BTreeMap<ResourceKey, Vec<String>>,
    /// The part of the spec this plan is limited to (`--only`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
    /// Changes other than no-ops.
    pub changes: Vec<Change>,
    /// Resources already as desired.
    #[schemars(with = "Vec<String>")]
    pub unchanged: Vec<ResourceKey>,
    /// Values other resources and the rendered files need (endpoints, secret ARNs; never a
    /// secret value), as AWS reported them when planning.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// Managed fields AWS's answers did not include, by resource: unknown, so not compared
    /// (never planned as a change); `drift` lists them as unreadable.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub unreadable: BTreeMap<ResourceKey, Vec<String>>,
    /// The release change, carried out after the resource changes as the upgrade workflow
    /// (maintenance, snapshot, `upgrade.php` once, the fleet switched); `None` when the
    /// release stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<crate::upgrade::plan::Upgrade>,
}

impl Plan {
    /// True when apply would do nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.upgrade.is_none()
    }

    /// Counts per action (the upgrade's in-window changes included).
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            unchanged: self.unchanged.len(),
            ..Summary::default()
        };
        let in_window = self.upgrade.iter().flat_map(|u| &u.in_window);
        for c in self.changes.iter().chain(in_window) {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::NoOp => s.unchanged += 1,
            }
        }
        s
    }

    /// True while AWS still holds what this plan was computed from (a saved plan may be
    /// applied), judged by the attributes the plan's desired state manages.
    pub fn still_matches(&self, observed: &crate::observed::ObservedState) -> bool {
        planner::digest(&self.unmanaged_fields, observed) == self.observed_digest
    }

    /// Changes that destroy data (replacements or deletions of a file system or database).
    pub fn data_loss(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.destroys_data).collect()
    }

    /// Refuses a plan that destroys data without `allow_data_loss`, or deletes or replaces a
    /// database or the load balancer with deletion protection on without
    /// `disable_deletion_protection`. The error
    /// names the resources and the flag that allows it.
    pub fn check_allowed(
        &self,
        allow_data_loss: bool,
        disable_deletion_protection: bool,
    ) -> Result<(), String> {
        let loss: Vec<String> = self.data_loss().iter().map(|c| c.key.to_string()).collect();
        if !loss.is_empty() && !allow_data_loss {
            return Err(format!(
                "refusing to destroy data in {}; nothing was changed. Review the plan and pass `--allow-data-loss` if that is intended",
                loss.join(", ")
            ));
        }
        let protected: Vec<String> = self
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
            .filter(|c| c.observed.as_ref().is_some_and(Props::deletion_protection))
            .map(|c| c.key.to_string())
            .collect();
        if !protected.is_empty() && !disable_deletion_protection {
            return Err(format!(
                "{} {} deletion protection on; nothing was changed. Pass `--disable-deletion-protection` to turn it off and go ahead",
                protected.join(", "),
                if protected.len() == 1 { "has" } else { "have" }
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;

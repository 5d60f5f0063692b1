//! Drift: the plan read the other way round. What apply would update or replace has drifted
//! (expected = the spec's value, actual = AWS's); what it would create is missing; what it
//! would delete carries the stack's tag but is not in the spec.

use super::{Action, Plan};
use crate::model::ResourceKey;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Version of the drift report's JSON document.
pub const DRIFT_FORMAT_VERSION: u32 = 1;

/// How a resource differs from the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// It exists, but managed attributes differ.
    Drifted,
    /// The spec calls for it; AWS has none.
    Missing,
    /// It carries the stack's tag but the spec has no such resource (or it is a duplicate).
    Unmanaged,
}

/// One attribute that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftedField {
    /// Attribute name.
    pub field: String,
    /// What the spec says.
    pub expected: Value,
    /// What AWS has.
    pub actual: Value,
    /// Repairing it replaces the resource.
    pub forces_replacement: bool,
}

/// One resource that differs from the spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftedResource {
    /// The resource.
    #[schemars(with = "String")]
    pub key: ResourceKey,
    /// Its AWS ID, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How it differs.
    pub status: DriftStatus,
    /// The attributes that differ (drifted resources).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<DriftedField>,
    /// Why, when the fields do not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Counts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DriftSummary {
    /// Resources whose attributes differ.
    pub drifted: usize,
    /// Resources the spec calls for that do not exist.
    pub missing: usize,
    /// Tagged resources the spec does not call for.
    pub unmanaged: usize,
    /// Resources as the spec says.
    pub in_sync: usize,
}

/// The drift of one stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftReport {
    /// Version of the report format (`DRIFT_FORMAT_VERSION`, now 1); bumped on any incompatible change.
    pub format_version: u32,
    /// The stack.
    pub stack: String,
    /// True when anything differs (exit code 2).
    pub drift: bool,
    /// Counts.
    pub summary: DriftSummary,
    /// Every resource that differs, in key order.
    pub resources: Vec<DriftedResource>,
    /// Managed fields AWS's answers did not include, by resource: not compared, so not
    /// drift (`drift` stays false for them), but they could not be checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unreadable: BTreeMap<String, Vec<String>>,
}

/// The drift a plan describes.
pub fn report(plan: &Plan) -> DriftReport {
    let mut summary = DriftSummary {
        in_sync: plan.unchanged.len(),
        ..DriftSummary::default()
    };
    let resources: Vec<DriftedResource> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            let status = match c.action {
                Action::Create => DriftStatus::Missing,
                Action::Delete => DriftStatus::Unmanaged,
                _ => DriftStatus::Drifted,
            };
            match status {
                DriftStatus::Drifted => summary.drifted += 1,
                DriftStatus::Missing => summary.missing += 1,
                DriftStatus::Unmanaged => summary.unmanaged += 1,
            }
            DriftedResource {
                key: c.key.clone(),
                id: c.id.clone(),
                status,
                fields: if status == DriftStatus::Drifted {
                    c.fields
                        .iter()
                        .map(|f| DriftedField {
                            field: f.field.clone(),
                            expected: f.after.clone(),
                            actual: f.before.clone(),
                            forces_replacement: f.forces_replacement,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                reason: c.reason.clone(),
            }
        })
        .collect();
    DriftReport {
        format_version: DRIFT_FORMAT_VERSION,
        stack: plan.stack.clone(),
        drift: !resources.is_empty(),
        summary,
        resources,
        unreadable: plan
            .unreadable
            .iter()
            .map(|(k, fields)| (k.to_string(), fields.clone()))
            .collect(),
    }
}

/// The report as text for people.
pub fn render(report: &DriftReport) -> String {
    use super::render::show;
    let mut out = String::new();
    let unreadable = |out: &mut String| {
        for (key, fields) in &report.unreadable {
            let _ = writeln!(
                out,
                "  {key}: AWS did not report {}; not checked",
                fields.join(", ")
            );
        }
    };
    if !report.drift {
        let _ = writeln!(
            out,
            "No drift: stack `{}` matches the spec ({} resources).",
            report.stack, report.summary.in_sync
        );
        unreadable(&mut out);
        return out;
    }
    let _ = writeln!(out, "Drift in stack `{}`:", report.stack);
    for r in &report.resources {
        let id =
            r.id.as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default();
        let what = match r.status {
            DriftStatus::Drifted => "drifted",
            DriftStatus::Missing => "missing",
            DriftStatus::Unmanaged => "not in the spec",
        };
        let _ = write!(out, "\n  {} {what}{id}", r.key);
        if let Some(reason) = &r.reason {
            let _ = write!(out, "  # {reason}");
        }
        out.push('\n');
        for f in &r.fields {
            let _ = writeln!(
                out,
                "      {}: expected {}, actual {}{}",
                f.field,
                show(&f.expected),
                show(&f.actual),
                if f.forces_replacement {
                    "  # repair replaces it"
                } else {
                    ""
                }
            );
        }
    }
    let s = report.summary;
    let _ = writeln!(
        out,
        "\n{} drifted, {} missing, {} not in the spec ({} in sync). `moodle-ha apply` repairs it.",
        s.drifted, s.missing, s.unmanaged, s.in_sync
    );
    unreadable(&mut out);
    out
}

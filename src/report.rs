//! The JSON documents the CLI prints with `--output json` (plan, apply, drift), and their
//! JSON Schemas (`moodle-ha schema plan|drift`, published in `stacks/`). Secrets never appear
//! in them: resources name secrets by ARN only.

use crate::executor::ApplyReport;
use crate::plan::drift::DriftReport;
use crate::plan::{Plan, Summary};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Requests sent to one AWS operation.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct OperationCount {
    /// Service, e.g. `EC2`.
    pub service: String,
    /// Operation, e.g. `DescribeVpcs`.
    pub operation: String,
    /// Requests, retries included.
    pub count: u64,
}

/// AWS requests a command sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct ApiCallCounts {
    /// All requests.
    pub total: u64,
    /// Requests that repeated an earlier attempt (throttling, 5xx, dropped connections).
    pub retries: u64,
    /// By service and operation.
    pub by_operation: Vec<OperationCount>,
}

impl ApiCallCounts {
    /// From the interceptor's counts.
    #[cfg(feature = "aws")]
    pub fn from_calls(calls: &crate::aws::api_log::ApiCalls) -> Self {
        Self {
            retries: calls.retries(),
            ..Self::from_counts(calls.counts())
        }
    }

    /// From counts per operation (no retries known).
    pub fn from_counts(counts: BTreeMap<(String, String), u64>) -> Self {
        let by_operation: Vec<OperationCount> = counts
            .into_iter()
            .map(|((service, operation), count)| OperationCount {
                service,
                operation,
                count,
            })
            .collect();
        Self {
            total: by_operation.iter().map(|o| o.count).sum(),
            retries: 0,
            by_operation,
        }
    }
}

/// What apply did.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct ApplyResult {
    /// Every step done.
    pub succeeded: bool,
    /// Each step and how it ended.
    pub steps: Vec<crate::executor::StepReport>,
}

/// `plan --output json` and `apply --output json`: the plan (every change with field-level
/// before/after), its counts, the AWS requests made and, for apply, what was done.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanDocument {
    /// The plan (its `format_version` versions this document).
    #[serde(flatten)]
    pub plan: Plan,
    /// Counts per action.
    pub summary: Summary,
    /// AWS requests made.
    pub api_calls: ApiCallCounts,
    /// Present after apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyResult>,
    /// The upgrade workflow's journal as recorded in the stack, after an apply that ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<serde_json::Value>,
}

impl PlanDocument {
    /// The document for a plan, and what apply did with it.
    pub fn new(plan: &Plan, calls: ApiCallCounts, report: Option<&ApplyReport>) -> Self {
        Self {
            summary: plan.summary(),
            plan: plan.clone(),
            api_calls: calls,
            apply: report.map(|r| ApplyResult {
                succeeded: r.succeeded(),
                steps: r.steps.clone(),
            }),
            workflow: None,
        }
    }
}

/// `drift --output json`: every drifted, missing and unmanaged resource.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DriftDocument {
    /// The report (its `format_version` versions this document).
    #[serde(flatten)]
    pub report: DriftReport,
    /// AWS requests made.
    pub api_calls: ApiCallCounts,
}

/// The JSON Schema of a document, pretty-printed.
pub fn schema_of<T: JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    format!(
        "{}\n",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_document_schemas_are_current() {
        assert!(
            include_str!("../stacks/plan.schema.json") == schema_of::<PlanDocument>(),
            "stacks/plan.schema.json is stale: regenerate it with `cargo run -- schema plan > stacks/plan.schema.json`"
        );
        assert!(
            include_str!("../stacks/drift.schema.json") == schema_of::<DriftDocument>(),
            "stacks/drift.schema.json is stale: regenerate it with `cargo run -- schema drift > stacks/drift.schema.json`"
        );
    }
}

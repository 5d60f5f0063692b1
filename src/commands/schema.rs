//! `schema`: the JSON Schemas of the spec and of the documents `--output json` prints.

use clap::ValueEnum;

/// The documents with a published JSON Schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Document {
    /// The stack spec (`stacks/schema.json`).
    Spec,
    /// `plan`/`apply --output json` and saved plans (`stacks/plan.schema.json`).
    Plan,
    /// `drift --output json` (`stacks/drift.schema.json`).
    Drift,
}

/// The schema of `which`, pretty-printed JSON ending in a newline.
pub fn json_schema(which: Document) -> String {
    match which {
        Document::Spec => crate::spec::json_schema(),
        Document::Plan => crate::report::schema_of::<crate::report::PlanDocument>(),
        Document::Drift => crate::report::schema_of::<crate::report::DriftDocument>(),
    }
}

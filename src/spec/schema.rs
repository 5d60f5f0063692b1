//! The spec's JSON Schema, generated from the types so it can never disagree with the parser.
//! Published at `stacks/schema.json` for editors (a test fails when that file is stale).

use super::Spec;

/// The JSON Schema of [`Spec`], pretty-printed with a trailing newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Spec);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

//! Reading a spec: YAML text → typed [`Spec`] (unknown fields rejected, defaults applied) →
//! validated. Every failure names the field and its line; nothing here touches AWS.

use super::Spec;
use super::source_map::{SourceMap, join_key};
use super::validate::{Problem, Severity, validate};
use std::path::{Path, PathBuf};

/// A spec that parsed and passed validation, with its warnings and where its fields are.
#[derive(Clone, Debug)]
pub struct LoadedSpec {
    /// The typed, defaulted spec.
    pub spec: Spec,
    /// Problems of severity warning (errors would have failed the load).
    pub warnings: Vec<Problem>,
    /// Field → line, for messages about this spec found later (e.g. at plan time).
    pub source: SourceMap,
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The spec file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Bad YAML, an unknown field or a value of the wrong type.
    #[error("{}", problems_text(.problems))]
    Syntax {
        /// One problem (the parser stops at the first).
        problems: Vec<Problem>,
    },
    /// The spec parsed but breaks rules; every problem is listed.
    #[error("{}", problems_text(.problems))]
    Invalid {
        /// Errors first, then warnings.
        problems: Vec<Problem>,
    },
}

impl LoadError {
    /// The problems to show, if the error is about the spec's content.
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Io { .. } => &[],
            LoadError::Syntax { problems } | LoadError::Invalid { problems } => problems,
        }
    }
}

fn problems_text(problems: &[Problem]) -> String {
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let mut text = format!(
        "the spec has {errors} error{}",
        if errors == 1 { "" } else { "s" }
    );
    for p in problems {
        let label = if p.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        text.push_str(&format!("\n  {label}: {p}"));
    }
    text
}

/// Reads, parses and validates a spec file.
pub fn load_file(path: &Path) -> Result<LoadedSpec, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text)
}

/// Parses and validates spec text.
pub fn load_str(text: &str) -> Result<LoadedSpec, LoadError> {
    let source = SourceMap::from_yaml(text);
    let options = serde_saphyr::options! { with_snippet: false };
    let spec: Spec = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| syntax_problem(&e, text, &source))?;
    let problems = validate(&spec, &source);
    if problems.iter().any(|p| p.severity == Severity::Error) {
        return Err(LoadError::Invalid { problems });
    }
    Ok(LoadedSpec {
        spec,
        warnings: problems,
        source,
    })
}

/// Turns a parser error into `path: message (line N)`. A missing field is named by its path in
/// the mapping that lacks it, at that mapping's line; a repeated key by its path, at the line
/// of the repeat; anything else by the deepest field on its line. A line is always one of
/// `text`'s.
fn syntax_problem(error: &serde_saphyr::Error, text: &str, source: &SourceMap) -> LoadError {
    let error = error.without_snippet();
    let last_line = yaml_lines(text);
    let position = error
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .filter(|(l, _)| *l > 0);
    // The parser may place an error at the end of input, past the last line: it is reported
    // at the last line, but names no field there.
    let line = position.map(|(l, _)| l.min(last_line));
    let at_line = |path: String, message: String, line: Option<usize>| LoadError::Syntax {
        problems: vec![Problem {
            severity: Severity::Error,
            path,
            message,
            line: line.filter(|l| (1..=last_line).contains(l)),
        }],
    };
    match (error, position) {
        (serde_saphyr::Error::SerdeMissingField { field, .. }, Some((l, c))) => {
            if let Some(mapping) = source.mapping_at(l, c) {
                let place = if mapping.is_empty() {
                    "the top-level mapping".to_string()
                } else {
                    format!("the `{mapping}` mapping")
                };
                return at_line(
                    join_key(mapping, field),
                    format!("missing field `{field}` in {place}"),
                    source.line_of(mapping).or(line),
                );
            }
        }
        (serde_saphyr::Error::SerdeMissingField { field, .. }, None) => {
            // No position (e.g. an empty document): only the top level can lack a field.
            return at_line(
                field.to_string(),
                format!("missing field `{field}` in the top-level mapping"),
                None,
            );
        }
        (serde_saphyr::Error::DuplicateMappingKey { key, .. }, Some((l, c))) => {
            if let Some((path, first)) = source.duplicate_at(l, c) {
                let key = key.as_deref().unwrap_or(path);
                return at_line(
                    path.to_string(),
                    format!("duplicate mapping key `{key}`, first at line {first}"),
                    line,
                );
            }
        }
        _ => {}
    }
    let path = position
        .and_then(|(l, _)| source.path_at_line(l))
        .unwrap_or("")
        .to_string();
    let message = error.to_string();
    // The parser appends its own position; the problem carries the line separately.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    at_line(path, message, line)
}

/// How many lines `text` has as YAML counts them (`\n`, `\r\n` and a lone `\r` end a line),
/// not counting the empty one after a final line break.
fn yaml_lines(text: &str) -> usize {
    let breaks = text.replace("\r\n", "\n").matches(['\n', '\r']).count();
    breaks + usize::from(!text.is_empty() && !text.ends_with(['\n', '\r']))
}

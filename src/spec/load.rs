//! Reading a spec: YAML text → typed [`Spec`] (unknown fields rejected, defaults applied) →
//! validated. Every failure names the field and its line; nothing here touches AWS.

use super::Spec;
use super::source_map::SourceMap;
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
        .map_err(|e| syntax_problem(&e, &source))?;
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

/// Turns a parser error into `path: message (line N)`, naming the deepest field on its line.
fn syntax_problem(error: &serde_saphyr::Error, source: &SourceMap) -> LoadError {
    let line = error
        .location()
        .map(|l| l.line() as usize)
        .filter(|l| *l > 0);
    let path = line
        .and_then(|l| source.path_at_line(l))
        .unwrap_or("")
        .to_string();
    let message = error.without_snippet().to_string();
    // The parser appends its own position; the problem carries the line separately.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    LoadError::Syntax {
        problems: vec![Problem {
            severity: Severity::Error,
            path,
            message,
            line,
        }],
    }
}

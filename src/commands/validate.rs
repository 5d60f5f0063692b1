//! `validate`: check a spec without calling AWS.

use super::{Ui, load};
use crate::spec::Problem;
use std::path::Path;

/// A valid spec's warnings.
#[derive(Debug)]
pub struct Validated {
    /// Problems of severity warning.
    pub warnings: Vec<Problem>,
}

/// Runs `validate`. `None` when the spec has errors (shown).
pub fn run(file: &Path, ui: &dyn Ui) -> anyhow::Result<Option<Validated>> {
    Ok(load::spec(file, ui)?.map(|loaded| Validated {
        warnings: loaded.warnings,
    }))
}

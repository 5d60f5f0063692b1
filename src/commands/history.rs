//! `history`: the stack's workflows (upgrades, rollbacks) as their journals in the stack's
//! bucket record them: from, to, the snapshot, each step's start and end, the outcome.

use super::{Ui, load};
use crate::aws::journals::Journals;
use crate::workflow::Journal;
use std::path::Path;

/// Every workflow of the stack, oldest first.
#[derive(Debug)]
pub struct History {
    /// The stack.
    pub stack: String,
    /// Each workflow's journal (steps by name).
    pub journals: Vec<Journal<String>>,
}

/// Runs `history`. `None` when the spec has errors (shown).
pub async fn run(
    file: &Path,
    endpoint_url: Option<String>,
    ui: &dyn Ui,
) -> anyhow::Result<Option<History>> {
    let Some((loaded, aws)) = load::spec_and_aws(file, ui, endpoint_url, None).await? else {
        return Ok(None);
    };
    let spec = &loaded.spec;
    let bucket = aws.stack_bucket(spec).await?;
    let store = Journals::new(&aws, bucket);
    let mut journals = Vec::new();
    for id in store.ids().await? {
        journals.push(store.read::<String>(&id).await?);
    }
    Ok(Some(History {
        stack: spec.name.clone(),
        journals,
    }))
}

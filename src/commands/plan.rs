//! `plan FILE`: what apply would change, optionally saved for `apply PLAN.json`.

use super::{Ui, load, pipeline};
use crate::plan::Plan;
use crate::report::ApiCallCounts;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// A plan made.
#[derive(Debug)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// AWS requests made.
    pub calls: ApiCallCounts,
    /// Where it was saved (`--out`).
    pub saved_to: Option<PathBuf>,
}

impl Planned {
    /// 2 when there are changes and `detailed` (`--detailed-exitcode`), else 0.
    pub fn exit_code(&self, detailed: bool) -> u8 {
        if detailed && !self.plan.is_empty() {
            2
        } else {
            0
        }
    }
}

/// Runs `plan` on one spec. `None` when the spec or its references in AWS have errors
/// (shown).
pub async fn run(
    file: &Path,
    only: Option<&str>,
    out: Option<PathBuf>,
    endpoint_url: Option<String>,
    ui: &dyn Ui,
) -> anyhow::Result<Option<Planned>> {
    let Some((loaded, aws)) = load::spec_and_aws(file, ui, endpoint_url, None).await? else {
        return Ok(None);
    };
    let Some((plan, _)) =
        pipeline::build_plan(&aws, file, &loaded, ui, pipeline::Purpose::Change).await?
    else {
        return Ok(None);
    };
    let plan = pipeline::limit(plan, only)?;
    if let Some(path) = &out {
        let text = serde_json::to_string_pretty(&plan)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing the plan to {}", path.display()))?;
    }
    Ok(Some(Planned {
        plan,
        calls: ApiCallCounts::from_calls(&aws.calls),
        saved_to: out,
    }))
}

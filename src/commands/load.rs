//! The inputs of a workflow: the stack spec (parsed and validated, its node files rendered
//! once so a template error stops before any AWS call), a plan saved with `plan --out`, and
//! the AWS clients, which exist only once the spec is valid.

use super::Ui;
use crate::aws::{Aws, Connect};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::spec::{LoadError, LoadedSpec, load_file};
use anyhow::{Context, bail};
use std::path::Path;
use std::time::Duration;

/// Loads and validates `file`, showing its warnings. `None` when the spec has errors (shown
/// through [`Ui::problems`]). A valid spec's files must render (a template bug, or user data
/// over EC2's limit, stops here, before any AWS call).
pub fn spec(file: &Path, ui: &dyn Ui) -> anyhow::Result<Option<LoadedSpec>> {
    match load_file(file) {
        Ok(loaded) => {
            ui.warnings(file, &loaded.warnings);
            crate::render::all_files(&loaded.spec, &crate::render::Outputs::default())
                .with_context(|| format!("{}: rendering the site's files", file.display()))?;
            Ok(Some(loaded))
        }
        Err(LoadError::Io { path, source }) => bail!("cannot read {}: {source}", path.display()),
        Err(e) => {
            ui.problems(file, e.problems());
            Ok(None)
        }
    }
}

/// [`spec`], then the AWS clients for it. `None` when the spec has errors (shown).
pub async fn spec_and_aws(
    file: &Path,
    ui: &dyn Ui,
    endpoint_url: Option<String>,
    max_wait: Option<Duration>,
) -> anyhow::Result<Option<(LoadedSpec, Aws)>> {
    let Some(loaded) = spec(file, ui)? else {
        return Ok(None);
    };
    let connect = Connect {
        endpoint_url,
        max_wait,
    };
    let aws = Aws::connect(&loaded.spec, &connect, Progress::new()).await;
    Ok(Some((loaded, aws)))
}

/// A plan saved with `plan --out`, when `file` is one (a spec is YAML, a saved plan JSON with
/// a `plan_id`).
pub fn saved_plan(file: &Path) -> anyhow::Result<Option<Plan>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let plan: Plan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a saved plan", file.display()))?;
    if plan.format_version != crate::plan::PLAN_FORMAT_VERSION {
        bail!(
            "{} is a plan of format {}; this moodle-ha reads format {}",
            file.display(),
            plan.format_version,
            crate::plan::PLAN_FORMAT_VERSION
        );
    }
    Ok(Some(plan))
}

/// The AWS clients for the stack a saved plan was made for.
pub async fn aws_for_saved(
    saved: &Plan,
    endpoint_url: Option<String>,
    max_wait: Option<Duration>,
) -> Aws {
    Aws::connect_to(
        &saved.stack,
        &saved.region,
        &saved.tags,
        &Connect {
            endpoint_url,
            max_wait,
        },
        Progress::new(),
    )
    .await
}

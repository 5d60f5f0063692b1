//! The pipeline's steps that workflows share: facts → desired → observed → plan, the plan
//! limited to one part of the spec (`--only`), destroy's plan (nothing desired), and the
//! check that a saved plan still matches AWS.

use super::Ui;
use crate::aws::Aws;
use crate::desired::{DesiredState, check_facts, desired_state};
use crate::executor::{self, Ids};
use crate::plan::{Plan, PlanOptions, plan};
use crate::spec::{LoadedSpec, Problem, Severity};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// Facts → desired → observed → plan, with the IDs of what exists. `None` when references in
/// AWS (an adopted VPC, subnets, the certificate …) are wrong (shown through
/// [`Ui::problems`]).
pub async fn build_plan(
    aws: &Aws,
    file: &Path,
    loaded: &LoadedSpec,
    ui: &dyn Ui,
) -> anyhow::Result<Option<(Plan, Ids)>> {
    let spec = &loaded.spec;
    // The release is built with git (a subprocess) while AWS is read.
    let (url, git_ref) = (spec.moodle.git_url.clone(), spec.moodle.git_ref.clone());
    let built = tokio::task::spawn_blocking(move || {
        crate::release::build::build(&url, &git_ref, &crate::release::build::cache_dir())
    });
    // Boxed: the adapters' futures are large, and a debug build copies them on the stack.
    let (mut facts, observed) =
        tokio::try_join!(Box::pin(aws.facts(spec)), Box::pin(aws.observe()))?;
    match built.await.context("building the release")? {
        Ok(built) => facts.release = Some(built.release),
        Err(e) => {
            let problem = Problem {
                severity: Severity::Error,
                path: e.field.to_string(),
                line: loaded.source.line_of(e.field),
                message: e.message,
            };
            ui.problems(file, &[problem]);
            return Ok(None);
        }
    }
    let problems = check_facts(spec, &facts, &loaded.source);
    if !problems.is_empty() {
        ui.problems(file, &problems);
        return Ok(None);
    }
    let desired = desired_state(spec, &facts);
    let plan = plan(
        &desired,
        &observed,
        &PlanOptions {
            plan_id: new_plan_id(),
            final_snapshot: spec.database.final_snapshot,
        },
    );
    Ok(Some((plan, observed.ids())))
}

/// The plan limited to one part of the spec, when asked.
pub fn limit(plan: Plan, only: Option<&str>) -> anyhow::Result<Plan> {
    match only {
        None => Ok(plan),
        Some(part) => crate::plan::select::select(&plan, part).map_err(anyhow::Error::msg),
    }
}

/// Destroy's plan: nothing desired, so every resource tagged for the stack is deleted.
pub async fn destroy_plan(aws: &Aws, loaded: &LoadedSpec) -> anyhow::Result<(Plan, Ids)> {
    let observed = Box::pin(aws.observe())
        .await
        .context("reading the stack from AWS")?;
    let nothing = DesiredState {
        stack: loaded.spec.name.clone(),
        region: loaded.spec.region.clone(),
        tags: loaded.spec.tags.clone(),
        resources: BTreeMap::new(),
    };
    let plan = plan(
        &nothing,
        &observed,
        &PlanOptions {
            plan_id: new_plan_id(),
            final_snapshot: loaded.spec.database.final_snapshot,
        },
    );
    Ok((plan, observed.ids()))
}

/// The IDs of what exists, when AWS still matches every attribute `saved` (read from `file`)
/// was planned against; else the "stale plan" error.
pub async fn check_saved(aws: &Aws, saved: &Plan, file: &Path) -> anyhow::Result<Ids> {
    let observed = Box::pin(aws.observe())
        .await
        .context("reading the stack from AWS")?;
    if !saved.still_matches(&observed) {
        bail!(
            "stale plan: the stack changed in AWS since {} was planned; nothing was changed. Run `moodle-ha plan --out` again and review the new plan",
            file.display()
        );
    }
    Ok(observed.ids())
}

fn new_plan_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    executor::short_hash(&format!("{}-{}", now.as_nanos(), std::process::id()), 8)
}

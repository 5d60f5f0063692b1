//! The pipeline's steps that workflows share: facts → desired → observed → plan (with a
//! release change planned as the upgrade workflow), the plan limited to one part of the spec
//! (`--only`), destroy's plan (nothing desired), and the
//! check that a saved plan still matches AWS.

use super::Ui;
use crate::aws::Aws;
use crate::desired::{DesiredState, Facts, check_facts, desired_state};
use crate::executor::{self, Ids};
use crate::model::{Kind, ResourceKey};
use crate::plan::{Plan, PlanOptions, plan};
use crate::spec::{LoadedSpec, Problem, Severity};
use crate::upgrade::plan::{NewCode, plan_upgrade};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// What a plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To be carried out (`plan`, `apply`): a release change becomes the upgrade workflow.
    Change,
    /// To compare (`drift`): a release change is a difference like any other.
    Compare,
}

/// Facts → desired → observed → plan, with the IDs of what exists. `None` when references in
/// AWS (an adopted VPC, subnets, the certificate …) are wrong, or the preflight refuses a new
/// release (shown through [`Ui::problems`]).
pub async fn build_plan(
    aws: &Aws,
    file: &Path,
    loaded: &LoadedSpec,
    ui: &dyn Ui,
    purpose: Purpose,
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
    let mut plan = plan(
        &desired,
        &observed,
        &PlanOptions {
            plan_id: new_plan_id(),
            final_snapshot: spec.database.final_snapshot,
        },
    );
    if purpose == Purpose::Change
        && let Err(problem) = plan_release_change(aws, loaded, &facts, &mut plan).await?
    {
        ui.problems(file, &[problem]);
        return Ok(None);
    }
    Ok(Some((plan, observed.ids())))
}

/// A release change in `plan` (or the stack's unfinished upgrade) planned as the upgrade
/// workflow; the preflight's refusal as a problem on `moodle.git_ref`.
async fn plan_release_change(
    aws: &Aws,
    loaded: &LoadedSpec,
    facts: &Facts,
    plan: &mut Plan,
) -> anyhow::Result<Result<(), Problem>> {
    let (spec, Some(release)) = (&loaded.spec, facts.release.as_ref()) else {
        return Ok(Ok(()));
    };
    let bucket = crate::desired::bucket_name(spec, facts);
    let open = super::upgrade::open_upgrade(aws, &bucket).await?;
    let key = ResourceKey::new(Kind::Release, crate::desired::RELEASE);
    let changes_release = plan.changes.iter().any(|c| c.key == key);
    if open.is_none() && !changes_release {
        return Ok(Ok(()));
    }
    let environment = crate::release::build::environment_xml(
        &crate::release::build::cache_dir(),
        &release.commit,
    );
    let new = NewCode {
        release,
        environment: environment.as_deref(),
    };
    let id = super::upgrade::new_id("upgrade", time::OffsetDateTime::now_utc());
    match plan_upgrade(plan, spec, &new, open.as_ref(), &id) {
        Ok(Some(mut upgrade)) => {
            upgrade.bucket = bucket;
            plan.upgrade = Some(upgrade);
            Ok(Ok(()))
        }
        Ok(None) => Ok(Ok(())),
        Err(blocked) => Ok(Err(Problem {
            severity: Severity::Error,
            path: "moodle.git_ref".into(),
            line: loaded.source.line_of("moodle.git_ref"),
            message: blocked.to_string(),
        })),
    }
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

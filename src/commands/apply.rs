//! `apply`: converge AWS to a spec (or carry out a plan saved with `plan --out`, while AWS
//! still matches what it was planned against), holding the stack's lock for the whole run;
//! a release change is the upgrade workflow ([`super::upgrade`]) around the resource changes.

use super::execute::{self, Applied, Approval, Settings};
use super::interrupt::Interrupt;
use super::{Ui, load, pipeline, upgrade};
use crate::aws::{Aws, lock};
use crate::executor::{ApplyReport, Ids};
use crate::plan::Plan;
use crate::report::ApiCallCounts;
use crate::upgrade::steps::UpgradeStep;
use crate::workflow::Finished;
use anyhow::bail;
use std::path::PathBuf;

/// What `apply` was asked.
#[derive(Clone, Debug)]
pub struct Args {
    /// The spec, or a saved plan.
    pub file: PathBuf,
    /// Limit the changes to one part of the spec.
    pub only: Option<String>,
    /// Do not ask for confirmation.
    pub yes: bool,
    /// Allow replacing or deleting resources that hold data.
    pub allow_data_loss: bool,
    /// Turn RDS deletion protection off where a planned replacement needs it.
    pub disable_deletion_protection: bool,
    /// Concurrency, waits, the lock.
    pub settings: Settings,
    /// AWS endpoint override.
    pub endpoint_url: Option<String>,
}

/// Runs `apply`. `None` when the spec or its references in AWS have errors (shown).
pub async fn run(args: Args, ui: &dyn Ui) -> anyhow::Result<Option<Applied>> {
    let interrupt = Interrupt::listen()?;
    let approval = Approval {
        yes: args.yes,
        allow_data_loss: args.allow_data_loss,
        disable_deletion_protection: args.disable_deletion_protection,
        prompt: "Apply these changes? Type `yes`: ".into(),
        expected: "yes".into(),
        cancelled: "apply cancelled; nothing was changed",
    };
    let (file, settings) = (&args.file, &args.settings);
    if let Some(saved) = load::saved_plan(file)? {
        if args.only.is_some() {
            bail!("`--only` applies to a spec; a saved plan is applied exactly as it was made");
        }
        let aws = load::aws_for_saved(&saved, args.endpoint_url, settings.max_wait).await;
        // Boxed, as every workflow's large future (see `pipeline::build_plan`).
        return Box::pin(lock::hold(&aws, "apply", settings.force_unlock, async {
            interrupt.check()?;
            let ids = interrupt
                .unless_stopped(pipeline::check_saved(&aws, &saved, file))
                .await?;
            let applied = carry_out(&aws, &saved, ids, settings, &approval, ui, &interrupt);
            Ok(Some(applied.await?))
        }))
        .await;
    }
    let opened = interrupt.unless_stopped(load::spec_and_aws(
        file,
        ui,
        args.endpoint_url,
        settings.max_wait,
    ));
    let Some((loaded, aws)) = opened.await? else {
        return Ok(None);
    };
    Box::pin(lock::hold(&aws, "apply", settings.force_unlock, async {
        interrupt.check()?;
        let planned = pipeline::build_plan(&aws, file, &loaded, ui, pipeline::Purpose::Change);
        let Some((plan, ids)) = interrupt.unless_stopped(planned).await? else {
            return Ok(None);
        };
        let plan = pipeline::limit(plan, args.only.as_deref())?;
        let applied = carry_out(&aws, &plan, ids, settings, &approval, ui, &interrupt);
        Ok(Some(applied.await?))
    }))
    .await
}

/// The plan's resource changes, and its upgrade around them: the preflight before anything
/// changes, the rest of the workflow once the resources converged. The upgrade's steps stop
/// at a signal like the executor's (the journal in the stack says where to go on).
async fn carry_out(
    aws: &Aws,
    plan: &Plan,
    ids: Ids,
    settings: &Settings,
    approval: &Approval,
    ui: &dyn Ui,
    interrupt: &Interrupt,
) -> anyhow::Result<Applied> {
    let Some(up) = &plan.upgrade else {
        return execute::carry_out(aws, plan, ids, settings, approval, ui, interrupt).await;
    };
    if let Some(nothing) = execute::approve(aws, plan, approval, ui, interrupt).await? {
        return Ok(nothing);
    }
    let stop = interrupt.stop();
    let (first, rest) = UpgradeStep::ORDER.split_at(1);
    let in_window = upgrade::InWindow {
        plan,
        settings,
        ui,
        interrupt,
    };
    let preflight = Box::pin(upgrade::run_steps(aws, &plan.stack, up, first, stop, None)).await?;
    if preflight.finished != Finished::Succeeded {
        return Ok(Applied::Carried {
            plan: plan.clone(),
            report: ApplyReport::default(),
            calls: ApiCallCounts::from_calls(&aws.calls),
            interrupted: interrupt.received(),
            upgrade: Some(Box::new(preflight)),
        });
    }
    let mut applied = execute::run(aws, plan, ids, settings, ui, interrupt).await?;
    if let Applied::Carried {
        report,
        interrupted,
        upgrade: ran,
        ..
    } = &mut applied
    {
        *ran = Some(Box::new(if report.succeeded() && interrupted.is_none() {
            Box::pin(upgrade::run_steps(
                aws,
                &plan.stack,
                up,
                rest,
                stop,
                Some(&in_window),
            ))
            .await?
        } else {
            preflight
        }));
        if interrupted.is_none() {
            *interrupted = interrupt.received();
        }
    }
    Ok(applied)
}

//! Carrying a plan out, for apply and destroy: the data-loss check, the confirmation, the
//! executor (stopped by a signal, see [`super::interrupt`]), and the stack's outputs read
//! again once the resources exist.

use super::Ui;
use super::interrupt::{Interrupt, Signal};
use crate::aws::Aws;
use crate::executor::{self, ApplyReport, Ids};
use crate::plan::Plan;
use crate::report::ApiCallCounts;
use anyhow::{Context, bail};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// Settings of a run that changes AWS.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Steps run at once.
    pub concurrency: usize,
    /// Cap on every wait.
    pub max_wait: Option<Duration>,
    /// Take the stack's lock even though another run holds it.
    pub force_unlock: bool,
}

/// What a run that changes AWS needs before it may start.
#[derive(Clone, Debug)]
pub struct Approval {
    /// Do not ask.
    pub yes: bool,
    /// Replacing or deleting resources that hold data is allowed.
    pub allow_data_loss: bool,
    /// RDS deletion protection may be turned off.
    pub disable_deletion_protection: bool,
    /// The question asked on the terminal.
    pub prompt: String,
    /// The answer that goes ahead.
    pub expected: String,
    /// The error when the answer is anything else.
    pub cancelled: &'static str,
}

/// What apply or destroy did.
#[derive(Debug)]
pub enum Applied {
    /// The plan was empty: nothing was done.
    NothingToDo {
        /// The (empty) plan.
        plan: Plan,
        /// AWS requests made.
        calls: ApiCallCounts,
    },
    /// The plan was carried out, all of it or part (see the report).
    Carried {
        /// The plan, with the stack's outputs as they are now.
        plan: Plan,
        /// Every step and how it ended.
        report: ApplyReport,
        /// AWS requests made.
        calls: ApiCallCounts,
        /// The signal that stopped the run early.
        interrupted: Option<Signal>,
        /// The upgrade workflow, when the plan had one and it ran.
        upgrade: Option<Box<super::upgrade::Ran>>,
    },
}

impl Applied {
    /// 0 when everything was done, 130/143 after a signal, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Applied::NothingToDo { .. } => 0,
            Applied::Carried {
                interrupted: Some(signal),
                ..
            } => signal.exit_code(),
            Applied::Carried {
                report, upgrade, ..
            } => u8::from(
                !report.succeeded()
                    || upgrade
                        .as_ref()
                        .is_some_and(|u| u.finished != crate::workflow::Finished::Succeeded),
            ),
        }
    }
}

/// Shows the plan, checks data loss and the confirmation, carries the plan out and reads the
/// outputs again.
pub async fn carry_out(
    aws: &Aws,
    plan: &Plan,
    ids: Ids,
    settings: &Settings,
    approval: &Approval,
    ui: &dyn Ui,
    interrupt: &Interrupt,
) -> anyhow::Result<Applied> {
    if let Some(nothing) = approve(aws, plan, approval, ui, interrupt).await? {
        return Ok(nothing);
    }
    run(aws, plan, ids, settings, ui, interrupt).await
}

/// Shows the plan and checks data loss and the confirmation: `Some(NothingToDo)` for an
/// empty plan, `None` when the plan may be carried out, an error when it may not.
pub async fn approve(
    aws: &Aws,
    plan: &Plan,
    approval: &Approval,
    ui: &dyn Ui,
    interrupt: &Interrupt,
) -> anyhow::Result<Option<Applied>> {
    ui.plan_to_apply(plan);
    if plan.is_empty() {
        return Ok(Some(Applied::NothingToDo {
            plan: plan.clone(),
            calls: ApiCallCounts::from_calls(&aws.calls),
        }));
    }
    if let Err(refusal) = plan.check_allowed(
        approval.allow_data_loss,
        approval.disable_deletion_protection,
    ) {
        bail!("{refusal}");
    }
    if !approval.yes && !confirmed(approval, interrupt).await? {
        bail!("{}", approval.cancelled);
    }
    interrupt.check()?;
    Ok(None)
}

/// Carries an approved plan's resource changes out and reads the outputs again.
pub async fn run(
    aws: &Aws,
    plan: &Plan,
    ids: Ids,
    settings: &Settings,
    ui: &dyn Ui,
    interrupt: &Interrupt,
) -> anyhow::Result<Applied> {
    ui.starting(&aws.progress);
    let on_event = |event: executor::Event<'_>| ui.step(&aws.progress, event);
    let report = Box::pin(executor::execute_until(
        plan,
        aws,
        ids,
        settings.concurrency,
        &on_event,
        interrupt.stop(),
    ))
    .await;
    let interrupted = interrupt.received();
    if interrupted.is_some() {
        aws.progress.end_all_waits();
    }
    let mut plan = plan.clone();
    // Outputs (endpoints, secret ARNs) exist once the resources do: read them again, unless
    // the run was interrupted (then the next apply prints them).
    if interrupted.is_none() {
        match Box::pin(aws.observe()).await {
            Ok(observed) => plan.outputs = observed.outputs(),
            Err(e) => tracing::warn!("reading outputs after apply: {e:#}"),
        }
    }
    Ok(Applied::Carried {
        plan,
        report,
        calls: ApiCallCounts::from_calls(&aws.calls),
        interrupted,
        upgrade: None,
    })
}

/// Asks on the terminal; a signal while waiting for the answer ends the run.
async fn confirmed(approval: &Approval, interrupt: &Interrupt) -> anyhow::Result<bool> {
    let (prompt, expected) = (approval.prompt.clone(), approval.expected.clone());
    let answer = tokio::task::spawn_blocking(move || confirm(&prompt, &expected));
    interrupt
        .unless_stopped(async { answer.await.context("reading the confirmation")? })
        .await
}

fn confirm(prompt: &str, expected: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "confirmation needed but stdin is not a terminal; pass `--yes` to go ahead without it"
        );
    }
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == expected)
}

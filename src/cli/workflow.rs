//! Workflows (an upgrade, a rollback) as text: how a run ended and what to do next, and the
//! stack's history of them (`history`).

use crate::commands::upgrade::Ran;
use crate::upgrade::steps::UpgradeStep;
use crate::workflow::{Ending, Finished, Journal};
use std::fmt::Write;

/// How an upgrade run ended, each step's times, and what to do next.
pub fn render_ran(ran: &Ran) -> String {
    let j = &ran.journal;
    let mut out = String::new();
    match &ran.finished {
        Finished::Succeeded if matches!(j.state, crate::workflow::State::Succeeded) => {
            let _ = writeln!(out, "Upgrade {} done: {}.", j.id, j.title);
        }
        Finished::Succeeded => {
            let _ = writeln!(out, "Upgrade {}: {} (begun).", j.id, j.title);
        }
        Finished::Failed { step, message } => {
            let _ = writeln!(
                out,
                "Upgrade {} FAILED at `{}`: {message}",
                j.id,
                step.name()
            );
            let _ = writeln!(out, "{}", after_failure(*step, j));
        }
        Finished::Stopped { next } => {
            let _ = writeln!(
                out,
                "Upgrade {} stopped before `{}`; the same `apply` goes on from there.",
                j.id,
                next.name()
            );
        }
    }
    out.push_str(&steps_table(j));
    if let Some(s) = j.facts.get("snapshot") {
        let _ = writeln!(out, "Snapshot before the upgrade: {s}");
    }
    if let Some(w) = window(j) {
        let _ = writeln!(out, "Maintenance window: {w} s");
    }
    out
}

/// What the operator can do after a failed step.
fn after_failure(step: UpgradeStep, j: &Journal<UpgradeStep>) -> String {
    if step.in_window() {
        format!(
            "The site stays in maintenance (users see Moodle's maintenance page); nothing serves the new code half-upgraded. Either fix the cause and run `apply` again (it resumes at `{}`), or run `moodle-ha rollback SPEC` to restore {} and the previous release.",
            step.name(),
            j.facts
                .get("snapshot")
                .map_or("the snapshot taken before the upgrade", String::as_str)
        )
    } else {
        format!(
            "The site was not put in maintenance and serves as before. Fix the cause and run `apply` again (it resumes at `{}`).",
            step.name()
        )
    }
}

/// Each step with its start, end and outcome.
pub fn steps_table<S: serde::Serialize>(j: &Journal<S>) -> String {
    let mut out = String::new();
    for e in &j.steps {
        let name = serde_json::to_value(&e.step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let took = e
            .ended
            .map(|end| format!("{} s", (end - e.started).whole_seconds()))
            .unwrap_or_else(|| "not ended".into());
        let outcome = match e.outcome {
            Some(Ending::Done) => "done",
            Some(Ending::Failed) => "FAILED",
            None => "begun",
        };
        let _ = writeln!(
            out,
            "  {name:<16} {outcome:<7} {took:>10}  started {}{}",
            e.started,
            if e.attempts > 1 {
                format!(" (attempt {})", e.attempts)
            } else {
                String::new()
            }
        );
    }
    out
}

/// Seconds from maintenance on to maintenance off, once both are done.
fn window(j: &Journal<UpgradeStep>) -> Option<i64> {
    let on = j.entry(UpgradeStep::MaintenanceOn)?;
    let off = j.entry(UpgradeStep::MaintenanceOff)?;
    Some((off.ended? - on.started).whole_seconds())
}

/// `history` as text: each workflow, its outcome and its steps.
pub fn render_history(history: &crate::commands::history::History) -> String {
    if history.journals.is_empty() {
        return format!(
            "Stack `{}` has no upgrades or rollbacks recorded.\n",
            history.stack
        );
    }
    let mut out = String::new();
    for j in &history.journals {
        let state = match &j.state {
            crate::workflow::State::Running => "unfinished".to_string(),
            crate::workflow::State::Succeeded => "succeeded".to_string(),
            crate::workflow::State::Failed { step, .. } => format!("FAILED at {step}"),
            crate::workflow::State::Closed { by } => format!("closed by {by}"),
        };
        let _ = writeln!(out, "{}  {}  [{state}]", j.id, j.title);
        out.push_str(&steps_table(j));
        for (k, v) in &j.facts {
            if k != "from" && k != "to" {
                let _ = writeln!(out, "  {k}: {v}");
            }
        }
    }
    out
}

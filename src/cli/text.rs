//! Text output, for people: every result and progress line `moodle-ha` prints without
//! `--output json`. Results go to stdout; warnings, problems and progress to stderr.

use super::Printer;
use crate::commands::Ui;
use crate::commands::drift::Drift;
use crate::commands::execute::Applied;
use crate::commands::interrupt::GRACE;
use crate::commands::plan::Planned;
use crate::commands::plan_dir::PlannedDir;
use crate::commands::render::Rendered;
use crate::commands::validate::Validated;
use crate::executor::{ApplyReport, Event, Outcome, Step, StepReport};
use crate::plan::Plan;
use crate::plan::render::render_plan;
use crate::progress::Progress;
use crate::report::ApiCallCounts;
use crate::spec::{Problem, Severity};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The text format.
pub struct Text;

impl Ui for Text {
    fn warnings(&self, file: &Path, warnings: &[Problem]) {
        for w in warnings {
            eprintln!("warning: {}: {w}", file.display());
        }
    }

    fn problems(&self, file: &Path, problems: &[Problem]) {
        for p in problems {
            let label = if p.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            eprintln!("{label}: {}: {p}", file.display());
        }
        let errors = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        eprintln!(
            "{}: {errors} error{}; nothing was sent to AWS",
            file.display(),
            plural(errors)
        );
    }

    fn plan_to_apply(&self, plan: &Plan) {
        print_plan(plan);
    }

    fn starting(&self, progress: &Progress) {
        progress.line("");
    }

    fn step(&self, progress: &Progress, event: Event<'_>) {
        progress.line(&match event {
            Event::Started(key, step) => format!("  {} {key} …", verb(step, false)),
            Event::Finished(report) => finished(report),
            Event::Stopping { in_flight } => format!(
                "  interrupted: no new step starts; {in_flight} step{} in flight get{} up to {} s to finish (a second signal gives them up now)",
                plural(in_flight),
                if in_flight == 1 { "s" } else { "" },
                GRACE.as_secs()
            ),
        });
    }
}

impl Printer for Text {
    fn validated(&self, file: &Path, validated: &Validated) -> anyhow::Result<()> {
        let n = validated.warnings.len();
        println!("{}: valid ({n} warning{})", file.display(), plural(n));
        Ok(())
    }

    fn planned(&self, planned: &Planned) -> anyhow::Result<()> {
        print_plan(&planned.plan);
        if let Some(path) = &planned.saved_to {
            println!(
                "Saved to {}; `moodle-ha apply {}` carries out exactly this plan.",
                path.display(),
                path.display()
            );
        }
        Ok(())
    }

    fn planned_dir(&self, planned: &PlannedDir) -> anyhow::Result<()> {
        for (file, result) in &planned.stacks {
            match result {
                Ok(Some((plan, calls))) => {
                    let s = plan.summary();
                    println!(
                        "{}: {} ({} to add, {} to change, {} to replace, {} to destroy; {} AWS requests)",
                        plan.stack,
                        if plan.is_empty() {
                            "no changes"
                        } else {
                            "changes"
                        },
                        s.create,
                        s.update,
                        s.replace,
                        s.delete,
                        calls.total
                    );
                }
                Ok(None) => {}
                Err(e) => eprintln!("error: {}: {e:#}", file.display()),
            }
        }
        println!(
            "{} stacks planned in {:.2}s ({} at once): {} with changes, {} failed.",
            planned.stacks.len(),
            planned.elapsed.as_secs_f64(),
            planned.parallel,
            planned.changed(),
            planned.failed()
        );
        Ok(())
    }

    fn drift(&self, drift: &Drift) -> anyhow::Result<()> {
        print!("{}", crate::plan::drift::render(&drift.report));
        Ok(())
    }

    fn history(&self, history: &crate::commands::history::History) -> anyhow::Result<()> {
        print!("{}", super::workflow::render_history(history));
        Ok(())
    }

    fn applied(&self, applied: &Applied) -> anyhow::Result<()> {
        let Applied::Carried {
            plan,
            report,
            calls,
            interrupted,
            upgrade,
        } = applied
        else {
            // Nothing to do: the (empty) plan was shown before.
            return Ok(());
        };
        if let Some(ran) = upgrade {
            println!("\n{}", crate::cli::workflow::render_ran(ran));
        }
        let Some(signal) = interrupted else {
            if !plan.outputs.is_empty() {
                println!("\nOutputs:");
                for (name, value) in &plan.outputs {
                    println!("  {name} = {value}");
                }
            }
            let (done, failed, skipped) = (
                count(report, |o| matches!(o, Outcome::Done { .. })),
                count(report, |o| matches!(o, Outcome::Failed { .. })),
                count(report, |o| matches!(o, Outcome::Skipped { .. })),
            );
            println!(
                "\nDone: {done} step{} succeeded, {failed} failed, {skipped} skipped ({}).",
                plural(done),
                requests(calls)
            );
            return Ok(());
        };
        println!(
            "\nInterrupted by {}: {} ({}). The stack's lock is released; the same command run again goes on from what exists.",
            signal.name(),
            tally(report),
            requests(calls)
        );
        let not_done: Vec<&StepReport> = report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Abandoned { .. } | Outcome::NotStarted))
            .collect();
        if !not_done.is_empty() {
            println!("Not done:");
            for step in not_done {
                println!("{}", finished(step));
            }
        }
        Ok(())
    }

    fn rendered(&self, rendered: &Rendered) -> anyhow::Result<()> {
        for (path, bytes) in &rendered.written {
            println!("wrote {} ({bytes} bytes)", path.display());
        }
        let missing = &rendered.known_after_apply;
        if !missing.is_empty() {
            println!(
                "config.php marks {} as `<known after apply: …>`: {}; each node fills them in at boot",
                if missing.len() == 1 {
                    "one value"
                } else {
                    "values"
                },
                missing.join(", ")
            );
        }
        Ok(())
    }

    fn man_pages(&self, written: &[PathBuf]) -> anyhow::Result<()> {
        for path in written {
            println!("wrote {}", path.display());
        }
        Ok(())
    }
}

fn print_plan(plan: &Plan) {
    let mut out = anstream::stdout();
    let _ = write!(out, "{}", render_plan(plan));
}

/// The line for a step that ended.
fn finished(report: &StepReport) -> String {
    let (step, key) = (report.step, &report.key);
    match &report.outcome {
        Outcome::Done { id, seconds } => {
            let id = id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
            format!("  {} {key}{id} in {seconds:.1}s", verb(step, true))
        }
        Outcome::Failed { error } => format!("  FAILED to {} {key}: {error}", infinitive(step)),
        Outcome::Skipped { because } => {
            format!(
                "  skipped: {} {key}, because {because} failed",
                infinitive(step)
            )
        }
        Outcome::Abandoned { seconds } => format!(
            "  given up: {} {key} after {seconds:.1}s in flight (AWS may still carry it out)",
            infinitive(step)
        ),
        Outcome::NotStarted => format!("  not started: {} {key}", infinitive(step)),
    }
}

/// Steps by outcome, e.g. `3 steps succeeded, 0 failed, 0 skipped, 1 given up, 9 not started`.
fn tally(report: &ApplyReport) -> String {
    let done = count(report, |o| matches!(o, Outcome::Done { .. }));
    format!(
        "{done} step{} succeeded, {} failed, {} skipped, {} given up, {} not started",
        plural(done),
        count(report, |o| matches!(o, Outcome::Failed { .. })),
        count(report, |o| matches!(o, Outcome::Skipped { .. })),
        count(report, |o| matches!(o, Outcome::Abandoned { .. })),
        count(report, |o| matches!(o, Outcome::NotStarted)),
    )
}

fn count(report: &ApplyReport, which: impl Fn(&Outcome) -> bool) -> usize {
    report.steps.iter().filter(|s| which(&s.outcome)).count()
}

fn requests(calls: &ApiCallCounts) -> String {
    format!(
        "{} AWS requests, {} of them retries",
        calls.total, calls.retries
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn infinitive(step: Step) -> &'static str {
    match step {
        Step::Create => "create",
        Step::Update => "update",
        Step::Delete => "delete",
    }
}

fn verb(step: Step, done: bool) -> &'static str {
    match (step, done) {
        (Step::Create, false) => "creating",
        (Step::Create, true) => "created",
        (Step::Update, false) => "updating",
        (Step::Update, true) => "updated",
        (Step::Delete, false) => "deleting",
        (Step::Delete, true) => "deleted",
    }
}

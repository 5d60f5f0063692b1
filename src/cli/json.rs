//! `--output json`: every document `moodle-ha` prints for machines, one per command on
//! stdout (schemas in `stacks/`). Warnings and the notice of an interrupted run still go to
//! stderr as text.

use super::Printer;
use super::text::Text;
use crate::commands::Ui;
use crate::commands::drift::Drift;
use crate::commands::execute::Applied;
use crate::commands::plan::Planned;
use crate::commands::plan_dir::PlannedDir;
use crate::commands::render::Rendered;
use crate::commands::validate::Validated;
use crate::executor::{ApplyReport, Event};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::report::{ApiCallCounts, DriftDocument, PlanDocument};
use crate::spec::Problem;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The JSON format.
pub struct Json;

impl Ui for Json {
    fn warnings(&self, file: &Path, warnings: &[Problem]) {
        Text.warnings(file, warnings);
    }

    fn problems(&self, file: &Path, problems: &[Problem]) {
        let doc = json!({"format_version": 1, "file": file.display().to_string(), "valid": false, "problems": problems});
        let _ = print(&doc);
    }

    fn plan_to_apply(&self, _plan: &Plan) {}

    fn starting(&self, _progress: &Progress) {}

    fn step(&self, progress: &Progress, event: Event<'_>) {
        if let Event::Stopping { .. } = event {
            Text.step(progress, event);
        }
    }
}

impl Printer for Json {
    fn validated(&self, file: &Path, validated: &Validated) -> anyhow::Result<()> {
        print(
            &json!({"format_version": 1, "file": file.display().to_string(), "valid": true, "problems": validated.warnings}),
        )
    }

    fn planned(&self, planned: &Planned) -> anyhow::Result<()> {
        plan_document(&planned.plan, &planned.calls, None)
    }

    fn planned_dir(&self, planned: &PlannedDir) -> anyhow::Result<()> {
        let mut documents = Vec::new();
        for (file, result) in &planned.stacks {
            match result {
                Ok(Some((plan, calls))) => documents.push(serde_json::to_value(
                    PlanDocument::new(plan, calls.clone(), None),
                )?),
                Ok(None) => {}
                Err(e) => eprintln!("error: {}: {e:#}", file.display()),
            }
        }
        print(&json!({
            "format_version": crate::plan::PLAN_FORMAT_VERSION,
            "stacks": documents,
            "failed": planned.failed(),
            "seconds": planned.elapsed.as_secs_f64(),
        }))
    }

    fn drift(&self, drift: &Drift) -> anyhow::Result<()> {
        print(&DriftDocument {
            report: drift.report.clone(),
            api_calls: drift.calls.clone(),
        })
    }

    fn history(&self, history: &crate::commands::history::History) -> anyhow::Result<()> {
        print(&json!({
            "format_version": 1,
            "stack": history.stack,
            "workflows": history.journals,
        }))
    }

    fn applied(&self, applied: &Applied) -> anyhow::Result<()> {
        match applied {
            Applied::NothingToDo { plan, calls } => {
                plan_document(plan, calls, Some(&ApplyReport::default()))
            }
            Applied::Carried {
                plan,
                report,
                calls,
                upgrade,
                ..
            } => {
                let mut doc = PlanDocument::new(plan, calls.clone(), Some(report));
                doc.workflow = upgrade.as_ref().map(|u| serde_json::json!(u.journal));
                print(&doc)
            }
        }
    }

    fn rendered(&self, rendered: &Rendered) -> anyhow::Result<()> {
        let files: Vec<_> = rendered
            .written
            .iter()
            .map(|(path, bytes)| json!({"file": path.display().to_string(), "bytes": bytes}))
            .collect();
        print(
            &json!({"format_version": 1, "files": files, "known_after_apply": rendered.known_after_apply}),
        )
    }

    fn man_pages(&self, written: &[PathBuf]) -> anyhow::Result<()> {
        let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        print(&json!({"format_version": 1, "files": files}))
    }
}

fn plan_document(
    plan: &Plan,
    calls: &ApiCallCounts,
    report: Option<&ApplyReport>,
) -> anyhow::Result<()> {
    print(&PlanDocument::new(plan, calls.clone(), report))
}

/// Prints one pretty-printed document and a newline.
fn print(doc: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(doc)?);
    Ok(())
}

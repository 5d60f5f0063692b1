//! What a workflow shows its user while it runs: a valid spec's warnings and a rejected
//! spec's problems as they are found, the plan before it is confirmed, and each step as it
//! starts and ends. The command line implements it once per output format.

use crate::executor::Event;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::spec::Problem;
use std::path::Path;

/// The user's side of a running workflow.
pub trait Ui: Sync {
    /// Warnings of a spec that loaded.
    fn warnings(&self, file: &Path, warnings: &[Problem]);
    /// Problems that stop the command (the spec's own, or its references in AWS); the
    /// workflow then returns `None` and the command exits 1.
    fn problems(&self, file: &Path, problems: &[Problem]);
    /// The plan apply or destroy is about to carry out, before the confirmation.
    fn plan_to_apply(&self, plan: &Plan);
    /// The first step is about to start.
    fn starting(&self, progress: &Progress);
    /// A step started or ended, or the run is stopping; printed through `progress` so
    /// spinners stay intact.
    fn step(&self, progress: &Progress, event: Event<'_>);
}

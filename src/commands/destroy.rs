//! `destroy`: delete every resource tagged for the stack, in reverse dependency order, after
//! the stack's name is typed, holding the stack's lock for the whole run.

use super::execute::{self, Applied, Approval, Settings};
use super::interrupt::Interrupt;
use super::{Ui, load, pipeline};
use crate::aws::lock;
use std::path::PathBuf;

/// What `destroy` was asked.
#[derive(Clone, Debug)]
pub struct Args {
    /// The spec.
    pub file: PathBuf,
    /// Do not ask for the stack name.
    pub yes: bool,
    /// Turn deletion protection off so the database and the load balancer can be deleted.
    pub disable_deletion_protection: bool,
    /// Concurrency, waits, the lock.
    pub settings: Settings,
    /// AWS endpoint override.
    pub endpoint_url: Option<String>,
}

/// Runs `destroy`. `None` when the spec has errors (shown).
pub async fn run(args: Args, ui: &dyn Ui) -> anyhow::Result<Option<Applied>> {
    let interrupt = Interrupt::listen()?;
    let settings = &args.settings;
    let opened = interrupt.unless_stopped(load::spec_and_aws(
        &args.file,
        ui,
        args.endpoint_url,
        settings.max_wait,
    ));
    let Some((loaded, aws)) = opened.await? else {
        return Ok(None);
    };
    let name = loaded.spec.name.clone();
    let approval = Approval {
        yes: args.yes,
        // Destroying is the point of the command; the typed stack name is the guard.
        allow_data_loss: true,
        disable_deletion_protection: args.disable_deletion_protection,
        prompt: format!("Destroy every resource above? Type the stack name `{name}`: "),
        expected: name,
        cancelled: "destroy cancelled; nothing was deleted",
    };
    Box::pin(lock::hold(&aws, "destroy", settings.force_unlock, async {
        interrupt.check()?;
        let (plan, ids) = interrupt
            .unless_stopped(pipeline::destroy_plan(&aws, &loaded))
            .await?;
        let applied =
            execute::carry_out(&aws, &plan, ids, settings, &approval, ui, &interrupt).await?;
        Ok(Some(applied))
    }))
    .await
}

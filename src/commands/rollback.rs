//! `rollback`: undo the stack's unfinished upgrade, as its own resumable workflow (journal in
//! the stack's bucket, the stack's lock held throughout, printed before it runs and confirmed
//! like `apply`): maintenance on, cron paused, the upgrade's snapshot restored and the
//! identifiers swapped (an RDS instance, or an Aurora cluster and its instances), the previous
//! release back on the cron instance and in the record,
//! previous-release web nodes in service, maintenance off. The upgrade's journal is then
//! closed as rolled back.

use super::execute::{Approval, Settings};
use super::interrupt::Interrupt;
use super::upgrade::{
    checkpoint, end_maintenance, event_line, fact, journal_release, new_id, on_cron, record_fleet,
    switch_to_new,
};
use super::{Ui, load};
use crate::aws::fleet::{self, WHILE_IN_MAINTENANCE, WHILE_WARM};
use crate::aws::journals::Journals;
use crate::aws::{Aws, lock, restore, restore_cluster};
use crate::names::Names;
use crate::release::Release;
use crate::upgrade::plan::Database;
use crate::upgrade::rollback::{FleetBefore, Rollback, RollbackStep};
use crate::upgrade::steps::UpgradeStep;
use crate::workflow::{self, Finished, Journal, Order, State, Store};
use anyhow::bail;
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::OffsetDateTime;

/// What `rollback` was asked.
#[derive(Clone, Debug)]
pub struct Args {
    /// The spec.
    pub file: PathBuf,
    /// Do not ask for confirmation.
    pub yes: bool,
    /// Waits, the lock.
    pub settings: Settings,
    /// AWS endpoint override.
    pub endpoint_url: Option<String>,
}

/// What a rollback run did.
#[derive(Debug)]
pub struct RolledBack {
    /// The rollback.
    pub rollback: Rollback,
    /// Its journal as saved in the stack.
    pub journal: Journal<RollbackStep>,
    /// How the run ended.
    pub finished: Finished<RollbackStep>,
}

impl RolledBack {
    /// 0 when the site is back on the previous release, 130/143 after a signal, else 1.
    pub fn exit_code(&self, interrupt: Option<u8>) -> u8 {
        match (&self.finished, interrupt) {
            (Finished::Succeeded, _) => 0,
            (_, Some(code)) => code,
            _ => 1,
        }
    }
}

/// Runs `rollback`. `None` when the spec has errors (shown).
pub async fn run(args: Args, ui: &dyn Ui) -> anyhow::Result<Option<(RolledBack, u8)>> {
    let interrupt = Interrupt::listen()?;
    let opened = load::spec_and_aws(&args.file, ui, args.endpoint_url, args.settings.max_wait);
    let Some((loaded, aws)) = interrupt.unless_stopped(opened).await? else {
        return Ok(None);
    };
    let spec = &loaded.spec;
    let bucket = aws.stack_bucket(spec).await?;
    let plan = plan(&aws, &bucket, Database::of(spec)).await?;
    aws.progress.line(&plan.render());
    let approval = Approval {
        yes: args.yes,
        allow_data_loss: false,
        disable_deletion_protection: false,
        prompt: "Roll back? Type `rollback`: ".into(),
        expected: "rollback".into(),
        cancelled: "rollback cancelled; nothing was changed",
    };
    if !approval.yes && !super::execute::confirmed(&approval, &interrupt).await? {
        bail!("{}", approval.cancelled);
    }
    let stack = spec.name.clone();
    let rolled = Box::pin(lock::hold(
        &aws,
        "rollback",
        args.settings.force_unlock,
        async {
            interrupt.check()?;
            carry_out(&aws, &stack, plan, interrupt.stop()).await
        },
    ))
    .await?;
    let code = rolled.exit_code(interrupt.received().map(|s| s.exit_code()));
    Ok(Some((rolled, code)))
}

/// The rollback of the stack's unfinished upgrade (resuming an unfinished rollback of it).
async fn plan(aws: &Aws, bucket: &str, database: Database) -> anyhow::Result<Rollback> {
    let journals = Journals::new(aws, bucket);
    let Some(up) = journals.open::<UpgradeStep>("upgrade-").await? else {
        bail!(
            "the stack has no unfinished upgrade to roll back (`moodle-ha history` lists its upgrades); a finished upgrade is undone by restoring its snapshot by hand"
        );
    };
    let resumed = journals
        .open::<RollbackStep>("rollback-")
        .await?
        .filter(|r| r.facts.get("upgrade") == Some(&up.id));
    // The database changed only once upgrade.php began.
    let snapshot = up
        .entry(UpgradeStep::Upgrade)
        .and_then(|_| up.facts.get(fact::SNAPSHOT).cloned());
    Ok(Rollback {
        id: resumed
            .map(|r| r.id)
            .unwrap_or_else(|| new_id("rollback", OffsetDateTime::now_utc())),
        upgrade: up.id.clone(),
        to: journal_release(&up, fact::FROM)?,
        from: journal_release(&up, fact::TO)?,
        snapshot,
        database,
        bucket: bucket.to_string(),
        fleet_before: fleet_before(&up.facts),
    })
}

/// The web group as the upgrade recorded it before it changed it.
fn fleet_before(facts: &BTreeMap<String, String>) -> FleetBefore {
    let number = |k: &str| facts.get(k).and_then(|v| v.parse::<u32>().ok());
    FleetBefore {
        capacity: number(fact::DESIRED_BEFORE).zip(number(fact::MAX_BEFORE)),
        template_version: facts.get(fact::TEMPLATE_BEFORE).cloned(),
    }
}

/// Runs the rollback's steps not done yet, then closes the upgrade's journal.
async fn carry_out(
    aws: &Aws,
    stack: &str,
    rollback: Rollback,
    stop: &crate::executor::Stop,
) -> anyhow::Result<RolledBack> {
    let store = Journals::new(aws, &rollback.bucket);
    let mut journal = if store.ids().await?.contains(&rollback.id) {
        store.read(&rollback.id).await?
    } else {
        let mut j = Journal::new(
            rollback.id.clone(),
            format!(
                "roll back upgrade {} (Moodle {} → back to {})",
                rollback.upgrade, rollback.from.release, rollback.to.release
            ),
        );
        j.facts.insert("upgrade".into(), rollback.upgrade.clone());
        if let Some(s) = &rollback.snapshot {
            j.facts.insert(fact::SNAPSHOT.into(), s.clone());
        }
        j
    };
    let steps = Steps {
        aws,
        stack: stack.to_string(),
        group: Names::of(stack).web_group(),
        release_parameter: Names::of(stack).release_parameter(),
        rollback: &rollback,
    };
    let progress = &aws.progress;
    let finished = workflow::run(
        &mut journal,
        Order::whole(&RollbackStep::ORDER),
        &steps,
        &store,
        stop,
        OffsetDateTime::now_utc,
        |event| progress.line(&event_line("rollback", RollbackStep::name, event)),
    )
    .await?;
    if finished == Finished::Succeeded {
        let mut up: Journal<UpgradeStep> = store.read(&rollback.upgrade).await?;
        up.state = State::Closed {
            by: rollback.id.clone(),
        };
        store.save(&up).await?;
    }
    Ok(RolledBack {
        rollback,
        journal,
        finished,
    })
}

/// The rollback's steps for one stack.
struct Steps<'a> {
    aws: &'a Aws,
    stack: String,
    group: String,
    release_parameter: String,
    rollback: &'a Rollback,
}

impl Steps<'_> {
    async fn on_cron(&self, action: &str, release: Option<&Release>) -> anyhow::Result<()> {
        on_cron(
            self.aws,
            &self.stack,
            &self.rollback.bucket,
            &self.rollback.id,
            action,
            release,
        )
        .await
    }

    async fn switch_fleet(&self, facts: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        let before = &self.rollback.fleet_before;
        if !facts.contains_key(fact::OLD_INSTANCES) {
            // Every live node is retired (the old release's and the failed upgrade's held
            // ones); the group gets back the size it had before the upgrade raised it.
            fleet::suspend(self.aws, &self.group, &WHILE_WARM).await?;
            record_fleet(self.aws, &self.group, facts).await?;
            if let Some((desired, max)) = before.capacity {
                facts.insert(fact::DESIRED_BEFORE.into(), desired.to_string());
                facts.insert(fact::MAX_BEFORE.into(), max.to_string());
            }
            let r = self.rollback;
            checkpoint::<RollbackStep>(self.aws, &r.bucket, &r.id, facts).await?;
        }
        fleet::suspend(self.aws, &self.group, &WHILE_WARM).await?;
        // New nodes boot the previous branch's user data (a new branch's would refuse the
        // previous release).
        if let Some(version) = &before.template_version {
            fleet::set_template_version(self.aws, &self.group, version).await?;
        }
        // The record names the previous release: the new nodes boot it and serve at once (the
        // ready marker names it since `release-back`).
        switch_to_new(self.aws, &self.group, facts).await
    }

    async fn maintenance_off(&self) -> anyhow::Result<()> {
        let r = self.rollback;
        end_maintenance(self.aws, &self.stack, &r.bucket, &r.id, &self.group).await
    }
}

impl workflow::Actions<RollbackStep> for Steps<'_> {
    async fn run(
        &self,
        step: RollbackStep,
        facts: &mut BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let r = self.rollback;
        let db = &r.database.identifier;
        match step {
            RollbackStep::MaintenanceOn => {
                fleet::suspend(self.aws, &self.group, &WHILE_IN_MAINTENANCE).await?;
                self.on_cron("maintenance-on", None).await
            }
            RollbackStep::CronPaused => self.on_cron("cron-pause", None).await,
            RollbackStep::Restore => match &r.snapshot {
                Some(s) if r.database.cluster => {
                    restore_cluster::restore(self.aws, db, s, &r.renaming(), &r.id).await
                }
                Some(s) => restore::restore(self.aws, db, s, &r.restored_identifier(), &r.id).await,
                None => Ok(()),
            },
            RollbackStep::Swap => match &r.snapshot {
                Some(_) => {
                    let aside = r.aside_identifier();
                    if r.database.cluster {
                        restore_cluster::swap(self.aws, db, &r.renaming(), &r.id).await?;
                    } else {
                        let restored = r.restored_identifier();
                        restore::swap(self.aws, db, &restored, &aside, &r.id).await?;
                    }
                    facts.insert("set_aside".into(), aside);
                    Ok(())
                }
                None => Ok(()),
            },
            RollbackStep::ReleaseBack => {
                crate::aws::releases::point_to(self.aws, &self.release_parameter, &r.bucket, &r.to)
                    .await?;
                self.on_cron("switch", Some(&r.to)).await
            }
            RollbackStep::SwitchFleet => self.switch_fleet(facts).await,
            RollbackStep::MaintenanceOff => self.maintenance_off().await,
        }
    }
}

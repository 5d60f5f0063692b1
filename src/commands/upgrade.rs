//! The upgrade workflow's steps against AWS and the cron instance's agent: what each
//! [`UpgradeStep`] does, idempotently, so that [`crate::workflow::run`] can resume it after a
//! kill (a second attempt finds what the first did: the same snapshot identifier, the same
//! agent request ID, the capacity recorded before it was raised). The journal is kept in the
//! stack's bucket ([`crate::aws::journals`]).

use super::Ui;
use super::execute::{self, Applied, Settings};
use super::interrupt::Interrupt;
use crate::aws::Aws;
use crate::aws::agent::{Agent, Request};
use crate::aws::boots;
use crate::aws::fleet::{self, WHILE_IN_MAINTENANCE, WHILE_WARM};
use crate::aws::journals::Journals;
use crate::aws::snapshots::{self, Source};
use crate::aws::wait::{self, Poll};
use crate::executor::Stop;
use crate::names::Names;
use crate::plan::Plan;
use crate::upgrade::plan::{OpenUpgrade, Upgrade};
use crate::upgrade::steps::UpgradeStep;
use crate::workflow::{self, Event, Finished, Journal};
use anyhow::Context;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// Facts the steps record in the journal.
pub(super) mod fact {
    pub const FROM: &str = "from";
    pub const TO: &str = "to";
    pub const OLD_INSTANCES: &str = "old_instances";
    pub const DESIRED_BEFORE: &str = "desired_before";
    pub const MAX_BEFORE: &str = "max_before";
    pub const SNAPSHOT: &str = "snapshot";
    /// The web group's launch template version before the upgrade's resource changes (the
    /// previous release's user data: a rollback puts it back).
    pub const TEMPLATE_BEFORE: &str = "template_before";
}

/// How long the agent may take for each kind of action.
fn agent_max(action: &str) -> Duration {
    match action {
        "upgrade" => Duration::from_secs(3 * 60 * 60),
        "cron-pause" | "check-plugins" => Duration::from_secs(20 * 60),
        // A new cron instance's boot, until its agent answers.
        "ping" => LAUNCH_MAX,
        _ => Duration::from_secs(10 * 60),
    }
}

/// A new web node boots, installs its packages and downloads the release in minutes.
const LAUNCH_MAX: Duration = Duration::from_secs(30 * 60);

/// What an upgrade needs from `apply` to carry out its in-window resource changes (the cron
/// instance's replacement, [`Upgrade::in_window`]) with the executor, as apply does its own.
pub struct InWindow<'a> {
    /// The plan the upgrade belongs to (its ID, tags and region).
    pub plan: &'a Plan,
    /// How the executor runs.
    pub settings: &'a Settings,
    /// The progress display.
    pub ui: &'a dyn Ui,
    /// Signals.
    pub interrupt: &'a Interrupt,
}

/// The upgrade's steps for one stack.
pub struct Steps<'a> {
    aws: &'a Aws,
    upgrade: &'a Upgrade,
    stack: String,
    group: String,
    release_parameter: String,
    in_window: Option<&'a InWindow<'a>>,
}

impl<'a> Steps<'a> {
    /// The steps of `upgrade` of stack `stack` (`in_window`: what carries out its in-window
    /// resource changes).
    pub fn new(
        aws: &'a Aws,
        stack: &str,
        upgrade: &'a Upgrade,
        in_window: Option<&'a InWindow<'a>>,
    ) -> Self {
        let names = Names::of(stack);
        Self {
            aws,
            upgrade,
            stack: stack.to_string(),
            group: names.web_group(),
            release_parameter: names.release_parameter(),
            in_window,
        }
    }

    /// The upgrade's in-window resource changes (the cron instance replaced: it boots on the
    /// site's release, with cron paused and the site in maintenance), by the executor, with
    /// the stack's IDs read again (the resource changes before the window may have made
    /// some). A resumed run plans only what is left.
    async fn replace_cron(&self) -> anyhow::Result<()> {
        let changes = &self.upgrade.in_window;
        let Some(w) = self.in_window.filter(|_| !changes.is_empty()) else {
            return Ok(());
        };
        let keys: Vec<String> = changes.iter().map(|c| c.key.to_string()).collect();
        self.aws.progress.line(&format!(
            "    replacing {} inside the window (it runs the upgrade on the new instance)",
            keys.join(", ")
        ));
        let ids = Box::pin(self.aws.observe()).await?.ids();
        let plan = Plan {
            changes: changes.clone(),
            upgrade: None,
            ..w.plan.clone()
        };
        let applied = Box::pin(execute::run(
            self.aws,
            &plan,
            ids,
            w.settings,
            w.ui,
            w.interrupt,
        ))
        .await?;
        if let Applied::Carried {
            report,
            interrupted,
            ..
        } = &applied
        {
            if let Some(signal) = interrupted {
                anyhow::bail!("stopped by {signal:?} while replacing {}", keys.join(", "));
            }
            if !report.succeeded() {
                anyhow::bail!(
                    "replacing {} failed (see the steps above); the site stays in maintenance",
                    keys.join(", ")
                );
            }
        }
        // The new instance's boot done: its agent answers (bounded like a web node's boot,
        // not like `upgrade.php`).
        self.on_cron("ping", false)
            .await
            .context("the new cron instance's agent did not answer (its boot's log: /var/log/cloud-init-output.log); the site stays in maintenance")
    }

    /// Asks the cron instance's agent for `action` (once per workflow), showing its output.
    async fn on_cron(&self, action: &str, commit: bool) -> anyhow::Result<()> {
        let release = commit.then_some(&self.upgrade.to);
        on_cron(
            self.aws,
            &self.stack,
            &self.upgrade.bucket,
            &self.upgrade.id,
            action,
            release,
        )
        .await
    }

    async fn preflight(&self, facts: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        if !facts.contains_key(fact::TEMPLATE_BEFORE)
            && let Some(v) = fleet::group(self.aws, &self.group).await?.template_version
        {
            facts.insert(fact::TEMPLATE_BEFORE.into(), v);
        }
        // The archive in the bucket (the record is not touched yet), then the site's plugins
        // against the new code, on the cron instance.
        let p = crate::model::ReleaseProps::of(
            self.release_parameter.clone(),
            crate::model::Ref::External(self.upgrade.bucket.clone()),
            &self.upgrade.to,
        );
        crate::aws::releases::upload_once(self.aws, &self.upgrade.bucket, &p).await?;
        self.on_cron("check-plugins", true).await
    }

    async fn warm_capacity(&self, facts: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        // Scaling suspended first: a scale-out between the record and the launch would count
        // as a new node.
        fleet::suspend(self.aws, &self.group, &WHILE_WARM).await?;
        if !facts.contains_key(fact::OLD_INSTANCES) {
            record_fleet(self.aws, &self.group, facts).await?;
            checkpoint::<UpgradeStep>(self.aws, &self.upgrade.bucket, &self.upgrade.id, facts)
                .await?;
        }
        // New nodes boot the new release and wait, held by their launch hook, until the cron
        // instance has upgraded the site to it.
        crate::aws::releases::point_to(
            self.aws,
            &self.release_parameter,
            &self.upgrade.bucket,
            &self.upgrade.to,
        )
        .await?;
        launch_beside(self.aws, &self.group, facts, false).await?;
        booted(
            self.aws,
            &self.group,
            &self.upgrade.bucket,
            facts,
            &self.upgrade.to.commit,
        )
        .await
    }

    async fn maintenance_on(&self) -> anyhow::Result<()> {
        fleet::suspend(self.aws, &self.group, &WHILE_IN_MAINTENANCE).await?;
        self.aws.progress.line(
            "    users now see Moodle's maintenance page (HTTP 503) on every node; health-check replacement is suspended",
        );
        self.on_cron("maintenance-on", false).await
    }

    async fn snapshot(&self, facts: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        let id = snapshots::identifier(&self.stack, &self.upgrade.id);
        let db = &self.upgrade.database;
        let source = if db.cluster {
            Source::Cluster(&db.identifier)
        } else {
            Source::Instance(&db.identifier)
        };
        let describe = |r: &crate::release::Release| {
            snapshots::tag_value(&format!(
                "{} {}",
                r.release,
                r.commit.get(..12).unwrap_or("")
            ))
        };
        let tags = vec![
            (crate::aws::tags::STACK_TAG.to_string(), self.stack.clone()),
            ("moodle-ha:workflow".to_string(), self.upgrade.id.clone()),
            ("moodle-ha:from".to_string(), describe(&self.upgrade.from)),
            ("moodle-ha:to".to_string(), describe(&self.upgrade.to)),
        ];
        snapshots::take(self.aws, source, &id, &tags).await?;
        facts.insert(fact::SNAPSHOT.into(), id);
        Ok(())
    }

    async fn switch_fleet(&self, facts: &BTreeMap<String, String>) -> anyhow::Result<()> {
        switch_to_new(self.aws, &self.group, facts).await
    }

    async fn maintenance_off(&self, facts: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let (bucket, id) = (&self.upgrade.bucket, &self.upgrade.id);
        end_maintenance(self.aws, &self.stack, bucket, id, &self.group).await?;
        // The login page through each new node: the target group's health check.
        let (old, _, _) = before(facts)?;
        let g = fleet::group(self.aws, &self.group).await?;
        let new: Vec<String> = g
            .live()
            .filter(|m| !old.contains(&m.id))
            .map(|m| m.id.clone())
            .collect();
        for tg in &g.target_groups {
            let what = "the login page through each new node (the target group's health check)";
            wait::until(
                &self.aws.progress,
                what,
                self.aws.wait_max(LAUNCH_MAX),
                || async {
                    let health = fleet::target_health(self.aws, tg, &new).await?;
                    let not: Vec<String> = health
                        .iter()
                        .filter(|(_, s)| s != "healthy")
                        .map(|(id, s)| format!("{id} {s}"))
                        .collect();
                    Ok(if not.is_empty() {
                        Poll::Ready
                    } else {
                        Poll::Pending(not.join(", "))
                    })
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Asks the cron instance's agent of `stack` for `action` as part of workflow `workflow`
/// (request `<workflow>.<action>`, run once), about `release` when the action concerns one;
/// shows its output as it comes.
pub(super) async fn on_cron(
    aws: &Aws,
    stack: &str,
    bucket: &str,
    workflow: &str,
    action: &str,
    release: Option<&crate::release::Release>,
) -> anyhow::Result<()> {
    let request = Request {
        id: format!("{workflow}.{action}"),
        action: action.to_string(),
        commit: release.map(|r| r.commit.clone()).unwrap_or_default(),
        sha256: release.map(|r| r.sha256.clone()).unwrap_or_default(),
    };
    let progress = &aws.progress;
    let show = |text: &str| {
        for line in text.lines() {
            progress.line(&format!("    cron | {line}"));
        }
    };
    Agent::new(aws, stack, bucket)
        .run(&request, aws.wait_max(agent_max(action)), &show)
        .await?;
    Ok(())
}

/// Saves `facts` in workflow `id`'s journal in `bucket` now (a step's facts are otherwise
/// saved when it ends): what a step must not learn twice, such as the fleet before the step
/// raised its capacity, survives a kill inside the step.
pub(super) async fn checkpoint<S>(
    aws: &Aws,
    bucket: &str,
    id: &str,
    facts: &BTreeMap<String, String>,
) -> anyhow::Result<()>
where
    S: serde::Serialize + serde::de::DeserializeOwned + Sync,
{
    use crate::workflow::Store;
    let store = Journals::new(aws, bucket);
    let mut journal: Journal<S> = store.read(id).await?;
    journal
        .facts
        .extend(facts.iter().map(|(k, v)| (k.clone(), v.clone())));
    store.save(&journal).await
}

/// Records the group's live instances, desired capacity and maximum in `facts`, once (a
/// resumed run keeps what the first attempt saw).
pub(super) async fn record_fleet(
    aws: &Aws,
    group: &str,
    facts: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    if facts.contains_key(fact::OLD_INSTANCES) {
        return Ok(());
    }
    let g = fleet::group(aws, group).await?;
    let old: Vec<&str> = g.live().map(|m| m.id.as_str()).collect();
    facts.insert(fact::OLD_INSTANCES.into(), old.join(","));
    facts.insert(fact::DESIRED_BEFORE.into(), g.desired.to_string());
    facts.insert(fact::MAX_BEFORE.into(), g.max.to_string());
    Ok(())
}

/// Launches as many new nodes as the group ran (its recorded desired capacity) beside the
/// recorded ones (its maximum raised where needed) and waits until they are launched
/// (`in_service`: until they serve).
pub(super) async fn launch_beside(
    aws: &Aws,
    group: &str,
    facts: &BTreeMap<String, String>,
    in_service: bool,
) -> anyhow::Result<()> {
    let (old, desired, max) = before(facts)?;
    let target = u32::try_from(old.len())
        .unwrap_or(u32::MAX)
        .saturating_add(desired);
    fleet::set_capacity(aws, group, target, max.max(target)).await?;
    let what = format!(
        "{desired} new web nodes {}",
        if in_service {
            "in service"
        } else {
            "launched and held"
        }
    );
    wait::until(&aws.progress, &what, aws.wait_max(LAUNCH_MAX), || async {
        let g = fleet::group(aws, group).await?;
        let new = g
            .live()
            .filter(|m| !old.contains(&m.id) && (!in_service || m.state == "InService"))
            .count();
        Ok(if new >= desired as usize {
            Poll::Ready
        } else {
            Poll::Pending(format!("{new} of {desired}"))
        })
    })
    .await?;
    Ok(())
}

/// Waits until every new node of `group` (not recorded in `facts` as old) has booted and
/// waits for release `commit` (its report in the stack bucket): their boots happen before
/// the maintenance window, not inside it.
async fn booted(
    aws: &Aws,
    group: &str,
    bucket: &str,
    facts: &BTreeMap<String, String>,
    commit: &str,
) -> anyhow::Result<()> {
    let (old, desired, _) = before(facts)?;
    if desired == 0 {
        return Ok(());
    }
    let what = "the new web nodes to finish booting (each then waits for the upgraded site)";
    wait::until(&aws.progress, what, aws.wait_max(LAUNCH_MAX), || async {
        let g = fleet::group(aws, group).await?;
        let new: Vec<String> = g
            .live()
            .filter(|m| !old.contains(&m.id))
            .map(|m| m.id.clone())
            .collect();
        let reports = boots::waiting_for(aws, bucket, &new).await?;
        let not = boots::not_waiting_for(&reports, commit);
        // As many as the group ran (a Spot node lost meanwhile is replaced and waited for).
        Ok(if not.is_empty() && new.len() >= desired as usize {
            Poll::Ready
        } else {
            Poll::Pending(if not.is_empty() {
                format!("{} of {desired} new nodes listed", new.len())
            } else {
                not.join(", ")
            })
        })
    })
    .await
    .context(
        "the new web nodes did not finish booting (their boot's log: /var/log/cloud-init-output.log on the node, or its console output); the site still serves the old release and is not in maintenance; `apply` again retries",
    )
}

/// Waits until the new nodes serve, retires the recorded old ones (they drain) and gives
/// the group its recorded capacity back.
pub(super) async fn switch_to_new(
    aws: &Aws,
    group: &str,
    facts: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let (old, desired, max) = before(facts)?;
    launch_beside(aws, group, facts, true).await?;
    for id in &old {
        fleet::retire(aws, id).await?;
    }
    fleet::set_capacity(aws, group, desired, max).await
}

/// The old instances, desired capacity and maximum recorded before capacity was raised.
pub(super) fn before(facts: &BTreeMap<String, String>) -> anyhow::Result<(Vec<String>, u32, u32)> {
    let number = |k: &str| -> anyhow::Result<u32> {
        facts
            .get(k)
            .with_context(|| {
                format!("the journal has no `{k}`: the warm-capacity step did not run")
            })?
            .parse()
            .with_context(|| format!("the journal's `{k}` is not a number"))
    };
    let old = facts
        .get(fact::OLD_INSTANCES)
        .map(|s| {
            s.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok((
        old,
        number(fact::DESIRED_BEFORE)?,
        number(fact::MAX_BEFORE)?,
    ))
}

impl workflow::Actions<UpgradeStep> for Steps<'_> {
    async fn run(
        &self,
        step: UpgradeStep,
        facts: &mut BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        match step {
            UpgradeStep::Preflight => self.preflight(facts).await,
            UpgradeStep::WarmCapacity => self.warm_capacity(facts).await,
            UpgradeStep::MaintenanceOn => self.maintenance_on().await,
            UpgradeStep::CronPaused => self.on_cron("cron-pause", false).await,
            UpgradeStep::Snapshot => self.snapshot(facts).await,
            UpgradeStep::Upgrade => {
                self.replace_cron().await?;
                self.on_cron("upgrade", true).await
            }
            UpgradeStep::SwitchFleet => self.switch_fleet(facts).await,
            UpgradeStep::MaintenanceOff => self.maintenance_off(facts).await,
        }
    }
}

/// The stack's unfinished upgrade, from its journal in the bucket.
pub async fn open_upgrade(aws: &Aws, bucket: &str) -> anyhow::Result<Option<OpenUpgrade>> {
    let Some(journal) = Journals::new(aws, bucket)
        .open::<UpgradeStep>("upgrade-")
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(OpenUpgrade {
        id: journal.id.clone(),
        from: journal_release(&journal, fact::FROM)?,
        to: journal_release(&journal, fact::TO)?,
    }))
}

/// The release an upgrade's journal records under `key` ([`fact::FROM`] or [`fact::TO`]).
pub(super) fn journal_release(
    journal: &Journal<UpgradeStep>,
    key: &str,
) -> anyhow::Result<crate::release::Release> {
    let text = journal
        .facts
        .get(key)
        .with_context(|| format!("upgrade journal {} has no `{key}`", journal.id))?;
    crate::release::Release::from_record(text).map_err(anyhow::Error::msg)
}

/// A workflow's step event as the progress line `<workflow>: <step> …`.
pub(super) fn event_line<S: Copy>(
    workflow: &str,
    name: fn(S) -> &'static str,
    event: Event<S>,
) -> String {
    match event {
        Event::AlreadyDone(s) => format!("  {workflow}: {} (done before)", name(s)),
        Event::Starting { step, attempt } => format!(
            "  {workflow}: {}{}…",
            name(step),
            if attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            }
        ),
        Event::Done(s) => format!("  {workflow}: {} done", name(s)),
        Event::Failed { step, message } => {
            format!("  {workflow}: {} FAILED: {message}", name(step))
        }
    }
}

/// The end of a workflow's window on the cron instance and the group: the smoke test
/// (`check_database_schema.php`), maintenance off, cron on, every suspended process resumed.
pub(super) async fn end_maintenance(
    aws: &Aws,
    stack: &str,
    bucket: &str,
    workflow: &str,
    group: &str,
) -> anyhow::Result<()> {
    for action in ["smoke", "maintenance-off", "cron-resume"] {
        on_cron(aws, stack, bucket, workflow, action, None).await?;
    }
    fleet::resume(aws, group, &fleet::ANY_WORKFLOW).await
}

/// A new workflow ID of `kind` at `now`: `upgrade-20261206T150000Z`.
pub fn new_id(kind: &str, now: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    format!(
        "{kind}-{}",
        now.format(&f)
            .unwrap_or_else(|_| now.unix_timestamp().to_string())
    )
}

/// What running (part of) the upgrade did.
#[derive(Debug)]
pub struct Ran {
    /// The journal as saved in the stack.
    pub journal: Journal<UpgradeStep>,
    /// How the run ended.
    pub finished: Finished<UpgradeStep>,
}

/// Runs the steps of `order` of `upgrade` the stack's journal does not record as done
/// (creating the journal on the first run), printing each step as it starts and ends.
pub async fn run_steps(
    aws: &Aws,
    stack: &str,
    upgrade: &Upgrade,
    order: &[UpgradeStep],
    stop: &Stop,
    in_window: Option<&InWindow<'_>>,
) -> anyhow::Result<Ran> {
    let store = Journals::new(aws, &upgrade.bucket);
    let mut journal = if upgrade.resumes || store.ids().await?.contains(&upgrade.id) {
        store.read(&upgrade.id).await?
    } else {
        let mut j = Journal::new(
            upgrade.id.clone(),
            format!(
                "upgrade Moodle {} → {}",
                upgrade.from.release, upgrade.to.release
            ),
        );
        j.facts.insert(fact::FROM.into(), upgrade.from.to_record());
        j.facts.insert(fact::TO.into(), upgrade.to.to_record());
        j
    };
    let steps = Steps::new(aws, stack, upgrade, in_window);
    let progress = &aws.progress;
    let finished = workflow::run(
        &mut journal,
        workflow::Order {
            now: order,
            all: &UpgradeStep::ORDER,
        },
        &steps,
        &store,
        stop,
        OffsetDateTime::now_utc,
        |event| progress.line(&event_line("upgrade", UpgradeStep::name, event)),
    )
    .await?;
    Ok(Ran { journal, finished })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_ids_hold_their_utc_start() {
        let t = time::macros::datetime!(2026-12-06 15:04:05 UTC);
        assert_eq!(new_id("upgrade", t), "upgrade-20261206T150405Z");
    }

    #[test]
    fn the_capacity_before_is_read_back_from_the_journal() {
        let facts = BTreeMap::from([
            (fact::OLD_INSTANCES.to_string(), "i-1,i-2".to_string()),
            (fact::DESIRED_BEFORE.to_string(), "2".to_string()),
            (fact::MAX_BEFORE.to_string(), "6".to_string()),
        ]);
        assert_eq!(
            before(&facts).expect("recorded"),
            (vec!["i-1".to_string(), "i-2".to_string()], 2, 6)
        );
        let e = before(&BTreeMap::new())
            .expect_err("not recorded")
            .to_string();
        assert!(e.contains("warm-capacity step did not run"), "{e}");
    }
}

//! Multi-step operations (an upgrade, a rollback) as resumable workflows: the steps run in a
//! fixed order, one at a time; each step's start and end are recorded in a [`Journal`] that
//! the caller keeps in the stack (not on the operator's disk) through a [`Store`], before and
//! after the step runs. Run again after a kill, a failure or a signal, the workflow skips the
//! steps the journal says are done and runs the first one that is not, again if it had begun:
//! every step must therefore be idempotent (deterministic names, "already exists" as done).
//! Values a later step or a rollback needs (a snapshot's identifier) are the journal's
//! [`Journal::facts`], saved with the step that found them.
//!
//! Pure apart from what the caller's [`Actions`] and [`Store`] do; the clock is passed in.

use crate::executor::Stop;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use time::OffsetDateTime;

/// A workflow's progress, as recorded in the stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "S: serde::de::DeserializeOwned"))]
pub struct Journal<S> {
    /// Unique in the stack, e.g. `upgrade-20261206T120000Z`.
    pub id: String,
    /// What the workflow does, e.g. `upgrade Moodle 4.5.6 → 5.1.6`.
    pub title: String,
    /// Values steps recorded for later steps and for a rollback.
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    /// Each step begun, in the order they began (a step run again has one entry, its
    /// `attempts` counting the runs).
    #[serde(default)]
    pub steps: Vec<Entry<S>>,
    /// Where the workflow is.
    pub state: State,
}

/// One step's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry<S> {
    /// The step.
    pub step: S,
    /// When its last attempt began.
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// When it ended; none while it runs, or when the run was killed or gave it up.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended: Option<OffsetDateTime>,
    /// How it ended, when it did.
    #[serde(default)]
    pub outcome: Option<Ending>,
    /// How many times it began.
    pub attempts: u32,
    /// The error of a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a step's attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// It did what it does.
    Done,
    /// It failed; the workflow stopped there.
    Failed,
}

/// Where a workflow is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Begun and not finished: running, or stopped (killed, interrupted, a step failed) and
    /// waiting to be run again.
    Running,
    /// Every step is done.
    Succeeded,
    /// Ended by another workflow without finishing (an upgrade a rollback undid).
    Closed {
        /// The workflow that closed it.
        by: String,
    },
    /// A step failed; run again to retry it from there.
    Failed {
        /// The step, as its name in the journal.
        step: String,
        /// Its error.
        message: String,
    },
}

impl<S: Copy + PartialEq> Journal<S> {
    /// A workflow not begun.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            facts: BTreeMap::new(),
            steps: Vec::new(),
            state: State::Running,
        }
    }

    /// The record of `step`, if it began.
    pub fn entry(&self, step: S) -> Option<&Entry<S>> {
        self.steps.iter().find(|e| e.step == step)
    }

    /// True when `step` ended done.
    pub fn done(&self, step: S) -> bool {
        self.entry(step)
            .is_some_and(|e| e.outcome == Some(Ending::Done))
    }

    fn begin(&mut self, step: S, now: OffsetDateTime) -> u32 {
        self.state = State::Running;
        match self.steps.iter_mut().find(|e| e.step == step) {
            Some(e) => {
                e.attempts += 1;
                e.started = now;
                e.ended = None;
                e.outcome = None;
                e.message = None;
                e.attempts
            }
            None => {
                self.steps.push(Entry {
                    step,
                    started: now,
                    ended: None,
                    outcome: None,
                    attempts: 1,
                    message: None,
                });
                1
            }
        }
    }

    fn end(&mut self, step: S, now: OffsetDateTime, error: Option<String>) {
        if let Some(e) = self.steps.iter_mut().find(|e| e.step == step) {
            e.ended = Some(now);
            e.outcome = Some(if error.is_some() {
                Ending::Failed
            } else {
                Ending::Done
            });
            e.message = error;
        }
    }
}

/// Where the journal is kept (in the stack): saved before and after every step.
pub trait Store<S>: Sync {
    /// Saves the journal, replacing what was saved.
    fn save(&self, journal: &Journal<S>) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What each step does. Each must be idempotent: run again after a kill, it finds what its
/// earlier attempt did and carries on.
pub trait Actions<S>: Sync {
    /// Runs `step`; it may record values in `facts`, saved with its end.
    fn run(
        &self,
        step: S,
        facts: &mut BTreeMap<String, String>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What the runner reports as it goes (for the progress display).
#[derive(Clone, Debug, PartialEq)]
pub enum Event<S> {
    /// Done in an earlier run.
    AlreadyDone(S),
    /// Beginning; `attempt` 2 or more when an earlier run began it and did not finish it.
    Starting {
        /// The step.
        step: S,
        /// Which attempt.
        attempt: u32,
    },
    /// Done now.
    Done(S),
    /// Failed now.
    Failed {
        /// The step.
        step: S,
        /// The error.
        message: String,
    },
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Finished<S> {
    /// Every step of the run's `order` is done.
    Succeeded,
    /// A step failed (recorded); run again to retry from it.
    Failed {
        /// The step.
        step: S,
        /// Its error.
        message: String,
    },
    /// Stopped by a signal before `next` began (no step was in flight, or it was given up
    /// and is recorded as begun, not ended); run again to go on.
    Stopped {
        /// The first step not done.
        next: S,
    },
}

/// Which steps a run takes: `now`, a part of (or all of) the workflow's steps `all`.
#[derive(Clone, Copy, Debug)]
pub struct Order<'a, S> {
    /// The steps this run takes, in order.
    pub now: &'a [S],
    /// Every step of the workflow: it has succeeded once each is done.
    pub all: &'a [S],
}

impl<'a, S> Order<'a, S> {
    /// Every step, in one run.
    pub fn whole(all: &'a [S]) -> Self {
        Self { now: all, all }
    }
}

/// Runs the steps of `order.now` that `journal` does not record as done, in order, saving
/// the journal through `store` before and after each; the workflow has succeeded once every
/// step of `order.all` is done. Stops before a step when
/// [`Stop::no_new_steps`] is cancelled; gives the step in flight up when [`Stop::give_up`] is
/// (its entry stays begun, so the next run repeats it). A failed save ends the run with its
/// error: the stack must always know at least as much as has happened.
pub async fn run<S, A, T>(
    journal: &mut Journal<S>,
    order: Order<'_, S>,
    actions: &A,
    store: &T,
    stop: &Stop,
    now: impl Fn() -> OffsetDateTime,
    mut on_event: impl FnMut(Event<S>),
) -> anyhow::Result<Finished<S>>
where
    S: Copy + PartialEq + Debug + Send + Sync,
    A: Actions<S>,
    T: Store<S>,
{
    for &step in order.now {
        if journal.done(step) {
            on_event(Event::AlreadyDone(step));
            continue;
        }
        if stop.no_new_steps.is_cancelled() {
            store.save(journal).await?;
            return Ok(Finished::Stopped { next: step });
        }
        let attempt = journal.begin(step, now());
        store.save(journal).await?;
        on_event(Event::Starting { step, attempt });
        let mut facts = journal.facts.clone();
        let result = tokio::select! {
            result = actions.run(step, &mut facts) => Some(result),
            () = stop.give_up.cancelled() => None,
        };
        journal.facts = facts;
        match result {
            None => {
                store.save(journal).await?;
                return Ok(Finished::Stopped { next: step });
            }
            Some(Ok(())) => {
                journal.end(step, now(), None);
                store.save(journal).await?;
                on_event(Event::Done(step));
            }
            Some(Err(error)) => {
                let message = format!("{error:#}");
                journal.end(step, now(), Some(message.clone()));
                journal.state = State::Failed {
                    step: format!("{step:?}"),
                    message: message.clone(),
                };
                store.save(journal).await?;
                on_event(Event::Failed {
                    step,
                    message: message.clone(),
                });
                return Ok(Finished::Failed { step, message });
            }
        }
    }
    if order.all.iter().all(|&s| journal.done(s)) {
        journal.state = State::Succeeded;
    }
    store.save(journal).await?;
    Ok(Finished::Succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    enum Step {
        Snapshot,
        Upgrade,
        Switch,
    }

    const ORDER: [Step; 3] = [Step::Snapshot, Step::Upgrade, Step::Switch];

    /// Keeps every saved journal, as the stack would hold the last one.
    #[derive(Default)]
    struct Saved(Mutex<Vec<Journal<Step>>>);

    impl Saved {
        fn last(&self) -> Journal<Step> {
            self.0.lock().expect("lock").last().cloned().expect("saved")
        }
        fn count(&self) -> usize {
            self.0.lock().expect("lock").len()
        }
    }

    impl Store<Step> for Saved {
        async fn save(&self, journal: &Journal<Step>) -> anyhow::Result<()> {
            // Through JSON, as the stack keeps it.
            let text = serde_json::to_string(journal)?;
            self.0
                .lock()
                .expect("lock")
                .push(serde_json::from_str(&text)?);
            Ok(())
        }
    }

    /// Idempotent fake steps: each counts its effects (a snapshot taken, an upgrade run) by
    /// name, as AWS or the node would hold them, so a second attempt finds the first's.
    #[derive(Default)]
    struct World {
        snapshots: Mutex<Vec<String>>,
        runs: Mutex<Vec<Step>>,
        fail: Mutex<Option<Step>>,
        hang: Mutex<Option<Step>>,
    }

    impl Actions<Step> for World {
        async fn run(
            &self,
            step: Step,
            facts: &mut BTreeMap<String, String>,
        ) -> anyhow::Result<()> {
            self.runs.lock().expect("lock").push(step);
            if step == Step::Snapshot {
                let name = "site-pre-upgrade-1".to_string();
                let mut taken = self.snapshots.lock().expect("lock");
                if !taken.contains(&name) {
                    taken.push(name.clone());
                }
                facts.insert("snapshot".into(), name);
            }
            if *self.hang.lock().expect("lock") == Some(step) {
                std::future::pending::<()>().await;
            }
            if *self.fail.lock().expect("lock") == Some(step) {
                anyhow::bail!("upgrade.php exited 1");
            }
            Ok(())
        }
    }

    fn clock() -> OffsetDateTime {
        time::macros::datetime!(2026-12-06 12:00 UTC)
    }

    async fn go(
        journal: &mut Journal<Step>,
        world: &World,
        saved: &Saved,
        stop: &Stop,
    ) -> (Finished<Step>, Vec<Event<Step>>) {
        let mut events = Vec::new();
        let finished = run(
            journal,
            Order::whole(&ORDER),
            world,
            saved,
            stop,
            clock,
            |e| events.push(e),
        )
        .await
        .expect("saves work");
        (finished, events)
    }

    #[tokio::test]
    async fn the_steps_run_in_order_and_the_journal_is_saved_around_each() {
        let (world, saved) = (World::default(), Saved::default());
        let mut journal = Journal::new("upgrade-1", "upgrade");
        let (finished, _) = go(&mut journal, &world, &saved, &Stop::default()).await;
        assert_eq!(finished, Finished::Succeeded);
        assert_eq!(*world.runs.lock().expect("lock"), ORDER);
        assert_eq!(
            saved.count(),
            7,
            "a save before and after each step, and the end"
        );
        let last = saved.last();
        assert_eq!(last.state, State::Succeeded);
        assert_eq!(last.facts["snapshot"], "site-pre-upgrade-1");
        assert!(ORDER.iter().all(|s| last.done(*s)));
        // The journal reads back as it was written: RFC 3339 times, snake_case names.
        let text = serde_json::to_value(&last).expect("json");
        assert_eq!(text["steps"][0]["started"], "2026-12-06T12:00:00Z");
        assert_eq!(text["steps"][0]["outcome"], "done");
        assert_eq!(text["state"]["state"], "succeeded");
    }

    #[tokio::test]
    async fn a_failed_step_stops_the_workflow_and_the_next_run_retries_it_and_goes_on() {
        let (world, saved) = (World::default(), Saved::default());
        *world.fail.lock().expect("lock") = Some(Step::Upgrade);
        let mut journal = Journal::new("upgrade-1", "upgrade");
        let (finished, events) = go(&mut journal, &world, &saved, &Stop::default()).await;
        assert_eq!(
            finished,
            Finished::Failed {
                step: Step::Upgrade,
                message: "upgrade.php exited 1".into()
            }
        );
        assert!(!world.runs.lock().expect("lock").contains(&Step::Switch));
        assert_eq!(
            events.last(),
            Some(&Event::Failed {
                step: Step::Upgrade,
                message: "upgrade.php exited 1".into()
            })
        );
        let recorded = saved.last();
        assert!(matches!(&recorded.state, State::Failed { step, .. } if step == "Upgrade"));
        assert_eq!(
            recorded.entry(Step::Upgrade).and_then(|e| e.outcome),
            Some(Ending::Failed)
        );

        *world.fail.lock().expect("lock") = None;
        let mut journal = saved.last();
        let (finished, events) = go(&mut journal, &world, &saved, &Stop::default()).await;
        assert_eq!(finished, Finished::Succeeded);
        assert_eq!(events[0], Event::AlreadyDone(Step::Snapshot));
        assert_eq!(
            events[1],
            Event::Starting {
                step: Step::Upgrade,
                attempt: 2
            }
        );
        assert_eq!(world.snapshots.lock().expect("lock").len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn killed_during_each_step_and_run_again_every_step_ends_done_once() {
        for (k, killed_in) in ORDER.into_iter().enumerate() {
            let (world, saved) = (World::default(), Saved::default());
            *world.hang.lock().expect("lock") = Some(killed_in);
            let mut journal = Journal::new("upgrade-1", "upgrade");
            // The process dies while the step runs: the run's future is dropped.
            let killed = tokio::time::timeout(
                Duration::from_secs(60),
                go(&mut journal, &world, &saved, &Stop::default()),
            )
            .await;
            assert!(killed.is_err(), "step {killed_in:?} was in flight");
            let stack_knows = saved.last();
            let entry = stack_knows.entry(killed_in).expect("begun is recorded");
            assert_eq!(entry.ended, None, "{killed_in:?}");
            *world.hang.lock().expect("lock") = None;
            let mut journal = stack_knows;
            let (finished, events) = go(&mut journal, &world, &saved, &Stop::default()).await;
            assert_eq!(finished, Finished::Succeeded, "{killed_in:?}");
            assert_eq!(
                events
                    .iter()
                    .filter(|e| matches!(e, Event::AlreadyDone(_)))
                    .count(),
                k,
                "the steps before {killed_in:?} are not run again"
            );
            let runs = world.runs.lock().expect("lock");
            for step in ORDER {
                let expected = if step == killed_in { 2 } else { 1 };
                assert_eq!(runs.iter().filter(|s| **s == step).count(), expected);
            }
            assert_eq!(
                world.snapshots.lock().expect("lock").len(),
                1,
                "one snapshot"
            );
            let last = saved.last();
            assert!(ORDER.iter().all(|s| last.done(*s)));
            assert_eq!(last.entry(killed_in).map(|e| e.attempts), Some(2));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_starts_no_new_step_and_giving_up_leaves_the_step_begun() {
        let (world, saved) = (World::default(), Saved::default());
        let stop = Stop::default();
        stop.no_new_steps.cancel();
        let mut journal = Journal::new("upgrade-1", "upgrade");
        let (finished, _) = go(&mut journal, &world, &saved, &stop).await;
        assert_eq!(
            finished,
            Finished::Stopped {
                next: Step::Snapshot
            }
        );
        assert!(world.runs.lock().expect("lock").is_empty());

        let stop = Stop::default();
        *world.hang.lock().expect("lock") = Some(Step::Upgrade);
        let give_up = stop.give_up.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            give_up.cancel();
        });
        let (finished, _) = go(&mut journal, &world, &saved, &stop).await;
        assert_eq!(
            finished,
            Finished::Stopped {
                next: Step::Upgrade
            }
        );
        let recorded = saved.last();
        assert!(recorded.done(Step::Snapshot));
        assert_eq!(recorded.entry(Step::Upgrade).map(|e| e.ended), Some(None));
        assert_eq!(recorded.state, State::Running);
    }
}

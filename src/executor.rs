//! The executor: walks a plan's dependency graph and carries out each step through a
//! [`Backend`], running independent steps at the same time up to a bound. A failed step's
//! dependents are skipped and reported as such; the others go on. A [`Stop`] (a signal) ends a
//! run early: no step starts after it, and the steps in flight finish or are given up.

use crate::model::{Props, ResourceKey};
use crate::plan::{Action, Change, Plan};
use futures::stream::{FuturesUnordered, StreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One thing the backend does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Create (also the second half of a replacement).
    Create,
    /// Change in place.
    Update,
    /// Delete (also the first half of a replacement).
    Delete,
}

/// What the backend is asked to do.
#[derive(Clone, Debug)]
pub struct Operation {
    /// Create, update or delete.
    pub step: Step,
    /// The planned change (desired and observed attributes, AWS ID).
    pub change: Change,
    /// Idempotency token for create calls: the same for retries of this step of this plan.
    pub client_token: String,
}

/// AWS IDs of the stack's resources, by key, as known when a step starts.
pub type Ids = BTreeMap<ResourceKey, String>;

/// Carries out operations. The AWS adapters implement it; tests use a recording fake.
pub trait Backend: Sync {
    /// Performs `op`; returns the new resource's ID for a create.
    fn execute(
        &self,
        op: &Operation,
        ids: &Ids,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send;
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// It worked.
    Done {
        /// The new ID, for a create.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Wall time.
        seconds: f64,
    },
    /// It failed.
    Failed {
        /// The error with its causes.
        error: String,
    },
    /// Not attempted because something it depends on failed.
    Skipped {
        /// The failed step's resource.
        because: ResourceKey,
    },
    /// In flight when the run was stopped and given up (see [`Stop::give_up`]): AWS may
    /// still carry out what it was asked; the next apply reads the result and goes on.
    Abandoned {
        /// Wall time until it was given up.
        seconds: f64,
    },
    /// Not started because the run was stopped (see [`Stop::no_new_steps`]).
    NotStarted,
}

/// One step and its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct StepReport {
    /// The resource.
    pub key: ResourceKey,
    /// What was done to it.
    pub step: Step,
    /// How it ended.
    pub outcome: Outcome,
}

/// What apply did, also when it failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct ApplyReport {
    /// Every step, in the order they finished.
    pub steps: Vec<StepReport>,
}

impl ApplyReport {
    /// True when every step was done.
    pub fn succeeded(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::Done { .. }))
    }
}

/// Progress notices for the caller to print.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// A step started.
    Started(&'a ResourceKey, Step),
    /// A step ended.
    Finished(&'a StepReport),
    /// The run was told to stop: no step starts any more; `in_flight` steps are running.
    Stopping {
        /// Steps running now.
        in_flight: usize,
    },
}

/// When to end a run early (on a signal). Cancelling `no_new_steps` lets the steps in flight
/// finish and starts no other; cancelling `give_up` also abandons the steps in flight. The
/// caller decides when each happens (e.g. a grace period between them).
#[derive(Clone, Debug, Default)]
pub struct Stop {
    /// No step starts after this is cancelled.
    pub no_new_steps: CancellationToken,
    /// The steps in flight are given up when this is cancelled.
    pub give_up: CancellationToken,
}

/// What the run loop waits for next.
enum Next<T> {
    /// A step ended.
    Ended(T),
    /// Every step has ended.
    AllEnded,
    /// [`Stop::no_new_steps`] was just cancelled.
    Stopping,
    /// [`Stop::give_up`] was cancelled.
    GiveUp,
}

struct Node {
    step: Step,
    change: usize,
}

/// Runs `plan` against `backend` with at most `concurrency` steps at once. `ids` holds the
/// observed IDs; it grows as creates finish.
pub async fn execute<B: Backend>(
    plan: &Plan,
    backend: &B,
    ids: Ids,
    concurrency: usize,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> ApplyReport {
    execute_until(plan, backend, ids, concurrency, on_event, &Stop::default()).await
}

/// [`execute`], ended early by `stop`: steps not started are reported [`Outcome::NotStarted`],
/// steps given up [`Outcome::Abandoned`].
pub async fn execute_until<B: Backend>(
    plan: &Plan,
    backend: &B,
    mut ids: Ids,
    concurrency: usize,
    on_event: &(dyn Fn(Event<'_>) + Sync),
    stop: &Stop,
) -> ApplyReport {
    let mut walk = Walk::new(plan);
    let mut running = FuturesUnordered::new();
    let limit = concurrency.max(1);
    loop {
        while running.len() < limit && !stop.no_new_steps.is_cancelled() {
            let Some(n) = walk.ready.pop_front() else {
                break;
            };
            let op = walk.operation(n);
            on_event(Event::Started(
                &plan.changes[walk.nodes[n].change].key,
                op.step,
            ));
            walk.in_flight.insert(n, tokio::time::Instant::now());
            let snapshot = ids.clone();
            running.push(async move {
                let start = Instant::now();
                let result = backend.execute(&op, &snapshot).await;
                (n, result, start.elapsed())
            });
        }
        if stop.no_new_steps.is_cancelled() {
            walk.stopping(running.len(), on_event);
        }
        if running.is_empty() {
            break;
        }
        let next = tokio::select! {
            biased;
            _ = stop.give_up.cancelled() => Next::GiveUp,
            _ = stop.no_new_steps.cancelled(), if !walk.stopping => Next::Stopping,
            ended = running.next() => ended.map_or(Next::AllEnded, Next::Ended),
        };
        match next {
            Next::Ended((n, result, elapsed)) => walk.ended(n, result, elapsed, &mut ids, on_event),
            Next::AllEnded => break,
            Next::Stopping => continue,
            Next::GiveUp => {
                walk.stopping(running.len(), on_event);
                drop(running);
                walk.give_up(on_event);
                break;
            }
        }
    }
    walk.finish()
}

/// The executor's progress through one plan: the steps' dependency graph, which steps are
/// ready, in flight and finished, and the report so far.
struct Walk<'p> {
    plan: &'p Plan,
    nodes: Vec<Node>,
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    ready: VecDeque<usize>,
    finished: Vec<bool>,
    report: ApplyReport,
    // tokio's clock: the time a step was given up after is measured as the tests' paused time.
    in_flight: BTreeMap<usize, tokio::time::Instant>,
    stopping: bool,
}

impl<'p> Walk<'p> {
    /// The plan's steps, the ones without dependencies ready.
    fn new(plan: &'p Plan) -> Self {
        let nodes = nodes(plan);
        let mut waiting_on: Vec<usize> = vec![0; nodes.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (from, to) in edges(plan, &nodes) {
            waiting_on[to] += 1;
            dependents[from].push(to);
        }
        let ready = (0..nodes.len()).filter(|n| waiting_on[*n] == 0).collect();
        let finished = vec![false; nodes.len()];
        Walk {
            plan,
            nodes,
            waiting_on,
            dependents,
            ready,
            finished,
            report: ApplyReport::default(),
            in_flight: BTreeMap::new(),
            stopping: false,
        }
    }

    fn key(&self, n: usize) -> &'p ResourceKey {
        &self.plan.changes[self.nodes[n].change].key
    }

    /// What the backend is asked to do for step `n`.
    fn operation(&self, n: usize) -> Operation {
        let node = &self.nodes[n];
        let change = &self.plan.changes[node.change];
        Operation {
            step: node.step,
            change: change.clone(),
            client_token: client_token(&self.plan.plan_id, &change.key, node.step),
        }
    }

    /// Says once that the run is stopping, with the steps still in flight.
    fn stopping(&mut self, in_flight: usize, on_event: &(dyn Fn(Event<'_>) + Sync)) {
        if !self.stopping {
            self.stopping = true;
            on_event(Event::Stopping { in_flight });
        }
    }

    fn record(&mut self, step: StepReport, on_event: &(dyn Fn(Event<'_>) + Sync)) {
        on_event(Event::Finished(&step));
        self.report.steps.push(step);
    }

    /// Step `n` ended: its ID recorded and its dependents readied, or, when it failed, every
    /// step that depends on it skipped.
    fn ended(
        &mut self,
        n: usize,
        result: anyhow::Result<Option<String>>,
        elapsed: Duration,
        ids: &mut Ids,
        on_event: &(dyn Fn(Event<'_>) + Sync),
    ) {
        self.in_flight.remove(&n);
        self.finished[n] = true;
        let step = self.nodes[n].step;
        let key = self.key(n);
        // A create must name what it made: without an ID nothing can refer to it.
        let result = match result {
            Ok(None) if step == Step::Create => Err(anyhow::anyhow!(
                "the create call's answer held no ID for {key}"
            )),
            Ok(Some(id)) if step == Step::Create && id.is_empty() => Err(anyhow::anyhow!(
                "the create call's answer held an empty ID for {key}"
            )),
            other => other,
        };
        match result {
            Ok(new_id) => {
                match (step, &new_id) {
                    (Step::Create, Some(id)) => {
                        ids.insert(key.clone(), id.clone());
                    }
                    (Step::Delete, _)
                        if ids.get(key) == self.plan.changes[self.nodes[n].change].id.as_ref() =>
                    {
                        ids.remove(key);
                    }
                    _ => {}
                }
                let outcome = Outcome::Done {
                    id: new_id,
                    seconds: secs(elapsed),
                };
                self.record(
                    StepReport {
                        key: key.clone(),
                        step,
                        outcome,
                    },
                    on_event,
                );
                for d in self.dependents[n].clone() {
                    self.waiting_on[d] -= 1;
                    if self.waiting_on[d] == 0 && !self.finished[d] {
                        self.ready.push_back(d);
                    }
                }
            }
            Err(error) => {
                let outcome = Outcome::Failed {
                    error: format!("{error:#}"),
                };
                self.record(
                    StepReport {
                        key: key.clone(),
                        step,
                        outcome,
                    },
                    on_event,
                );
                self.skip_dependents_of(n, on_event);
            }
        }
    }

    /// Every step that depends on `n`, directly or not, is skipped.
    fn skip_dependents_of(&mut self, n: usize, on_event: &(dyn Fn(Event<'_>) + Sync)) {
        let because = self.key(n).clone();
        let mut stack = self.dependents[n].clone();
        while let Some(d) = stack.pop() {
            if self.finished[d] {
                continue;
            }
            self.finished[d] = true;
            let skipped = StepReport {
                key: self.key(d).clone(),
                step: self.nodes[d].step,
                outcome: Outcome::Skipped {
                    because: because.clone(),
                },
            };
            self.record(skipped, on_event);
            stack.extend(self.dependents[d].iter().copied());
        }
    }

    /// The steps in flight are given up (their futures were dropped).
    fn give_up(&mut self, on_event: &(dyn Fn(Event<'_>) + Sync)) {
        for (n, started) in std::mem::take(&mut self.in_flight) {
            self.finished[n] = true;
            let step = StepReport {
                key: self.key(n).clone(),
                step: self.nodes[n].step,
                outcome: Outcome::Abandoned {
                    seconds: secs(started.elapsed()),
                },
            };
            self.record(step, on_event);
        }
    }

    /// The report. Anything left was not started because the run stopped, or else waits on a
    /// cycle the planner should never produce; it says so rather than hang.
    fn finish(mut self) -> ApplyReport {
        for n in 0..self.nodes.len() {
            if !self.finished[n] {
                let outcome = if self.stopping {
                    Outcome::NotStarted
                } else {
                    Outcome::Failed {
                        error: "dependency cycle in the plan; nothing was done to it".into(),
                    }
                };
                self.report.steps.push(StepReport {
                    key: self.key(n).clone(),
                    step: self.nodes[n].step,
                    outcome,
                });
            }
        }
        self.report
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn nodes(plan: &Plan) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (i, c) in plan.changes.iter().enumerate() {
        let steps: &[Step] = match c.action {
            Action::Create => &[Step::Create],
            Action::Update => &[Step::Update],
            Action::Delete => &[Step::Delete],
            Action::Replace => &[Step::Delete, Step::Create],
            Action::NoOp => &[],
        };
        nodes.extend(steps.iter().map(|step| Node {
            step: *step,
            change: i,
        }));
    }
    nodes
}

/// Ordering constraints `(before, after)`:
/// - a create or update runs after the creates and updates of what it refers to;
/// - the create half of a replacement runs after its delete half;
/// - a delete runs after the deletes (and updates) of whatever referred to the resource.
fn edges(plan: &Plan, nodes: &[Node]) -> Vec<(usize, usize)> {
    let key_of = |n: usize| &plan.changes[nodes[n].change].key;
    let deps = |p: &Option<Props>| p.as_ref().map(Props::dependencies).unwrap_or_default();
    let mut edges = Vec::new();
    for (a, na) in nodes.iter().enumerate() {
        let ca = &plan.changes[na.change];
        match na.step {
            Step::Create | Step::Update => {
                for dep in deps(&ca.desired) {
                    for (b, nb) in nodes.iter().enumerate() {
                        if nb.step != Step::Delete && key_of(b) == &dep {
                            edges.push((b, a));
                        }
                    }
                }
                if na.step == Step::Create {
                    for (b, nb) in nodes.iter().enumerate() {
                        if nb.step == Step::Delete && nb.change == na.change {
                            edges.push((b, a));
                        }
                    }
                }
            }
            Step::Delete => {
                let replaced = ca.action == Action::Replace;
                for (b, nb) in nodes.iter().enumerate() {
                    if b == a || nb.change == na.change {
                        continue;
                    }
                    let cb = &plan.changes[nb.change];
                    let follows = match nb.step {
                        Step::Delete => true,
                        Step::Update => !replaced,
                        Step::Create => false,
                    };
                    if follows && deps(&cb.observed).contains(&ca.key) {
                        edges.push((b, a));
                    }
                }
            }
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

/// A deterministic idempotency token (at most 64 characters) for one step of one plan, so the
/// SDK's retries of a create cannot make a second resource.
pub fn client_token(plan_id: &str, key: &ResourceKey, step: Step) -> String {
    format!(
        "mha-{}",
        short_hash(&format!("{plan_id}\n{key}\n{step:?}"), 16)
    )
}

/// The first `bytes` bytes of the SHA-256 of `text`, in hex.
pub fn short_hash(text: &str, bytes: usize) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Facts, desired_state};
    use crate::model::Kind;
    use crate::observed::{ObservedResource, ObservedState};
    use crate::plan::{PlanOptions, plan};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records the order of steps, the peak concurrency, and fails the keys it is told to.
    #[derive(Default)]
    struct Fake {
        log: Mutex<Vec<(ResourceKey, Step)>>,
        running: AtomicUsize,
        peak: AtomicUsize,
        fail: Vec<ResourceKey>,
        no_id: Vec<ResourceKey>,
    }

    impl Backend for Fake {
        async fn execute(&self, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            // Every reference of a create must already have an ID.
            if op.step == Step::Create {
                for dep in op
                    .change
                    .desired
                    .as_ref()
                    .map(Props::dependencies)
                    .unwrap_or_default()
                {
                    anyhow::ensure!(
                        ids.contains_key(&dep),
                        "{} started before {dep} existed",
                        op.change.key
                    );
                }
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.log
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .push((op.change.key.clone(), op.step));
            anyhow::ensure!(!self.fail.contains(&op.change.key), "injected failure");
            if self.no_id.contains(&op.change.key) {
                return Ok(None);
            }
            Ok((op.step == Step::Create).then(|| format!("id-{}", op.change.key)))
        }
    }

    fn example_plan(observed: &ObservedState, drop: &[ResourceKey]) -> Plan {
        let spec = match crate::spec::load_str(include_str!("../stacks/example.yaml")) {
            Ok(l) => l.spec,
            Err(e) => panic!("{e}"),
        };
        let mut desired = desired_state(&spec, &Facts::default());
        for k in drop {
            desired.resources.remove(k);
        }
        plan(
            &desired,
            observed,
            &PlanOptions {
                plan_id: "t".into(),
                ..PlanOptions::default()
            },
        )
    }

    fn position(log: &[(ResourceKey, Step)], key: &ResourceKey, step: Step) -> usize {
        log.iter()
            .position(|(k, s)| k == key && *s == step)
            .unwrap_or(usize::MAX)
    }

    #[tokio::test(start_paused = true)]
    async fn creates_follow_dependencies_and_run_in_parallel_up_to_the_bound() {
        let p = example_plan(&ObservedState::default(), &[]);
        let fake = Fake::default();
        let start = tokio::time::Instant::now();
        let report = execute(&p, &fake, Ids::new(), 4, &|_| {}).await;
        assert!(
            report.succeeded(),
            "{:?}",
            report
                .steps
                .iter()
                .filter(|s| !matches!(s.outcome, Outcome::Done { .. }))
                .collect::<Vec<_>>()
        );
        assert_eq!(report.steps.len(), p.changes.len());
        assert_eq!(
            fake.peak.load(Ordering::SeqCst),
            4,
            "the bound is reached and respected"
        );
        // n steps of 10 s, 4 at a time: at least ceil(n/4) rounds, and far less than the sum.
        let took = start.elapsed();
        let n = p.changes.len() as u64;
        let (floor, sum) = (
            Duration::from_secs(10 * n.div_ceil(4)),
            Duration::from_secs(10 * n),
        );
        assert!(
            took >= floor && took < sum / 3,
            "took {took:?} for {n} steps"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_whose_answer_has_no_id_fails_instead_of_recording_an_empty_one() {
        let p = example_plan(&ObservedState::default(), &[]);
        let policy = ResourceKey::new(Kind::ScalingPolicy, "cpu");
        let fake = Fake {
            no_id: vec![policy.clone()],
            ..Fake::default()
        };
        let report = execute(&p, &fake, Ids::new(), 10, &|_| {}).await;
        let step = report.steps.iter().find(|s| s.key == policy);
        assert!(
            matches!(step.map(|s| &s.outcome), Some(Outcome::Failed { error }) if error.contains("held no ID for scaling-policy/cpu")),
            "{step:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_skips_its_dependents_and_nothing_else() {
        let p = example_plan(&ObservedState::default(), &[]);
        let fs = ResourceKey::new(Kind::FileSystem, "moodledata");
        let fake = Fake {
            fail: vec![fs.clone()],
            ..Fake::default()
        };
        let report = execute(&p, &fake, Ids::new(), 10, &|_| {}).await;
        let skipped: Vec<String> = report
            .steps
            .iter()
            .filter(|s| matches!(&s.outcome, Outcome::Skipped { because } if *because == fs))
            .map(|s| s.key.to_string())
            .collect();
        let mut skipped = skipped;
        skipped.sort();
        assert_eq!(
            skipped,
            [
                "mount-target/eu-west-1a",
                "mount-target/eu-west-1b",
                "mount-target/eu-west-1c"
            ]
        );
        let failed = report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Failed { .. }))
            .count();
        let done = report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Done { .. }))
            .count();
        assert_eq!((failed, done), (1, p.changes.len() - 4));
    }

    #[tokio::test(start_paused = true)]
    async fn deletes_run_in_reverse_dependency_order() {
        // Everything exists; the spec is emptied: a destroy.
        let full = example_plan(&ObservedState::default(), &[]);
        let observed = ObservedState {
            resources: full
                .changes
                .iter()
                .filter_map(|c| {
                    Some(ObservedResource {
                        unknown: Default::default(),
                        key: c.key.clone(),
                        id: format!("id-{}", c.key),
                        props: c.desired.clone()?,
                        outputs: Default::default(),
                    })
                })
                .collect(),
        };
        let all: Vec<ResourceKey> = full.changes.iter().map(|c| c.key.clone()).collect();
        let p = example_plan(&observed, &all);
        assert!(
            p.changes
                .iter()
                .all(|c| c.action == crate::plan::Action::Delete)
        );
        let fake = Fake::default();
        let report = execute(&p, &fake, observed.ids(), 10, &|_| {}).await;
        assert!(report.succeeded());
        let log = fake.log.lock().map(|l| l.clone()).unwrap_or_default();
        let k = |kind, name: &str| ResourceKey::new(kind, name);
        for (before, after) in [
            (
                k(Kind::MountTarget, "eu-west-1a"),
                k(Kind::FileSystem, "moodledata"),
            ),
            (
                k(Kind::MountTarget, "eu-west-1a"),
                k(Kind::SecurityGroup, "efs"),
            ),
            (
                k(Kind::SecurityGroupRules, "web"),
                k(Kind::SecurityGroup, "alb"),
            ),
            (
                k(Kind::NatGateway, "eu-west-1a"),
                k(Kind::ElasticIp, "nat-eu-west-1a"),
            ),
            (
                k(Kind::RouteTable, "private-eu-west-1a"),
                k(Kind::NatGateway, "eu-west-1a"),
            ),
            (k(Kind::Subnet, "private-eu-west-1a"), k(Kind::Vpc, "main")),
            (k(Kind::SecurityGroup, "web"), k(Kind::Vpc, "main")),
        ] {
            assert!(
                position(&log, &before, Step::Delete) < position(&log, &after, Step::Delete),
                "{before} must go before {after}"
            );
        }
    }

    #[test]
    fn client_tokens_are_stable_per_plan_and_step_and_fit_aws_limits() {
        let key = ResourceKey::new(Kind::NatGateway, "eu-west-1a");
        let a = client_token("plan-1", &key, Step::Create);
        assert_eq!(a, client_token("plan-1", &key, Step::Create));
        assert_ne!(a, client_token("plan-2", &key, Step::Create));
        assert!(a.len() <= 64);
    }

    /// Steps by outcome: (done, abandoned, not started, any other).
    fn tally(report: &ApplyReport) -> (usize, usize, usize, usize) {
        let mut t = (0, 0, 0, 0);
        for s in &report.steps {
            match s.outcome {
                Outcome::Done { .. } => t.0 += 1,
                Outcome::Abandoned { .. } => t.1 += 1,
                Outcome::NotStarted => t.2 += 1,
                _ => t.3 += 1,
            }
        }
        t
    }

    /// Runs the example's plan, 4 steps of 10 s at a time, cancelling the stop's tokens at
    /// 15 s (the second round is then in flight); returns the report, when each step started,
    /// the `Stopping` notices and the time taken.
    async fn stopped_at_15s(
        give_up: bool,
    ) -> (Plan, ApplyReport, Vec<Duration>, Vec<usize>, Duration) {
        let p = example_plan(&ObservedState::default(), &[]);
        let fake = Fake::default();
        let stop = Stop::default();
        let t0 = tokio::time::Instant::now();
        let started = Mutex::new(Vec::new());
        let stopping = Mutex::new(Vec::new());
        let on_event = |e: Event<'_>| match e {
            Event::Started(..) => started
                .lock()
                .map(|mut s| s.push(t0.elapsed()))
                .unwrap_or(()),
            Event::Stopping { in_flight } => {
                stopping.lock().map(|mut s| s.push(in_flight)).unwrap_or(())
            }
            Event::Finished(_) => {}
        };
        let signal = stop.clone();
        let (report, ()) = tokio::join!(
            execute_until(&p, &fake, Ids::new(), 4, &on_event, &stop),
            async {
                tokio::time::sleep(Duration::from_secs(15)).await;
                signal.no_new_steps.cancel();
                if give_up {
                    signal.give_up.cancel();
                }
            }
        );
        let took = t0.elapsed();
        let started = started.into_inner().unwrap_or_default();
        let stopping = stopping.into_inner().unwrap_or_default();
        (p, report, started, stopping, took)
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_stop_no_step_starts_and_the_steps_in_flight_finish() {
        let (p, report, started, stopping, took) = stopped_at_15s(false).await;
        assert!(
            started.iter().all(|t| *t < Duration::from_secs(15)),
            "{started:?}"
        );
        assert_eq!(stopping, [4], "one notice, with the steps in flight");
        // Round one (0–10 s) and round two (10–20 s, in flight at the stop) are done.
        assert_eq!(tally(&report), (8, 0, p.changes.len() - 8, 0));
        assert_eq!(took, Duration::from_secs(20));
        assert!(!report.succeeded());
        assert_eq!(
            serde_json::to_value(&Outcome::NotStarted).ok(),
            Some(serde_json::json!({"status": "not_started"}))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn given_up_the_steps_in_flight_are_reported_abandoned_at_once() {
        let (p, report, _, stopping, took) = stopped_at_15s(true).await;
        assert_eq!(stopping, [4]);
        assert_eq!(tally(&report), (4, 4, p.changes.len() - 8, 0));
        assert_eq!(
            took,
            Duration::from_secs(15),
            "nothing waits for the abandoned steps"
        );
        assert!(report.steps.iter().all(|s| match s.outcome {
            Outcome::Abandoned { seconds } => seconds == 5.0,
            _ => true,
        }));
    }
}

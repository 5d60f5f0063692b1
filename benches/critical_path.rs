//! Apply critical path, in process and in virtual time (no emulator, no AWS).
//!
//! Builds the real plan of the full example stack from an empty account, then runs the real
//! executor over it with a fake backend that sleeps a realistic AWS creation time per resource
//! kind (the table below, printed by the bench), under `tokio::time::pause`: hours of virtual
//! time pass in milliseconds. From the same plan it computes the critical path (the longest
//! chain of durations through the dependency graph: a create waits for what it refers to,
//! `Props::dependencies()`) and the sum of all durations, and prints the virtual apply time at
//! the CLI's default concurrency (10), at a few other bounds and unbounded, against both.
//!
//! `cargo bench --bench critical_path`

use anyhow::Context;
use moodle_ha::desired::{Facts, desired_state};
use moodle_ha::executor::{self, Backend, Ids, Operation, Outcome, Step};
use moodle_ha::model::{Kind, Props, ResourceKey};
use moodle_ha::observed::ObservedState;
use moodle_ha::plan::{Action, Plan, PlanOptions, plan};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

mod common;
use common::print_table;

/// The CLI's default `--concurrency`.
const CLI_DEFAULT_CONCURRENCY: usize = 10;

/// Seconds a create of each kind takes in AWS (the call, plus the wait the adapter does until
/// the resource is usable), with what the figure stands for. The only place these live.
const CREATE_SECONDS: &[(Kind, u64, &str)] = &[
    (Kind::Vpc, 3, "CreateVpc + two DNS attribute calls"),
    (Kind::Subnet, 2, "CreateSubnet"),
    (Kind::InternetGateway, 3, "create + attach"),
    (Kind::ElasticIp, 1, "AllocateAddress"),
    (Kind::NatGateway, 120, "pending → available"),
    (Kind::RouteTable, 3, "create, routes, associations"),
    (Kind::SecurityGroup, 2, "CreateSecurityGroup"),
    (Kind::SecurityGroupRules, 2, "authorize ingress/egress"),
    (Kind::FileSystem, 30, "creating → available"),
    (Kind::MountTarget, 90, "creating → available"),
    (Kind::Secret, 2, "GetRandomPassword + CreateSecret"),
    (Kind::DbSubnetGroup, 2, "CreateDBSubnetGroup"),
    (Kind::DbParameterGroup, 3, "create + ModifyDBParameterGroup"),
    (Kind::DbCluster, 600, "Aurora cluster creating → available"),
    (
        Kind::DbInstance,
        600,
        "Multi-AZ instance creating → available",
    ),
    (Kind::CacheSubnetGroup, 2, "CreateCacheSubnetGroup"),
    (Kind::ReplicationGroup, 480, "creating → available"),
    (Kind::IamRole, 3, "role + policies"),
    (Kind::InstanceProfile, 10, "profile + role, IAM propagation"),
    (Kind::LoadBalancer, 180, "provisioning → active"),
    (Kind::TargetGroup, 2, "create + attributes"),
    (Kind::Listener, 2, "CreateListener"),
    (Kind::LaunchTemplate, 2, "CreateLaunchTemplate"),
    (Kind::AutoScalingGroup, 30, "create, hook, first launches"),
    (Kind::ScalingPolicy, 2, "PutScalingPolicy"),
    (Kind::ScheduledAction, 1, "PutScheduledUpdateGroupAction"),
    (Kind::Instance, 60, "cron instance, pending → running"),
    (
        Kind::Bucket,
        3,
        "CreateBucket + encryption, public access block, policy, lifecycle",
    ),
    (Kind::WebAcl, 3, "CreateWebACL + association + logging"),
    (Kind::LogGroup, 1, "CreateLogGroup + retention"),
    (Kind::FlowLog, 2, "CreateFlowLogs"),
];

/// The time of a kind missing from the table.
const UNLISTED_SECONDS: u64 = 5;

fn create_time(kind: Kind) -> Duration {
    Duration::from_secs(
        CREATE_SECONDS
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map_or(UNLISTED_SECONDS, |(_, s, _)| *s),
    )
}

/// Sleeps each create's time in virtual time; records when each step started and ended.
struct Fake {
    origin: Instant,
    log: Mutex<BTreeMap<ResourceKey, (Duration, Duration)>>,
}

impl Backend for Fake {
    async fn execute(&self, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
        let start = self.origin.elapsed();
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
        tokio::time::sleep(create_time(op.change.key.kind)).await;
        if let Ok(mut log) = self.log.lock() {
            log.insert(op.change.key.clone(), (start, self.origin.elapsed()));
        }
        Ok((op.step == Step::Create).then(|| format!("id-{}", op.change.key)))
    }
}

/// A run of the executor: virtual time taken and each step's start and end.
struct Run {
    took: Duration,
    steps: BTreeMap<ResourceKey, (Duration, Duration)>,
}

async fn apply(plan: &Plan, concurrency: usize) -> anyhow::Result<Run> {
    let fake = Fake {
        origin: Instant::now(),
        log: Mutex::new(BTreeMap::new()),
    };
    let report = executor::execute(plan, &fake, Ids::new(), concurrency, &|_| {}).await;
    let took = fake.origin.elapsed();
    if let Some(bad) = report
        .steps
        .iter()
        .find(|s| !matches!(s.outcome, Outcome::Done { .. }))
    {
        anyhow::bail!("the executor did not finish {}: {:?}", bad.key, bad.outcome);
    }
    let steps = fake
        .log
        .into_inner()
        .map_err(|_| anyhow::anyhow!("the step log was poisoned"))?;
    Ok(Run { took, steps })
}

/// Earliest finish of every create when nothing but dependencies holds it back, and the
/// dependency on the longest chain into it.
fn longest_chains(
    plan: &Plan,
) -> anyhow::Result<BTreeMap<ResourceKey, (Duration, Option<ResourceKey>)>> {
    let deps: BTreeMap<&ResourceKey, Vec<ResourceKey>> = plan
        .changes
        .iter()
        .map(|c| {
            let d = c
                .desired
                .as_ref()
                .map(Props::dependencies)
                .unwrap_or_default();
            // Only what the plan creates holds a create back (like the executor's edges).
            let d = d
                .into_iter()
                .filter(|k| plan.changes.iter().any(|c| &c.key == k))
                .collect();
            (&c.key, d)
        })
        .collect();
    let mut finish: BTreeMap<ResourceKey, (Duration, Option<ResourceKey>)> = BTreeMap::new();
    // Relax until nothing changes (the graph is small and acyclic: at most n passes).
    for _ in 0..=plan.changes.len() {
        let mut changed = false;
        for c in &plan.changes {
            let (ready, via) = deps[&c.key]
                .iter()
                .filter_map(|d| finish.get(d).map(|(f, _)| (*f, Some(d.clone()))))
                .max_by_key(|(f, _)| *f)
                .unwrap_or((Duration::ZERO, None));
            if deps[&c.key].iter().any(|d| !finish.contains_key(d)) {
                continue;
            }
            let value = (ready + create_time(c.key.kind), via);
            if finish.get(&c.key) != Some(&value) {
                finish.insert(c.key.clone(), value);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if finish.len() != plan.changes.len() {
        anyhow::bail!("the plan's dependencies have a cycle");
    }
    Ok(finish)
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02} ({s} s)", s / 60, s % 60)
}

fn main() {
    common::main_with(run);
}

fn run() -> anyhow::Result<()> {
    println!("critical_path: apply of stacks/example.yaml from an empty account, in virtual time");
    println!("machine: {}", common::machine());
    let text = include_str!("../stacks/example.yaml");
    let spec = moodle_ha::spec::load_str(text)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("loading stacks/example.yaml")?
        .spec;
    let desired = desired_state(&spec, &Facts::default());
    let plan = plan(
        &desired,
        &ObservedState::default(),
        &PlanOptions {
            plan_id: "bench".into(),
            ..PlanOptions::default()
        },
    );
    if let Some(c) = plan.changes.iter().find(|c| c.action != Action::Create) {
        anyhow::bail!(
            "a plan from empty should only create; {} is {:?}",
            c.key,
            c.action
        );
    }

    // The table, with how many of each kind the plan creates.
    let mut per_kind: BTreeMap<Kind, usize> = BTreeMap::new();
    for c in &plan.changes {
        *per_kind.entry(c.key.kind).or_default() += 1;
    }
    println!();
    println!("Creation time per kind (the fake backend's table):");
    let mut rows: Vec<Vec<String>> = CREATE_SECONDS
        .iter()
        .map(|(k, s, what)| {
            vec![
                k.as_str().to_string(),
                s.to_string(),
                per_kind.get(k).copied().unwrap_or(0).to_string(),
                what.to_string(),
            ]
        })
        .collect();
    for (kind, n) in &per_kind {
        if !CREATE_SECONDS.iter().any(|(k, _, _)| k == kind) {
            rows.push(vec![
                kind.as_str().to_string(),
                UNLISTED_SECONDS.to_string(),
                n.to_string(),
                "NOT IN THE TABLE: a default; add the kind to CREATE_SECONDS".into(),
            ]);
        }
    }
    print_table(&["kind", "seconds", "in plan", "stands for"], &rows);

    let chains = longest_chains(&plan)?;
    let sum: Duration = plan.changes.iter().map(|c| create_time(c.key.kind)).sum();
    let (last, (critical, _)) = chains
        .iter()
        .max_by_key(|(_, (f, _))| *f)
        .map(|(k, v)| (k.clone(), v.clone()))
        .context("the plan is empty")?;
    let mut path = vec![last.clone()];
    while let Some((_, Some(prev))) = chains.get(path.last().unwrap_or(&last)) {
        path.push(prev.clone());
    }
    path.reverse();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .context("building the tokio runtime")?;
    let bounds = [1, 4, CLI_DEFAULT_CONCURRENCY, 20, usize::MAX];
    let mut runs = Vec::new();
    for bound in bounds {
        let run = runtime.block_on(apply(&plan, bound))?;
        runs.push((bound, run));
    }

    println!();
    println!(
        "Plan: {} creates; sum of all durations {}; critical path {}.",
        plan.changes.len(),
        minutes(sum),
        minutes(critical)
    );
    println!();
    println!("Virtual apply time by concurrency bound:");
    print_table(
        &[
            "concurrency",
            "apply",
            "apply / critical path",
            "sum / apply",
        ],
        &runs
            .iter()
            .map(|(bound, run)| {
                vec![
                    if *bound == usize::MAX {
                        "unbounded".to_string()
                    } else if *bound == CLI_DEFAULT_CONCURRENCY {
                        format!("{bound} (CLI default)")
                    } else {
                        bound.to_string()
                    },
                    minutes(run.took),
                    format!("{:.2}", run.took.as_secs_f64() / critical.as_secs_f64()),
                    format!("{:.2}", sum.as_secs_f64() / run.took.as_secs_f64()),
                ]
            })
            .collect::<Vec<_>>(),
    );

    let at = |bound: usize| {
        runs.iter()
            .find(|(b, _)| *b == bound)
            .map(|(_, r)| &r.steps)
    };
    let (default_steps, unbounded_steps) = (at(CLI_DEFAULT_CONCURRENCY), at(usize::MAX));
    println!();
    println!("Critical path ({} resources):", path.len());
    let start_of = |steps: Option<&BTreeMap<ResourceKey, (Duration, Duration)>>, k| {
        steps
            .and_then(|s| s.get(k))
            .map(|(s, _)| s.as_secs().to_string())
            .unwrap_or_else(|| "?".into())
    };
    print_table(
        &[
            "resource",
            "seconds",
            "earliest start",
            "finish",
            "start, unbounded",
            "start, concurrency 10",
        ],
        &path
            .iter()
            .map(|k| {
                let finish = chains.get(k).map(|(f, _)| *f).unwrap_or_default();
                let d = create_time(k.kind);
                vec![
                    k.to_string(),
                    d.as_secs().to_string(),
                    (finish - d).as_secs().to_string(),
                    finish.as_secs().to_string(),
                    start_of(unbounded_steps, k),
                    start_of(default_steps, k),
                ]
            })
            .collect::<Vec<_>>(),
    );

    // What the default bound delays: long creates that start later than they could.
    if let Some(steps) = default_steps {
        let mut late: Vec<(Duration, &ResourceKey)> = steps
            .iter()
            .filter_map(|(k, (start, _))| {
                let earliest = chains.get(k).map(|(f, _)| *f - create_time(k.kind))?;
                (*start > earliest && create_time(k.kind) >= Duration::from_secs(60))
                    .then(|| (*start - earliest, k))
            })
            .collect();
        late.sort_by(|a, b| b.0.cmp(&a.0));
        println!();
        if late.is_empty() {
            println!(
                "At concurrency {CLI_DEFAULT_CONCURRENCY}, every create of a minute or more starts as early as its dependencies allow."
            );
        } else {
            println!(
                "At concurrency {CLI_DEFAULT_CONCURRENCY}, creates of a minute or more that wait for a free slot:"
            );
            for (delay, k) in late {
                println!("  {k}: starts {} s later than it could", delay.as_secs());
            }
        }
    }
    Ok(())
}

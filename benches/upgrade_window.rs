//! Upgrade maintenance window, in process and in virtual time (no emulator, no AWS).
//!
//! Runs the real workflow runner (`moodle_ha::workflow::run`) over the upgrade's steps
//! (`UpgradeStep::ORDER`) for the example stack, with fake actions that sleep what each step
//! typically takes on AWS (`Typical::aws()`, printed with its sources; the steps before the
//! window take the release build and upload and a web node's boot), under a paused tokio
//! clock, and reads the window from the journal the runner wrote: from `maintenance-on`'s
//! start to `maintenance-off`'s end. Printed for a minor and a major upgrade, on RDS MySQL and
//! on Aurora MySQL, and for a major upgrade whose PHP change replaces the cron instance inside
//! the window.
//!
//! `cargo bench --bench upgrade_window`

mod common;

use common::print_table;
use moodle_ha::executor::Stop;
use moodle_ha::spec::{DbEngine, Spec};
use moodle_ha::upgrade::steps::{Typical, UpgradeStep, window};
use moodle_ha::workflow::{self, Actions, Journal, Store};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// Before the window: building and uploading a release (a `git archive` of ~300 MB of PHP,
/// compressed, to S3 in the region), and a web node's boot to held-ready (cloud-init,
/// packages, the release unpacked; the node lab's boot-web figure on a 2-core host).
const BUILD_AND_UPLOAD: Duration = Duration::from_secs(60);
const WARM_NODE_BOOT: Duration = Duration::from_secs(120);

struct Sleeps(BTreeMap<&'static str, Duration>);

impl Actions<UpgradeStep> for Sleeps {
    async fn run(&self, step: UpgradeStep, _: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        tokio::time::sleep(self.0.get(step.name()).copied().unwrap_or_default()).await;
        Ok(())
    }
}

struct Nowhere;

impl Store<UpgradeStep> for Nowhere {
    async fn save(&self, _: &Journal<UpgradeStep>) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("upgrade_window: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let example = moodle_ha::spec::load_file(std::path::Path::new("stacks/example.yaml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .spec;
    let typical = Typical::aws();
    println!("upgrade_window: the example stack, virtual time (tokio paused clock)");
    println!("inputs (Typical::aws()): {typical:?}");
    println!("sources: {}", Typical::SOURCES);
    println!(
        "before the window: build and upload {} s, a warm node's boot {} s\n",
        BUILD_AND_UPLOAD.as_secs(),
        WARM_NODE_BOOT.as_secs()
    );
    let mut rows = Vec::new();
    for engine in [DbEngine::Mysql84, DbEngine::AuroraMysql3] {
        let mut spec = example.clone();
        spec.database.engine = engine;
        for major in [false, true] {
            rows.push(measure(&spec, &typical, major, false)?);
        }
    }
    // A new branch that also changes PHP (Amazon Linux 2023's default 8.3 -> 8.4 for 5.1):
    // the cron instance is replaced inside the window, before upgrade.php.
    rows.push(measure(&example, &typical, true, true)?);
    print_table(
        &[
            "database",
            "upgrade",
            "pause",
            "snapshot",
            "upgrade.php",
            "switch",
            "off",
            "window",
            "workflow",
        ],
        &rows,
    );
    Ok(())
}

fn measure(
    spec: &Spec,
    typical: &Typical,
    major: bool,
    cron_replaced: bool,
) -> anyhow::Result<Vec<String>> {
    let win = window(spec, typical, major, cron_replaced);
    let mut sleeps: BTreeMap<&'static str, Duration> = win
        .steps
        .iter()
        .map(|(step, d)| (step.name(), *d))
        .collect();
    sleeps.insert(UpgradeStep::Preflight.name(), BUILD_AND_UPLOAD);
    sleeps.insert(UpgradeStep::WarmCapacity.name(), WARM_NODE_BOOT);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let journal = runtime.block_on(async {
        let start = tokio::time::Instant::now();
        let epoch = OffsetDateTime::UNIX_EPOCH;
        let clock = move || epoch + (tokio::time::Instant::now() - start);
        let mut journal = Journal::new("bench", "upgrade");
        workflow::run(
            &mut journal,
            workflow::Order::whole(&UpgradeStep::ORDER),
            &Sleeps(sleeps),
            &Nowhere,
            &Stop::default(),
            clock,
            |_| {},
        )
        .await
        .map(|_| journal)
    })?;
    let took = |step: UpgradeStep| -> Duration {
        journal
            .entry(step)
            .and_then(|e| Some((e.ended? - e.started).unsigned_abs()))
            .unwrap_or_default()
    };
    let opened = journal
        .entry(UpgradeStep::MaintenanceOn)
        .map(|e| e.started)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let closed = journal
        .entry(UpgradeStep::MaintenanceOff)
        .and_then(|e| e.ended)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let all = journal
        .entry(UpgradeStep::Preflight)
        .map(|e| closed - e.started)
        .unwrap_or_default();
    let engine = match spec.database.engine {
        DbEngine::AuroraMysql3 => "aurora-mysql-3",
        _ => "mysql-8.4",
    };
    Ok(vec![
        engine.to_string(),
        match (major, cron_replaced) {
            (true, true) => "major + PHP (cron replaced)",
            (true, false) => "major",
            _ => "minor",
        }
        .to_string(),
        secs(took(UpgradeStep::MaintenanceOn) + took(UpgradeStep::CronPaused)),
        secs(took(UpgradeStep::Snapshot)),
        secs(took(UpgradeStep::Upgrade)),
        secs(took(UpgradeStep::SwitchFleet)),
        secs(took(UpgradeStep::MaintenanceOff)),
        mmss((closed - opened).unsigned_abs()),
        mmss(all.unsigned_abs()),
    ])
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02} ({s} s)", s / 60, s % 60)
}

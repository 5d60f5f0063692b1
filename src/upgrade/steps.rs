//! The upgrade workflow's steps, in the order they run, what each waits for, and the
//! maintenance window they add up to: the window is the cron pause, the snapshot, the one run
//! of `upgrade.php` and the switch of the fleet; no node boots inside it (the new release's
//! nodes are launched and held before it opens).

use crate::spec::{DbEngine, Spec};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::time::Duration;

/// One step of an upgrade, in the order of [`UpgradeStep::ORDER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeStep {
    /// Build and upload the release; refuse a downgrade, an unsupported jump, PHP or database
    /// versions the new branch needs, and plugins the site has that the new code lacks.
    Preflight,
    /// Launch the new release's web nodes beside the old ones, held out of service.
    WarmCapacity,
    /// Moodle's CLI maintenance mode on; the group's health-check replacement suspended.
    MaintenanceOn,
    /// No new cron run starts; running tasks are waited for.
    CronPaused,
    /// A manual snapshot of the database, waited for to `available` and recorded.
    Snapshot,
    /// On the cron instance: the new code beside the old, `upgrade.php` once, caches purged.
    Upgrade,
    /// The held nodes enter service; the old ones are deregistered (they drain) and end.
    SwitchFleet,
    /// Smoke tests, then maintenance off, cron on, processes resumed.
    MaintenanceOff,
}

impl UpgradeStep {
    /// Every step, in the order they run.
    pub const ORDER: [UpgradeStep; 8] = [
        UpgradeStep::Preflight,
        UpgradeStep::WarmCapacity,
        UpgradeStep::MaintenanceOn,
        UpgradeStep::CronPaused,
        UpgradeStep::Snapshot,
        UpgradeStep::Upgrade,
        UpgradeStep::SwitchFleet,
        UpgradeStep::MaintenanceOff,
    ];

    /// The step's name, as the journal and the plan write it.
    pub fn name(self) -> &'static str {
        match self {
            UpgradeStep::Preflight => "preflight",
            UpgradeStep::WarmCapacity => "warm-capacity",
            UpgradeStep::MaintenanceOn => "maintenance-on",
            UpgradeStep::CronPaused => "cron-paused",
            UpgradeStep::Snapshot => "snapshot",
            UpgradeStep::Upgrade => "upgrade",
            UpgradeStep::SwitchFleet => "switch-fleet",
            UpgradeStep::MaintenanceOff => "maintenance-off",
        }
    }

    /// True for the steps inside the maintenance window (users see the maintenance page).
    pub fn in_window(self) -> bool {
        !matches!(self, UpgradeStep::Preflight | UpgradeStep::WarmCapacity)
    }
}

/// What AWS and Moodle typically take for each timed part of the workflow: the inputs of the
/// window's estimate (and of `benches/upgrade_window.rs`), each with where the figure comes
/// from in [`Typical::SOURCES`].
#[derive(Clone, Debug, PartialEq)]
pub struct Typical {
    /// Switching maintenance mode on or off on the cron instance, as the node agent sees the
    /// request and runs `admin/cli/maintenance.php`.
    pub maintenance_toggle: Duration,
    /// Waiting for the cron tasks running when cron is paused.
    pub cron_drain: Duration,
    /// A manual snapshot of an RDS MySQL instance, to `available` (incremental after the
    /// automated backups).
    pub rds_snapshot: Duration,
    /// A manual snapshot of an Aurora cluster (storage-level, no I/O to the instances).
    pub aurora_snapshot: Duration,
    /// `upgrade.php` for a release within a branch.
    pub upgrade_minor: Duration,
    /// `upgrade.php` for a new branch.
    pub upgrade_major: Duration,
    /// The smoke test: the login page through each new node and `check_database_schema.php`.
    pub smoke_test: Duration,
    /// A new cron instance's boot to its agent answering (packages, the release, config.php),
    /// inside the window only when the same change replaces the cron instance.
    pub cron_boot: Duration,
}

impl Typical {
    /// Where each figure comes from.
    pub const SOURCES: &'static str = "maintenance and cron: the node agent's 10 s poll plus \
        the CLI call; cron drain: Moodle's scheduled tasks mostly finish within a minute \
        (the pause waits at most `cron_drain`); RDS snapshot: incremental after the daily \
        automated backup, minutes for a site of tens of GB (AWS RDS user guide, \"Creating a \
        DB snapshot\": time depends on the data changed since the last snapshot); Aurora: \
        cluster snapshots are storage-level and take about a minute; upgrade.php: a minor \
        release runs a few upgrade steps (~1 min), a new branch hundreds (~10 min on a \
        mid-size site; the node lab measures ours); a cron instance's boot: packages from \
        the distribution's mirror in the region, the release from the stack's bucket, a few \
        minutes (the node lab's boot-cron, with a local package cache: 1-2 min)";

    /// The figures the plan and the bench use.
    pub fn aws() -> Self {
        Self {
            maintenance_toggle: Duration::from_secs(15),
            cron_drain: Duration::from_secs(60),
            rds_snapshot: Duration::from_secs(300),
            aurora_snapshot: Duration::from_secs(60),
            upgrade_minor: Duration::from_secs(60),
            upgrade_major: Duration::from_secs(600),
            smoke_test: Duration::from_secs(20),
            cron_boot: Duration::from_secs(300),
        }
    }
}

/// The maintenance window of an upgrade: each step inside it with its expected duration.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// The steps inside the window, in order, with what each is expected to take.
    pub steps: Vec<(UpgradeStep, Duration)>,
}

impl Window {
    /// From maintenance on to maintenance off.
    pub fn total(&self) -> Duration {
        self.steps.iter().map(|(_, d)| *d).sum()
    }
}

/// The expected window of an upgrade of the stack `spec` describes (`major`: to a new branch;
/// `cron_replaced`: the cron instance is replaced inside it, before `upgrade.php`).
pub fn window(spec: &Spec, typical: &Typical, major: bool, cron_replaced: bool) -> Window {
    let lb = &spec.load_balancer;
    // The held nodes pass the target group's health check; the old ones stop receiving
    // requests when deregistered (their draining runs on after maintenance is off).
    let healthy = Duration::from_secs(u64::from(
        lb.health_check.interval_seconds * lb.health_check.healthy_threshold,
    ));
    let snapshot = match spec.database.engine {
        DbEngine::AuroraMysql3 => typical.aurora_snapshot,
        DbEngine::Mysql80 | DbEngine::Mysql84 => typical.rds_snapshot,
    };
    let upgrade = if major {
        typical.upgrade_major
    } else {
        typical.upgrade_minor
    } + if cron_replaced {
        typical.cron_boot
    } else {
        Duration::ZERO
    };
    Window {
        steps: vec![
            (UpgradeStep::MaintenanceOn, typical.maintenance_toggle),
            (UpgradeStep::CronPaused, typical.cron_drain),
            (UpgradeStep::Snapshot, snapshot),
            (UpgradeStep::Upgrade, upgrade),
            (UpgradeStep::SwitchFleet, healthy),
            (
                UpgradeStep::MaintenanceOff,
                typical.smoke_test + typical.maintenance_toggle,
            ),
        ],
    }
}

/// What each step waits for, as the plan prints it (`cron_replaced`: the cron instance is
/// replaced inside the window).
pub fn waits_for(step: UpgradeStep, spec: &Spec, cron_replaced: bool) -> String {
    let lb = &spec.load_balancer;
    match step {
        UpgradeStep::Preflight => "the release built and uploaded; its version.php and \
            environment.xml against the site's; on the cron instance, plugins the new code \
            lacks (nothing changes yet)"
            .into(),
        UpgradeStep::WarmCapacity => format!(
            "as many new-release web nodes as the group runs (at least {}) launched and held \
             by the launch hook, the group's maximum raised for the window",
            spec.web.min
        ),
        UpgradeStep::MaintenanceOn => {
            "maintenance.php --enable on the cron instance; health-check \
            replacement suspended"
                .into()
        }
        UpgradeStep::CronPaused => "no new cron run; the running tasks end".into(),
        UpgradeStep::Snapshot => "the snapshot `available`, its identifier recorded".into(),
        UpgradeStep::Upgrade if cron_replaced => "the cron instance replaced (see below) and \
            booted on the site's release; then upgrade.php --non-interactive, once, on it; \
            caches purged; the ready marker"
            .into(),
        UpgradeStep::Upgrade => "upgrade.php --non-interactive, once, on the cron instance; \
            caches purged; the ready marker"
            .into(),
        UpgradeStep::SwitchFleet => format!(
            "the held nodes healthy ({} × {} s); the old ones deregistered (draining {} s)",
            lb.health_check.healthy_threshold,
            lb.health_check.interval_seconds,
            lb.deregistration_delay_seconds
        ),
        UpgradeStep::MaintenanceOff => "the login page through each new node and \
            check_database_schema.php pass; cron on; processes resumed"
            .into(),
    }
}

/// The upgrade as the plan prints it: each step, what it waits for, and the expected window.
pub fn render(spec: &Spec, from: &str, to: &str, major: bool, typical: &Typical) -> String {
    let win = window(spec, typical, major, false);
    let mut out = format!(
        "Upgrade Moodle {from} → {to} ({}), a workflow of {} steps:\n",
        if major { "new branch" } else { "same branch" },
        UpgradeStep::ORDER.len()
    );
    for (i, step) in UpgradeStep::ORDER.iter().enumerate() {
        let expected = win
            .steps
            .iter()
            .find(|(s, _)| s == step)
            .map(|(_, d)| format!(" (~{})", minutes(*d)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}. {}{expected}: {}",
            i + 1,
            step.name(),
            waits_for(*step, spec, false)
        );
    }
    let _ = writeln!(
        out,
        "Maintenance window: about {} (steps 3–8), users see Moodle's maintenance page; no \
         node boots inside it.",
        minutes(win.total())
    );
    out
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Spec {
        let text = include_str!("../../stacks/example.yaml");
        crate::spec::load_str(text)
            .expect("the example parses")
            .spec
    }

    #[test]
    fn the_window_is_the_pause_the_snapshot_the_upgrade_and_the_switch() {
        let spec = example();
        let typical = Typical::aws();
        let minor = window(&spec, &typical, false, false);
        let major = window(&spec, &typical, true, false);
        let replaced = window(&spec, &typical, true, true);
        assert_eq!(replaced.total() - major.total(), typical.cron_boot);
        assert!(minor.steps.iter().all(|(s, _)| s.in_window()));
        assert_eq!(
            major.total() - minor.total(),
            typical.upgrade_major - typical.upgrade_minor
        );
        let names: Vec<_> = minor.steps.iter().map(|(s, _)| s.name()).collect();
        assert_eq!(
            names,
            [
                "maintenance-on",
                "cron-paused",
                "snapshot",
                "upgrade",
                "switch-fleet",
                "maintenance-off"
            ]
        );
    }

    #[test]
    fn the_plan_prints_every_step_with_what_it_waits_for_and_the_window() {
        let text = render(&example(), "4.5.6", "5.1.6", true, &Typical::aws());
        for step in UpgradeStep::ORDER {
            assert!(
                text.contains(&format!(". {}", step.name())),
                "{step:?}: {text}"
            );
        }
        assert!(
            text.contains("Upgrade Moodle 4.5.6 → 5.1.6 (new branch)"),
            "{text}"
        );
        assert!(text.contains("Maintenance window: about "), "{text}");
        assert!(
            text.contains("upgrade.php --non-interactive, once"),
            "{text}"
        );
    }
}

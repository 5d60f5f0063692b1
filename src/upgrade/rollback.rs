//! The rollback of an unfinished upgrade, the pure parts: its steps, what each does, the plan
//! printed before it runs, and the identifiers it gives databases. The database comes back from
//! the snapshot the upgrade took (restored under a new identifier, then the identifiers swapped:
//! the upgraded database is renamed aside, never deleted, and the restored one takes the
//! original name, so endpoints and config.php stay valid; an Aurora cluster is restored with as
//! many instances as it has, and they are swapped too), the release record and the cron
//! instance go back to the previous release, previous-release web nodes replace the new ones,
//! maintenance goes off.

use super::plan::Database;
use crate::release::Release;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One step of a rollback, in the order of [`RollbackStep::ORDER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStep {
    /// Maintenance on (it usually is, after a failed upgrade); health-check replacement
    /// suspended.
    MaintenanceOn,
    /// No new cron run.
    CronPaused,
    /// The upgrade's snapshot restored under a new identifier.
    Restore,
    /// The upgraded database renamed aside, the restored one given the original name.
    Swap,
    /// The release record and the cron instance's code back to the previous release.
    ReleaseBack,
    /// Previous-release web nodes launched; the others retired.
    SwitchFleet,
    /// Smoke test, maintenance off, cron on, processes resumed; the upgrade closed.
    MaintenanceOff,
}

impl RollbackStep {
    /// Every step, in the order they run.
    pub const ORDER: [RollbackStep; 7] = [
        RollbackStep::MaintenanceOn,
        RollbackStep::CronPaused,
        RollbackStep::Restore,
        RollbackStep::Swap,
        RollbackStep::ReleaseBack,
        RollbackStep::SwitchFleet,
        RollbackStep::MaintenanceOff,
    ];

    /// The step's name, as the journal and the plan write it.
    pub fn name(self) -> &'static str {
        match self {
            RollbackStep::MaintenanceOn => "maintenance-on",
            RollbackStep::CronPaused => "cron-paused",
            RollbackStep::Restore => "restore",
            RollbackStep::Swap => "swap",
            RollbackStep::ReleaseBack => "release-back",
            RollbackStep::SwitchFleet => "switch-fleet",
            RollbackStep::MaintenanceOff => "maintenance-off",
        }
    }
}

/// A rollback, as printed before it runs and carried out by the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rollback {
    /// The rollback's ID (`rollback-<UTC time>`), new or resumed.
    pub id: String,
    /// The upgrade it undoes.
    pub upgrade: String,
    /// The release the site goes back to.
    #[schemars(with = "serde_json::Value")]
    pub to: Release,
    /// The release it leaves.
    #[schemars(with = "serde_json::Value")]
    pub from: Release,
    /// The snapshot restored; `None` when the upgrade never reached `upgrade.php` (the
    /// database was not changed, so it is kept).
    pub snapshot: Option<String>,
    /// The database.
    pub database: Database,
    /// The stack's bucket.
    pub bucket: String,
    /// The web group as the upgrade found it, when the upgrade recorded it: the rollback
    /// gives the group this back.
    #[serde(default)]
    pub fleet_before: FleetBefore,
}

/// The web group before an upgrade, from the upgrade's journal (each `None` when an upgrade
/// recorded by an earlier version of the tool lacks it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FleetBefore {
    /// Its desired capacity and maximum size.
    pub capacity: Option<(u32, u32)>,
    /// The launch template version its new instances got (the previous branch's user data).
    pub template_version: Option<String>,
}

/// The identifiers one rollback gives databases: a restored one's before the swap, an upgraded
/// one's once set aside; for the Aurora cluster and for each of its instances. Pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renaming {
    /// The time part of the rollback's ID (`20261206t160000z`).
    suffix: String,
}

impl Renaming {
    /// The renaming of rollback `id`.
    pub fn of(id: &str) -> Self {
        Self { suffix: short(id) }
    }

    /// The identifier `original`'s restored copy has until the swap.
    pub fn restored(&self, original: &str) -> String {
        format!("{original}-rb-{}", self.suffix)
    }

    /// The identifier the upgraded `original` is renamed to (kept, never deleted).
    pub fn aside(&self, original: &str) -> String {
        format!("{original}-upgraded-{}", self.suffix)
    }

    /// The original identifier of a restored copy; `None` for any other identifier.
    pub fn original_of_restored<'a>(&self, restored: &'a str) -> Option<&'a str> {
        restored
            .strip_suffix(&format!("-rb-{}", self.suffix))
            .filter(|o| !o.is_empty())
    }

    /// Whether `id` is an identifier this rollback set aside.
    pub fn is_aside(&self, id: &str) -> bool {
        id.ends_with(&format!("-upgraded-{}", self.suffix))
    }
}

impl Rollback {
    /// The identifiers this rollback gives databases.
    pub fn renaming(&self) -> Renaming {
        Renaming::of(&self.id)
    }

    /// The identifier the snapshot is restored to before the swap.
    pub fn restored_identifier(&self) -> String {
        self.renaming().restored(&self.database.identifier)
    }

    /// The identifier the upgraded database is renamed to (kept, never deleted).
    pub fn aside_identifier(&self) -> String {
        self.renaming().aside(&self.database.identifier)
    }

    /// Whether `step` does anything in this rollback (restore and swap only with a
    /// snapshot).
    pub fn runs(&self, step: RollbackStep) -> bool {
        self.snapshot.is_some() || !matches!(step, RollbackStep::Restore | RollbackStep::Swap)
    }

    /// The rollback as text: what each step does, before it runs.
    pub fn render(&self) -> String {
        let mut out = format!(
            "Rollback of upgrade {}: Moodle {} → back to {} (commit {}):\n",
            self.upgrade,
            self.from.release,
            self.to.release,
            self.to.commit.get(..12).unwrap_or(&self.to.commit)
        );
        for (i, step) in RollbackStep::ORDER.iter().enumerate() {
            let what = match step {
                RollbackStep::MaintenanceOn => {
                    "maintenance on (users see Moodle's maintenance page); health-check replacement suspended".to_string()
                }
                RollbackStep::CronPaused => "no new cron run; running tasks end".to_string(),
                RollbackStep::Restore => match &self.snapshot {
                    Some(s) if self.database.cluster => format!(
                        "cluster snapshot {s} restored as {} with the settings, tags and instances (as many, same classes and zones) of {}, each instance named after its counterpart with `-rb-{}` (waited for to `available`)",
                        self.restored_identifier(),
                        self.database.identifier,
                        short(&self.id)
                    ),
                    Some(s) => format!(
                        "snapshot {s} restored as {} (waited for to `available`)",
                        self.restored_identifier()
                    ),
                    None => "nothing: the upgrade never ran upgrade.php, the database is as it was".into(),
                },
                RollbackStep::Swap => match &self.snapshot {
                    Some(_) if self.database.cluster => format!(
                        "{db} and its instances renamed with `-upgraded-{t}` (kept, with the data of the failed upgrade; delete them when no longer needed), {restored} and its instances given the original names: the cluster endpoint and config.php stay valid; data written after the snapshot is in {aside} only",
                        db = self.database.identifier,
                        t = short(&self.id),
                        aside = self.aside_identifier(),
                        restored = self.restored_identifier()
                    ),
                    Some(_) => format!(
                        "{db} renamed {aside} (kept, with its data of the failed upgrade; delete it when no longer needed), {restored} renamed {db}: the endpoint and config.php stay valid; data written after the snapshot is in {aside} only",
                        db = self.database.identifier,
                        aside = self.aside_identifier(),
                        restored = self.restored_identifier()
                    ),
                    None => "nothing".into(),
                },
                RollbackStep::ReleaseBack => {
                    "the release record and the cron instance's code back to the previous release (kept on it), caches purged".to_string()
                }
                RollbackStep::SwitchFleet => format!(
                    "{}previous-release web nodes launched and in service; the others retired (they drain){}",
                    match &self.fleet_before.template_version {
                        Some(v) => format!("the group's launch template back to version {v} (the previous release's); "),
                        None if self.from.branch != self.to.branch => "WARNING: the upgrade recorded no launch template version (an earlier moodle-ha started it), and the new branch's user data refuses the previous release: point the web group at its previous launch template version by hand first; ".to_string(),
                        None => String::new(),
                    },
                    match self.fleet_before.capacity {
                        Some((d, m)) => format!("; the group back to desired {d}, maximum {m}"),
                        None => String::new(),
                    }
                ),
                RollbackStep::MaintenanceOff => {
                    "check_database_schema.php passes; maintenance off, cron on, processes resumed; the upgrade recorded as rolled back".to_string()
                }
            };
            let _ = writeln!(out, "  {}. {}: {what}", i + 1, step.name());
        }
        out
    }
}

/// The time part of a workflow ID, lower case (`20261206t150000z`).
fn short(id: &str) -> String {
    id.rsplit('-').next().unwrap_or(id).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(c: &str, name: &str) -> Release {
        Release {
            commit: c.repeat(40),
            key: crate::release::archive_key(&c.repeat(40)),
            sha256: c.repeat(64),
            version: "2024100706.00".into(),
            release: name.into(),
            branch: "405".into(),
        }
    }

    fn rollback(snapshot: Option<&str>) -> Rollback {
        Rollback {
            id: "rollback-20261206T160000Z".into(),
            upgrade: "upgrade-20261206T150000Z".into(),
            to: release("a", "4.5.6"),
            from: release("b", "4.5.7"),
            snapshot: snapshot.map(str::to_string),
            database: Database {
                identifier: "site-db".into(),
                cluster: false,
            },
            bucket: "b".into(),
            fleet_before: FleetBefore::default(),
        }
    }

    #[test]
    fn the_database_is_restored_and_swapped_only_when_the_upgrade_touched_it() {
        let with = rollback(Some("site-pre-upgrade"));
        assert!(RollbackStep::ORDER.iter().all(|s| with.runs(*s)));
        assert_eq!(with.restored_identifier(), "site-db-rb-20261206t160000z");
        assert_eq!(with.aside_identifier(), "site-db-upgraded-20261206t160000z");
        let text = with.render();
        assert!(
            text.contains("snapshot site-pre-upgrade restored as site-db-rb-"),
            "{text}"
        );
        assert!(text.contains("site-db renamed site-db-upgraded-"), "{text}");
        let without = rollback(None);
        assert!(!without.runs(RollbackStep::Restore) && !without.runs(RollbackStep::Swap));
        assert!(without.runs(RollbackStep::ReleaseBack));
        assert!(without.render().contains("never ran upgrade.php"));
    }

    #[test]
    fn an_aurora_rollback_names_the_cluster_and_its_instances() {
        let mut aurora = rollback(Some("site-pre-upgrade"));
        aurora.database = Database {
            identifier: "site-db-cluster".into(),
            cluster: true,
        };
        assert_eq!(
            aurora.restored_identifier(),
            "site-db-cluster-rb-20261206t160000z"
        );
        assert_eq!(
            aurora.aside_identifier(),
            "site-db-cluster-upgraded-20261206t160000z"
        );
        let text = aurora.render();
        assert!(
            text.contains(
                "cluster snapshot site-pre-upgrade restored as site-db-cluster-rb-20261206t160000z"
            ),
            "{text}"
        );
        assert!(
            text.contains("and its instances renamed with `-upgraded-20261206t160000z`"),
            "{text}"
        );
    }

    #[test]
    fn restored_and_aside_identifiers_are_recognised_and_fit_rds() {
        let r = Renaming::of("rollback-20261206T160000Z");
        let member = r.restored("site-db-2");
        assert_eq!(member, "site-db-2-rb-20261206t160000z");
        assert_eq!(r.original_of_restored(&member), Some("site-db-2"));
        assert_eq!(r.original_of_restored("site-db-2"), None);
        assert_eq!(
            r.original_of_restored("site-db-2-rb-20261206t150000z"),
            None,
            "another rollback's"
        );
        assert_eq!(r.original_of_restored("-rb-20261206t160000z"), None);
        assert!(r.is_aside(&r.aside("site-db-2")));
        assert!(!r.is_aside("site-db-2") && !r.is_aside(&member));
        // The longest stack name (24) keeps every identifier within RDS's 63 characters.
        let stack = "s".repeat(24);
        let names = crate::names::Names::of(&stack);
        for id in [names.db_cluster(), names.db_member(15), names.db_instance()] {
            assert!(r.aside(&id).len() <= 63, "{}", r.aside(&id));
            assert!(r.restored(&id).len() <= 63, "{}", r.restored(&id));
        }
    }
}

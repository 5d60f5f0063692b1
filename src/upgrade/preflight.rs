//! The upgrade's preflight, before anything changes: may the site go from the code it runs to
//! the new release? Refused for a downgrade, a jump Moodle does not support directly (with the
//! chain of branches to follow), and PHP or database versions the new branch needs that the
//! spec does not give. Pure: the inputs are the two `version.php` readings, the new tree's
//! `environment.xml` and the spec.

use super::environment::{Environment, compare_versions, dotted_branch, normalize_release};
use crate::spec::DbEngine;
use std::cmp::Ordering;
use std::fmt;

/// What a `version.php` says about a code tree (or what a site's database records).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeVersion {
    /// `$version`, e.g. `2024100706.00`.
    pub version: String,
    /// `$release`, e.g. `4.5.6 (Build: 20250811)`.
    pub release: String,
    /// `$branch`, e.g. `405`.
    pub branch: String,
}

/// What the spec gives the new code to run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    /// The PHP minor version the nodes run, e.g. `8.2`.
    pub php: String,
    /// The database engine.
    pub database: DbEngine,
}

/// The preflight's answer when the upgrade may go ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The new code is the site's version: nothing to upgrade.
    UpToDate,
    /// An upgrade within a branch (`major: false`) or to a newer branch.
    Upgrade {
        /// The site's release.
        from: String,
        /// The new release.
        to: String,
        /// True when the branch changes (e.g. 4.5 → 5.1).
        major: bool,
    },
}

/// Why an upgrade is refused; each names what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The new code is older than the site's (Moodle cannot go back; a rollback restores the
    /// pre-upgrade snapshot instead).
    Downgrade {
        /// The site's release and version.
        site: String,
        /// The new code's release and version.
        code: String,
    },
    /// Moodle does not upgrade the site's release straight to the new branch.
    UnsupportedJump {
        /// The site's release.
        site: String,
        /// The new branch.
        branch: String,
        /// The oldest release the new branch upgrades from.
        requires: String,
        /// The branches to upgrade through, in order, when the file gives a way.
        chain: Option<Vec<String>>,
    },
    /// The new branch needs a newer PHP than the spec's.
    Php {
        /// The new branch.
        branch: String,
        /// The PHP version it needs.
        needs: String,
        /// The spec's.
        spec: String,
    },
    /// The new branch needs a newer database than the spec's.
    Database {
        /// The new branch.
        branch: String,
        /// The engine as the spec writes it.
        engine: String,
        /// The version it needs.
        needs: String,
    },
    /// The new tree is not a Moodle this tool can judge: its branch code is unreadable, or
    /// its environment.xml does not describe its own branch.
    Unreadable {
        /// What is missing.
        what: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Downgrade { site, code } => write!(
                f,
                "downgrade refused: the site runs {site} and the new code is {code}; Moodle \
                 cannot downgrade (to go back after an upgrade, `moodle-ha rollback` restores \
                 the snapshot taken before it)"
            ),
            Refusal::UnsupportedJump {
                site,
                branch,
                requires,
                chain,
            } => {
                write!(
                    f,
                    "Moodle {branch} upgrades sites from {requires} on; this site runs {site}"
                )?;
                match chain {
                    Some(chain) => write!(
                        f,
                        ": upgrade through {} (each to its latest release), one `apply` each",
                        chain.join(" → ")
                    ),
                    None => write!(f, "; the new code's environment.xml gives no way there"),
                }
            }
            Refusal::Php {
                branch,
                needs,
                spec,
            } => write!(
                f,
                "Moodle {branch} needs PHP {needs} or later; the nodes would run PHP {spec}: \
                 set `moodle.php.version` (or `web.os`) to a PHP it supports, in the same \
                 change, and the new PHP is installed inside the maintenance window"
            ),
            Refusal::Database {
                branch,
                engine,
                needs,
            } => write!(
                f,
                "Moodle {branch} needs {needs} or later and `database.engine` is {engine}: \
                 upgrade the database engine first, in its own change"
            ),
            Refusal::Unreadable { what } => write!(f, "cannot judge the new code: {what}"),
        }
    }
}

/// Whether a site whose database records `site` may upgrade to the code `new`, whose tree
/// holds `environment`, on `runtime`. Every refusal is returned, not only the first.
pub fn preflight(
    site: &CodeVersion,
    new: &CodeVersion,
    environment: &Environment,
    runtime: &Runtime,
) -> Result<Verdict, Vec<Refusal>> {
    match compare_moodle_versions(&new.version, &site.version) {
        Ordering::Equal => return Ok(Verdict::UpToDate),
        Ordering::Less => {
            return Err(vec![Refusal::Downgrade {
                site: describe(site),
                code: describe(new),
            }]);
        }
        Ordering::Greater => {}
    }
    let Some(branch) = dotted_branch(&new.branch) else {
        return Err(vec![Refusal::Unreadable {
            what: format!("its $branch {:?} is not a Moodle branch code", new.branch),
        }]);
    };
    let Some(needs) = environment.branch(&branch) else {
        return Err(vec![Refusal::Unreadable {
            what: format!("its environment.xml does not describe its own branch {branch}"),
        }]);
    };
    let mut refusals = Vec::new();
    if environment.allows(&site.release, &branch) == Some(false) {
        refusals.push(Refusal::UnsupportedJump {
            site: normalize_release(&site.release),
            branch: branch.clone(),
            requires: needs.requires.clone(),
            chain: environment.chain(&site.release, &branch),
        });
    }
    if let Some(php) = &needs.php
        && compare_versions(&runtime.php, php) == Ordering::Less
        && compare_versions(&runtime.php, &minor_of(php)) == Ordering::Less
    {
        refusals.push(Refusal::Php {
            branch: branch.clone(),
            needs: php.clone(),
            spec: runtime.php.clone(),
        });
    }
    let (vendor, version, label) = vendor_of(runtime.database);
    if let Some(min) = needs.databases.get(vendor)
        && compare_versions(version, min) == Ordering::Less
    {
        refusals.push(Refusal::Database {
            branch: branch.clone(),
            engine: label.to_string(),
            needs: format!("{vendor} {min}"),
        });
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    Ok(Verdict::Upgrade {
        from: normalize_release(&site.release),
        to: normalize_release(&new.release),
        major: site.branch != new.branch,
    })
}

/// Moodle's name (in environment.xml) and the version of the spec's engine, and the engine as
/// the spec writes it.
fn vendor_of(engine: DbEngine) -> (&'static str, &'static str, &'static str) {
    match engine {
        DbEngine::Mysql80 => ("mysql", "8.0", "mysql-8.0"),
        DbEngine::Mysql84 => ("mysql", "8.4", "mysql-8.4"),
        DbEngine::AuroraMysql3 => ("auroramysql", "8.0", "aurora-mysql-3"),
    }
}

/// `8.2.0` → `8.2`: the spec names PHP minor versions, whose latest patch release any `8.2.x`
/// requirement is met by.
fn minor_of(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Compares `$version` values (`YYYYMMDDRR.XX`): the date-and-release part, then the
/// fraction as written (`.01` after `.00`).
fn compare_moodle_versions(a: &str, b: &str) -> Ordering {
    let split = |v: &str| -> (u64, u64) {
        let (whole, fraction) = v.trim().split_once('.').unwrap_or((v.trim(), "0"));
        // Two digits, as Moodle writes them: `.1` is `.10`.
        let fraction = format!("{fraction:0<2}");
        (whole.parse().unwrap_or(0), fraction.parse().unwrap_or(0))
    };
    split(a).cmp(&split(b))
}

fn describe(code: &CodeVersion) -> String {
    format!(
        "{} ($version {})",
        normalize_release(&code.release),
        code.version
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const V51: &str = include_str!("../../tests/fixtures/moodle/environment-5.1.6.xml");
    const V45: &str = include_str!("../../tests/fixtures/moodle/environment-4.5.6.xml");

    fn code(version: &str, release: &str, branch: &str) -> CodeVersion {
        CodeVersion {
            version: version.into(),
            release: release.into(),
            branch: branch.into(),
        }
    }

    fn v456() -> CodeVersion {
        code("2024100706.00", "4.5.6 (Build: 20250811)", "405")
    }

    fn v516() -> CodeVersion {
        code("2025100606.00", "5.1.6 (Build: 20260810)", "501")
    }

    fn runtime(php: &str, database: DbEngine) -> Runtime {
        Runtime {
            php: php.into(),
            database,
        }
    }

    #[test]
    fn a_minor_and_a_major_upgrade_go_ahead_on_a_runtime_that_fits() {
        let env45 = Environment::parse(V45).expect("4.5");
        let bumped = code("2024100706.01", "4.5.6+ (Build: 20250901)", "405");
        assert_eq!(
            preflight(&v456(), &bumped, &env45, &runtime("8.2", DbEngine::Mysql80)),
            Ok(Verdict::Upgrade {
                from: "4.5.6".into(),
                to: "4.5.6".into(),
                major: false
            })
        );
        let env51 = Environment::parse(V51).expect("5.1");
        assert_eq!(
            preflight(&v456(), &v516(), &env51, &runtime("8.2", DbEngine::Mysql84)),
            Ok(Verdict::Upgrade {
                from: "4.5.6".into(),
                to: "5.1.6".into(),
                major: true
            })
        );
        assert_eq!(
            preflight(&v516(), &v516(), &env51, &runtime("8.2", DbEngine::Mysql84)),
            Ok(Verdict::UpToDate)
        );
    }

    #[test]
    fn a_downgrade_is_refused_naming_both_versions() {
        let env = Environment::parse(V45).expect("4.5");
        let refused = preflight(&v516(), &v456(), &env, &runtime("8.2", DbEngine::Mysql84))
            .expect_err("refused");
        assert_eq!(refused.len(), 1);
        let text = refused[0].to_string();
        assert!(text.starts_with("downgrade refused"), "{text}");
        assert!(text.contains("5.1.6 ($version 2025100606.00)"), "{text}");
        assert!(text.contains("4.5.6 ($version 2024100706.00)"), "{text}");
        // `.01` is after `.00`; `.1` is `.10`, after `.09`.
        assert_eq!(
            compare_moodle_versions("2024100706.1", "2024100706.09"),
            Ordering::Greater
        );
    }

    #[test]
    fn a_jump_moodle_does_not_support_is_refused_with_the_chain_to_follow() {
        let env = Environment::parse(V51).expect("5.1");
        let old = code("2020061502.00", "3.9.2 (Build: 20200914)", "39");
        let refused = preflight(&old, &v516(), &env, &runtime("8.2", DbEngine::Mysql84))
            .expect_err("refused");
        assert_eq!(
            refused,
            vec![Refusal::UnsupportedJump {
                site: "3.9.2".into(),
                branch: "5.1".into(),
                requires: "4.2.3".into(),
                chain: Some(vec!["4.1".into(), "4.5".into(), "5.1".into()]),
            }]
        );
        assert_eq!(
            refused[0].to_string(),
            "Moodle 5.1 upgrades sites from 4.2.3 on; this site runs 3.9.2: upgrade through \
             4.1 → 4.5 → 5.1 (each to its latest release), one `apply` each"
        );
    }

    #[test]
    fn php_and_database_versions_the_new_branch_needs_are_checked_against_the_spec() {
        let env = Environment::parse(V51).expect("5.1");
        let refused = preflight(&v456(), &v516(), &env, &runtime("8.1", DbEngine::Mysql80))
            .expect_err("refused");
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(
            refused[0]
                .to_string()
                .starts_with("Moodle 5.1 needs PHP 8.2.0 or later; the nodes would run PHP 8.1"),
            "{}",
            refused[0]
        );
        assert!(
            refused[1].to_string().starts_with(
                "Moodle 5.1 needs mysql 8.4 or later and `database.engine` is mysql-8.0"
            ),
            "{}",
            refused[1]
        );
        // Aurora MySQL 3 is MySQL 8.0 compatible, which 5.1 accepts as `auroramysql 8.0`.
        assert!(
            preflight(
                &v456(),
                &v516(),
                &env,
                &runtime("8.3", DbEngine::AuroraMysql3)
            )
            .is_ok()
        );
    }

    #[test]
    fn a_tree_that_does_not_describe_its_own_branch_is_not_judged() {
        let env = Environment::parse(V45).expect("4.5 knows 5.1 too");
        let future = code("2027100600.00", "6.0 (Build: 20271006)", "600");
        let refused = preflight(&v456(), &future, &env, &runtime("8.4", DbEngine::Mysql84))
            .expect_err("refused");
        assert!(
            matches!(&refused[0], Refusal::Unreadable { what } if what.contains("branch 6.0")),
            "{refused:?}"
        );
    }
}

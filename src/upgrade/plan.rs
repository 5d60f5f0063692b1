//! A release change, taken out of the plan's resource changes and planned as the upgrade
//! workflow: the plan's [`Upgrade`] says from which release to which, what each step waits
//! for, the expected maintenance window, and whether an unfinished upgrade is resumed. Pure:
//! the inputs are the plan, the spec, the new tree's `environment.xml` and the stack's open
//! upgrade (read from its journal by the caller).

use super::environment::Environment;
use super::preflight::{CodeVersion, Refusal, Runtime, Verdict, preflight};
use super::steps::{Typical, UpgradeStep, waits_for, window};
use crate::model::{Kind, Props, ResourceKey};
use crate::plan::{Action, Plan};
use crate::release::Release;
use crate::spec::Spec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The upgrade a plan carries out after its resource changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Upgrade {
    /// The workflow's ID in the stack (`upgrade-<UTC time>`), new or resumed.
    pub id: String,
    /// The stack's bucket, which holds the releases, the journal and the agent's answers
    /// (set by the caller, which knows the account).
    #[serde(default)]
    pub bucket: String,
    /// The database the snapshot is of.
    pub database: Database,
    /// True when an unfinished upgrade of an earlier run is resumed.
    pub resumes: bool,
    /// The release the site runs.
    #[schemars(with = "serde_json::Value")]
    pub from: Release,
    /// The release it is upgraded to.
    #[schemars(with = "serde_json::Value")]
    pub to: Release,
    /// True when the branch changes (e.g. 4.5 → 5.1).
    pub major: bool,
    /// The steps, in order.
    pub steps: Vec<PlannedStep>,
    /// The expected maintenance window, in seconds (maintenance on to maintenance off).
    pub window_seconds: u64,
    /// Resource changes carried out inside the window, after the snapshot and before
    /// `upgrade.php`: the cron instance's replacement when the same change replaces it (a PHP
    /// version the new branch needs, an AMI), so that it boots on the site's release with
    /// cron paused and the site in maintenance, and its agent runs the upgrade.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_window: Vec<crate::plan::Change>,
}

/// The database an upgrade snapshots (and a rollback restores).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Database {
    /// The DB instance or cluster identifier.
    pub identifier: String,
    /// True for an Aurora cluster.
    pub cluster: bool,
}

impl Database {
    /// The database of the stack `spec` describes.
    pub fn of(spec: &Spec) -> Self {
        let names = crate::names::Names::of(&spec.name);
        match spec.database.engine {
            crate::spec::DbEngine::AuroraMysql3 => Self {
                identifier: names.db_cluster(),
                cluster: true,
            },
            crate::spec::DbEngine::Mysql80 | crate::spec::DbEngine::Mysql84 => Self {
                identifier: names.db_instance(),
                cluster: false,
            },
        }
    }
}

/// One step of the upgrade as the plan shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedStep {
    /// The step's name (`snapshot`, `upgrade` …).
    pub name: String,
    /// Inside the maintenance window.
    pub in_window: bool,
    /// What it is expected to take, when the window's estimate times it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seconds: Option<u64>,
    /// What it waits for.
    pub waits_for: String,
}

/// An upgrade begun and not finished, as its journal in the stack records it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenUpgrade {
    /// The workflow's ID.
    pub id: String,
    /// The release it upgrades from.
    pub from: Release,
    /// The release it upgrades to.
    pub to: Release,
}

/// Why a release change cannot be planned.
#[derive(Clone, Debug, PartialEq)]
pub enum Blocked {
    /// The preflight refused the new release (each reason).
    Refused(Vec<Refusal>),
    /// Another upgrade is unfinished: finish it or roll it back first.
    Unfinished {
        /// Its ID.
        id: String,
        /// The release it goes to.
        to: String,
    },
    /// The same change replaces or deletes a resource the cron instance uses, while the
    /// upgrade replaces the cron instance inside its window (the old one would lose it first).
    CronNeeds(String),
    /// The new tree's `environment.xml` could not be read.
    NoEnvironment(String),
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocked::Refused(r) => {
                let all: Vec<String> = r.iter().map(ToString::to_string).collect();
                write!(f, "{}", all.join("; "))
            }
            Blocked::Unfinished { id, to } => write!(
                f,
                "upgrade {id} to {to} is unfinished: set `moodle.git_ref` back to that \
                 release and `apply` to finish it, or `moodle-ha rollback` to undo it"
            ),
            Blocked::CronNeeds(key) => write!(
                f,
                "this change also replaces {key}, which the cron instance uses, and the cron \
                 instance is replaced inside the upgrade's window: apply the other changes with \
                 the current `moodle.git_ref` first, then the new release"
            ),
            Blocked::NoEnvironment(why) => write!(f, "cannot judge the new code: {why}"),
        }
    }
}

/// The new release's own rules and the spec's runtime, for the preflight.
pub struct NewCode<'a> {
    /// The release built from the spec.
    pub release: &'a Release,
    /// Its tree's `admin/environment.xml` (`public/admin/…` from 5.1), when it has one.
    pub environment: Option<&'a str>,
}

/// Takes the release change (if any) out of `plan`'s changes and plans it as an upgrade:
/// `Ok(None)` when nothing is to upgrade (no release yet: the first install is the cron
/// instance's; or the same commit), `Ok(Some)` with the upgrade the plan now carries.
/// `new_id` names a new workflow; `open` is the stack's unfinished upgrade, resumed when it
/// goes to the spec's release.
pub fn plan_upgrade(
    plan: &mut Plan,
    spec: &Spec,
    new: &NewCode<'_>,
    open: Option<&OpenUpgrade>,
    new_id: &str,
) -> Result<Option<Upgrade>, Blocked> {
    let key = ResourceKey::new(Kind::Release, crate::desired::RELEASE);
    let change = plan
        .changes
        .iter()
        .position(|c| c.key == key && c.action == Action::Update);
    let site = change.and_then(|i| match &plan.changes[i].observed {
        Some(Props::Release(p)) => Some(p.record()),
        _ => None,
    });
    if let Some(open) = open {
        if open.to.commit != new.release.commit {
            return Err(Blocked::Unfinished {
                id: open.id.clone(),
                to: open.to.release.clone(),
            });
        }
        // The record may already name the new release (the warm-capacity step wrote it).
        if let Some(i) = change {
            plan.changes.remove(i);
        }
        keep_warm_capacity(plan);
        fleet_by_the_workflow(plan);
        let in_window = cron_in_the_window(plan, true);
        return Ok(Some(upgrade(
            spec, &open.id, true, &open.from, &open.to, in_window,
        )));
    }
    let (Some(i), Some(site)) = (change, site) else {
        return Ok(None);
    };
    // The same release, or a record that names none (written over by hand): the record is
    // written again, as any resource is repaired.
    if site.commit == new.release.commit || site.commit.is_empty() {
        return Ok(None);
    }
    let environment = new
        .environment
        .ok_or_else(|| Blocked::NoEnvironment("its tree has no admin/environment.xml".into()))
        .and_then(|xml| {
            Environment::parse(xml).map_err(|e| Blocked::NoEnvironment(e.to_string()))
        })?;
    let runtime = Runtime {
        php: spec.php_version(),
        database: spec.database.engine,
    };
    // A new commit of the same Moodle version (a plugin changed) still runs upgrade.php.
    if let Err(refusals) = preflight(&code(&site), &code(new.release), &environment, &runtime)
        .map(|v| matches!(v, Verdict::UpToDate | Verdict::Upgrade { .. }))
    {
        return Err(Blocked::Refused(refusals));
    }
    plan.changes.remove(i);
    fleet_by_the_workflow(plan);
    let in_window = cron_in_the_window(plan, false);
    let needs: Vec<ResourceKey> = in_window
        .iter()
        .filter_map(|c| c.desired.as_ref())
        .flat_map(Props::dependencies)
        .collect();
    if let Some(c) = plan
        .changes
        .iter()
        .find(|c| needs.contains(&c.key) && matches!(c.action, Action::Replace | Action::Delete))
    {
        return Err(Blocked::CronNeeds(c.key.to_string()));
    }
    Ok(Some(upgrade(
        spec,
        new_id,
        false,
        &site,
        new.release,
        in_window,
    )))
}

/// The cron instance runs the upgrade and is never replaced beside it: a replacement the same
/// change brings (a PHP version the new branch needs, an AMI, a cron job) is taken out of the
/// resource changes and carried out inside the window, once cron is paused and the snapshot
/// taken; the new instance boots on the site's release (the ready marker's), and its agent
/// runs the upgrade. When an unfinished upgrade is resumed (`resumed`), a cron instance to
/// create (a run killed between the old one's end and the new one's launch) is, too.
fn cron_in_the_window(plan: &mut Plan, resumed: bool) -> Vec<crate::plan::Change> {
    let (cron, rest): (Vec<_>, Vec<_>) =
        std::mem::take(&mut plan.changes)
            .into_iter()
            .partition(|c| {
                c.key.kind == Kind::Instance
                    && (c.action == Action::Replace || (resumed && c.action == Action::Create))
            });
    plan.changes = rest;
    cron
}

/// A new launch template version that comes with the upgrade (a new branch's user data)
/// reaches the fleet through the workflow's fleet switch, not an instance refresh of its own.
fn fleet_by_the_workflow(plan: &mut Plan) {
    for c in &mut plan.changes {
        if c.key.kind == Kind::AutoScalingGroup && c.action == Action::Update {
            for f in &mut c.fields {
                if f.field == "launch_template_version" {
                    f.applies = Some(crate::plan::Applies::UpgradeSwitch);
                }
            }
        }
    }
}

/// While an upgrade is unfinished, the web group's capacity is the workflow's (raised for the
/// warm nodes, given back when the fleet is switched): not a change for the plan to undo.
fn keep_warm_capacity(plan: &mut Plan) {
    for c in &mut plan.changes {
        if c.key.kind == Kind::AutoScalingGroup && c.action == Action::Update {
            c.fields
                .retain(|f| f.field != "max_size" && f.field != "desired_capacity");
        }
    }
    plan.changes.retain(|c| {
        !(c.key.kind == Kind::AutoScalingGroup && c.action == Action::Update && c.fields.is_empty())
    });
}

fn code(r: &Release) -> CodeVersion {
    CodeVersion {
        version: r.version.clone(),
        release: r.release.clone(),
        branch: r.branch.clone(),
    }
}

fn upgrade(
    spec: &Spec,
    id: &str,
    resumes: bool,
    from: &Release,
    to: &Release,
    in_window: Vec<crate::plan::Change>,
) -> Upgrade {
    let major = from.branch != to.branch;
    let win = window(spec, &Typical::aws(), major, !in_window.is_empty());
    let steps = UpgradeStep::ORDER
        .iter()
        .map(|&step| PlannedStep {
            name: step.name().to_string(),
            in_window: step.in_window(),
            expected_seconds: win
                .steps
                .iter()
                .find(|(s, _)| *s == step)
                .map(|(_, d)| d.as_secs()),
            waits_for: waits_for(step, spec, !in_window.is_empty()),
        })
        .collect();
    Upgrade {
        id: id.to_string(),
        bucket: String::new(),
        database: Database::of(spec),
        resumes,
        from: from.clone(),
        to: to.clone(),
        major,
        steps,
        window_seconds: win.total().as_secs(),
        in_window,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Facts, desired_state};
    use crate::observed::{ObservedResource, ObservedState};
    use crate::plan::{PlanOptions, plan};

    const ENV45: &str = include_str!("../../tests/fixtures/moodle/environment-4.5.6.xml");
    const ENV51: &str = include_str!("../../tests/fixtures/moodle/environment-5.1.6.xml");

    fn spec(version: &str) -> Spec {
        let text = include_str!("../../stacks/example.yaml");
        let text = text.replace("version: \"4.5\"", &format!("version: \"{version}\""));
        crate::spec::load_str(&text)
            .expect("the example parses")
            .spec
    }

    fn release(c: &str, version: &str, name: &str, branch: &str) -> Release {
        let commit = c.repeat(40);
        Release {
            key: crate::release::archive_key(&commit),
            commit,
            sha256: c.repeat(64),
            version: version.into(),
            release: name.into(),
            branch: branch.into(),
        }
    }

    fn v456() -> Release {
        release("a", "2024100706.00", "4.5.6 (Build: 20250811)", "405")
    }

    fn v457() -> Release {
        release("b", "2024100707.00", "4.5.7 (Build: 20251006)", "405")
    }

    /// The plan of `spec` at release `new` against a stack that runs `site` (None: no
    /// release recorded yet).
    fn planned(spec: &Spec, site: Option<&Release>, new: &Release) -> Plan {
        planned_from(spec, spec, site, new)
    }

    /// The plan of `spec` at release `new` against the stack `was` describes at `site`.
    fn planned_from(spec: &Spec, was: &Spec, site: Option<&Release>, new: &Release) -> Plan {
        let facts = |r: Option<Release>| Facts {
            account: Some("123456789012".into()),
            release: r,
            ..Facts::default()
        };
        let desired = desired_state(spec, &facts(Some(new.clone())));
        let before = desired_state(was, &facts(site.cloned()));
        let mut observed = ObservedState {
            resources: before
                .resources
                .iter()
                .map(|(key, props)| ObservedResource {
                    unknown: Default::default(),
                    key: key.clone(),
                    id: format!("id-{key}"),
                    props: props.clone(),
                    outputs: Default::default(),
                })
                .collect(),
        };
        observed.symbolize();
        plan(
            &desired,
            &observed,
            &PlanOptions {
                plan_id: "p".into(),
                final_snapshot: true,
            },
        )
    }

    fn new<'a>(r: &'a Release, env: &'a str) -> NewCode<'a> {
        NewCode {
            release: r,
            environment: Some(env),
        }
    }

    #[test]
    fn a_release_change_is_the_upgrade_workflow_and_nothing_else() {
        let s = spec("4.5");
        let mut p = planned(&s, Some(&v456()), &v457());
        assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
        let up = plan_upgrade(&mut p, &s, &new(&v457(), ENV45), None, "upgrade-1")
            .expect("allowed")
            .expect("an upgrade");
        assert!(p.changes.is_empty(), "{:?}", p.changes);
        assert_eq!(
            (up.from.commit, up.to.commit),
            (v456().commit, v457().commit)
        );
        assert!(!up.major && !up.resumes);
        assert_eq!(up.id, "upgrade-1");
        let names: Vec<&str> = up.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "preflight",
                "warm-capacity",
                "maintenance-on",
                "cron-paused",
                "snapshot",
                "upgrade",
                "switch-fleet",
                "maintenance-off"
            ]
        );
        let timed: u64 = up.steps.iter().filter_map(|s| s.expected_seconds).sum();
        assert_eq!(timed, up.window_seconds);
        assert!(up.window_seconds > 0);
    }

    #[test]
    fn nothing_else_plans_an_upgrade() {
        let s = spec("4.5");
        // The first release is the cron instance's install, not an upgrade.
        let mut first = planned(&s, None, &v456());
        let creates = first.changes.len();
        assert_eq!(
            plan_upgrade(&mut first, &s, &new(&v456(), ENV45), None, "u"),
            Ok(None)
        );
        assert_eq!(first.changes.len(), creates);
        // The same release: no change at all.
        let mut same = planned(&s, Some(&v456()), &v456());
        assert_eq!(
            plan_upgrade(&mut same, &s, &new(&v456(), ENV45), None, "u"),
            Ok(None)
        );
        // Other changes (scaling) stay resource changes.
        let mut scaled_spec = s.clone();
        scaled_spec.web.max += 2;
        let mut scaled = planned_from(&scaled_spec, &s, Some(&v456()), &v456());
        assert!(!scaled.changes.is_empty());
        let before = scaled.changes.clone();
        assert_eq!(
            plan_upgrade(&mut scaled, &scaled_spec, &new(&v456(), ENV45), None, "u"),
            Ok(None)
        );
        assert_eq!(scaled.changes, before);
    }

    #[test]
    fn a_new_branch_keeps_the_cron_instance_and_switches_the_fleet_through_the_workflow() {
        let to = release("d", "2025100606.00", "5.1.6 (Build: 20260810)", "501");
        let mut p = planned_from(&spec("5.1"), &spec("4.5"), Some(&v456()), &to);
        let up = plan_upgrade(&mut p, &spec("5.1"), &new(&to, ENV51), None, "u")
            .expect("allowed")
            .expect("an upgrade");
        assert!(up.major);
        let changed: Vec<(String, Action)> = p
            .changes
            .iter()
            .map(|c| (c.key.to_string(), c.action))
            .collect();
        assert_eq!(
            changed,
            [
                ("launch-template/web".to_string(), Action::Update),
                ("auto-scaling-group/web".to_string(), Action::Update)
            ],
            "the cron instance's user data names no branch"
        );
        let version = p.changes[1]
            .fields
            .iter()
            .find(|f| f.field == "launch_template_version")
            .expect("the group's template version");
        assert_eq!(version.applies, Some(crate::plan::Applies::UpgradeSwitch));
    }

    #[test]
    fn a_cron_replacement_beside_an_upgrade_is_carried_out_inside_the_window() {
        // A new cron job changes the cron instance's user data: a replacement.
        let mut other = spec("4.5");
        other.cron.jobs.push(crate::spec::CronJob {
            schedule: "0 3 * * *".into(),
            command: "true".into(),
        });
        let mut p = planned_from(&other, &spec("4.5"), Some(&v456()), &v457());
        let is_cron =
            |c: &crate::plan::Change| c.key.kind == Kind::Instance && c.action == Action::Replace;
        assert!(p.changes.iter().any(is_cron), "{:?}", p.changes);
        let up = plan_upgrade(&mut p, &other, &new(&v457(), ENV45), None, "u")
            .expect("planned")
            .expect("an upgrade");
        assert!(!p.changes.iter().any(is_cron), "{:?}", p.changes);
        assert_eq!(up.in_window.len(), 1, "{:?}", up.in_window);
        assert!(is_cron(&up.in_window[0]));
        // The window holds the new cron instance's boot, and the plan says so.
        let alone = plan_upgrade(
            &mut planned(&spec("4.5"), Some(&v456()), &v457()),
            &spec("4.5"),
            &new(&v457(), ENV45),
            None,
            "u",
        )
        .expect("planned")
        .expect("an upgrade");
        assert_eq!(
            up.window_seconds - alone.window_seconds,
            crate::upgrade::steps::Typical::aws().cron_boot.as_secs()
        );
        let upgrade_step = up
            .steps
            .iter()
            .find(|s| s.name == "upgrade")
            .expect("upgrade");
        assert!(
            upgrade_step.waits_for.contains("cron instance replaced"),
            "{upgrade_step:?}"
        );
        // A resource the cron instance uses, replaced by the same change: refused (the old
        // instance would lose it before the window).
        let mut q = planned_from(&other, &spec("4.5"), Some(&v456()), &v457());
        let cron = q
            .changes
            .iter()
            .find(|c| is_cron(c))
            .cloned()
            .expect("cron");
        let uses = cron
            .desired
            .as_ref()
            .map(Props::dependencies)
            .unwrap_or_default();
        let first = uses
            .first()
            .cloned()
            .expect("the cron instance uses something");
        q.changes.push(crate::plan::Change {
            key: first.clone(),
            action: Action::Replace,
            ..cron.clone()
        });
        let blocked = plan_upgrade(&mut q, &other, &new(&v457(), ENV45), None, "u");
        assert_eq!(blocked, Err(Blocked::CronNeeds(first.to_string())));
        p.upgrade = Some(up);
        assert_eq!(p.summary().replace, 1, "the summary counts it");
        let text = crate::plan::render::render_plan(&p);
        assert!(
            text.contains("Inside the window, before upgrade.php"),
            "{text}"
        );
        assert!(text.contains("instance/cron"), "{text}");
    }

    #[test]
    fn a_downgrade_is_refused_with_its_reason() {
        let s = spec("4.5");
        let mut p = planned(&s, Some(&v457()), &v456());
        let before = p.changes.clone();
        let Err(Blocked::Refused(r)) = plan_upgrade(&mut p, &s, &new(&v456(), ENV45), None, "u")
        else {
            panic!("not refused");
        };
        assert!(matches!(r.as_slice(), [Refusal::Downgrade { .. }]), "{r:?}");
        assert!(
            Blocked::Refused(r)
                .to_string()
                .contains("downgrade refused")
        );
        assert_eq!(p.changes, before, "a refused plan is left as it was");
    }

    #[test]
    fn an_unsupported_jump_is_refused_with_the_chain_to_follow() {
        let s = spec("5.1");
        let old = release("c", "2022041900.00", "4.0 (Build: 20220419)", "400");
        let to = release("d", "2025100606.00", "5.1.6 (Build: 20260810)", "501");
        let mut p = planned(&s, Some(&old), &to);
        let Err(Blocked::Refused(r)) = plan_upgrade(&mut p, &s, &new(&to, ENV51), None, "u") else {
            panic!("not refused");
        };
        let text = Blocked::Refused(r.clone()).to_string();
        assert!(
            r.iter()
                .any(|r| matches!(r, Refusal::UnsupportedJump { .. })),
            "{r:?}"
        );
        assert!(text.contains("upgrades sites from 4.2.3"), "{text}");
    }

    #[test]
    fn a_php_the_new_branch_cannot_run_on_is_refused() {
        let mut s = spec("5.1");
        s.moodle.php.version = Some("8.1".into());
        let to = release("d", "2025100606.00", "5.1.6 (Build: 20260810)", "501");
        let mut p = planned(&s, Some(&v456()), &to);
        let Err(Blocked::Refused(r)) = plan_upgrade(&mut p, &s, &new(&to, ENV51), None, "u") else {
            panic!("not refused");
        };
        assert!(r.iter().any(|r| matches!(r, Refusal::Php { .. })), "{r:?}");
    }

    #[test]
    fn an_unfinished_upgrade_is_resumed_or_blocks_another() {
        let s = spec("4.5");
        let open = OpenUpgrade {
            id: "upgrade-0".into(),
            from: v456(),
            to: v457(),
        };
        // The record already names the new release: no resource change, the upgrade resumed.
        let mut p = planned(&s, Some(&v457()), &v457());
        let up = plan_upgrade(&mut p, &s, &new(&v457(), ENV45), Some(&open), "upgrade-1")
            .expect("allowed")
            .expect("resumed");
        assert!(up.resumes);
        assert_eq!(up.id, "upgrade-0");
        assert_eq!(up.from, v456());
        // The group's capacity, raised by the warm-capacity step, is not undone meanwhile.
        let mut p = planned(&s, Some(&v457()), &v457());
        let group = ResourceKey::new(Kind::AutoScalingGroup, "web");
        let raised = p.changes.clone();
        let mut changed = crate::plan::Change {
            key: group.clone(),
            action: Action::Update,
            id: Some("g".into()),
            fields: ["max_size", "desired_capacity"]
                .iter()
                .map(|f| crate::plan::FieldChange {
                    field: (*f).into(),
                    before: serde_json::json!(4),
                    after: serde_json::json!(2),
                    forces_replacement: false,
                    applies: None,
                })
                .collect(),
            reason: None,
            destroys_data: false,
            final_snapshot: None,
            desired: None,
            observed: None,
        };
        p.changes.push(changed.clone());
        plan_upgrade(&mut p, &s, &new(&v457(), ENV45), Some(&open), "u").expect("allowed");
        assert_eq!(p.changes, raised, "{:?}", p.changes);
        // Without an open upgrade it is a change like any other.
        changed.fields.truncate(1);
        let mut p = planned(&s, Some(&v456()), &v456());
        p.changes.push(changed.clone());
        plan_upgrade(&mut p, &s, &new(&v456(), ENV45), None, "u").expect("allowed");
        assert!(p.changes.contains(&changed));
        // Another release while it is unfinished is blocked, naming it.
        let other = release("e", "2024100708.00", "4.5.8 (Build: 20251201)", "405");
        let mut p = planned(&s, Some(&v457()), &other);
        let blocked = plan_upgrade(&mut p, &s, &new(&other, ENV45), Some(&open), "u");
        let Err(b @ Blocked::Unfinished { .. }) = blocked else {
            panic!("{blocked:?}");
        };
        assert!(b.to_string().contains("upgrade-0"), "{b}");
    }
}

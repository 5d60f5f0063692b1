//! The planner: desired state + observed state → [`Plan`]. Synchronous, deterministic and
//! pure; every decision is made here so that apply only carries it out.

use super::{Action, Applies, Change, FieldChange, PLAN_FORMAT_VERSION, Plan};
use crate::desired::DesiredState;
use crate::model::{Kind, Props, ResourceKey};
use crate::observed::ObservedState;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Choices that shape a plan.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// The plan ID (random in the CLI; fixed in tests for stable output).
    pub plan_id: String,
    /// Take a final snapshot before deleting a database (the spec's `final_snapshot`).
    pub final_snapshot: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            plan_id: String::new(),
            final_snapshot: true,
        }
    }
}

pub use crate::model::STATIC_DB_PARAMETERS;

pub use crate::observed::symbolize;

/// Computes the changes that take `observed` to `desired`.
pub fn plan(desired: &DesiredState, observed: &ObservedState, options: &PlanOptions) -> Plan {
    let mut by_key: BTreeMap<&ResourceKey, Vec<_>> = BTreeMap::new();
    for r in &observed.resources {
        by_key.entry(&r.key).or_default().push(r);
    }
    let mut changes: BTreeMap<ResourceKey, Change> = BTreeMap::new();
    let mut unchanged = BTreeSet::new();
    let mut extra_deletes = Vec::new();

    for (key, want) in &desired.resources {
        let found = by_key.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let Some((first, duplicates)) = found.split_first() else {
            changes.insert(key.clone(), create(key, want));
            continue;
        };
        for dup in duplicates {
            extra_deletes.push(delete(
                key,
                &dup.id,
                &dup.props,
                Some(format!("duplicate of {} ({})", key, first.id)),
            ));
        }
        let fields = diff(key, want, &first.props, &first.unknown);
        if fields.is_empty() {
            unchanged.insert(key.clone());
            continue;
        }
        let action = if fields.iter().any(|f| f.forces_replacement) {
            Action::Replace
        } else {
            Action::Update
        };
        changes.insert(
            key.clone(),
            Change {
                key: key.clone(),
                action,
                id: Some(first.id.clone()),
                destroys_data: action == Action::Replace && first.props.holds_data(),
                final_snapshot: None,
                fields,
                reason: None,
                desired: Some(want.clone()),
                observed: Some(first.props.clone()),
            },
        );
    }
    for r in &observed.resources {
        if !desired.resources.contains_key(&r.key) {
            let reason = if r.key.name.starts_with("stray-") {
                "carries the stack's tag but was not made by moodle-ha; not in the spec"
            } else {
                "no longer in the spec"
            };
            extra_deletes.push(delete(&r.key, &r.id, &r.props, Some(reason.into())));
        }
    }

    cascade_replacements(desired, &mut changes, &mut unchanged);

    let mut changes: Vec<Change> = changes.into_values().collect();
    changes.extend(extra_deletes);
    changes.sort_by(|a, b| a.key.cmp(&b.key).then(a.id.cmp(&b.id)));
    for change in &mut changes {
        change.final_snapshot = final_snapshot(change, options);
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        stack: desired.stack.clone(),
        region: desired.region.clone(),
        tags: desired.tags.clone(),
        plan_id: options.plan_id.clone(),
        observed_digest: digest(&unmanaged_fields(desired), observed),
        unmanaged_fields: unmanaged_fields(desired),
        only: None,
        changes,
        unchanged: unchanged.into_iter().collect(),
        outputs: observed.outputs(),
        unreadable: unreadable(desired, observed),
        upgrade: None,
    }
}

/// The managed fields of the stack's resources that AWS's answers did not include, by
/// resource: not compared, so neither a change nor drift, but worth saying.
fn unreadable(
    desired: &DesiredState,
    observed: &ObservedState,
) -> BTreeMap<ResourceKey, Vec<String>> {
    let mut out: BTreeMap<ResourceKey, Vec<String>> = BTreeMap::new();
    for r in &observed.resources {
        let Some(want) = desired.resources.get(&r.key) else {
            continue;
        };
        let managed = want.fields();
        let fields: Vec<String> = r
            .unknown
            .iter()
            .filter(|f| managed.get(*f).is_some_and(|v| !v.is_null()))
            .cloned()
            .collect();
        if !fields.is_empty() {
            out.entry(r.key.clone()).or_default().extend(fields);
        }
    }
    out
}

/// Fields each desired resource leaves to AWS (`null` in the desired state), by key.
pub(crate) fn unmanaged_fields(desired: &DesiredState) -> BTreeMap<ResourceKey, Vec<String>> {
    desired
        .resources
        .iter()
        .map(|(key, want)| {
            let nulls: Vec<String> = want
                .fields()
                .into_iter()
                .filter(|(_, v)| v.is_null())
                .map(|(k, _)| k)
                .collect();
            (key.clone(), nulls)
        })
        .filter(|(_, nulls)| !nulls.is_empty())
        .collect()
}

/// A digest of what a plan was computed from: each observed resource's key, ID and
/// attributes, except those the spec leaves to AWS (like a desired capacity the scaling
/// policies own, which may change without making a saved plan stale).
pub(crate) fn digest(
    unmanaged: &BTreeMap<ResourceKey, Vec<String>>,
    observed: &ObservedState,
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for r in &observed.resources {
        let skip = unmanaged.get(&r.key).cloned().unwrap_or_default();
        let fields: BTreeMap<String, Value> = r
            .props
            .fields()
            .into_iter()
            .filter(|(k, _)| !skip.contains(k) && !r.unknown.contains(k))
            .collect();
        hasher.update(format!("{}\n{}\n", r.key, r.id));
        hasher.update(serde_json::to_string(&fields).unwrap_or_default());
        hasher.update("\n");
    }
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The snapshot to take before a database holding data goes (deleted or replaced).
fn final_snapshot(change: &Change, options: &PlanOptions) -> Option<String> {
    if !options.final_snapshot
        || !matches!(change.action, Action::Delete | Action::Replace)
        || !change.destroys_data
    {
        return None;
    }
    let identifier = match change.observed.as_ref()? {
        Props::DbCluster(p) => &p.identifier,
        Props::DbInstance(p) => &p.identifier,
        _ => return None,
    };
    let suffix = format!("-final-{}", options.plan_id);
    // Snapshot identifiers: at most 255 characters, no trailing or double hyphen.
    Some(format!("{identifier}{suffix}").replace("--", "-"))
}

/// When an in-place change of `field` takes effect.
fn applies(field: &str, want: &Props, before: &Value, after: &Value) -> Option<Applies> {
    let window = |immediately: bool, window: &str| {
        if immediately {
            Applies::Now
        } else {
            Applies::MaintenanceWindow {
                window: window.to_string(),
            }
        }
    };
    match want {
        Props::DbInstance(p) => Some(match field {
            "instance_class" | "allocated_storage_gib" | "storage_type" | "multi_az" => {
                window(p.apply_immediately, &p.maintenance_window)
            }
            "parameter_group" => Applies::NextReboot,
            _ => Applies::Now,
        }),
        Props::DbCluster(_) => Some(Applies::Now),
        Props::AutoScalingGroup(p) if field == "launch_template_version" => {
            Some(Applies::InstanceRefresh {
                min_healthy_percent: p.refresh_min_healthy_percent,
            })
        }
        Props::ReplicationGroup(p) => Some(match field {
            "node_type" | "engine_version" => window(p.apply_immediately, &p.maintenance_window),
            // IncreaseReplicaCount / DecreaseReplicaCount only exist with ApplyImmediately.
            _ => Applies::Now,
        }),
        Props::DbParameterGroup(_) if field == "parameters" => {
            let empty = serde_json::Map::new();
            let (b, a) = (
                before.as_object().unwrap_or(&empty),
                after.as_object().unwrap_or(&empty),
            );
            let changed_static = a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .any(|k| STATIC_DB_PARAMETERS.contains(&k.as_str()));
            Some(if changed_static {
                Applies::NextReboot
            } else {
                Applies::Now
            })
        }
        _ => None,
    }
}

/// A resource whose dependency is replaced gets a new ID to point at: replaced itself when the
/// reference is immutable, updated otherwise. Repeats until nothing more changes.
fn cascade_replacements(
    desired: &DesiredState,
    changes: &mut BTreeMap<ResourceKey, Change>,
    unchanged: &mut BTreeSet<ResourceKey>,
) {
    loop {
        let replaced: BTreeSet<ResourceKey> = changes
            .values()
            .filter(|c| c.action == Action::Replace)
            .map(|c| c.key.clone())
            .collect();
        let mut progressed = false;
        for (key, want) in &desired.resources {
            let fields_with_replaced = ref_fields(want, &replaced);
            if fields_with_replaced.is_empty() {
                continue;
            }
            let forces = fields_with_replaced
                .iter()
                .any(|f| key.kind.immutable_fields().contains(&f.as_str()));
            let change = changes.get_mut(key);
            match change {
                Some(c) if c.action == Action::Replace || c.action == Action::Create => continue,
                Some(c) if c.action == Action::Update && !forces => continue,
                _ => {}
            }
            let reason = format!(
                "refers to {} being replaced",
                fields_with_replaced
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let action = if forces {
                Action::Replace
            } else {
                Action::Update
            };
            match change {
                Some(c) => {
                    c.action = action;
                    c.reason = Some(reason);
                    c.destroys_data = action == Action::Replace && want.holds_data();
                }
                None => {
                    unchanged.remove(key);
                    changes.insert(
                        key.clone(),
                        Change {
                            key: key.clone(),
                            action,
                            id: None,
                            fields: Vec::new(),
                            reason: Some(reason),
                            destroys_data: action == Action::Replace && want.holds_data(),
                            final_snapshot: None,
                            desired: Some(want.clone()),
                            observed: None,
                        },
                    );
                }
            }
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
}

/// Names of the fields of `props` that refer to one of `keys`.
fn ref_fields(props: &Props, keys: &BTreeSet<ResourceKey>) -> Vec<String> {
    props
        .fields()
        .into_iter()
        .filter(|(_, value)| keys.iter().any(|k| mentions(value, k)))
        .map(|(name, _)| name)
        .collect()
}

fn mentions(value: &Value, key: &ResourceKey) -> bool {
    match value {
        Value::Object(map) => {
            map.get("ref").and_then(Value::as_str) == Some(key.to_string().as_str())
                || map.values().any(|v| mentions(v, key))
        }
        Value::Array(items) => items.iter().any(|v| mentions(v, key)),
        _ => false,
    }
}

fn create(key: &ResourceKey, want: &Props) -> Change {
    let hidden = key.kind.hidden_fields();
    let fields = want
        .fields()
        .into_iter()
        .filter(|(k, v)| !v.is_null() && !hidden.contains(&k.as_str()))
        .map(|(field, after)| FieldChange {
            field,
            before: Value::Null,
            after,
            forces_replacement: false,
            applies: None,
        })
        .collect();
    Change {
        key: key.clone(),
        action: Action::Create,
        id: None,
        fields,
        reason: None,
        destroys_data: false,
        final_snapshot: None,
        desired: Some(want.clone()),
        observed: None,
    }
}

fn delete(key: &ResourceKey, id: &str, props: &Props, reason: Option<String>) -> Change {
    let hidden = key.kind.hidden_fields();
    let fields = props
        .fields()
        .into_iter()
        .filter(|(k, v)| !v.is_null() && !hidden.contains(&k.as_str()))
        .map(|(field, before)| FieldChange {
            field,
            before,
            after: Value::Null,
            forces_replacement: false,
            applies: None,
        })
        .collect();
    // Deleting the stack bucket empties it first: say what goes with it.
    let reason = if key.kind == Kind::Bucket {
        let note = "emptied first: the load balancer's access logs and the Moodle releases in it go with it";
        Some(reason.map_or_else(|| note.to_string(), |r| format!("{r}; {note}")))
    } else {
        reason
    };
    Change {
        key: key.clone(),
        action: Action::Delete,
        id: Some(id.to_string()),
        fields,
        reason,
        destroys_data: props.holds_data(),
        final_snapshot: None,
        desired: None,
        observed: Some(props.clone()),
    }
}

/// Managed fields whose values differ. A desired `null` is unmanaged and never differs; a
/// field AWS did not report (`unknown`) is not compared: what AWS did not say is no change.
fn diff(
    key: &ResourceKey,
    want: &Props,
    have: &Props,
    unknown: &BTreeSet<String>,
) -> Vec<FieldChange> {
    let have_fields = have.fields();
    let directives = key.kind.directives();
    let mut changes: Vec<FieldChange> = want
        .fields()
        .into_iter()
        .filter(|(field, after)| {
            !after.is_null() && !directives.contains(&field.as_str()) && !unknown.contains(field)
        })
        .filter_map(|(field, after)| {
            let before = have_fields.get(&field).cloned().unwrap_or(Value::Null);
            if same(&before, &after) {
                return None;
            }
            let forces_replacement = key.kind.immutable_fields().contains(&field.as_str());
            Some(FieldChange {
                applies: None,
                field,
                before,
                after,
                forces_replacement,
            })
        })
        .collect();
    if !changes.iter().any(|f| f.forces_replacement) {
        for f in &mut changes {
            f.applies = applies(&f.field, want, &f.before, &f.after);
        }
    }
    changes
}

/// Equality that treats `1` and `1.0` alike (AWS returns floats for some integer settings).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

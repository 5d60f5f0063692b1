//! The observed state: what exists in AWS for a stack, read by its tags, in the same model as
//! the desired state. Filled by the AWS adapters; everything here is pure.

use crate::model::{Kind, Props, Ref, ResourceKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One resource found in AWS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedResource {
    /// Its key, from the `moodle-ha:resource` tag (or its parent's, for untaggable children).
    pub key: ResourceKey,
    /// Its AWS ID.
    pub id: String,
    /// Its managed attributes as AWS reports them.
    pub props: Props,
    /// Values others need (endpoints, ARNs), by output name, e.g. `cache.primary_endpoint`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// Managed fields AWS's answer did not include: their value in `props` is a placeholder,
    /// never compared (not drift, never a replacement), listed by `drift` as unreadable.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unknown: BTreeSet<String>,
}

/// Collects, while an AWS answer is mapped to the model, the fields it did not include.
/// Each accessor returns the value AWS gave, or a placeholder recorded as unknown: an
/// incomplete answer is never read as `0`, `""` or `false`.
#[derive(Debug, Default)]
pub struct Unknown(BTreeSet<String>);

impl Unknown {
    /// The value, or a placeholder recorded as unknown under `field`.
    pub fn or_default<T: Default>(&mut self, field: &str, value: Option<T>) -> T {
        value.unwrap_or_else(|| {
            self.0.insert(field.to_string());
            T::default()
        })
    }

    /// A text field.
    pub fn text(&mut self, field: &str, value: Option<&str>) -> String {
        self.or_default(field, value.map(str::to_string))
    }

    /// A count or size AWS gives as a signed number; a negative one is unknown too.
    pub fn count(&mut self, field: &str, value: Option<i32>) -> u32 {
        self.or_default(field, value.and_then(|n| u32::try_from(n).ok()))
    }

    /// A flag.
    pub fn flag(&mut self, field: &str, value: Option<bool>) -> bool {
        self.or_default(field, value)
    }

    /// Records `field` as unknown (an answer that lacked what it is computed from).
    pub fn missing(&mut self, field: &str) {
        self.0.insert(field.to_string());
    }

    /// The fields recorded.
    pub fn fields(self) -> BTreeSet<String> {
        self.0
    }
}

/// Every resource found for a stack. A key can appear twice (a duplicate left by an
/// interrupted run outside moodle-ha's control); the planner deletes the extra one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    /// The resources, in the order the adapters reported them.
    pub resources: Vec<ObservedResource>,
}

impl ObservedState {
    /// Replaces AWS IDs of the stack's own resources with their keys, so observed attributes
    /// compare with desired ones (`vpc-0abc` → `vpc/main`). IDs of anything else stay IDs.
    pub fn symbolize(&mut self) {
        let by_id: BTreeMap<String, ResourceKey> = self
            .resources
            .iter()
            .filter(|r| r.key.kind != Kind::SecurityGroupRules) // shares its group's ID
            .map(|r| (r.id.clone(), r.key.clone()))
            .collect();
        for r in &mut self.resources {
            r.props.map_refs(|reference| match reference {
                Ref::External(id) if id.is_empty() => reference.clone(),
                Ref::External(id) => match by_id.get(id).or_else(|| {
                    // The resource part of an ARN (`targetgroup/<name>/<id>`, as in a scaling
                    // policy's resource label) names the resource whose ARN ends with it.
                    let suffix = format!(":{id}");
                    by_id
                        .iter()
                        .find(|(arn, _)| arn.starts_with("arn:") && arn.ends_with(&suffix))
                        .map(|(_, key)| key)
                }) {
                    Some(key) => Ref::Managed { key: key.clone() },
                    None => reference.clone(),
                },
                Ref::Managed { .. } => reference.clone(),
            });
        }
        self.resources
            .sort_by(|a, b| a.key.cmp(&b.key).then(a.id.cmp(&b.id)));
    }

    /// The first resource found under `key`.
    pub fn get(&self, key: &ResourceKey) -> Option<&ObservedResource> {
        self.resources.iter().find(|r| &r.key == key)
    }

    /// Every output of the stack's resources (the first resource's, when duplicated).
    pub fn outputs(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for r in self.resources.iter().rev() {
            out.extend(r.outputs.clone());
        }
        out
    }

    /// A digest of everything observed (IDs, attributes, outputs), to tell whether AWS
    /// changed between a plan and its apply.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_string(&self.resources).unwrap_or_default();
        Sha256::digest(text.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// AWS ID of each key (the first one found, when duplicated).
    pub fn ids(&self) -> BTreeMap<ResourceKey, String> {
        let mut ids = BTreeMap::new();
        for r in &self.resources {
            ids.entry(r.key.clone()).or_insert_with(|| r.id.clone());
        }
        ids
    }
}

/// [`ObservedState::symbolize`], with the resources found twice under one key (a create
/// whose answer was lost and was sent again) ordered so that the one the stack uses comes
/// first: the plan keeps the first and deletes the others, and apply resolves references
/// to the first. Used means, in this order: referred to by more of the stack's other
/// resources (the Elastic IP a NAT gateway holds, the VPC the subnets are in, the subnet
/// with the mount target), then referring to more of them (the attached internet gateway,
/// the route table with routes and subnets); then the smaller ID, so the choice is stable.
pub fn symbolize(observed: &mut ObservedState) {
    let ids: BTreeSet<&str> = observed.resources.iter().map(|r| r.id.as_str()).collect();
    // Per resource: the AWS IDs of the stack's resources it refers to.
    let refers_to: Vec<Vec<String>> = observed
        .resources
        .iter()
        .map(|r| {
            let found = std::cell::RefCell::new(Vec::new());
            r.props.clone().map_refs(|reference| {
                if let Ref::External(id) = reference
                    && ids.contains(id.as_str())
                    && *id != r.id
                {
                    found.borrow_mut().push(id.clone());
                }
                reference.clone()
            });
            found.into_inner()
        })
        .collect();
    let mut used: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (r, targets) in observed.resources.iter().zip(&refers_to) {
        used.entry(r.id.clone()).or_default().1 += targets.len();
        for id in targets {
            used.entry(id.clone()).or_default().0 += 1;
        }
    }
    observed.symbolize();
    let score = |id: &str| used.get(id).copied().unwrap_or_default();
    observed.resources.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| score(&b.id).cmp(&score(&a.id)))
            .then_with(|| a.id.cmp(&b.id))
    });
}

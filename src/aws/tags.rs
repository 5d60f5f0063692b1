//! Ownership tags: every resource carries the stack's tags, set in its create call, and is
//! found again by them. Nothing without the stack tag is ever modified or deleted.

use crate::model::ResourceKey;
use std::collections::BTreeMap;

/// Tag whose value is the stack name.
pub const STACK_TAG: &str = "moodle-ha:stack";
/// Tag whose value is the resource's key (`kind/name`).
pub const RESOURCE_TAG: &str = "moodle-ha:resource";

/// One AWS tag, whichever SDK's type holds it (each service has its own `Tag`).
pub trait SdkTag {
    /// `(key, value)`.
    fn pair(&self) -> (&str, &str);
}

macro_rules! optional_tag {
    ($($ty:ty),*) => {$(
        impl SdkTag for $ty {
            fn pair(&self) -> (&str, &str) {
                (self.key().unwrap_or_default(), self.value().unwrap_or_default())
            }
        }
    )*};
}
optional_tag!(
    aws_sdk_ec2::types::Tag,
    aws_sdk_rds::types::Tag,
    aws_sdk_elasticache::types::Tag,
    aws_sdk_elasticloadbalancingv2::types::Tag,
    aws_sdk_secretsmanager::types::Tag,
    aws_sdk_autoscaling::types::TagDescription
);

macro_rules! required_tag {
    ($($ty:ty),*) => {$(
        impl SdkTag for $ty {
            fn pair(&self) -> (&str, &str) {
                (self.key(), self.value())
            }
        }
    )*};
}
required_tag!(
    aws_sdk_iam::types::Tag,
    aws_sdk_efs::types::Tag,
    aws_sdk_s3::types::Tag,
    aws_sdk_wafv2::types::Tag
);

/// The tags of one stack.
#[derive(Clone, Debug)]
pub struct StackTags {
    /// Stack name.
    pub stack: String,
    /// The spec's extra tags.
    pub extra: BTreeMap<String, String>,
}

impl StackTags {
    /// All tags for one resource: the spec's, `Name`, the stack and the resource key.
    pub fn for_resource(&self, key: &ResourceKey) -> Vec<(String, String)> {
        let mut tags: BTreeMap<String, String> = self.extra.clone();
        tags.insert("Name".into(), format!("{}-{}", self.stack, key.name));
        tags.insert(STACK_TAG.into(), self.stack.clone());
        tags.insert(RESOURCE_TAG.into(), key.to_string());
        tags.into_iter().collect()
    }

    /// The key of a resource of `kind` carrying the stack's tag: its `moodle-ha:resource` key,
    /// or `kind/stray-<id>` when that tag is missing or names another kind (made by hand and
    /// tagged for the stack: the stack owns it, and the plan deletes it as not in the spec).
    pub fn owned_or_stray<'a>(
        &self,
        kind: crate::model::Kind,
        id: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<ResourceKey> {
        let map: BTreeMap<&str, &str> = tags.into_iter().collect();
        if map.get(STACK_TAG) != Some(&self.stack.as_str()) {
            return None;
        }
        match map
            .get(RESOURCE_TAG)
            .and_then(|k| k.parse::<ResourceKey>().ok())
        {
            Some(key) if key.kind == kind => Some(key),
            _ => Some(ResourceKey::new(kind, format!("stray-{id}"))),
        }
    }

    /// The key of a resource carrying these SDK tags, when it belongs to this stack.
    pub fn owner<T: SdkTag>(&self, tags: &[T]) -> Option<ResourceKey> {
        self.owned_key(tags.iter().map(SdkTag::pair))
    }

    /// The key of a resource carrying these tags, when it belongs to this stack.
    pub fn owned_key<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<ResourceKey> {
        let map: BTreeMap<&str, &str> = tags.into_iter().collect();
        if map.get(STACK_TAG) != Some(&self.stack.as_str()) {
            return None;
        }
        map.get(RESOURCE_TAG)?.parse().ok()
    }
}

//! IAM policy documents in the model. Every list in IAM's policy grammar (statements,
//! actions, resources, principals, condition values) is a set, so a [`Policy`] compares and
//! serializes in one canonical form: a policy AWS returns with its lists in another order is
//! the same policy, never a planned change.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// A policy document (`null` when there is none).
#[derive(Clone, Debug, Default)]
pub struct Policy(Value);

impl Policy {
    /// The document `value`.
    pub fn new(value: Value) -> Self {
        Policy(value)
    }

    /// The document in canonical form: every array sorted (by its items' JSON) and
    /// deduplicated, at any depth.
    pub fn canonical(&self) -> Value {
        fn canon(v: &Value) -> Value {
            match v {
                Value::Array(items) => {
                    let mut items: Vec<Value> = items.iter().map(canon).collect();
                    items.sort_by_key(Value::to_string);
                    items.dedup();
                    Value::Array(items)
                }
                Value::Object(map) => {
                    Value::Object(map.iter().map(|(k, v)| (k.clone(), canon(v))).collect())
                }
                other => other.clone(),
            }
        }
        canon(&self.0)
    }
}

impl From<Value> for Policy {
    fn from(value: Value) -> Self {
        Policy(value)
    }
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

/// The document as compact JSON, as IAM takes it.
impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.canonical().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_in_another_order_are_the_same_policy() {
        let a = Policy::new(json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}
        ]}));
        let b = Policy::new(json!({"Statement": [
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
            {"Resource": "*", "Action": ["s3:PutObject", "s3:GetObject"], "Effect": "Allow"}
        ]}));
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).ok(),
            serde_json::to_string(&b).ok()
        );
        let c = Policy::new(json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}
        ]}));
        assert_ne!(a, c);
    }
}

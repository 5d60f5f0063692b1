//! Reading AWS's answers: the one way every adapter takes a value out of an SDK response.
//! A value the stack needs (the ID a create returns) is [`required`]: its absence is an error
//! naming the call, never an empty ID. Managed attributes that may be absent go through
//! [`crate::observed::Unknown`] instead.

use anyhow::anyhow;

/// An optional text as an owned string, empty when absent. Only for values that are not
/// managed attributes or IDs (names in messages, lookups that then fail to match).
pub fn text(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// The identifier `field` of `call`'s answer: an error naming both when AWS left it out or
/// empty (the resource may exist; the next plan finds it by its tags).
pub fn required(value: Option<&str>, call: &str, field: &str) -> anyhow::Result<String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(anyhow!(
            "{call} answered without the new resource's {field}; if it was created, the next `moodle-ha apply` finds it by its tags"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_the_id_is_an_error_naming_the_call_and_field() {
        let e = required(None, "PutScalingPolicy", "PolicyARN")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("PutScalingPolicy answered without the new resource's PolicyARN"),
            "{e}"
        );
        assert!(required(Some(""), "CreateVpc", "VpcId").is_err());
        assert_eq!(
            required(Some("vpc-1"), "CreateVpc", "VpcId")
                .ok()
                .as_deref(),
            Some("vpc-1")
        );
    }
}

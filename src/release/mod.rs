//! A release: one commit of the site's code, packed once by the CLI with the operator's own
//! `git`, uploaded to the stack's bucket under a content address (the commit), and named by a
//! record in the stack that every node reads at every boot. This module holds the pure parts:
//! Moodle's `version.php` read without PHP, the check that the code is the spec's branch, and
//! the record itself. [`build`] (the `git` subprocesses and the local cache) is the I/O.

pub mod build;
mod version_php;

pub use version_php::{VersionPhp, parse_version_php};

use crate::spec::MoodleVersion;
use serde::{Deserialize, Serialize};

/// The archive's key in the bucket: its content address, `releases/<commit>.tar.gz` (under
/// [`crate::names::RELEASES_PREFIX`], the only prefix the node roles may read).
pub fn archive_key(commit: &str) -> String {
    format!("{}{commit}.tar.gz", crate::names::RELEASES_PREFIX)
}

/// What the nodes run: written by `apply` into the stack (an SSM parameter, see
/// [`crate::names::Names::release_parameter`]), read by every node at every boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The commit `moodle.git_ref` resolved to (40 hex digits).
    pub commit: String,
    /// The archive's key in the stack's bucket.
    pub key: String,
    /// The archive's SHA-256, in hex: a node refuses an archive that does not match.
    pub sha256: String,
    /// `$version` of the tree's `version.php`, e.g. `2024100706.00`.
    pub version: String,
    /// `$release`, e.g. `4.5.6 (Build: 20250811)`.
    pub release: String,
    /// `$branch`, e.g. `405`: a node refuses a release of another branch than its spec's.
    pub branch: String,
}

impl Release {
    /// The record's text as stored in the stack (compact JSON, fields in a fixed order).
    pub fn to_record(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A record read back from the stack; an error says what is wrong with it.
    pub fn from_record(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a release record: {e}"))
    }
}

/// The `$branch` Moodle's `version.php` has for a spec's `moodle.version`
/// (`4.5` → `405`, `5.1` → `501`).
pub fn branch_of(version: MoodleVersion) -> &'static str {
    match version {
        MoodleVersion::V4_5 => "405",
        MoodleVersion::V5_0 => "500",
        MoodleVersion::V5_1 => "501",
    }
}

/// `None` when the tree's branch is the spec's; else why not (for `moodle.version`).
pub fn branch_mismatch(spec: MoodleVersion, tree: &VersionPhp, git_ref: &str) -> Option<String> {
    let want = branch_of(spec);
    (tree.branch != want).then(|| {
        format!(
            "`{}` (branch {want}), but `moodle.git_ref` `{git_ref}` is Moodle {} (`$branch = '{}'` in its version.php)",
            spec.as_str(),
            tree.release,
            tree.branch
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_keeps_its_field_order() {
        let r = Release {
            commit: "a".repeat(40),
            key: archive_key(&"a".repeat(40)),
            sha256: "b".repeat(64),
            version: "2024100706.00".into(),
            release: "4.5.6 (Build: 20250811)".into(),
            branch: "405".into(),
        };
        let text = r.to_record();
        assert!(text.starts_with(r#"{"commit":"aaaa"#), "{text}");
        assert!(text.contains(r#""key":"releases/aaaa"#), "{text}");
        assert_eq!(Release::from_record(&text), Ok(r));
        assert!(Release::from_record("{}").is_err());
    }

    #[test]
    fn a_branch_that_contradicts_the_spec_is_named() {
        let tree = parse_version_php(include_str!(
            "../../tests/fixtures/moodle/version-5.1.6.php"
        ))
        .expect("5.1.6 parses");
        assert_eq!(branch_mismatch(MoodleVersion::V5_1, &tree, "v5.1.6"), None);
        let why = branch_mismatch(MoodleVersion::V4_5, &tree, "v5.1.6").expect("a mismatch");
        assert_eq!(
            why,
            "`4.5` (branch 405), but `moodle.git_ref` `v5.1.6` is Moodle 5.1.6 (Build: 20260810) (`$branch = '501'` in its version.php)"
        );
    }
}

//! What web nodes report about their boot: once a node has done everything a boot does and
//! waits (held by its launch hook) for the site to be ready for its release, it writes the
//! release's commit to `nodes/<instance-id>` in the stack bucket (`userdata/bootstrap.sh`).
//! An upgrade's warm-capacity step reads these, one GetObject per new node, so that no node
//! still boots once maintenance is on.

use super::Aws;
use crate::names::NODES_PREFIX;

/// The commit each of `ids` reports waiting for, `None` for a node that has not reported
/// (still booting, or its boot failed) or whose report is no commit.
pub async fn waiting_for(
    aws: &Aws,
    bucket: &str,
    ids: &[String],
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let key = format!("{NODES_PREFIX}{id}");
        // A node writes its own report: read at most a line of it, and only a commit counts.
        let commit = super::s3::object_start(aws, bucket, &key, 64)
            .await?
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()));
        out.push((id.clone(), commit));
    }
    Ok(out)
}

/// The nodes of `reports` not (yet) waiting for `commit`, each with what it reported.
pub fn not_waiting_for(reports: &[(String, Option<String>)], commit: &str) -> Vec<String> {
    reports
        .iter()
        .filter(|(_, c)| c.as_deref() != Some(commit))
        .map(|(id, c)| match c {
            None => format!("{id} booting"),
            Some(c) => format!("{id} waits for {}", c.get(..12).unwrap_or(c)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_counts_once_it_waits_for_this_release() {
        let reports = vec![
            ("i-1".to_string(), Some("a".repeat(40))),
            ("i-2".to_string(), None),
            ("i-3".to_string(), Some("b".repeat(40))),
        ];
        assert_eq!(
            not_waiting_for(&reports, &"a".repeat(40)),
            ["i-2 booting", "i-3 waits for bbbbbbbbbbbb"]
        );
        assert!(not_waiting_for(&reports[..1], &"a".repeat(40)).is_empty());
    }
}

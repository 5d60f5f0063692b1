//! Manual database snapshots a workflow takes (the one before an upgrade): of the RDS
//! instance or the Aurora cluster, under an identifier the workflow derives from its own ID
//! (so a resumed run finds the snapshot its first attempt started instead of taking a
//! second), tagged with the stack, the workflow and both releases, waited for to `available`.

use super::Aws;
use super::errors::is_code;
use super::wait::{self, Poll};
use anyhow::Context;
use std::time::Duration;

/// A snapshot takes minutes (incremental after the automated backups); a large first one,
/// hours.
const WAIT_MAX: Duration = Duration::from_secs(4 * 60 * 60);

/// What the snapshot is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// An RDS DB instance.
    Instance(&'a str),
    /// An Aurora DB cluster.
    Cluster(&'a str),
}

/// A snapshot identifier RDS accepts, from `stack` and `workflow`: letters, digits and single
/// hyphens, starting with a letter, at most 255 characters. Pure.
pub fn identifier(stack: &str, workflow: &str) -> String {
    let raw = format!("{stack}-pre-{workflow}").to_ascii_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(255).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "s-");
    }
    out.trim_end_matches('-').to_string()
}

/// A tag value RDS accepts (letters, digits, spaces and `_ . : / = + - @`, 256 at most). Pure.
pub fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                ' '
            }
        })
        .take(256)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Takes snapshot `id` of `source` with `tags` unless it exists, then waits until it is
/// `available`.
pub async fn take(
    aws: &Aws,
    source: Source<'_>,
    id: &str,
    tags: &[(String, String)],
) -> anyhow::Result<()> {
    let tags: Vec<aws_sdk_rds::types::Tag> = tags
        .iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect();
    match source {
        Source::Instance(db) => {
            let answer = aws
                .rds
                .create_db_snapshot()
                .db_instance_identifier(db)
                .db_snapshot_identifier(id)
                .set_tags(Some(tags))
                .send()
                .await;
            match answer {
                Ok(_) => tracing::info!(snapshot = id, "snapshot started"),
                Err(e) if is_code(&e, "DBSnapshotAlreadyExists") => {}
                Err(e) => return Err(e).with_context(|| format!("CreateDBSnapshot {id} of {db}")),
            }
        }
        Source::Cluster(cluster) => {
            let answer = aws
                .rds
                .create_db_cluster_snapshot()
                .db_cluster_identifier(cluster)
                .db_cluster_snapshot_identifier(id)
                .set_tags(Some(tags))
                .send()
                .await;
            match answer {
                Ok(_) => tracing::info!(snapshot = id, "cluster snapshot started"),
                Err(e) if is_code(&e, "DBClusterSnapshotAlreadyExistsFault") => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("CreateDBClusterSnapshot {id} of {cluster}"));
                }
            }
        }
    }
    let what = format!("snapshot {id}");
    wait::until(&aws.progress, &what, aws.wait_max(WAIT_MAX), || async {
        let status = status(aws, source, id).await?;
        Ok(match status.as_deref() {
            Some("available") => Poll::Ready,
            Some("failed" | "error") => Poll::Failed(format!("the snapshot is {status:?}")),
            other => Poll::Pending(other.unwrap_or("not visible yet").to_string()),
        })
    })
    .await?;
    Ok(())
}

/// The snapshot's status, `None` when RDS does not list it (yet).
async fn status(aws: &Aws, source: Source<'_>, id: &str) -> anyhow::Result<Option<String>> {
    match source {
        Source::Instance(_) => {
            match aws
                .rds
                .describe_db_snapshots()
                .db_snapshot_identifier(id)
                .send()
                .await
            {
                Ok(out) => Ok(out
                    .db_snapshots()
                    .first()
                    .and_then(|s| s.status())
                    .map(str::to_string)),
                Err(e) if is_code(&e, "DBSnapshotNotFound") => Ok(None),
                Err(e) => Err(e).with_context(|| format!("DescribeDBSnapshots {id}")),
            }
        }
        Source::Cluster(_) => {
            let answer = aws
                .rds
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await;
            match answer {
                Ok(out) => Ok(out
                    .db_cluster_snapshots()
                    .first()
                    .and_then(|s| s.status())
                    .map(str::to_string)),
                Err(e) if is_code(&e, "DBClusterSnapshotNotFoundFault") => Ok(None),
                Err(e) => Err(e).with_context(|| format!("DescribeDBClusterSnapshots {id}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_what_rds_accepts() {
        assert_eq!(
            identifier("moodle-example", "upgrade-20261206T150000Z"),
            "moodle-example-pre-upgrade-20261206t150000z"
        );
        assert_eq!(identifier("9x--y_", "u"), "s-9x-y-pre-u");
        let long = identifier(&"a".repeat(300), "u");
        assert!(long.len() <= 255 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn tag_values_drop_what_rds_refuses() {
        assert_eq!(
            tag_value("4.5.6 (Build: 20250811)"),
            "4.5.6  Build: 20250811"
        );
    }
}

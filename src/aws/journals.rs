//! Workflow journals in the stack: each upgrade or rollback's record (its steps' start and
//! end, outcome, the snapshot it took) as one JSON object, `workflows/<id>.json`, in the
//! stack's bucket, written before and after every step. The stack holds them, not the
//! operator's disk: a run from another machine resumes, and `history` shows them.

use super::Aws;
use super::errors::is_code;
use crate::workflow::{Journal, State, Store};
use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The prefix of the journals in the stack's bucket.
pub const PREFIX: &str = "workflows/";

/// The journals of the stack whose bucket is `bucket`, through S3.
pub struct Journals<'a> {
    aws: &'a Aws,
    bucket: String,
}

impl<'a> Journals<'a> {
    /// The journals kept in `bucket`.
    pub fn new(aws: &'a Aws, bucket: impl Into<String>) -> Self {
        Self {
            aws,
            bucket: bucket.into(),
        }
    }

    /// Every journal's ID, oldest first (IDs hold their UTC start); none when the bucket does
    /// not exist yet. One paginated ListObjectsV2.
    pub async fn ids(&self) -> anyhow::Result<Vec<String>> {
        let pages = self
            .aws
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(PREFIX)
            .into_paginator()
            .send()
            .try_collect()
            .await;
        let pages = match pages {
            Ok(p) => p,
            Err(e) if is_code(&e, "NoSuchBucket") => return Ok(Vec::new()),
            Err(e) => return Err(e).context("ListObjectsV2 (the workflow journals)"),
        };
        let mut ids: Vec<String> = pages
            .iter()
            .flat_map(|p| p.contents())
            .filter_map(|o| o.key())
            .filter_map(|k| k.strip_prefix(PREFIX)?.strip_suffix(".json"))
            .map(str::to_string)
            .collect();
        ids.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        Ok(ids)
    }

    /// The journal `id`.
    pub async fn read<S: DeserializeOwned>(&self, id: &str) -> anyhow::Result<Journal<S>> {
        let key = format!("{PREFIX}{id}.json");
        let object = self
            .aws
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("GetObject s3://{}/{key}", self.bucket))?;
        let bytes = object
            .body
            .collect()
            .await
            .with_context(|| format!("reading s3://{}/{key}", self.bucket))?
            .into_bytes();
        serde_json::from_slice(&bytes)
            .with_context(|| format!("s3://{}/{key} is not a workflow journal", self.bucket))
    }

    /// The newest journal whose ID starts with `kind` (`upgrade-`) and that has not
    /// succeeded: an unfinished workflow a run resumes.
    pub async fn open<S: DeserializeOwned>(
        &self,
        kind: &str,
    ) -> anyhow::Result<Option<Journal<S>>> {
        let ids = self.ids().await?;
        let Some(id) = ids.iter().rev().find(|id| id.starts_with(kind)) else {
            return Ok(None);
        };
        let journal: Journal<S> = self.read(id).await?;
        Ok(match journal.state {
            State::Succeeded | State::Closed { .. } => None,
            State::Running | State::Failed { .. } => Some(journal),
        })
    }
}

/// Sorts IDs by their time (`<kind>-<UTC time>`), then by the whole ID.
fn order_key(id: &str) -> (&str, &str) {
    (id.rsplit('-').next().unwrap_or(id), id)
}

impl<S: Serialize + Sync> Store<S> for Journals<'_> {
    async fn save(&self, journal: &Journal<S>) -> anyhow::Result<()> {
        let key = format!("{PREFIX}{}.json", journal.id);
        let body = serde_json::to_vec_pretty(journal).context("writing the journal")?;
        self.aws
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| {
                format!(
                    "PutObject s3://{}/{key} (the workflow journal)",
                    self.bucket
                )
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn journals_sort_by_their_time_whatever_their_kind() {
        let mut ids = vec![
            "upgrade-20261206T120000Z",
            "rollback-20261206T130000Z",
            "upgrade-20261205T090000Z",
        ];
        ids.sort_by(|a, b| super::order_key(a).cmp(&super::order_key(b)));
        assert_eq!(
            ids,
            [
                "upgrade-20261205T090000Z",
                "upgrade-20261206T120000Z",
                "rollback-20261206T130000Z"
            ]
        );
    }
}

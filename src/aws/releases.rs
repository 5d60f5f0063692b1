//! The release adapter: the record the nodes read at boot (an SSM parameter,
//! `/moodle-ha/<stack>/release`) and the archive it names in the stack's bucket. A create or
//! update uploads the archive from the local release cache only when the bucket lacks it
//! (HeadObject first: a commit is uploaded once), with its SHA-256 as S3's own checksum and
//! as metadata, then writes the record.
//!
//! Why an SSM parameter for the record: one small value read with one call and one exact IAM
//! permission (`ssm:GetParameter` on its ARN), changed atomically by PutParameter, and every
//! earlier value kept by SSM (`GetParameterHistory`): the record of what ran before, which a
//! rollback needs. An object in the bucket would need its own versioning and a read of the
//! bucket's listing rights to find the history.

use super::Aws;
use super::errors::is_code;
use crate::executor::{Ids, Operation, Step};
use crate::model::{Kind, Props, Ref, ReleaseProps, ResourceKey};
use crate::observed::ObservedResource;
use crate::release::Release;
use crate::release::build::{archive_path, cache_dir, sha256_file};
use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType, Tag};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The record as stored in the parameter: the bucket, then the release's fields.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Stored {
    bucket: String,
    #[serde(flatten)]
    release: Release,
}

/// The stack's release record, found by its tags (one DescribeParameters), read with one
/// GetParameter.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let key = ResourceKey::new(Kind::Release, crate::desired::RELEASE);
    let pages: Vec<_> = aws
        .ssm
        .describe_parameters()
        .parameter_filters(
            ParameterStringFilter::builder()
                .key(format!("tag:{}", super::tags::STACK_TAG))
                .values(&aws.tags.stack)
                .build()
                .context("filter")?,
        )
        .parameter_filters(
            ParameterStringFilter::builder()
                .key(format!("tag:{}", super::tags::RESOURCE_TAG))
                .values(key.to_string())
                .build()
                .context("filter")?,
        )
        .into_paginator()
        .send()
        .try_collect()
        .await
        .context("DescribeParameters")?;
    let mut out = Vec::new();
    for name in pages
        .iter()
        .flat_map(|p| p.parameters())
        .filter_map(|p| p.name())
    {
        let value = match aws.ssm.get_parameter().name(name).send().await {
            Ok(v) => v.parameter().and_then(|p| p.value()).map(str::to_string),
            Err(e) if is_code(&e, "ParameterNotFound") => continue,
            Err(e) => return Err(e).context("GetParameter (the release record)"),
        };
        out.push(map_release(
            name,
            value.as_deref().unwrap_or_default(),
            key.clone(),
        ));
    }
    Ok(out)
}

/// The release record in parameter `name` holding `value`, as the model sees it. A value
/// that is not a record reads as empty fields, so the plan writes the record again. Pure.
pub fn map_release(name: &str, value: &str, key: ResourceKey) -> ObservedResource {
    let stored: Option<Stored> = serde_json::from_str(value).ok();
    let (bucket, release) = match stored {
        Some(s) => (s.bucket, s.release),
        None => (
            String::new(),
            Release {
                commit: String::new(),
                key: String::new(),
                sha256: String::new(),
                version: String::new(),
                release: String::new(),
                branch: String::new(),
            },
        ),
    };
    ObservedResource {
        unknown: Default::default(),
        outputs: BTreeMap::from([
            ("release.commit".to_string(), release.commit.clone()),
            ("release.version".to_string(), release.release.clone()),
        ]),
        key,
        id: name.to_string(),
        props: Props::Release(ReleaseProps::of(
            name.to_string(),
            Ref::External(bucket),
            &release,
        )),
    }
}

/// The parameter's value for `p` with the archive in `bucket`.
pub fn record_text(p: &ReleaseProps, bucket: &str) -> String {
    serde_json::to_string(&Stored {
        bucket: bucket.to_string(),
        release: p.record(),
    })
    .unwrap_or_default()
}

/// Carries out one planned step on the release.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    match (op.step, change.desired.as_ref()) {
        (Step::Create | Step::Update, Some(Props::Release(p))) => {
            let bucket = super::ec2::resolve(&p.bucket, ids)?;
            upload_once(aws, &bucket, p).await?;
            put_record(aws, &change.key, p, &bucket, op.step == Step::Create).await?;
            Ok(Some(p.parameter.clone()))
        }
        (Step::Delete, _) => {
            // The archives stay in the bucket (a commit's archive never changes; the bucket
            // goes with the stack).
            // The agent's request parameter goes with the record (the stack's other SSM
            // parameter; its outcomes are in the bucket).
            let agent = crate::names::Names::of(&aws.tags.stack).agent_parameter();
            match aws.ssm.delete_parameter().name(&agent).send().await {
                Ok(_) => {}
                Err(e) if is_code(&e, "ParameterNotFound") => {}
                Err(e) => return Err(e).context("DeleteParameter (the agent's request)"),
            }
            let name = change.id.clone().unwrap_or_default();
            match aws.ssm.delete_parameter().name(&name).send().await {
                Ok(_) => Ok(None),
                Err(e) if is_code(&e, "ParameterNotFound") => Ok(None),
                Err(e) => Err(e).context("DeleteParameter (the release record)"),
            }
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

/// Whether an upload was needed: HeadObject first; PutObject from the local cache only when
/// the bucket lacks the archive (or holds other bytes under its key).
pub async fn upload_once(aws: &Aws, bucket: &str, p: &ReleaseProps) -> anyhow::Result<bool> {
    match aws.s3.head_object().bucket(bucket).key(&p.key).send().await {
        Ok(head) => {
            let theirs = head.metadata().and_then(|m| m.get("sha256"));
            if theirs.map(String::as_str) == Some(p.sha256.as_str()) {
                tracing::info!(commit = %p.commit, "the release is already in the bucket");
                return Ok(false);
            }
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) if is_code(&e, "NotFound") || is_code(&e, "NoSuchKey") => {}
        Err(e) => return Err(e).context("HeadObject (the release archive)"),
    }
    let cache = cache_dir();
    let path = archive_path(&cache, &p.commit);
    let actual = sha256_file(&path).with_context(|| {
        format!(
            "the archive of commit {} is not in the release cache {} (plan builds it; plan again on this machine)",
            p.commit,
            cache.display()
        )
    })?;
    if actual != p.sha256 {
        bail!(
            "{} has SHA-256 {actual}, the plan says {}: plan again",
            path.display(),
            p.sha256
        );
    }
    let body = ByteStream::from_path(&path)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(&p.key)
        .body(body)
        .content_type("application/gzip")
        .checksum_sha256(base64_of_hex(&p.sha256)?)
        .metadata("sha256", &p.sha256)
        .metadata("commit", &p.commit)
        .send()
        .await
        .context("PutObject (the release archive)")?;
    tracing::info!(commit = %p.commit, bucket, key = %p.key, "uploaded the release");
    Ok(true)
}

async fn put_record(
    aws: &Aws,
    key: &ResourceKey,
    p: &ReleaseProps,
    bucket: &str,
    create: bool,
) -> anyhow::Result<()> {
    let mut put = aws
        .ssm
        .put_parameter()
        .name(&p.parameter)
        .value(record_text(p, bucket))
        .r#type(ParameterType::String)
        .description("moodle-ha: the release every node runs")
        .overwrite(!create);
    if create {
        for (k, v) in aws.tags.for_resource(key) {
            put = put.tags(Tag::builder().key(k).value(v).build().context("tag")?);
        }
    }
    match put.send().await {
        Ok(_) => Ok(()),
        // Written by an interrupted run: write it again (tags cannot go with an overwrite).
        Err(e) if create && is_code(&e, "ParameterAlreadyExists") => aws
            .ssm
            .put_parameter()
            .name(&p.parameter)
            .value(record_text(p, bucket))
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map(|_| ())
            .context("PutParameter (the release record)"),
        Err(e) => Err(e).context("PutParameter (the release record)"),
    }
}

/// Uploads `release`'s archive to `bucket` unless it is there, then points the record
/// `parameter` (which exists) at it: what a workflow does when it changes the release the
/// nodes boot.
pub async fn point_to(
    aws: &Aws,
    parameter: &str,
    bucket: &str,
    release: &Release,
) -> anyhow::Result<()> {
    let p = ReleaseProps::of(
        parameter.to_string(),
        Ref::External(bucket.to_string()),
        release,
    );
    upload_once(aws, bucket, &p).await?;
    let key = ResourceKey::new(Kind::Release, crate::desired::RELEASE);
    put_record(aws, &key, &p, bucket, false).await
}

/// S3's `x-amz-checksum-sha256` is the digest in base64.
fn base64_of_hex(hex: &str) -> anyhow::Result<String> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .context("a SHA-256 that is not hex")?;
    Ok(aws_smithy_types::base64::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> ReleaseProps {
        ReleaseProps::of(
            "/moodle-ha/s/release".into(),
            Ref::External("b".into()),
            &Release {
                commit: "c".repeat(40),
                key: crate::release::archive_key(&"c".repeat(40)),
                sha256: "ab".repeat(32),
                version: "2024100706.00".into(),
                release: "4.5.6 (Build: 20250811)".into(),
                branch: "405".into(),
            },
        )
    }

    #[test]
    fn a_stored_record_maps_back_to_the_same_attributes() {
        let p = props();
        let text = record_text(&p, "b");
        assert!(text.starts_with(r#"{"bucket":"b","commit":"ccc"#), "{text}");
        let key = ResourceKey::new(Kind::Release, "site");
        let seen = map_release("/moodle-ha/s/release", &text, key.clone());
        assert_eq!(seen.props, Props::Release(p));
        assert_eq!(seen.id, "/moodle-ha/s/release");
        assert_eq!(seen.outputs["release.version"], "4.5.6 (Build: 20250811)");
        // A value that is not a record: empty fields, so the plan writes it again.
        let broken = map_release("/moodle-ha/s/release", "nonsense", key);
        let Props::Release(b) = broken.props else {
            panic!("not a release")
        };
        assert_eq!((b.commit.as_str(), b.sha256.as_str()), ("", ""));
    }

    #[test]
    fn the_checksum_is_sent_in_base64() {
        // SHA-256 of the empty string.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            base64_of_hex(hex).expect("hex"),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert!(base64_of_hex("zz").is_err());
    }
}

//! The S3 adapter: the stack bucket (the load balancer's access logs, Moodle releases). S3 has
//! no tag-filtered listing: ListBuckets, the names of this stack's pattern in this region,
//! then each candidate's tags (ownership) and settings, read per bucket.

use super::Aws;
use super::answer::adopt_if_ours;
use super::errors::is_code;
use crate::executor::{Operation, Step};
use crate::model::{BucketProps, Kind, Policy, Props, ResourceKey};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration, Delete,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectIdentifier,
    ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging,
};
use std::collections::BTreeMap;

/// The output naming the stack bucket.
pub const BUCKET_OUTPUT: &str = "bucket.name";

/// The settings of one bucket as S3 answered them; `None` where S3 said the setting does not
/// exist (no policy, no lifecycle, no public access block, no ownership controls).
#[derive(Debug, Default)]
pub struct BucketAnswers {
    /// GetBucketEncryption's rules.
    pub encryption: Option<Vec<ServerSideEncryptionRule>>,
    /// GetPublicAccessBlock.
    pub public_access_block: Option<PublicAccessBlockConfiguration>,
    /// GetBucketOwnershipControls' rules.
    pub ownership: Option<Vec<OwnershipControlsRule>>,
    /// GetBucketLifecycleConfiguration's rules.
    pub lifecycle: Option<Vec<LifecycleRule>>,
    /// GetBucketPolicy's document.
    pub policy: Option<String>,
}

/// The stack's buckets: `moodle-ha-<stack>-…-<region>` names whose tags say they are the
/// stack's.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let prefix = format!("moodle-ha-{}-", aws.tags.stack);
    let suffix = format!("-{}", aws.region);
    let buckets: Vec<_> = aws
        .s3
        .list_buckets()
        .prefix(&prefix)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .context("ListBuckets")?;
    let names: Vec<String> = buckets
        .iter()
        .flat_map(|page| page.buckets())
        .filter_map(|b| b.name())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(&suffix))
        .map(str::to_string)
        .collect();
    let found =
        futures::future::try_join_all(names.iter().map(|name| observe_one(aws, name))).await?;
    Ok(found.into_iter().flatten().collect())
}

async fn observe_one(aws: &Aws, name: &str) -> anyhow::Result<Option<ObservedResource>> {
    let tags = match aws.s3.get_bucket_tagging().bucket(name).send().await {
        Ok(out) => out.tag_set().to_vec(),
        Err(e) if is_code(&e, "NoSuchTagSet") || is_code(&e, "NoSuchBucket") => return Ok(None),
        Err(e) => return Err(e).context("GetBucketTagging"),
    };
    let Some(key) = aws.tags.owner(&tags) else {
        return Ok(None);
    };
    if key.kind != Kind::Bucket {
        return Ok(None);
    }
    let s3 = &aws.s3;
    let (encryption, public_access_block, ownership, lifecycle, policy) = tokio::try_join!(
        async {
            match s3.get_bucket_encryption().bucket(name).send().await {
                Ok(out) => Ok(out
                    .server_side_encryption_configuration()
                    .map(|c| c.rules().to_vec())),
                Err(e) if is_code(&e, "ServerSideEncryptionConfigurationNotFoundError") => {
                    Ok(Some(Vec::new()))
                }
                Err(e) => Err(e).context("GetBucketEncryption"),
            }
        },
        async {
            match s3.get_public_access_block().bucket(name).send().await {
                Ok(out) => Ok(Some(
                    out.public_access_block_configuration()
                        .cloned()
                        .unwrap_or_else(|| PublicAccessBlockConfiguration::builder().build()),
                )),
                Err(e) if is_code(&e, "NoSuchPublicAccessBlockConfiguration") => Ok(None),
                Err(e) => Err(e).context("GetPublicAccessBlock"),
            }
        },
        async {
            match s3.get_bucket_ownership_controls().bucket(name).send().await {
                Ok(out) => Ok(out.ownership_controls().map(|c| c.rules().to_vec())),
                Err(e) if is_code(&e, "OwnershipControlsNotFoundError") => Ok(None),
                Err(e) => Err(e).context("GetBucketOwnershipControls"),
            }
        },
        async {
            match s3
                .get_bucket_lifecycle_configuration()
                .bucket(name)
                .send()
                .await
            {
                Ok(out) => Ok(Some(out.rules().to_vec())),
                Err(e) if is_code(&e, "NoSuchLifecycleConfiguration") => Ok(None),
                Err(e) => Err(e).context("GetBucketLifecycleConfiguration"),
            }
        },
        async {
            match s3.get_bucket_policy().bucket(name).send().await {
                Ok(out) => Ok(out.policy().map(str::to_string)),
                Err(e) if is_code(&e, "NoSuchBucketPolicy") => Ok(None),
                Err(e) => Err(e).context("GetBucketPolicy"),
            }
        },
    )?;
    let answers = BucketAnswers {
        encryption,
        public_access_block,
        ownership,
        lifecycle,
        policy,
    };
    Ok(Some(map_bucket(name, &answers, key)))
}

/// The stack bucket as the model sees it, from its settings' answers: a setting S3 says does
/// not exist reads as off (no policy, no expirations, public access not blocked); an
/// encryption answer without a rule is unknown. Pure.
pub fn map_bucket(name: &str, a: &BucketAnswers, key: ResourceKey) -> ObservedResource {
    let mut u = Unknown::default();
    let encryption = a
        .encryption
        .as_ref()
        .and_then(|rules| rules.first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_string());
    let block = a.public_access_block.as_ref().is_some_and(|b| {
        [
            b.block_public_acls(),
            b.ignore_public_acls(),
            b.block_public_policy(),
            b.restrict_public_buckets(),
        ]
        .iter()
        .all(|v| *v == Some(true))
    });
    let ownership = a
        .ownership
        .as_ref()
        .and_then(|rules| rules.first())
        .map_or_else(
            || "none".to_string(),
            |r| r.object_ownership().as_str().to_string(),
        );
    let expiration_days: BTreeMap<String, u32> = a
        .lifecycle
        .iter()
        .flatten()
        .filter(|r| r.status() == &ExpirationStatus::Enabled)
        .filter_map(|r| {
            let prefix = r.filter().and_then(|f| f.prefix()).unwrap_or_default();
            let days = r.expiration()?.days()?;
            Some((prefix.to_string(), u32::try_from(days).ok()?))
        })
        .collect();
    let policy =
        a.policy
            .as_deref()
            .map_or(Policy::default(), |text| match serde_json::from_str(text) {
                Ok(v) => Policy::new(v),
                Err(_) => {
                    u.missing("policy");
                    Policy::default()
                }
            });
    let props = Props::Bucket(BucketProps {
        name: name.to_string(),
        encryption: u.text("encryption", encryption.as_deref()),
        block_public_access: block,
        object_ownership: ownership,
        expiration_days,
        policy,
    });
    ObservedResource {
        unknown: u.fields(),
        outputs: BTreeMap::from([(BUCKET_OUTPUT.to_string(), name.to_string())]),
        key,
        id: name.to_string(),
        props,
    }
}

/// Carries out one planned step on the stack bucket.
pub async fn execute(aws: &Aws, op: &Operation) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Create, Some(Props::Bucket(p))) => {
            create(aws, &change.key, p).await?;
            configure(aws, &p.name, p).await?;
            Ok(Some(p.name.clone()))
        }
        (Step::Update, Some(Props::Bucket(p))) => {
            configure(aws, &id, p).await?;
            Ok(None)
        }
        (Step::Delete, _) => {
            delete(aws, &id).await?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

/// Creates the bucket (ACLs off from the start) and tags it; a bucket of that name already
/// in this account is adopted when untagged (an interrupted create) or tagged as this one.
async fn create(aws: &Aws, key: &ResourceKey, p: &BucketProps) -> anyhow::Result<()> {
    let mut call = aws
        .s3
        .create_bucket()
        .bucket(&p.name)
        .object_ownership(ObjectOwnership::BucketOwnerEnforced);
    // us-east-1 takes no location constraint (it is the default).
    if aws.region != "us-east-1" {
        call = call.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build(),
        );
    }
    match call.send().await {
        Ok(_) => {}
        Err(e) if is_code(&e, "BucketAlreadyOwnedByYou") => {
            let tags = match aws.s3.get_bucket_tagging().bucket(&p.name).send().await {
                Ok(out) => out.tag_set().to_vec(),
                Err(e) if is_code(&e, "NoSuchTagSet") => Vec::new(),
                Err(e) => return Err(e).context("GetBucketTagging"),
            };
            if !tags.is_empty() {
                let owner = aws.tags.owner(&tags);
                adopt_if_ours(&aws.tags.stack, "bucket", &p.name, key, owner.as_ref())?;
            }
        }
        Err(e) if is_code(&e, "BucketAlreadyExists") => bail!(
            "the bucket name `{}` is taken by another AWS account; S3 bucket names are global",
            p.name
        ),
        Err(e) => return Err(e).context("CreateBucket"),
    }
    let tags: Vec<Tag> = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()?;
    aws.s3
        .put_bucket_tagging()
        .bucket(&p.name)
        .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
        .send()
        .await
        .context("PutBucketTagging")?;
    Ok(())
}

/// Puts every managed setting (each call replaces that setting whole).
async fn configure(aws: &Aws, name: &str, p: &BucketProps) -> anyhow::Result<()> {
    let s3 = &aws.s3;
    s3.put_bucket_ownership_controls()
        .bucket(name)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::from(p.object_ownership.as_str()))
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await
        .context("PutBucketOwnershipControls")?;
    s3.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(p.block_public_access)
                .ignore_public_acls(p.block_public_access)
                .block_public_policy(p.block_public_access)
                .restrict_public_buckets(p.block_public_access)
                .build(),
        )
        .send()
        .await
        .context("PutPublicAccessBlock")?;
    s3.put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::from(p.encryption.as_str()))
                                .build()?,
                        )
                        .build(),
                )
                .build()?,
        )
        .send()
        .await
        .context("PutBucketEncryption")?;
    if p.expiration_days.is_empty() {
        s3.delete_bucket_lifecycle()
            .bucket(name)
            .send()
            .await
            .context("DeleteBucketLifecycle")?;
    } else {
        let rules = p
            .expiration_days
            .iter()
            .map(|(prefix, days)| {
                LifecycleRule::builder()
                    .id(format!("moodle-ha-expire-{}", prefix.trim_end_matches('/')))
                    .status(ExpirationStatus::Enabled)
                    .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
                    .expiration(
                        LifecycleExpiration::builder()
                            .days(i32::try_from(*days).unwrap_or(i32::MAX))
                            .build(),
                    )
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()?,
            )
            .send()
            .await
            .context("PutBucketLifecycleConfiguration")?;
    }
    s3.put_bucket_policy()
        .bucket(name)
        .policy(p.policy.to_string())
        .send()
        .await
        .context("PutBucketPolicy")?;
    Ok(())
}

/// Empties the bucket (every object version and delete marker, 1000 per call) and deletes
/// it. A log file delivered between the two (the load balancer's last one) is removed by
/// another round.
async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    for _ in 0..5 {
        empty(aws, name).await?;
        match aws.s3.delete_bucket().bucket(name).send().await {
            Ok(_) => return Ok(()),
            Err(e) if is_code(&e, "NoSuchBucket") => return Ok(()),
            Err(e) if is_code(&e, "BucketNotEmpty") => continue,
            Err(e) => return Err(e).context("DeleteBucket"),
        }
    }
    bail!("bucket `{name}` still receives objects; delete it again once nothing writes to it")
}

async fn empty(aws: &Aws, name: &str) -> anyhow::Result<()> {
    loop {
        let listed = match aws.s3.list_object_versions().bucket(name).send().await {
            Ok(out) => out,
            Err(e) if is_code(&e, "NoSuchBucket") => return Ok(()),
            Err(e) => return Err(e).context("ListObjectVersions"),
        };
        let objects: Vec<ObjectIdentifier> = listed
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                listed
                    .delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key?)
                    .set_version_id(version.filter(|v| *v != "null").map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        if objects.is_empty() {
            return Ok(());
        }
        aws.s3
            .delete_objects()
            .bucket(name)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()?,
            )
            .send()
            .await
            .context("DeleteObjects")?;
    }
}

/// The first `max` bytes of object `key` of `bucket`, `None` when it does not exist.
pub async fn object_start(
    aws: &Aws,
    bucket: &str,
    key: &str,
    max: usize,
) -> anyhow::Result<Option<Vec<u8>>> {
    let range = format!("bytes=0-{}", max.saturating_sub(1));
    Ok(read(aws, bucket, key, Some(range))
        .await?
        .map(|b| b.get(..max).unwrap_or(&b).to_vec()))
}

/// The object `key` of `bucket`, whole, `None` when it does not exist.
pub async fn object(aws: &Aws, bucket: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    read(aws, bucket, key, None).await
}

/// GetObject of `key` (its `range` of bytes, when given), read whole.
async fn read(
    aws: &Aws,
    bucket: &str,
    key: &str,
    range: Option<String>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let got = aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range)
        .send()
        .await;
    let object = match got {
        Ok(o) => o,
        Err(e) if is_code(&e, "NoSuchKey") || is_code(&e, "NotFound") => return Ok(None),
        // An empty object has no byte 0.
        Err(e) if is_code(&e, "InvalidRange") => return Ok(Some(Vec::new())),
        Err(e) => return Err(e).with_context(|| format!("GetObject s3://{bucket}/{key}")),
    };
    let bytes = object
        .body
        .collect()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?
        .into_bytes();
    Ok(Some(bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> ResourceKey {
        ResourceKey::new(Kind::Bucket, "stack")
    }

    #[test]
    fn a_bucket_with_every_control_maps_to_them_all() {
        let answers = BucketAnswers {
            encryption: Some(vec![
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(ServerSideEncryption::Aes256)
                            .build()
                            .expect("rule"),
                    )
                    .build(),
            ]),
            public_access_block: Some(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            ),
            ownership: Some(vec![
                OwnershipControlsRule::builder()
                    .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                    .build()
                    .expect("rule"),
            ]),
            lifecycle: Some(vec![
                LifecycleRule::builder()
                    .status(ExpirationStatus::Enabled)
                    .filter(
                        LifecycleRuleFilter::builder()
                            .prefix("alb-access-logs/")
                            .build(),
                    )
                    .expiration(LifecycleExpiration::builder().days(90).build())
                    .build()
                    .expect("rule"),
                LifecycleRule::builder()
                    .status(ExpirationStatus::Disabled)
                    .filter(LifecycleRuleFilter::builder().prefix("releases/").build())
                    .expiration(LifecycleExpiration::builder().days(1).build())
                    .build()
                    .expect("rule"),
            ]),
            policy: Some(r#"{"Statement":[{"Effect":"Deny"}]}"#.into()),
        };
        let r = map_bucket("moodle-ha-s-1-eu-west-1", &answers, key());
        let Props::Bucket(b) = &r.props else {
            panic!("a bucket")
        };
        assert_eq!(r.id, "moodle-ha-s-1-eu-west-1");
        assert_eq!(
            r.outputs.get("bucket.name").map(String::as_str),
            Some("moodle-ha-s-1-eu-west-1")
        );
        assert!(r.unknown.is_empty());
        assert_eq!(b.encryption, "AES256");
        assert!(b.block_public_access);
        assert_eq!(b.object_ownership, "BucketOwnerEnforced");
        assert_eq!(
            b.expiration_days,
            BTreeMap::from([("alb-access-logs/".to_string(), 90)]),
            "a disabled rule expires nothing"
        );
        assert_eq!(
            b.policy,
            Policy::new(json!({"Statement": [{"Effect": "Deny"}]}))
        );
    }

    #[test]
    fn settings_switched_off_read_as_off_not_as_unknown() {
        let answers = BucketAnswers {
            public_access_block: Some(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(false)
                    .restrict_public_buckets(true)
                    .build(),
            ),
            ..BucketAnswers::default()
        };
        let r = map_bucket("b", &answers, key());
        let Props::Bucket(b) = &r.props else {
            panic!("a bucket")
        };
        assert!(!b.block_public_access, "one of the four off");
        assert_eq!(b.object_ownership, "none");
        assert!(b.expiration_days.is_empty());
        assert_eq!(b.policy, Policy::default());
        assert_eq!(
            r.unknown.iter().map(String::as_str).collect::<Vec<_>>(),
            ["encryption"],
            "no encryption answer: unknown, not a change"
        );
    }
}

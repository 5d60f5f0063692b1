//! EC2 instances (part of the EC2 adapter, kept apart for size): the cron instance. Found with
//! one tag-filtered, paginated DescribeInstances; user data (DescribeInstanceAttribute) has no
//! batch form; root volumes are read with one DescribeVolumes. Created with a client token so a
//! retried apply never makes a second one; a new type is applied by stop, modify, start.

use super::Aws;
use super::answer::text;
use super::ec2::resolve;
use super::wait::{self, Poll};
use crate::executor::{Ids, Operation, Step};
use crate::model::{InstanceProps, Props, Ref, ResourceKey};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, bail};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState,
    IamInstanceProfileSpecification, InstanceAttributeName, InstanceMetadataOptionsRequest,
    InstanceType, ResourceType, Tag, TagSpecification, VolumeType,
};
use aws_smithy_types::base64;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The stack's instances that are not terminated.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let reservations: Vec<_> = aws
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{}", super::tags::STACK_TAG))
                .values(&aws.tags.stack)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeInstances")?;
    let instances: Vec<_> = reservations
        .iter()
        .flat_map(|r| r.instances().iter().cloned())
        .collect();
    // Instances launched by the web fleet's group carry the stack's tag too; only those with
    // a resource key of their own (the cron instance) are managed one by one.
    let owned: Vec<(ResourceKey, _)> = instances
        .into_iter()
        .filter_map(|i| {
            let key = aws.tags.owner(i.tags())?;
            (key.kind == crate::model::Kind::Instance).then_some((key, i))
        })
        .collect();
    let volume_ids: Vec<String> = owned
        .iter()
        .filter_map(|(_, i)| {
            let root = i.root_device_name()?;
            i.block_device_mappings()
                .iter()
                .find(|b| b.device_name() == Some(root))
                .and_then(|b| b.ebs())
                .and_then(|e| e.volume_id())
                .map(str::to_string)
        })
        .collect();
    // The root volumes and each instance's user data depend only on DescribeInstances: asked
    // together, one round trip.
    let volumes = async {
        if volume_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok::<_, anyhow::Error>(
            aws.ec2
                .describe_volumes()
                .set_volume_ids(Some(volume_ids))
                .send()
                .await
                .context("DescribeVolumes")?
                .volumes()
                .to_vec(),
        )
    };
    let user_data = futures::future::try_join_all(owned.iter().map(|(_, i)| async move {
        let out = aws
            .ec2
            .describe_instance_attribute()
            .instance_id(text(i.instance_id()))
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .context("DescribeInstanceAttribute")?;
        Ok::<_, anyhow::Error>(
            out.user_data()
                .and_then(|u| u.value())
                .and_then(|v| base64::decode(v).ok())
                .map(|b| crate::render::decode_user_data(&b))
                .unwrap_or_default(),
        )
    }));
    let (volumes, user_data) = tokio::try_join!(volumes, user_data)?;
    let mut out = Vec::new();
    for ((key, i), user_data) in owned.into_iter().zip(user_data) {
        let id = text(i.instance_id());
        let (props, unknown) = map_instance(&i, &volumes, &user_data);
        let mut outputs = BTreeMap::new();
        outputs.insert(format!("{}.instance_id", key.name), id.clone());
        if let Some(ip) = i.private_ip_address() {
            outputs.insert(format!("{}.private_ip", key.name), ip.to_string());
        }
        out.push(ObservedResource {
            unknown,
            key,
            id,
            props,
            outputs,
        });
    }
    Ok(out)
}

/// The cron instance as the model sees it, from DescribeInstances, its root volume from
/// DescribeVolumes and its user data. Pure. A field the answers lack (no metadata options,
/// the root volume not found) is unknown, never `0`, `""` or `false`: the root volume's
/// fields are immutable, so a default would plan a replacement.
pub fn map_instance(
    i: &aws_sdk_ec2::types::Instance,
    volumes: &[aws_sdk_ec2::types::Volume],
    user_data: &str,
) -> (Props, BTreeSet<String>) {
    let mut u = Unknown::default();
    let root = i.root_device_name();
    let volume = i
        .block_device_mappings()
        .iter()
        .find(|b| root.is_some() && b.device_name() == root)
        .and_then(|b| b.ebs())
        .and_then(|e| e.volume_id())
        .and_then(|v| volumes.iter().find(|x| x.volume_id() == Some(v)));
    let metadata = i.metadata_options();
    let mut props = Props::Instance(InstanceProps {
        image_id: u.text("image_id", i.image_id()),
        instance_type: u.text("instance_type", i.instance_type().map(|t| t.as_str())),
        subnet: Ref::External(u.text("subnet", i.subnet_id())),
        security_groups: i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(|g| Ref::External(g.to_string()))
            .collect(),
        instance_profile: Ref::External(
            u.text(
                "instance_profile",
                i.iam_instance_profile()
                    .and_then(|p| p.arn())
                    .and_then(|a| a.rsplit('/').next()),
            ),
        ),
        http_tokens: u.text(
            "http_tokens",
            metadata.and_then(|m| m.http_tokens()).map(|t| t.as_str()),
        ),
        http_put_response_hop_limit: u.count(
            "http_put_response_hop_limit",
            metadata.and_then(|m| m.http_put_response_hop_limit()),
        ),
        root_device_name: u.text("root_device_name", root),
        root_volume_gib: u.count("root_volume_gib", volume.and_then(|v| v.size())),
        root_volume_type: u.text(
            "root_volume_type",
            volume.and_then(|v| v.volume_type()).map(|t| t.as_str()),
        ),
        root_volume_encrypted: u.flag("root_volume_encrypted", volume.and_then(|v| v.encrypted())),
        // `pending` is on its way to enabled, `disabling` to disabled.
        detailed_monitoring: u.flag(
            "detailed_monitoring",
            i.monitoring()
                .and_then(|m| m.state())
                .map(|s| matches!(s.as_str(), "enabled" | "pending")),
        ),
        user_data: crate::render::describe_user_data(user_data),
        user_data_text: None,
    });
    props.normalize();
    (props, u.fields())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        EbsInstanceBlockDevice, Instance, InstanceBlockDeviceMapping,
        InstanceMetadataOptionsResponse, Volume,
    };

    fn instance() -> Instance {
        Instance::builder()
            .instance_id("i-1")
            .image_id("ami-1")
            .instance_type(InstanceType::T3Large)
            .subnet_id("subnet-1")
            .root_device_name("/dev/sda1")
            .block_device_mappings(
                InstanceBlockDeviceMapping::builder()
                    .device_name("/dev/sda1")
                    .ebs(EbsInstanceBlockDevice::builder().volume_id("vol-1").build())
                    .build(),
            )
            .metadata_options(
                InstanceMetadataOptionsResponse::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .build(),
            )
            .monitoring(
                aws_sdk_ec2::types::Monitoring::builder()
                    .state(aws_sdk_ec2::types::MonitoringState::Pending)
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_complete_answer_leaves_nothing_unknown() {
        let volume = Volume::builder()
            .volume_id("vol-1")
            .size(30)
            .volume_type(VolumeType::Gp3)
            .encrypted(true)
            .build();
        let (props, unknown) = map_instance(&instance(), &[volume], "");
        let Props::Instance(p) = props else {
            panic!("not an instance: {props:?}");
        };
        assert_eq!(
            (
                p.root_volume_gib,
                p.root_volume_type.as_str(),
                p.root_volume_encrypted
            ),
            (30, "gp3", true)
        );
        assert!(p.detailed_monitoring, "pending is on its way to enabled");
        // The profile is the one field this answer lacks.
        assert_eq!(
            unknown.into_iter().collect::<Vec<_>>(),
            vec!["instance_profile"]
        );
    }

    #[test]
    fn a_root_volume_aws_did_not_describe_is_unknown_not_zero() {
        let (_, unknown) = map_instance(&instance(), &[], "");
        for field in [
            "root_volume_gib",
            "root_volume_type",
            "root_volume_encrypted",
        ] {
            assert!(
                unknown.contains(field),
                "{field} should be unknown: {unknown:?}"
            );
        }
        assert!(!unknown.contains("root_device_name"));
    }
}

/// Carries out one planned step on an instance.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            match aws.ec2.terminate_instances().instance_ids(&id).send().await {
                Ok(_) => {}
                Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => return Ok(None),
                Err(e) => return Err(e).context("TerminateInstances"),
            }
            wait_state(aws, &id, "terminated").await?;
            Ok(None)
        }
        (Step::Create, Some(Props::Instance(p))) => {
            create(aws, &change.key, p, &op.client_token, ids)
                .await
                .map(Some)
        }
        (Step::Update, Some(Props::Instance(p))) => {
            let before = match change.observed.as_ref() {
                Some(Props::Instance(b)) => Some(b),
                _ => None,
            };
            update(aws, &id, p, before, ids).await?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

async fn create(
    aws: &Aws,
    key: &ResourceKey,
    p: &InstanceProps,
    token: &str,
    ids: &Ids,
) -> anyhow::Result<String> {
    let groups = p
        .security_groups
        .iter()
        .map(|g| resolve(g, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let user_data = p
        .user_data_text
        .as_deref()
        .context("the plan carries no user data for the instance")?;
    let tags: Vec<Tag> = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let tag_spec = |kind: ResourceType| {
        TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(tags.clone()))
            .build()
    };
    // The client token makes a retried call (same plan and step) return the first instance.
    let out = aws
        .ec2
        .run_instances()
        .client_token(token)
        .image_id(&p.image_id)
        .instance_type(InstanceType::from(p.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .subnet_id(resolve(&p.subnet, ids)?)
        .set_security_group_ids(Some(groups))
        .iam_instance_profile(
            IamInstanceProfileSpecification::builder()
                .name(resolve(&p.instance_profile, ids)?)
                .build(),
        )
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::from(p.http_tokens.as_str()))
                .http_put_response_hop_limit(i32::try_from(p.http_put_response_hop_limit)?)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(&p.root_device_name)
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(i32::try_from(p.root_volume_gib)?)
                        .volume_type(VolumeType::from(p.root_volume_type.as_str()))
                        .encrypted(p.root_volume_encrypted)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .user_data(base64::encode(crate::render::encode_user_data(user_data)))
        .monitoring(
            aws_sdk_ec2::types::RunInstancesMonitoringEnabled::builder()
                .enabled(p.detailed_monitoring)
                .build(),
        )
        .tag_specifications(tag_spec(ResourceType::Instance))
        .tag_specifications(tag_spec(ResourceType::Volume))
        .send()
        .await
        .context("RunInstances")?;
    let id = out
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .context("RunInstances returned no instance")?
        .to_string();
    wait_state(aws, &id, "running").await?;
    Ok(id)
}

async fn update(
    aws: &Aws,
    id: &str,
    p: &InstanceProps,
    before: Option<&InstanceProps>,
    ids: &Ids,
) -> anyhow::Result<()> {
    if before.is_none_or(|b| b.security_groups != p.security_groups) {
        let groups = p
            .security_groups
            .iter()
            .map(|g| resolve(g, ids))
            .collect::<anyhow::Result<Vec<_>>>()?;
        aws.ec2
            .modify_instance_attribute()
            .instance_id(id)
            .set_groups(Some(groups))
            .send()
            .await
            .context("ModifyInstanceAttribute (groups)")?;
    }
    if before.is_none_or(|b| {
        b.http_tokens != p.http_tokens
            || b.http_put_response_hop_limit != p.http_put_response_hop_limit
    }) {
        aws.ec2
            .modify_instance_metadata_options()
            .instance_id(id)
            .http_tokens(HttpTokensState::from(p.http_tokens.as_str()))
            .http_put_response_hop_limit(i32::try_from(p.http_put_response_hop_limit)?)
            .send()
            .await
            .context("ModifyInstanceMetadataOptions")?;
    }
    if before.is_none_or(|b| b.detailed_monitoring != p.detailed_monitoring) {
        if p.detailed_monitoring {
            aws.ec2
                .monitor_instances()
                .instance_ids(id)
                .send()
                .await
                .context("MonitorInstances")?;
        } else {
            aws.ec2
                .unmonitor_instances()
                .instance_ids(id)
                .send()
                .await
                .context("UnmonitorInstances")?;
        }
    }
    if before.is_none_or(|b| b.instance_type != p.instance_type) {
        // A new type needs the instance stopped: stop, modify, start (minutes of cron pause).
        aws.ec2
            .stop_instances()
            .instance_ids(id)
            .send()
            .await
            .context("StopInstances")?;
        wait_state(aws, id, "stopped").await?;
        aws.ec2
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(&p.instance_type).build())
            .send()
            .await
            .context("ModifyInstanceAttribute (type)")?;
        aws.ec2
            .start_instances()
            .instance_ids(id)
            .send()
            .await
            .context("StartInstances")?;
        wait_state(aws, id, "running").await?;
    }
    Ok(())
}

async fn wait_state(aws: &Aws, id: &str, target: &'static str) -> anyhow::Result<()> {
    wait::until(
        &aws.progress,
        &format!("instance {id} {target}"),
        aws.wait_max(Duration::from_secs(15 * 60)),
        || async {
            let out = match aws.ec2.describe_instances().instance_ids(id).send().await {
                Ok(out) => out,
                Err(e)
                    if e.code() == Some("InvalidInstanceID.NotFound") && target == "terminated" =>
                {
                    return Ok(Poll::Ready);
                }
                Err(e) => return Err(e).context("DescribeInstances"),
            };
            let state = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .and_then(|i| i.state())
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_else(|| "terminated".into());
            Ok(if state == target {
                Poll::Ready
            } else if state == "terminated" || (state == "shutting-down" && target != "terminated")
            {
                Poll::Failed(format!("the instance is `{state}`"))
            } else {
                Poll::Pending(state)
            })
        },
    )
    .await?;
    Ok(())
}

//! EC2 launch templates (part of the EC2 adapter, kept apart for size). The template's
//! managed attributes are those of its default version; every change is a new version whose
//! description is the content's fingerprint, made the default, and which the Auto Scaling
//! group then names by explicit number.

use super::Aws;
use super::answer::{adopt_if_ours, required, text};
use super::ec2::resolve;
use crate::executor::{Ids, Operation, Step};
use crate::model::{LaunchTemplateProps, Props, Ref, ResourceKey};
use crate::observed::ObservedResource;
use anyhow::{Context, bail};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataTagsState, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification, VolumeType,
};
use aws_smithy_types::base64;
use std::collections::BTreeMap;

/// The stack's launch templates, as their default versions describe them.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let templates: Vec<_> = aws
        .ec2
        .describe_launch_templates()
        .filters(
            Filter::builder()
                .name(format!("tag:{}", super::tags::STACK_TAG))
                .values(&aws.tags.stack)
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeLaunchTemplates")?;
    let mut out = Vec::new();
    for t in templates {
        let Some(key) = aws.tags.owner(t.tags()) else {
            continue;
        };
        let id = text(t.launch_template_id());
        let versions = aws
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(&id)
            .versions("$Default")
            .send()
            .await
            .context("DescribeLaunchTemplateVersions")?;
        let Some(version) = versions.launch_template_versions().first() else {
            continue;
        };
        let Some(resource) = map_template(&t, version, key) else {
            continue;
        };
        out.push(resource);
    }
    Ok(out)
}

/// The launch template as the model sees it: its default version's data (absent settings are
/// what the version holds: not set), with the user data decoded. `None` when the version has
/// no data. Pure.
pub fn map_template(
    t: &aws_sdk_ec2::types::LaunchTemplate,
    version: &aws_sdk_ec2::types::LaunchTemplateVersion,
    key: ResourceKey,
) -> Option<ObservedResource> {
    let id = text(t.launch_template_id());
    let data = version.launch_template_data()?;
    let user_data = data
        .user_data()
        .and_then(|u| base64::decode(u).ok())
        .map(|b| crate::render::decode_user_data(&b))
        .unwrap_or_default();
    let metadata = data.metadata_options();
    let root = data.block_device_mappings().first();
    let ebs = root.and_then(|r| r.ebs());
    let profile = data.iam_instance_profile().and_then(|p| {
        p.name().map(str::to_string).or_else(|| {
            p.arn()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_string)
        })
    });
    let mut props = Props::LaunchTemplate(LaunchTemplateProps {
        name: text(t.launch_template_name()),
        image_id: text(data.image_id()),
        instance_profile: Ref::External(profile.unwrap_or_default()),
        security_groups: data
            .security_group_ids()
            .iter()
            .map(|g| Ref::External(g.clone()))
            .collect(),
        http_tokens: metadata
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "optional".into()),
        http_put_response_hop_limit: metadata
            .and_then(|m| m.http_put_response_hop_limit())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        instance_metadata_tags: metadata
            .and_then(|m| m.instance_metadata_tags())
            .is_some_and(|s| s.as_str() == "enabled"),
        root_device_name: text(root.and_then(|r| r.device_name())),
        root_volume_gib: ebs
            .and_then(|e| e.volume_size())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        root_volume_type: ebs
            .and_then(|e| e.volume_type())
            .map(|v| v.as_str().to_string())
            .unwrap_or_default(),
        root_volume_encrypted: ebs.and_then(|e| e.encrypted()).unwrap_or(false),
        // A template without `Monitoring` launches instances with basic monitoring.
        detailed_monitoring: data.monitoring().and_then(|m| m.enabled()).unwrap_or(false),
        user_data: crate::render::describe_user_data(&user_data),
        user_data_text: None,
    });
    props.normalize();
    let mut outputs = BTreeMap::new();
    if let Some(n) = version.version_number() {
        outputs.insert("launch_template.default_version".into(), n.to_string());
    }
    Some(ObservedResource {
        unknown: Default::default(),
        key,
        id,
        props,
        outputs,
    })
}

/// The description (content fingerprint) of one version of a template.
pub async fn version_description(
    aws: &Aws,
    template_id: &str,
    version: &str,
) -> anyhow::Result<String> {
    if template_id.is_empty() {
        return Ok(String::new());
    }
    match aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(template_id)
        .versions(version)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .launch_template_versions()
            .first()
            .map(|v| text(v.version_description()))
            .unwrap_or_default()),
        // The template is gone (deleted by hand): the group points at nothing we know.
        Err(e)
            if e.code().is_some_and(|c| {
                c.starts_with("InvalidLaunchTemplateId")
                    || c.starts_with("InvalidLaunchTemplateName")
            }) =>
        {
            Ok(String::new())
        }
        Err(e) => Err(e).context("DescribeLaunchTemplateVersions"),
    }
}

/// The newest version of a template whose description is `fingerprint`, as the number an Auto
/// Scaling group names.
pub async fn version_number(
    aws: &Aws,
    template_id: &str,
    fingerprint: &str,
) -> anyhow::Result<String> {
    let versions: Vec<_> = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(template_id)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeLaunchTemplateVersions")?;
    versions
        .iter()
        .filter(|v| v.version_description() == Some(fingerprint))
        .filter_map(|v| v.version_number())
        .max()
        .map(|n| n.to_string())
        .with_context(|| {
            format!("launch template {template_id} has no version with content {fingerprint}")
        })
}

fn data(p: &LaunchTemplateProps, ids: &Ids) -> anyhow::Result<RequestLaunchTemplateData> {
    let groups = p
        .security_groups
        .iter()
        .map(|g| resolve(g, ids))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let user_data = p
        .user_data_text
        .as_deref()
        .context("the plan carries no user data for the launch template")?;
    Ok(RequestLaunchTemplateData::builder()
        .image_id(&p.image_id)
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(resolve(&p.instance_profile, ids)?)
                .build(),
        )
        .set_security_group_ids(Some(groups))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_tokens(LaunchTemplateHttpTokensState::from(p.http_tokens.as_str()))
                .http_put_response_hop_limit(i32::try_from(p.http_put_response_hop_limit)?)
                .instance_metadata_tags(if p.instance_metadata_tags {
                    LaunchTemplateInstanceMetadataTagsState::Enabled
                } else {
                    LaunchTemplateInstanceMetadataTagsState::Disabled
                })
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&p.root_device_name)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(i32::try_from(p.root_volume_gib)?)
                        .volume_type(VolumeType::from(p.root_volume_type.as_str()))
                        .encrypted(p.root_volume_encrypted)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .monitoring(
            aws_sdk_ec2::types::LaunchTemplatesMonitoringRequest::builder()
                .enabled(p.detailed_monitoring)
                .build(),
        )
        .user_data(base64::encode(crate::render::encode_user_data(user_data)))
        .build())
}

/// Carries out one planned step on a launch template.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            match aws
                .ec2
                .delete_launch_template()
                .launch_template_id(&id)
                .send()
                .await
            {
                Ok(_) => Ok(None),
                Err(e)
                    if e.code()
                        .is_some_and(|c| c.starts_with("InvalidLaunchTemplateId")) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e).context("DeleteLaunchTemplate"),
            }
        }
        (Step::Create, Some(desired @ Props::LaunchTemplate(p))) => create(
            aws,
            &change.key,
            p,
            &desired.fingerprint(),
            &op.client_token,
            ids,
        )
        .await
        .map(Some),
        (Step::Update, Some(desired @ Props::LaunchTemplate(p))) => {
            new_version(aws, &id, p, &desired.fingerprint(), &op.client_token, ids).await?;
            Ok(None)
        }
        (step, _) => bail!("{}: cannot {step:?} with these attributes", change.key),
    }
}

async fn create(
    aws: &Aws,
    key: &ResourceKey,
    p: &LaunchTemplateProps,
    fingerprint: &str,
    token: &str,
    ids: &Ids,
) -> anyhow::Result<String> {
    let tags: Vec<Tag> = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let created = aws
        .ec2
        .create_launch_template()
        .launch_template_name(&p.name)
        .client_token(token)
        .version_description(fingerprint)
        .launch_template_data(data(p, ids)?)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::LaunchTemplate)
                .set_tags(Some(tags))
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(out) => required(
            out.launch_template().and_then(|t| t.launch_template_id()),
            "CreateLaunchTemplate",
            "LaunchTemplateId",
        ),
        // A resumed run with a new plan: the name is taken by the template made before.
        Err(e) if e.code() == Some("InvalidLaunchTemplateName.AlreadyExistsException") => {
            let mine = observe(aws).await?;
            let found = mine.into_iter().find(|r| &r.key == key);
            adopt_if_ours(
                &aws.tags.stack,
                "launch template",
                &p.name,
                key,
                found.as_ref().map(|r| &r.key),
            )?;
            let Some(found) = found else {
                return Err(e).context("CreateLaunchTemplate");
            };
            new_version(aws, &found.id, p, fingerprint, token, ids).await?;
            Ok(found.id)
        }
        Err(e) => Err(e).context("CreateLaunchTemplate"),
    }
}

/// Makes a version with this content the default: an existing one when a run was interrupted
/// after creating it, a new one otherwise.
async fn new_version(
    aws: &Aws,
    template_id: &str,
    p: &LaunchTemplateProps,
    fingerprint: &str,
    token: &str,
    ids: &Ids,
) -> anyhow::Result<()> {
    let number = match version_number(aws, template_id, fingerprint).await {
        Ok(n) => n,
        Err(_) => {
            let out = aws
                .ec2
                .create_launch_template_version()
                .launch_template_id(template_id)
                .client_token(token)
                .version_description(fingerprint)
                .launch_template_data(data(p, ids)?)
                .send()
                .await
                .context("CreateLaunchTemplateVersion")?;
            out.launch_template_version()
                .and_then(|v| v.version_number())
                .context("CreateLaunchTemplateVersion returned no version")?
                .to_string()
        }
    };
    aws.ec2
        .modify_launch_template()
        .launch_template_id(template_id)
        .default_version(number)
        .send()
        .await
        .context("ModifyLaunchTemplate")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        LaunchTemplate, LaunchTemplateBlockDeviceMapping, LaunchTemplateEbsBlockDevice,
        LaunchTemplateVersion, ResponseLaunchTemplateData,
    };

    fn template() -> LaunchTemplate {
        LaunchTemplate::builder()
            .launch_template_id("lt-1")
            .launch_template_name("s-web")
            .build()
    }

    #[test]
    fn the_default_versions_data_is_mapped_with_its_user_data_decoded() {
        let text = "#cloud-config\nruncmd: []\n";
        let encoded = base64::encode(crate::render::encode_user_data(text));
        let version = LaunchTemplateVersion::builder()
            .version_number(3)
            .launch_template_data(
                ResponseLaunchTemplateData::builder()
                    .image_id("ami-1")
                    .security_group_ids("sg-2")
                    .security_group_ids("sg-1")
                    .user_data(encoded)
                    .block_device_mappings(
                        LaunchTemplateBlockDeviceMapping::builder()
                            .device_name("/dev/sda1")
                            .ebs(
                                LaunchTemplateEbsBlockDevice::builder()
                                    .volume_size(30)
                                    .encrypted(true)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        let key = ResourceKey::new(crate::model::Kind::LaunchTemplate, "web");
        let r = map_template(&template(), &version, key).expect("a version with data");
        let Props::LaunchTemplate(p) = r.props else {
            panic!("not a template");
        };
        assert_eq!(p.user_data, crate::render::describe_user_data(text));
        assert_eq!((p.root_volume_gib, p.root_volume_encrypted), (30, true));
        assert_eq!(
            r.outputs
                .get("launch_template.default_version")
                .map(String::as_str),
            Some("3")
        );
        let empty = LaunchTemplateVersion::builder().version_number(1).build();
        let key = ResourceKey::new(crate::model::Kind::LaunchTemplate, "web");
        assert!(map_template(&template(), &empty, key).is_none());
    }
}

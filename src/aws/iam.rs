//! The IAM adapter: the web nodes' role (trust policy, AWS managed policies, one inline
//! policy) and instance profile. Both live under the path `/moodle-ha/<stack>/`, listed with
//! one paginated call each; their tags, attached policies and inline policy have no batch
//! form. IAM answers policy documents URL-encoded; they are decoded and compared as JSON.

use super::Aws;
use super::answer::adopt_if_ours;
use super::ec2::resolve;
use super::errors::{is_code, tolerate};
use crate::executor::{Ids, Operation, Step};
use crate::model::{IamRoleProps, InstanceProfileProps, Kind, Props, Ref, ResourceKey, Set};
use crate::observed::ObservedResource;
use anyhow::{Context, bail};
use aws_sdk_iam::types::Tag;
use serde_json::Value;
use std::collections::BTreeMap;

/// The name of the role's one inline policy.
pub const INLINE_POLICY: &str = "moodle-ha";

fn path(aws: &Aws) -> String {
    format!("/moodle-ha/{}/", aws.tags.stack)
}

fn tags(aws: &Aws, key: &ResourceKey) -> anyhow::Result<Vec<Tag>> {
    aws.tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().context("tag"))
        .collect()
}

/// A policy document as IAM returns it (URL-encoded JSON) or as sent (JSON).
fn document(text: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(text))
        .unwrap_or(Value::Null)
}

/// The stack's role and instance profile.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let prefix = path(aws);
    let (roles, profiles) = tokio::try_join!(
        async {
            let all: Vec<_> = aws
                .iam
                .list_roles()
                .path_prefix(&prefix)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .context("ListRoles")?;
            Ok::<_, anyhow::Error>(all)
        },
        async {
            let all: Vec<_> = aws
                .iam
                .list_instance_profiles()
                .path_prefix(&prefix)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .context("ListInstanceProfiles")?;
            Ok::<_, anyhow::Error>(all)
        }
    )?;
    // Every role's and profile's details at once: one round trip for all of them.
    let (roles, profiles) = tokio::try_join!(
        futures::future::try_join_all(roles.iter().map(|r| observe_role(aws, r))),
        futures::future::try_join_all(profiles.iter().map(|p| observe_profile(aws, p)))
    )?;
    Ok(roles.into_iter().chain(profiles).flatten().collect())
}

/// One role, with its tags (ownership) and policies; `None` when it is not the stack's.
async fn observe_role(
    aws: &Aws,
    role: &aws_sdk_iam::types::Role,
) -> anyhow::Result<Option<ObservedResource>> {
    let name = role.role_name().to_string();
    let role_tags = aws
        .iam
        .list_role_tags()
        .role_name(&name)
        .send()
        .await
        .context("ListRoleTags")?;
    let Some(key) = aws.tags.owner(role_tags.tags()) else {
        return Ok(None);
    };
    let (attached, inline) = tokio::try_join!(
        async {
            let all: Vec<_> = aws
                .iam
                .list_attached_role_policies()
                .role_name(&name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .context("ListAttachedRolePolicies")?;
            Ok::<_, anyhow::Error>(all)
        },
        async {
            match aws
                .iam
                .get_role_policy()
                .role_name(&name)
                .policy_name(INLINE_POLICY)
                .send()
                .await
            {
                Ok(p) => Ok(document(p.policy_document())),
                Err(e) if is_code(&e, "NoSuchEntity") => Ok(Value::Null),
                Err(e) => Err(e).context("GetRolePolicy"),
            }
        }
    )?;
    Ok(Some(ObservedResource {
        unknown: Default::default(),
        key,
        id: name,
        props: map_role(role, &attached, inline),
        outputs: BTreeMap::new(),
    }))
}

/// The role as the model sees it, from ListRoles, its attached policies and its inline
/// policy document (`null` when it has none). Pure.
pub fn map_role(
    role: &aws_sdk_iam::types::Role,
    attached: &[aws_sdk_iam::types::AttachedPolicy],
    inline: Value,
) -> Props {
    let mut props = Props::IamRole(IamRoleProps {
        name: role.role_name().to_string(),
        path: role.path().to_string(),
        description: role.description().unwrap_or_default().to_string(),
        assume_role_policy: role
            .assume_role_policy_document()
            .map(document)
            .unwrap_or(Value::Null)
            .into(),
        managed_policies: attached
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        inline_policy: inline.into(),
    });
    props.normalize();
    props
}

/// The ARN (with its path) of the role in instance profile `name`, one the spec names rather
/// than the stack makes; `None` when there is no such profile or it has no role.
pub async fn profile_role_arn(aws: &Aws, name: &str) -> anyhow::Result<Option<String>> {
    match aws
        .iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .instance_profile()
            .and_then(|p| p.roles().first())
            .map(|r| r.arn().to_string())
            .filter(|a| !a.is_empty())),
        Err(e) if is_code(&e, "NoSuchEntity") => Ok(None),
        Err(e) => Err(e).context("GetInstanceProfile"),
    }
}

/// One instance profile, with its tags (ownership); `None` when it is not the stack's.
async fn observe_profile(
    aws: &Aws,
    profile: &aws_sdk_iam::types::InstanceProfile,
) -> anyhow::Result<Option<ObservedResource>> {
    let name = profile.instance_profile_name().to_string();
    // ListInstanceProfiles leaves tags out; GetInstanceProfile has them.
    let full = aws
        .iam
        .get_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await
        .context("GetInstanceProfile")?;
    let Some(key) = full
        .instance_profile()
        .and_then(|p| aws.tags.owner(p.tags()))
    else {
        return Ok(None);
    };
    Ok(Some(map_profile(profile, key)))
}

/// An instance profile as the model sees it: its path and role; a profile without a role
/// (AWS lists it as such) has the empty role, which plans adding it. Pure.
pub fn map_profile(
    profile: &aws_sdk_iam::types::InstanceProfile,
    key: ResourceKey,
) -> ObservedResource {
    let name = profile.instance_profile_name().to_string();
    ObservedResource {
        unknown: Default::default(),
        key,
        id: name.clone(),
        props: Props::InstanceProfile(InstanceProfileProps {
            name,
            path: profile.path().to_string(),
            role: Ref::External(
                profile
                    .roles()
                    .first()
                    .map(|r| r.role_name().to_string())
                    .unwrap_or_default(),
            ),
        }),
        outputs: BTreeMap::new(),
    }
}

/// Carries out one planned step on the role or the instance profile.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let id = change.id.clone().unwrap_or_default();
    let key = &change.key;
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            delete(aws, key.kind, &id, change.observed.as_ref(), ids).await?;
            Ok(None)
        }
        (Step::Create, Some(Props::IamRole(p))) => create_role(aws, key, p).await.map(Some),
        (Step::Update, Some(Props::IamRole(p))) => {
            let before = match change.observed.as_ref() {
                Some(Props::IamRole(b)) => Some(b),
                _ => None,
            };
            update_role(aws, p, before).await.map(|()| None)
        }
        (Step::Create, Some(Props::InstanceProfile(p))) => {
            create_profile(aws, key, p, ids).await.map(Some)
        }
        (Step::Update, Some(Props::InstanceProfile(p))) => {
            update_profile(aws, p, change.observed.as_ref(), ids)
                .await
                .map(|()| None)
        }
        (step, _) => bail!("{key}: cannot {step:?} with these attributes"),
    }
}

/// Creates the role (or adopts the one an earlier run made) with its policies; its name.
async fn create_role(aws: &Aws, key: &ResourceKey, p: &IamRoleProps) -> anyhow::Result<String> {
    let created = aws
        .iam
        .create_role()
        .role_name(&p.name)
        .path(&p.path)
        .description(&p.description)
        .assume_role_policy_document(p.assume_role_policy.to_string())
        .set_tags(Some(tags(aws, key)?))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if is_code(&e, "EntityAlreadyExists") => {
            let found = aws
                .iam
                .list_role_tags()
                .role_name(&p.name)
                .send()
                .await
                .context("ListRoleTags")?;
            let owner = aws.tags.owner(found.tags());
            adopt_if_ours(&aws.tags.stack, "role", &p.name, key, owner.as_ref())?;
        }
        Err(e) => return Err(e).context("CreateRole"),
    }
    sync_role(aws, p, None).await?;
    Ok(p.name.clone())
}

/// Brings the role's trust policy, description and policies to `p`.
async fn update_role(
    aws: &Aws,
    p: &IamRoleProps,
    before: Option<&IamRoleProps>,
) -> anyhow::Result<()> {
    if before.is_some_and(|b| b.assume_role_policy != p.assume_role_policy) {
        aws.iam
            .update_assume_role_policy()
            .role_name(&p.name)
            .policy_document(p.assume_role_policy.to_string())
            .send()
            .await
            .context("UpdateAssumeRolePolicy")?;
    }
    if before.is_some_and(|b| b.description != p.description) {
        aws.iam
            .update_role()
            .role_name(&p.name)
            .description(&p.description)
            .send()
            .await
            .context("UpdateRole")?;
    }
    sync_role(aws, p, before).await?;
    Ok(())
}

/// Creates the instance profile (or adopts the one an earlier run made) holding its role;
/// its name.
async fn create_profile(
    aws: &Aws,
    key: &ResourceKey,
    p: &InstanceProfileProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let created = aws
        .iam
        .create_instance_profile()
        .instance_profile_name(&p.name)
        .path(&p.path)
        .set_tags(Some(tags(aws, key)?))
        .send()
        .await;
    let has_role = match created {
        Ok(_) => None,
        Err(e) if is_code(&e, "EntityAlreadyExists") => {
            let found = aws
                .iam
                .get_instance_profile()
                .instance_profile_name(&p.name)
                .send()
                .await
                .context("GetInstanceProfile")?;
            let profile = found.instance_profile();
            let owner = profile.and_then(|i| aws.tags.owner(i.tags()));
            adopt_if_ours(
                &aws.tags.stack,
                "instance profile",
                &p.name,
                key,
                owner.as_ref(),
            )?;
            profile
                .and_then(|i| i.roles().first())
                .map(|r| r.role_name().to_string())
        }
        Err(e) => return Err(e).context("CreateInstanceProfile"),
    };
    let role = resolve(&p.role, ids)?;
    if has_role.as_deref() != Some(role.as_str()) {
        add_role(aws, &p.name, &role).await?;
    }
    Ok(p.name.clone())
}

/// Swaps the profile's role for the desired one.
async fn update_profile(
    aws: &Aws,
    p: &InstanceProfileProps,
    before: Option<&Props>,
    ids: &Ids,
) -> anyhow::Result<()> {
    if let Some(Props::InstanceProfile(b)) = before
        && let Ok(old) = resolve(&b.role, ids)
        && !old.is_empty()
    {
        aws.iam
            .remove_role_from_instance_profile()
            .instance_profile_name(&p.name)
            .role_name(old)
            .send()
            .await
            .context("RemoveRoleFromInstanceProfile")?;
    }
    add_role(aws, &p.name, &resolve(&p.role, ids)?).await?;
    Ok(())
}

/// Puts `role` into the instance profile. A profile holds one role: `LimitExceeded` because it
/// already holds this one (a retry whose first answer was lost) is success.
async fn add_role(aws: &Aws, profile: &str, role: &str) -> anyhow::Result<()> {
    let added = aws
        .iam
        .add_role_to_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await;
    match added {
        Ok(_) => Ok(()),
        Err(e) if is_code(&e, "LimitExceeded") => {
            let found = aws
                .iam
                .get_instance_profile()
                .instance_profile_name(profile)
                .send()
                .await
                .context("GetInstanceProfile")?;
            let holds = found
                .instance_profile()
                .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == role));
            if holds {
                Ok(())
            } else {
                Err(e).context("AddRoleToInstanceProfile")
            }
        }
        Err(e) => Err(e).context("AddRoleToInstanceProfile"),
    }
}

/// Puts the inline policy and attaches / detaches managed policies to match.
async fn sync_role(
    aws: &Aws,
    p: &IamRoleProps,
    before: Option<&IamRoleProps>,
) -> anyhow::Result<()> {
    // A role with AWS managed policies only (RDS enhanced monitoring) has no inline policy.
    let inline_wanted = !p.inline_policy.canonical().is_null();
    if inline_wanted && before.is_none_or(|b| b.inline_policy != p.inline_policy) {
        aws.iam
            .put_role_policy()
            .role_name(&p.name)
            .policy_name(INLINE_POLICY)
            .policy_document(p.inline_policy.to_string())
            .send()
            .await
            .context("PutRolePolicy")?;
    }
    if !inline_wanted && before.is_some_and(|b| !b.inline_policy.canonical().is_null()) {
        tolerate(
            aws.iam
                .delete_role_policy()
                .role_name(&p.name)
                .policy_name(INLINE_POLICY)
                .send()
                .await,
            &["NoSuchEntity"],
            "DeleteRolePolicy",
        )?;
    }
    let have: Set<String> = before
        .map(|b| b.managed_policies.clone())
        .unwrap_or_default();
    for arn in p.managed_policies.iter().filter(|a| !have.contains(a)) {
        aws.iam
            .attach_role_policy()
            .role_name(&p.name)
            .policy_arn(arn)
            .send()
            .await
            .context("AttachRolePolicy")?;
    }
    for arn in have.iter().filter(|a| !p.managed_policies.contains(a)) {
        aws.iam
            .detach_role_policy()
            .role_name(&p.name)
            .policy_arn(arn)
            .send()
            .await
            .context("DetachRolePolicy")?;
    }
    Ok(())
}

async fn delete(
    aws: &Aws,
    kind: Kind,
    name: &str,
    observed: Option<&Props>,
    ids: &Ids,
) -> anyhow::Result<()> {
    match (kind, observed) {
        (Kind::InstanceProfile, Some(Props::InstanceProfile(p))) => {
            let role = resolve(&p.role, ids).unwrap_or_default();
            if !role.is_empty() {
                match aws
                    .iam
                    .remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(&role)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_code(&e, "NoSuchEntity") => {}
                    Err(e) => return Err(e).context("RemoveRoleFromInstanceProfile"),
                }
            }
            tolerate(
                aws.iam
                    .delete_instance_profile()
                    .instance_profile_name(name)
                    .send()
                    .await,
                &["NoSuchEntity"],
                "DeleteInstanceProfile",
            )
        }
        (Kind::IamRole, observed) => {
            if let Some(Props::IamRole(p)) = observed {
                for arn in &p.managed_policies {
                    match aws
                        .iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if is_code(&e, "NoSuchEntity") => {}
                        Err(e) => return Err(e).context("DetachRolePolicy"),
                    }
                }
            }
            match aws
                .iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(INLINE_POLICY)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_code(&e, "NoSuchEntity") => {}
                Err(e) => return Err(e).context("DeleteRolePolicy"),
            }
            tolerate(
                aws.iam.delete_role().role_name(name).send().await,
                &["NoSuchEntity"],
                "DeleteRole",
            )
        }
        (other, _) => bail!("{other} is not an IAM resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::types::{AttachedPolicy, Role};

    #[test]
    fn a_role_maps_its_url_encoded_trust_policy_and_its_policies_as_sets() {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(trust, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let role = Role::builder()
            .role_name("s-web-role")
            .path("/moodle-ha/s/")
            .role_id("AROA1")
            .arn("arn:aws:iam::1:role/s-web-role")
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .assume_role_policy_document(encoded)
            .build()
            .expect("a role");
        let attached = [
            AttachedPolicy::builder().policy_arn("arn:b").build(),
            AttachedPolicy::builder().policy_arn("arn:a").build(),
        ];
        let Props::IamRole(p) = map_role(&role, &attached, Value::Null) else {
            panic!("not a role");
        };
        assert_eq!(
            p.assume_role_policy,
            crate::desired::ec2_trust_policy().into()
        );
        assert_eq!(
            p.managed_policies,
            crate::model::Set::new(["arn:a".to_string(), "arn:b".to_string()])
        );
    }

    #[test]
    fn an_instance_profile_maps_its_role_and_one_without_a_role_has_none() {
        use aws_sdk_iam::types::InstanceProfile;
        let created = aws_smithy_types::DateTime::from_secs(0);
        let role = Role::builder()
            .role_name("s-web-role")
            .path("/moodle-ha/s/")
            .role_id("AROA1")
            .arn("arn:aws:iam::123456789012:role/moodle-ha/s/s-web-role")
            .create_date(created)
            .build()
            .expect("a role");
        let profile = |roles: Vec<Role>| {
            InstanceProfile::builder()
                .instance_profile_name("s-web-profile")
                .path("/moodle-ha/s/")
                .instance_profile_id("AIPA1")
                .arn("arn:aws:iam::123456789012:instance-profile/moodle-ha/s/s-web-profile")
                .create_date(created)
                .set_roles(Some(roles))
                .build()
                .expect("a profile")
        };
        let key = || ResourceKey::new(Kind::InstanceProfile, "web");
        let role_of = |r: ObservedResource| match r.props {
            Props::InstanceProfile(p) => (p.path, p.role),
            _ => panic!("not a profile"),
        };
        assert_eq!(
            role_of(map_profile(&profile(vec![role]), key())),
            ("/moodle-ha/s/".into(), Ref::External("s-web-role".into()))
        );
        assert_eq!(
            role_of(map_profile(&profile(vec![]), key())).1,
            Ref::External(String::new()),
            "no role: the plan adds it"
        );
    }
}

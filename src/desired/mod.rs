//! The desired state: every resource the spec calls for, with its managed attributes. A pure
//! function of the spec and the facts read about adopted resources (no AWS call here).

use crate::model::{Kind, Props, Ref, ResourceKey};
use crate::spec::{Problem, Severity, SourceMap, Spec};
use std::collections::BTreeMap;

/// What AWS said about resources the spec refers to (read at plan time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Adopted VPC IDs that exist.
    pub vpcs: Vec<String>,
    /// Adopted subnets that exist, by ID.
    pub subnets: BTreeMap<String, SubnetFacts>,
    /// AMIs, by the spec's value (an `ami-…` ID or an `ssm:` parameter); absent when it
    /// names nothing.
    pub images: BTreeMap<String, ImageFacts>,
    /// Status of the load balancer's ACM certificate (`ISSUED`, `EXPIRED` …); `None` when
    /// ACM does not know it.
    pub certificate_status: Option<String>,
    /// The availability zones of the spec's region (read when the stack creates its network;
    /// `None` when not read).
    pub availability_zones: Option<Vec<String>>,
    /// The AWS account the stack is in (STS GetCallerIdentity): it makes the stack bucket's
    /// name globally unique and names the roles in resource policies. `None` when not read.
    pub account: Option<String>,
    /// The identity running moodle-ha, as `aws:PrincipalArn` names it (an assumed role's
    /// session as its role's ARN, with the role's path): the secrets' policies always let it
    /// in. `None` when not read.
    pub caller: Option<String>,
    /// The role of the instance profile `web.instance_profile` names (its ARN, with its
    /// path), which the secrets the web nodes read must let in. `None` when the spec names no
    /// profile, or AWS has no such profile with a role.
    pub web_profile_role: Option<String>,
    /// The release built from `moodle.git_url` at `moodle.git_ref` (`None` when not built:
    /// render, and tests of other parts).
    pub release: Option<crate::release::Release>,
}

/// An AMI the spec names.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFacts {
    /// The AMI ID (the SSM parameter's value for `ssm:` names).
    pub id: String,
    /// Its root device, e.g. `/dev/sda1`.
    pub root_device_name: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// The image's name (e.g. `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-…`).
    pub name: String,
}

/// An existing subnet.
#[derive(Clone, Debug, PartialEq)]
pub struct SubnetFacts {
    /// Its VPC.
    pub vpc_id: String,
    /// Its availability zone.
    pub availability_zone: String,
}

/// Every resource of the stack, by key, with its desired attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredState {
    /// Stack name (the value of the `moodle-ha:stack` tag).
    pub stack: String,
    /// Its region.
    pub region: String,
    /// Extra tags from the spec.
    pub tags: BTreeMap<String, String>,
    /// The resources.
    pub resources: BTreeMap<ResourceKey, Props>,
}

mod cron;
mod data;
mod edge;
mod file_storage;
mod logs;
mod network;
mod node_role;
mod release;
mod secrets;
mod security_groups;
mod web;

pub use cron::cron_node_policy;
pub use data::{RDS_LOG_EXPORTS, parameter_group_family, redis_auth_secret_name};
pub use edge::{bucket_name, bucket_policy, log_delivery_principal};
pub use file_storage::file_system_policy;
pub use node_role::{NODE_MANAGED_POLICIES, ec2_trust_policy, node_role_arn, service_trust_policy};
pub use release::RELEASE;
pub use secrets::{normal_form, secret_policy, session_role};
pub use security_groups::SECURITY_GROUPS;
pub use web::{LAUNCH_READY_SECONDS, WEB_NODE_SECRETS, web_node_policy};
/// Checks what the spec refers to against what AWS reported (AMIs, the certificate, the
/// region's zones, an adopted network), naming each field that does not match.
pub fn check_facts(spec: &Spec, facts: &Facts, source: &SourceMap) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut push = |path: String, message: String| {
        let line = source.line_of(&path);
        problems.push(Problem {
            severity: Severity::Error,
            path,
            message,
            line,
        });
    };
    check_image_and_certificate(spec, facts, &mut push);
    check_network(spec, facts, &mut push);
    check_release(spec, facts, &mut push);
    check_web_profile(spec, facts, &mut push);
    problems
}

/// The spec's own instance profile has a role (read at plan time), which the policies of the
/// secrets the web nodes read must let in: without it they would shut the web nodes out.
fn check_web_profile(spec: &Spec, facts: &Facts, push: &mut impl FnMut(String, String)) {
    if let (Some(profile), None) = (&spec.web.instance_profile, &facts.web_profile_role) {
        push(
            "web.instance_profile".into(),
            format!(
                "`{profile}` is not an instance profile with a role in this account; the web nodes' secrets must name its role"
            ),
        );
    }
}

/// The nodes' AMI (exists, the rendered distribution, the types' architecture) and the
/// load balancer's certificate (known to ACM and issued).
fn check_image_and_certificate(spec: &Spec, facts: &Facts, push: &mut impl FnMut(String, String)) {
    match facts.images.get(&spec.web.ami) {
        None => push(
            "web.ami".into(),
            format!(
                "`{}` names no AMI in `{}`",
                spec.web.ami.trim_start_matches("ssm:"),
                spec.region
            ),
        ),
        Some(image) => {
            // The rendered installation is for one distribution: the image must be it, when
            // its name says (custom images often do not).
            if let Some(os) = crate::spec::Os::of_ami(&image.name)
                && os != spec.os()
            {
                push(
                    "web.ami".into(),
                    format!(
                        "`{}` is an `{}` image (`{}`), but the nodes are rendered for `{}`",
                        image.id,
                        os.as_str(),
                        image.name,
                        spec.os().as_str()
                    ),
                );
            }
            let wanted = crate::spec::architecture_of_types(&spec.web.instance_types);
            if let Some(arch) = wanted
                && arch != image.architecture
            {
                push(
                    "web.ami".into(),
                    format!(
                        "`{}` is an {} image; `web.instance_types` are {arch}",
                        image.id, image.architecture
                    ),
                );
            }
        }
    }
    match facts.certificate_status.as_deref() {
        None => push(
            "load_balancer.certificate_arn".into(),
            format!(
                "`{}` is not a certificate in ACM in `{}`",
                spec.load_balancer.certificate_arn, spec.region
            ),
        ),
        Some("ISSUED") => {}
        Some(status) => push(
            "load_balancer.certificate_arn".into(),
            format!("the certificate is `{status}`; an HTTPS listener needs an issued certificate"),
        ),
    }
}

/// The release's branch is the spec's `moodle.version`.
fn check_release(spec: &Spec, facts: &Facts, push: &mut impl FnMut(String, String)) {
    let Some(built) = &facts.release else {
        return;
    };
    let tree = crate::release::VersionPhp {
        version: built.version.clone(),
        release: built.release.clone(),
        branch: built.branch.clone(),
    };
    if let Some(why) =
        crate::release::branch_mismatch(spec.moodle.version, &tree, &spec.moodle.git_ref)
    {
        push("moodle.version".into(), why);
    }
}

/// The zones a created network uses, or the adopted VPC and subnets.
fn check_network(spec: &Spec, facts: &Facts, push: &mut impl FnMut(String, String)) {
    if let (Some(net), Some(zones)) = (&spec.network.create, &facts.availability_zones) {
        for (i, az) in net.availability_zones.iter().enumerate() {
            if !zones.contains(az) {
                push(
                    format!("network.create.availability_zones[{i}]"),
                    format!(
                        "`{az}` is not an availability zone of `{}` (it has {})",
                        spec.region,
                        zones.join(", ")
                    ),
                );
            }
        }
    }
    let Some(net) = &spec.network.existing else {
        return;
    };
    if !facts.vpcs.contains(&net.vpc_id) {
        push(
            "network.existing.vpc_id".into(),
            format!("`{}` does not exist in `{}`", net.vpc_id, spec.region),
        );
    }
    for (list_name, list) in [
        ("public_subnets", &net.public_subnets),
        ("private_subnets", &net.private_subnets),
    ] {
        let mut azs = std::collections::BTreeSet::new();
        for (i, id) in list.iter().enumerate() {
            let path = format!("network.existing.{list_name}[{i}]");
            match facts.subnets.get(id) {
                None => push(path, format!("`{id}` does not exist in `{}`", spec.region)),
                Some(s) if s.vpc_id != net.vpc_id => push(
                    path,
                    format!("`{id}` belongs to `{}`, not `{}`", s.vpc_id, net.vpc_id),
                ),
                Some(s) => {
                    azs.insert(s.availability_zone.clone());
                }
            }
        }
        if azs.len() == 1 {
            push(
                format!("network.existing.{list_name}"),
                "all subnets are in one availability zone; HA needs two or more".into(),
            );
        }
    }
}

/// The resources of one part of the stack, as its module adds them.
#[derive(Debug, Default)]
struct Part(Vec<(ResourceKey, Props)>);

impl Part {
    /// Adds resource `kind/name` (its sets in canonical order).
    fn add(&mut self, kind: Kind, name: &str, mut props: Props) {
        props.normalize();
        self.0.push((ResourceKey::new(kind, name), props));
    }

    /// Adds every resource of `other`.
    fn extend(&mut self, other: Part) {
        self.0.extend(other.0);
    }
}

impl IntoIterator for Part {
    type Item = (ResourceKey, Props);
    type IntoIter = std::vec::IntoIter<(ResourceKey, Props)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Builds the desired state. `facts` must have passed [`check_facts`]. Each part of the stack
/// comes from its own module.
pub fn desired_state(spec: &Spec, facts: &Facts) -> DesiredState {
    let (net, network) = network::network(spec, facts);
    let private_subnets: Vec<Ref> = net.private.iter().map(|(_, s)| s.clone()).collect();
    let resources: BTreeMap<ResourceKey, Props> = network
        .into_iter()
        .chain(security_groups::security_groups(spec, &net.vpc))
        .chain(file_storage::file_storage(spec, facts, &net.private))
        .chain(data::data_tier(spec, facts, &private_subnets))
        .chain(web::web_tier(
            spec,
            facts,
            &net.vpc,
            &net.public,
            &private_subnets,
        ))
        .chain(cron::cron_tier(spec, facts, &private_subnets))
        .chain(edge::stack_bucket(spec, facts))
        .chain(release::release(spec, facts))
        .chain(edge::web_acl(spec, facts))
        .collect();
    DesiredState {
        stack: spec.name.clone(),
        region: spec.region.clone(),
        tags: spec.tags.clone(),
        resources,
    }
}

/// The serde name of a spec enum value (e.g. `generalPurpose`), which is how AWS spells it.
fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../stacks/example.yaml");

    fn problems_with_image(name: &str) -> Vec<String> {
        let loaded = match crate::spec::load_str(EXAMPLE) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        let facts = Facts {
            images: BTreeMap::from([(
                loaded.spec.web.ami.clone(),
                ImageFacts {
                    id: "ami-0abc".into(),
                    root_device_name: "/dev/sda1".into(),
                    architecture: "x86_64".into(),
                    name: name.into(),
                },
            )]),
            certificate_status: Some("ISSUED".into()),
            ..Facts::default()
        };
        check_facts(&loaded.spec, &facts, &loaded.source)
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn an_image_of_another_distribution_than_the_rendered_one_is_refused_at_plan_time() {
        assert_eq!(
            problems_with_image("al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64"),
            [
                "web.ami: `ami-0abc` is an `amazon-linux-2023` image (`al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64`), but the nodes are rendered for `ubuntu-24.04` (line 62)"
            ]
        );
        assert!(
            problems_with_image(
                "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119"
            )
            .is_empty()
        );
        assert!(
            problems_with_image("golden-moodle-2024-11").is_empty(),
            "a name that says nothing is trusted"
        );
    }
}

//! The EC2 adapter: VPC, subnets, gateways, route tables and security groups. Reads one
//! tagged, paginated describe per kind; creates carry the stack's tags in the create call.

use super::Aws;
use super::answer::{required, text};
use super::errors::tolerate;
use super::once;
use super::wait::{self, Poll};
use crate::desired::{Facts, ImageFacts, SubnetFacts};
use crate::executor::{Ids, Operation, Step};
use crate::model::{
    InternetGatewayProps, Kind, NatGatewayProps, Props, Ref, ResourceKey, Route, RouteTableProps,
    Rule, RuleSource, SecurityGroupProps, SecurityGroupRulesProps, Set, SubnetProps, VpcProps,
};
use crate::observed::{ObservedResource, Unknown};
use anyhow::{Context, anyhow, bail};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, IpPermission, IpRange, Ipv6Range, PrefixListId,
    ResourceType, Tag, TagSpecification, UserIdGroupPair, VpcAttributeName,
};
use std::collections::BTreeMap;
use std::time::Duration;

fn stack_filter(aws: &Aws) -> Filter {
    Filter::builder()
        .name(format!("tag:{}", super::tags::STACK_TAG))
        .values(&aws.tags.stack)
        .build()
}

/// The ID of this stack's `key`, when it exists: what a create whose answer was lost made.
/// Read with the kind's own tagged describe, the one observation uses.
async fn find_by_key(aws: &Aws, key: &ResourceKey) -> anyhow::Result<Option<String>> {
    let found = match key.kind {
        Kind::Vpc => observe_vpcs(aws).await?,
        Kind::Subnet => observe_subnets(aws).await?,
        Kind::InternetGateway => observe_internet_gateways(aws).await?,
        Kind::ElasticIp => observe_addresses(aws).await?,
        other => bail!("no lookup by tag for {other}"),
    };
    Ok(found.into_iter().find(|r| &r.key == key).map(|r| r.id))
}

fn tag_spec(aws: &Aws, kind: ResourceType, key: &ResourceKey) -> TagSpecification {
    let tags = aws
        .tags
        .for_resource(key)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags))
        .build()
}

/// Looks up the VPC and subnets a spec adopts (not tagged: found by ID).
pub async fn facts(aws: &Aws, vpc_id: &str, subnet_ids: &[String]) -> anyhow::Result<Facts> {
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .send()
        .await
        .context("DescribeVpcs")?;
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .set_values(Some(subnet_ids.to_vec()))
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeSubnets")?;
    Ok(Facts {
        vpcs: vpcs
            .vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect(),
        subnets: subnets
            .iter()
            .filter_map(|s| {
                Some((
                    s.subnet_id()?.to_string(),
                    SubnetFacts {
                        vpc_id: text(s.vpc_id()),
                        availability_zone: text(s.availability_zone()),
                    },
                ))
            })
            .collect(),
        ..Facts::default()
    })
}

/// Resolves the AMIs a spec names: `ssm:` parameters through one GetParameters, then one
/// DescribeImages for all IDs. A name that resolves to nothing is absent from the answer.
pub async fn images(aws: &Aws, names: &[String]) -> anyhow::Result<BTreeMap<String, ImageFacts>> {
    let parameters: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("ssm:"))
        .collect();
    let mut ids: BTreeMap<String, String> = names
        .iter()
        .filter(|n| !n.starts_with("ssm:"))
        .map(|n| (n.clone(), n.clone()))
        .collect();
    if !parameters.is_empty() {
        let out = aws
            .ssm
            .get_parameters()
            .set_names(Some(parameters.iter().map(|p| p.to_string()).collect()))
            .send()
            .await
            .context("GetParameters")?;
        for p in out.parameters() {
            if let (Some(name), Some(value)) = (p.name(), p.value()) {
                ids.insert(format!("ssm:{name}"), value.to_string());
            }
        }
    }
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let wanted: Vec<String> = ids.values().cloned().collect();
    let found = match aws
        .ec2
        .describe_images()
        .set_image_ids(Some(wanted))
        .send()
        .await
    {
        Ok(out) => out.images().to_vec(),
        // One unknown ID fails the whole call: then nothing resolves, and each is named.
        Err(e)
            if e.code() == Some("InvalidAMIID.NotFound")
                || e.code() == Some("InvalidAMIID.Malformed") =>
        {
            Vec::new()
        }
        Err(e) => return Err(e).context("DescribeImages"),
    };
    Ok(ids
        .into_iter()
        .filter_map(|(name, id)| {
            let image = found.iter().find(|i| i.image_id() == Some(id.as_str()))?;
            Some((
                name,
                ImageFacts {
                    id: id.clone(),
                    root_device_name: text(image.root_device_name()),
                    architecture: image
                        .architecture()
                        .map(|a| a.as_str().to_string())
                        .unwrap_or_default(),
                    name: text(image.name()),
                },
            ))
        })
        .collect())
}

/// Every EC2 resource of the stack, one describe per kind, all at once.
pub async fn observe(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let (vpcs, subnets, igws, eips, nats, rts, sgs) = tokio::try_join!(
        observe_vpcs(aws),
        observe_subnets(aws),
        observe_internet_gateways(aws),
        observe_addresses(aws),
        observe_nat_gateways(aws),
        observe_route_tables(aws),
        observe_security_groups(aws),
    )?;
    Ok([vpcs, subnets, igws, eips, nats, rts, sgs]
        .into_iter()
        .flatten()
        .collect())
}

async fn observe_vpcs(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let vpcs: Vec<_> = aws
        .ec2
        .describe_vpcs()
        .filters(stack_filter(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeVpcs")?;
    let mut out = Vec::new();
    for v in vpcs {
        let (Some(key), Some(id)) = (aws.tags.owner(v.tags()), v.vpc_id()) else {
            continue;
        };
        // The DNS attributes have no batch form: one call each per VPC (there is one VPC);
        // its default security group is read at the same time.
        let (support, hostnames, default_group) = tokio::try_join!(
            vpc_attribute(aws, id, VpcAttributeName::EnableDnsSupport),
            vpc_attribute(aws, id, VpcAttributeName::EnableDnsHostnames),
            default_security_group(aws, id)
        )?;
        out.push(map_vpc(
            &v,
            id,
            key,
            [support, hostnames],
            default_group.as_ref(),
        ));
    }
    Ok(out)
}

/// A VPC as the model sees it, with its two DNS attributes (`[support, hostnames]`, each its
/// own call) and its default security group (the rules in it): a value AWS did not give is
/// unknown. Pure.
pub fn map_vpc(
    v: &aws_sdk_ec2::types::Vpc,
    id: &str,
    key: ResourceKey,
    [dns_support, dns_hostnames]: [Option<bool>; 2],
    default_group: Option<&aws_sdk_ec2::types::SecurityGroup>,
) -> ObservedResource {
    let mut u = Unknown::default();
    let props = Props::Vpc(VpcProps {
        cidr: u.text("cidr", v.cidr_block()),
        dns_support: u.flag("dns_support", dns_support),
        dns_hostnames: u.flag("dns_hostnames", dns_hostnames),
        default_security_group_rules: u.or_default(
            "default_security_group_rules",
            default_group.map(count_rules),
        ),
    });
    ObservedResource {
        unknown: u.fields(),
        key,
        id: id.to_string(),
        props,
        outputs: Default::default(),
    }
}

/// The VPC's default security group (AWS makes it with the VPC; it cannot be deleted).
async fn default_security_group(
    aws: &Aws,
    vpc_id: &str,
) -> anyhow::Result<Option<aws_sdk_ec2::types::SecurityGroup>> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(
            Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .context("DescribeSecurityGroups (default)")?;
    Ok(out.security_groups().first().cloned())
}

/// The rules of a security group: one per source or destination (a CIDR, IPv6 range, group
/// or prefix list) of each ingress and egress permission. Pure.
pub fn count_rules(group: &aws_sdk_ec2::types::SecurityGroup) -> u32 {
    let count: usize = group
        .ip_permissions()
        .iter()
        .chain(group.ip_permissions_egress())
        .map(|p| {
            (p.ip_ranges().len()
                + p.ipv6_ranges().len()
                + p.user_id_group_pairs().len()
                + p.prefix_list_ids().len())
            .max(1)
        })
        .sum();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Revokes every rule of the VPC's default security group: nothing of the stack uses it, and
/// AWS's defaults let anything put in it reach everything else in it and the internet.
async fn close_default_security_group(aws: &Aws, vpc_id: &str) -> anyhow::Result<()> {
    let Some(group) = default_security_group(aws, vpc_id).await? else {
        bail!("{vpc_id} has no default security group");
    };
    let id = text(group.group_id());
    if !group.ip_permissions().is_empty() {
        let r = aws
            .ec2
            .revoke_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(group.ip_permissions().to_vec()))
            .send()
            .await;
        tolerate(r, GONE, "RevokeSecurityGroupIngress (default group)")?;
    }
    if !group.ip_permissions_egress().is_empty() {
        let r = aws
            .ec2
            .revoke_security_group_egress()
            .group_id(&id)
            .set_ip_permissions(Some(group.ip_permissions_egress().to_vec()))
            .send()
            .await;
        tolerate(r, GONE, "RevokeSecurityGroupEgress (default group)")?;
    }
    Ok(())
}

async fn vpc_attribute(
    aws: &Aws,
    vpc_id: &str,
    attribute: VpcAttributeName,
) -> anyhow::Result<Option<bool>> {
    let out = aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(attribute.clone())
        .send()
        .await
        .context("DescribeVpcAttribute")?;
    let value = match attribute {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
        _ => out.enable_dns_hostnames(),
    };
    Ok(value.and_then(|v| v.value()))
}

async fn observe_subnets(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let subnets: Vec<_> = aws
        .ec2
        .describe_subnets()
        .filters(stack_filter(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeSubnets")?;
    Ok(subnets
        .iter()
        .filter_map(|s| map_subnet(s, aws.tags.owner(s.tags())?))
        .collect())
}

/// A subnet as the model sees it; `None` without an ID. Pure.
pub fn map_subnet(s: &aws_sdk_ec2::types::Subnet, key: ResourceKey) -> Option<ObservedResource> {
    let mut u = Unknown::default();
    let props = Props::Subnet(SubnetProps {
        vpc: Ref::External(u.text("vpc", s.vpc_id())),
        cidr: u.text("cidr", s.cidr_block()),
        availability_zone: u.text("availability_zone", s.availability_zone()),
    });
    Some(ObservedResource {
        unknown: u.fields(),
        key,
        id: s.subnet_id()?.to_string(),
        props,
        outputs: Default::default(),
    })
}

async fn observe_internet_gateways(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let igws: Vec<_> = aws
        .ec2
        .describe_internet_gateways()
        .filters(stack_filter(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeInternetGateways")?;
    Ok(igws
        .iter()
        .filter_map(|g| map_internet_gateway(g, aws.tags.owner(g.tags())?))
        .collect())
}

/// An internet gateway as the model sees it: the VPC it is attached to, none when detached
/// (what `attachments` says, not an unknown). `None` without an ID. Pure.
pub fn map_internet_gateway(
    g: &aws_sdk_ec2::types::InternetGateway,
    key: ResourceKey,
) -> Option<ObservedResource> {
    let vpc = g
        .attachments()
        .iter()
        .find_map(|a| a.vpc_id())
        .map(|v| Ref::External(v.to_string()));
    Some(ObservedResource {
        unknown: Default::default(),
        key,
        id: g.internet_gateway_id()?.to_string(),
        props: Props::InternetGateway(InternetGatewayProps { vpc }),
        outputs: Default::default(),
    })
}

async fn observe_addresses(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    // DescribeAddresses is not paginated: one call returns every address.
    let out = aws
        .ec2
        .describe_addresses()
        .filters(stack_filter(aws))
        .send()
        .await
        .context("DescribeAddresses")?;
    Ok(out
        .addresses()
        .iter()
        .filter_map(|a| map_address(a, aws.tags.owner(a.tags())?))
        .collect())
}

/// An Elastic IP: its allocation ID is all the model keeps. `None` without one. Pure.
pub fn map_address(a: &aws_sdk_ec2::types::Address, key: ResourceKey) -> Option<ObservedResource> {
    Some(ObservedResource {
        unknown: Default::default(),
        key,
        id: a.allocation_id()?.to_string(),
        props: Props::ElasticIp {},
        outputs: Default::default(),
    })
}

async fn observe_nat_gateways(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let nats: Vec<_> = aws
        .ec2
        .describe_nat_gateways()
        .filter(stack_filter(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeNatGateways")?;
    Ok(nats
        .iter()
        // Deleted gateways stay visible for an hour; they are gone for every purpose.
        .filter(|n| {
            !matches!(
                n.state().map(|s| s.as_str()),
                Some("deleted" | "deleting" | "failed")
            )
        })
        .filter_map(|n| map_nat_gateway(n, aws.tags.owner(n.tags())?))
        .collect())
}

/// A NAT gateway as the model sees it: its subnet and Elastic IP, both immutable, so an answer
/// without them leaves them unknown (read as empty they would plan a replacement). `None`
/// without an ID. Pure.
pub fn map_nat_gateway(
    n: &aws_sdk_ec2::types::NatGateway,
    key: ResourceKey,
) -> Option<ObservedResource> {
    let mut u = Unknown::default();
    let allocation = n
        .nat_gateway_addresses()
        .iter()
        .find_map(|a| a.allocation_id());
    let props = Props::NatGateway(NatGatewayProps {
        subnet: Ref::External(u.text("subnet", n.subnet_id())),
        allocation: Ref::External(u.text("allocation", allocation)),
    });
    Some(ObservedResource {
        unknown: u.fields(),
        key,
        id: n.nat_gateway_id()?.to_string(),
        props,
        outputs: Default::default(),
    })
}

async fn observe_route_tables(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let tables: Vec<_> = aws
        .ec2
        .describe_route_tables()
        .filters(stack_filter(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeRouteTables")?;
    Ok(tables
        .iter()
        .filter_map(|t| {
            let props = map_route_table(t);
            Some(ObservedResource {
                unknown: Default::default(),
                key: aws.tags.owner(t.tags())?,
                id: t.route_table_id()?.to_string(),
                props,
                outputs: Default::default(),
            })
        })
        .collect())
}

/// A route table as the model sees it: its routes other than the VPC's local one (to an
/// internet or NAT gateway) and its explicit subnet associations (the main one is the VPC's,
/// not the table's). Pure.
pub fn map_route_table(t: &aws_sdk_ec2::types::RouteTable) -> Props {
    let routes = t
        .routes()
        .iter()
        .filter(|r| r.gateway_id() != Some("local"))
        .filter_map(|r| {
            let target = r.gateway_id().or(r.nat_gateway_id())?;
            Some(Route {
                destination: text(r.destination_cidr_block()),
                target: Ref::External(target.to_string()),
            })
        })
        .collect();
    let subnets = t
        .associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter_map(|a| a.subnet_id().map(|s| Ref::External(s.to_string())))
        .collect();
    let mut props = Props::RouteTable(RouteTableProps {
        vpc: Ref::External(text(t.vpc_id())),
        routes,
        subnets,
    });
    props.normalize();
    props
}

async fn observe_security_groups(aws: &Aws) -> anyhow::Result<Vec<ObservedResource>> {
    let groups: Vec<_> = aws
        .ec2
        .describe_security_groups()
        .filters(stack_filter(aws))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("DescribeSecurityGroups")?;
    let mut out = Vec::new();
    for g in &groups {
        let Some(id) = g.group_id() else { continue };
        let Some(key) = aws.tags.owned_or_stray(
            Kind::SecurityGroup,
            id,
            g.tags().iter().map(super::tags::SdkTag::pair),
        ) else {
            continue;
        };
        out.extend(map_security_group(g, id, key));
    }
    Ok(out)
}

/// A security group as the model sees it: the group, and (unless it is a stray the stack will
/// delete with its rules) its complete ingress and egress rules as a resource of their own.
/// Pure.
pub fn map_security_group(
    g: &aws_sdk_ec2::types::SecurityGroup,
    id: &str,
    key: ResourceKey,
) -> Vec<ObservedResource> {
    let mut u = Unknown::default();
    let group = ObservedResource {
        key: key.clone(),
        id: id.to_string(),
        props: Props::SecurityGroup(SecurityGroupProps {
            vpc: Ref::External(u.text("vpc", g.vpc_id())),
            group_name: u.text("group_name", g.group_name()),
            description: u.text("description", g.description()),
        }),
        outputs: Default::default(),
        unknown: u.fields(),
    };
    if key.name.starts_with("stray-") {
        return vec![group]; // deleting the group deletes its rules
    }
    let mut rules = Props::SecurityGroupRules(SecurityGroupRulesProps {
        group: Ref::External(id.to_string()),
        ingress: g.ip_permissions().iter().flat_map(rules_of).collect(),
        egress: g
            .ip_permissions_egress()
            .iter()
            .flat_map(rules_of)
            .collect(),
    });
    rules.normalize();
    let rules = ObservedResource {
        unknown: Default::default(),
        key: ResourceKey::new(Kind::SecurityGroupRules, key.name),
        id: id.to_string(),
        props: rules,
        outputs: Default::default(),
    };
    vec![group, rules]
}

/// Splits one AWS permission (many peers) into one rule per peer.
fn rules_of(p: &IpPermission) -> Vec<Rule> {
    let protocol = match p.ip_protocol().unwrap_or("-1") {
        "6" => "tcp",
        "17" => "udp",
        "1" => "icmp",
        other => other,
    }
    .to_string();
    let (from_port, to_port) = if protocol == "-1" {
        (-1, -1)
    } else {
        (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1))
    };
    let rule = |peer: RuleSource, description: Option<&str>| Rule {
        protocol: protocol.clone(),
        from_port,
        to_port,
        peer,
        description: text(description),
    };
    let mut rules = Vec::new();
    rules.extend(
        p.ip_ranges()
            .iter()
            .map(|r| rule(RuleSource::Cidr(text(r.cidr_ip())), r.description())),
    );
    rules.extend(
        p.ipv6_ranges()
            .iter()
            .map(|r| rule(RuleSource::Cidr(text(r.cidr_ipv6())), r.description())),
    );
    rules.extend(p.user_id_group_pairs().iter().map(|g| {
        rule(
            RuleSource::Group(Ref::External(text(g.group_id()))),
            g.description(),
        )
    }));
    rules.extend(p.prefix_list_ids().iter().map(|l| {
        rule(
            RuleSource::PrefixList(text(l.prefix_list_id())),
            l.description(),
        )
    }));
    rules
}

/// The AWS permission for one rule, with references resolved to IDs.
fn permission(rule: &Rule, ids: &Ids) -> anyhow::Result<IpPermission> {
    let mut p = IpPermission::builder().ip_protocol(&rule.protocol);
    if rule.protocol != "-1" {
        p = p.from_port(rule.from_port).to_port(rule.to_port);
    }
    let description = (!rule.description.is_empty()).then(|| rule.description.clone());
    p = match &rule.peer {
        RuleSource::Cidr(c) if c.contains(':') => p.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(c)
                .set_description(description)
                .build(),
        ),
        RuleSource::Cidr(c) => p.ip_ranges(
            IpRange::builder()
                .cidr_ip(c)
                .set_description(description)
                .build(),
        ),
        RuleSource::Group(r) => p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(resolve(r, ids)?)
                .set_description(description)
                .build(),
        ),
        RuleSource::PrefixList(id) => p.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(id)
                .set_description(description)
                .build(),
        ),
    };
    Ok(p.build())
}

/// The AWS ID a reference stands for now.
pub fn resolve(r: &Ref, ids: &Ids) -> anyhow::Result<String> {
    match r {
        Ref::External(id) => Ok(id.clone()),
        Ref::Managed { key } => ids
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("{key} has no AWS ID yet")),
    }
}

/// Carries out one planned step on an EC2 resource.
pub async fn execute(aws: &Aws, op: &Operation, ids: &Ids) -> anyhow::Result<Option<String>> {
    let change = &op.change;
    let key = &change.key;
    let id = change.id.clone().unwrap_or_default();
    match (op.step, change.desired.as_ref()) {
        (Step::Delete, _) => {
            delete(aws, key.kind, &id, change.observed.as_ref(), ids).await?;
            Ok(None)
        }
        (Step::Create, Some(props)) => create(aws, op, props, ids).await.map(Some),
        (Step::Update, Some(props)) => {
            update(aws, key, &id, props, change.observed.as_ref(), ids).await?;
            Ok(None)
        }
        (_, None) => bail!("{key}: no desired attributes to {:?}", op.step),
    }
}

async fn create(aws: &Aws, op: &Operation, props: &Props, ids: &Ids) -> anyhow::Result<String> {
    let key = &op.change.key;
    match props {
        // No client token in AWS for the VPC, subnets, internet gateway and Elastic IPs: sent
        // once per answer, looked up by tag when an answer is lost (see `once`).
        Props::Vpc(p) => create_vpc(aws, op, p).await,
        Props::Subnet(p) => create_subnet(aws, op, p, ids).await,
        Props::InternetGateway(p) => create_internet_gateway(aws, op, p, ids).await,
        Props::ElasticIp {} => create_elastic_ip(aws, op).await,
        Props::NatGateway(p) => create_nat_gateway(aws, op, p, ids).await,
        Props::RouteTable(p) => create_route_table(aws, op, p, ids).await,
        Props::SecurityGroup(p) => create_security_group(aws, op, p, ids).await,
        Props::SecurityGroupRules(p) => create_security_group_rules(aws, p, ids).await,
        _ => bail!("{key} is not an EC2 resource"),
    }
}

/// Creates the VPC and sets its DNS attributes; its new ID.
async fn create_vpc(aws: &Aws, op: &Operation, p: &VpcProps) -> anyhow::Result<String> {
    let key = &op.change.key;
    let ec2 = &aws.ec2;
    let id = once::create(
        &aws.calls,
        |attempt| async {
            let out = ec2
                .create_vpc()
                .cidr_block(&p.cidr)
                .tag_specifications(tag_spec(aws, ResourceType::Vpc, key))
                .customize()
                .interceptor(attempt)
                .send()
                .await?;
            Ok(text(out.vpc().and_then(|v| v.vpc_id())))
        },
        || find_by_key(aws, key),
    )
    .await?
    .context("CreateVpc")?;
    let id = required(Some(id.as_str()), "CreateVpc", "VpcId")?;
    set_vpc_dns(aws, &id, p).await?;
    close_default_security_group(aws, &id).await?;
    Ok(id)
}

/// Creates the subnet; its new ID.
async fn create_subnet(
    aws: &Aws,
    op: &Operation,
    p: &SubnetProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let key = &op.change.key;
    let ec2 = &aws.ec2;
    let vpc = resolve(&p.vpc, ids)?;
    let id = once::create(
        &aws.calls,
        |attempt| async {
            let out = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(&p.cidr)
                .availability_zone(&p.availability_zone)
                .tag_specifications(tag_spec(aws, ResourceType::Subnet, key))
                .customize()
                .interceptor(attempt)
                .send()
                .await?;
            Ok(text(out.subnet().and_then(|s| s.subnet_id())))
        },
        || find_by_key(aws, key),
    )
    .await?
    .context("CreateSubnet")?;
    let id = required(Some(id.as_str()), "CreateSubnet", "SubnetId")?;
    Ok(id)
}

/// Creates the internet gateway; its new ID.
async fn create_internet_gateway(
    aws: &Aws,
    op: &Operation,
    p: &InternetGatewayProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let key = &op.change.key;
    let ec2 = &aws.ec2;
    let id = once::create(
        &aws.calls,
        |attempt| async {
            let out = ec2
                .create_internet_gateway()
                .tag_specifications(tag_spec(aws, ResourceType::InternetGateway, key))
                .customize()
                .interceptor(attempt)
                .send()
                .await?;
            Ok(text(
                out.internet_gateway().and_then(|g| g.internet_gateway_id()),
            ))
        },
        || find_by_key(aws, key),
    )
    .await?
    .context("CreateInternetGateway")?;
    let id = required(
        Some(id.as_str()),
        "CreateInternetGateway",
        "InternetGatewayId",
    )?;
    if let Some(vpc) = &p.vpc {
        attach_gateway(aws, &id, &resolve(vpc, ids)?).await?;
    }
    Ok(id)
}

/// Allocates the Elastic IP; its allocation ID.
async fn create_elastic_ip(aws: &Aws, op: &Operation) -> anyhow::Result<String> {
    let key = &op.change.key;
    let ec2 = &aws.ec2;
    let id = once::create(
        &aws.calls,
        |attempt| async {
            let out = ec2
                .allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(tag_spec(aws, ResourceType::ElasticIp, key))
                .customize()
                .interceptor(attempt)
                .send()
                .await?;
            Ok(text(out.allocation_id()))
        },
        || find_by_key(aws, key),
    )
    .await?
    .context("AllocateAddress")?;
    let id = required(Some(id.as_str()), "AllocateAddress", "AllocationId")?;
    Ok(id)
}

/// Creates the nat gateway; its new ID.
async fn create_nat_gateway(
    aws: &Aws,
    op: &Operation,
    p: &NatGatewayProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let key = &op.change.key;
    let ec2 = &aws.ec2;
    let out = ec2
        .create_nat_gateway()
        .subnet_id(resolve(&p.subnet, ids)?)
        .allocation_id(resolve(&p.allocation, ids)?)
        .client_token(&op.client_token)
        .tag_specifications(tag_spec(aws, ResourceType::Natgateway, key))
        .send()
        .await
        .context("CreateNatGateway")?;
    let id = required(
        out.nat_gateway().and_then(|n| n.nat_gateway_id()),
        "CreateNatGateway",
        "NatGatewayId",
    )?;
    wait_nat(aws, &id, "available").await?;
    Ok(id)
}

/// Creates the route table; its new ID.
async fn create_route_table(
    aws: &Aws,
    op: &Operation,
    p: &RouteTableProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let key = &op.change.key;
    let ec2 = &aws.ec2;
    let out = ec2
        .create_route_table()
        .vpc_id(resolve(&p.vpc, ids)?)
        .client_token(&op.client_token)
        .tag_specifications(tag_spec(aws, ResourceType::RouteTable, key))
        .send()
        .await
        .context("CreateRouteTable")?;
    let id = required(
        out.route_table().and_then(|t| t.route_table_id()),
        "CreateRouteTable",
        "RouteTableId",
    )?;
    let empty = RouteTableProps {
        vpc: p.vpc.clone(),
        routes: Set::default(),
        subnets: Set::default(),
    };
    sync_route_table(aws, &id, &empty, p, ids).await?;
    Ok(id)
}

/// Creates the security group; its new ID.
async fn create_security_group(
    aws: &Aws,
    op: &Operation,
    p: &SecurityGroupProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let key = &op.change.key;
    let ec2 = &aws.ec2;
    let vpc_id = resolve(&p.vpc, ids)?;
    let created = ec2
        .create_security_group()
        .group_name(&p.group_name)
        .description(&p.description)
        .vpc_id(&vpc_id)
        .tag_specifications(tag_spec(aws, ResourceType::SecurityGroup, key))
        .send()
        .await;
    let id = match created {
        Ok(out) => required(out.group_id(), "CreateSecurityGroup", "GroupId")?,
        Err(e) if e.code() == Some("InvalidGroup.Duplicate") => {
            adopt_group(aws, &vpc_id, &p.group_name, key).await?
        }
        Err(e) => return Err(e).context("CreateSecurityGroup"),
    };
    // A new group allows all egress; rules are managed by the group's rules resource,
    // which starts from nothing.
    let all = Rule {
        protocol: "-1".into(),
        from_port: -1,
        to_port: -1,
        peer: RuleSource::Cidr("0.0.0.0/0".into()),
        description: String::new(),
    };
    let revoke = ec2
        .revoke_security_group_egress()
        .group_id(&id)
        .ip_permissions(permission(&all, ids)?)
        .send()
        .await;
    tolerate(
        revoke,
        &["InvalidPermission.NotFound"],
        "RevokeSecurityGroupEgress",
    )?;
    Ok(id)
}

/// Makes the group's rules exactly the desired ones; the group's ID.
async fn create_security_group_rules(
    aws: &Aws,
    p: &SecurityGroupRulesProps,
    ids: &Ids,
) -> anyhow::Result<String> {
    let group = resolve(&p.group, ids)?;
    let empty = SecurityGroupRulesProps {
        group: p.group.clone(),
        ingress: Set::default(),
        egress: Set::default(),
    };
    sync_rules(aws, &group, &empty, p, ids).await?;
    Ok(group)
}

/// `sent`, or success when it failed with `code` and `done` finds the work done after all (a
/// retry whose first answer was lost); otherwise the error, in `operation`'s name.
async fn ok_if_done<T, E, F>(
    sent: Result<T, E>,
    code: &str,
    operation: &'static str,
    done: F,
) -> anyhow::Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    F: std::future::Future<Output = anyhow::Result<bool>>,
{
    match sent {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(code) && done.await? => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(operation)),
    }
}

/// Attaches an internet gateway to a VPC; already attached to it is success.
async fn attach_gateway(aws: &Aws, gateway: &str, vpc: &str) -> anyhow::Result<()> {
    let sent = aws
        .ec2
        .attach_internet_gateway()
        .internet_gateway_id(gateway)
        .vpc_id(vpc)
        .send()
        .await;
    ok_if_done(
        sent,
        "Resource.AlreadyAssociated",
        "AttachInternetGateway",
        async {
            let out = aws
                .ec2
                .describe_internet_gateways()
                .internet_gateway_ids(gateway)
                .send()
                .await
                .context("DescribeInternetGateways")?;
            Ok(out
                .internet_gateways()
                .iter()
                .flat_map(|g| g.attachments())
                .any(|a| a.vpc_id() == Some(vpc)))
        },
    )
    .await
}

/// The route to `destination` in table `table`, and its target (gateway or NAT gateway).
async fn route_target(aws: &Aws, table: &str, destination: &str) -> anyhow::Result<Option<String>> {
    let out = aws
        .ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .context("DescribeRouteTables")?;
    Ok(out
        .route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .find(|r| r.destination_cidr_block() == Some(destination))
        .map(|r| text(r.gateway_id().or(r.nat_gateway_id()))))
}

/// Adds a route (no client token in AWS: sent once per answer, see `once`). A route to the
/// same destination through the same target is success; through another, an error.
async fn create_route(
    aws: &Aws,
    table: &str,
    destination: &str,
    target: &str,
) -> anyhow::Result<()> {
    let is_nat = target.starts_with("nat-");
    let same = || async {
        Ok(route_target(aws, table, destination)
            .await?
            .filter(|t| t == target)
            .map(|_| ()))
    };
    let created = once::create(
        &aws.calls,
        |attempt| async move {
            let req = aws
                .ec2
                .create_route()
                .route_table_id(table)
                .destination_cidr_block(destination);
            let req = if is_nat {
                req.nat_gateway_id(target)
            } else {
                req.gateway_id(target)
            };
            req.customize().interceptor(attempt).send().await?;
            Ok(())
        },
        same,
    )
    .await?;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("RouteAlreadyExists") && same().await?.is_some() => Ok(()),
        Err(e) => Err(e).context("CreateRoute"),
    }
}

/// Associates a subnet with a route table; already associated with it is success.
async fn associate(aws: &Aws, table: &str, subnet: &str) -> anyhow::Result<()> {
    let sent = aws
        .ec2
        .associate_route_table()
        .route_table_id(table)
        .subnet_id(subnet)
        .send()
        .await;
    ok_if_done(
        sent,
        "Resource.AlreadyAssociated",
        "AssociateRouteTable",
        async {
            let out = aws
                .ec2
                .describe_route_tables()
                .route_table_ids(table)
                .send()
                .await
                .context("DescribeRouteTables")?;
            Ok(out
                .route_tables()
                .iter()
                .flat_map(|t| t.associations())
                .any(|a| a.subnet_id() == Some(subnet)))
        },
    )
    .await
}

/// A group of this name exists: adopt it only if it carries this stack's tags for `key`.
async fn adopt_group(
    aws: &Aws,
    vpc_id: &str,
    name: &str,
    key: &ResourceKey,
) -> anyhow::Result<String> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values(name).build())
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .send()
        .await
        .context("DescribeSecurityGroups")?;
    let group = out
        .security_groups()
        .first()
        .ok_or_else(|| anyhow!("security group `{name}` vanished"))?;
    if aws.tags.owner(group.tags()).as_ref() != Some(key) {
        bail!(
            "a security group named `{name}` already exists in {vpc_id} and is not {key} of this stack; rename or remove it"
        );
    }
    Ok(text(group.group_id()))
}

async fn set_vpc_dns(aws: &Aws, id: &str, p: &VpcProps) -> anyhow::Result<()> {
    // One attribute per call, support before hostnames (AWS requires it for hostnames).
    aws.ec2
        .modify_vpc_attribute()
        .vpc_id(id)
        .enable_dns_support(
            AttributeBooleanValue::builder()
                .value(p.dns_support)
                .build(),
        )
        .send()
        .await
        .context("ModifyVpcAttribute enableDnsSupport")?;
    aws.ec2
        .modify_vpc_attribute()
        .vpc_id(id)
        .enable_dns_hostnames(
            AttributeBooleanValue::builder()
                .value(p.dns_hostnames)
                .build(),
        )
        .send()
        .await
        .context("ModifyVpcAttribute enableDnsHostnames")?;
    Ok(())
}

async fn update(
    aws: &Aws,
    key: &ResourceKey,
    id: &str,
    props: &Props,
    observed: Option<&Props>,
    ids: &Ids,
) -> anyhow::Result<()> {
    match (props, observed) {
        (Props::Vpc(p), before) => {
            let dns_differs = match before {
                Some(Props::Vpc(b)) => {
                    b.dns_support != p.dns_support || b.dns_hostnames != p.dns_hostnames
                }
                _ => true,
            };
            if dns_differs {
                set_vpc_dns(aws, id, p).await?;
            }
            if p.default_security_group_rules == 0 {
                close_default_security_group(aws, id).await?;
            }
            Ok(())
        }
        (Props::InternetGateway(p), Some(Props::InternetGateway(before))) => {
            if let Some(old) = &before.vpc
                && let Ok(vpc) = resolve(old, ids)
            {
                let r = aws
                    .ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
                    .await;
                tolerate(r, GONE, "DetachInternetGateway")?;
            }
            if let Some(vpc) = &p.vpc {
                attach_gateway(aws, id, &resolve(vpc, ids)?).await?;
            }
            Ok(())
        }
        (Props::RouteTable(p), Some(Props::RouteTable(before))) => {
            sync_route_table(aws, id, before, p, ids).await
        }
        (Props::SecurityGroupRules(p), Some(Props::SecurityGroupRules(before))) => {
            sync_rules(aws, id, before, p, ids).await
        }
        // A replaced dependency with nothing observed: re-apply from scratch.
        (Props::RouteTable(p), None) => {
            let empty = RouteTableProps {
                vpc: p.vpc.clone(),
                routes: Set::default(),
                subnets: Set::default(),
            };
            sync_route_table(aws, id, &empty, p, ids).await
        }
        _ => bail!("{key}: no in-place update for this change"),
    }
}

/// Adds and removes routes and subnet associations so the table matches `want`.
async fn sync_route_table(
    aws: &Aws,
    id: &str,
    have: &RouteTableProps,
    want: &RouteTableProps,
    ids: &Ids,
) -> anyhow::Result<()> {
    let ec2 = &aws.ec2;
    for route in &want.routes {
        if have.routes.contains(route) {
            continue;
        }
        let target = resolve(&route.target, ids)?;
        let replacing = have
            .routes
            .iter()
            .any(|r| r.destination == route.destination);
        let is_nat = target.starts_with("nat-");
        if replacing {
            let mut req = ec2
                .replace_route()
                .route_table_id(id)
                .destination_cidr_block(&route.destination);
            req = if is_nat {
                req.nat_gateway_id(&target)
            } else {
                req.gateway_id(&target)
            };
            req.send().await.context("ReplaceRoute")?;
        } else {
            create_route(aws, id, &route.destination, &target).await?;
        }
    }
    for route in &have.routes {
        if !want
            .routes
            .iter()
            .any(|r| r.destination == route.destination)
        {
            let r = ec2
                .delete_route()
                .route_table_id(id)
                .destination_cidr_block(&route.destination)
                .send()
                .await;
            tolerate(r, &["InvalidRoute.NotFound"], "DeleteRoute")?;
        }
    }
    let wanted: Vec<String> = want
        .subnets
        .iter()
        .map(|s| resolve(s, ids))
        .collect::<anyhow::Result<_>>()?;
    let stale: Vec<&Ref> = have
        .subnets
        .iter()
        .filter(|s| !want.subnets.contains(s))
        .collect();
    if !stale.is_empty() {
        // Association IDs are not part of the compared attributes: read them now.
        let out = ec2
            .describe_route_tables()
            .route_table_ids(id)
            .send()
            .await
            .context("DescribeRouteTables")?;
        let stale_ids: Vec<String> = stale.iter().filter_map(|s| resolve(s, ids).ok()).collect();
        for table in out.route_tables() {
            for assoc in table.associations() {
                if assoc
                    .subnet_id()
                    .is_some_and(|s| stale_ids.iter().any(|x| x == s))
                    && let Some(assoc_id) = assoc.route_table_association_id()
                {
                    let r = ec2
                        .disassociate_route_table()
                        .association_id(assoc_id)
                        .send()
                        .await;
                    tolerate(
                        r,
                        &["InvalidAssociationID.NotFound"],
                        "DisassociateRouteTable",
                    )?;
                }
            }
        }
    }
    for (subnet, subnet_id) in want.subnets.iter().zip(&wanted) {
        if !have.subnets.contains(subnet) {
            associate(aws, id, subnet_id).await?;
        }
    }
    Ok(())
}

/// Revokes rules that should not be there and authorizes the missing ones.
async fn sync_rules(
    aws: &Aws,
    group: &str,
    have: &SecurityGroupRulesProps,
    want: &SecurityGroupRulesProps,
    ids: &Ids,
) -> anyhow::Result<()> {
    let ec2 = &aws.ec2;
    let extra = |h: &Set<Rule>, w: &Set<Rule>| {
        h.iter()
            .filter(|r| !w.contains(r))
            .cloned()
            .collect::<Vec<_>>()
    };
    let revoke_in = extra(&have.ingress, &want.ingress);
    let revoke_out = extra(&have.egress, &want.egress);
    let add_in = extra(&want.ingress, &have.ingress);
    let add_out = extra(&want.egress, &have.egress);
    let perms = |rules: &[Rule]| {
        rules
            .iter()
            .map(|r| permission(r, ids))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    if !revoke_in.is_empty() {
        let r = ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(perms(&revoke_in)?))
            .send()
            .await;
        tolerate(r, GONE, "RevokeSecurityGroupIngress")?;
    }
    if !revoke_out.is_empty() {
        let r = ec2
            .revoke_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(perms(&revoke_out)?))
            .send()
            .await;
        tolerate(r, GONE, "RevokeSecurityGroupEgress")?;
    }
    if !add_in.is_empty() {
        let r = ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(perms(&add_in)?))
            .send()
            .await;
        tolerate(
            r,
            &["InvalidPermission.Duplicate"],
            "AuthorizeSecurityGroupIngress",
        )?;
    }
    if !add_out.is_empty() {
        let r = ec2
            .authorize_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(perms(&add_out)?))
            .send()
            .await;
        tolerate(
            r,
            &["InvalidPermission.Duplicate"],
            "AuthorizeSecurityGroupEgress",
        )?;
    }
    Ok(())
}

/// Error codes meaning "already gone": a delete that meets one is done.
const GONE: &[&str] = &[
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidAllocationID.NotFound",
    "NatGatewayNotFound",
    "InvalidNatGatewayID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidPermission.NotFound",
    "Gateway.NotAttached",
];

fn gone(code: Option<&str>) -> bool {
    code.is_some_and(|c| GONE.contains(&c))
}

async fn delete(
    aws: &Aws,
    kind: Kind,
    id: &str,
    observed: Option<&Props>,
    ids: &Ids,
) -> anyhow::Result<()> {
    let ec2 = &aws.ec2;
    match kind {
        Kind::Vpc => tolerate(ec2.delete_vpc().vpc_id(id).send().await, GONE, "DeleteVpc"),
        Kind::Subnet => tolerate(
            ec2.delete_subnet().subnet_id(id).send().await,
            GONE,
            "DeleteSubnet",
        ),
        Kind::InternetGateway => {
            if let Some(Props::InternetGateway(InternetGatewayProps { vpc: Some(vpc) })) = observed
                && let Ok(vpc_id) = resolve(vpc, ids)
            {
                let r = ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc_id)
                    .send()
                    .await;
                tolerate(r, GONE, "DetachInternetGateway")?;
            }
            tolerate(
                ec2.delete_internet_gateway()
                    .internet_gateway_id(id)
                    .send()
                    .await,
                GONE,
                "DeleteInternetGateway",
            )
        }
        Kind::ElasticIp => tolerate(
            ec2.release_address().allocation_id(id).send().await,
            GONE,
            "ReleaseAddress",
        ),
        Kind::NatGateway => {
            tolerate(
                ec2.delete_nat_gateway().nat_gateway_id(id).send().await,
                GONE,
                "DeleteNatGateway",
            )?;
            // Its Elastic IP can only be released once the gateway is gone.
            wait_nat(aws, id, "deleted").await
        }
        Kind::RouteTable => {
            let out = ec2.describe_route_tables().route_table_ids(id).send().await;
            if let Ok(out) = out {
                for assoc in out.route_tables().iter().flat_map(|t| t.associations()) {
                    if let (Some(a), false) = (
                        assoc.route_table_association_id(),
                        assoc.main().unwrap_or(false),
                    ) {
                        let r = ec2
                            .disassociate_route_table()
                            .association_id(a)
                            .send()
                            .await;
                        tolerate(
                            r,
                            &["InvalidAssociationID.NotFound"],
                            "DisassociateRouteTable",
                        )?;
                    }
                }
            }
            tolerate(
                ec2.delete_route_table().route_table_id(id).send().await,
                GONE,
                "DeleteRouteTable",
            )
        }
        Kind::SecurityGroup => tolerate(
            ec2.delete_security_group().group_id(id).send().await,
            GONE,
            "DeleteSecurityGroup",
        ),
        Kind::SecurityGroupRules => {
            let Some(Props::SecurityGroupRules(have)) = observed else {
                return Ok(());
            };
            let none = SecurityGroupRulesProps {
                group: have.group.clone(),
                ingress: Set::default(),
                egress: Set::default(),
            };
            sync_rules(aws, id, have, &none, ids).await
        }
        other => bail!("{other} is not an EC2 resource"),
    }
}

async fn wait_nat(aws: &Aws, id: &str, target: &str) -> anyhow::Result<()> {
    let what = format!("nat-gateway {id}");
    wait::until(
        &aws.progress,
        &what,
        aws.wait_max(Duration::from_secs(900)),
        || async {
            let out = aws
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(id)
                .send()
                .await;
            let out = match out {
                Err(e) if target == "deleted" && gone(e.code()) => return Ok(Poll::Ready),
                other => other.context("DescribeNatGateways")?,
            };
            let Some(nat) = out.nat_gateways().first() else {
                return Ok(if target == "deleted" {
                    Poll::Ready
                } else {
                    Poll::Pending("not visible yet".into())
                });
            };
            let state = nat
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            Ok(if state == target {
                Poll::Ready
            } else if state == "failed" {
                Poll::Failed(format!(
                    "{}: {}",
                    text(nat.failure_code()),
                    text(nat.failure_message())
                ))
            } else {
                Poll::Pending(state)
            })
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{RouteTable, RouteTableAssociation};

    #[test]
    fn a_group_and_its_rules_are_two_resources_and_a_strays_rules_are_not_read() {
        use aws_sdk_ec2::types::{IpPermission, IpRange, SecurityGroup, UserIdGroupPair};
        let g = SecurityGroup::builder()
            .group_id("sg-1")
            .vpc_id("vpc-1")
            .group_name("s-db")
            .description("database")
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(3306)
                    .to_port(3306)
                    .user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id("sg-web")
                            .description("MySQL from the web fleet")
                            .build(),
                    )
                    .build(),
            )
            .ip_permissions_egress(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .build();
        let mapped = map_security_group(&g, "sg-1", ResourceKey::new(Kind::SecurityGroup, "db"));
        let keys: Vec<String> = mapped.iter().map(|r| r.key.to_string()).collect();
        assert_eq!(keys, ["security-group/db", "security-group-rules/db"]);
        let Props::SecurityGroupRules(rules) = &mapped[1].props else {
            panic!("not rules");
        };
        assert_eq!((rules.ingress.len(), rules.egress.len()), (1, 1));
        let stray = ResourceKey::new(Kind::SecurityGroup, "stray-sg-1");
        assert_eq!(map_security_group(&g, "sg-1", stray).len(), 1);
    }

    #[test]
    fn a_vpc_a_subnet_a_gateway_and_an_address_map_what_aws_said_and_mark_what_it_did_not() {
        use aws_sdk_ec2::types::{
            Address, InternetGateway, InternetGatewayAttachment, Subnet, Vpc,
        };
        let key = |kind, name: &str| ResourceKey::new(kind, name);
        let vpc = Vpc::builder()
            .vpc_id("vpc-1")
            .cidr_block("10.40.0.0/16")
            .build();
        let r = map_vpc(
            &vpc,
            "vpc-1",
            key(Kind::Vpc, "main"),
            [Some(true), None],
            None,
        );
        let Props::Vpc(p) = &r.props else {
            panic!("not a VPC")
        };
        assert_eq!((p.cidr.as_str(), p.dns_support), ("10.40.0.0/16", true));
        assert_eq!(
            r.unknown.iter().collect::<Vec<_>>(),
            ["default_security_group_rules", "dns_hostnames"]
        );

        let subnet = Subnet::builder()
            .subnet_id("subnet-1")
            .vpc_id("vpc-1")
            .cidr_block("10.40.16.0/20")
            .build();
        let r = map_subnet(&subnet, key(Kind::Subnet, "private-eu-west-1a")).expect("a subnet");
        assert_eq!(r.unknown.iter().collect::<Vec<_>>(), ["availability_zone"]);
        let Props::Subnet(p) = &r.props else {
            panic!("not a subnet")
        };
        assert_eq!(p.vpc, Ref::External("vpc-1".into()));
        assert!(map_subnet(&Subnet::builder().build(), key(Kind::Subnet, "x")).is_none());

        let attached = InternetGateway::builder()
            .internet_gateway_id("igw-1")
            .attachments(InternetGatewayAttachment::builder().vpc_id("vpc-1").build())
            .build();
        let detached = InternetGateway::builder()
            .internet_gateway_id("igw-1")
            .build();
        let vpc_of = |g| match map_internet_gateway(g, key(Kind::InternetGateway, "main"))
            .expect("a gateway")
            .props
        {
            Props::InternetGateway(p) => p.vpc,
            _ => panic!("not a gateway"),
        };
        assert_eq!(vpc_of(&attached), Some(Ref::External("vpc-1".into())));
        assert_eq!(vpc_of(&detached), None, "detached: planned as an attach");

        let address = Address::builder().allocation_id("eipalloc-1").build();
        let r = map_address(&address, key(Kind::ElasticIp, "nat-eu-west-1a")).expect("one");
        assert_eq!(r.id, "eipalloc-1");
        assert!(map_address(&Address::builder().build(), key(Kind::ElasticIp, "x")).is_none());
    }

    #[test]
    fn a_nat_gateway_without_its_address_has_it_unknown_not_empty() {
        use aws_sdk_ec2::types::{NatGateway, NatGatewayAddress};
        let key = ResourceKey::new(Kind::NatGateway, "eu-west-1a");
        let full = NatGateway::builder()
            .nat_gateway_id("nat-1")
            .subnet_id("subnet-1")
            .nat_gateway_addresses(
                NatGatewayAddress::builder()
                    .allocation_id("eipalloc-1")
                    .build(),
            )
            .build();
        let r = map_nat_gateway(&full, key.clone()).expect("a gateway");
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let pending = NatGateway::builder()
            .nat_gateway_id("nat-1")
            .subnet_id("subnet-1")
            .build();
        let r = map_nat_gateway(&pending, key).expect("a gateway");
        assert_eq!(r.unknown.into_iter().collect::<Vec<_>>(), ["allocation"]);
    }

    #[test]
    fn a_route_table_keeps_its_gateway_routes_and_explicit_associations_only() {
        let table = RouteTable::builder()
            .vpc_id("vpc-1")
            .routes(
                aws_sdk_ec2::types::Route::builder()
                    .destination_cidr_block("10.40.0.0/16")
                    .gateway_id("local")
                    .build(),
            )
            .routes(
                aws_sdk_ec2::types::Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .nat_gateway_id("nat-1")
                    .build(),
            )
            .associations(RouteTableAssociation::builder().main(true).build())
            .associations(
                RouteTableAssociation::builder()
                    .main(false)
                    .subnet_id("subnet-2")
                    .build(),
            )
            .associations(
                RouteTableAssociation::builder()
                    .main(false)
                    .subnet_id("subnet-1")
                    .build(),
            )
            .build();
        let Props::RouteTable(p) = map_route_table(&table) else {
            panic!("not a route table");
        };
        assert_eq!(
            p.routes,
            Set::new([Route {
                destination: "0.0.0.0/0".into(),
                target: Ref::External("nat-1".into()),
            }])
        );
        // The associations in any order are the same set.
        assert_eq!(
            p.subnets,
            Set::new([
                Ref::External("subnet-1".into()),
                Ref::External("subnet-2".into())
            ])
        );
    }
}

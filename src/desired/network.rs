//! The network: a VPC the stack creates (public and private subnets per AZ, internet gateway,
//! NAT gateways per AZ or one, route tables), or the adopted VPC and subnets it only refers to.

use super::{Facts, Part};
use crate::model::{
    FlowLogProps, IamRoleProps, InternetGatewayProps, Kind, NatGatewayProps, Props, Ref, Route,
    RouteTableProps, Set, SubnetProps, VpcProps,
};
use crate::spec::{CreateNetwork, ExistingNetwork, NatGateways, Spec};

/// The network the rest of the stack is placed in.
pub(super) struct Network {
    /// The VPC.
    pub vpc: Ref,
    /// Private subnets, with their AZs.
    pub private: Vec<(String, Ref)>,
    /// Public subnets.
    pub public: Vec<Ref>,
}

/// The network's resources (none for an adopted VPC) and where the stack goes.
pub(super) fn network(spec: &Spec, facts: &Facts) -> (Network, Part) {
    if let Some(net) = &spec.network.create {
        let (network, mut out) = created(net);
        out.extend(flow_logs(spec, &network.vpc));
        (network, out)
    } else if let Some(net) = &spec.network.existing {
        (adopted(net, facts), Part::default())
    } else {
        let nowhere = Network {
            vpc: Ref::External(String::new()),
            private: Vec::new(),
            public: Vec::new(),
        };
        (nowhere, Part::default())
    }
}

/// A VPC the stack creates: the VPC, its internet gateway, a public and a private subnet per
/// AZ, and the routes out (see [`routes`]).
fn created(net: &CreateNetwork) -> (Network, Part) {
    let mut out = Part::default();
    let vpc = Ref::to(Kind::Vpc, "main");
    out.add(
        Kind::Vpc,
        "main",
        Props::Vpc(VpcProps {
            cidr: net.cidr.clone(),
            dns_support: true,
            dns_hostnames: true,
            default_security_group_rules: 0,
        }),
    );
    out.add(
        Kind::InternetGateway,
        "main",
        Props::InternetGateway(InternetGatewayProps {
            vpc: Some(vpc.clone()),
        }),
    );
    let mut private = Vec::new();
    let mut public = Vec::new();
    for (i, az) in net.availability_zones.iter().enumerate() {
        for (tier, cidrs) in [
            ("public", &net.public_subnet_cidrs),
            ("private", &net.private_subnet_cidrs),
        ] {
            let Some(cidr) = cidrs.get(i) else { continue };
            let name = format!("{tier}-{az}");
            out.add(
                Kind::Subnet,
                &name,
                Props::Subnet(SubnetProps {
                    vpc: vpc.clone(),
                    cidr: cidr.clone(),
                    availability_zone: az.clone(),
                }),
            );
            let subnet = Ref::to(Kind::Subnet, &name);
            if tier == "public" {
                public.push(subnet)
            } else {
                private.push((az.clone(), subnet))
            }
        }
    }
    out.extend(routes(net, &vpc, &public, &private));
    let network = Network {
        vpc,
        private,
        public,
    };
    (network, out)
}

/// The flow log of the VPC the stack created (every accepted and rejected connection, in
/// one-minute records) to a log group with the spec's retention, delivered by a role that may
/// only write to that group.
fn flow_logs(spec: &Spec, vpc: &Ref) -> Part {
    let mut out = Part::default();
    let stack = &spec.name;
    let group_name = crate::names::Names::of(stack).flow_log_group();
    let log_group = super::logs::log_group(&mut out, spec, "vpc-flow-logs", group_name.clone());
    let account = spec.account_id().unwrap_or("*");
    let group_arn = format!(
        "arn:aws:logs:{}:{account}:log-group:{group_name}",
        spec.region
    );
    out.add(
        Kind::IamRole,
        "flow-logs",
        Props::IamRole(IamRoleProps {
            name: format!("{stack}-flow-logs-role"),
            path: format!("/moodle-ha/{stack}/"),
            description: format!("moodle-ha {stack}: VPC flow logs delivery"),
            assume_role_policy: super::service_trust_policy(
                "vpc-flow-logs.amazonaws.com",
                spec.account_id(),
                Some(format!(
                    "arn:aws:ec2:{}:{account}:vpc-flow-log/*",
                    spec.region
                )),
            )
            .into(),
            managed_policies: Set::default(),
            inline_policy: serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "WriteTheStacksFlowLogGroup",
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams"
                    ],
                    "Resource": [group_arn.clone(), format!("{group_arn}:*")]
                }]
            })
            .into(),
        }),
    );
    out.add(
        Kind::FlowLog,
        "main",
        Props::FlowLog(FlowLogProps {
            vpc: vpc.clone(),
            traffic_type: "ALL".into(),
            log_group_name: group_name,
            role: Ref::to(Kind::IamRole, "flow-logs"),
            max_aggregation_interval: 60,
            log_group: Some(log_group),
        }),
    );
    out
}

/// The way out: NAT gateways (per AZ, or one) with their Elastic IPs, the public route table
/// to the internet gateway and one private route table per AZ to its AZ's NAT gateway (or the
/// single one).
fn routes(net: &CreateNetwork, vpc: &Ref, public: &[Ref], private: &[(String, Ref)]) -> Part {
    let mut out = Part::default();
    let nat_azs: Vec<&String> = match net.nat_gateways {
        NatGateways::PerAz => net.availability_zones.iter().collect(),
        NatGateways::Single => net.availability_zones.iter().take(1).collect(),
    };
    for az in &nat_azs {
        out.add(Kind::ElasticIp, &format!("nat-{az}"), Props::ElasticIp {});
        out.add(
            Kind::NatGateway,
            az,
            Props::NatGateway(NatGatewayProps {
                subnet: Ref::to(Kind::Subnet, format!("public-{az}")),
                allocation: Ref::to(Kind::ElasticIp, format!("nat-{az}")),
            }),
        );
    }
    out.add(
        Kind::RouteTable,
        "public",
        Props::RouteTable(RouteTableProps {
            vpc: vpc.clone(),
            routes: Set::new([Route {
                destination: "0.0.0.0/0".into(),
                target: Ref::to(Kind::InternetGateway, "main"),
            }]),
            subnets: Set::new(public.iter().cloned()),
        }),
    );
    for (az, subnet) in private {
        let nat_az = if nat_azs.contains(&az) {
            az.as_str()
        } else {
            nat_azs.first().map_or(az.as_str(), |a| a.as_str())
        };
        out.add(
            Kind::RouteTable,
            &format!("private-{az}"),
            Props::RouteTable(RouteTableProps {
                vpc: vpc.clone(),
                routes: Set::new([Route {
                    destination: "0.0.0.0/0".into(),
                    target: Ref::to(Kind::NatGateway, nat_az),
                }]),
                subnets: Set::new([subnet.clone()]),
            }),
        );
    }
    out
}

/// An adopted VPC and subnets: only referred to (their AZs as AWS reported them).
fn adopted(net: &ExistingNetwork, facts: &Facts) -> Network {
    let private = net
        .private_subnets
        .iter()
        .filter_map(|id| {
            facts
                .subnets
                .get(id)
                .map(|s| (s.availability_zone.clone(), Ref::External(id.clone())))
        })
        .collect();
    let public = net
        .public_subnets
        .iter()
        .map(|id| Ref::External(id.clone()))
        .collect();
    Network {
        vpc: Ref::External(net.vpc_id.clone()),
        private,
        public,
    }
}

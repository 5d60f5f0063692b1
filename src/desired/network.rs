//! The network: a VPC the stack creates (public and private subnets per AZ, internet gateway,
//! NAT gateways per AZ or one, route tables), or the adopted VPC and subnets it only refers to.

use super::{Facts, Part};
use crate::model::{
    InternetGatewayProps, Kind, NatGatewayProps, Props, Ref, Route, RouteTableProps, Set,
    SubnetProps, VpcProps,
};
use crate::spec::{NatGateways, Spec};

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
    let mut out = Part::default();
    let (vpc, private, public): (Ref, Vec<(String, Ref)>, Vec<Ref>) =
        if let Some(net) = &spec.network.create {
            let vpc = Ref::to(Kind::Vpc, "main");
            out.add(
                Kind::Vpc,
                "main",
                Props::Vpc(VpcProps {
                    cidr: net.cidr.clone(),
                    dns_support: true,
                    dns_hostnames: true,
                }),
            );
            let igw = Ref::to(Kind::InternetGateway, "main");
            out.add(
                Kind::InternetGateway,
                "main",
                Props::InternetGateway(InternetGatewayProps {
                    vpc: Some(vpc.clone()),
                }),
            );
            let mut private = Vec::new();
            let mut public_subnets = Vec::new();
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
                        public_subnets.push(subnet)
                    } else {
                        private.push((az.clone(), subnet))
                    }
                }
            }
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
                        target: igw,
                    }]),
                    subnets: Set::new(public_subnets.iter().cloned()),
                }),
            );
            for (az, subnet) in &private {
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
            (vpc, private, public_subnets)
        } else if let Some(net) = &spec.network.existing {
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
            (Ref::External(net.vpc_id.clone()), private, public)
        } else {
            (Ref::External(String::new()), Vec::new(), Vec::new())
        };

    (
        Network {
            vpc,
            private,
            public,
        },
        out,
    )
}

//! Rules of `network`: either an adopted VPC with its subnets, or a new VPC whose CIDR,
//! availability zones and subnet CIDRs fit together.

use super::Checker;
use crate::spec::{CreateNetwork, ExistingNetwork, Network, Spec};
use ipnet::Ipv4Net;

re!(VPC_ID, r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$");
re!(SUBNET_ID, r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$");

impl Checker<'_> {
    /// `network`: exactly one of `existing` and `create`, then that one's rules.
    pub(super) fn network(&mut self, spec: &Spec) {
        let Network { existing, create } = &spec.network;
        match (existing, create) {
            (Some(_), Some(_)) => {
                self.err("network", "set either `existing` or `create`, not both")
            }
            (None, None) => self.err(
                "network",
                "set `existing` (adopt a VPC and subnets) or `create` (a new VPC)",
            ),
            _ => {}
        }
        if let Some(net) = existing {
            self.existing_network(net);
        }
        if let Some(net) = create {
            let vpc = self.vpc_cidr(net);
            self.availability_zones(net, &spec.region);
            self.subnet_cidrs(net, vpc);
        }
    }

    /// `network.existing`: a VPC ID, two or more well-formed, distinct public and private
    /// subnets, none of them both.
    fn existing_network(&mut self, net: &ExistingNetwork) {
        self.pattern(
            "network.existing.vpc_id",
            &net.vpc_id,
            &VPC_ID,
            "a VPC ID (`vpc-` and 8 or 17 hex digits)",
        );
        for (name, list) in [
            ("public_subnets", &net.public_subnets),
            ("private_subnets", &net.private_subnets),
        ] {
            let base = format!("network.existing.{name}");
            if list.len() < 2 {
                self.err(
                    &base,
                    format!("HA needs subnets in two or more AZs, got {}", list.len()),
                );
            }
            for (i, id) in list.iter().enumerate() {
                self.pattern(
                    &format!("{base}[{i}]"),
                    id,
                    &SUBNET_ID,
                    "a subnet ID (`subnet-` and 8 or 17 hex digits)",
                );
            }
            self.unique(&base, list, "subnet ID");
        }
        for (i, id) in net.private_subnets.iter().enumerate() {
            if net.public_subnets.contains(id) {
                self.err(
                    &format!("network.existing.private_subnets[{i}]"),
                    format!("`{id}` is also listed as a public subnet"),
                );
            }
        }
    }

    /// `network.create.cidr`: an IPv4 block without host bits, /16 to /24. Returns it when
    /// usable, for the subnets' containment check.
    fn vpc_cidr(&mut self, net: &CreateNetwork) -> Option<Ipv4Net> {
        match net.cidr.parse::<Ipv4Net>() {
            Ok(cidr) if cidr != cidr.trunc() => {
                self.err(
                    "network.create.cidr",
                    format!(
                        "`{}` has host bits set; did you mean `{}`?",
                        net.cidr,
                        cidr.trunc()
                    ),
                );
                None
            }
            Ok(cidr) if !(16..=24).contains(&cidr.prefix_len()) => {
                self.err(
                    "network.create.cidr",
                    format!("a VPC CIDR must be /16 to /24, got /{}", cidr.prefix_len()),
                );
                None
            }
            Ok(cidr) => Some(cidr),
            Err(_) => {
                self.err(
                    "network.create.cidr",
                    format!(
                        "`{}` is not an IPv4 CIDR block (e.g. `10.0.0.0/16`)",
                        net.cidr
                    ),
                );
                None
            }
        }
    }

    /// `network.create.availability_zones`: two or more distinct zones of the stack's region.
    fn availability_zones(&mut self, net: &CreateNetwork, region: &str) {
        let azs = &net.availability_zones;
        if azs.len() < 2 {
            self.err(
                "network.create.availability_zones",
                format!("HA needs two or more availability zones, got {}", azs.len()),
            );
        }
        for (i, az) in azs.iter().enumerate() {
            let suffix = az.strip_prefix(region);
            if !matches!(suffix, Some(s) if s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase()))
            {
                self.err(
                    &format!("network.create.availability_zones[{i}]"),
                    format!("`{az}` is not an availability zone of `{region}`"),
                );
            }
        }
        self.unique(
            "network.create.availability_zones",
            azs,
            "availability zone",
        );
    }

    /// `network.create.{public,private}_subnet_cidrs`: one per zone, each inside the VPC and
    /// overlapping no subnet listed before it.
    fn subnet_cidrs(&mut self, net: &CreateNetwork, vpc: Option<Ipv4Net>) {
        let azs = &net.availability_zones;
        let mut subnets: Vec<(String, Ipv4Net)> = Vec::new();
        for (name, list) in [
            ("public_subnet_cidrs", &net.public_subnet_cidrs),
            ("private_subnet_cidrs", &net.private_subnet_cidrs),
        ] {
            let base = format!("network.create.{name}");
            if list.len() != azs.len() {
                self.err(
                    &base,
                    format!(
                        "one CIDR per availability zone: {} zones, {} CIDRs",
                        azs.len(),
                        list.len()
                    ),
                );
            }
            for (i, text) in list.iter().enumerate() {
                self.subnet_cidr(format!("{base}[{i}]"), text, vpc, &mut subnets);
            }
        }
    }

    /// One subnet CIDR: well-formed, /16 to /28, inside the VPC, overlapping none of
    /// `subnets` (the ones checked before it, to which it is then added).
    fn subnet_cidr(
        &mut self,
        path: String,
        text: &str,
        vpc: Option<Ipv4Net>,
        subnets: &mut Vec<(String, Ipv4Net)>,
    ) {
        match text.parse::<Ipv4Net>() {
            Ok(cidr) if cidr != cidr.trunc() => self.err(
                &path,
                format!(
                    "`{text}` has host bits set; did you mean `{}`?",
                    cidr.trunc()
                ),
            ),
            Ok(cidr) if !(16..=28).contains(&cidr.prefix_len()) => self.err(
                &path,
                format!(
                    "a subnet CIDR must be /16 to /28, got /{}",
                    cidr.prefix_len()
                ),
            ),
            Ok(cidr) => {
                if let Some(vpc) = vpc
                    && !vpc.contains(&cidr)
                {
                    self.err(&path, format!("`{text}` is not inside the VPC's `{vpc}`"));
                }
                if let Some((other, _)) = subnets
                    .iter()
                    .find(|(_, o)| o.contains(&cidr) || cidr.contains(o))
                {
                    self.err(&path, format!("`{text}` overlaps {other}"));
                }
                subnets.push((path, cidr));
            }
            Err(_) => self.err(
                &path,
                format!("`{text}` is not an IPv4 CIDR block (e.g. `10.0.1.0/24`)"),
            ),
        }
    }
}

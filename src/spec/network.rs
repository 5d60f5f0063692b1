//! The `network` section: adopt an existing VPC and subnets, or create them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the stack runs. Exactly one of `existing` and `create` is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Adopt a VPC and subnets that already exist; they are never modified or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingNetwork>,
    /// Create a VPC with public and private subnets in each listed AZ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreateNetwork>,
}

/// An existing VPC and its subnets, by ID.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingNetwork {
    /// The VPC, e.g. `vpc-0123456789abcdef0`.
    pub vpc_id: String,
    /// Public subnets (load balancer), in two or more AZs.
    pub public_subnets: Vec<String>,
    /// Private subnets (web fleet, cron, database, cache, file system), in two or more AZs.
    pub private_subnets: Vec<String>,
}

/// A VPC that the stack creates and owns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNetwork {
    /// The VPC's IPv4 CIDR block, /16 to /24.
    pub cidr: String,
    /// Availability zones, two or more, in the stack's region.
    pub availability_zones: Vec<String>,
    /// One public subnet CIDR per availability zone, in the same order.
    pub public_subnet_cidrs: Vec<String>,
    /// One private subnet CIDR per availability zone, in the same order.
    pub private_subnet_cidrs: Vec<String>,
    /// NAT gateways for the private subnets' outbound traffic.
    #[serde(default)]
    pub nat_gateways: NatGateways,
}

/// How many NAT gateways the created network gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NatGateways {
    /// One per AZ: an AZ outage does not cut the others off (the HA default).
    #[default]
    PerAz,
    /// One, in the first AZ: cheaper, but a single point of failure for outbound traffic.
    Single,
}

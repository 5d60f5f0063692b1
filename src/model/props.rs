//! The managed attributes of each kind of resource. The desired state and the observed state
//! use the same structs, so the planner compares like with like, field by field.

use super::{Kind, Ref, ResourceKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Managed attributes of one resource. A field that is `null` in the desired state means
/// "not managed" (AWS's value is accepted, never reported as drift).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Props {
    /// See [`VpcProps`].
    Vpc(VpcProps),
    /// See [`SubnetProps`].
    Subnet(SubnetProps),
    /// See [`InternetGatewayProps`].
    InternetGateway(InternetGatewayProps),
    /// An Elastic IP has no managed attributes beyond its tags.
    ElasticIp {},
    /// See [`NatGatewayProps`].
    NatGateway(NatGatewayProps),
    /// See [`RouteTableProps`].
    RouteTable(RouteTableProps),
    /// See [`SecurityGroupProps`].
    SecurityGroup(SecurityGroupProps),
    /// See [`SecurityGroupRulesProps`].
    SecurityGroupRules(SecurityGroupRulesProps),
    /// See [`FileSystemProps`].
    FileSystem(FileSystemProps),
    /// See [`MountTargetProps`].
    MountTarget(MountTargetProps),
}

/// A VPC the stack created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VpcProps {
    /// IPv4 CIDR block.
    pub cidr: String,
    /// `enableDnsSupport` (EFS mount by DNS name needs it).
    pub dns_support: bool,
    /// `enableDnsHostnames`.
    pub dns_hostnames: bool,
}

/// A subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubnetProps {
    /// Its VPC.
    pub vpc: Ref,
    /// IPv4 CIDR block.
    pub cidr: String,
    /// Availability zone.
    pub availability_zone: String,
}

/// An internet gateway and the VPC it is attached to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InternetGatewayProps {
    /// The attached VPC, if any.
    pub vpc: Option<Ref>,
}

/// A NAT gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NatGatewayProps {
    /// The public subnet it lives in.
    pub subnet: Ref,
    /// Its Elastic IP.
    pub allocation: Ref,
}

/// A route: destination CIDR to a gateway.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    /// Destination CIDR, e.g. `0.0.0.0/0`.
    pub destination: String,
    /// Internet or NAT gateway.
    pub target: Ref,
}

/// A route table, its non-local routes and its subnet associations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteTableProps {
    /// Its VPC.
    pub vpc: Ref,
    /// Routes other than the VPC's local route, sorted.
    pub routes: Vec<Route>,
    /// Associated subnets, sorted.
    pub subnets: Vec<Ref>,
}

/// A security group (its rules are a separate resource, so groups can refer to each other
/// without a dependency cycle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupProps {
    /// Its VPC.
    pub vpc: Ref,
    /// The group name, `<stack>-<role>`.
    pub group_name: String,
    /// The description (AWS cannot change it in place).
    pub description: String,
}

/// Where a rule's traffic comes from (ingress) or goes to (egress).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// An IPv4 or IPv6 CIDR block.
    Cidr(String),
    /// Another security group.
    Group(Ref),
    /// A managed prefix list (never desired; seen when added outside moodle-ha).
    PrefixList(String),
}

/// One security group rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    /// `tcp`, `udp` or `-1` (all).
    pub protocol: String,
    /// First port (-1 for all protocols).
    pub from_port: i32,
    /// Last port (-1 for all protocols).
    pub to_port: i32,
    /// Peer.
    pub peer: RuleSource,
    /// Why the rule exists.
    pub description: String,
}

/// The complete ingress and egress rules of one security group: anything else is removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRulesProps {
    /// The group.
    pub group: Ref,
    /// Ingress rules, sorted.
    pub ingress: Vec<Rule>,
    /// Egress rules, sorted.
    pub egress: Vec<Rule>,
}

/// The EFS file system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSystemProps {
    /// Encrypted at rest.
    pub encrypted: bool,
    /// KMS key; `None` in the desired state accepts the AWS managed key.
    pub kms_key_id: Option<String>,
    /// `generalPurpose` or `maxIO`.
    pub performance_mode: String,
    /// `elastic`, `bursting` or `provisioned`.
    pub throughput_mode: String,
    /// MiB/s with `provisioned`.
    pub provisioned_throughput_mibps: Option<f64>,
    /// Lifecycle transition to Infrequent Access, `NONE` when there is none.
    pub transition_to_ia: String,
    /// Lifecycle transition back to Standard, `NONE` when there is none.
    pub transition_to_primary_storage_class: String,
    /// Automatic backups.
    pub backup: bool,
}

/// An EFS mount target in one AZ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MountTargetProps {
    /// The file system.
    pub file_system: Ref,
    /// The private subnet.
    pub subnet: Ref,
    /// Security groups, sorted.
    pub security_groups: Vec<Ref>,
}

impl Props {
    /// The kind of resource these attributes describe.
    pub fn kind(&self) -> Kind {
        match self {
            Props::Vpc(_) => Kind::Vpc,
            Props::Subnet(_) => Kind::Subnet,
            Props::InternetGateway(_) => Kind::InternetGateway,
            Props::ElasticIp {} => Kind::ElasticIp,
            Props::NatGateway(_) => Kind::NatGateway,
            Props::RouteTable(_) => Kind::RouteTable,
            Props::SecurityGroup(_) => Kind::SecurityGroup,
            Props::SecurityGroupRules(_) => Kind::SecurityGroupRules,
            Props::FileSystem(_) => Kind::FileSystem,
            Props::MountTarget(_) => Kind::MountTarget,
        }
    }

    /// Top-level attributes by name, as JSON values (the unit of field-level diffs).
    pub fn fields(&self) -> BTreeMap<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.into_iter().filter(|(k, _)| k != "kind").collect(),
            _ => BTreeMap::new(),
        }
    }

    /// Every reference this resource holds, for rewriting (see [`Props::map_refs`]).
    fn refs_mut(&mut self) -> Vec<&mut Ref> {
        match self {
            Props::Vpc(_) | Props::ElasticIp {} | Props::FileSystem(_) => vec![],
            Props::Subnet(p) => vec![&mut p.vpc],
            Props::InternetGateway(p) => p.vpc.iter_mut().collect(),
            Props::NatGateway(p) => vec![&mut p.subnet, &mut p.allocation],
            Props::RouteTable(p) => {
                let mut refs = vec![&mut p.vpc];
                refs.extend(p.routes.iter_mut().map(|r| &mut r.target));
                refs.extend(p.subnets.iter_mut());
                refs
            }
            Props::SecurityGroup(p) => vec![&mut p.vpc],
            Props::SecurityGroupRules(p) => {
                let mut refs = vec![&mut p.group];
                for rule in p.ingress.iter_mut().chain(p.egress.iter_mut()) {
                    if let RuleSource::Group(r) = &mut rule.peer {
                        refs.push(r);
                    }
                }
                refs
            }
            Props::MountTarget(p) => {
                let mut refs = vec![&mut p.file_system, &mut p.subnet];
                refs.extend(p.security_groups.iter_mut());
                refs
            }
        }
    }

    /// The managed resources this one refers to: it is created after them and deleted
    /// before them.
    pub fn dependencies(&self) -> Vec<ResourceKey> {
        let mut copy = self.clone();
        let mut keys: Vec<ResourceKey> = copy
            .refs_mut()
            .into_iter()
            .filter_map(|r| match r {
                Ref::Managed { key } => Some(key.clone()),
                Ref::External(_) => None,
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Rewrites every reference with `f`, then restores canonical order of sorted lists
    /// (used to turn observed AWS IDs into keys).
    pub fn map_refs(&mut self, f: impl Fn(&Ref) -> Ref) {
        for r in self.refs_mut() {
            *r = f(r);
        }
        self.normalize();
    }

    /// Sorts the list-valued attributes, so equal sets compare equal.
    pub fn normalize(&mut self) {
        match self {
            Props::RouteTable(p) => {
                p.routes.sort();
                p.routes.dedup();
                p.subnets.sort();
                p.subnets.dedup();
            }
            Props::SecurityGroupRules(p) => {
                p.ingress.sort();
                p.ingress.dedup();
                p.egress.sort();
                p.egress.dedup();
            }
            Props::MountTarget(p) => {
                p.security_groups.sort();
                p.security_groups.dedup();
            }
            _ => {}
        }
    }
}

//! The resource model shared by the desired state, the observed state and the plan: what a
//! resource is ([`ResourceKey`]), how resources refer to each other ([`Ref`]) and the managed
//! attributes of each kind ([`Props`]), and whether a list's order means anything ([`Set`],
//! [`Seq`]).

mod key;
mod policy;
mod props;
mod set;

pub use key::{Kind, ResourceKey};
pub use policy::Policy;
pub use props::{
    AutoScalingGroupProps, BucketProps, DbClusterProps, DbInstanceProps, DbParameterGroupProps,
    FileSystemProps, FlowLogProps, IamRoleProps, InstanceProfileProps, InstanceProps,
    InternetGatewayProps, LaunchTemplateProps, ListenerAction, ListenerProps, LoadBalancerProps,
    LogGroupProps, ManagedRuleGroup, MountTargetProps, NatGatewayProps, Props, ReleaseProps,
    ReplicationGroupProps, Route, RouteTableProps, Rule, RuleSource, STATIC_DB_PARAMETERS,
    ScalingPolicyProps, ScheduledActionProps, SecretProps, SecurityGroupProps,
    SecurityGroupRulesProps, SubnetGroupProps, SubnetProps, TargetGroupProps, VpcProps,
    WebAclProps,
};
pub use set::{Seq, Set};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A reference from one resource to another: to one the stack manages (resolved to its AWS ID
/// when it exists) or to an AWS ID outside the stack (an adopted VPC or subnet).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ref {
    /// A resource of this stack.
    Managed {
        /// Its key.
        #[serde(rename = "ref")]
        key: ResourceKey,
    },
    /// An AWS ID not managed by this stack.
    External(String),
}

impl Ref {
    /// A reference to a managed resource.
    pub fn to(kind: Kind, name: impl Into<String>) -> Self {
        Ref::Managed {
            key: ResourceKey::new(kind, name),
        }
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Managed { key } => write!(f, "{key}"),
            Ref::External(id) => write!(f, "{id}"),
        }
    }
}

//! The `secrets` section: who, besides the nodes that need them, may use the stack's secrets
//! (their resource policies deny everyone else).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The stack's Secrets Manager secrets (`admin`, `db-user`, `redis-auth`). Each carries a
/// resource policy that denies every principal but the node roles that read it and the
/// operators named here, so an operator the list leaves out cannot read, change or delete them,
/// even with `secretsmanager:*` in their own policies. The identity that runs `apply` is
/// always let in (it would otherwise lock itself out); a different identity applying later
/// puts itself in its place, so list every role or user that applies the stack or reads a
/// password by hand.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// ARNs of the IAM roles and users (in the stack's account, with their path, no
    /// wildcard: `aws:PrincipalArn` is compared exactly) that may read and manage the stack's
    /// secrets, e.g. `arn:aws:iam::123456789012:role/operators/moodle-admin`. A session's ARN
    /// (`arn:aws:sts::…:assumed-role/…`) is not one: name its role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub administrators: Vec<String>,
}

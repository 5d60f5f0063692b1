//! The resource policies of the stack's secrets: only the node roles that read a secret, the
//! operators the spec names and the identity that applies may use it; the node roles may only
//! read it. Prowler's `secretsmanager_has_restrictive_resource_policy` asks for exactly this
//! shape: a `Deny` of `secretsmanager:*` to every principal whose `aws:PrincipalArn` is not
//! listed (`StringNotEquals`, no other condition), role and user ARNs without wildcards.
//!
//! Why a `Deny` and no `Allow`: in the stack's own account an identity policy already grants
//! (the node roles' policies name the secrets they read); the resource policy only takes away.
//! `aws:PrincipalArn` is compared as text, so the roles need not exist when the policy is put,
//! and a role deleted and made again keeps its access (a `Principal` element would have been
//! turned into the old role's unique ID). It reads a role session as the role's ARN *with its
//! path* (`…:role/moodle-ha/<stack>/<stack>-web-role`), which is how every ARN here is written.

use super::Facts;
use super::node_role::node_role_arn;
use super::web::WEB_NODE_SECRETS;
use crate::model::Policy;
use crate::spec::Spec;
use serde_json::{Value, json};

/// What the node roles may do with a secret they read: nothing else.
const READ: &[&str] = &[
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
];

/// The resource policy of a secret that `readers` (node role ARNs) read and `administrators`
/// (operators, the identity that applies) manage: everyone else is denied every action on it,
/// and a reader that is not also an administrator is denied everything but reading. In
/// [`normal_form`].
pub fn secret_policy(readers: &[String], administrators: &[String]) -> Policy {
    let mut allowed: Vec<&String> = readers.iter().chain(administrators).collect();
    allowed.sort();
    allowed.dedup();
    let only_readers: Vec<&String> = readers
        .iter()
        .filter(|r| !administrators.contains(r))
        .collect();
    let mut statements = vec![json!({
        "Sid": "OnlyItsNodesAndOperators",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "secretsmanager:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalArn": allowed}}
    })];
    if !only_readers.is_empty() {
        statements.push(json!({
            "Sid": "NodesOnlyRead",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "NotAction": READ,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalArn": only_readers}}
        }));
    }
    Policy::new(normal_form(
        json!({"Version": "2012-10-17", "Statement": statements}),
    ))
}

/// The policy of the stack's secret `secret` (`admin`, `db-user`, `redis-auth`): read by the
/// cron role (its installer uses all three) and, for [`WEB_NODE_SECRETS`], the web nodes' role
/// (the stack's, or the role of the spec's own instance profile); managed by
/// `secrets.administrators` and the identity that applies.
pub(super) fn policy_of(spec: &Spec, facts: &Facts, secret: &str) -> Policy {
    let account = facts.account.as_deref().unwrap_or_default();
    let role = |node: &str| node_role_arn(&spec.region, account, &spec.name, node);
    let mut readers = vec![role("cron")];
    if WEB_NODE_SECRETS.contains(&secret) {
        match &spec.web.instance_profile {
            None => readers.push(role("web")),
            Some(_) => readers.extend(facts.web_profile_role.clone()),
        }
    }
    let mut administrators = spec.secrets.administrators.clone();
    administrators.extend(facts.caller.clone());
    secret_policy(&readers, &administrators)
}

/// The role name of an assumed-role session's ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`,
/// as STS GetCallerIdentity answers for one), whose `aws:PrincipalArn` is the role's ARN with
/// its path, which the session's ARN does not say; `None` for any other ARN (an IAM user's or
/// the root's ARN is already its `aws:PrincipalArn`). Pure.
pub fn session_role(caller: &str) -> Option<&str> {
    let (head, rest) = caller.split_once(":assumed-role/")?;
    let is_sts = head.split(':').nth(2) == Some("sts");
    let (role, _session) = rest.split_once('/')?;
    (is_sts && !role.is_empty()).then_some(role)
}

/// A policy document with every one-item list written as its item (statements excepted), as
/// some AWS services write a policy back: the desired and the observed policy are compared in
/// this form, so either spelling is the same policy. Pure.
pub fn normal_form(doc: Value) -> Value {
    fn walk(v: Value, key: &str) -> Value {
        match v {
            Value::Array(items) if items.len() == 1 && key != "Statement" => items
                .into_iter()
                .map(|i| walk(i, ""))
                .next()
                .unwrap_or(Value::Null),
            Value::Array(items) => Value::Array(items.into_iter().map(|i| walk(i, "")).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = walk(v, &k);
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    walk(doc, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRON: &str = "arn:aws:iam::123456789012:role/moodle-ha/s/s-cron-role";
    const WEB: &str = "arn:aws:iam::123456789012:role/moodle-ha/s/s-web-role";
    const OPERATOR: &str = "arn:aws:iam::123456789012:role/operators/moodle-admin";

    fn statement(policy: &Policy, sid: &str) -> Value {
        policy.canonical()["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn everyone_but_the_readers_and_operators_is_denied_and_readers_only_read() {
        let p = secret_policy(&[CRON.into(), WEB.into()], &[OPERATOR.into()]);
        let all = statement(&p, "OnlyItsNodesAndOperators");
        assert_eq!(all["Effect"], "Deny");
        assert_eq!(all["Principal"], json!({"AWS": "*"}));
        assert_eq!(all["Action"], "secretsmanager:*");
        assert_eq!(all["Resource"], "*");
        assert_eq!(
            all["Condition"],
            json!({"StringNotEquals": {"aws:PrincipalArn": [CRON, WEB, OPERATOR]}})
        );
        let read = statement(&p, "NodesOnlyRead");
        assert_eq!(
            read["NotAction"],
            json!([
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue"
            ])
        );
        assert_eq!(
            read["Condition"],
            json!({"StringEquals": {"aws:PrincipalArn": [CRON, WEB]}})
        );
        // Nothing is allowed by the policy itself (no public or cross-account grant).
        assert!(
            p.canonical()["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|s| s["Effect"] == "Deny")
        );
    }

    #[test]
    fn a_reader_that_is_also_an_operator_keeps_every_action() {
        let p = secret_policy(&[CRON.into()], &[CRON.into()]);
        assert_eq!(
            statement(&p, "OnlyItsNodesAndOperators")["Condition"]["StringNotEquals"]["aws:PrincipalArn"],
            CRON
        );
        assert_eq!(statement(&p, "NodesOnlyRead"), Value::Null);
    }

    #[test]
    fn each_secret_lets_in_only_the_nodes_that_read_it_the_operators_and_the_caller() {
        let mut spec = crate::spec::load_str(include_str!("../../stacks/example.yaml"))
            .map(|l| l.spec)
            .unwrap_or_else(|e| panic!("{e}"));
        spec.name = "s".into();
        spec.secrets.administrators = vec![OPERATOR.into()];
        let ci = "arn:aws:iam::123456789012:role/ci/deployer";
        let facts = Facts {
            account: Some("123456789012".into()),
            caller: Some(ci.into()),
            ..Facts::default()
        };
        let who = |secret: &str| {
            statement(
                &policy_of(&spec, &facts, secret),
                "OnlyItsNodesAndOperators",
            )["Condition"]["StringNotEquals"]["aws:PrincipalArn"]
                .clone()
        };
        assert_eq!(who("admin"), json!([ci, CRON, OPERATOR]));
        assert_eq!(who("db-user"), json!([ci, CRON, WEB, OPERATOR]));
        assert_eq!(who("redis-auth"), json!([ci, CRON, WEB, OPERATOR]));

        // The spec's own instance profile: its role, as AWS reported it, reads in the web's place.
        spec.web.instance_profile = Some("own-profile".into());
        let own = "arn:aws:iam::123456789012:role/team/own-web-role";
        let facts = Facts {
            web_profile_role: Some(own.into()),
            ..facts
        };
        let who = |secret: &str| {
            statement(
                &policy_of(&spec, &facts, secret),
                "OnlyItsNodesAndOperators",
            )["Condition"]["StringNotEquals"]["aws:PrincipalArn"]
                .clone()
        };
        assert_eq!(who("db-user"), json!([ci, CRON, OPERATOR, own]));
        assert_eq!(who("admin"), json!([ci, CRON, OPERATOR]));
    }

    #[test]
    fn a_session_names_its_role_and_other_arns_are_their_own_principal() {
        assert_eq!(
            session_role("arn:aws:sts::123456789012:assumed-role/deployer/ci-run-42"),
            Some("deployer")
        );
        assert_eq!(
            session_role(
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/jane@example.edu"
            ),
            Some("AWSReservedSSO_Admin_0123abcd")
        );
        assert_eq!(
            session_role("arn:aws-cn:sts::123456789012:assumed-role/deployer/s"),
            Some("deployer")
        );
        for arn in [
            "arn:aws:iam::123456789012:user/ops/jane",
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:federated-user/jane",
            "arn:aws:iam::123456789012:role/assumed-role/x",
            "arn:aws:sts::123456789012:assumed-role/deployer",
        ] {
            assert_eq!(session_role(arn), None, "{arn}");
        }
    }

    #[test]
    fn one_item_lists_and_their_item_are_the_same_policy() {
        let listed = json!({"Statement": [{"Action": ["a"], "Principal": {"AWS": ["*"]}, "Condition": {"StringEquals": {"k": ["v"]}}}]});
        let plain = json!({"Statement": [{"Action": "a", "Principal": {"AWS": "*"}, "Condition": {"StringEquals": {"k": "v"}}}]});
        assert_eq!(normal_form(listed), plain);
        let two = json!({"Statement": [{"Action": ["a", "b"]}]});
        assert_eq!(normal_form(two.clone()), two, "longer lists stay lists");
    }
}

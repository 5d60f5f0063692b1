//! The edge's security (issue 20): the stack bucket that holds the load balancer's access
//! logs (and Moodle releases), with the bucket policy the region's log delivery needs.

use super::{Facts, Part};
use crate::model::{BucketProps, Kind, ManagedRuleGroup, Policy, Props, Ref, Set, WebAclProps};
use crate::names::{ACCESS_LOG_PREFIX, BUCKET, Names, partition};
use crate::spec::Spec;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The Elastic Load Balancing account of each region opened before August 2022: the principal
/// AWS documents for those regions' access-log delivery ("Enable access logs for your
/// Application Load Balancer", step 2). Every later region uses the service principal
/// `logdelivery.elasticloadbalancing.amazonaws.com` instead (see [`log_delivery_principal`]).
const ELB_ACCOUNTS: &[(&str, &str)] = &[
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-northeast-1", "582318560864"),
    ("ap-northeast-2", "600734575887"),
    ("ap-northeast-3", "383597477331"),
    ("ap-south-1", "718504428378"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-southeast-3", "589379963580"),
    ("ca-central-1", "985666609251"),
    ("cn-north-1", "638102146993"),
    ("cn-northwest-1", "037604701340"),
    ("eu-central-1", "054676820928"),
    ("eu-north-1", "897822967062"),
    ("eu-south-1", "635631232127"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-west-3", "009996457667"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-gov-east-1", "190560391635"),
    ("us-gov-west-1", "048591011584"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
];

/// Who delivers a region's ALB access logs: its ELB account (regions before August 2022) or
/// the log-delivery service principal (later regions).
pub fn log_delivery_principal(region: &str) -> Value {
    match ELB_ACCOUNTS.iter().find(|(r, _)| *r == region) {
        Some((_, account)) => {
            json!({"AWS": format!("arn:{}:iam::{account}:root", partition(region))})
        }
        None => json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    }
}

/// The stack bucket's policy: no request without TLS, and the region's log delivery may put
/// objects under the access-log prefix of this account only.
pub fn bucket_policy(bucket: &str, account: &str, region: &str) -> Policy {
    let arn = format!("arn:{}:s3:::{bucket}", partition(region));
    Policy::new(json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn.clone(), format!("{arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "AlbAccessLogDelivery",
                "Effect": "Allow",
                "Principal": log_delivery_principal(region),
                "Action": "s3:PutObject",
                "Resource": format!("{arn}/{ACCESS_LOG_PREFIX}/AWSLogs/{account}/*")
            }
        ]
    }))
}

/// The stack bucket's name, from the account the facts name.
pub fn bucket_name(spec: &Spec, facts: &Facts) -> String {
    Names::of(&spec.name).bucket(facts.account.as_deref().unwrap_or_default(), &spec.region)
}

/// The stack bucket.
pub(super) fn stack_bucket(spec: &Spec, facts: &Facts) -> Part {
    let mut out = Part::default();
    let account = facts.account.as_deref().unwrap_or_default();
    let name = bucket_name(spec, facts);
    out.add(
        Kind::Bucket,
        BUCKET,
        Props::Bucket(BucketProps {
            policy: bucket_policy(&name, account, &spec.region),
            name,
            encryption: "AES256".into(),
            block_public_access: true,
            object_ownership: "BucketOwnerEnforced".into(),
            expiration_days: BTreeMap::from([
                (
                    format!("{ACCESS_LOG_PREFIX}/"),
                    spec.load_balancer.access_logs.expire_days,
                ),
                // A boot report matters for minutes (an upgrade's warm capacity).
                (crate::names::NODES_PREFIX.to_string(), NODE_REPORT_DAYS),
            ]),
        }),
    );
    out
}

/// Days the web nodes' boot reports (`nodes/<instance-id>`) are kept.
pub const NODE_REPORT_DAYS: u32 = 7;

/// The AWS managed rule groups of the web ACL, in order, with the rules Moodle trips that
/// only count (see `load_balancer.waf` in the spec for why each).
pub const WAF_RULE_GROUPS: &[(&str, &[&str])] = &[
    ("AWSManagedRulesAmazonIpReputationList", &[]),
    (
        "AWSManagedRulesCommonRuleSet",
        &[
            "SizeRestrictions_BODY",
            "CrossSiteScripting_BODY",
            "EC2MetaDataSSRF_BODY",
            "GenericRFI_BODY",
            "GenericRFI_QUERYARGUMENTS",
        ],
    ),
    ("AWSManagedRulesKnownBadInputsRuleSet", &[]),
    (
        "AWSManagedRulesSQLiRuleSet",
        &["SQLi_BODY", "SQLiExtendedPatterns_BODY"],
    ),
];

/// The load balancer's web ACL and its log group, when the spec asks for one.
pub(super) fn web_acl(spec: &Spec, facts: &Facts) -> Part {
    let mut out = Part::default();
    let Some(waf) = &spec.load_balancer.waf else {
        return out;
    };
    let names = Names::of(&spec.name);
    let log_name = names.waf_log_group();
    let log_group = super::logs::log_group(&mut out, spec, "waf", log_name.clone());
    let account = facts.account.as_deref().unwrap_or_default();
    let managed_rule_groups = WAF_RULE_GROUPS
        .iter()
        .zip(0u32..)
        .map(|((name, count), priority)| {
            (
                name.to_string(),
                ManagedRuleGroup {
                    priority,
                    count: Set::new(count.iter().map(|c| c.to_string())),
                },
            )
        })
        .collect();
    out.add(
        Kind::WebAcl,
        "main",
        Props::WebAcl(WebAclProps {
            name: format!("{}-alb", spec.name),
            default_action: "allow".into(),
            managed_rule_groups,
            rate_limit: waf.rate_limit_per_5_minutes,
            other_rules: Set::default(),
            load_balancer: Some(Ref::to(Kind::LoadBalancer, "main")),
            log_destination: Some(format!(
                "arn:{}:logs:{}:{account}:log-group:{log_name}",
                partition(&spec.region),
                spec.region
            )),
            log_group: Some(log_group),
        }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceKey;

    fn example() -> Spec {
        match crate::spec::load_str(include_str!("../../stacks/example.yaml")) {
            Ok(l) => l.spec,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_stack_bucket_is_private_encrypted_tls_only_and_expires_only_the_access_logs_and_boot_reports()
     {
        let mut spec = example();
        spec.load_balancer.access_logs.expire_days = 30;
        let facts = Facts {
            account: Some("123456789012".into()),
            ..Facts::default()
        };
        let part = stack_bucket(&spec, &facts);
        let Some((key, Props::Bucket(b))) = part.0.first() else {
            panic!("a bucket");
        };
        assert_eq!(key, &ResourceKey::new(Kind::Bucket, "stack"));
        assert_eq!(b.name, "moodle-ha-moodle-example-123456789012-eu-west-1");
        assert_eq!(
            (
                b.encryption.as_str(),
                b.block_public_access,
                b.object_ownership.as_str()
            ),
            ("AES256", true, "BucketOwnerEnforced")
        );
        assert_eq!(
            b.expiration_days,
            BTreeMap::from([
                ("alb-access-logs/".to_string(), 30),
                ("nodes/".to_string(), NODE_REPORT_DAYS)
            ])
        );
        let policy = b.policy.canonical();
        let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
        let deny = statements
            .iter()
            .find(|s| s["Effect"] == "Deny")
            .cloned()
            .unwrap_or_default();
        assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(deny["Principal"], "*");
        let allow = statements
            .iter()
            .find(|s| s["Effect"] == "Allow")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            allow["Principal"],
            json!({"AWS": "arn:aws:iam::156460612806:root"})
        );
        assert_eq!(
            allow["Resource"],
            "arn:aws:s3:::moodle-ha-moodle-example-123456789012-eu-west-1/alb-access-logs/AWSLogs/123456789012/*"
        );
    }

    #[test]
    fn the_web_acl_counts_what_moodle_trips_and_logs_to_its_log_group() {
        let mut spec = example();
        spec.load_balancer.waf = Some(crate::spec::Waf {
            rate_limit_per_5_minutes: 5000,
        });
        let facts = Facts {
            account: Some("123456789012".into()),
            ..Facts::default()
        };
        let part = web_acl(&spec, &facts);
        let acl = part.0.iter().find_map(|(_, p)| match p {
            Props::WebAcl(a) => Some(a.clone()),
            _ => None,
        });
        let acl = acl.expect("a web ACL");
        assert_eq!(acl.rate_limit, 5000);
        let common = &acl.managed_rule_groups["AWSManagedRulesCommonRuleSet"];
        assert!(common.count.contains(&"SizeRestrictions_BODY".to_string()));
        assert!(
            acl.managed_rule_groups
                .contains_key("AWSManagedRulesKnownBadInputsRuleSet")
        );
        assert_eq!(
            acl.log_destination.as_deref(),
            Some("arn:aws:logs:eu-west-1:123456789012:log-group:aws-waf-logs-moodle-example")
        );
        assert!(part.0.iter().any(|(k, _)| k.kind == Kind::LogGroup));
        spec.load_balancer.waf = None;
        assert!(web_acl(&spec, &facts).0.is_empty(), "optional");
    }

    #[test]
    fn regions_opened_since_august_2022_use_the_log_delivery_service_principal() {
        assert_eq!(
            log_delivery_principal("eu-central-2"),
            json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"})
        );
        assert_eq!(
            log_delivery_principal("us-east-1"),
            json!({"AWS": "arn:aws:iam::127311923021:root"})
        );
        assert_eq!(
            log_delivery_principal("cn-north-1"),
            json!({"AWS": "arn:aws-cn:iam::638102146993:root"})
        );
    }
}

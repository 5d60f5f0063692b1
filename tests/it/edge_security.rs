//! Issue 20, the edge: the stack bucket (access logs, releases) and the controls on it, as an
//! auditor's scanner reads them; a control switched off behind the tool's back is drift that
//! apply repairs; destroy empties and deletes the bucket.

use crate::harness::*;
use crate::web_tier::elbv2;
use serde_json::Value;
use std::collections::BTreeMap;

async fn balancer_attributes(name: &str) -> (String, BTreeMap<String, String>) {
    let elb = elbv2().await;
    let lbs = elb
        .describe_load_balancers()
        .names(format!("{name}-alb"))
        .send()
        .await
        .expect("load balancer");
    let arn = lbs.load_balancers()[0]
        .load_balancer_arn()
        .expect("arn")
        .to_string();
    let attributes = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .send()
        .await
        .expect("attributes");
    let map = attributes
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string())))
        .collect();
    (arn, map)
}

fn policy_statements(policy: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(policy).expect("policy JSON");
    doc["Statement"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stack_bucket_is_locked_down_repaired_when_switched_off_and_destroyed_with_the_stack() {
    let stack = example_spec(&unique("edge"), |t| t);
    let spec = stack.path.to_str().expect("path");
    let name = stack.name.clone();
    ok(moodle_ha(&["apply", "--yes", spec]));
    let bucket = format!("moodle-ha-{name}-{ACCOUNT}-{REGION}");
    let s3 = s3().await;

    // What a scanner reads.
    let tags = s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("tags");
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "moodle-ha:stack" && t.value() == name),
        "{tags:?}"
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .expect("encryption");
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_string());
    assert_eq!(algorithm.as_deref(), Some("AES256"));
    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("public access block");
    let block = block
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        [
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let ownership = s3
        .get_bucket_ownership_controls()
        .bucket(&bucket)
        .send()
        .await
        .expect("ownership");
    assert_eq!(
        ownership
            .ownership_controls()
            .and_then(|c| c.rules().first())
            .map(|r| r.object_ownership().as_str()),
        Some("BucketOwnerEnforced")
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .expect("lifecycle");
    let rules: Vec<(Option<&str>, Option<i32>)> = lifecycle
        .rules()
        .iter()
        .map(|r| {
            (
                r.filter().and_then(|f| f.prefix()),
                r.expiration().and_then(|e| e.days()),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            (Some("alb-access-logs/"), Some(90)),
            (Some("nodes/"), Some(7))
        ]
    );
    let policy = s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("policy");
    let statements = policy_statements(policy.policy().expect("document"));
    assert!(
        statements
            .iter()
            .any(|s| s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"),
        "{statements:?}"
    );
    assert!(
        statements.iter().any(|s| s["Effect"] == "Allow"
            && s["Action"] == "s3:PutObject"
            && s["Resource"]
                == format!("arn:aws:s3:::{bucket}/alb-access-logs/AWSLogs/{ACCOUNT}/*")),
        "{statements:?}"
    );

    // The load balancer's attributes, as Prowler's elbv2 checks read them.
    let (lb_arn, attributes) = balancer_attributes(&name).await;
    for (key, wanted) in [
        ("routing.http.drop_invalid_header_fields.enabled", "true"),
        ("routing.http.desync_mitigation_mode", "defensive"),
        ("deletion_protection.enabled", "true"),
        ("access_logs.s3.enabled", "true"),
        ("access_logs.s3.bucket", bucket.as_str()),
        ("access_logs.s3.prefix", "alb-access-logs"),
    ] {
        assert_eq!(
            attributes.get(key).map(String::as_str),
            Some(wanted),
            "{key}"
        );
    }

    // The web ACL protects the load balancer, with the managed rules, the rate rule, logging.
    let waf = aws_sdk_wafv2::Client::new(&config_for_tests().await);
    let acls = waf
        .list_web_acls()
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .expect("web ACLs");
    let summary = acls
        .web_acls()
        .iter()
        .find(|a| a.name() == Some(format!("{name}-alb").as_str()))
        .expect("the stack's web ACL")
        .clone();
    let acl_arn = summary.arn().expect("arn").to_string();
    let protected = waf
        .list_resources_for_web_acl()
        .web_acl_arn(&acl_arn)
        .resource_type(aws_sdk_wafv2::types::ResourceType::ApplicationLoadBalancer)
        .send()
        .await
        .expect("resources");
    assert_eq!(protected.resource_arns(), [lb_arn.clone()]);
    let acl = waf
        .get_web_acl()
        .name(format!("{name}-alb"))
        .id(summary.id().expect("id"))
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .expect("web ACL");
    let rules = acl.web_acl().expect("acl").rules();
    let common = rules
        .iter()
        .find(|r| r.name() == "AWSManagedRulesCommonRuleSet")
        .and_then(|r| r.statement())
        .and_then(|s| s.managed_rule_group_statement())
        .expect("the common rule set");
    assert!(
        common
            .rule_action_overrides()
            .iter()
            .any(|o| o.name() == "SizeRestrictions_BODY"
                && o.action_to_use().and_then(|a| a.count()).is_some()),
        "uploads are counted, not blocked"
    );
    assert!(rules.iter().any(|r| {
        r.statement()
            .and_then(|s| s.rate_based_statement())
            .map(|r| r.limit())
            == Some(3000)
    }));
    let logging = waf
        .get_logging_configuration()
        .resource_arn(&acl_arn)
        .send()
        .await
        .expect("logging");
    assert_eq!(
        logging
            .logging_configuration()
            .map(|l| l.log_destination_configs().to_vec()),
        Some(vec![format!(
            "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws-waf-logs-{name}"
        )])
    );

    // The file system's policy: TLS only, and only the node roles mount.
    let fs_id = stack_file_systems(&name).await[0]
        .file_system_id()
        .to_string();
    let efs = efs().await;
    let fs_policy = efs
        .describe_file_system_policy()
        .file_system_id(&fs_id)
        .send()
        .await
        .expect("file-system policy");
    let statements = policy_statements(fs_policy.policy().expect("document"));
    assert!(
        statements
            .iter()
            .any(|s| s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"),
        "{statements:?}"
    );
    let web_role = format!("arn:aws:iam::{ACCOUNT}:role/moodle-ha/{name}/{name}-web-role");
    assert!(
        statements.iter().any(|s| s["Effect"] == "Allow"
            && s["Principal"]["AWS"]
                .as_array()
                .is_some_and(|p| p.iter().any(|a| *a == web_role.as_str()))),
        "{statements:?}"
    );
    assert!(
        !statements
            .iter()
            .any(|s| s["Effect"] == "Allow" && s["Principal"]["AWS"] == "*"),
        "{statements:?}"
    );

    // Switched off in the console: drift names it, apply repairs it, nothing is left to do.
    waf.disassociate_web_acl()
        .resource_arn(&lb_arn)
        .send()
        .await
        .expect("web ACL off the load balancer");
    efs.delete_file_system_policy()
        .file_system_id(&fs_id)
        .send()
        .await
        .expect("file-system policy off");
    elbv2()
        .await
        .modify_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder()
                .key("routing.http.drop_invalid_header_fields.enabled")
                .value("false")
                .build(),
        )
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder()
                .key("access_logs.s3.enabled")
                .value("false")
                .build(),
        )
        .send()
        .await
        .expect("switch the load balancer's controls off");
    s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("public access block off");
    s3.delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("policy off");
    let drift = moodle_ha(&["drift", spec]);
    assert_eq!(drift.status.code(), Some(2), "{}", stderr(&drift));
    let text = stdout(&drift);
    assert!(text.contains("bucket/stack"), "{text}");
    assert!(text.contains("block_public_access"), "{text}");
    assert!(text.contains("policy"), "{text}");
    assert!(text.contains("load-balancer/main"), "{text}");
    assert!(text.contains("drop_invalid_header_fields"), "{text}");
    assert!(text.contains("access_logs_bucket"), "{text}");
    assert!(text.contains("file-system/moodledata"), "{text}");
    assert!(text.contains("web-acl/main"), "{text}");
    ok(moodle_ha(&["apply", "--yes", spec]));
    let (_, attributes) = balancer_attributes(&name).await;
    assert_eq!(
        (
            attributes
                .get("routing.http.drop_invalid_header_fields.enabled")
                .map(String::as_str),
            attributes.get("access_logs.s3.enabled").map(String::as_str)
        ),
        (Some("true"), Some("true")),
        "repaired in place"
    );
    let again = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert_eq!(
        waf.list_resources_for_web_acl()
            .web_acl_arn(&acl_arn)
            .resource_type(aws_sdk_wafv2::types::ResourceType::ApplicationLoadBalancer)
            .send()
            .await
            .expect("resources")
            .resource_arns(),
        [lb_arn.clone()],
        "protected again"
    );
    assert!(
        efs.describe_file_system_policy()
            .file_system_id(&fs_id)
            .send()
            .await
            .is_ok(),
        "file-system policy back"
    );
    assert!(
        s3.get_bucket_policy().bucket(&bucket).send().await.is_ok(),
        "policy back"
    );

    // Destroy empties the bucket (logs and releases) and deletes it, and says so first.
    s3.put_object()
        .bucket(&bucket)
        .key("releases/moodle-4.5.6.tar.gz")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"release"))
        .send()
        .await
        .expect("a release");
    // Deletion protection: destroy refuses without the flag, naming the load balancer.
    let refused = moodle_ha(&["destroy", "--yes", spec]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("load-balancer/main"),
        "{}",
        stderr(&refused)
    );
    let destroyed = ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
    assert!(
        destroyed.contains("access logs and the Moodle releases"),
        "{destroyed}"
    );
    let gone = s3.head_bucket().bucket(&bucket).send().await;
    assert!(gone.is_err(), "the bucket is deleted");
}

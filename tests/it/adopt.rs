//! Adopting an existing VPC: the stack's groups and mount targets go into it, nothing
//! untagged is touched, and missing IDs are named at plan time before anything changes.

use crate::harness::*;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

/// A VPC with two public and two private subnets, untagged (not the stack's).
async fn existing_vpc() -> (String, Vec<String>, Vec<String>) {
    let ec2 = ec2().await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.77.0.0/16")
        .send()
        .await
        .expect("vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let subnet = |cidr: &'static str, az: &'static str| {
        let ec2 = ec2.clone();
        let vpc = vpc.clone();
        async move {
            let out = ec2
                .create_subnet()
                .vpc_id(vpc)
                .cidr_block(cidr)
                .availability_zone(az)
                .send()
                .await
                .expect("subnet");
            out.subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet id")
                .to_string()
        }
    };
    let public = vec![
        subnet("10.77.0.0/24", "eu-west-1a").await,
        subnet("10.77.1.0/24", "eu-west-1b").await,
    ];
    let private = vec![
        subnet("10.77.16.0/20", "eu-west-1a").await,
        subnet("10.77.32.0/20", "eu-west-1b").await,
    ];
    (vpc, public, private)
}

fn adopt(text: String, vpc: &str, public: &[String], private: &[String]) -> String {
    let start = text.find("  create:").expect("create block");
    let end = text.find("\ndatabase:").expect("database section");
    let existing = format!(
        "  existing:\n    vpc_id: {vpc}\n    public_subnets: [{}]\n    private_subnets: [{}]\n",
        public.join(", "),
        private.join(", ")
    );
    format!("{}{}{}", &text[..start], existing, &text[end..])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_vpc_gets_groups_and_mount_targets_and_survives_destroy() {
    let (vpc, public, private) = existing_vpc().await;
    let ec2 = ec2().await;
    // Someone else's group in the same VPC, with a tag of another stack: never touched.
    let foreign = ec2
        .create_security_group()
        .group_name("someone-else")
        .description("not ours")
        .vpc_id(&vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(
                    Tag::builder()
                        .key("moodle-ha:stack")
                        .value("another-stack")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("foreign sg")
        .group_id()
        .expect("id")
        .to_string();

    let stack = example_spec(&unique("it-adopt"), |t| adopt(t, &vpc, &public, &private));
    let spec = stack.path.to_str().expect("path");
    let out = ok(moodle_ha(&["apply", "--yes", spec]));
    // Six groups with their rules, the file system, one mount target per private AZ, the data
    // tier (DB subnet and parameter groups, instance, cache subnet group, secret, Redis) and the
    // web tier (role, profile, load balancer, target group, two listeners, launch template,
    // group, two scaling policies), the cron tier (two secrets, role, profile, instance), the
    // database's two log groups and enhanced monitoring role (no flow log: the VPC is not the
    // stack's), the stack bucket, the release, the web ACL and its log group.
    assert!(out.contains("43 to add"), "{out}");

    let groups = ec2
        .describe_security_groups()
        .filters(stack_filter(&stack.name))
        .send()
        .await
        .expect("sgs");
    assert_eq!(groups.security_groups().len(), 6);
    assert!(
        groups
            .security_groups()
            .iter()
            .all(|g| g.vpc_id() == Some(vpc.as_str()))
    );
    let efs = efs().await;
    let fs_id = stack_file_systems(&stack.name)
        .await
        .first()
        .map(|f| f.file_system_id().to_string())
        .expect("file system");
    let mounts = efs
        .describe_mount_targets()
        .file_system_id(&fs_id)
        .send()
        .await
        .expect("mounts");
    let mut subnets: Vec<String> = mounts
        .mount_targets()
        .iter()
        .map(|m| m.subnet_id().to_string())
        .collect();
    subnets.sort();
    let mut want = private.clone();
    want.sort();
    assert_eq!(subnets, want);

    assert_eq!(
        moodle_ha(&["plan", "--detailed-exitcode", spec])
            .status
            .code(),
        Some(0)
    );
    ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));

    // The adopted VPC and subnets, and the other stack's group, are still there.
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(&vpc)
        .send()
        .await
        .expect("vpc still there");
    assert_eq!(vpcs.vpcs().len(), 1);
    let all: Vec<String> = public.iter().chain(&private).cloned().collect();
    let left = ec2
        .describe_subnets()
        .set_subnet_ids(Some(all))
        .send()
        .await
        .expect("subnets still there");
    assert_eq!(left.subnets().len(), 4);
    let foreign_left = ec2
        .describe_security_groups()
        .group_ids(&foreign)
        .send()
        .await
        .expect("foreign sg still there");
    assert_eq!(foreign_left.security_groups().len(), 1);
    let left: Vec<_> = tagged_counts(&stack.name)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_subnet_is_named_at_plan_time_and_nothing_changes() {
    let (vpc, public, mut private) = existing_vpc().await;
    private[1] = "subnet-0123456789abcdef0".into();
    let stack = example_spec(&unique("it-missing"), |t| adopt(t, &vpc, &public, &private));
    let out = moodle_ha(&["apply", "--yes", stack.path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "network.existing.private_subnets[1]: `subnet-0123456789abcdef0` does not exist"
        ),
        "{err}"
    );
    assert!(
        tagged_counts(&stack.name)
            .await
            .iter()
            .all(|(_, n)| *n == 0),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_certificate_or_ami_is_named_at_plan_time_and_nothing_changes() {
    let stack = example_spec(&unique("it-refs"), |t| {
        t.replace(
            "certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f",
            "certificate/00000000-0000-0000-0000-000000000000",
        )
        .replace(
            "ami: ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
            "ami: ami-0123456789abcdef0\n  os: ubuntu-24.04",
        )
    });
    let spec = stack.path.to_str().expect("path");
    for args in [vec!["plan", spec], vec!["apply", "--yes", spec]] {
        let command = args[0];
        let out = moodle_ha(&args);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = stderr(&out);
        assert!(
            err.contains("load_balancer.certificate_arn: `arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000` is not a certificate in ACM"),
            "{command}: {err}"
        );
        assert!(
            err.contains("web.ami: `ami-0123456789abcdef0` names no AMI"),
            "{command}: {err}"
        );
        assert!(err.contains("(line "), "{command}: lines named: {err}");
    }
    assert!(
        tagged_counts(&stack.name)
            .await
            .iter()
            .all(|(_, n)| *n == 0),
        "nothing was created"
    );
}

//! Resilience of `apply`, through the test proxy (`proxy.rs`):
//!
//! - **crash and resume**: `apply` of the example stack is killed (SIGKILL) right after its
//!   k-th AWS request reached the emulator (its answer withheld, nothing after it forwarded),
//!   for several k spread over the apply; a second `apply --yes`, straight to the emulator,
//!   must converge with every resource of the stack existing exactly once, and a following
//!   `plan --detailed-exitcode` must exit 0.
//! - **faults**: `apply` through a proxy that answers one request in five with throttling, an
//!   HTTP 500 or 503, or a connection reset must still converge, and report as retries exactly
//!   the repeated attempts the proxy saw (each injected fault followed by one).
//! - **lost answers**: `apply` through a proxy that lets the emulator do one request in four
//!   and drops its answer must converge with every resource once; a create without a client
//!   token whose answer was lost is looked up and adopted, never sent again.
//!
//! Every stack has a unique name and is destroyed at the end (also when the test fails).

use crate::harness::*;
use crate::proxy::{Behaviour, Fault, FaultPlan, Outcome, Proxy};
use std::collections::BTreeMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Running the binary as a child the test can kill.

/// A `moodle-ha` child whose output goes to files (no pipe can fill up and block it).
struct Running {
    child: Child,
    _dir: tempfile::TempDir,
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
}

enum Ended {
    /// The proxy tripped and the test killed the child.
    Killed,
    /// The child ended by itself.
    Exited(ExitStatus),
}

fn spawn(endpoint: &str, args: &[&str]) -> Running {
    let dir = tempfile::tempdir().expect("temp dir for the child's output");
    let stdout = dir.path().join("stdout");
    let stderr = dir.path().join("stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_moodle-ha"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("child stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("child stderr file"))
        .spawn()
        .expect("spawn moodle-ha");
    Running {
        child,
        _dir: dir,
        stdout,
        stderr,
    }
}

impl Running {
    /// Waits until the child exits, or until the proxy trips, then kills it with SIGKILL.
    async fn kill_when_tripped(&mut self, proxy: &Proxy) -> Ended {
        loop {
            if proxy.tripped() {
                // `Child::kill` sends SIGKILL on Unix.
                self.child.kill().expect("kill moodle-ha");
                self.child.wait().expect("reap moodle-ha");
                return Ended::Killed;
            }
            if let Some(status) = self.child.try_wait().expect("poll moodle-ha") {
                return Ended::Exited(status);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn output(&self) -> (String, String) {
        (
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

/// Destroys the stack when dropped, so a failing test leaves nothing behind either.
struct Cleanup<'a> {
    spec: &'a str,
    armed: bool,
}

impl Cleanup<'_> {
    fn destroy(mut self) {
        self.armed = false;
        ok(moodle_ha(&[
            "destroy",
            "--yes",
            "--disable-deletion-protection",
            self.spec,
        ]));
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = moodle_ha(&[
                "destroy",
                "--yes",
                "--disable-deletion-protection",
                self.spec,
            ]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What exists of a stack, with plain SDK calls.

async fn elbv2() -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&config_for_tests().await)
}

async fn autoscaling() -> aws_sdk_autoscaling::Client {
    aws_sdk_autoscaling::Client::new(&config_for_tests().await)
}

async fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&config_for_tests().await)
}

/// Kind → one identity per resource found (its `moodle-ha:resource` tag, name or AZ), so a
/// duplicate shows up as the same identity twice.
type Inventory = BTreeMap<&'static str, Vec<String>>;

/// How many of each kind the example stack has (the reference test checks this against the
/// plan of a new stack, so a new kind of resource in the product fails it there first).
const EXAMPLE_COUNTS: &[(&str, usize)] = &[
    ("vpc", 1),
    ("subnet", 6),
    ("internet-gateway", 1),
    ("nat-gateway", 3),
    ("elastic-ip", 3),
    ("route-table", 4),
    ("security-group", 6),
    ("file-system", 1),
    ("mount-target", 3),
    ("db-subnet-group", 1),
    ("db-parameter-group", 1),
    ("db-cluster-parameter-group", 0),
    ("db-instance", 1),
    ("db-cluster", 0),
    ("cache-subnet-group", 1),
    ("replication-group", 1),
    ("secret", 3),
    ("load-balancer", 1),
    ("target-group", 1),
    ("listener", 2),
    ("launch-template", 1),
    ("auto-scaling-group", 1),
    ("scaling-policy", 2),
    ("iam-role", 4),
    ("instance-profile", 2),
    ("instance", 1),
    ("bucket", 1),
    ("release", 1),
    ("log-group", 4),
    ("flow-log", 1),
    ("web-acl", 1),
];

fn ec2_identity(tags: &[aws_sdk_ec2::types::Tag], id: Option<&str>) -> String {
    tags.iter()
        .find(|t| t.key() == Some("moodle-ha:resource"))
        .and_then(|t| t.value())
        .or(id)
        .unwrap_or("?")
        .to_string()
}

async fn inventory(stack: &str) -> Inventory {
    let prefix = format!("{stack}-");
    let mut inv = Inventory::new();
    let ec2 = ec2().await;
    let f = || stack_filter(stack);

    let vpcs = ec2.describe_vpcs().filters(f()).send().await.expect("vpcs");
    inv.insert(
        "vpc",
        vpcs.vpcs()
            .iter()
            .map(|v| ec2_identity(v.tags(), v.vpc_id()))
            .collect(),
    );
    let subnets = ec2
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .expect("subnets");
    inv.insert(
        "subnet",
        subnets
            .subnets()
            .iter()
            .map(|s| ec2_identity(s.tags(), s.subnet_id()))
            .collect(),
    );
    let igws = ec2
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .expect("internet gateways");
    inv.insert(
        "internet-gateway",
        igws.internet_gateways()
            .iter()
            .map(|g| ec2_identity(g.tags(), g.internet_gateway_id()))
            .collect(),
    );
    let nats = ec2
        .describe_nat_gateways()
        .filter(f())
        .send()
        .await
        .expect("nat gateways");
    inv.insert(
        "nat-gateway",
        nats.nat_gateways()
            .iter()
            .filter(|n| {
                !matches!(
                    n.state().map(|s| s.as_str()),
                    Some("deleted") | Some("deleting")
                )
            })
            .map(|n| ec2_identity(n.tags(), n.nat_gateway_id()))
            .collect(),
    );
    let eips = ec2
        .describe_addresses()
        .filters(f())
        .send()
        .await
        .expect("addresses");
    inv.insert(
        "elastic-ip",
        eips.addresses()
            .iter()
            .map(|a| ec2_identity(a.tags(), a.allocation_id()))
            .collect(),
    );
    let rts = ec2
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .expect("route tables");
    inv.insert(
        "route-table",
        rts.route_tables()
            .iter()
            .map(|r| ec2_identity(r.tags(), r.route_table_id()))
            .collect(),
    );
    let sgs = ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .expect("security groups");
    inv.insert(
        "security-group",
        sgs.security_groups()
            .iter()
            .map(|g| ec2_identity(g.tags(), g.group_id()))
            .collect(),
    );
    let flows = ec2
        .describe_flow_logs()
        .filter(f())
        .send()
        .await
        .expect("flow logs");
    inv.insert(
        "flow-log",
        flows
            .flow_logs()
            .iter()
            .map(|l| ec2_identity(l.tags(), l.flow_log_id()))
            .collect(),
    );
    let lts = ec2
        .describe_launch_templates()
        .filters(f())
        .send()
        .await
        .expect("launch templates");
    inv.insert(
        "launch-template",
        lts.launch_templates()
            .iter()
            .map(|t| t.launch_template_name().unwrap_or("?").to_string())
            .collect(),
    );

    let instances = ec2
        .describe_instances()
        .filters(f())
        .send()
        .await
        .expect("instances");
    inv.insert(
        "instance",
        instances
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                !matches!(
                    i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                    Some("terminated") | Some("shutting-down")
                )
            })
            .map(|i| ec2_identity(i.tags(), i.instance_id()))
            // The web fleet's nodes carry the stack's tags too; they belong to the group.
            .filter(|id| !id.starts_with("auto-scaling-group/"))
            .collect(),
    );

    // EFS: the file systems with the stack's tag (all pages: the emulator pages by 10), and
    // their mount targets by AZ.
    let efs = efs().await;
    let fss: Vec<_> = efs
        .describe_file_systems()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("file systems")
        .into_iter()
        .filter(|fs| {
            fs.tags()
                .iter()
                .any(|t| t.key() == "moodle-ha:stack" && t.value() == stack)
        })
        .collect();
    inv.insert(
        "file-system",
        fss.iter()
            .map(|fs| {
                fs.tags()
                    .iter()
                    .find(|t| t.key() == "moodle-ha:resource")
                    .map(|t| t.value().to_string())
                    .unwrap_or_else(|| fs.file_system_id().to_string())
            })
            .collect(),
    );
    let mut mounts = Vec::new();
    for fs in &fss {
        let out = efs
            .describe_mount_targets()
            .file_system_id(fs.file_system_id())
            .send()
            .await
            .expect("mount targets");
        mounts.extend(
            out.mount_targets()
                .iter()
                .map(|m| m.availability_zone_name().unwrap_or("?").to_string()),
        );
    }
    inv.insert("mount-target", mounts);

    // RDS, by the stack's name prefix (every name moodle-ha gives starts with it).
    let rds = rds().await;
    let groups = rds
        .describe_db_subnet_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("db subnet groups");
    inv.insert(
        "db-subnet-group",
        groups
            .iter()
            .filter_map(|g| g.db_subnet_group_name())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );
    let params = rds
        .describe_db_parameter_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("db parameter groups");
    inv.insert(
        "db-parameter-group",
        params
            .iter()
            .filter_map(|g| g.db_parameter_group_name())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );
    let cluster_params = rds
        .describe_db_cluster_parameter_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("db cluster parameter groups");
    inv.insert(
        "db-cluster-parameter-group",
        cluster_params
            .iter()
            .filter_map(|g| g.db_cluster_parameter_group_name())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );
    let instances = rds
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("db instances");
    inv.insert(
        "db-instance",
        instances
            .iter()
            .filter_map(|i| i.db_instance_identifier())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );
    let clusters = rds
        .describe_db_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("db clusters");
    inv.insert(
        "db-cluster",
        clusters
            .iter()
            .filter_map(|c| c.db_cluster_identifier())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );

    // ElastiCache.
    let cache = elasticache().await;
    let cache_groups = cache
        .describe_cache_subnet_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("cache subnet groups");
    inv.insert(
        "cache-subnet-group",
        cache_groups
            .iter()
            .filter_map(|g| g.cache_subnet_group_name())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );
    let rgs = cache
        .describe_replication_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("replication groups");
    inv.insert(
        "replication-group",
        rgs.iter()
            .filter_map(|g| g.replication_group_id())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );

    // Secrets Manager: the stack's secrets live under `moodle-ha/<stack>/`.
    let secret_prefix = format!("moodle-ha/{stack}/");
    let pages = secrets()
        .await
        .list_secrets()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("secrets");
    inv.insert(
        "secret",
        pages
            .iter()
            .flat_map(|p| p.secret_list())
            .filter_map(|s| s.name())
            .filter(|n| n.starts_with(&secret_prefix))
            .map(str::to_string)
            .collect(),
    );

    // ELBv2: load balancers and target groups by name, listeners by port.
    let elb = elbv2().await;
    let lbs = elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("load balancers");
    let lbs: Vec<_> = lbs
        .into_iter()
        .filter(|l| {
            l.load_balancer_name()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    let mut listeners = Vec::new();
    for lb in &lbs {
        let out = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
            .send()
            .await
            .expect("listeners");
        listeners.extend(
            out.listeners()
                .iter()
                .map(|l| format!("port {}", l.port().unwrap_or_default())),
        );
    }
    inv.insert(
        "load-balancer",
        lbs.iter()
            .filter_map(|l| l.load_balancer_name())
            .map(str::to_string)
            .collect(),
    );
    inv.insert("listener", listeners);
    let tgs = elb
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("target groups");
    inv.insert(
        "target-group",
        tgs.iter()
            .filter_map(|t| t.target_group_name())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );

    // Auto Scaling: groups by name, their policies.
    let asg = autoscaling().await;
    let groups = asg
        .describe_auto_scaling_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("auto scaling groups");
    let groups: Vec<String> = groups
        .iter()
        .map(|g| g.auto_scaling_group_name().unwrap_or_default().to_string())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    let mut policies = Vec::new();
    for g in &groups {
        let out = asg
            .describe_policies()
            .auto_scaling_group_name(g)
            .send()
            .await
            .expect("scaling policies");
        policies.extend(
            out.scaling_policies()
                .iter()
                .map(|p| p.policy_name().unwrap_or("?").to_string()),
        );
    }
    inv.insert("auto-scaling-group", groups);
    inv.insert("scaling-policy", policies);

    // IAM: the role and instance profile under the stack's path.
    let iam = iam().await;
    let path = format!("/moodle-ha/{stack}/");
    let roles = iam
        .list_roles()
        .path_prefix(&path)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("roles");
    inv.insert(
        "iam-role",
        roles.iter().map(|r| r.role_name().to_string()).collect(),
    );
    let profiles = iam
        .list_instance_profiles()
        .path_prefix(&path)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("instance profiles");
    inv.insert(
        "instance-profile",
        profiles
            .iter()
            .map(|p| p.instance_profile_name().to_string())
            .collect(),
    );

    // The stack bucket (by its name, which holds the stack's) and the release record.
    let buckets = s3().await.list_buckets().send().await.expect("buckets");
    let bucket_prefix = format!("moodle-ha-{stack}-");
    inv.insert(
        "bucket",
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with(&bucket_prefix))
            .map(str::to_string)
            .collect(),
    );
    let record = aws_sdk_ssm::Client::new(&config_for_tests().await)
        .get_parameter()
        .name(format!("/moodle-ha/{stack}/release"))
        .send()
        .await;
    inv.insert(
        "release",
        record
            .ok()
            .and_then(|r| r.parameter().and_then(|p| p.name()).map(str::to_string))
            .into_iter()
            .collect(),
    );

    // WAFv2: the web ACL, by its name.
    let waf = aws_sdk_wafv2::Client::new(&config_for_tests().await);
    let acls = waf
        .list_web_acls()
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .expect("web ACLs");
    inv.insert(
        "web-acl",
        acls.web_acls()
            .iter()
            .filter_map(|a| a.name())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string)
            .collect(),
    );
    // CloudWatch Logs: the stack's groups, under the prefixes its names use.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config_for_tests().await);
    let mut groups = Vec::new();
    for prefix in [
        format!("/moodle-ha/{stack}/"),
        format!("/aws/rds/instance/{stack}-"),
        format!("/aws/rds/cluster/{stack}-"),
        format!("aws-waf-logs-{stack}"),
    ] {
        let found: Vec<_> = logs
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .expect("log groups");
        groups.extend(
            found
                .iter()
                .filter_map(|g| g.log_group_name())
                .map(str::to_string),
        );
    }
    inv.insert("log-group", groups);
    inv
}

/// Every kind the example has, each resource exactly once: a list of what is wrong.
fn exactly_once(inv: &Inventory) -> Vec<String> {
    let mut wrong = Vec::new();
    for (kind, expected) in EXAMPLE_COUNTS {
        let found = inv.get(kind).cloned().unwrap_or_default();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for id in &found {
            *seen.entry(id.as_str()).or_default() += 1;
        }
        let dups: Vec<String> = seen
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| format!("{id} ×{n}"))
            .collect();
        if !dups.is_empty() {
            wrong.push(format!("{kind}: duplicates {}", dups.join(", ")));
        }
        if found.len() != *expected {
            wrong.push(format!(
                "{kind}: {} found, {expected} expected: {found:?}",
                found.len()
            ));
        }
    }
    wrong
}

fn nothing_left(inv: &Inventory) -> Vec<String> {
    inv.iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(kind, ids)| format!("{kind}: {ids:?}"))
        .collect()
}

/// `plan --detailed-exitcode` straight to the emulator: `Ok` when it exits 0.
fn plan_is_empty(spec: &str) -> Result<(), String> {
    let out = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    match out.status.code() {
        Some(0) => Ok(()),
        code => Err(format!(
            "plan --detailed-exitcode exited {code:?}:\n{}{}",
            stdout(&out),
            stderr(&out)
        )),
    }
}

/// The tool counts every request the proxy received, except the release of the stack lock
/// (`ssm.DeleteParameter`), which follows the report.
fn assert_counted(total: u64, proxy: &Proxy, label: &str) {
    let releases = proxy
        .records()
        .iter()
        .filter(|r| r.service == "ssm" && r.operation == "DeleteParameter")
        .count();
    let received = proxy.requests();
    assert!(
        total as usize <= received && received <= total as usize + releases,
        "{label}: the tool counted {total} requests, the proxy received {received}"
    );
}

fn done_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("Done: "))
        .unwrap_or("(no Done line)")
}

// ---------------------------------------------------------------------------------------------
// The reference: the whole apply through a forwarding proxy.

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_through_the_proxy_converges_and_its_requests_are_counted() {
    let stack = example_spec(&unique("px-ref"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let cleanup = Cleanup { spec, armed: true };
    // The plan of the new stack has exactly the resources the inventory expects.
    let plan: serde_json::Value = json(moodle_ha(&["--output", "json", "plan", spec]));
    let mut planned: BTreeMap<String, usize> = BTreeMap::new();
    for change in plan["changes"].as_array().expect("changes") {
        let key = change["key"].as_str().expect("key");
        *planned
            .entry(key.split('/').next().unwrap_or(key).to_string())
            .or_default() += 1;
    }
    for (kind, n) in &planned {
        if let Some((_, expected)) = EXAMPLE_COUNTS.iter().find(|(k, _)| k == kind) {
            assert_eq!(
                n, expected,
                "{kind}: planned {n}, EXAMPLE_COUNTS says {expected}"
            );
        } else {
            // Parts of another resource, not resources of their own.
            assert!(
                ["security-group-rules"].contains(&kind.as_str()),
                "the plan creates {n} `{kind}`, which EXAMPLE_COUNTS does not count: add it"
            );
        }
    }

    let proxy = Proxy::start(endpoint(), Behaviour::Forward);
    let out = moodle_ha_at(proxy.url(), &["--output", "json", "apply", "--yes", spec]);
    let text = ok(out);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("apply JSON");
    let total = doc["api_calls"]["total"].as_u64().expect("api_calls.total");
    let records = proxy.records();
    println!(
        "reference apply of the example stack: {} AWS requests ({} by the tool's count), {} retries",
        records.len(),
        total,
        doc["api_calls"]["retries"]
    );
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *by_op
            .entry(format!("{}.{}", r.service, r.operation))
            .or_default() += 1;
    }
    println!("requests by operation: {by_op:?}");
    assert_counted(total, &proxy, "reference apply");
    assert!(
        records
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Forwarded(_))),
        "all forwarded"
    );
    // The crash-resume cases below need this many requests to be spread over the apply.
    assert!(
        proxy.requests() > CRASH_POINTS[CRASH_POINTS.len() - 1],
        "the apply sends {} requests; the last crash point is {}",
        proxy.requests(),
        CRASH_POINTS[CRASH_POINTS.len() - 1]
    );
    let wrong = exactly_once(&inventory(&stack.name).await);
    assert!(wrong.is_empty(), "after the reference apply: {wrong:#?}");
    plan_is_empty(spec).expect("the plan after apply is empty");
    cleanup.destroy();
    let left = nothing_left(&inventory(&stack.name).await);
    assert!(left.is_empty(), "destroy left: {left:#?}");
}

// ---------------------------------------------------------------------------------------------
// Crash and resume.

/// After which request `apply` is killed: one in the first look at AWS, the rest spread over
/// the creates (the reference apply prints the total, ~190).
const CRASH_POINTS: &[usize] = &[5, 30, 60, 100, 140, 175];

/// Kills `apply` after its k-th request, resumes it, and checks the stack: a summary line,
/// or what went wrong.
async fn crash_then_resume(k: usize) -> Result<String, String> {
    let stack = example_spec(&unique(&format!("crash{k}")), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let cleanup = Cleanup { spec, armed: true };

    // 1. apply, killed right after its k-th request reached the emulator.
    let proxy = Proxy::start(endpoint(), Behaviour::TripAfter(k));
    let mut apply = spawn(proxy.url(), &["apply", "--yes", spec]);
    let ended = apply.kill_when_tripped(&proxy).await;
    let (out, err) = apply.output();
    if let Ended::Exited(status) = ended {
        return Err(format!(
            "k={k}: apply ended by itself ({status}) after {} requests, before the k-th:\n{out}{err}",
            proxy.requests()
        ));
    }
    let records = proxy.records();
    let tripped_on = records
        .iter()
        .find(|r| r.outcome == Outcome::ForwardedAnswerWithheld)
        .map(|r| format!("{}.{} (attempt {})", r.service, r.operation, r.attempt))
        .unwrap_or_else(|| "?".into());
    let held: Vec<String> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Held)
        .map(|r| format!("{}.{}", r.service, r.operation))
        .collect();
    // Steps the killed apply had started and not finished (its progress is on stderr).
    let started: Vec<&str> = err
        .lines()
        .filter_map(|l| l.trim().strip_suffix(" …"))
        .filter_map(|l| l.split_once(' ').map(|(_, key)| key))
        .collect();
    let finished: Vec<&str> = err
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let done = ["created ", "updated ", "deleted "]
                .iter()
                .find_map(|v| l.strip_prefix(v))?;
            done.split(' ').next()
        })
        .collect();
    let in_flight: Vec<&str> = started
        .iter()
        .filter(|k| !finished.contains(k))
        .copied()
        .collect();
    drop(proxy);
    let context = format!(
        "k={k}: killed after {tripped_on}, {} steps done, in flight {in_flight:?}",
        finished.len()
    );

    // 2. apply again, straight to the emulator: it must converge.
    let resume = moodle_ha(&["apply", "--yes", spec]);
    let resume_out = stdout(&resume);
    if !resume.status.success() {
        return Err(format!(
            "{context}; the resumed apply failed (exit {:?}):\n{resume_out}{}",
            resume.status.code(),
            stderr(&resume)
        ));
    }

    // 3. Every resource exactly once, and nothing left to do.
    let wrong = exactly_once(&inventory(&stack.name).await);
    if !wrong.is_empty() {
        return Err(format!(
            "{context}; after the resumed apply: {wrong:#?}\n{resume_out}"
        ));
    }
    plan_is_empty(spec).map_err(|e| format!("{context}; {e}"))?;

    // 4. Destroy leaves nothing.
    cleanup.destroy();
    let left = nothing_left(&inventory(&stack.name).await);
    if !left.is_empty() {
        return Err(format!("{context}; destroy left: {left:#?}"));
    }
    Ok(format!(
        "{context}; held unsent: {held:?}; resumed: {}",
        done_line(&resume_out)
    ))
}

macro_rules! crash_cases {
    ($($name:ident: $k:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            assert!(CRASH_POINTS.contains(&$k));
            match crash_then_resume($k).await {
                Ok(summary) => println!("crash {summary}"),
                Err(failure) => panic!("{failure}"),
            }
        }
    )*};
}

crash_cases! {
    apply_killed_after_request_5_resumes_with_every_resource_once: 5;
    apply_killed_after_request_30_resumes_with_every_resource_once: 30;
    apply_killed_after_request_60_resumes_with_every_resource_once: 60;
    apply_killed_after_request_100_resumes_with_every_resource_once: 100;
    apply_killed_after_request_140_resumes_with_every_resource_once: 140;
    apply_killed_after_request_175_resumes_with_every_resource_once: 175;
}

/// Every crash point of a sweep, three at a time; run on demand:
/// `MOODLE_HA_CRASH_SWEEP=1-169 cargo test --test it crash_sweep -- --ignored --nocapture`
/// (a list `5,25,60` or a range `a-b`, optionally with a step `a-b/5`; default 5-185/5).
#[test]
#[ignore = "a long sweep, run on demand"]
fn crash_sweep() {
    let spec = std::env::var("MOODLE_HA_CRASH_SWEEP").unwrap_or_else(|_| "5-185/5".into());
    let points: Vec<usize> = spec
        .split(',')
        .flat_map(|part| {
            let (range, step) = part.split_once('/').unwrap_or((part, "1"));
            let step: usize = step.trim().parse().expect("a step");
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (a, b): (usize, usize) = (
                a.trim().parse().expect("a crash point"),
                b.trim().parse().expect("a crash point"),
            );
            (a..=b).step_by(step.max(1))
        })
        .collect();
    let mut failures = Vec::new();
    for chunk in points.chunks(3) {
        let results: Vec<Result<String, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&k| {
                    s.spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("a runtime")
                            .block_on(crash_then_resume(k))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                .collect()
        });
        for r in results {
            match r {
                Ok(summary) => println!("ok   {summary}"),
                Err(failure) => {
                    println!("FAIL {failure}");
                    failures.push(failure);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} crash points failed:\n{}",
        failures.len(),
        points.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Faults.

fn fault_plan(seed: u64) -> FaultPlan {
    FaultPlan {
        seed,
        one_in: 5,
        kinds: vec![
            Fault::Throttle,
            Fault::Http500,
            Fault::Http503,
            Fault::Reset,
        ],
        // Attempts 4–6 always pass: every operation succeeds within the SDK's six.
        max_faulted_attempt: 3,
    }
}

/// Checks what the proxy saw against what the tool reported; returns a summary line.
fn check_retries(label: &str, proxy: &Proxy, total: u64, retries: u64) -> String {
    let records = proxy.records();
    let faults = proxy.faults();
    let injected: usize = faults.values().sum();
    assert!(injected > 0, "{label}: no fault was injected");
    // Each fault was followed by a retry of the same operation (same invocation id).
    for r in records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Injected(_)))
    {
        assert!(
            records
                .iter()
                .any(|next| next.invocation == r.invocation && next.attempt == r.attempt + 1),
            "{label}: request {} ({}.{}, {:?}) was not retried",
            r.n,
            r.service,
            r.operation,
            r.outcome
        );
    }
    // The release of the stack lock (`ssm.DeleteParameter`) follows the report: the tool
    // cannot count it, nor its retries.
    let counted: Vec<_> = records
        .iter()
        .filter(|r| !(r.service == "ssm" && r.operation == "DeleteParameter"))
        .collect();
    let seen_retries = counted.iter().filter(|r| r.attempt > 1).count();
    let counted_faults = counted
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Injected(_)))
        .count();
    // Retries the emulator itself caused (5xx or throttling answers it gave).
    let natural = counted
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Forwarded(s) if s >= 500 || s == 429))
        .count();
    assert_eq!(
        total as usize,
        counted.len(),
        "{label}: the tool counts every request the proxy received"
    );
    assert_eq!(
        retries as usize, seen_retries,
        "{label}: the tool's retries are the repeated attempts the proxy saw"
    );
    assert!(
        retries as usize >= counted_faults && retries as usize <= counted_faults + natural,
        "{label}: {retries} retries reported for {counted_faults} injected faults ({natural} 5xx from the emulator)"
    );
    let mut by_service: BTreeMap<String, usize> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Injected(_)))
    {
        *by_service.entry(r.service.clone()).or_default() += 1;
    }
    format!(
        "{label}: {total} requests, {injected} faults injected {faults:?} by service {by_service:?}, {retries} retries reported"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_converges_through_throttling_5xx_and_resets_and_reports_the_retries() {
    let json_stack = example_spec(&unique("faults-json"), |t| t);
    let text_stack = example_spec(&unique("faults-text"), |t| t);
    let json_spec = json_stack.path.to_str().expect("utf-8 path");
    let text_spec = text_stack.path.to_str().expect("utf-8 path");
    let json_cleanup = Cleanup {
        spec: json_spec,
        armed: true,
    };
    let text_cleanup = Cleanup {
        spec: text_spec,
        armed: true,
    };
    let json_proxy = Proxy::start(endpoint(), Behaviour::Faults(fault_plan(1)));
    let text_proxy = Proxy::start(endpoint(), Behaviour::Faults(fault_plan(2)));

    // Both applies at once, on their own stacks and proxies.
    let (json_out, text_out) = std::thread::scope(|s| {
        let json = s.spawn(|| {
            moodle_ha_at(
                json_proxy.url(),
                &["--output", "json", "apply", "--yes", json_spec],
            )
        });
        let text = s.spawn(|| moodle_ha_at(text_proxy.url(), &["apply", "--yes", text_spec]));
        (
            json.join().expect("json apply thread"),
            text.join().expect("text apply thread"),
        )
    });

    // `--output json`: api_calls.retries.
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json_out)).unwrap_or_else(|e| {
        panic!(
            "the apply's JSON document ({e}), exit {:?}:\n{}",
            json_out.status.code(),
            stderr(&json_out)
        )
    });
    let failed: Vec<String> = doc["apply"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["outcome"]["status"] == "failed")
        .map(|s| format!("{}: {}", s["key"], s["outcome"]["error"]))
        .collect();
    assert!(
        json_out.status.success(),
        "the JSON apply failed (exit {:?}) with faults {:?}:\n{}\n{}",
        json_out.status.code(),
        json_proxy.faults(),
        failed.join("\n"),
        stderr(&json_out)
    );
    let total = doc["api_calls"]["total"].as_u64().expect("api_calls.total");
    let retries = doc["api_calls"]["retries"]
        .as_u64()
        .expect("api_calls.retries");
    assert!(retries > 0, "{}", doc["api_calls"]);
    let json_summary = check_retries("json apply", &json_proxy, total, retries);

    // Text: "Done: … (R AWS requests, X of them retries)."
    let text = stdout(&text_out);
    let done = done_line(&text);
    let failed: Vec<String> = stderr(&text_out)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("FAILED to creating "))
        .map(str::to_string)
        .collect();
    assert!(
        text_out.status.success(),
        "the text apply failed (exit {:?}) with faults {:?}:\n{done}\n{}",
        text_out.status.code(),
        text_proxy.faults(),
        stderr(&text_out)
    );
    let numbers: Vec<u64> = done
        .split(['(', ')', ',', ' '])
        .filter_map(|w| w.parse().ok())
        .collect();
    let [_, failed_steps, skipped, requests, retries] = numbers[..] else {
        panic!("unexpected summary line: {done}");
    };
    assert_eq!(
        (failed_steps as usize, skipped),
        (failed.len(), 0),
        "{done}"
    );
    assert!(done.contains("of them retries"), "{done}");
    let text_summary = check_retries("text apply", &text_proxy, requests, retries);
    println!("{json_summary}\n{text_summary}\n{done}");

    // Converged: nothing left to do, every resource exactly once, straight to the emulator.
    for (spec, name) in [(json_spec, &json_stack.name), (text_spec, &text_stack.name)] {
        plan_is_empty(spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        let wrong = exactly_once(&inventory(name).await);
        assert!(wrong.is_empty(), "{name}: {wrong:#?}");
    }
    json_cleanup.destroy();
    text_cleanup.destroy();
}

/// Creates AWS makes no client token for: moodle-ha sends them once per answer, and after a
/// lost one looks the resource up by its tag instead of sending the create again.
const CREATES_WITHOUT_TOKEN: &[&str] = &[
    "CreateVpc",
    "CreateSubnet",
    "CreateInternetGateway",
    "AllocateAddress",
    "CreateRoute",
];

/// Answers lost on the way back: the emulator did the request, the client saw a reset. One
/// request in four, reads and writes alike. Idempotent calls are sent again (by the SDK, or
/// with the same client token); a create without a token is not: the resource is looked up
/// and adopted. Nothing may be made twice, and nothing may fail. Seed 3 loses answers of
/// creates without a token; seed 5 also the answer to the very first request, the stack
/// lock's PutParameter, whose retry must find the lock it took as its own.
#[tokio::test(flavor = "multi_thread")]
async fn apply_converges_when_answers_are_lost() {
    answers_lost(3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_converges_when_the_answer_to_taking_the_lock_is_lost() {
    answers_lost(5).await;
}

async fn answers_lost(seed: u64) {
    let stack = example_spec(&unique("lost"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let cleanup = Cleanup { spec, armed: true };
    let proxy = Proxy::start(
        endpoint(),
        Behaviour::Faults(FaultPlan {
            seed,
            one_in: 4,
            kinds: vec![Fault::LostAnswer],
            max_faulted_attempt: 3,
        }),
    );
    let out = moodle_ha_at(proxy.url(), &["apply", "--yes", spec]);
    let lost: Vec<String> = proxy
        .records()
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Injected(_)))
        .map(|r| format!("{}.{}", r.service, r.operation))
        .collect();
    assert!(
        out.status.success(),
        "apply failed with answers lost for {lost:?}:\n{}\n{}",
        done_line(&stdout(&out)),
        stderr(&out)
            .lines()
            .filter(|l| l.contains("FAILED"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let wrong = exactly_once(&inventory(&stack.name).await);
    assert!(wrong.is_empty(), "answers lost for {lost:?}: {wrong:#?}");
    // A create without a token whose answer was lost was adopted, never sent again.
    let records = proxy.records();
    let resent: Vec<String> = records
        .iter()
        .filter(|r| {
            r.outcome == Outcome::Injected(Fault::LostAnswer)
                && CREATES_WITHOUT_TOKEN.contains(&r.operation.as_str())
        })
        .filter(|r| {
            records
                .iter()
                .any(|next| next.invocation == r.invocation && next.n > r.n)
        })
        .map(|r| format!("{} (request {})", r.operation, r.n))
        .collect();
    assert!(
        resent.is_empty(),
        "sent again after its answer was lost: {resent:?}"
    );
    let guarded = records
        .iter()
        .filter(|r| {
            r.outcome == Outcome::Injected(Fault::LostAnswer)
                && CREATES_WITHOUT_TOKEN.contains(&r.operation.as_str())
        })
        .count();
    println!(
        "{} requests, {} answers lost ({guarded} of creates without a client token); {}",
        records.len(),
        lost.len(),
        done_line(&stdout(&out))
    );
    plan_is_empty(spec).expect("nothing left to do");
    cleanup.destroy();
}

/// The requests-per-target policy needs its target group attached to the load balancer, which
/// the listeners do: it must wait for them. The proxy holds `CreateListener` until the policy
/// step has looked the target group up (`DescribeTargetGroups` by ARN), or 15 s.
#[tokio::test(flavor = "multi_thread")]
async fn the_requests_policy_waits_for_the_listeners() {
    let stack = example_spec(&unique("late-lis"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let cleanup = Cleanup { spec, armed: true };
    let proxy = Proxy::start(
        endpoint(),
        Behaviour::HoldUntil {
            hold: "CreateListener".into(),
            until: "DescribeTargetGroups".into(),
            until_body: "TargetGroupArns".into(),
            max: Duration::from_secs(15),
        },
    );
    let out = moodle_ha_at(proxy.url(), &["apply", "--yes", spec]);
    assert!(
        out.status.success(),
        "{}\n{}",
        done_line(&stdout(&out)),
        stderr(&out)
            .lines()
            .filter(|l| l.contains("FAILED"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(proxy);
    plan_is_empty(spec).expect("nothing left to do");
    cleanup.destroy();
}

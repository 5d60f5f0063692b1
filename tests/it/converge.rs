//! Convergence over the spec space, not one spec: valid specs generated from a seed (proptest
//! strategies, reproducible), each applied to the emulator; then `plan --detailed-exitcode` and
//! `drift` exit 0, a second `apply` sends no mutating call, and `destroy` leaves nothing the
//! stack's tags find. The stacks run concurrently under unique names. A failing case prints
//! its seed and its spec.
//!
//! `MOODLE_HA_CONVERGE_SEED` (default below) and `MOODLE_HA_CONVERGE_SPECS` (default 25) pick
//! the sample; the ignored `converge_sweep` runs 200 on demand:
//! `cargo test --test it converge_sweep -- --ignored`.

use crate::harness::*;
use futures::StreamExt;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::fmt::Write;

const DEFAULT_SEED: u64 = 0x6d6f_6f64_6c65;
const AZS: [&str; 3] = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
/// x86_64 types of the t, m and c families (validation asks for two families, one
/// architecture, 3–6 distinct types).
const TYPES: [&str; 8] = [
    "t3.large",
    "t3a.large",
    "m5.large",
    "m6i.large",
    "m7i.large",
    "c5.large",
    "c6i.large",
    "c7i.large",
];
const INGRESS: [&str; 4] = ["0.0.0.0/0", "10.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24"];

/// One point of the spec space.
#[derive(Clone, Debug)]
struct Choice {
    /// AZ indices in the spec's order (2 or 3).
    azs: Vec<usize>,
    /// `None`: `network.create` with NAT per AZ (`false`) or single (`true`); `Some`: existing.
    nat_single: Option<bool>,
    existing: bool,
    /// 0 MySQL 8.0, 1 MySQL 8.4, 2 Aurora MySQL 3.
    engine: usize,
    readers: u32,
    replicas: u32,
    failover: bool,
    types: Vec<&'static str>,
    ingress: Vec<&'static str>,
    tags: Vec<(String, String)>,
    scheduled: Vec<usize>,
    desired: bool,
    /// 0 no policies, 1 CPU, 2 requests, 3 both.
    scaling: u8,
    ssh: bool,
    extra_db: bool,
    /// 0 Ubuntu 24.04, 1 Amazon Linux 2023, 2 Debian 12.
    os: usize,
    apache: bool,
    /// 0 Moodle 4.5, 1 5.0, 2 5.1.
    version: usize,
}

fn choices() -> impl Strategy<Value = Choice> {
    let network = (Just(vec![0usize, 1, 2]).prop_shuffle(), 2usize..=3, 0u8..3);
    let data = (0usize..3, 0u32..=2, 0u32..=2, any::<bool>());
    let lists = (
        Just(TYPES.to_vec()).prop_shuffle(),
        3usize..=6,
        Just(INGRESS.to_vec()).prop_shuffle(),
        1usize..=3,
        proptest::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{1,8}", 0..=3),
        Just(vec![0usize, 1, 2]).prop_shuffle(),
        0usize..=3,
    );
    let options = (
        any::<bool>(),
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        any::<bool>(),
        0usize..3,
    );
    (network, data, lists, options).prop_map(
        |(
            (azs, n_azs, net),
            (engine, readers, replicas, failover),
            (types, n_types, ingress, n_ingress, tags, scheduled, n_scheduled),
            (desired, scaling, ssh, extra_db, os, apache, version),
        )| {
            let mut types: Vec<&'static str> = types.into_iter().take(n_types).collect();
            // Two families at least: swap in a type of another family when all are one.
            let family = |t: &str| t.chars().next();
            if types.iter().all(|t| family(t) == family(types[0])) {
                let other = TYPES
                    .iter()
                    .find(|t| family(t) != family(types[0]))
                    .copied()
                    .unwrap_or("c6i.large");
                types[0] = other;
            }
            Choice {
                azs: azs.into_iter().take(n_azs).collect(),
                nat_single: (net < 2).then_some(net == 1),
                existing: net == 2,
                engine,
                readers,
                replicas,
                failover,
                types,
                ingress: ingress.into_iter().take(n_ingress).collect(),
                tags: tags
                    .into_iter()
                    .map(|(k, v)| (format!("t-{k}"), v))
                    .collect(),
                scheduled: scheduled.into_iter().take(n_scheduled).collect(),
                desired,
                scaling,
                ssh,
                extra_db,
                os,
                apache,
                // Moodle 5.x needs MySQL 8.4 or Aurora: on 8.0 the spec stays on 4.5.
                version: if engine == 0 { 0 } else { version },
            }
        },
    )
}

/// The choice for `seed`, reproducibly.
fn choice(seed: u64) -> Choice {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    match choices().new_tree(&mut runner) {
        Ok(tree) => tree.current(),
        Err(e) => panic!("seed {seed}: {e}"),
    }
}

/// The adopted network of an `existing` case: a VPC and a public and private subnet per AZ,
/// made outside the stack (untagged), by AZ name.
struct Existing {
    vpc: String,
    public: Vec<String>,
    private: Vec<String>,
}

/// The spec's YAML.
fn spec_yaml(name: &str, c: &Choice, octet: u8, existing: Option<&Existing>) -> String {
    let azs: Vec<&str> = c.azs.iter().map(|&i| AZS[i]).collect();
    let mut y = String::new();
    let _ = writeln!(y, "name: {name}\nregion: eu-west-1");
    if !c.tags.is_empty() {
        y.push_str("tags:\n");
        for (k, v) in &c.tags {
            let _ = writeln!(y, "  {k}: {v}");
        }
    }
    y.push_str("network:\n");
    match existing {
        Some(e) => {
            let _ = writeln!(
                y,
                "  existing:\n    vpc_id: {}\n    public_subnets: [{}]\n    private_subnets: [{}]",
                e.vpc,
                e.public.join(", "),
                e.private.join(", ")
            );
        }
        None => {
            let public: Vec<String> = c
                .azs
                .iter()
                .map(|i| format!("10.{octet}.{i}.0/24"))
                .collect();
            let private: Vec<String> = c
                .azs
                .iter()
                .map(|i| format!("10.{octet}.{}.0/20", 16 * (i + 1)))
                .collect();
            let _ = writeln!(
                y,
                "  create:\n    cidr: 10.{octet}.0.0/16\n    availability_zones: [{}]\n    public_subnet_cidrs: [{}]\n    private_subnet_cidrs: [{}]\n    nat_gateways: {}",
                azs.join(", "),
                public.join(", "),
                private.join(", "),
                if c.nat_single == Some(true) {
                    "single"
                } else {
                    "per_az"
                }
            );
        }
    }
    let engine = ["mysql-8.0", "mysql-8.4", "aurora-mysql-3"][c.engine];
    let _ = writeln!(
        y,
        "database:\n  engine: {engine}\n  instance_class: db.r6g.large\n  backup_retention_days: 7\n  deletion_protection: false\n  final_snapshot: false"
    );
    if c.engine == 2 {
        let _ = writeln!(y, "  aurora_readers: {}", c.readers);
    }
    if c.extra_db {
        y.push_str("  parameters:\n    extra:\n      long_query_time: \"2\"\n      slow_query_log: \"1\"\n");
    }
    y.push_str("file_storage:\n  throughput_mode: elastic\n");
    let failover = c.replicas > 0 && c.failover;
    let _ = writeln!(
        y,
        "cache:\n  node_type: cache.t4g.medium\n  engine_version: \"7.1\"\n  replicas: {}\n  automatic_failover: {failover}\n  multi_az: {failover}",
        c.replicas
    );
    let _ = writeln!(
        y,
        "load_balancer:\n  certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f\n  ingress_cidrs: [{}]",
        c.ingress.join(", ")
    );
    // The emulator publishes no Debian parameter: an AMI ID with the OS named, as an operator
    // of a private image would write it.
    let ami = [
        "ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
        "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        "ami-785db401\n  os: debian-12",
    ][c.os];
    let _ = writeln!(
        y,
        "web:\n  ami: {ami}\n  instance_types: [{}]\n  min: 1\n  max: 6",
        c.types.join(", ")
    );
    if c.desired {
        y.push_str("  desired: 2\n");
    }
    y.push_str("  scaling:\n");
    match c.scaling {
        0 => y.push_str("    cpu_target_percent: null\n    requests_per_target: null\n"),
        1 => y.push_str("    cpu_target_percent: 55\n    requests_per_target: null\n"),
        2 => y.push_str("    cpu_target_percent: null\n    requests_per_target: 800\n"),
        _ => y.push_str("    cpu_target_percent: 70\n    requests_per_target: 1200\n"),
    }
    if !c.scheduled.is_empty() {
        y.push_str("  scheduled_actions:\n");
        for &i in &c.scheduled {
            let (name, recurrence, size) = [
                ("weekday-morning", "0 7 * * 1-5", "min: 2"),
                ("evening", "0 19 * * *", "min: 1"),
                ("exam-week", "30 6 * * 1", "max: 5\n      desired: 3"),
            ][i];
            let _ = writeln!(
                y,
                "    - name: {name}\n      recurrence: \"{recurrence}\"\n      {size}"
            );
        }
    }
    y.push_str("cron:\n  instance_type: t3.large\n");
    if c.ssh {
        y.push_str("  ssh_cidrs: [192.0.2.10/32, 10.0.0.0/8]\n");
    }
    let version = ["4.5", "5.0", "5.1"][c.version];
    let _ = writeln!(
        y,
        "moodle:\n  version: \"{version}\"\n  wwwroot: https://moodle.example.edu\n  git_url: {}\n  git_ref: v{version}.0\n  web_server: {}\n  admin_email: admin@example.edu",
        super::harness::site_repo_url(),
        if c.apache { "apache" } else { "nginx" }
    );
    y
}

async fn existing_network(c: &Choice, octet: u8) -> Existing {
    let ec2 = ec2().await;
    let vpc = ec2
        .create_vpc()
        .cidr_block(format!("10.{octet}.0.0/16"))
        .send()
        .await
        .expect("vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let mut public = Vec::new();
    let mut private = Vec::new();
    for &i in &c.azs {
        for (cidr, list) in [
            (format!("10.{octet}.{i}.0/24"), &mut public),
            (format!("10.{octet}.{}.0/20", 16 * (i + 1)), &mut private),
        ] {
            let id = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(cidr)
                .availability_zone(AZS[i])
                .send()
                .await
                .expect("subnet")
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet id")
                .to_string();
            list.push(id);
        }
    }
    Existing {
        vpc,
        public,
        private,
    }
}

async fn remove_existing(e: &Existing) {
    let ec2 = ec2().await;
    for id in e.public.iter().chain(&e.private) {
        let _ = ec2.delete_subnet().subnet_id(id).send().await;
    }
    let _ = ec2.delete_vpc().vpc_id(&e.vpc).send().await;
}

/// Runs the binary off the async runtime.
async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        moodle_ha(&args)
    })
    .await
    .expect("join")
}

fn say(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// AWS operations that change something; the stack lock's own parameter is not the stack.
fn mutating(report: &serde_json::Value) -> Vec<String> {
    report["api_calls"]["by_operation"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|op| {
            let service = op["service"].as_str()?;
            let name = op["operation"].as_str()?;
            let read = ["Describe", "List", "Get"]
                .iter()
                .any(|p| name.starts_with(p));
            let lock = service == "SSM" && (name == "PutParameter" || name == "DeleteParameter");
            (!read && !lock).then(|| format!("{service} {name}"))
        })
        .collect()
}

/// One generated spec through apply, plan, drift, a second apply and destroy. `Err` holds
/// what went wrong.
async fn converge(seed: u64, index: usize) -> Result<(), String> {
    let c = choice(seed);
    let name = unique(&format!("cv{index:02}"));
    // A /16 of its own per case, so adopted VPCs of concurrent cases never overlap.
    let octet = u8::try_from(100 + index % 150).unwrap_or(100);
    let existing = if c.existing {
        Some(existing_network(&c, octet).await)
    } else {
        None
    };
    let yaml = spec_yaml(&name, &c, octet, existing.as_ref());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, &yaml).map_err(|e| e.to_string())?;
    let spec = path.to_string_lossy().to_string();
    let fail = |what: &str, detail: String| {
        Err(format!(
            "seed {seed} (case {index}, {c:?}): {what}\n{detail}\n--- spec\n{yaml}"
        ))
    };
    let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let result = async {
        let out = run(a(&["validate", &spec])).await;
        if !out.status.success() {
            return fail("the generated spec is not valid", say(&out));
        }
        let out = run(a(&["apply", "--yes", &spec])).await;
        if !out.status.success() {
            return fail("apply failed", say(&out));
        }
        let out = run(a(&["plan", "--detailed-exitcode", &spec])).await;
        if out.status.code() != Some(0) {
            return fail("plan after apply is not empty", say(&out));
        }
        let out = run(a(&["drift", &spec])).await;
        if out.status.code() != Some(0) {
            return fail("drift after apply", say(&out));
        }
        let out = run(a(&["--output", "json", "apply", "--yes", &spec])).await;
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let changed = mutating(&report);
        if !out.status.success() || !changed.is_empty() {
            return fail(
                &format!("a second apply sent mutating calls: {changed:?}"),
                say(&out),
            );
        }
        Ok(())
    }
    .await;
    // Destroy whatever happened, so a failure leaves nothing for the next run.
    let out = run(a(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        &spec,
    ]))
    .await;
    let result = result.and_then(|()| {
        if out.status.success() {
            Ok(())
        } else {
            fail("destroy failed", say(&out))
        }
    });
    let result = match result {
        Ok(()) => {
            let left: Vec<_> = tagged_counts(&name)
                .await
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect();
            // The stack's own tag-based read of every kind must find nothing either.
            let out = run(a(&["--output", "json", "plan", &spec])).await;
            let plan: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            let found: Vec<String> = plan["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|ch| ch["action"] != "create")
                .filter_map(|ch| ch["key"].as_str().map(str::to_string))
                .collect();
            if !left.is_empty() || !found.is_empty() || !out.status.success() {
                fail(
                    &format!("destroy left {left:?}; the stack still finds {found:?}"),
                    say(&out),
                )
            } else {
                Ok(())
            }
        }
        err => err,
    };
    if let Some(e) = &existing {
        remove_existing(e).await;
    }
    result
}

fn seed() -> u64 {
    std::env::var("MOODLE_HA_CONVERGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

async fn sweep(count: usize) {
    let _ = endpoint();
    let base = seed();
    let started = std::time::Instant::now();
    let failures: Vec<String> = futures::stream::iter(0..count)
        .map(|i| converge(base.wrapping_add(i as u64), i))
        .buffer_unordered(8)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    eprintln!(
        "converge: {count} generated specs from seed {base} in {:.0} s, {} failed",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} generated specs did not converge (rerun one with MOODLE_HA_CONVERGE_SEED=<seed> MOODLE_HA_CONVERGE_SPECS=1):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_specs_converge_plan_nothing_drift_nothing_and_destroy_everything() {
    let count = std::env::var("MOODLE_HA_CONVERGE_SPECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    sweep(count).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "on demand: 200 generated specs, several minutes"]
async fn converge_sweep() {
    sweep(200).await;
}

#[test]
fn the_generator_is_reproducible_and_spans_the_space() {
    let a: Vec<String> = (0..40)
        .map(|i| format!("{:?}", choice(DEFAULT_SEED + i)))
        .collect();
    let b: Vec<String> = (0..40)
        .map(|i| format!("{:?}", choice(DEFAULT_SEED + i)))
        .collect();
    assert_eq!(a, b, "same seed, same specs");
    let cs: Vec<Choice> = (0..25).map(|i| choice(DEFAULT_SEED + i)).collect();
    let seen = |f: &dyn Fn(&Choice) -> usize, n: usize| {
        let mut v: Vec<usize> = cs.iter().map(f).collect();
        v.sort();
        v.dedup();
        v.len() == n
    };
    assert!(seen(&|c| c.azs.len(), 2), "2 and 3 AZs");
    assert!(seen(&|c| c.engine, 3), "each engine");
    assert!(seen(&|c| c.replicas as usize, 3), "0–2 replicas");
    assert!(seen(&|c| c.os, 3), "each OS");
    assert!(seen(&|c| c.version, 3), "each Moodle branch");
    assert!(
        seen(&|c| usize::from(c.existing), 2),
        "created and existing networks"
    );
    assert!(
        cs.iter().any(|c| c.azs.windows(2).any(|w| w[0] > w[1])),
        "AZs out of order"
    );
}

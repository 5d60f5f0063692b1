//! Shared test plumbing: the emulator (started when nothing answers), unique stacks, running
//! the binary, and SDK clients for checking what it did.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub const REGION: &str = "eu-west-1";

/// The emulator's endpoint: `MOODLE_HA_TEST_ENDPOINT` (e.g. LocalStack Pro), or moto on
/// 127.0.0.1:4566, started through `localstack/emulator start` if it is not running.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(url) = std::env::var("MOODLE_HA_TEST_ENDPOINT") {
            return url;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("localstack/emulator");
        let status = Command::new(&script).arg("start").status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "could not start the emulator with {}",
            script.display()
        );
        "http://127.0.0.1:4566".to_string()
    })
}

/// A stack name no other test (or earlier run against the same emulator) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{:06x}", (nanos / 1000) % 0xff_ffff)
}

/// The example spec with another stack name, written to a temporary directory.
pub struct StackFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub name: String,
}

pub fn example_spec(name: &str, edit: impl FnOnce(String) -> String) -> StackFile {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/example.yaml"))
            .expect("example spec");
    let text = edit(with_site_repo(
        &text.replace("name: moodle-example", &format!("name: {name}")),
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write spec");
    StackFile {
        _dir: dir,
        path,
        name: name.to_string(),
    }
}

const ENVIRONMENT_45: &str = include_str!("../fixtures/moodle/environment-4.5.6.xml");
const ENVIRONMENT_51: &str = include_str!("../fixtures/moodle/environment-5.1.6.xml");

/// A local git repository standing in for a site's: one small Moodle-shaped tree per tag
/// (`version.php` with the branch's `$branch` and `admin/environment.xml`, both in `public/`
/// from 5.1, and `lib/setup.php`), tags `v4.5.0`, `v4.5.6`, `v4.5.7`, `v5.0.0`, `v5.1.0`,
/// `v5.1.6`. Made once per test run; a `file://` URL.
pub fn site_repo_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let src = dir.join("site");
        std::fs::create_dir_all(src.join("lib")).expect("mkdir");
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(&src)
                .args(["-c", "user.name=tests", "-c", "user.email=tests@invalid"])
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(src.join("lib/setup.php"), "<?php\n").expect("write");
        for (tag, version, branch) in [
            ("v4.5.0", "2024100700.00", "405"),
            ("v4.5.6", "2024100706.00", "405"),
            ("v4.5.7", "2024100707.00", "405"),
            ("v5.0.0", "2025041400.00", "500"),
            ("v5.1.0", "2025100600.00", "501"),
            ("v5.1.6", "2025100606.00", "501"),
        ] {
            let _ = std::fs::remove_file(src.join("version.php"));
            let _ = std::fs::remove_dir_all(src.join("public"));
            let at = if branch == "501" {
                std::fs::create_dir_all(src.join("public")).expect("mkdir");
                src.join("public/version.php")
            } else {
                src.join("version.php")
            };
            // The branch's own upgrade rules, where Moodle keeps them.
            let (admin, rules) = if branch == "501" {
                (src.join("public/admin"), ENVIRONMENT_51)
            } else {
                (src.join("admin"), ENVIRONMENT_45)
            };
            let _ = std::fs::remove_dir_all(src.join("admin"));
            std::fs::create_dir_all(&admin).expect("mkdir");
            std::fs::write(admin.join("environment.xml"), rules).expect("write");
            let release = tag.trim_start_matches('v');
            std::fs::write(
                at,
                format!("<?php\n$version  = {version};\n$release  = '{release} (Build: 20260101)';\n$branch   = '{branch}';\n"),
            )
            .expect("write");
            git(&["add", "-A"]);
            git(&["commit", "-qm", tag]);
            git(&["tag", tag]);
        }
        format!("file://{}", src.display())
    })
}

/// The spec `text` with its code from [`site_repo_url`] (tests reach no git host).
pub fn with_site_repo(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("git_url:") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if let Some(indent) = line.strip_suffix(line.trim_start()) {
            if line.trim_start().starts_with("git_ref:") {
                out.push_str(&format!("{indent}git_url: {}\n", site_repo_url()));
            }
        }
    }
    out
}

/// The release cache every test run of the CLI shares (made once per test run).
pub fn release_cache() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir").keep())
}

/// Runs `moodle-ha` with the emulator's endpoint and test credentials.
pub fn moodle_ha(args: &[&str]) -> Output {
    moodle_ha_at(endpoint(), args)
}

/// Runs `moodle-ha` against a given endpoint.
pub fn moodle_ha_at(endpoint: &str, args: &[&str]) -> Output {
    moodle_ha_with(endpoint, args, &[])
}

/// Runs `moodle-ha` against a given endpoint with extra environment (e.g. `RUST_LOG`).
pub fn moodle_ha_with(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moodle-ha"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("MOODLE_HA_RELEASE_CACHE", release_cache())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run moodle-ha")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

pub async fn config_for_tests() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

pub async fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&config_for_tests().await)
}

pub async fn efs() -> aws_sdk_efs::Client {
    aws_sdk_efs::Client::new(&config_for_tests().await)
}

/// The stack-tag filter, as the tool itself uses it.
pub fn stack_filter(stack: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:moodle-ha:stack")
        .values(stack)
        .build()
}

/// How many resources of each kind carry the stack's tag.
pub async fn tagged_counts(stack: &str) -> Vec<(&'static str, usize)> {
    let ec2 = ec2().await;
    let f = || stack_filter(stack);
    let vpcs = ec2
        .describe_vpcs()
        .filters(f())
        .send()
        .await
        .expect("vpcs")
        .vpcs()
        .len();
    let subnets = ec2
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .expect("subnets")
        .subnets()
        .len();
    let igws = ec2
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .expect("igws")
        .internet_gateways()
        .len();
    let eips = ec2
        .describe_addresses()
        .filters(f())
        .send()
        .await
        .expect("eips")
        .addresses()
        .len();
    let nats = ec2
        .describe_nat_gateways()
        .filter(f())
        .send()
        .await
        .expect("nats")
        .nat_gateways()
        .iter()
        .filter(|n| n.state().map(|s| s.as_str()) != Some("deleted"))
        .count();
    let rts = ec2
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .expect("rts")
        .route_tables()
        .len();
    let sgs = ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .expect("sgs")
        .security_groups()
        .len();
    let fss = stack_file_systems(stack).await.len();
    vec![
        ("vpc", vpcs),
        ("subnet", subnets),
        ("internet-gateway", igws),
        ("elastic-ip", eips),
        ("nat-gateway", nats),
        ("route-table", rts),
        ("security-group", sgs),
        ("file-system", fss),
    ]
}

/// The file systems carrying the stack's tag (EFS has no tag filter: all are listed).
pub async fn stack_file_systems(stack: &str) -> Vec<aws_sdk_efs::types::FileSystemDescription> {
    let all: Vec<_> = efs()
        .await
        .describe_file_systems()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("describe file systems");
    all.iter()
        .filter(|fs| {
            fs.tags()
                .iter()
                .any(|t| t.key() == "moodle-ha:stack" && t.value() == stack)
        })
        .cloned()
        .collect()
}

pub async fn rds() -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&config_for_tests().await)
}

pub async fn elasticache() -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::new(&config_for_tests().await)
}

pub async fn secrets() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&config_for_tests().await)
}

/// The JSON document a `--output json` command printed.
pub fn json(o: Output) -> serde_json::Value {
    let text = ok(o);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

pub async fn s3() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(&config_for_tests().await)
}

/// The emulator's account (moto's).
pub const ACCOUNT: &str = "123456789012";

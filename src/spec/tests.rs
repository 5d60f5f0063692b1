//! Table-driven tests of spec parsing, defaults and every validation rule.

use super::*;

const EXAMPLE: &str = include_str!("../../stacks/example.yaml");

fn example() -> Spec {
    match load_str(EXAMPLE) {
        Ok(l) => l.spec,
        Err(e) => panic!("example spec must load: {e}"),
    }
}

/// Errors (path, message) of a spec mutated by `f`.
fn errors_after(f: impl FnOnce(&mut Spec)) -> Vec<(String, String)> {
    let mut spec = example();
    f(&mut spec);
    validate(&spec, &SourceMap::from_yaml(EXAMPLE))
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| (p.path, p.message))
        .collect()
}

fn warnings_after(f: impl FnOnce(&mut Spec)) -> Vec<String> {
    let mut spec = example();
    f(&mut spec);
    validate(&spec, &SourceMap::from_yaml(EXAMPLE))
        .into_iter()
        .filter(|p| p.severity == Severity::Warning)
        .map(|p| p.path)
        .collect()
}

#[test]
fn the_example_is_valid_without_warnings() {
    let loaded = load_str(EXAMPLE).map_err(|e| e.to_string());
    assert_eq!(loaded.map(|l| l.warnings), Ok(vec![]));
}

#[test]
fn defaults_fill_what_the_spec_leaves_out() {
    let minimal = r#"
name: tiny
region: eu-west-1
network: { create: { cidr: 10.0.0.0/16, availability_zones: [eu-west-1a, eu-west-1b], public_subnet_cidrs: [10.0.0.0/24, 10.0.1.0/24], private_subnet_cidrs: [10.0.2.0/24, 10.0.3.0/24] } }
database: { instance_class: db.r6g.large }
cache: { node_type: cache.r7g.large }
load_balancer: { certificate_arn: "arn:aws:acm:eu-west-1:123456789012:certificate/8f3c2d1e-0a4b-4c5d-9e6f-7a8b9c0d1e2f" }
web: { instance_types: [m7i.large, c7i.large, t3.large], min: 2, max: 4 }
cron: { instance_type: t3.large }
moodle: { wwwroot: "https://m.example.org", git_ref: MOODLE_405_STABLE, admin_email: a@example.org }
"#;
    let spec = match load_str(minimal) {
        Ok(l) => l.spec,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(spec.load_balancer.deregistration_delay_seconds, 120);
    assert_eq!(spec.load_balancer.health_check.path, "/login/index.php");
    assert_eq!(spec.load_balancer.health_check.interval_seconds, 30);
    assert_eq!(spec.load_balancer.health_check.healthy_threshold, 2);
    assert_eq!(spec.file_storage.throughput_mode, ThroughputMode::Elastic);
    assert!(spec.file_storage.backup);
    assert_eq!(spec.database.engine, DbEngine::Mysql84);
    assert!(
        spec.database.multi_az && spec.database.deletion_protection && spec.database.final_snapshot
    );
    assert_eq!(spec.database.parameters.max_allowed_packet, "1G");
    assert_eq!(spec.cache.replicas, 1);
    assert!(spec.cache.automatic_failover && spec.cache.multi_az);
    assert_eq!(
        spec.web.desired, None,
        "desired is left to the scaling policies"
    );
    assert_eq!(spec.web.on_demand_base_capacity, 0);
    assert_eq!(spec.web.scaling.cpu_target_percent, Some(60));
    assert_eq!(
        spec.network.create.as_ref().map(|n| n.nat_gateways),
        Some(NatGateways::PerAz)
    );
    assert_eq!(spec.moodle.version, MoodleVersion::V4_5);
    assert_eq!(spec.moodle.dataroot, "/var/www/moodledata");
}

#[test]
fn unknown_fields_and_bad_yaml_name_the_field_and_line() {
    let cases = [
        (
            "name: a\nregion: eu-west-1\nbogus: 1\n",
            "bogus",
            3,
            "unknown field `bogus`",
        ),
        (
            "name: a\nweb:\n  min: 2\n  mni: 3\n",
            "web.mni",
            4,
            "unknown field `mni`",
        ),
        ("name: [\n", "", 1, ""),
        (
            "name: a\nregion: eu-west-1\nweb:\n  min: two\n",
            "web.min",
            4,
            "",
        ),
    ];
    for (text, path, line, message) in cases {
        let Err(LoadError::Syntax { problems }) = load_str(text) else {
            panic!("{text:?} must be a syntax error")
        };
        assert_eq!(problems.len(), 1, "{text:?}");
        assert_eq!(problems[0].line, Some(line), "{text:?}: {}", problems[0]);
        assert!(
            problems[0].path.starts_with(path),
            "{text:?}: {}",
            problems[0]
        );
        assert!(
            problems[0].message.contains(message),
            "{text:?}: {}",
            problems[0]
        );
    }
}

/// The one syntax problem of `text`, as (path, message, line).
fn syntax_problem(text: &str) -> (String, String, Option<usize>) {
    match load_str(text) {
        Err(LoadError::Syntax { problems }) if problems.len() == 1 => {
            let p = &problems[0];
            (p.path.clone(), p.message.clone(), p.line)
        }
        Err(e) => panic!("{text:?}: expected one syntax problem, got {e}"),
        Ok(_) => panic!("{text:?}: expected a syntax problem, it loaded"),
    }
}

/// The 1-based line of the first line of `text` that starts with `prefix`.
fn line_starting(text: &str, prefix: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .map(|i| i + 1)
}

const SCHEDULED: &str = "  scheduled_actions:\n    - name: mornings\n      recurrence: \"0 7 * * 1-5\"\n      min: 4\n    - name: evenings\n      min: 2\n  scaling:\n";

#[test]
fn a_missing_field_is_named_in_the_mapping_that_lacks_it_at_that_mappings_line() {
    // (text, path, the mapping as the message names it, a prefix of the mapping's line)
    let cases = [
        (
            EXAMPLE.replace("name: moodle-example\n", ""),
            "name",
            "the top-level mapping",
            "region:",
        ),
        (
            EXAMPLE.replace("  instance_class: db.r6g.large\n", ""),
            "database.instance_class",
            "the `database` mapping",
            "database:",
        ),
        (
            EXAMPLE.replace("    cidr: 10.40.0.0/16\n", ""),
            "network.create.cidr",
            "the `network.create` mapping",
            "  create:",
        ),
        (
            // The last key of the mapping is itself a mapping.
            EXAMPLE.replace("  certificate_arn: arn:aws:acm:", "  ssl_policy: arn:aws:acm:"),
            "load_balancer.certificate_arn",
            "the `load_balancer` mapping",
            "load_balancer:",
        ),
        (
            EXAMPLE.replace("  scaling:\n", SCHEDULED),
            "web.scheduled_actions[1].recurrence",
            "the `web.scheduled_actions[1]` mapping",
            "    - name: evenings",
        ),
        (
            EXAMPLE.replace(
                "  scaling:\n",
                "  scheduled_actions: [{ name: a, recurrence: \"0 7 * * *\", min: 1 }, { name: b, min: 2 }]\n  scaling:\n",
            ),
            "web.scheduled_actions[1].recurrence",
            "the `web.scheduled_actions[1]` mapping",
            "  scheduled_actions:",
        ),
        (
            EXAMPLE.replace("  instance_type: t3.large\n", "  root_volume_gib: 30\n"),
            "cron.instance_type",
            "the `cron` mapping",
            "cron:",
        ),
        (
            EXAMPLE.replace("cron:\n  instance_type: t3.large\n", "cron: { root_volume_gib: 30 }\n"),
            "cron.instance_type",
            "the `cron` mapping",
            "cron:",
        ),
        (
            EXAMPLE.replace("cron:\n  instance_type: t3.large\n", "cron: {}\n"),
            "cron.instance_type",
            "the `cron` mapping",
            "cron:",
        ),
    ];
    for (text, path, mapping, line) in cases {
        let field = path.rsplit('.').next().unwrap_or_default();
        assert_eq!(
            syntax_problem(&text),
            (
                path.to_string(),
                format!("missing field `{field}` in {mapping}"),
                line_starting(&text, line)
            ),
            "{path}"
        );
    }
    // Small documents: the only mapping, and nothing at all.
    assert_eq!(
        syntax_problem("region: eu-west-1\n"),
        (
            "name".into(),
            "missing field `name` in the top-level mapping".into(),
            Some(1)
        )
    );
    let (path, message, line) = syntax_problem("");
    assert!(line.is_none(), "{path}: {message} (line {line:?})");
}

#[test]
fn a_repeated_key_is_named_by_its_path_at_its_line_with_the_first_ones() {
    // (text, path, key, the repeat's line prefix, the first one's line prefix)
    let cases = [
        (
            EXAMPLE.replace(
                "region: eu-west-1\n",
                "region: eu-west-1\nregion: eu-west-2\n",
            ),
            "region",
            "region",
            "region: eu-west-2",
            "region: eu-west-1",
        ),
        (
            EXAMPLE.replace("  min: 2\n", "  min: 2\n  min: 3\n"),
            "web.min",
            "min",
            "  min: 3",
            "  min: 2",
        ),
        (
            EXAMPLE.replace(
                "    healthy_threshold: 2\n",
                "    healthy_threshold: 2\n    path: /\n",
            ),
            "load_balancer.health_check.path",
            "path",
            "    path: /\n",
            "    path: /login",
        ),
        (
            EXAMPLE.replace(
                "  owner: platform-team\n",
                "  owner: platform-team\n  owner: someone\n",
            ),
            "tags.owner",
            "owner",
            "  owner: someone",
            "  owner: platform-team",
        ),
        (
            EXAMPLE.replace(
                "  scaling:\n",
                &SCHEDULED.replace("      min: 2\n", "      min: 2\n      name: late\n"),
            ),
            "web.scheduled_actions[1].name",
            "name",
            "      name: late",
            "    - name: evenings",
        ),
        (
            // A whole section twice: the second `web` is the error, not the keys inside it.
            format!("{EXAMPLE}web:\n  min: 2\n"),
            "web",
            "web",
            "web:\n  min: 2",
            "web:",
        ),
    ];
    for (text, path, key, repeat, first) in cases {
        // The repeat's line: the first line starting with `repeat` after the first one's.
        let first_line = line_starting(&text, first);
        let repeat_line = text
            .match_indices(repeat)
            .map(|(i, _)| text[..i].lines().count() + 1)
            .find(|l| Some(*l) > first_line);
        let Some(first_line) = first_line else {
            panic!("{path}: no line starts with {first:?}")
        };
        assert_eq!(
            syntax_problem(&text),
            (
                path.to_string(),
                format!("duplicate mapping key `{key}`, first at line {first_line}"),
                repeat_line
            ),
            "{path}"
        );
    }
    // Lines end at a lone `\r` too.
    assert_eq!(
        syntax_problem("name: a\rregion: b\rregion: c\r"),
        (
            "region".into(),
            "duplicate mapping key `region`, first at line 2".into(),
            Some(3)
        )
    );
    // In a flow mapping both are on one line.
    let text = EXAMPLE.replace(
        "cron:\n  instance_type: t3.large\n",
        "cron: { instance_type: t3.large, instance_type: t3.small }\n",
    );
    let line = line_starting(&text, "cron:");
    assert_eq!(
        syntax_problem(&text),
        (
            "cron.instance_type".into(),
            format!(
                "duplicate mapping key `instance_type`, first at line {}",
                line.unwrap_or_default()
            ),
            line
        )
    );
}

#[test]
fn broken_specs_never_panic_and_only_name_lines_of_the_input() {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let mut texts: Vec<String> = vec![
        String::new(),
        "\n".into(),
        "---\n".into(),
        "~\n".into(),
        "[]\n".into(),
        "name\n".into(),
        "name:\n".into(),
        "database:\n".into(),
        "database: ~\n".into(),
        "database: []\n".into(),
        "web: {min: 1, min: 1".into(),
        "name: [\n".into(),
        "a: &x {b: 1}\nc: *x\nc: *x\n".into(),
        "? [a, b]\n: 1\n? [a, b]\n: 2\n".into(),
        EXAMPLE.replace("cron:\n  instance_type: t3.large\n", "cron:\n"),
        EXAMPLE.trim_end().to_string(),
    ];
    for i in 0..lines.len() {
        // Each line deleted, and each line repeated.
        let mut deleted = lines.clone();
        deleted.remove(i);
        texts.push(deleted.join("\n") + "\n");
        let mut repeated = lines.clone();
        repeated.insert(i, lines[i]);
        texts.push(repeated.join("\n") + "\n");
    }
    for text in &texts {
        let count = text.lines().count();
        let problems = match load_str(text) {
            Ok(loaded) => loaded.warnings,
            Err(e) => e.problems().to_vec(),
        };
        for p in problems {
            if let Some(line) = p.line {
                assert!(
                    (1..=count).contains(&line),
                    "{p} is outside the {count} lines of {text:?}"
                );
            }
        }
    }
}

#[test]
fn every_error_is_reported_at_once_with_lines() {
    let text = EXAMPLE
        .replace(
            "deregistration_delay_seconds: 120",
            "deregistration_delay_seconds: 300",
        )
        .replace("10.40.1.0/24", "10.40.1.0/33")
        .replace("min: 2", "min: 9");
    let Err(LoadError::Invalid { problems }) = load_str(&text) else {
        panic!("must be invalid")
    };
    let lines: Vec<(String, Option<usize>)> =
        problems.iter().map(|p| (p.path.clone(), p.line)).collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|i| i + 1);
    assert!(
        lines.contains(&(
            "network.create.public_subnet_cidrs[1]".into(),
            line_of("public_subnet_cidrs")
        )),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(
            "load_balancer.deregistration_delay_seconds".into(),
            line_of("deregistration_delay_seconds")
        )),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("web.min".into(), line_of("min: 9"))),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("web.desired".into(), line_of("desired: 4"))),
        "{lines:?}"
    );
}

type Mutation = fn(&mut Spec);

#[test]
fn each_rule_rejects_what_it_should() {
    let cases: Vec<(&str, Mutation, &str, &str)> = vec![
        (
            "bad stack name",
            |s| s.name = "Moodle_Prod".into(),
            "name",
            "not a stack name",
        ),
        (
            "double hyphen",
            |s| s.name = "a--b".into(),
            "name",
            "not a stack name",
        ),
        (
            "long stack name",
            |s| s.name = "a".repeat(25),
            "name",
            "3–24",
        ),
        (
            "bad region",
            |s| s.region = "europe".into(),
            "region",
            "not an AWS region",
        ),
        (
            "reserved tag",
            |s| {
                s.tags.insert("moodle-ha:stack".into(), "x".into());
            },
            "tags.moodle-ha:stack",
            "reserved",
        ),
        (
            "both networks",
            |s| {
                s.network.existing = Some(ExistingNetwork {
                    vpc_id: "vpc-12345678".into(),
                    public_subnets: vec![],
                    private_subnets: vec![],
                })
            },
            "network",
            "not both",
        ),
        (
            "no network",
            |s| s.network.create = None,
            "network",
            "set `existing`",
        ),
        (
            "bad vpc cidr",
            |s| net(s).cidr = "10.40.0.0/33".into(),
            "network.create.cidr",
            "not an IPv4 CIDR",
        ),
        (
            "host bits",
            |s| net(s).cidr = "10.40.0.1/16".into(),
            "network.create.cidr",
            "host bits",
        ),
        (
            "one az",
            |s| {
                let n = net(s);
                n.availability_zones.truncate(1);
                n.public_subnet_cidrs.truncate(1);
                n.private_subnet_cidrs.truncate(1);
            },
            "network.create.availability_zones",
            "two or more",
        ),
        (
            "duplicate az",
            |s| net(s).availability_zones[2] = "eu-west-1a".into(),
            "network.create.availability_zones[2]",
            "duplicate availability zone",
        ),
        (
            "foreign az",
            |s| net(s).availability_zones[1] = "us-east-1b".into(),
            "network.create.availability_zones[1]",
            "not an availability zone",
        ),
        (
            "cidr count",
            |s| {
                net(s).private_subnet_cidrs.pop();
            },
            "network.create.private_subnet_cidrs",
            "one CIDR per availability zone",
        ),
        (
            "subnet outside vpc",
            |s| net(s).private_subnet_cidrs[0] = "10.41.16.0/20".into(),
            "network.create.private_subnet_cidrs[0]",
            "not inside",
        ),
        (
            "overlapping subnets",
            |s| net(s).private_subnet_cidrs[1] = "10.40.16.0/24".into(),
            "network.create.private_subnet_cidrs[1]",
            "overlaps network.create.private_subnet_cidrs[0]",
        ),
        (
            "bad subnet id",
            |s| adopt(s).public_subnets[0] = "subnet-xyz".into(),
            "network.existing.public_subnets[0]",
            "not a subnet ID",
        ),
        (
            "bad vpc id",
            |s| adopt(s).vpc_id = "vpc-1".into(),
            "network.existing.vpc_id",
            "not a VPC ID",
        ),
        (
            "one private subnet",
            |s| {
                adopt(s).private_subnets.truncate(1);
            },
            "network.existing.private_subnets",
            "two or more",
        ),
        (
            "duplicate subnet id",
            |s| {
                let a = adopt(s);
                a.private_subnets[1] = a.private_subnets[0].clone();
            },
            "network.existing.private_subnets[1]",
            "duplicate subnet ID",
        ),
        (
            "subnet in both lists",
            |s| {
                let a = adopt(s);
                a.private_subnets[0] = a.public_subnets[0].clone();
            },
            "network.existing.private_subnets[0]",
            "also listed as a public subnet",
        ),
        (
            "dereg too short",
            |s| s.load_balancer.deregistration_delay_seconds = 59,
            "load_balancer.deregistration_delay_seconds",
            "60–120",
        ),
        (
            "dereg too long",
            |s| s.load_balancer.deregistration_delay_seconds = 300,
            "load_balancer.deregistration_delay_seconds",
            "two-minute Spot notice",
        ),
        (
            "certificate region",
            |s| {
                s.load_balancer.certificate_arn = s
                    .load_balancer
                    .certificate_arn
                    .replace("eu-west-1", "us-east-1")
            },
            "load_balancer.certificate_arn",
            "needs one in `eu-west-1`",
        ),
        (
            "not a certificate",
            |s| s.load_balancer.certificate_arn = "cert".into(),
            "load_balancer.certificate_arn",
            "not an ACM certificate ARN",
        ),
        (
            "bad ingress cidr",
            |s| s.load_balancer.ingress_cidrs = vec!["1.2.3.4/40".into()],
            "load_balancer.ingress_cidrs[0]",
            "not a CIDR",
        ),
        (
            "health check timeout",
            |s| s.load_balancer.health_check.timeout_seconds = 30,
            "load_balancer.health_check.timeout_seconds",
            "shorter than",
        ),
        (
            "two instance types",
            |s| s.web.instance_types.truncate(2),
            "web.instance_types",
            "3–6",
        ),
        (
            "seven instance types",
            |s| {
                s.web
                    .instance_types
                    .extend(["m5.large".into(), "c5.large".into()])
            },
            "web.instance_types",
            "3–6",
        ),
        (
            "one family",
            |s| {
                s.web.instance_types =
                    vec!["m7i.large".into(), "m6i.large".into(), "m5.large".into()]
            },
            "web.instance_types",
            "at least two of the t, m and c",
        ),
        (
            "other family",
            |s| s.web.instance_types[0] = "r7i.large".into(),
            "web.instance_types[0]",
            "not in the t, m or c",
        ),
        (
            "bad instance type",
            |s| s.web.instance_types[1] = "huge".into(),
            "web.instance_types[1]",
            "not an EC2 instance type",
        ),
        (
            "duplicate instance type",
            |s| s.web.instance_types[1] = "m7i.large".into(),
            "web.instance_types[1]",
            "duplicate instance type",
        ),
        (
            "mixed architectures",
            |s| s.web.instance_types[0] = "m7g.large".into(),
            "web.instance_types",
            "mixes architectures",
        ),
        (
            "min above max",
            |s| s.web.min = 9,
            "web.min",
            "must not exceed `max`",
        ),
        (
            "desired below min",
            |s| s.web.desired = Some(1),
            "web.desired",
            "within min..max",
        ),
        (
            "desired above max",
            |s| s.web.desired = Some(9),
            "web.desired",
            "within min..max",
        ),
        (
            "on-demand floor above max",
            |s| s.web.on_demand_base_capacity = 9,
            "web.on_demand_base_capacity",
            "must not exceed",
        ),
        (
            "drain shorter than the deregistration delay",
            |s| s.web.termination_drain_seconds = 90,
            "web.termination_drain_seconds",
            "at least `load_balancer.deregistration_delay_seconds` (120)",
        ),
        (
            "drain too long",
            |s| s.web.termination_drain_seconds = 9000,
            "web.termination_drain_seconds",
            "30–7200",
        ),
        (
            "refresh percentage above 100",
            |s| s.web.refresh_min_healthy_percent = 101,
            "web.refresh_min_healthy_percent",
            "0–100",
        ),
        (
            "scheduled action with a bad recurrence",
            |s| {
                s.web.scheduled_actions = vec![crate::spec::ScheduledAction {
                    name: "exams".into(),
                    recurrence: "every morning".into(),
                    time_zone: "UTC".into(),
                    min: Some(4),
                    max: None,
                    desired: None,
                }]
            },
            "web.scheduled_actions[0].recurrence",
            "five-field cron",
        ),
        (
            "scheduled action that changes nothing",
            |s| {
                s.web.scheduled_actions = vec![crate::spec::ScheduledAction {
                    name: "exams".into(),
                    recurrence: "0 7 * * 1-5".into(),
                    time_zone: "UTC".into(),
                    min: None,
                    max: None,
                    desired: None,
                }]
            },
            "web.scheduled_actions[0]",
            "at least one of",
        ),
        (
            "scheduled action with min above max",
            |s| {
                s.web.scheduled_actions = vec![crate::spec::ScheduledAction {
                    name: "exams".into(),
                    recurrence: "0 7 * * 1-5".into(),
                    time_zone: "UTC".into(),
                    min: Some(9),
                    max: Some(4),
                    desired: None,
                }]
            },
            "web.scheduled_actions[0].min",
            "must not exceed",
        ),
        (
            "scheduled action with a bad name",
            |s| {
                s.web.scheduled_actions = vec![crate::spec::ScheduledAction {
                    name: "exam week!".into(),
                    recurrence: "0 7 * * 1-5".into(),
                    time_zone: "UTC".into(),
                    min: Some(4),
                    max: None,
                    desired: None,
                }]
            },
            "web.scheduled_actions[0].name",
            "letters, digits and hyphens",
        ),
        (
            "scaling target out of range",
            |s| s.web.scaling.cpu_target_percent = Some(95),
            "web.scaling.cpu_target_percent",
            "10–90",
        ),
        (
            "bad health check path",
            |s| s.load_balancer.health_check.path = "login".into(),
            "load_balancer.health_check.path",
            "must start with `/`",
        ),
        (
            "bad tls policy",
            |s| s.load_balancer.ssl_policy = "TLS13".into(),
            "load_balancer.ssl_policy",
            "not an ELB security policy",
        ),
        (
            "imds hop limit zero",
            |s| s.web.imds_hop_limit = 0,
            "web.imds_hop_limit",
            "1–64",
        ),
        (
            "bad ami",
            |s| s.web.ami = "ubuntu".into(),
            "web.ami",
            "not an AMI ID",
        ),
        (
            "small packet",
            |s| s.database.parameters.max_allowed_packet = "64M".into(),
            "database.parameters.max_allowed_packet",
            "at least 256M",
        ),
        (
            "packet not a size",
            |s| s.database.parameters.max_allowed_packet = "lots".into(),
            "database.parameters.max_allowed_packet",
            "not a size",
        ),
        (
            "no backups",
            |s| s.database.backup_retention_days = 0,
            "database.backup_retention_days",
            "1–35",
        ),
        (
            "bad db class",
            |s| s.database.instance_class = "r6g.large".into(),
            "database.instance_class",
            "not an RDS instance class",
        ),
        (
            "bad window",
            |s| s.database.backup_window = "2am".into(),
            "database.backup_window",
            "hh:mm-hh:mm",
        ),
        (
            "reserved user",
            |s| s.database.master_username = "admin".into(),
            "database.master_username",
            "reserved",
        ),
        (
            "failover without replica",
            |s| s.cache.replicas = 0,
            "cache.replicas",
            "at least one replica",
        ),
        (
            "enhanced monitoring interval RDS does not offer",
            |s| s.database.monitoring_interval_seconds = 20,
            "database.monitoring_interval_seconds",
            "every 20 seconds; use 1, 5, 10, 15, 30 or 60",
        ),
        (
            "plaintext database connections",
            |s| {
                s.database
                    .parameters
                    .extra
                    .insert("require_secure_transport".into(), "0".into());
            },
            "database.parameters.extra.require_secure_transport",
            "cannot be turned off",
        ),
        (
            "log retention CloudWatch Logs does not offer",
            |s| s.logs.retention_days = 31,
            "logs.retention_days",
            "cannot keep events 31 days; use one of 1, 3, 5, 7, 14, 30, 60, 90,",
        ),
        (
            "multi-az without failover",
            |s| s.cache.automatic_failover = false,
            "cache.multi_az",
            "needs `automatic_failover: true`",
        ),
        (
            "provisioned without rate",
            |s| s.file_storage.throughput_mode = ThroughputMode::Provisioned,
            "file_storage.provisioned_throughput_mibps",
            "required",
        ),
        (
            "bad lifecycle",
            |s| s.file_storage.transition_to_ia = "AFTER_2_DAYS".into(),
            "file_storage.transition_to_ia",
            "not one of",
        ),
        (
            "http wwwroot",
            |s| s.moodle.wwwroot = "http://moodle.example.edu".into(),
            "moodle.wwwroot",
            "must be https",
        ),
        (
            "trailing slash",
            |s| s.moodle.wwwroot = "https://moodle.example.edu/".into(),
            "moodle.wwwroot",
            "without a trailing slash",
        ),
        (
            "dataroot in code",
            |s| s.moodle.dataroot = "/var/www/moodle/data".into(),
            "moodle.dataroot",
            "must not be inside the code",
        ),
        (
            "few input vars",
            |s| s.moodle.php.max_input_vars = 1000,
            "moodle.php.max_input_vars",
            "at least 5000",
        ),
        (
            "moodle 5 on mysql 8.0",
            |s| {
                s.moodle.version = MoodleVersion::V5_0;
                s.database.engine = DbEngine::Mysql80;
            },
            "database.engine",
            "`moodle.version` 5.0",
        ),
    ];
    for (name, mutate, path, message) in cases {
        let errors = errors_after(mutate);
        assert!(
            errors.iter().any(|(p, m)| p == path && m.contains(message)),
            "{name}: expected `{path}: …{message}…`, got {errors:?}"
        );
    }
}

#[test]
fn warnings_flag_what_weakens_ha_without_failing() {
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "single-az database",
            |s| s.database.multi_az = false,
            "database.multi_az",
        ),
        (
            "no deletion protection",
            |s| s.database.deletion_protection = false,
            "database.deletion_protection",
        ),
        (
            "failover off",
            |s| {
                s.cache.automatic_failover = false;
                s.cache.multi_az = false;
            },
            "cache.automatic_failover",
        ),
        (
            "one web node",
            |s| {
                s.web.min = 1;
                s.web.desired = None;
            },
            "web.min",
        ),
        (
            "on-demand majority",
            |s| s.web.on_demand_percentage_above_base = 80,
            "web.on_demand_percentage_above_base",
        ),
        (
            "redirects accepted",
            |s| s.load_balancer.health_check.matcher = "200-399".into(),
            "load_balancer.health_check.matcher",
        ),
    ];
    for (name, mutate, path) in cases {
        let warnings = warnings_after(mutate);
        assert!(
            warnings.iter().any(|p| p == path),
            "{name}: expected a warning at {path}, got {warnings:?}"
        );
    }
}

#[test]
fn the_published_schema_is_current() {
    let published = include_str!("../../stacks/schema.json");
    assert!(
        published == json_schema(),
        "stacks/schema.json is stale: regenerate it with `cargo run -- schema > stacks/schema.json`"
    );
}

fn net(s: &mut Spec) -> &mut CreateNetwork {
    match s.network.create.as_mut() {
        Some(n) => n,
        None => panic!("example creates its network"),
    }
}

fn adopt(s: &mut Spec) -> &mut ExistingNetwork {
    s.network.create = None;
    s.network.existing.get_or_insert_with(|| ExistingNetwork {
        vpc_id: "vpc-0123456789abcdef0".into(),
        public_subnets: vec![
            "subnet-0000000000000000a".into(),
            "subnet-0000000000000000b".into(),
        ],
        private_subnets: vec![
            "subnet-0000000000000000c".into(),
            "subnet-0000000000000000d".into(),
        ],
    })
}

/// Problems (path, full text with lines) of the example with a Moodle section changed.
fn moodle_problems(edit: &[(&str, &str)]) -> Vec<(Severity, String, String)> {
    let mut text = EXAMPLE.to_string();
    for (from, to) in edit {
        assert!(text.contains(from), "the example has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    let spec: Spec = match serde_saphyr::from_str(&text) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    validate(&spec, &SourceMap::from_yaml(&text))
        .into_iter()
        .map(|p| (p.severity, p.path.clone(), p.to_string()))
        .collect()
}

fn only_error(problems: &[(Severity, String, String)]) -> (String, String) {
    let errors: Vec<_> = problems.iter().filter(|p| p.0 == Severity::Error).collect();
    assert_eq!(errors.len(), 1, "{problems:#?}");
    (errors[0].1.clone(), errors[0].2.clone())
}

#[test]
fn moodle_branch_rules_refuse_impossible_pairs_naming_both_fields() {
    // Moodle 5.x accepts mysqli only on MySQL 8.4+: RDS MySQL 8.0 is refused, both named.
    let (path, text) = only_error(&moodle_problems(&[
        ("engine: mysql-8.4", "engine: mysql-8.0"),
        ("version: \"4.5\"", "version: \"5.1\""),
    ]));
    assert_eq!(path, "database.engine");
    assert!(
        text.contains("`moodle.version` 5.1 (line 77)") && text.ends_with("(line 21)"),
        "{text}"
    );
    // 4.5 on MySQL 8.0, every branch on 8.4 and on Aurora MySQL 3 are fine.
    for (engine, version) in [
        ("mysql-8.0", "4.5"),
        ("mysql-8.4", "5.0"),
        ("aurora-mysql-3", "5.1"),
    ] {
        let problems = moodle_problems(&[
            ("engine: mysql-8.4", &format!("engine: {engine}")),
            ("version: \"4.5\"", &format!("version: \"{version}\"")),
        ]);
        assert!(
            problems.iter().all(|p| p.0 != Severity::Error),
            "{engine} + {version}: {problems:#?}"
        );
    }
    // PHP: 4.5 needs 8.1–8.3, 5.x 8.2–8.4, and the distribution must ship it.
    let al2023 = "ami: ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
    let ubuntu = "ami: ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id";
    let (path, text) = only_error(&moodle_problems(&[
        (ubuntu, al2023),
        (
            "git_ref: v4.5.6",
            "git_ref: v4.5.6\n  php: { version: \"8.4\" }",
        ),
    ]));
    assert_eq!(path, "moodle.php.version");
    assert!(
        text.contains(
            "Moodle 4.5 needs PHP 8.1, 8.2, 8.3 (`moodle.version` (line 77) gives PHP 8.4)"
        ),
        "{text}"
    );
    let (path, text) = only_error(&moodle_problems(&[(
        "git_ref: v4.5.6",
        "git_ref: v4.5.6\n  php: { version: \"8.2\" }",
    )]));
    assert_eq!(path, "moodle.php.version");
    assert!(
        text.contains("PHP 8.2 is not shipped by `ubuntu-24.04` (`web.ami` (line 62)); it has 8.3"),
        "{text}"
    );
    let ok = moodle_problems(&[
        (ubuntu, al2023),
        ("engine: mysql-8.4", "engine: aurora-mysql-3"),
        ("version: \"4.5\"", "version: \"5.1\""),
        (
            "git_ref: v4.5.6",
            "git_ref: v5.1.1\n  php: { version: \"8.4\" }",
        ),
    ]);
    assert!(ok.iter().all(|p| p.0 != Severity::Error), "{ok:#?}");
    // The distribution is read from an SSM parameter; an AMI ID needs `web.os`, and the two
    // must agree.
    let (path, text) = only_error(&moodle_problems(&[(ubuntu, "ami: ami-0123456789abcdef0")]));
    assert_eq!(path, "web.os");
    assert!(
        text.contains("`web.ami` (line 62) does not say its distribution"),
        "{text}"
    );
    let (path, text) = only_error(&moodle_problems(&[(
        ubuntu,
        &format!("{ubuntu}\n  os: amazon-linux-2023"),
    )]));
    assert_eq!(path, "web.os");
    assert!(
        text.contains("`amazon-linux-2023` but `web.ami` (line 62) is an `ubuntu-24.04` image"),
        "{text}"
    );
    let ok = moodle_problems(&[(
        ubuntu,
        "ami: ami-0123456789abcdef0\n  os: amazon-linux-2023",
    )]);
    assert!(ok.iter().all(|p| p.0 != Severity::Error), "{ok:#?}");
}

#[test]
fn php_defaults_to_the_newest_version_both_the_distribution_and_the_branch_have() {
    let mut spec = example();
    assert_eq!(
        (spec.os(), spec.php_version().as_str()),
        (Os::Ubuntu2404, "8.3")
    );
    spec.web.ami =
        "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".into();
    assert_eq!(
        (spec.os(), spec.php_version().as_str()),
        (Os::AmazonLinux2023, "8.3")
    );
    spec.moodle.version = MoodleVersion::V5_1;
    assert_eq!(spec.php_version(), "8.4");
}

#[test]
fn moodle_user_prefix_site_names_and_cron_jobs_are_checked() {
    let cases: &[(&[(&str, &str)], &str, &str)] = &[
        (
            &[("git_ref: v4.5.6", "git_ref: v4.5.6\n  db_user: admin")],
            "moodle.db_user",
            "reserved",
        ),
        (
            &[(
                "git_ref: v4.5.6",
                "git_ref: v4.5.6\n  db_user: moodle\n  db_prefix: Mdl-",
            )],
            "moodle.db_prefix",
            "table prefix",
        ),
        (
            &[(
                "git_ref: v4.5.6",
                "git_ref: v4.5.6\n  site_name: \"two\\nlines\"",
            )],
            "moodle.site_name",
            "one line",
        ),
        (
            &[(
                "instance_type: t3.large\n\nmoodle",
                "instance_type: t3.large\n  jobs: [{ schedule: \"* * *\", command: php x.php }]\n\nmoodle",
            )],
            "cron.jobs[0].schedule",
            "five-field",
        ),
        (
            &[(
                "instance_type: t3.large\n\nmoodle",
                "instance_type: t3.large\n  jobs: [{ schedule: \"* * * * *\", command: php admin/cli/cron.php }]\n\nmoodle",
            )],
            "cron.jobs[0].command",
            "always there, exactly once",
        ),
        (
            &[(
                "instance_type: t3.large\n\nmoodle",
                "instance_type: t3.large\n  jobs: [{ schedule: \"* * * * *\", command: \"date +%s\" }]\n\nmoodle",
            )],
            "cron.jobs[0].command",
            "`%`",
        ),
    ];
    for (edit, path, needle) in cases {
        let (got, text) = only_error(&moodle_problems(edit));
        assert_eq!(&got, path, "{text}");
        assert!(text.contains(needle), "{text}");
    }
    // The site's own user differs from the master user (RDS rotates the master's password).
    let errors = errors_after(|s| s.moodle.db_user = s.database.master_username.clone());
    assert!(
        errors
            .iter()
            .any(|(p, m)| p == "moodle.db_user" && m.contains("master_username")),
        "{errors:?}"
    );
    // A moving branch is allowed, with a warning.
    assert_eq!(
        warnings_after(|s| s.moodle.git_ref = "MOODLE_405_STABLE".into()),
        ["moodle.git_ref"]
    );
}

#[test]
fn debian_12_is_read_from_debians_ssm_parameter_and_runs_4_5_and_5_1_on_php_8_2_only() {
    let ubuntu = "ami: ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id";
    // Debian publishes its AMIs under /aws/service/debian/release/<12|bookworm>/latest/<arch>.
    for path in [
        "/aws/service/debian/release/12/latest/amd64",
        "/aws/service/debian/release/bookworm/latest/amd64",
        "/aws/service/debian/release/12/latest/arm64",
    ] {
        assert_eq!(
            Os::of_ami(&format!("ssm:{path}")),
            Some(Os::Debian12),
            "{path}"
        );
    }
    assert_eq!(
        Os::of_ami("debian-12-amd64-20240717-1811"),
        Some(Os::Debian12),
        "Debian's image names"
    );
    for other in [
        "ssm:/aws/service/debian/release/11/latest/amd64",
        "ssm:/aws/service/debian/release/13/latest/amd64",
        "debian-11-amd64-20240717-1811",
        "ami-0123456789abcdef0",
    ] {
        assert_eq!(Os::of_ami(other), None, "{other}");
    }
    let debian = "ami: ssm:/aws/service/debian/release/12/latest/amd64";
    for version in ["4.5", "5.1"] {
        let problems = moodle_problems(&[
            (ubuntu, debian),
            ("version: \"4.5\"", &format!("version: \"{version}\"")),
        ]);
        assert!(
            problems.iter().all(|p| p.0 != Severity::Error),
            "{version}: {problems:#?}"
        );
    }
    let mut spec = example();
    spec.web.ami = "ssm:/aws/service/debian/release/bookworm/latest/amd64".into();
    assert_eq!(
        (spec.os(), spec.php_version().as_str()),
        (Os::Debian12, "8.2")
    );
    spec.moodle.version = MoodleVersion::V5_1;
    assert_eq!(spec.php_version(), "8.2", "8.2 is all Debian 12 has");
    // PHP 8.3 is not in Debian 12's archive.
    let (path, text) = only_error(&moodle_problems(&[
        (ubuntu, debian),
        (
            "git_ref: v4.5.6",
            "git_ref: v4.5.6\n  php: { version: \"8.3\" }",
        ),
    ]));
    assert_eq!(path, "moodle.php.version");
    assert!(
        text.contains("PHP 8.3 is not shipped by `debian-12` (`web.ami` (line 62)); it has 8.2"),
        "{text}"
    );
    // An AMI ID with `web.os: debian-12`; a Debian parameter with another `web.os` is refused.
    let ok = moodle_problems(&[(ubuntu, "ami: ami-0123456789abcdef0\n  os: debian-12")]);
    assert!(ok.iter().all(|p| p.0 != Severity::Error), "{ok:#?}");
    let (path, text) = only_error(&moodle_problems(&[(
        ubuntu,
        &format!("{debian}\n  os: ubuntu-24.04"),
    )]));
    assert_eq!(path, "web.os");
    assert!(
        text.contains("`ubuntu-24.04` but `web.ami` (line 62) is an `debian-12` image"),
        "{text}"
    );
    let (path, text) = only_error(&moodle_problems(&[(ubuntu, "ami: ami-0123456789abcdef0")]));
    assert_eq!(path, "web.os");
    assert!(
        text.contains("`ubuntu-24.04`, `debian-12` or `amazon-linux-2023`"),
        "{text}"
    );
}

#[test]
fn git_url_is_https_ssh_scp_like_or_an_absolute_file_url_or_path() {
    // The CLI clones it (the nodes get the release), so a local repository works too.
    for url in [
        "https://git.example.edu/moodle.git",
        "ssh://git@git.example.edu/moodle.git",
        "git@git.example.edu:moodle.git",
        "file:///srv/mirror/moodle.git",
        "/srv/mirror/moodle.git",
    ] {
        let problems = moodle_problems(&[(
            "git_ref: v4.5.6",
            &format!("git_url: {url}\n  git_ref: v4.5.6"),
        )]);
        assert!(
            problems.iter().all(|p| p.0 != Severity::Error),
            "{url}: {problems:#?}"
        );
    }
    for url in [
        "file://relative/moodle.git",
        "relative/moodle.git",
        "ftp://x/y",
    ] {
        let (path, text) = only_error(&moodle_problems(&[(
            "git_ref: v4.5.6",
            &format!("git_url: {url}\n  git_ref: v4.5.6"),
        )]));
        assert_eq!(path, "moodle.git_url");
        assert!(text.contains("is not a git URL"), "{text}");
    }
}

#[test]
fn boot_downloads_are_settings_with_their_own_urls() {
    let problems = moodle_problems(&[(
        "git_ref: v4.5.6",
        "git_ref: v4.5.6\n  rds_ca_bundle_url: s3://moodle-ha-s-123456789012-eu-west-1/releases/rds/global-bundle.pem\n  efs_utils_git_url: https://git.example.edu/mirror/efs-utils\n  phpredis_source: s3://moodle-ha-s-123456789012-eu-west-1/releases/redis-6.1.0.tgz",
    )]);
    assert!(
        problems.iter().all(|p| p.0 != Severity::Error),
        "{problems:#?}"
    );
    let (path, text) = only_error(&moodle_problems(&[(
        "git_ref: v4.5.6",
        "git_ref: v4.5.6\n  rds_ca_bundle_url: http://example.edu/bundle.pem",
    )]));
    assert_eq!(path, "moodle.rds_ca_bundle_url");
    assert!(text.contains("https:// or s3://"), "{text}");
    let (path, _) = only_error(&moodle_problems(&[(
        "git_ref: v4.5.6",
        "git_ref: v4.5.6\n  efs_utils_git_url: ftp://x/efs-utils",
    )]));
    assert_eq!(path, "moodle.efs_utils_git_url");
    assert_eq!(example().moodle.phpredis_source, "pecl");
    let (path, text) = only_error(&moodle_problems(&[(
        "git_ref: v4.5.6",
        "git_ref: v4.5.6\n  phpredis_source: pecl.php.net/redis",
    )]));
    assert_eq!(path, "moodle.phpredis_source");
    assert!(
        text.contains("must be `pecl` or an https:// or s3:// URL"),
        "{text}"
    );
}

#[test]
fn a_log_retention_cloudwatch_logs_does_not_offer_is_refused_at_its_line() {
    assert_eq!(example().logs.retention_days, 90);
    let text = EXAMPLE.replace("retention_days: 90", "retention_days: 45");
    let line = text
        .lines()
        .position(|l| l.contains("retention_days: 45"))
        .map(|i| i + 1);
    let Some(line) = line else {
        panic!("the example sets logs.retention_days")
    };
    let error = match load_str(&text) {
        Ok(_) => panic!("45 days is not a CloudWatch Logs retention"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains(&format!(
            "error: logs.retention_days: CloudWatch Logs cannot keep events 45 days; use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (line {line})"
        )),
        "{error}"
    );
}

#[test]
fn performance_insights_is_left_off_with_a_warning_on_classes_without_it() {
    let spec = example();
    assert!(spec.database.performance_insights && spec.database.monitoring_interval_seconds == 60);
    assert!(spec.database.class_supports_performance_insights());
    for (engine, class, supported) in [
        (DbEngine::Mysql84, "db.t3.micro", false),
        (DbEngine::Mysql84, "db.t4g.small", false),
        (DbEngine::Mysql84, "db.t3.medium", true),
        (DbEngine::AuroraMysql3, "db.t3.medium", false),
        (DbEngine::AuroraMysql3, "db.t4g.medium", true),
        (DbEngine::AuroraMysql3, "db.r7g.large", true),
    ] {
        let mut s = example();
        s.database.engine = engine;
        s.database.instance_class = class.into();
        assert_eq!(
            s.database.class_supports_performance_insights(),
            supported,
            "{engine:?} {class}"
        );
    }
    let warned = warnings_after(|s| s.database.instance_class = "db.t3.micro".into());
    assert!(
        warned.contains(&"database.performance_insights".to_string()),
        "{warned:?}"
    );
    let quiet = warnings_after(|s| {
        s.database.instance_class = "db.t3.micro".into();
        s.database.performance_insights = false;
    });
    assert!(!quiet.contains(&"database.performance_insights".to_string()));
}

#[test]
fn secrets_administrators_are_role_or_user_arns_of_the_stacks_account_at_their_line() {
    assert_eq!(
        example().secrets.administrators,
        ["arn:aws:iam::123456789012:role/operators/moodle-admin"]
    );
    let good = "arn:aws:iam::123456789012:role/operators/moodle-admin";
    let list = [
        "arn:aws:iam::123456789012:user/ops/jane@example.edu",
        "arn:aws:sts::123456789012:assumed-role/deployer/ci-run",
        "arn:aws:iam::123456789012:role/ops/*",
        "arn:aws:iam::210987654321:role/ops/admin",
        "arn:aws-cn:iam::123456789012:role/admin",
        "arn:aws:iam::123456789012:user/ops/jane@example.edu",
    ];
    let text = EXAMPLE.replace(
        &format!("administrators: [{good}]"),
        &format!(
            "administrators:\n{}",
            list.iter()
                .map(|a| format!("    - \"{a}\"\n"))
                .collect::<String>()
        ),
    );
    let first = text
        .lines()
        .position(|l| l.contains(list[0]))
        .map(|i| i + 1)
        .unwrap_or_default();
    let error = match load_str(&text) {
        Ok(_) => panic!("bad administrators must be refused"),
        Err(e) => e.to_string(),
    };
    let wants = [
        (
            1,
            "`arn:aws:sts::123456789012:assumed-role/deployer/ci-run` is a session; name its role",
        ),
        (
            2,
            "`arn:aws:iam::123456789012:role/ops/*` is not an IAM role or user ARN without wildcards",
        ),
        (
            3,
            "is in account 210987654321, the stack in 123456789012 (the certificate's)",
        ),
        (
            4,
            "is in partition `aws-cn`; the stack's region `eu-west-1` is in `aws`",
        ),
        (
            5,
            "duplicate administrator `arn:aws:iam::123456789012:user/ops/jane@example.edu`, also at secrets.administrators[0]",
        ),
    ];
    for (i, want) in wants {
        let line = first + i;
        let found = error.lines().any(|l| {
            l.contains(&format!("secrets.administrators[{i}]: "))
                && l.contains(want)
                && l.ends_with(&format!("(line {line})"))
        });
        assert!(found, "[{i}] {want} (line {line}) in:\n{error}");
    }
    assert!(!error.contains("administrators[0]:"), "{error}");
    assert_eq!(
        error.matches("error: secrets.administrators[").count(),
        5,
        "{error}"
    );
}

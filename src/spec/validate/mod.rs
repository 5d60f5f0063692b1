//! Validation of a parsed spec: every rule, every problem at once, each naming its field and
//! line. Pure: no AWS call is made here (references to things in AWS are checked at plan time).

use super::source_map::SourceMap;
use super::{DbEngine, Network, Os, Spec, ThroughputMode};
use ipnet::{IpNet, Ipv4Net};
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

/// How bad a problem is: errors stop the run, warnings are printed and the run goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot be used.
    Error,
    /// The spec works but gives up something the HA design relies on.
    Warning,
}

/// One problem found in a spec: `path: message (line N)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The field, e.g. `web.instance_types[3]`.
    pub path: String,
    /// What is wrong, lowercase, with literals in backticks.
    pub message: String,
    /// 1-based line of the field (or of its nearest written ancestor).
    pub line: Option<usize>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| match Regex::new($pattern) {
            Ok(re) => re,
            Err(e) => panic!("invalid built-in pattern {}: {e}", $pattern),
        });
    };
}

re!(STACK_NAME, r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$");
re!(REGION, r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$");
re!(VPC_ID, r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$");
re!(SUBNET_ID, r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$");
re!(
    AMI,
    r"^(ami-([0-9a-f]{8}|[0-9a-f]{17})|ssm:/[A-Za-z0-9_./-]+)$"
);
re!(
    ACM_ARN,
    r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]{36}$"
);
re!(INSTANCE_TYPE, r"^([a-z][a-z0-9-]*)\.([a-z0-9]+)$");
re!(DB_CLASS, r"^db\.[a-z0-9-]+\.[a-z0-9]+$");
re!(CACHE_NODE, r"^cache\.[a-z0-9]+\.[a-z0-9]+$");
re!(ACTION_NAME, r"^[A-Za-z0-9-]{1,64}$");
re!(
    DAILY_WINDOW,
    r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
);
re!(
    WEEKLY_WINDOW,
    r"^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$"
);
re!(DB_NAME, r"^[A-Za-z][A-Za-z0-9_]{0,63}$");
re!(DB_USER, r"^[A-Za-z][A-Za-z0-9_]{0,15}$");
re!(MOVING_BRANCH, r"^(MOODLE_[0-9]+_STABLE|main|master)$");
re!(DB_PREFIX, r"^[a-z][a-z0-9_]{0,9}$");
re!(DB_PARAM, r"^[a-z][a-z0-9_.]*$");
re!(SIZE, r"^([0-9]+)([KMG]?)$");
re!(MATCHER, r"^[0-9]{3}((-|,)[0-9]{3})*$");
re!(PROFILE_NAME, r"^[\w+=,.@-]{1,128}$");
re!(
    KMS_KEY,
    r"^([0-9a-f-]{36}|alias/[A-Za-z0-9/_-]+|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]+))$"
);
re!(ENGINE_VERSION, r"^[0-9]+(\.[0-9]+){0,2}$");
re!(
    WWWROOT,
    r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-])?$"
);

const IA_TRANSITIONS: &[&str] = &[
    "NONE",
    "AFTER_1_DAY",
    "AFTER_7_DAYS",
    "AFTER_14_DAYS",
    "AFTER_30_DAYS",
    "AFTER_60_DAYS",
    "AFTER_90_DAYS",
    "AFTER_180_DAYS",
    "AFTER_270_DAYS",
    "AFTER_365_DAYS",
];
const RESERVED_DB_USERS: &[&str] = &[
    "admin",
    "root",
    "rdsadmin",
    "rdsrepladmin",
    "mysql",
    "mysql.sys",
    "mysql.session",
];

/// Checks every rule and returns all problems, errors and warnings, in file order.
pub fn validate(spec: &Spec, source: &SourceMap) -> Vec<Problem> {
    let mut c = Checker {
        source,
        problems: Vec::new(),
    };
    c.stack(spec);
    c.network(spec);
    c.database(spec);
    c.file_storage(spec);
    c.cache(spec);
    c.load_balancer(spec);
    c.web(spec);
    c.cron(spec);
    c.moodle(spec);
    c.problems
        .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.severity));
    c.problems
}

struct Checker<'a> {
    source: &'a SourceMap,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn push(&mut self, severity: Severity, path: &str, message: String) {
        let line = self.source.line_of(path);
        self.problems.push(Problem {
            severity,
            path: path.to_string(),
            message,
            line,
        });
    }
    /// ` (line N)` for another field named in a message, or nothing when it is not written.
    fn at(&self, path: &str) -> String {
        self.source
            .line_of(path)
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default()
    }
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, path, message.into());
    }
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, path, message.into());
    }
    fn pattern(&mut self, path: &str, value: &str, re: &Regex, what: &str) -> bool {
        let ok = re.is_match(value);
        if !ok {
            self.err(path, format!("`{value}` is not {what}"));
        }
        ok
    }
    fn range(&mut self, path: &str, value: u32, min: u32, max: u32, why: &str) {
        if value < min || value > max {
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            };
            self.err(path, format!("must be {min}–{max}, got {value}{why}"));
        }
    }
    /// Reports a later duplicate with the path of the first occurrence.
    fn unique<'v>(&mut self, base: &str, values: impl IntoIterator<Item = &'v String>, what: &str) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, v) in values.into_iter().enumerate() {
            if let Some(first) = seen.get(v.as_str()) {
                self.err(
                    &format!("{base}[{i}]"),
                    format!("duplicate {what} `{v}`, also at {base}[{first}]"),
                );
            } else {
                seen.insert(v, i);
            }
        }
    }

    fn stack(&mut self, spec: &Spec) {
        if !STACK_NAME.is_match(&spec.name) || spec.name.contains("--") {
            self.err(
                "name",
                format!("`{}` is not a stack name: use 3–24 lowercase letters, digits and single hyphens, starting with a letter", spec.name),
            );
        }
        self.pattern(
            "region",
            &spec.region,
            &REGION,
            "an AWS region (e.g. `eu-west-1`)",
        );
        if spec.tags.len() > 40 {
            self.err(
                "tags",
                format!(
                    "at most 40 tags (AWS allows 50 and moodle-ha sets its own), got {}",
                    spec.tags.len()
                ),
            );
        }
        for (k, v) in &spec.tags {
            let path = format!("tags.{k}");
            let lower = k.to_ascii_lowercase();
            if k.is_empty() || k.chars().count() > 128 {
                self.err(&path, "a tag key must be 1–128 characters");
            } else if lower.starts_with("aws:") || lower.starts_with("moodle-ha:") || k == "Name" {
                self.err(&path, format!("`{k}` is reserved: `aws:` and `moodle-ha:` keys and `Name` are set by AWS or moodle-ha"));
            }
            if v.chars().count() > 256 {
                self.err(&path, "a tag value must be at most 256 characters");
            }
        }
    }

    fn network(&mut self, spec: &Spec) {
        let Network { existing, create } = &spec.network;
        match (existing, create) {
            (Some(_), Some(_)) => {
                self.err("network", "set either `existing` or `create`, not both")
            }
            (None, None) => self.err(
                "network",
                "set `existing` (adopt a VPC and subnets) or `create` (a new VPC)",
            ),
            _ => {}
        }
        if let Some(net) = existing {
            self.pattern(
                "network.existing.vpc_id",
                &net.vpc_id,
                &VPC_ID,
                "a VPC ID (`vpc-` and 8 or 17 hex digits)",
            );
            for (name, list) in [
                ("public_subnets", &net.public_subnets),
                ("private_subnets", &net.private_subnets),
            ] {
                let base = format!("network.existing.{name}");
                if list.len() < 2 {
                    self.err(
                        &base,
                        format!("HA needs subnets in two or more AZs, got {}", list.len()),
                    );
                }
                for (i, id) in list.iter().enumerate() {
                    self.pattern(
                        &format!("{base}[{i}]"),
                        id,
                        &SUBNET_ID,
                        "a subnet ID (`subnet-` and 8 or 17 hex digits)",
                    );
                }
                self.unique(&base, list, "subnet ID");
            }
            for (i, id) in net.private_subnets.iter().enumerate() {
                if net.public_subnets.contains(id) {
                    self.err(
                        &format!("network.existing.private_subnets[{i}]"),
                        format!("`{id}` is also listed as a public subnet"),
                    );
                }
            }
        }
        if let Some(net) = create {
            let vpc = match net.cidr.parse::<Ipv4Net>() {
                Ok(cidr) if cidr != cidr.trunc() => {
                    self.err(
                        "network.create.cidr",
                        format!(
                            "`{}` has host bits set; did you mean `{}`?",
                            net.cidr,
                            cidr.trunc()
                        ),
                    );
                    None
                }
                Ok(cidr) if !(16..=24).contains(&cidr.prefix_len()) => {
                    self.err(
                        "network.create.cidr",
                        format!("a VPC CIDR must be /16 to /24, got /{}", cidr.prefix_len()),
                    );
                    None
                }
                Ok(cidr) => Some(cidr),
                Err(_) => {
                    self.err(
                        "network.create.cidr",
                        format!(
                            "`{}` is not an IPv4 CIDR block (e.g. `10.0.0.0/16`)",
                            net.cidr
                        ),
                    );
                    None
                }
            };
            let azs = &net.availability_zones;
            if azs.len() < 2 {
                self.err(
                    "network.create.availability_zones",
                    format!("HA needs two or more availability zones, got {}", azs.len()),
                );
            }
            for (i, az) in azs.iter().enumerate() {
                let suffix = az.strip_prefix(spec.region.as_str());
                if !matches!(suffix, Some(s) if s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase()))
                {
                    self.err(
                        &format!("network.create.availability_zones[{i}]"),
                        format!("`{az}` is not an availability zone of `{}`", spec.region),
                    );
                }
            }
            self.unique(
                "network.create.availability_zones",
                azs,
                "availability zone",
            );
            let mut subnets: Vec<(String, Ipv4Net)> = Vec::new();
            for (name, list) in [
                ("public_subnet_cidrs", &net.public_subnet_cidrs),
                ("private_subnet_cidrs", &net.private_subnet_cidrs),
            ] {
                let base = format!("network.create.{name}");
                if list.len() != azs.len() {
                    self.err(
                        &base,
                        format!(
                            "one CIDR per availability zone: {} zones, {} CIDRs",
                            azs.len(),
                            list.len()
                        ),
                    );
                }
                for (i, text) in list.iter().enumerate() {
                    let path = format!("{base}[{i}]");
                    match text.parse::<Ipv4Net>() {
                        Ok(cidr) if cidr != cidr.trunc() => self.err(
                            &path,
                            format!(
                                "`{text}` has host bits set; did you mean `{}`?",
                                cidr.trunc()
                            ),
                        ),
                        Ok(cidr) if !(16..=28).contains(&cidr.prefix_len()) => self.err(
                            &path,
                            format!(
                                "a subnet CIDR must be /16 to /28, got /{}",
                                cidr.prefix_len()
                            ),
                        ),
                        Ok(cidr) => {
                            if let Some(vpc) = vpc {
                                if !vpc.contains(&cidr) {
                                    self.err(
                                        &path,
                                        format!("`{text}` is not inside the VPC's `{vpc}`"),
                                    );
                                }
                            }
                            if let Some((other, _)) = subnets
                                .iter()
                                .find(|(_, o)| o.contains(&cidr) || cidr.contains(o))
                            {
                                self.err(&path, format!("`{text}` overlaps {other}"));
                            }
                            subnets.push((path, cidr));
                        }
                        Err(_) => self.err(
                            &path,
                            format!("`{text}` is not an IPv4 CIDR block (e.g. `10.0.1.0/24`)"),
                        ),
                    }
                }
            }
        }
    }

    fn database(&mut self, spec: &Spec) {
        let db = &spec.database;
        self.pattern(
            "database.instance_class",
            &db.instance_class,
            &DB_CLASS,
            "an RDS instance class (e.g. `db.r6g.large`)",
        );
        match db.engine {
            DbEngine::AuroraMysql3 => {
                self.range("database.aurora_readers", db.aurora_readers, 0, 15, "");
                if db.aurora_readers == 0 {
                    self.warn("database.aurora_readers", "no reader: a writer failure means minutes of downtime while Aurora replaces it");
                }
            }
            DbEngine::Mysql80 | DbEngine::Mysql84 => {
                if !db.multi_az {
                    self.warn(
                        "database.multi_az",
                        "a single-AZ database is not highly available",
                    );
                }
                self.range(
                    "database.allocated_storage_gib",
                    db.allocated_storage_gib,
                    20,
                    65_536,
                    "",
                );
                if db.max_allocated_storage_gib < db.allocated_storage_gib {
                    self.err(
                        "database.max_allocated_storage_gib",
                        format!(
                            "must be at least `allocated_storage_gib` ({}), got {}",
                            db.allocated_storage_gib, db.max_allocated_storage_gib
                        ),
                    );
                }
            }
        }
        self.range(
            "database.backup_retention_days",
            db.backup_retention_days,
            1,
            35,
            "automated backups need at least one day",
        );
        self.pattern(
            "database.backup_window",
            &db.backup_window,
            &DAILY_WINDOW,
            "a UTC window `hh:mm-hh:mm`",
        );
        self.pattern(
            "database.maintenance_window",
            &db.maintenance_window,
            &WEEKLY_WINDOW,
            "a UTC window `ddd:hh:mm-ddd:hh:mm`",
        );
        if !db.deletion_protection {
            self.warn(
                "database.deletion_protection",
                "off: the database can be deleted by any API call",
            );
        }
        self.pattern(
            "database.name",
            &db.name,
            &DB_NAME,
            "a database name (a letter, then letters, digits, `_`)",
        );
        if self.pattern(
            "database.master_username",
            &db.master_username,
            &DB_USER,
            "a user name (a letter, then up to 15 letters, digits, `_`)",
        ) && RESERVED_DB_USERS.contains(&db.master_username.to_ascii_lowercase().as_str())
        {
            self.err(
                "database.master_username",
                format!("`{}` is reserved by MySQL or RDS", db.master_username),
            );
        }
        let p = &db.parameters;
        match parse_size(&p.max_allowed_packet) {
            Some(n) if n < 256 << 20 => self.err(
                "database.parameters.max_allowed_packet",
                format!(
                    "must be at least 256M for large uploads and restores, got `{}`",
                    p.max_allowed_packet
                ),
            ),
            Some(n) if n > 1 << 30 => self.err(
                "database.parameters.max_allowed_packet",
                format!("MySQL allows at most 1G, got `{}`", p.max_allowed_packet),
            ),
            Some(_) => {}
            None => self.err(
                "database.parameters.max_allowed_packet",
                format!(
                    "`{}` is not a size (bytes, or a number with K, M or G)",
                    p.max_allowed_packet
                ),
            ),
        }
        let pool = &p.innodb_buffer_pool_size;
        if !(pool.starts_with("{DBInstanceClassMemory") && pool.ends_with('}'))
            && parse_size(pool).is_none()
        {
            self.err(
                "database.parameters.innodb_buffer_pool_size",
                format!("`{pool}` is neither a size nor an RDS formula like `{{DBInstanceClassMemory*3/4}}`"),
            );
        }
        for name in p.extra.keys() {
            let path = format!("database.parameters.extra.{name}");
            if !DB_PARAM.is_match(name) {
                self.err(&path, format!("`{name}` is not a MySQL parameter name"));
            } else if name == "max_allowed_packet" || name == "innodb_buffer_pool_size" {
                self.err(
                    &path,
                    format!("set `{name}` in `database.parameters`, not in `extra`"),
                );
            }
        }
    }

    fn file_storage(&mut self, spec: &Spec) {
        let fs = &spec.file_storage;
        match (fs.throughput_mode, fs.provisioned_throughput_mibps) {
            (ThroughputMode::Provisioned, None) => self.err(
                "file_storage.provisioned_throughput_mibps",
                "required with `throughput_mode: provisioned`",
            ),
            (ThroughputMode::Provisioned, Some(v)) if !(1.0..=3414.0).contains(&v) => self.err(
                "file_storage.provisioned_throughput_mibps",
                format!("must be 1–3414 MiB/s, got {v}"),
            ),
            (ThroughputMode::Provisioned, Some(_)) => {}
            (_, Some(_)) => self.err(
                "file_storage.provisioned_throughput_mibps",
                "only allowed with `throughput_mode: provisioned`",
            ),
            (_, None) => {}
        }
        if fs.performance_mode == super::PerformanceMode::MaxIo
            && fs.throughput_mode == ThroughputMode::Elastic
        {
            self.err(
                "file_storage.performance_mode",
                "`maxIO` cannot be combined with elastic throughput; use `generalPurpose`",
            );
        }
        if let Some(key) = &fs.kms_key_id {
            self.pattern(
                "file_storage.kms_key_id",
                key,
                &KMS_KEY,
                "a KMS key ID, alias or ARN",
            );
        }
        if !IA_TRANSITIONS.contains(&fs.transition_to_ia.as_str()) {
            self.err(
                "file_storage.transition_to_ia",
                format!(
                    "`{}` is not one of {}",
                    fs.transition_to_ia,
                    IA_TRANSITIONS.join(", ")
                ),
            );
        }
        if !["NONE", "AFTER_1_ACCESS"].contains(&fs.transition_to_primary_storage_class.as_str()) {
            self.err(
                "file_storage.transition_to_primary_storage_class",
                format!(
                    "`{}` is not `AFTER_1_ACCESS` or `NONE`",
                    fs.transition_to_primary_storage_class
                ),
            );
        }
    }

    fn cache(&mut self, spec: &Spec) {
        let c = &spec.cache;
        self.pattern(
            "cache.node_type",
            &c.node_type,
            &CACHE_NODE,
            "an ElastiCache node type (e.g. `cache.r7g.large`)",
        );
        self.pattern(
            "cache.engine_version",
            &c.engine_version,
            &ENGINE_VERSION,
            "a Redis engine version (e.g. `7.1`)",
        );
        self.range("cache.replicas", c.replicas, 0, 5, "");
        if c.automatic_failover && c.replicas == 0 {
            self.err(
                "cache.replicas",
                "automatic failover needs at least one replica",
            );
        }
        if c.multi_az && !c.automatic_failover {
            self.err(
                "cache.multi_az",
                "Multi-AZ needs `automatic_failover: true`",
            );
        }
        if !c.automatic_failover {
            self.warn(
                "cache.automatic_failover",
                "OFF while Moodle keeps its sessions in Redis: losing the primary logs every user out and stops the site until it is replaced",
            );
        }
        self.pattern(
            "cache.maintenance_window",
            &c.maintenance_window,
            &WEEKLY_WINDOW,
            "a UTC window `ddd:hh:mm-ddd:hh:mm`",
        );
        self.range(
            "cache.snapshot_retention_days",
            c.snapshot_retention_days,
            0,
            35,
            "",
        );
    }

    fn load_balancer(&mut self, spec: &Spec) {
        let lb = &spec.load_balancer;
        if let Some(caps) = ACM_ARN.captures(&lb.certificate_arn) {
            if caps[1] != spec.region {
                self.err(
                    "load_balancer.certificate_arn",
                    format!(
                        "the certificate is in `{}`; the load balancer needs one in `{}`",
                        &caps[1], spec.region
                    ),
                );
            }
        } else {
            self.err(
                "load_balancer.certificate_arn",
                format!("`{}` is not an ACM certificate ARN", lb.certificate_arn),
            );
        }
        if !lb.ssl_policy.starts_with("ELBSecurityPolicy-") {
            self.err(
                "load_balancer.ssl_policy",
                format!(
                    "`{}` is not an ELB security policy (`ELBSecurityPolicy-…`)",
                    lb.ssl_policy
                ),
            );
        }
        if lb.ingress_cidrs.is_empty() {
            self.err(
                "load_balancer.ingress_cidrs",
                "at least one CIDR must reach the site",
            );
        }
        for (i, cidr) in lb.ingress_cidrs.iter().enumerate() {
            check_cidr(self, &format!("load_balancer.ingress_cidrs[{i}]"), cidr);
        }
        self.unique("load_balancer.ingress_cidrs", &lb.ingress_cidrs, "CIDR");
        self.range(
            "load_balancer.deregistration_delay_seconds",
            lb.deregistration_delay_seconds,
            60,
            120,
            "in-flight requests must finish inside the two-minute Spot notice",
        );
        self.range(
            "load_balancer.idle_timeout_seconds",
            lb.idle_timeout_seconds,
            1,
            4000,
            "",
        );
        let hc = &lb.health_check;
        if !hc.path.starts_with('/') {
            self.err(
                "load_balancer.health_check.path",
                format!("`{}` must start with `/`", hc.path),
            );
        }
        self.range(
            "load_balancer.health_check.interval_seconds",
            hc.interval_seconds,
            5,
            300,
            "",
        );
        self.range(
            "load_balancer.health_check.healthy_threshold",
            hc.healthy_threshold,
            2,
            10,
            "",
        );
        self.range(
            "load_balancer.health_check.unhealthy_threshold",
            hc.unhealthy_threshold,
            2,
            10,
            "",
        );
        self.range(
            "load_balancer.health_check.timeout_seconds",
            hc.timeout_seconds,
            2,
            120,
            "",
        );
        if hc.timeout_seconds >= hc.interval_seconds {
            self.err(
                "load_balancer.health_check.timeout_seconds",
                "must be shorter than `interval_seconds`",
            );
        }
        if self.pattern(
            "load_balancer.health_check.matcher",
            &hc.matcher,
            &MATCHER,
            "HTTP codes like `200` or `200-299`",
        ) && hc
            .matcher
            .split([',', '-'])
            .any(|code| code.starts_with('3'))
        {
            self.warn("load_balancer.health_check.matcher", "accepts redirects: a node then passes without proving PHP, database and Redis work");
        }
        self.range(
            "load_balancer.stickiness.duration_seconds",
            lb.stickiness.duration_seconds,
            1,
            604_800,
            "",
        );
    }

    fn web(&mut self, spec: &Spec) {
        let w = &spec.web;
        self.pattern(
            "web.ami",
            &w.ami,
            &AMI,
            "an AMI ID (`ami-…`) or an SSM parameter (`ssm:/aws/service/…`)",
        );
        let n = w.instance_types.len();
        if !(3..=6).contains(&n) {
            self.err(
                "web.instance_types",
                format!("list 3–6 instance types so Spot can find capacity, got {n}"),
            );
        }
        let mut families = std::collections::BTreeSet::new();
        let mut arches: BTreeMap<&str, &str> = BTreeMap::new();
        for (i, t) in w.instance_types.iter().enumerate() {
            let path = format!("web.instance_types[{i}]");
            let Some(caps) = INSTANCE_TYPE.captures(t) else {
                self.err(
                    &path,
                    format!("`{t}` is not an EC2 instance type (e.g. `m7i.large`)"),
                );
                continue;
            };
            let class = caps.get(1).map_or("", |m| m.as_str());
            let family = &class[..1];
            if !["t", "m", "c"].contains(&family) {
                self.err(&path, format!("`{t}` is not in the t, m or c families"));
            } else {
                families.insert(family.to_string());
            }
            arches.entry(arch_of(class)).or_insert(t);
        }
        self.unique("web.instance_types", &w.instance_types, "instance type");
        if n >= 3 && families.len() < 2 {
            self.err("web.instance_types", "use at least two of the t, m and c families, so one family's Spot shortage cannot empty the fleet");
        }
        if arches.len() > 1 {
            let list: Vec<String> = arches.iter().map(|(a, t)| format!("{a} (`{t}`)")).collect();
            self.err(
                "web.instance_types",
                format!(
                    "mixes architectures {}; one AMI serves one architecture",
                    list.join(" and ")
                ),
            );
        }
        if w.min > w.max {
            self.err(
                "web.min",
                format!("`min` ({}) must not exceed `max` ({})", w.min, w.max),
            );
        }
        if w.max == 0 {
            self.err("web.max", "must be at least 1");
        }
        if let Some(d) = w.desired {
            if d < w.min || d > w.max {
                self.err(
                    "web.desired",
                    format!("must lie within min..max ({}..{}), got {d}", w.min, w.max),
                );
            }
        }
        if w.min < 2 {
            self.warn(
                "web.min",
                "fewer than two web nodes: one Spot interruption takes the site down",
            );
        }
        if w.on_demand_base_capacity > w.max {
            self.err(
                "web.on_demand_base_capacity",
                format!(
                    "must not exceed `max` ({}), got {}",
                    w.max, w.on_demand_base_capacity
                ),
            );
        }
        self.range(
            "web.on_demand_percentage_above_base",
            w.on_demand_percentage_above_base,
            0,
            100,
            "",
        );
        if w.on_demand_percentage_above_base > 50 {
            self.warn(
                "web.on_demand_percentage_above_base",
                "the fleet is no longer Spot majority",
            );
        }
        self.range(
            "web.health_check_grace_period_seconds",
            w.health_check_grace_period_seconds,
            0,
            7200,
            "",
        );
        if w.health_check_grace_period_seconds < 120 {
            self.warn("web.health_check_grace_period_seconds", "shorter than a node's bootstrap: the group may replace nodes before they are ready");
        }
        self.range("web.root_volume_gib", w.root_volume_gib, 8, 16_384, "");
        if let Some(profile) = &w.instance_profile {
            self.pattern(
                "web.instance_profile",
                profile,
                &PROFILE_NAME,
                "an instance profile name",
            );
        }
        self.range("web.imds_hop_limit", w.imds_hop_limit, 1, 64, "");
        let s = &w.scaling;
        if s.cpu_target_percent.is_none() && s.requests_per_target.is_none() {
            self.warn(
                "web.scaling",
                "no scaling policy: the fleet stays at its desired size",
            );
        }
        if let Some(cpu) = s.cpu_target_percent {
            self.range("web.scaling.cpu_target_percent", cpu, 10, 90, "");
        }
        if let Some(rpt) = s.requests_per_target {
            self.range("web.scaling.requests_per_target", rpt, 1, 1_000_000, "");
        }
        self.range(
            "web.termination_drain_seconds",
            w.termination_drain_seconds,
            30,
            7200,
            "",
        );
        let delay = spec.load_balancer.deregistration_delay_seconds;
        if w.termination_drain_seconds < delay {
            self.err(
                "web.termination_drain_seconds",
                format!(
                    "must be at least `load_balancer.deregistration_delay_seconds` ({delay}) so in-flight requests finish, got {}",
                    w.termination_drain_seconds
                ),
            );
        }
        self.range(
            "web.refresh_min_healthy_percent",
            w.refresh_min_healthy_percent,
            0,
            100,
            "",
        );
        if w.refresh_min_healthy_percent < 50 {
            self.warn(
                "web.refresh_min_healthy_percent",
                "a template change may take more than half the fleet out of service at once",
            );
        }
        let names = w.scheduled_actions.iter().map(|a| &a.name);
        self.unique("web.scheduled_actions", names, "action name");
        for (i, a) in w.scheduled_actions.iter().enumerate() {
            let base = format!("web.scheduled_actions[{i}]");
            self.pattern(
                &format!("{base}.name"),
                &a.name,
                &ACTION_NAME,
                "letters, digits and hyphens, at most 64",
            );
            if a.recurrence.split_whitespace().count() != 5 {
                self.err(
                    &format!("{base}.recurrence"),
                    format!("`{}` is not a five-field cron expression", a.recurrence),
                );
            }
            if a.min.is_none() && a.max.is_none() && a.desired.is_none() {
                self.err(&base, "set at least one of `min`, `max`, `desired`");
            }
            if let (Some(lo), Some(hi)) = (a.min, a.max) {
                if lo > hi {
                    self.err(
                        &format!("{base}.min"),
                        format!("`min` ({lo}) must not exceed `max` ({hi})"),
                    );
                }
            }
            if let Some(d) = a.desired {
                let lo = a.min.unwrap_or(0);
                let hi = a.max.unwrap_or(u32::MAX);
                if d < lo || d > hi {
                    self.err(
                        &format!("{base}.desired"),
                        format!("must lie within this action's min..max, got {d}"),
                    );
                }
            }
        }
    }

    fn cron(&mut self, spec: &Spec) {
        let c = &spec.cron;
        self.pattern(
            "cron.instance_type",
            &c.instance_type,
            &INSTANCE_TYPE,
            "an EC2 instance type (e.g. `t3.large`)",
        );
        if let Some(ami) = &c.ami {
            self.pattern(
                "cron.ami",
                ami,
                &AMI,
                "an AMI ID (`ami-…`) or an SSM parameter (`ssm:/aws/service/…`)",
            );
        }
        self.range("cron.root_volume_gib", c.root_volume_gib, 8, 16_384, "");
        for (i, cidr) in c.ssh_cidrs.iter().enumerate() {
            let path = format!("cron.ssh_cidrs[{i}]");
            if check_cidr(self, &path, cidr) && cidr.ends_with("/0") {
                self.warn(
                    &path,
                    "SSH open to the whole internet; prefer SSM Session Manager",
                );
            }
        }
        self.unique("cron.ssh_cidrs", &c.ssh_cidrs, "CIDR");
        self.cron_jobs(spec);
    }

    fn moodle(&mut self, spec: &Spec) {
        let m = &spec.moodle;
        if !m.wwwroot.starts_with("https://") {
            self.err("moodle.wwwroot", format!("`{}` must be https: the load balancer terminates TLS and Moodle runs with `sslproxy`", m.wwwroot));
        } else {
            self.pattern(
                "moodle.wwwroot",
                &m.wwwroot,
                &WWWROOT,
                "an https URL without a trailing slash, query or fragment",
            );
        }
        let git_ok = ["https://", "ssh://", "git@"]
            .iter()
            .any(|p| m.git_url.starts_with(p));
        if !git_ok {
            self.err(
                "moodle.git_url",
                format!(
                    "`{}` is not a git URL (https://, ssh:// or git@)",
                    m.git_url
                ),
            );
        }
        if m.git_ref.trim().is_empty() || m.git_ref.chars().any(char::is_whitespace) {
            self.err(
                "moodle.git_ref",
                "must be a branch, tag or commit without spaces",
            );
        } else if MOVING_BRANCH.is_match(&m.git_ref) {
            self.warn(
                "moodle.git_ref",
                format!("`{}` is a branch that moves: nodes booted at different times run different code, and a web node with newer code than the site waits for an upgrade that only a new cron instance runs; pin a tag (e.g. `v4.5.6`) or a commit", m.git_ref),
            );
        }
        for (path, value) in [
            ("moodle.code_path", &m.code_path),
            ("moodle.dataroot", &m.dataroot),
        ] {
            if !value.starts_with('/')
                || (value.len() > 1 && value.ends_with('/'))
                || value.contains("..")
            {
                self.err(
                    path,
                    format!("`{value}` must be an absolute path without a trailing slash or `..`"),
                );
            }
        }
        let inside = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        if inside(&m.dataroot, &m.code_path) || inside(&m.code_path, &m.dataroot) {
            self.err("moodle.dataroot", "must not be inside the code (or the code inside it): moodledata would be served over the web");
        }
        if !m.admin_email.contains('@') {
            self.err(
                "moodle.admin_email",
                format!("`{}` is not an e-mail address", m.admin_email),
            );
        }
        if m.version.is_5x() && spec.database.engine == DbEngine::Mysql80 {
            let at = self.at("moodle.version");
            self.err(
                "database.engine",
                format!(
                    "`mysql-8.0` cannot run `moodle.version` {}{at}: Moodle 5.x accepts `mysqli` only on MySQL 8.4 or later; use `mysql-8.4` or `aurora-mysql-3`",
                    m.version.as_str()
                ),
            );
        }
        self.platform(spec);
        self.pattern(
            "moodle.db_user",
            &m.db_user,
            &DB_USER,
            "a MySQL user name (a letter, then letters, digits or `_`, at most 16)",
        );
        if RESERVED_DB_USERS.contains(&m.db_user.to_ascii_lowercase().as_str()) {
            self.err("moodle.db_user", format!("`{}` is reserved", m.db_user));
        }
        if m.db_user == spec.database.master_username {
            let at = self.at("database.master_username");
            self.err(
                "moodle.db_user",
                format!("must differ from `database.master_username`{at}: the site connects as its own user, because RDS rotates the master password"),
            );
        }
        self.pattern(
            "moodle.db_prefix",
            &m.db_prefix,
            &DB_PREFIX,
            "a table prefix (a lowercase letter, then lowercase letters, digits or `_`, at most 10)",
        );
        for (path, value) in [
            ("moodle.site_name", Some(&m.site_name)),
            ("moodle.site_short_name", m.site_short_name.as_ref()),
        ] {
            if let Some(v) = value {
                if v.trim().is_empty() || v.chars().any(char::is_control) {
                    self.err(path, "must be one line of text");
                }
            }
        }
        let php = &m.php;
        if php.max_input_vars < 5000 {
            self.err(
                "moodle.php.max_input_vars",
                format!(
                    "must be at least 5000 (Moodle refuses to install below it), got {}",
                    php.max_input_vars
                ),
            );
        }
        let mut sizes = BTreeMap::new();
        for (name, value) in [
            ("memory_limit", &php.memory_limit),
            ("upload_max_filesize", &php.upload_max_filesize),
            ("post_max_size", &php.post_max_size),
        ] {
            match parse_size(value) {
                Some(n) => {
                    sizes.insert(name, n);
                }
                None => self.err(
                    &format!("moodle.php.{name}"),
                    format!("`{value}` is not a size like `512M`"),
                ),
            }
        }
        if let (Some(up), Some(post)) =
            (sizes.get("upload_max_filesize"), sizes.get("post_max_size"))
        {
            if post < up {
                self.err(
                    "moodle.php.post_max_size",
                    "must be at least `upload_max_filesize`, or large uploads fail",
                );
            }
        }
        if let Some(mem) = sizes.get("memory_limit") {
            if *mem < 256 << 20 {
                self.err("moodle.php.memory_limit", "Moodle needs at least 256M");
            }
        }
    }

    /// The distribution, the PHP version and the Moodle branch fit together.
    fn platform(&mut self, spec: &Spec) {
        let named = Os::of_ami(&spec.web.ami);
        let os = match (spec.web.os, named) {
            (None, None) => {
                let at = self.at("web.ami");
                self.err(
                    "web.os",
                    format!("required: `web.ami`{at} does not say its distribution; `ubuntu-24.04` or `amazon-linux-2023`"),
                );
                return;
            }
            (Some(os), Some(other)) if os != other => {
                let at = self.at("web.ami");
                self.err(
                    "web.os",
                    format!(
                        "`{}` but `web.ami`{at} is an `{}` image",
                        os.as_str(),
                        other.as_str()
                    ),
                );
                return;
            }
            (Some(os), _) | (None, Some(os)) => os,
        };
        if let Some(ami) = &spec.cron.ami {
            if let Some(other) = Os::of_ami(ami).filter(|o| *o != os) {
                self.err(
                    "cron.ami",
                    format!("is an `{}` image but the web nodes run `{}`: the cron instance renders the same installation", other.as_str(), os.as_str()),
                );
            }
        }
        let m = &spec.moodle;
        let php = spec.php_version();
        let path = if m.php.version.is_some() {
            "moodle.php.version"
        } else {
            "moodle.version"
        };
        if !os.php_versions().contains(&php.as_str()) {
            let field = if spec.web.os.is_some() {
                "web.os"
            } else {
                "web.ami"
            };
            let at = self.at(field);
            self.err(
                "moodle.php.version",
                format!(
                    "PHP {php} is not shipped by `{}` (`{field}`{at}); it has {}",
                    os.as_str(),
                    os.php_versions().join(", ")
                ),
            );
        } else if !m.version.php_versions().contains(&php.as_str()) {
            let other = if path == "moodle.version" {
                "moodle.php.version"
            } else {
                "moodle.version"
            };
            let at = self.at(other);
            self.err(
                path,
                format!(
                    "Moodle {} needs PHP {} (`{other}`{at} gives PHP {php})",
                    m.version.as_str(),
                    m.version.php_versions().join(", "),
                ),
            );
        }
    }

    fn cron_jobs(&mut self, spec: &Spec) {
        for (i, job) in spec.cron.jobs.iter().enumerate() {
            let base = format!("cron.jobs[{i}]");
            if job.schedule.split_whitespace().count() != 5 {
                self.err(
                    &format!("{base}.schedule"),
                    format!("`{}` is not a five-field cron schedule", job.schedule),
                );
            }
            if job.command.trim().is_empty() || job.command.chars().any(char::is_control) {
                self.err(&format!("{base}.command"), "must be one line");
            } else if job.command.contains('%') {
                self.err(
                    &format!("{base}.command"),
                    "must not contain `%` (cron turns it into a newline); use a script",
                );
            } else if job.command.contains("admin/cli/cron.php") {
                self.err(
                    &format!("{base}.command"),
                    "Moodle's cron entry is always there, exactly once; do not add another",
                );
            }
        }
    }
}

fn check_cidr(c: &mut Checker<'_>, path: &str, text: &str) -> bool {
    match text.parse::<IpNet>() {
        Ok(net) if net != net.trunc() => {
            c.err(
                path,
                format!(
                    "`{text}` has host bits set; did you mean `{}`?",
                    net.trunc()
                ),
            );
            false
        }
        Ok(_) => true,
        Err(_) => {
            c.err(
                path,
                format!("`{text}` is not a CIDR block (e.g. `203.0.113.0/24`)"),
            );
            false
        }
    }
}

/// `arm64` for Graviton classes (`m7g`, `c7gn`, `t4g`), `x86_64` otherwise.
/// The CPU architecture (`x86_64` or `arm64`) of a list of instance types: the first one's
/// (validation makes them agree).
pub fn architecture_of_types(types: &[String]) -> Option<&'static str> {
    let class = types.first()?.split('.').next()?;
    Some(arch_of(class))
}

fn arch_of(class: &str) -> &'static str {
    let after_generation = class.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let attributes = after_generation.trim_start_matches(|c: char| c.is_ascii_digit());
    if attributes
        .split('-')
        .next()
        .is_some_and(|a| a.contains('g'))
    {
        "arm64"
    } else {
        "x86_64"
    }
}

/// Bytes in `1073741824`, `256M`, `1G`, `64K`.
/// A size in bytes from `1073741824`, `1024K`, `256M` or `1G`.
pub fn parse_size(text: &str) -> Option<u64> {
    let caps = SIZE.captures(text)?;
    let n: u64 = caps[1].parse().ok()?;
    let shift = match &caps[2] {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => 0,
    };
    n.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_are_read_from_the_class() {
        for (class, arch) in [
            ("m7g", "arm64"),
            ("c7gn", "arm64"),
            ("t4g", "arm64"),
            ("m7i", "x86_64"),
            ("m7i-flex", "x86_64"),
            ("t3", "x86_64"),
            ("c6a", "x86_64"),
            ("m6gd", "arm64"),
        ] {
            assert_eq!(arch_of(class), arch, "{class}");
        }
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("256M"), Some(256 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("1.5G"), None);
        assert_eq!(parse_size("M"), None);
    }
}

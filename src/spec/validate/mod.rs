//! Validation of a parsed spec: every rule, every problem at once, each naming its field and
//! line. Pure: no AWS call is made here (references to things in AWS are checked at plan time).
//!
//! This module holds the problem types, the `Checker` that collects problems with their lines,
//! the patterns and helpers several sections share, and the top-level fields' rules; each spec
//! section's rules are in the submodule of the same name.

use super::Spec;
use super::source_map::SourceMap;
use ipnet::IpNet;
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

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

/// A lazily compiled built-in pattern; a bad one is a bug, found by any test that validates.
macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: ::std::sync::LazyLock<::regex::Regex> =
            ::std::sync::LazyLock::new(|| match ::regex::Regex::new($pattern) {
                Ok(re) => re,
                Err(e) => panic!("invalid built-in pattern {}: {e}", $pattern),
            });
    };
}

re!(STACK_NAME, r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$");
re!(REGION, r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$");
re!(
    AMI,
    r"^(ami-([0-9a-f]{8}|[0-9a-f]{17})|ssm:/[A-Za-z0-9_./-]+)$"
);
re!(INSTANCE_TYPE, r"^([a-z][a-z0-9-]*)\.([a-z0-9]+)$");
re!(
    WEEKLY_WINDOW,
    r"^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$"
);
re!(DB_USER, r"^[A-Za-z][A-Za-z0-9_]{0,15}$");
re!(SIZE, r"^([0-9]+)([KMG]?)$");

/// User names MySQL or RDS keep for themselves, compared in lowercase.
const RESERVED_DB_USERS: &[&str] = &[
    "admin",
    "root",
    "rdsadmin",
    "rdsrepladmin",
    "mysql",
    "mysql.sys",
    "mysql.session",
];

mod cache;
mod cron;
mod database;
mod file_storage;
mod load_balancer;
mod logs;
mod moodle;
mod network;
mod secrets;
mod web;

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
    c.logs(spec);
    c.load_balancer(spec);
    c.web(spec);
    c.cron(spec);
    c.moodle(spec);
    c.secrets(spec);
    c.problems
        .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.severity));
    c.problems
}

/// Collects the problems of one spec, each with the line of its field.
struct Checker<'a> {
    source: &'a SourceMap,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    /// Records a problem at `path`, with that field's line.
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
    /// Records an error at `path`.
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, path, message.into());
    }
    /// Records a warning at `path`.
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, path, message.into());
    }
    /// Errs unless `value` matches `re` ("`value` is not {what}"); says whether it matched.
    fn pattern(&mut self, path: &str, value: &str, re: &Regex, what: &str) -> bool {
        let ok = re.is_match(value);
        if !ok {
            self.err(path, format!("`{value}` is not {what}"));
        }
        ok
    }
    /// Errs unless `min <= value <= max`, adding `why` when there is one.
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

    /// `name`, `region` and `tags`: a usable stack name, an AWS region, at most 40 tags with
    /// valid keys and values, none of them reserved.
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
}

/// Errs unless `text` is an IPv4 or IPv6 CIDR block without host bits; says whether it is.
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

/// The CPU architecture (`x86_64` or `arm64`) of a list of instance types: the first one's
/// (validation makes them agree).
pub fn architecture_of_types(types: &[String]) -> Option<&'static str> {
    let class = types.first()?.split('.').next()?;
    Some(arch_of(class))
}

/// `arm64` for Graviton classes (`m7g`, `c7gn`, `t4g`), `x86_64` otherwise.
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
/// The shared helpers' own cases; the rules are tested in `spec::tests` and `tests/corpus`.
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

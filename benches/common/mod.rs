//! Plumbing shared by the benchmarks that run the real binary against the emulator: the
//! emulator (started as `tests/it/harness.rs` does, unless `MOODLE_HA_BENCH_ENDPOINT` names
//! one), unique stack names, copies of the example spec, running `moodle-ha` with the
//! emulator's credentials, and small formatting helpers. Each bench compiles this module on
//! its own, so not every item is used by every bench.
#![allow(dead_code)]

pub mod delay;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const REGION: &str = "eu-west-1";

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The binary under test: `MOODLE_HA_BENCH_BIN` (e.g. to compare with a debug build), or the
/// one cargo built with the bench profile.
pub fn binary() -> PathBuf {
    std::env::var_os("MOODLE_HA_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_moodle-ha")))
}

/// The emulator the bench talks to. Dropping it stops the emulator if this bench started it.
pub struct Emulator {
    pub endpoint: String,
    started_here: bool,
}

impl Emulator {
    /// `MOODLE_HA_BENCH_ENDPOINT` if set (nothing is started or stopped); otherwise moto on
    /// 127.0.0.1:`MOODLE_HA_EMULATOR_PORT` (default 4566), started with
    /// `localstack/emulator start` when nothing answers there, and stopped again at the end.
    pub fn connect() -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var("MOODLE_HA_BENCH_ENDPOINT") {
            return Ok(Self {
                endpoint: url.trim_end_matches('/').to_string(),
                started_here: false,
            });
        }
        let port = std::env::var("MOODLE_HA_EMULATOR_PORT").unwrap_or_else(|_| "4566".into());
        let script = root().join("localstack/emulator");
        let answering = Command::new(&script)
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {} status", script.display()))?
            .success();
        if !answering {
            let status = Command::new(&script)
                .arg("start")
                .status()
                .with_context(|| format!("running {} start", script.display()))?;
            if !status.success() {
                bail!(
                    "could not start the emulator with `{} start` ({status}); set MOODLE_HA_BENCH_ENDPOINT to use a running one",
                    script.display()
                );
            }
        }
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            started_here: !answering,
        })
    }

    /// True when the emulator outlives the bench (so what the bench made should be removed).
    pub fn is_shared(&self) -> bool {
        !self.started_here
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if self.started_here {
            let _ = Command::new(root().join("localstack/emulator"))
                .arg("stop")
                .status();
        }
    }
}

/// A stack name (3–24 lowercase letters, digits and hyphens) no earlier run used.
pub fn unique(prefix: &str) -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("{prefix}-{:06x}", micros % 0xff_ffff)
}

/// A local git repository standing in for the site's code (benches reach no git host): a
/// Moodle-shaped tree (`version.php` of 4.5.6, `lib/setup.php`, `admin/environment.xml`)
/// tagged `v4.5.6`, made once per bench run in a temporary directory; a `file://` URL.
pub fn site_repo_url() -> anyhow::Result<&'static str> {
    static URL: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| make_site_repo().map_err(|e| format!("{e:#}")))
        .as_deref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn make_site_repo() -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("moodle-ha-bench-site-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lib"))?;
    std::fs::create_dir_all(dir.join("admin"))?;
    std::fs::write(dir.join("lib/setup.php"), "<?php\n")?;
    std::fs::copy(
        root().join("tests/fixtures/moodle/version-4.5.6.php"),
        dir.join("version.php"),
    )?;
    std::fs::copy(
        root().join("tests/fixtures/moodle/environment-4.5.6.xml"),
        dir.join("admin/environment.xml"),
    )?;
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &["commit", "-qm", "Moodle 4.5.6 (bench stand-in)"],
        &["tag", "v4.5.6"],
    ] {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
            .args(args)
            .output()
            .context("running git")?
            .status
            .success();
        if !ok {
            bail!("git {args:?} in {} failed", dir.display());
        }
    }
    Ok(format!("file://{}", dir.display()))
}

/// The text of `stacks/example.yaml` with another stack name, its code from
/// [`site_repo_url`].
pub fn example_named(name: &str) -> anyhow::Result<String> {
    let path = root().join("stacks/example.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let from = "name: moodle-example";
    let git_ref = "  git_ref: v4.5.6\n";
    if !text.contains(from) || !text.contains(git_ref) {
        bail!(
            "{} no longer has `{from}` and `{}`",
            path.display(),
            git_ref.trim()
        );
    }
    Ok(text.replacen(from, &format!("name: {name}"), 1).replacen(
        git_ref,
        &format!("{git_ref}  git_url: {}\n", site_repo_url()?),
        1,
    ))
}

/// Writes the example under `name` to `dir/<name>.yaml`.
pub fn write_example(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, example_named(name)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `moodle-ha ARGS` pointed at `endpoint` with the emulator's credentials.
pub fn moodle_ha(endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("NO_COLOR", "1")
        .env_remove("MOODLE_HA_ENDPOINT_URL")
        .env_remove("RUST_LOG");
    cmd
}

/// Runs `moodle-ha ARGS` to completion; an error (with its output) unless it exits 0.
pub fn run_ok(endpoint: &str, args: &[&str]) -> anyhow::Result<Output> {
    let out = moodle_ha(endpoint, args)
        .output()
        .with_context(|| format!("running {}", binary().display()))?;
    if !out.status.success() {
        bail!(
            "`moodle-ha {}` failed ({})\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 30),
            tail(&String::from_utf8_lossy(&out.stderr), 30)
        );
    }
    Ok(out)
}

/// Applies a spec to the emulator.
pub fn apply(endpoint: &str, spec: &Path) -> anyhow::Result<()> {
    let file = spec.to_string_lossy();
    run_ok(endpoint, &["apply", "--yes", &file]).map(|_| ())
}

/// Applies a spec, and again (up to twice more) if a step failed: a re-run converges. Returns
/// the failed steps of the earlier attempts (empty when the first apply succeeded).
pub fn apply_converging(endpoint: &str, spec: &Path) -> anyhow::Result<Vec<String>> {
    let file = spec.to_string_lossy();
    let mut failures = Vec::new();
    for attempt in 1..=3 {
        let out = moodle_ha(endpoint, &["apply", "--yes", &file])
            .output()
            .with_context(|| format!("running {}", binary().display()))?;
        if out.status.success() {
            return Ok(failures);
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let failed: Vec<String> = stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("FAILED"))
            .map(|l| l.trim().to_string())
            .collect();
        if failed.is_empty() || attempt == 3 {
            bail!(
                "`moodle-ha apply --yes {file}` failed ({}, attempt {attempt})\nstdout:\n{}\nstderr:\n{}",
                out.status,
                tail(&stdout, 30),
                tail(&String::from_utf8_lossy(&out.stderr), 30)
            );
        }
        failures.extend(failed);
    }
    Ok(failures)
}

/// Removes a stack from the emulator (deletion protection off, as a bench's stack is throwaway).
pub fn destroy(endpoint: &str, spec: &Path) -> anyhow::Result<()> {
    let file = spec.to_string_lossy();
    run_ok(
        endpoint,
        &["destroy", "--yes", "--disable-deletion-protection", &file],
    )
    .map(|_| ())
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// An env var as a number, or `default`; an error when it is set but not a number.
pub fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// Median of durations (the mean of the middle two for an even count).
pub fn median(values: &[Duration]) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// Seconds with millisecond precision, e.g. `0.412 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// A short description of this machine for the figures' label.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map(|kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "? GiB".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores ({cpu}), {mem}")
}

/// Prints a table: a header row, a rule, then the rows; columns padded to their widest cell,
/// numbers (cells starting with a digit) right-aligned.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate().take(cols) {
            let pad = width[i].saturating_sub(cell.chars().count());
            let numeric = cell.starts_with(|c: char| c.is_ascii_digit());
            if i > 0 {
                out.push_str("  ");
            }
            if numeric && i > 0 {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < cols {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        println!("  {}", out.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    line(width.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Runs `body` and exits 1 with the error if it fails.
pub fn main_with(body: impl FnOnce() -> anyhow::Result<()>) {
    if let Err(e) = body() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

//! Plan latency: a no-op `moodle-ha plan` of the full example stack against the emulator, run
//! N times (`MOODLE_HA_BENCH_RUNS`, default 20, after one unmeasured warm-up run): median, min
//! and max wall time, and the peak memory of the child process (its maximum resident set
//! size, from `wait4`), each against its target (under 1 s, under 50 MB).
//!
//! The wall time includes process start, loading the spec, the AWS SDK's configuration, every
//! request and the emulator's answers (moto, in Python, on the same 2 cores), and printing.
//!
//! `cargo bench --bench plan_latency`

mod common;

use anyhow::{Context, bail};
use common::{Emulator, print_table, secs};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

const TARGET_WALL: Duration = Duration::from_secs(1);
const TARGET_RSS_MB: f64 = 50.0;

fn main() {
    common::main_with(run);
}

/// One measured run.
struct Sample {
    wall: Duration,
    cpu: Duration,
    max_rss_bytes: u64,
}

fn run() -> anyhow::Result<()> {
    let runs = common::env_usize("MOODLE_HA_BENCH_RUNS", 20)?.max(1);
    println!("plan_latency: no-op `moodle-ha plan` of stacks/example.yaml, {runs} runs");
    println!("machine: {}", common::machine());
    println!("binary: {}", common::binary().display());
    let emulator = Emulator::connect()?;
    println!("emulator: {}", emulator.endpoint);
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let name = common::unique("bench-lat");
    let spec = common::write_example(dir.path(), &name)?;
    common::apply(&emulator.endpoint, &spec)?;
    println!("stack: {name} applied");
    let stderr_path = dir.path().join("stderr.txt");

    let mut samples = Vec::new();
    for i in 0..=runs {
        let sample = plan_once(&emulator.endpoint, &spec, &stderr_path)
            .with_context(|| format!("run {i}"))?;
        if i > 0 {
            samples.push(sample);
        }
    }

    let walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let cpus: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
    let (min, max, med) = (
        walls.iter().min().copied().unwrap_or_default(),
        walls.iter().max().copied().unwrap_or_default(),
        common::median(&walls),
    );
    let rss_mb = |b: u64| b as f64 / 1e6;
    let peak = samples.iter().map(|s| s.max_rss_bytes).max().unwrap_or(0);
    let rss_sorted = {
        let mut v: Vec<u64> = samples.iter().map(|s| s.max_rss_bytes).collect();
        v.sort();
        v
    };
    let rss_median = rss_sorted.get(rss_sorted.len() / 2).copied().unwrap_or(0);
    let verdict = |ok: bool| if ok { "under" } else { "OVER" }.to_string();
    println!();
    print_table(
        &["figure", "measured", "target", ""],
        &[
            vec![
                "wall time, median".into(),
                secs(med),
                "< 1 s".into(),
                verdict(med < TARGET_WALL),
            ],
            vec![
                "wall time, min".into(),
                secs(min),
                "< 1 s".into(),
                verdict(min < TARGET_WALL),
            ],
            vec![
                "wall time, max".into(),
                secs(max),
                "< 1 s".into(),
                verdict(max < TARGET_WALL),
            ],
            vec![
                "CPU time (user+sys), median".into(),
                secs(common::median(&cpus)),
                "-".into(),
                String::new(),
            ],
            vec![
                "peak memory (max RSS), max of runs".into(),
                format!("{:.1} MB", rss_mb(peak)),
                format!("< {TARGET_RSS_MB:.0} MB"),
                verdict(rss_mb(peak) < TARGET_RSS_MB),
            ],
            vec![
                "peak memory (max RSS), median".into(),
                format!("{:.1} MB", rss_mb(rss_median)),
                format!("< {TARGET_RSS_MB:.0} MB"),
                verdict(rss_mb(rss_median) < TARGET_RSS_MB),
            ],
        ],
    );
    println!();
    println!(
        "runs (s): {}",
        walls
            .iter()
            .map(|w| format!("{:.3}", w.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "(MB = 10^6 bytes; wall and CPU time are the child's, measured around spawn and wait4)"
    );
    if emulator.is_shared() {
        common::destroy(&emulator.endpoint, &spec)?;
        println!("stack {name} destroyed (the emulator keeps running)");
    }
    Ok(())
}

/// Runs `plan --detailed-exitcode SPEC` once; an error unless it exits 0 (no changes).
fn plan_once(
    endpoint: &str,
    spec: &std::path::Path,
    stderr_path: &std::path::Path,
) -> anyhow::Result<Sample> {
    let stderr = std::fs::File::create(stderr_path)
        .with_context(|| format!("creating {}", stderr_path.display()))?;
    let file = spec.to_string_lossy();
    let start = Instant::now();
    let child = common::moodle_ha(endpoint, &["plan", "--detailed-exitcode", &file])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", common::binary().display()))?;
    let (status, usage) = wait4(child.id())?;
    let wall = start.elapsed();
    match status.code() {
        Some(0) => {}
        Some(2) => bail!("the plan is not a no-op (exit 2): the stack differs from the spec"),
        _ => bail!(
            "`moodle-ha plan` failed ({status}):\n{}",
            common::tail(
                &std::fs::read_to_string(stderr_path).unwrap_or_default(),
                20
            )
        ),
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Sample {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        max_rss_bytes: usage.ru_maxrss.max(0) as u64 * 1024,
    })
}

/// Waits for one child and returns its exit status and resource usage.
fn wait4(pid: u32) -> anyhow::Result<(ExitStatus, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the child `pid`, which
    // this process spawned and has not waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to the locals above.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r == pid as libc::pid_t {
            return Ok((ExitStatus::from_raw(status), usage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context(format!("wait4 for the plan process {pid}"));
        }
    }
}

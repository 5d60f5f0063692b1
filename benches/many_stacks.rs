//! Many stacks: writes copies of the example with different names (50, or
//! `MOODLE_HA_BENCH_STACKS`) into a temporary directory and times `moodle-ha plan DIR` against
//! the emulator:
//!
//! - all stacks with `--parallel K` for K in 1, 4, 8, 16;
//! - 1, 10, 25 and all stacks at the default parallelism (8).
//!
//! By default the stacks are not applied, so each plan reads an empty stack and plans every
//! create (the same requests a no-op plan starts with, without the per-resource reads). With
//! `MOODLE_HA_BENCH_APPLY=1` every stack is applied first (4 at once) and the plans are no-op
//! plans of existing stacks; that takes much longer, because moto answers a describe by
//! scanning every stack it holds.
//!
//! Moto answers from one Python process, so it is saturated by a single plan at a time and
//! `--parallel` cannot make it answer faster. The bench therefore measures twice: against the
//! emulator as it is, and through a proxy on 127.0.0.1 that holds every request
//! `MOODLE_HA_BENCH_LATENCY_MS` (default 50; 0 skips this pass) before forwarding it, as a round
//! trip to an AWS region would. There, planning stacks at once should make the total grow
//! sub-linearly with the number of stacks up to the bound, then linearly.
//!
//! Each figure is the median of `MOODLE_HA_BENCH_RUNS` runs (default 3) of the whole command
//! (process start to exit), with the time per stack.
//!
//! `cargo bench --bench many_stacks`

mod common;

use anyhow::{Context, bail};
use common::{Emulator, print_table, secs};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The CLI's default `plan DIR --parallel`.
const DEFAULT_PARALLEL: usize = 8;
/// Applies run at once while setting up (each is one `moodle-ha apply` process).
const APPLIES_AT_ONCE: usize = 4;

fn main() {
    common::main_with(run);
}

fn run() -> anyhow::Result<()> {
    let stacks = common::env_usize("MOODLE_HA_BENCH_STACKS", 50)?.max(1);
    let runs = common::env_usize("MOODLE_HA_BENCH_RUNS", 3)?.max(1);
    let applied = common::env_usize("MOODLE_HA_BENCH_APPLY", 0)? != 0;
    println!(
        "many_stacks: `moodle-ha plan DIR` over {stacks} copies of stacks/example.yaml ({}), median of {runs} runs",
        if applied {
            "applied first: no-op plans"
        } else {
            "not applied: plans from empty"
        }
    );
    println!("machine: {}", common::machine());
    let emulator = Emulator::connect()?;
    println!("emulator: {}", emulator.endpoint);

    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let prefix = common::unique("ms");
    let all_dir = tmp.path().join("all");
    std::fs::create_dir(&all_dir).context("creating the stacks directory")?;
    let mut specs = Vec::new();
    for i in 0..stacks {
        specs.push(common::write_example(
            &all_dir,
            &format!("{prefix}-{i:02}"),
        )?);
    }
    if applied {
        setup(&emulator.endpoint, &specs, &prefix)?;
    }
    let expect = Expect { applied };
    // Directories holding the first n stacks.
    let subset = |n: usize| -> anyhow::Result<PathBuf> {
        let dir = tmp.path().join(format!("first-{n}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for spec in &specs[..n] {
            let name = spec.file_name().context("spec file name")?;
            std::fs::copy(spec, dir.join(name))
                .with_context(|| format!("copying {}", spec.display()))?;
        }
        Ok(dir)
    };

    let latency = common::env_usize("MOODLE_HA_BENCH_LATENCY_MS", 50)?;
    let mut passes = vec![(
        emulator.endpoint.clone(),
        "the emulator as it is".to_string(),
    )];
    if latency > 0 {
        let proxy = common::delay::DelayProxy::start(
            &emulator.endpoint,
            Duration::from_millis(latency as u64),
        )?;
        passes.push((
            proxy.endpoint.clone(),
            format!("every request held {latency} ms first (a round trip to AWS)"),
        ));
    }
    for (endpoint, label) in &passes {
        println!();
        println!("== {label}");
        measure(endpoint, &all_dir, stacks, runs, expect, &subset)?;
    }

    if emulator.is_shared() && applied {
        for_each_at_once(&specs, APPLIES_AT_ONCE, |spec| {
            common::destroy(&emulator.endpoint, spec)
        })?;
        println!("\n{stacks} stacks destroyed (the emulator keeps running)");
    }
    Ok(())
}

/// The two tables: all stacks by `--parallel`, and by number of stacks at the default.
fn measure(
    endpoint: &str,
    all_dir: &Path,
    stacks: usize,
    runs: usize,
    expect: Expect,
    subset: &dyn Fn(usize) -> anyhow::Result<PathBuf>,
) -> anyhow::Result<()> {
    // One unmeasured run to warm the emulator and the page cache.
    plan_dir(endpoint, all_dir, Some(DEFAULT_PARALLEL), stacks, expect)?;

    println!();
    println!("All {stacks} stacks, by --parallel:");
    let mut rows = Vec::new();
    let mut serial = None;
    for k in [1, 4, 8, 16] {
        let t = median_of(runs, || {
            plan_dir(endpoint, all_dir, Some(k), stacks, expect)
        })?;
        let base = *serial.get_or_insert(t);
        rows.push(vec![
            k.to_string(),
            secs(t),
            format!("{:.3} s", t.as_secs_f64() / stacks as f64),
            format!("{:.2}×", base.as_secs_f64() / t.as_secs_f64()),
        ]);
    }
    print_table(
        &["--parallel", "total", "per stack", "speed-up vs 1"],
        &rows,
    );

    println!();
    println!("By number of stacks, default parallelism ({DEFAULT_PARALLEL}):");
    let mut rows = Vec::new();
    let mut one = None;
    let mut counts: Vec<usize> = [1, 10, 25, 50]
        .into_iter()
        .filter(|n| *n < stacks)
        .collect();
    counts.push(stacks);
    counts.dedup();
    for n in counts {
        let dir = if n == stacks {
            all_dir.to_path_buf()
        } else {
            subset(n)?
        };
        let t = median_of(runs, || plan_dir(endpoint, &dir, None, n, expect))?;
        let base = *one.get_or_insert(t);
        rows.push(vec![
            n.to_string(),
            secs(t),
            format!("{:.3} s", t.as_secs_f64() / n as f64),
            format!("{:.2}×", t.as_secs_f64() / base.as_secs_f64()),
            format!("{n}×"),
        ]);
    }
    print_table(
        &[
            "stacks",
            "total",
            "per stack",
            "total vs 1 stack",
            "if linear",
        ],
        &rows,
    );

    Ok(())
}

/// Applies every stack, a few at once; reports steps that needed a second apply.
fn setup(endpoint: &str, specs: &[PathBuf], prefix: &str) -> anyhow::Result<()> {
    let stacks = specs.len();
    let started = Instant::now();
    let failures = std::sync::Mutex::new(Vec::new());
    for_each_at_once(specs, APPLIES_AT_ONCE, |spec| {
        let failed = common::apply_converging(endpoint, spec)?;
        if let Ok(mut f) = failures.lock() {
            f.extend(failed);
        }
        Ok(())
    })?;
    println!(
        "setup: {stacks} stacks ({prefix}-00 …) applied in {} ({APPLIES_AT_ONCE} at once)",
        secs(started.elapsed())
    );
    let failures = failures.into_inner().unwrap_or_default();
    if !failures.is_empty() {
        println!(
            "  {} step(s) failed on a first apply and were done by a second one:",
            failures.len()
        );
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for f in failures {
            // `FAILED to create KIND/NAME: reason`: count by kind and reason.
            let kind = f
                .split_whitespace()
                .nth(3)
                .and_then(|k| k.split('/').next())
                .unwrap_or("?")
                .to_string();
            let reason = f.split_once(": ").map_or("", |x| x.1).to_string();
            *reasons.entry(format!("{kind}: {reason}")).or_default() += 1;
        }
        for (reason, n) in reasons {
            println!("    {n}× {reason}");
        }
    }
    Ok(())
}

/// What every stack's plan should say.
#[derive(Clone, Copy)]
struct Expect {
    /// The stacks exist: no changes. Otherwise: changes (every create).
    applied: bool,
}

/// `moodle-ha plan DIR [--parallel K]`, timed; an error unless every stack planned, with no
/// changes when the stacks were applied.
fn plan_dir(
    endpoint: &str,
    dir: &Path,
    parallel: Option<usize>,
    stacks: usize,
    expect: Expect,
) -> anyhow::Result<Duration> {
    let dir_arg = dir.to_string_lossy().to_string();
    let k = parallel.map(|k| k.to_string());
    let mut args = vec!["plan", "--detailed-exitcode", dir_arg.as_str()];
    if let Some(k) = &k {
        args.extend(["--parallel", k.as_str()]);
    }
    let start = Instant::now();
    let out = common::moodle_ha(endpoint, &args)
        .output()
        .with_context(|| format!("running {}", common::binary().display()))?;
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (code, line) = if expect.applied {
        (0, ": no changes (")
    } else {
        (2, ": changes (")
    };
    if out.status.code() != Some(code) {
        bail!(
            "`moodle-ha {}` exited with {} (expected {code}):\n{}\n{}",
            args.join(" "),
            out.status,
            common::tail(&stdout, 10),
            common::tail(&String::from_utf8_lossy(&out.stderr), 20)
        );
    }
    let planned = stdout.lines().filter(|l| l.contains(line)).count();
    if planned != stacks {
        bail!("expected {stacks} lines with `{line}`, the output has {planned}:\n{stdout}");
    }
    Ok(took)
}

fn median_of(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(f()?);
    }
    Ok(common::median(&times))
}

/// Runs `f` on every item, `at_once` at a time, on threads; the first error, if any.
fn for_each_at_once<T: Sync>(
    items: &[T],
    at_once: usize,
    f: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    for chunk in items.chunks(at_once.max(1)) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|item| s.spawn(|| f(item))).collect();
            for h in handles {
                match h.join() {
                    Ok(r) => r?,
                    Err(_) => bail!("a setup thread panicked"),
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

//! Plan waves: a no-op `moodle-ha plan` of the applied example through a proxy that holds
//! every request 50 ms (`MOODLE_HA_BENCH_LATENCY_MS`), as a round trip to an AWS region would.
//! Prints the requests, the waves (the longest chain of requests that waited for each other:
//! each arrived at least one delay after the one before it) and the wall time, median of
//! `MOODLE_HA_BENCH_RUNS` runs (default 5). Reads issued together cost one wave, so the wall
//! time is about waves × the delay plus the tool's and the emulator's own time.
//!
//! `cargo bench --bench plan_waves`

mod common;

use anyhow::Context;
use common::delay::DelayProxy;
use common::{Emulator, print_table, secs};
use std::time::{Duration, Instant};

fn main() {
    common::main_with(run);
}

fn run() -> anyhow::Result<()> {
    let runs = common::env_usize("MOODLE_HA_BENCH_RUNS", 5)?.max(1);
    let latency = common::env_usize("MOODLE_HA_BENCH_LATENCY_MS", 50)?.max(1);
    println!(
        "plan_waves: no-op `moodle-ha plan` of stacks/example.yaml, every request held {latency} ms, {runs} runs"
    );
    println!("machine: {}", common::machine());
    let emulator = Emulator::connect()?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let name = common::unique("waves");
    let spec = common::write_example(dir.path(), &name)?;
    let spec_arg = spec.to_string_lossy().to_string();
    common::apply(&emulator.endpoint, &spec)?;
    let proxy = DelayProxy::start(&emulator.endpoint, Duration::from_millis(latency as u64))?;
    let mut rows = Vec::new();
    let mut walls = Vec::new();
    for run in 1..=runs {
        proxy.reset();
        let started = Instant::now();
        common::run_ok(&proxy.endpoint, &["plan", "--detailed-exitcode", &spec_arg])?;
        let wall = started.elapsed();
        walls.push(wall);
        rows.push(vec![
            run.to_string(),
            proxy.requests().to_string(),
            proxy.waves().to_string(),
            secs(wall),
        ]);
    }
    print_table(&["run", "requests", "waves", "wall"], &rows);
    println!(
        "median wall {} at {latency} ms per request (target: at most 5 waves, under 0.45 s)",
        secs(common::median(&walls))
    );
    if emulator.is_shared() {
        common::destroy(&emulator.endpoint, &spec)?;
    }
    Ok(())
}

//! Interrupting apply and destroy: SIGINT or SIGTERM to the real binary while steps run
//! against the emulator. The proxy holds every `CreateNatGateway` (or `DeleteNatGateway`)
//! request, so those steps are in flight when the signal arrives and the steps that depend on
//! them have not started. Then: no new step starts, the lock is released, what was and was not
//! done is printed, the exit code is 130/143, and the next apply (or destroy) finishes the job.
//! A Ctrl-C typed at the confirmation prompt (on a real terminal) ends the run with nothing
//! changed.

use crate::harness::*;
use crate::proxy::{Behaviour, Proxy};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Destroys the stack when dropped, so a failing test leaves nothing behind either.
struct Cleanup<'a>(&'a str);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = moodle_ha(&["destroy", "--yes", "--disable-deletion-protection", self.0]);
    }
}

/// A running `apply` whose stderr is read line by line as it comes.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

impl Running {
    fn start(endpoint: &str, spec: &str) -> Self {
        Self::run(endpoint, &["apply", "--yes", spec])
    }

    fn run(endpoint: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_moodle-ha"))
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apply");
        let stderr = child.stderr.take().expect("apply's stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr: Vec::new(),
        }
    }

    /// Waits (at most `max`) for a stderr line containing `text`.
    fn wait_for_line(&mut self, text: &str, max: Duration) {
        let deadline = Instant::now() + max;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.stderr.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!(
            "no line with {text:?} within {max:?}; stderr:\n{}",
            self.stderr.join("\n")
        );
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) with a child's PID and a signal number has no memory effects.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal})");
    }

    /// Waits (at most `max`) for the exit; returns the code, stdout and all of stderr.
    fn finish(mut self, max: Duration) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + max;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for apply") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "apply still running {max:?} after the signal; stderr:\n{}",
                    self.stderr.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        self.stderr.extend(self.lines.iter());
        (status.code(), out, self.stderr.join("\n"))
    }
}

/// Holds every `CreateNatGateway` for `hold` (nothing releases it early).
fn holding_nat_gateways(hold: Duration) -> Proxy {
    holding("CreateNatGateway", hold)
}

/// Holds every request of `operation` for `hold` (nothing releases it early).
fn holding(operation: &str, hold: Duration) -> Proxy {
    Proxy::start(
        endpoint(),
        Behaviour::HoldUntil {
            hold: operation.into(),
            until: "NoSuchOperation".into(),
            until_body: String::new(),
            max: hold,
        },
    )
}

async fn lock_exists(stack: &str) -> bool {
    aws_sdk_ssm::Client::new(&config_for_tests().await)
        .get_parameter()
        .name(format!("/moodle-ha/{stack}/lock"))
        .send()
        .await
        .is_ok()
}

/// The next apply, straight to the emulator, converges: a plan after it has nothing to do.
fn next_apply_converges(spec: &str) {
    let applied = ok(moodle_ha(&["apply", "--yes", spec]));
    assert!(applied.contains("\nDone: "), "{applied}");
    let planned = moodle_ha(&["plan", "--detailed-exitcode", spec]);
    assert_eq!(
        planned.status.code(),
        Some(0),
        "after the interrupted apply and a second one: {}",
        stdout(&planned)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_lets_the_steps_in_flight_finish_releases_the_lock_and_the_next_apply_resumes() {
    let stack = example_spec(&unique("sigint"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let _cleanup = Cleanup(spec);
    // Held 2 s: inside the 5 s the steps in flight get to finish.
    let proxy = holding_nat_gateways(Duration::from_secs(2));
    let mut apply = Running::start(proxy.url(), spec);
    apply.wait_for_line("creating nat-gateway/", Duration::from_secs(120));
    apply.signal(libc::SIGINT);
    let (code, out, err) = apply.finish(Duration::from_secs(30));
    println!("--- stdout after SIGINT:\n{out}\n--- stderr:\n{err}");
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted: no new step starts"), "{err}");
    let after_signal = &err[err.find("interrupted: no new step starts").unwrap_or(0)..];
    assert!(
        after_signal.contains("created nat-gateway/"),
        "the NAT gateway in flight finished: {after_signal}"
    );
    assert!(
        !after_signal.contains("creating "),
        "no step started after the signal: {after_signal}"
    );
    assert!(out.contains("Interrupted by SIGINT: "), "{out}");
    assert!(out.contains(" 0 given up, "), "{out}");
    assert!(
        out.contains("  not started: create route-table/private-"),
        "what was not done is listed: {out}"
    );
    assert!(!lock_exists(&stack.name).await, "the lock is released");
    drop(proxy);
    next_apply_converges(spec);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_gives_up_a_step_still_in_flight_after_the_grace_and_the_next_apply_resumes() {
    let stack = example_spec(&unique("sigterm"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let _cleanup = Cleanup(spec);
    // Held far longer than the grace: the steps in flight are given up.
    let proxy = holding_nat_gateways(Duration::from_secs(300));
    let mut apply = Running::start(proxy.url(), spec);
    apply.wait_for_line("creating nat-gateway/", Duration::from_secs(120));
    let signalled = Instant::now();
    apply.signal(libc::SIGTERM);
    let (code, out, err) = apply.finish(Duration::from_secs(30));
    let took = signalled.elapsed();
    println!("--- stdout after SIGTERM ({took:?}):\n{out}\n--- stderr:\n{err}");
    assert_eq!(code, Some(143), "{err}");
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(15),
        "given up after the 5 s grace, then the lock released: {took:?}"
    );
    assert!(out.contains("Interrupted by SIGTERM: "), "{out}");
    assert!(
        out.contains("  given up: create nat-gateway/"),
        "the step in flight is reported given up: {out}"
    );
    assert!(
        out.contains("  not started: create route-table/private-"),
        "{out}"
    );
    assert!(!lock_exists(&stack.name).await, "the lock is released");
    // The held requests never reach the emulator: the proxy drops them.
    drop(proxy);
    next_apply_converges(spec);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_planning_ends_the_run_at_once_with_nothing_changed() {
    let stack = example_spec(&unique("sigplan"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    // Planning never ends: its `DescribeVpcs` is held (the lock is taken before planning).
    let proxy = Proxy::start(
        endpoint(),
        Behaviour::HoldUntil {
            hold: "DescribeVpcs".into(),
            until: "NoSuchOperation".into(),
            until_body: String::new(),
            max: Duration::from_secs(300),
        },
    );
    let apply = Running::start(proxy.url(), spec);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy
        .records()
        .iter()
        .any(|r| r.operation == "PutParameter")
    {
        assert!(Instant::now() < deadline, "the lock was never taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    apply.signal(libc::SIGINT);
    let (code, out, err) = apply.finish(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{err}");
    assert!(
        err.contains("error: interrupted by SIGINT before any change; nothing was changed"),
        "{err}"
    );
    assert!(out.is_empty(), "no plan, no report: {out}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "planning is dropped at once, not waited for"
    );
    assert!(!lock_exists(&stack.name).await, "the lock is released");
    assert!(
        tagged_counts(&stack.name)
            .await
            .iter()
            .all(|(_, n)| *n == 0),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_destroy_lets_the_steps_in_flight_finish_and_the_next_destroy_finishes() {
    let stack = example_spec(&unique("sigdestroy"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let _cleanup = Cleanup(spec);
    ok(moodle_ha(&["apply", "--yes", spec]));
    // Held 2 s: inside the 5 s the steps in flight get to finish.
    let proxy = holding("DeleteNatGateway", Duration::from_secs(2));
    let mut destroy = Running::run(
        proxy.url(),
        &["destroy", "--yes", "--disable-deletion-protection", spec],
    );
    destroy.wait_for_line("deleting nat-gateway/", Duration::from_secs(120));
    destroy.signal(libc::SIGINT);
    let (code, out, err) = destroy.finish(Duration::from_secs(30));
    println!("--- stdout after SIGINT:\n{out}\n--- stderr:\n{err}");
    assert_eq!(code, Some(130), "{err}");
    let after_signal = &err[err
        .find("interrupted: no new step starts")
        .unwrap_or_else(|| panic!("no interruption line: {err}"))..];
    assert!(
        after_signal.contains("deleted nat-gateway/"),
        "the NAT gateway in flight finished: {after_signal}"
    );
    assert!(
        !after_signal.contains("deleting "),
        "no step started after the signal: {after_signal}"
    );
    assert!(out.contains("Interrupted by SIGINT: "), "{out}");
    assert!(
        out.contains("  not started: delete vpc/main"),
        "what was not done is listed: {out}"
    );
    assert!(!lock_exists(&stack.name).await, "the lock is released");
    let left: usize = tagged_counts(&stack.name)
        .await
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert!(left > 0, "the interrupted destroy left resources to delete");
    drop(proxy);
    let destroyed = ok(moodle_ha(&[
        "destroy",
        "--yes",
        "--disable-deletion-protection",
        spec,
    ]));
    assert!(destroyed.contains("\nDone: "), "{destroyed}");
    let counts = tagged_counts(&stack.name).await;
    assert!(
        counts.iter().all(|(_, n)| *n == 0),
        "the second destroy finished the job: {counts:?}"
    );
}

/// Ctrl-C typed at apply's confirmation prompt, on a real terminal: `script` (util-linux) runs
/// the binary on a pseudo-terminal, and the byte ^C written to it becomes SIGINT from the
/// terminal's line discipline, as when an operator presses the keys.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_the_confirmation_prompt_ends_the_run_with_nothing_changed() {
    use std::io::Write;
    let stack = example_spec(&unique("sigprompt"), |t| t);
    let spec = stack.path.to_str().expect("utf-8 path");
    let command = format!("exec {} apply {spec}", env!("CARGO_BIN_EXE_moodle-ha"));
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("NO_COLOR", "1")
        .env("SHELL", "/bin/sh")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs the binary on a terminal");
    let mut terminal_out = child.stdout.take().expect("script's stdout");
    let (tx, seen) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = terminal_out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !screen.contains("Type `yes`") {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no prompt within 120 s; the terminal showed:\n{screen}"));
        match seen.recv_timeout(left) {
            Ok(bytes) => screen.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => panic!("no prompt; the terminal showed:\n{screen}"),
        }
    }
    let mut keyboard = child.stdin.take().expect("script's stdin");
    keyboard.write_all(b"\x03").expect("type ^C");
    keyboard.flush().expect("type ^C");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for script") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "still running 10 s after ^C; the terminal showed:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(keyboard);
    while let Ok(bytes) = seen.recv_timeout(Duration::from_secs(1)) {
        screen.push_str(&String::from_utf8_lossy(&bytes));
    }
    println!("--- the terminal showed:\n{screen}");
    assert_eq!(status.code(), Some(130), "{screen}");
    assert!(
        screen.contains("interrupted by SIGINT before any change; nothing was changed"),
        "{screen}"
    );
    assert!(!lock_exists(&stack.name).await, "the lock is released");
    assert!(
        tagged_counts(&stack.name)
            .await
            .iter()
            .all(|(_, n)| *n == 0),
        "nothing was created"
    );
}

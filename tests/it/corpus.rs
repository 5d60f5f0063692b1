//! The bad-spec corpus (`tests/corpus/*.yaml`): each file is `stacks/example.yaml` with one
//! defect, and its first line says what `moodle-ha` must answer:
//!
//! ```text
//! # expect: web.min: `min` (9) must not exceed `max` (8) (line 61)
//! ```
//!
//! (`~` as the path when the error names no field). `validate` and `plan` must both exit 1
//! with that error (the path, a message starting with the fragment, the line) and must not
//! open a single connection to AWS: the endpoint is a tripwire that counts connections.
//!
//! A second header line `# known-bug: …` marks a case whose expectation is right but not yet
//! met by the product: it must still fail with exit 1, the message and no AWS call, and the
//! test fails once the full expectation holds, so the marker is removed with the fix.

use crate::harness::*;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// An endpoint that accepts and at once closes every connection, counting them (closing
/// makes a run that does call AWS fail fast instead of waiting for an answer).
struct Tripwire {
    url: String,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tripwire {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tripwire");
        listener
            .set_nonblocking(true)
            .expect("non-blocking tripwire");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("tripwire address")
        );
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (connections, stop) = (connections.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::SeqCst);
                            drop(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Self {
            url,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Tripwire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug)]
struct Expectation {
    /// Empty when the error names no field.
    path: String,
    fragment: String,
    line: usize,
    known_bug: Option<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn parse_header(file: &Path, text: &str) -> Expectation {
    let name = file.display();
    let first = text.lines().next().unwrap_or_default();
    let expect = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{name}: the first line is not `# expect: …`"));
    let (rest, line) = expect
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once(" (line "))
        .unwrap_or_else(|| panic!("{name}: the expectation does not end in `(line N)`"));
    let line: usize = line
        .parse()
        .unwrap_or_else(|_| panic!("{name}: `{line}` is not a line number"));
    let (path, fragment) = rest
        .split_once(": ")
        .unwrap_or_else(|| panic!("{name}: the expectation is not `path: message`"));
    let known_bug = text
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("# known-bug: "))
        .map(str::to_string);
    Expectation {
        path: if path == "~" {
            String::new()
        } else {
            path.to_string()
        },
        fragment: fragment.to_string(),
        line,
        known_bug,
    }
}

/// The error lines of `stderr` that are about `file`, without the `error: FILE: ` prefix.
fn errors_about<'a>(stderr: &'a str, file: &str) -> Vec<&'a str> {
    let prefix = format!("error: {file}: ");
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// Whether one error line is exactly the expected path, message and line.
fn matches_fully(error: &str, e: &Expectation) -> bool {
    let message = if e.path.is_empty() {
        Some(error)
    } else {
        error.strip_prefix(&format!("{}: ", e.path))
    };
    message
        .is_some_and(|m| m.starts_with(&e.fragment) && m.ends_with(&format!(" (line {})", e.line)))
}

#[test]
fn every_bad_spec_in_the_corpus_is_named_by_field_message_and_line_without_an_aws_call() {
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/example.yaml"))
            .expect("read the example spec");
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read tests/corpus")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "the corpus has {} specs, expected at least 30",
        files.len()
    );

    let wire = Tripwire::new();
    // The unmodified example is valid and makes no AWS call either: every corpus error comes
    // from the file's one defect.
    let out = moodle_ha_at(
        &wire.url,
        &[
            "validate",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("stacks/example.yaml")
                .to_str()
                .expect("utf-8 path"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut failures = Vec::new();
    let mut known_bugs = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name")
            .to_string();
        let text = std::fs::read_to_string(file).expect("read a corpus spec");
        let e = parse_header(file, &text);
        // One defect: the body (after the three header lines) differs from the example's.
        let body = |t: &str| t.lines().skip(3).collect::<Vec<_>>().join("\n");
        assert_ne!(body(&text), body(&example), "{name}: no defect");
        assert!(
            e.line >= 1 && e.line <= text.split('\n').count(),
            "{name}: line {} is outside the file",
            e.line
        );
        let path = file.to_str().expect("utf-8 path");
        for command in ["validate", "plan"] {
            let before = wire.connections();
            let out = moodle_ha_at(&wire.url, &[command, path]);
            let err = stderr(&out);
            let case = format!("{name} / {command}");
            if wire.connections() != before {
                failures.push(format!(
                    "{case}: {} connection(s) reached AWS before the spec was valid",
                    wire.connections() - before
                ));
            }
            if out.status.code() != Some(1) {
                failures.push(format!(
                    "{case}: exit {:?}, expected 1\n{err}",
                    out.status.code()
                ));
                continue;
            }
            let errors = errors_about(&err, path);
            let full = errors.iter().any(|l| matches_fully(l, &e));
            match (&e.known_bug, full) {
                (None, true) => {}
                (None, false) => failures.push(format!(
                    "{case}: expected `{}: {}… (line {})` in:\n{err}",
                    if e.path.is_empty() { "~" } else { &e.path },
                    e.fragment,
                    e.line
                )),
                (Some(bug), false) => {
                    // Still an error with the message, just not yet named as it should be.
                    if !errors
                        .iter()
                        .any(|l| l.contains(&e.fragment) && l.contains("(line "))
                    {
                        failures.push(format!(
                            "{case}: known bug ({bug}), and the message `{}` is gone too:\n{err}",
                            e.fragment
                        ));
                    } else if command == "validate" {
                        known_bugs.push(format!("{name}: {bug}; got: {}", errors.join(" | ")));
                    }
                }
                (Some(bug), true) => failures.push(format!(
                    "{case}: the known bug `{bug}` is fixed: remove the `# known-bug:` line"
                )),
            }
        }
    }
    for bug in &known_bugs {
        eprintln!("KNOWN BUG (tests/corpus): {bug}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus runs failed:\n{}",
        failures.len(),
        files.len() * 2,
        failures.join("\n\n")
    );
    assert_eq!(wire.connections(), 0, "an AWS call was made");
}

//! Fuzzing the spec loader: random mutations of `stacks/example.yaml` (deleted, duplicated,
//! swapped or re-indented lines, deleted byte ranges, YAML-ish tokens and arbitrary Unicode
//! inserted, truncation) fed to `moodle_ha::spec::load_str`. It must never panic, and every
//! problem it reports names a line of its input, or none.
//!
//! 2000 cases by default (a few seconds); `PROPTEST_CASES` overrides the count and
//! `PROPTEST_RNG_SEED` the seed (fixed by default, so CI runs the same inputs every time).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const EXAMPLE: &str = include_str!("../../stacks/example.yaml");

/// Tokens that mean something to a YAML parser, or to the spec's types.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "?",
    "? ",
    "&a ",
    "*a",
    "*missing",
    "!!str ",
    "!!map ",
    "!tag ",
    "|",
    "|-",
    ">",
    "\"",
    "'",
    "#",
    " #",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "  ",
    "    ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "<<: *a\n",
    "~",
    "null",
    "true",
    "yes",
    "0x1F",
    "0o17",
    "1e9",
    "-1",
    ".inf",
    ".nan",
    "99999999999999999999",
    "1.5",
    "[]",
    "{}",
    "''",
    "\"\\u00\"",
    "\"\\x\"",
    "\\",
    "@",
    "`",
    "%",
    "\u{feff}",
    "\u{2028}",
    "\u{0}",
    "é",
    "🦀",
    "name: x\n",
    "web:\n",
    "  min: 2\n",
    "- t3.large\n",
    "aurora-mysql-3",
    "mysql-8.0",
    "5.0",
    "provisioned",
    "maxIO",
    "scheduled_actions:\n  - name: a\n",
];

#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Reindent(usize, i8),
    DeleteBytes(usize, usize),
    InsertToken(usize, usize),
    InsertChars(usize, String),
    Truncate(usize),
    ReplaceValue(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Positions are taken modulo the current length, so any usize will do.
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), -4i8..=4).prop_map(|(l, d)| Mutation::Reindent(l, d)),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Mutation::DeleteBytes(at, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, t)| Mutation::InsertToken(at, t)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<char>(), 1..6)
        )
            .prop_map(|(at, cs)| Mutation::InsertChars(at, cs.into_iter().collect())),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(l, t)| Mutation::ReplaceValue(l, t)),
    ]
}

/// The nearest char boundary at or below `at`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, m: &Mutation) {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteLine(l) => {
            if !lines.is_empty() {
                lines.remove(l % n);
            }
        }
        Mutation::DuplicateLine(l) => {
            if !lines.is_empty() {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::Reindent(l, d) => {
            if let Some(line) = lines.get_mut(l % n) {
                if *d >= 0 {
                    line.insert_str(0, &" ".repeat(*d as usize));
                } else {
                    let strip = line
                        .chars()
                        .take(d.unsigned_abs() as usize)
                        .take_while(|c| *c == ' ')
                        .count();
                    line.drain(..strip);
                }
            }
        }
        Mutation::ReplaceValue(l, t) => {
            // Keep the key, replace what follows `: ` with a token.
            if let Some(line) = lines.get_mut(l % n) {
                if let Some(i) = line.find(": ") {
                    line.truncate(i + 2);
                    line.push_str(TOKENS[t % TOKENS.len()].trim_end_matches('\n'));
                }
            }
        }
        _ => {}
    }
    if matches!(
        m,
        Mutation::DeleteLine(_)
            | Mutation::DuplicateLine(_)
            | Mutation::SwapLines(..)
            | Mutation::Reindent(..)
            | Mutation::ReplaceValue(..)
    ) {
        *text = lines.join("\n");
        return;
    }
    let len = text.len().max(1);
    match m {
        Mutation::DeleteBytes(at, count) => {
            let start = boundary(text, at % len);
            let end = boundary(text, start + count);
            text.replace_range(start..end, "");
        }
        Mutation::InsertToken(at, t) => {
            let at = boundary(text, at % len);
            text.insert_str(at, TOKENS[t % TOKENS.len()]);
        }
        Mutation::InsertChars(at, chars) => {
            let at = boundary(text, at % len);
            text.insert_str(at, chars);
        }
        Mutation::Truncate(at) => {
            let at = boundary(text, at % len);
            text.truncate(at);
        }
        _ => {}
    }
}

/// Lines a position in `text` can be on, with YAML's line breaks (`\n`, `\r\n` and a lone
/// `\r`): the empty line after a final break (where "end of input" is) included.
fn line_count(text: &str) -> usize {
    1 + text.replace("\r\n", "\n").matches(['\n', '\r']).count()
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let lines = line_count(text);
    match moodle_ha::spec::load_str(text) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                if let Some(line) = w.line {
                    prop_assert!(
                        (1..=lines).contains(&line),
                        "warning `{w}` names line {line} of a {lines}-line input"
                    );
                }
            }
        }
        Err(e) => {
            let rendered = e.to_string();
            let problems = e.problems();
            prop_assert!(
                !problems.is_empty(),
                "an error without problems: {rendered}"
            );
            prop_assert!(
                problems
                    .iter()
                    .any(|p| p.severity == moodle_ha::spec::Severity::Error),
                "an error with only warnings: {rendered}"
            );
            for p in problems {
                prop_assert!(!p.message.is_empty(), "empty message: {rendered}");
                if let Some(line) = p.line {
                    prop_assert!(
                        (1..=lines).contains(&line),
                        "`{p}` names line {line} of a {lines}-line input"
                    );
                }
            }
        }
    }
    Ok(())
}

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 2000;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x6d6f_6f64_6c65);
    }
    // A failure is reported (shrunk) in the test output; no regression file is written.
    config.failure_persistence = None;
    config
}

#[test]
fn the_example_loads_and_its_mutations_never_panic_and_name_lines_inside_the_input() {
    // The starting point itself is valid, so mutations explore near-valid specs too.
    let loaded = moodle_ha::spec::load_str(EXAMPLE).expect("the example spec loads");
    assert_eq!(loaded.spec.name, "moodle-example");

    // Inputs that have hurt YAML loaders before: empty, only comments, only a BOM, deep
    // nesting, a huge flow sequence, an alias bomb, a lone document marker.
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let wide = format!("name: [{}]", "a, ".repeat(20_000));
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
    for text in [
        "",
        "\n",
        "# only a comment\n",
        "\u{feff}",
        "---",
        "...",
        "name:",
        ":",
        "- - -",
        "&a *a",
        deep.as_str(),
        wide.as_str(),
        bomb,
    ] {
        if let Err(e) = check(text) {
            panic!(
                "{e} for input {:?}",
                text.chars().take(80).collect::<String>()
            );
        }
    }

    let mut runner = TestRunner::new(config());
    let strategy = proptest::collection::vec(mutation(), 1..5);
    let result = runner.run(&strategy, |mutations| {
        let mut text = EXAMPLE.to_string();
        for m in &mutations {
            apply(&mut text, m);
        }
        check(&text)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

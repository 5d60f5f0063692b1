//! What a CLI user expects: shell completions and man pages generated from the same clap
//! definitions the parser uses, so they name every command (no emulator needed).

use crate::harness::*;
use clap::CommandFactory;
use moodle_ha::cli::Cli;

/// Every subcommand the parser accepts, from its clap definitions.
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect()
}

#[test]
fn the_bash_completion_names_every_subcommand() {
    let names = subcommands();
    assert!(names.len() >= 9, "{names:?}");
    let script = ok(moodle_ha_at("http://127.0.0.1:9", &["completions", "bash"]));
    // The words offered after `moodle-ha `: the top-level case's `opts`.
    let top = script
        .split("\n        moodle__ha)\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|line| line.trim().strip_prefix("opts=\""))
        .map(|opts| opts.trim_end_matches('"'))
        .unwrap_or_else(|| panic!("no top-level opts in:\n{script}"));
    let offered: Vec<&str> = top.split_whitespace().collect();
    for name in &names {
        assert!(
            offered.contains(&name.as_str()),
            "`moodle-ha {name}` is not completed: {top}"
        );
        assert!(
            script.contains(&format!("moodle__ha,{name})")),
            "`moodle-ha {name}`'s own flags are not completed"
        );
    }
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = ok(moodle_ha_at("http://127.0.0.1:9", &["completions", shell]));
        assert!(
            script.contains("moodle-ha") && script.contains("destroy"),
            "{shell}: {script}"
        );
    }
    let refused = moodle_ha_at("http://127.0.0.1:9", &["completions", "cmd.exe"]);
    assert_eq!(refused.status.code(), Some(2), "clap's usage error");
}

#[test]
fn the_man_pages_cover_every_subcommand() {
    let page = ok(moodle_ha_at("http://127.0.0.1:9", &["man"]));
    assert!(page.contains(".TH moodle-ha 1"), "{page}");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().expect("utf-8 path");
    let listed = ok(moodle_ha_at("http://127.0.0.1:9", &["man", "--out", out]));
    let mut expected = vec!["moodle-ha.1".to_string()];
    expected.extend(subcommands().iter().map(|s| format!("moodle-ha-{s}.1")));
    for file in &expected {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{listed}", path.display()));
        assert!(text.starts_with(".ie"), "{file} is roff");
        assert!(listed.contains(file.as_str()), "{listed}");
        // Every page but the top one documents its command's own name.
        let name = file.trim_end_matches(".1");
        assert!(text.contains(&name.replace('-', "\\-")), "{file}");
    }
}

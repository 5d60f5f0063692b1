//! `completions` and `man`: shell completion scripts (clap_complete) and man pages
//! (clap_mangen), generated from the command line's own clap definitions, so they list
//! exactly the commands and flags the parser accepts.

use anyhow::Context;
use clap_complete::Shell;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes the completion script for `shell` of the command `cmd` to `out`.
pub fn script(shell: Shell, cmd: &mut clap::Command, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, cmd, name, out);
}

/// Writes the man page of `cmd` (roff) to `out`.
pub fn man_page(cmd: clap::Command, out: &mut dyn Write) -> anyhow::Result<()> {
    clap_mangen::Man::new(cmd)
        .render(out)
        .context("writing the man page")
}

/// Writes the man pages of `cmd` and of each of its subcommands (`NAME.1`, `NAME-SUB.1`) into
/// `dir`, created when missing; returns the files written.
pub fn man_pages_to(cmd: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // As `clap_mangen::generate_to` does (the subcommands get their display names, e.g.
    // `moodle-ha-apply`, when the command is built), keeping the paths it writes.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let pages = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .chain([cmd.clone()]);
    let mut written = Vec::new();
    for page in pages {
        let path = clap_mangen::Man::new(page)
            .generate_to(dir)
            .with_context(|| format!("writing a man page to {}", dir.display()))?;
        written.push(path);
    }
    Ok(written)
}

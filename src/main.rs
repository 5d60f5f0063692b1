//! The `moodle-ha` binary: see [`moodle_ha::cli`].

fn main() -> std::process::ExitCode {
    moodle_ha::cli::main()
}

//! The command line: it parses the arguments, runs the command's workflow
//! ([`crate::commands`]) and prints the result, as text for people (`cli/text.rs`) or as
//! `--output json` for machines (`cli/json.rs`), and turns it into the exit code (0 ok, 1 error,
//! 2 changes present with `plan --detailed-exitcode` or drift, 130/143 when apply or destroy
//! was interrupted by SIGINT/SIGTERM).

mod json;
mod text;
pub mod workflow;

use crate::commands::execute::{Applied, Settings};
use crate::commands::interrupt::Interrupted;
use crate::commands::plan::Planned;
use crate::commands::plan_dir::PlannedDir;
use crate::commands::render::Rendered;
use crate::commands::validate::Validated;
use crate::commands::{self, Ui, drift::Drift};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

pub use crate::commands::schema::Document as SchemaKind;

/// Stand up and keep a highly available Moodle site on AWS.
#[derive(Debug, Parser)]
#[command(name = "moodle-ha", version, about)]
pub struct Cli {
    /// More output: `-v` logs every AWS request, `-vv` the SDK's own debug output.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// AWS endpoint (e.g. the local emulator); default: `AWS_ENDPOINT_URL` or AWS itself.
    #[arg(long, global = true, env = "MOODLE_HA_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// A versioned JSON document on stdout.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec without calling AWS: exit 0 when valid, 1 with every problem listed.
    Validate {
        /// The stack spec.
        file: PathBuf,
    },
    /// Show what apply would change (for a directory: every `*.yaml` stack in it, read
    /// concurrently, one summary line each).
    Plan {
        /// The stack spec, or a directory of specs.
        file: PathBuf,
        /// With a directory: stacks planned at once.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Exit 2 when there are changes, 0 when none, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Also write the plan to this file, for `apply FILE` to carry out exactly.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Limit the plan to one part of the spec (e.g. `web.scaling`).
        #[arg(long)]
        only: Option<String>,
    },
    /// Compare AWS with the spec: exit 0 when they match, 2 when they differ, 1 on error.
    Drift {
        /// The stack spec.
        file: PathBuf,
    },
    /// The stack's upgrades and rollbacks, as recorded in the stack: from, to, the snapshot,
    /// each step's start and end, the outcome.
    History {
        /// The stack spec.
        file: PathBuf,
    },
    /// Converge AWS to the spec: print the plan, then carry it out.
    Apply {
        /// The stack spec, or a plan saved with `plan --out` (applied only while AWS still
        /// matches what it was planned against).
        file: PathBuf,
        /// Limit the changes to one part of the spec (e.g. `web.scaling`).
        #[arg(long)]
        only: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Allow replacing or deleting resources that hold data (the database, the file system).
        #[arg(long)]
        allow_data_loss: bool,
        /// Turn deletion protection (database, load balancer) off where a planned replacement
        /// needs it.
        #[arg(long)]
        disable_deletion_protection: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Delete every resource tagged for the stack, in reverse dependency order.
    Destroy {
        /// The stack spec.
        file: PathBuf,
        /// Do not ask for the stack name.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Turn deletion protection off so the database and the load balancer can be deleted
        /// (the database's final snapshot is still taken unless the spec says
        /// `final_snapshot: false`).
        #[arg(long)]
        disable_deletion_protection: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Write the rendered files for inspection: `web-user-data.yaml`, `cron-user-data.yaml`,
    /// `config.php` and the web server's site config. Values of resources that do not exist
    /// yet are marked `<known after apply: …>`.
    Render {
        /// The stack spec.
        file: PathBuf,
        /// Directory to write to (created when missing).
        #[arg(long)]
        out: PathBuf,
        /// Do not read AWS: every value of another resource is a marked placeholder.
        #[arg(long)]
        offline: bool,
    },
    /// Print a JSON Schema: of the spec (default), the plan document or the drift report.
    Schema {
        /// Which document.
        #[arg(value_enum, default_value_t = SchemaKind::Spec)]
        which: SchemaKind,
    },
    /// Print a shell completion script, e.g. `moodle-ha completions bash >
    /// ~/.local/share/bash-completion/completions/moodle-ha`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; `moodle-ha man | man -l -`), or write one page per command
    /// into a directory.
    Man {
        /// Directory to write `moodle-ha.1` and `moodle-ha-COMMAND.1` to.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Settings of a run that changes AWS.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Steps run at once.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Cap on every wait, in seconds (default: each resource's own maximum).
    #[arg(long)]
    pub max_wait: Option<u64>,
    /// Take the stack's lock even though another run holds it (only when that run is dead).
    #[arg(long)]
    pub force_unlock: bool,
}

impl RunArgs {
    fn settings(&self) -> Settings {
        Settings {
            concurrency: self.concurrency,
            max_wait: self.max_wait.map(Duration::from_secs),
            force_unlock: self.force_unlock,
        }
    }
}

/// Prints the workflows' results in one output format, and is their [`Ui`] while they run.
trait Printer: Ui {
    /// `validate` on a valid spec.
    fn validated(&self, file: &Path, validated: &Validated) -> anyhow::Result<()>;
    /// `plan FILE`.
    fn planned(&self, planned: &Planned) -> anyhow::Result<()>;
    /// `plan DIR`.
    fn planned_dir(&self, planned: &PlannedDir) -> anyhow::Result<()>;
    /// `drift`.
    fn drift(&self, drift: &Drift) -> anyhow::Result<()>;
    /// `history`.
    fn history(&self, history: &commands::history::History) -> anyhow::Result<()>;
    /// `apply` and `destroy`.
    fn applied(&self, applied: &Applied) -> anyhow::Result<()>;
    /// `render`.
    fn rendered(&self, rendered: &Rendered) -> anyhow::Result<()>;
    /// `man --out DIR`.
    fn man_pages(&self, written: &[PathBuf]) -> anyhow::Result<()>;
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            // A workflow stopped by a signal before any change exits like one that was.
            e.chain()
                .find_map(|cause| cause.downcast_ref::<Interrupted>())
                .map_or(1, |interrupted| interrupted.0.exit_code())
        }
    };
    // A confirmation given up on a signal leaves a thread blocked reading stdin: do not wait.
    runtime.shutdown_background();
    ExitCode::from(code)
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,moodle_ha=debug",
        _ => "debug,hyper=info,h2=info,rustls=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.output {
        Output::Text => dispatch(cli.command, cli.endpoint_url, &text::Text).await,
        Output::Json => dispatch(cli.command, cli.endpoint_url, &json::Json).await,
    }
}

/// Runs the command's workflow and prints its result with `p`; returns the exit code.
async fn dispatch<P: Printer>(
    command: Command,
    endpoint: Option<String>,
    p: &P,
) -> anyhow::Result<u8> {
    match command {
        Command::Validate { file } => printed(commands::validate::run(&file, p)?, |v| {
            p.validated(&file, v).map(|()| 0)
        }),
        Command::Plan {
            file,
            parallel,
            detailed_exitcode,
            ..
        } if file.is_dir() => {
            let planned = commands::plan_dir::run(&file, parallel, endpoint, p).await?;
            p.planned_dir(&planned)?;
            Ok(planned.exit_code(detailed_exitcode))
        }
        Command::Plan {
            file,
            detailed_exitcode,
            out,
            only,
            ..
        } => {
            let planned = commands::plan::run(&file, only.as_deref(), out, endpoint, p).await?;
            printed(planned, |planned| {
                p.planned(planned)
                    .map(|()| planned.exit_code(detailed_exitcode))
            })
        }
        Command::Drift { file } => printed(commands::drift::run(&file, endpoint, p).await?, |d| {
            p.drift(d).map(|()| d.exit_code())
        }),
        Command::History { file } => {
            printed(commands::history::run(&file, endpoint, p).await?, |h| {
                p.history(h).map(|()| 0)
            })
        }
        Command::Apply {
            file,
            only,
            yes,
            allow_data_loss,
            disable_deletion_protection,
            run,
        } => {
            let args = commands::apply::Args {
                file,
                only,
                yes,
                allow_data_loss,
                disable_deletion_protection,
                settings: run.settings(),
                endpoint_url: endpoint,
            };
            printed(commands::apply::run(args, p).await?, |a| {
                p.applied(a).map(|()| a.exit_code())
            })
        }
        Command::Destroy {
            file,
            yes,
            disable_deletion_protection,
            run,
        } => {
            let args = commands::destroy::Args {
                file,
                yes,
                disable_deletion_protection,
                settings: run.settings(),
                endpoint_url: endpoint,
            };
            printed(commands::destroy::run(args, p).await?, |a| {
                p.applied(a).map(|()| a.exit_code())
            })
        }
        Command::Render { file, out, offline } => {
            let rendered = commands::render::run(&file, &out, offline, endpoint, p).await?;
            printed(rendered, |r| p.rendered(r).map(|()| 0))
        }
        Command::Schema { which } => {
            print!("{}", commands::schema::json_schema(which));
            Ok(0)
        }
        Command::Completions { shell } => {
            commands::completions::script(shell, &mut Cli::command(), &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { out: None } => {
            commands::completions::man_page(Cli::command(), &mut std::io::stdout()).map(|()| 0)
        }
        Command::Man { out: Some(dir) } => {
            let written = commands::completions::man_pages_to(Cli::command(), &dir)?;
            p.man_pages(&written).map(|()| 0)
        }
    }
}

/// Prints a workflow's result with `print`, which gives the exit code; `None` (the spec or
/// its references had errors, already shown) exits 1.
fn printed<T>(
    result: Option<T>,
    print: impl FnOnce(&T) -> anyhow::Result<u8>,
) -> anyhow::Result<u8> {
    match result {
        Some(result) => print(&result),
        None => Ok(1),
    }
}

//! The command line: `validate`, `plan`, `apply`, `destroy` and `schema`, their flags, output
//! (text for people, `--output json` for machines) and exit codes (0 ok, 1 error, 2 changes
//! present with `plan --detailed-exitcode`).

use crate::aws::{Aws, Connect, lock};
use crate::desired::{DesiredState, check_facts, desired_state};
use crate::executor::{self, ApplyReport, Event, Outcome, Step};
use crate::plan::render::render_plan;
use crate::plan::{Plan, PlanOptions, plan};
use crate::progress::Progress;
use crate::spec::{LoadError, LoadedSpec, Severity, load_file};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
        /// Turn RDS deletion protection off where a planned replacement needs it.
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
        /// Turn RDS deletion protection off so the database can be deleted (its final
        /// snapshot is still taken unless the spec says `final_snapshot: false`).
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
}

/// The documents with a published JSON Schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The stack spec (`stacks/schema.json`).
    Spec,
    /// `plan`/`apply --output json` and saved plans (`stacks/plan.schema.json`).
    Plan,
    /// `drift --output json` (`stacks/drift.schema.json`).
    Drift,
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
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

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let output = cli.output;
    match cli.command {
        Command::Validate { file } => validate(&file, output),
        Command::Render { file, out, offline } => {
            render_files(&file, &out, offline, cli.endpoint_url, output).await
        }
        Command::Schema { which } => {
            print!(
                "{}",
                match which {
                    SchemaKind::Spec => crate::spec::json_schema(),
                    SchemaKind::Plan => crate::report::schema_of::<crate::report::PlanDocument>(),
                    SchemaKind::Drift => crate::report::schema_of::<crate::report::DriftDocument>(),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            file,
            parallel,
            detailed_exitcode,
            out,
            only,
        } => {
            if file.is_dir() {
                return plan_many(&file, parallel, cli.endpoint_url, output, detailed_exitcode)
                    .await;
            }
            let Some((loaded, aws)) = open(&file, output, cli.endpoint_url, None).await? else {
                return Ok(ExitCode::from(1));
            };
            let Some((plan, _)) = make_plan(&aws, &file, &loaded, output).await? else {
                return Ok(ExitCode::from(1));
            };
            let plan = limit(plan, only.as_deref())?;
            if let Some(path) = &out {
                let text = serde_json::to_string_pretty(&plan)?;
                std::fs::write(path, text + "\n")
                    .with_context(|| format!("writing the plan to {}", path.display()))?;
            }
            print_plan(&plan, &aws, output);
            if let (Some(path), Output::Text) = (&out, output) {
                println!(
                    "Saved to {}; `moodle-ha apply {}` carries out exactly this plan.",
                    path.display(),
                    path.display()
                );
            }
            Ok(if detailed_exitcode && !plan.is_empty() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Drift { file } => {
            let Some((loaded, aws)) = open(&file, output, cli.endpoint_url, None).await? else {
                return Ok(ExitCode::from(1));
            };
            let Some((plan, _)) = make_plan(&aws, &file, &loaded, output).await? else {
                return Ok(ExitCode::from(1));
            };
            let report = crate::plan::drift::report(&plan);
            match output {
                Output::Json => {
                    let doc = crate::report::DriftDocument {
                        report: report.clone(),
                        api_calls: crate::report::ApiCallCounts::from_calls(&aws.calls),
                    };
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                }
                Output::Text => print!("{}", crate::plan::drift::render(&report)),
            }
            Ok(if report.drift {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
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
            let approval = Approval {
                yes,
                allow_data_loss,
                disable_deletion_protection,
                prompt: "Apply these changes? Type `yes`: ".into(),
                expected: "yes".into(),
                cancelled: "apply cancelled; nothing was changed",
            };
            if let Some(saved) = saved_plan(&file)? {
                if only.is_some() {
                    bail!(
                        "`--only` applies to a spec; a saved plan is applied exactly as it was made"
                    );
                }
                let aws = Aws::connect_to(
                    &saved.stack,
                    &saved.region,
                    &saved.tags,
                    &Connect {
                        endpoint_url: cli.endpoint_url,
                        max_wait: run.max_wait.map(Duration::from_secs),
                    },
                    Progress::new(),
                )
                .await;
                let lock = lock::acquire(&aws, "apply", run.force_unlock).await?;
                let result = async {
                    let observed = aws.observe().await.context("reading the stack from AWS")?;
                    if !saved.still_matches(&observed) {
                        bail!(
                            "stale plan: the stack changed in AWS since {} was planned; nothing was changed. Run `moodle-ha plan --out` again and review the new plan",
                            file.display()
                        );
                    }
                    run_plan(&aws, &saved, observed.ids(), &run, output, &approval).await
                }
                .await;
                lock.release(&aws).await;
                result
            } else {
                let Some((loaded, aws)) =
                    open(&file, output, cli.endpoint_url, run.max_wait).await?
                else {
                    return Ok(ExitCode::from(1));
                };
                let lock = lock::acquire(&aws, "apply", run.force_unlock).await?;
                let result = async {
                    let Some((plan, ids)) = make_plan(&aws, &file, &loaded, output).await? else {
                        return Ok(ExitCode::from(1));
                    };
                    let plan = limit(plan, only.as_deref())?;
                    run_plan(&aws, &plan, ids, &run, output, &approval).await
                }
                .await;
                lock.release(&aws).await;
                result
            }
        }
        Command::Destroy {
            file,
            yes,
            disable_deletion_protection,
            run,
        } => {
            let Some((loaded, aws)) = open(&file, output, cli.endpoint_url, run.max_wait).await?
            else {
                return Ok(ExitCode::from(1));
            };
            let lock = lock::acquire(&aws, "destroy", run.force_unlock).await?;
            let observed = match aws.observe().await {
                Ok(o) => o,
                Err(e) => {
                    lock.release(&aws).await;
                    return Err(e.context("reading the stack from AWS"));
                }
            };
            let nothing = DesiredState {
                stack: loaded.spec.name.clone(),
                region: loaded.spec.region.clone(),
                tags: loaded.spec.tags.clone(),
                resources: BTreeMap::new(),
            };
            let plan = plan(
                &nothing,
                &observed,
                &PlanOptions {
                    plan_id: new_plan_id(),
                    final_snapshot: loaded.spec.database.final_snapshot,
                },
            );
            let name = loaded.spec.name;
            let approval = Approval {
                yes,
                // Destroying is the point of the command; the typed stack name is the guard.
                allow_data_loss: true,
                disable_deletion_protection,
                prompt: format!("Destroy every resource above? Type the stack name `{name}`: "),
                expected: name,
                cancelled: "destroy cancelled; nothing was deleted",
            };
            let result = run_plan(&aws, &plan, observed.ids(), &run, output, &approval).await;
            lock.release(&aws).await;
            result
        }
    }
}

/// Plans every stack spec in a directory, at most `parallel` at once; prints one line (or one
/// JSON document) per stack. Exit 1 if any failed, else 2 with `--detailed-exitcode` if any
/// has changes.
async fn plan_many(
    dir: &std::path::Path,
    parallel: usize,
    endpoint_url: Option<String>,
    output: Output,
    detailed_exitcode: bool,
) -> anyhow::Result<ExitCode> {
    use futures::stream::{self, StreamExt};
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let started = std::time::Instant::now();
    type Planned = anyhow::Result<Option<(Plan, crate::report::ApiCallCounts)>>;
    let results: Vec<(PathBuf, Planned)> = stream::iter(files)
        .map(|file| {
            let endpoint_url = endpoint_url.clone();
            async move {
                let result = async {
                    let Some((loaded, aws)) = open(&file, output, endpoint_url, None).await? else {
                        return Ok(None);
                    };
                    let planned = make_plan(&aws, &file, &loaded, output).await?;
                    let calls = crate::report::ApiCallCounts::from_calls(&aws.calls);
                    Ok(planned.map(|(plan, _)| (plan, calls)))
                }
                .await;
                (file, result)
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    let mut results = results;
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut failed, mut changed) = (0, 0);
    let mut documents = Vec::new();
    for (file, result) in &results {
        match result {
            Ok(Some((plan, calls))) => {
                if !plan.is_empty() {
                    changed += 1;
                }
                if output == Output::Text {
                    let s = plan.summary();
                    println!(
                        "{}: {} ({} to add, {} to change, {} to replace, {} to destroy; {} AWS requests)",
                        plan.stack,
                        if plan.is_empty() {
                            "no changes"
                        } else {
                            "changes"
                        },
                        s.create,
                        s.update,
                        s.replace,
                        s.delete,
                        calls.total
                    );
                } else {
                    documents.push(serde_json::to_value(crate::report::PlanDocument::new(
                        plan,
                        calls.clone(),
                        None,
                    ))?);
                }
            }
            Ok(None) => failed += 1,
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", file.display());
            }
        }
    }
    let elapsed = started.elapsed();
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "format_version": crate::plan::PLAN_FORMAT_VERSION,
                "stacks": documents,
                "failed": failed,
                "seconds": elapsed.as_secs_f64(),
            }))?
        );
    } else {
        println!(
            "{} stacks planned in {:.2}s ({} at once): {changed} with changes, {failed} failed.",
            results.len(),
            elapsed.as_secs_f64(),
            parallel.max(1)
        );
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else if detailed_exitcode && changed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The plan limited to one part of the spec, when asked.
fn limit(plan: Plan, only: Option<&str>) -> anyhow::Result<Plan> {
    match only {
        None => Ok(plan),
        Some(part) => crate::plan::select::select(&plan, part).map_err(anyhow::Error::msg),
    }
}

/// A plan saved with `plan --out`, when `file` is one (a spec is YAML, a saved plan JSON with
/// a `plan_id`).
fn saved_plan(file: &std::path::Path) -> anyhow::Result<Option<Plan>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let plan: Plan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a saved plan", file.display()))?;
    if plan.format_version != crate::plan::PLAN_FORMAT_VERSION {
        bail!(
            "{} is a plan of format {}; this moodle-ha reads format {}",
            file.display(),
            plan.format_version,
            crate::plan::PLAN_FORMAT_VERSION
        );
    }
    Ok(Some(plan))
}

/// Loads the spec and connects to AWS. `None` when the spec has errors (already printed);
/// no AWS client exists before the spec is valid.
async fn open(
    file: &std::path::Path,
    output: Output,
    endpoint_url: Option<String>,
    max_wait: Option<u64>,
) -> anyhow::Result<Option<(LoadedSpec, Aws)>> {
    let Some(loaded) = load(file, output)? else {
        return Ok(None);
    };
    let connect = Connect {
        endpoint_url,
        max_wait: max_wait.map(Duration::from_secs),
    };
    let aws = Aws::connect(&loaded.spec, &connect, Progress::new()).await;
    Ok(Some((loaded, aws)))
}

/// What a run that changes AWS needs before it may start.
struct Approval {
    yes: bool,
    allow_data_loss: bool,
    disable_deletion_protection: bool,
    prompt: String,
    expected: String,
    cancelled: &'static str,
}

/// Prints the plan, checks data loss and confirmation, carries the plan out and reports.
async fn run_plan(
    aws: &Aws,
    plan: &Plan,
    ids: executor::Ids,
    run: &RunArgs,
    output: Output,
    approval: &Approval,
) -> anyhow::Result<ExitCode> {
    if output == Output::Text {
        print_plan(plan, aws, output);
    }
    if plan.is_empty() {
        if output == Output::Json {
            print_json(plan, aws, Some(&ApplyReport::default()));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(refusal) = plan.check_allowed(
        approval.allow_data_loss,
        approval.disable_deletion_protection,
    ) {
        bail!("{refusal}");
    }
    if !approval.yes && !confirm(&approval.prompt, &approval.expected)? {
        bail!("{}", approval.cancelled);
    }
    let report = carry_out(aws, plan, ids, run.concurrency, output).await;
    // Outputs (endpoints, secret ARNs) exist once the resources do: read them again.
    let outputs = match aws.observe().await {
        Ok(observed) => observed.outputs(),
        Err(e) => {
            tracing::warn!("reading outputs after apply: {e:#}");
            plan.outputs.clone()
        }
    };
    finish(plan, aws, &report, &outputs, output)
}

/// Loads and validates; prints problems. `None` when the spec has errors (already printed).
/// A valid spec's files must render (a template bug, or user data over EC2's limit, stops
/// here, before any AWS call).
fn load(file: &std::path::Path, output: Output) -> anyhow::Result<Option<LoadedSpec>> {
    match load_file(file) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {}: {w}", file.display());
            }
            crate::render::all_files(&loaded.spec, &crate::render::Outputs::default())
                .with_context(|| format!("{}: rendering the site's files", file.display()))?;
            Ok(Some(loaded))
        }
        Err(LoadError::Io { path, source }) => bail!("cannot read {}: {source}", path.display()),
        Err(e) => {
            print_problems(file, e.problems(), output);
            Ok(None)
        }
    }
}

fn print_problems(file: &std::path::Path, problems: &[crate::spec::Problem], output: Output) {
    if output == Output::Json {
        let doc = json!({"format_version": 1, "file": file.display().to_string(), "valid": false, "problems": problems});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    for p in problems {
        let label = if p.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        eprintln!("{label}: {}: {p}", file.display());
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    eprintln!(
        "{}: {errors} error{}; nothing was sent to AWS",
        file.display(),
        if errors == 1 { "" } else { "s" }
    );
}

fn validate(file: &std::path::Path, output: Output) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load(file, output)? else {
        return Ok(ExitCode::from(1));
    };
    if output == Output::Json {
        let doc = json!({"format_version": 1, "file": file.display().to_string(), "valid": true, "problems": loaded.warnings});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{}: valid ({} warning{})",
            file.display(),
            loaded.warnings.len(),
            if loaded.warnings.len() == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `render`: the files a node gets, written to `out` for inspection.
async fn render_files(
    file: &std::path::Path,
    out: &std::path::Path,
    offline: bool,
    endpoint_url: Option<String>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load(file, output)? else {
        return Ok(ExitCode::from(1));
    };
    let outputs = if offline {
        crate::render::Outputs::default()
    } else {
        let connect = Connect {
            endpoint_url,
            max_wait: None,
        };
        let aws = Aws::connect(&loaded.spec, &connect, Progress::new()).await;
        let observed = aws
            .observe()
            .await
            .context("reading the stack's resources (use `--offline` to render without AWS)")?;
        crate::render::Outputs::from_map(&observed.outputs())
    };
    let files = crate::render::all_files(&loaded.spec, &outputs)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    for (name, text) in &files {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(json!({"file": path.display().to_string(), "bytes": text.len()}));
    }
    let missing = outputs.missing();
    match output {
        Output::Json => {
            let doc = json!({"format_version": 1, "files": written, "known_after_apply": missing});
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            for (name, text) in &files {
                println!("wrote {} ({} bytes)", out.join(name).display(), text.len());
            }
            if !missing.is_empty() {
                println!(
                    "config.php marks {} as `<known after apply: …>`: {}; each node fills them in at boot",
                    if missing.len() == 1 {
                        "one value"
                    } else {
                        "values"
                    },
                    missing.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Facts → desired → observed → plan. `None` when adopted resources are missing (printed).
async fn make_plan(
    aws: &Aws,
    file: &std::path::Path,
    loaded: &LoadedSpec,
    output: Output,
) -> anyhow::Result<Option<(Plan, executor::Ids)>> {
    let spec = &loaded.spec;
    let (facts, observed) = tokio::try_join!(aws.facts(spec), aws.observe())?;
    let problems = check_facts(spec, &facts, &loaded.source);
    if !problems.is_empty() {
        print_problems(file, &problems, output);
        return Ok(None);
    }
    let desired = desired_state(spec, &facts);
    let plan = plan(
        &desired,
        &observed,
        &PlanOptions {
            plan_id: new_plan_id(),
            final_snapshot: spec.database.final_snapshot,
        },
    );
    Ok(Some((plan, observed.ids())))
}

fn new_plan_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    executor::short_hash(&format!("{}-{}", now.as_nanos(), std::process::id()), 8)
}

fn print_plan(plan: &Plan, aws: &Aws, output: Output) {
    match output {
        Output::Json => print_json(plan, aws, None),
        Output::Text => {
            let mut out = anstream::stdout();
            let _ = write!(out, "{}", render_plan(plan));
        }
    }
}

fn print_json(plan: &Plan, aws: &Aws, report: Option<&ApplyReport>) {
    let doc = crate::report::PlanDocument::new(
        plan,
        crate::report::ApiCallCounts::from_calls(&aws.calls),
        report,
    );
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

fn confirm(prompt: &str, expected: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "confirmation needed but stdin is not a terminal; pass `--yes` to go ahead without it"
        );
    }
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == expected)
}

async fn carry_out(
    aws: &Aws,
    plan: &Plan,
    ids: executor::Ids,
    concurrency: usize,
    output: Output,
) -> ApplyReport {
    let progress = &aws.progress;
    let text = output == Output::Text;
    if text {
        progress.line("");
    }
    let on_event = |event: Event<'_>| {
        if !text {
            return;
        }
        match event {
            Event::Started(key, step) => progress.line(&format!("  {} {key} …", verb(step, false))),
            Event::Finished(report) => progress.line(&match &report.outcome {
                Outcome::Done { id, seconds } => {
                    let id = id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
                    format!(
                        "  {} {}{id} in {seconds:.1}s",
                        verb(report.step, true),
                        report.key
                    )
                }
                Outcome::Failed { error } => format!(
                    "  FAILED to {} {}: {error}",
                    infinitive(report.step),
                    report.key
                ),
                Outcome::Skipped { because } => format!(
                    "  skipped: {} {}, because {because} failed",
                    infinitive(report.step),
                    report.key
                ),
            }),
        }
    };
    executor::execute(plan, aws, ids, concurrency, &on_event).await
}

fn infinitive(step: Step) -> &'static str {
    match step {
        Step::Create => "create",
        Step::Update => "update",
        Step::Delete => "delete",
    }
}

fn verb(step: Step, done: bool) -> &'static str {
    match (step, done) {
        (Step::Create, false) => "creating",
        (Step::Create, true) => "created",
        (Step::Update, false) => "updating",
        (Step::Update, true) => "updated",
        (Step::Delete, false) => "deleting",
        (Step::Delete, true) => "deleted",
    }
}

fn finish(
    plan: &Plan,
    aws: &Aws,
    report: &ApplyReport,
    outputs: &BTreeMap<String, String>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    if output == Output::Json {
        let mut plan = plan.clone();
        plan.outputs = outputs.clone();
        print_json(&plan, aws, Some(report));
    } else {
        if !outputs.is_empty() {
            println!("\nOutputs:");
            for (name, value) in outputs {
                println!("  {name} = {value}");
            }
        }
        let done = report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Done { .. }))
            .count();
        let failed = report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Failed { .. }))
            .count();
        let skipped = report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Skipped { .. }))
            .count();
        println!(
            "\nDone: {done} step{} succeeded, {failed} failed, {skipped} skipped ({} AWS requests, {} of them retries).",
            if done == 1 { "" } else { "s" },
            aws.calls.total(),
            aws.calls.retries()
        );
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

//! `qcatctl`: the command line of QCAT Console, driving the same `qcat-api` as the desktop
//! window. Output is for people by default and JSON with `--json`; failures exit with the
//! error code's sysexits-style number and print `error[code]: message`.

mod access;
mod agent;
mod alert;
mod backup;
mod baseline;
mod monitor;
mod output;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qcat_api::config::{ConfigCheck, ConfigSources, UserFile};
use qcat_api::dto::{ConfigProblem, ConfigView};
use qcat_api::secrets::{KeyOptions, Secret};
use qcat_api::{Api, ApiConfig, ApiError, ErrorCode, Mode, SessionSlot, secrets};

use output::{CliError, note, out};

#[derive(Debug, Parser)]
#[command(name = "qcatctl", version, about = "QCAT Console command line", long_about = None)]
struct Cli {
    /// The console user to act as (commands that read or change the console's users, roles,
    /// audit trail or secrets). Password from QCAT_PASSWORD, a prompt, or standard input.
    #[arg(long, env = "QCAT_USER")]
    user: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the data dir, the storage backend, its health and schema version.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the layered configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Encrypt config values and manage named secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Manage the master key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Console users.
    #[command(subcommand)]
    User(access::UserCommand),
    /// Roles and their grants.
    #[command(subcommand)]
    Role(access::RoleCommand),
    /// Explain who may do what.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// The audit trail: query, export, verify.
    #[command(subcommand)]
    Audit(access::AuditCommand),
    /// The store itself.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run headless on a server: heartbeat, singleton duties (the scheduler), audit
    /// maintenance and the metrics endpoint, until SIGTERM or SIGINT. Logs like the
    /// console (JSON, rotated, in logging.log_dir).
    Agent,
    /// Schedules and their runs.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Jobs of every console and agent on the store.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Alert routing with Alertmanager's semantics: test an alertmanager.yml with labels,
    /// simulate alerts through routing and inhibition.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// Learned baselines: the deviations a series' history raises.
    #[command(subcommand)]
    Baseline(baseline::BaselineCommand),
    /// Monitoring targets (connection profiles): add, list, test, remove.
    #[command(subcommand)]
    Target(monitor::TargetCommand),
    /// The metric store and Prometheus scrapes.
    #[command(subcommand)]
    Monitor(monitor::MonitorCommand),
    /// Serve a simulated QCAT trading application's /metrics (for demos and tests).
    Simulate(monitor::SimulateArgs),
    /// Backups: run, list, show, verify, restore, expire.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// The configured schedules with their last and next runs.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// The newest jobs, newest first.
    List {
        #[arg(long)]
        json: bool,
        /// How many (1 to 100, newest first).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=100))]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Start anew on purpose when the store this data dir used is gone, emptied or
    /// replaced: forgets it, moves a leftover SQLite file aside, creates a fresh store and
    /// records in its audit trail what was lost. Nothing else ever re-initialises a store.
    Init {
        /// Required: say that a new, empty store is what you want.
        #[arg(long)]
        new: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Read a plaintext from standard input and print an `ENC:v1:` value bound to `--key`.
    Encrypt {
        /// The config key the value is for, e.g. `database.password`.
        #[arg(long)]
        key: String,
    },
    /// Read a value from standard input and store it as the named secret NAME (referenced
    /// in config as `secret:NAME`). Replaces any earlier value; never prints it.
    Set { name: String },
    /// List the names of the named secrets (never their values).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a new master key in a 0600 file, for servers without a keychain; refuses to
    /// overwrite. Point QCAT_MASTER_KEY_FILE at it.
    Init {
        #[arg(long = "to-file", value_name = "PATH")]
        to_file: std::path::PathBuf,
    },
    /// Make a new master key current and re-encrypt every ENC: value of the user's config
    /// file (the old file is kept as <file>.bak) and the named-secret file.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// The effective configuration: per key its value (secrets masked), the layer it came
    /// from and the values it shadowed.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Only keys of this section (e.g. `logging`).
        #[arg(long)]
        section: Option<String>,
    },
    /// Check the configuration and list every problem; exits 1 when there is one.
    Check {
        /// A config file to check in place of the user's config file.
        file: Option<std::path::PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // No panic reaches a user as a Rust backtrace: it is a bug, said plainly, exit 70.
    std::panic::set_hook(Box::new(|info| {
        output::eline(format_args!(
            "error[internal]: qcatctl stopped on a bug ({info}); please report it with the command you ran"
        ));
    }));
    let cli = Cli::parse();
    // The agent logs like the console (qcat-logging, set up in `agent::run`); one-shot
    // commands log warnings to stderr.
    if !matches!(cli.command, Command::Agent) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("QCAT_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=off")),
            )
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            note!("error[internal]: cannot start the async runtime: {err}");
            return ExitCode::from(70);
        }
    };
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(run(cli))));
    match result {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            err.report();
            ExitCode::from(err.exit_code())
        }
        Err(_) => ExitCode::from(70),
    }
}

/// Runs a command; `Ok` carries the exit code for commands whose contract is 0/1
/// (`config check`), errors exit with their code's number.
async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Agent => agent::run().await,
        Command::Status { json } => {
            let api = Api::open_bounded(ApiConfig::from_environment(Mode::OneShot)?).await?;
            let result = status(&api, json).await;
            api.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Show { json, section }) => {
            config_show(&ConfigSources::from_process(), json, section.as_deref())
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Secret(SecretCommand::Encrypt { key }) => {
            let keys = secrets::load_keys(&KeyOptions::from_process())?;
            let plaintext = read_stdin_secret()?;
            out!("{}", secrets::encrypt_for_key(&keys, &key, &plaintext)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCommand::Init { to_file }) => {
            let id = secrets::init_key(&to_file)?;
            out!("created master key {id} in {}", to_file.display());
            out!(
                "use it with: export QCAT_MASTER_KEY_FILE={}",
                to_file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { file, json }) => {
            let mut sources = ConfigSources::from_process();
            if let Some(path) = file {
                sources.user_file = Some(UserFile {
                    path,
                    required: true,
                });
            }
            config_check(&sources, json)
        }
        Command::Store(StoreCommand::Init { new }) => {
            if !new {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    "store init: add --new to confirm that a new, empty store is what you want (users, roles and the audit trail start empty)",
                )
                .into());
            }
            let report = Api::init_new_store(ApiConfig::from_environment(Mode::OneShot)?).await?;
            out!("{}", report.summary);
            Ok(ExitCode::SUCCESS)
        }
        Command::Monitor(monitor::MonitorCommand::Scrape {
            source,
            json,
            quantiles,
        }) => monitor::scrape(&source, json, quantiles)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Simulate(args) => monitor::simulate(args).await.map(|()| ExitCode::SUCCESS),
        Command::Alert(command) if command.is_offline() => {
            alert::command(command).map(|()| ExitCode::SUCCESS)
        }
        command => as_console_user(cli.user.as_deref(), command).await,
    }
}

/// Standard input without its trailing newline (`echo s3cret |` as well as `echo -n`).
fn read_stdin_secret() -> Result<Secret<String>, CliError> {
    let mut text = String::new();
    let limit = access::MAX_STDIN_BYTES;
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::io::stdin(), limit + 1),
        &mut text,
    )
    .map_err(|err| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("cannot read standard input: {err}"),
        )
    })?;
    if text.len() as u64 > limit {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("standard input is longer than {limit} bytes: a secret is shorter than that"),
        )
        .into());
    }
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(Secret::new(trimmed.to_owned()))
}

/// Commands that act as a console user: sign in, run, sign out, close (writing queued
/// audit entries). The whole command is bounded by `database.command_timeout_secs`, so a
/// frozen server ends it with a message instead of a hang.
async fn as_console_user(user: Option<&str>, command: Command) -> Result<ExitCode, CliError> {
    let api = Api::open_bounded(ApiConfig::from_environment(Mode::OneShot)?).await?;
    let slot = SessionSlot::cli();
    let result = match api
        .within_command_timeout(run_as_user(&api, &slot, user, command))
        .await
    {
        Ok(result) => result,
        Err(err) => Err(err.into()),
    };
    if api.current_session(&slot).ok().flatten().is_some() {
        let _ = api.within_command_timeout(api.logout(&slot)).await;
    }
    api.close().await;
    result
}

async fn run_as_user(
    api: &Api,
    slot: &SessionSlot,
    user: Option<&str>,
    command: Command,
) -> Result<ExitCode, CliError> {
    if let Command::User(command) = command {
        access::user_command(api, slot, user, command).await?;
        return Ok(ExitCode::SUCCESS);
    }
    access::sign_in(api, slot, user).await?;
    match command {
        Command::Role(command) => access::role_command(api, slot, command).await?,
        Command::Access(command) => access::access_command(api, slot, command).await?,
        Command::Audit(command) => {
            if !access::audit_command(api, slot, command).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Secret(SecretCommand::Set { name }) => {
            let value = read_stdin_secret()?;
            api.set_named_secret(
                slot,
                secrets::NamedSecretInput {
                    name: name.clone(),
                    value: secrets::SecretText(value),
                },
            )
            .await?;
            let keys = api.app_info().master_key.source.unwrap_or_default();
            note!("stored secret {name:?} in {keys}");
        }
        Command::Secret(SecretCommand::List { json }) => {
            let names = api.named_secrets(slot).await?;
            if json {
                output::json(&names)?;
            } else {
                for name in names {
                    out!("{name}");
                }
            }
        }
        Command::Schedule(ScheduleCommand::List { json }) => {
            let schedules = api.schedules_list(slot).await?;
            if json {
                output::json(&schedules)?;
            } else {
                out!(
                    "{:20} {:18} {:16} {:9} {:20} {:7} next",
                    "name",
                    "spec",
                    "zone",
                    "missed",
                    "last run",
                    "result"
                );
                for schedule in schedules {
                    out!(
                        "{:20} {:18} {:16} {:9} {:20} {:7} {}",
                        schedule.name,
                        schedule.spec,
                        schedule.time_zone,
                        schedule.missed,
                        access::ms_text(schedule.last_started_ms),
                        schedule.last_result.as_deref().unwrap_or("-"),
                        access::ms_text(schedule.next_ms)
                    );
                    if let Some(error) = schedule.last_error {
                        out!("{:20} last error: {error}", "");
                    }
                }
            }
        }
        Command::Jobs(JobsCommand::List { json, limit }) => {
            let jobs = api.jobs_recent(slot).await?;
            let jobs: Vec<_> = jobs.into_iter().take(limit as usize).collect();
            if json {
                output::json(&jobs)?;
            } else {
                for job in jobs {
                    out!(
                        "{} {:18} {:11} {:12} {} {}{} {}{}",
                        job.id,
                        job.kind,
                        serde_plain(&job.state),
                        job.actor,
                        access::ms_text(Some(job.started_ms)),
                        job.done,
                        job.total
                            .map(|total| format!("/{total}"))
                            .unwrap_or_default(),
                        job.unit,
                        job.error
                            .map(|error| format!(" — {error}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        Command::Target(command) => monitor::target_command(api, slot, command).await?,
        Command::Baseline(command) => baseline::command(api, slot, command).await?,
        Command::Alert(command) => alert::run(api, slot, command).await?,
        Command::Backup(command) => backup::run(api, slot, command).await?,
        Command::Monitor(monitor::MonitorCommand::Import {
            series,
            format,
            file,
            from_prometheus,
            query,
            since,
            step,
            json,
        }) => match (from_prometheus, file) {
            (Some(url), _) => {
                monitor::import_prometheus(
                    api,
                    slot,
                    series,
                    url,
                    query.unwrap_or_default(),
                    &since,
                    &step,
                    json,
                )
                .await?
            }
            (None, Some(file)) => monitor::import(api, slot, series, format, &file, json).await?,
            (None, None) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    "monitor import: give a FILE (or -), or --from-prometheus URL --query Q",
                )
                .into());
            }
        },
        Command::Monitor(monitor::MonitorCommand::Query {
            series,
            since,
            step,
            function,
            json,
        }) => monitor::query(api, slot, series, &since, step.as_deref(), function, json).await?,
        Command::Key(KeyCommand::Rotate) => {
            let report = api.rotate_master_key(slot).await?;
            out!(
                "master key rotated: {} -> {} ({} config values and {} named secrets re-encrypted)",
                report.old_key,
                report.new_key,
                report.config_values,
                report.named_secrets
            );
            if let Some(backup) = report.backup {
                out!("the previous config file is kept as {}", backup.display());
            }
        }
        other => {
            return Err(
                ApiError::internal(&format!("{other:?} does not act as a console user")).into(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn config_show(sources: &ConfigSources, json: bool, section: Option<&str>) -> Result<(), CliError> {
    let mut view: ConfigView = match qcat_api::config::effective_config(sources) {
        Ok(view) => view,
        Err(check) => {
            print_problems(&check);
            return Err(invalid_config(&check).into());
        }
    };
    if let Some(section) = section {
        view.settings.retain(|setting| setting.section == section);
        if view.settings.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!(
                    "--section {section}: no such section; see `qcatctl config show` for the sections"
                ),
            )
            .into());
        }
    }
    if json {
        return output::json(&view);
    }
    let width = view
        .settings
        .iter()
        .map(|setting| setting.key.len())
        .max()
        .unwrap_or(0);
    for setting in &view.settings {
        out!(
            "{:width$}  {:30}  {}",
            setting.key,
            setting.value,
            setting.origin.description
        );
        for shadowed in &setting.shadowed {
            out!(
                "{:width$}    shadows {} from {}",
                "",
                shadowed.value,
                shadowed.origin.description
            );
        }
    }
    for warning in &view.warnings {
        note!("warning: {}", describe_problem(warning));
    }
    Ok(())
}

/// Exits 0 when the configuration is valid and 1 when it is not, like a linter.
fn config_check(sources: &ConfigSources, json: bool) -> Result<ExitCode, CliError> {
    let keys = secrets::load_keys(&KeyOptions::from_process());
    let check = qcat_api::config::check_config_and_secrets(sources, keys.as_ref());
    if json {
        output::json(&check)?;
    } else {
        print_problems(&check);
        if check.ok {
            out!(
                "configuration ok{}",
                if check.warnings.is_empty() {
                    ""
                } else {
                    " (with warnings)"
                }
            );
        }
    }
    Ok(if check.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_problems(check: &ConfigCheck) {
    for problem in &check.problems {
        note!("problem: {}", describe_problem(problem));
    }
    for warning in &check.warnings {
        note!("warning: {}", describe_problem(warning));
    }
}

fn describe_problem(problem: &ConfigProblem) -> String {
    match &problem.origin {
        Some(origin) => format!(
            "{}: {} (from {}); fix: {}",
            problem.key, problem.problem, origin.description, problem.fix
        ),
        None => format!("{}: {}; fix: {}", problem.key, problem.problem, problem.fix),
    }
}

fn invalid_config(check: &ConfigCheck) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidConfig,
        format!(
            "the configuration has {} problem{}",
            check.problems.len(),
            if check.problems.len() == 1 { "" } else { "s" }
        ),
    )
}

async fn status(api: &Api, json: bool) -> Result<(), CliError> {
    let info = api.app_info();
    let storage = api.storage_status().await;
    let runtime = api.runtime_status_unguarded().await;
    if json {
        output::json(&serde_json::json!({ "app": info, "storage": storage, "runtime": runtime }))?;
    } else {
        out!("version         {}", info.version);
        out!(
            "data dir        {} (from {})",
            info.data_dir,
            serde_plain(&info.data_dir_source)
        );
        out!("environment     {}", serde_plain(&info.environment));
        out!("storage         {}", serde_plain(&storage.backend));
        out!("location        {}", storage.location);
        out!("health          {}", serde_plain(&storage.health));
        match (storage.schema_version, storage.known_schema_version) {
            (Some(applied), Some(known)) => {
                out!("schema version  {applied} (this build knows {known})")
            }
            _ => out!("schema version  unknown"),
        }
        if let Some(error) = &storage.error {
            out!("problem         {} [{}]", error.message, error.code);
        }
        for duty in &runtime.duties {
            out!(
                "duty {:10} {}",
                duty.duty,
                match &duty.holder_label {
                    Some(label) => format!("led by {label} (term {})", duty.token),
                    None => "nobody leads (no console or agent running)".to_owned(),
                }
            );
        }
        for member in runtime.members.iter().filter(|member| !member.this_process) {
            out!(
                "member {} {} on {} pid {} (version {}, beat {})",
                member.id,
                member.mode,
                member.host,
                member.pid,
                member.version,
                access::ms_text(Some(member.heartbeat_ms))
            );
            for task in &member.tasks {
                out!(
                    "  task {:28} {:10} restarts {}{}",
                    task.name,
                    task.state,
                    task.restarts,
                    task.last_error
                        .as_ref()
                        .map(|error| format!(", last error: {error}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    match storage.error {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// The wire spelling of a unit enum (`"sqlite"`), for text output.
fn serde_plain(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

//! `qcatctl`: the command line of QCAT Console, driving the same `qcat-api` as the desktop
//! window. Output is for people by default and JSON with `--json`; failures exit with the
//! error code's sysexits-style number and print `error[code]: message`.

mod access;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qcat_api::config::ConfigCheck;
use qcat_api::dto::{ConfigProblem, ConfigView};
use qcat_api::{Api, ApiConfig, ApiError, SessionSlot, secrets};
use qcat_core::ErrorCode;
use qcat_core::config::{ConfigSources, UserFile};
use qcat_core::secret::Secret;
use qcat_secrets::keys::KeyOptions;

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
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QCAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error[{}]: {}", err.code, err.message);
            ExitCode::from(u8::try_from(err.code.exit_code()).unwrap_or(1))
        }
    }
}

/// Runs a command; `Ok` carries the exit code for commands whose contract is 0/1
/// (`config check`), errors exit with their code's number.
async fn run(cli: Cli) -> Result<ExitCode, ApiError> {
    match cli.command {
        Command::Status { json } => {
            let api = Api::open(ApiConfig::from_environment()?).await?;
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
            println!("{}", secrets::encrypt_for_key(&keys, &key, &plaintext)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCommand::Init { to_file }) => {
            let id = secrets::init_key(&to_file)?;
            println!("created master key {id} in {}", to_file.display());
            println!(
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
        command => as_console_user(cli.user.as_deref(), command).await,
    }
}

/// Standard input without its trailing newline (`echo s3cret |` as well as `echo -n`).
fn read_stdin_secret() -> Result<Secret<String>, ApiError> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|err| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("cannot read standard input: {err}"),
        )
    })?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(Secret::new(trimmed.to_owned()))
}

/// Commands that act as a console user: sign in, run, sign out, close (writing queued
/// audit entries).
async fn as_console_user(user: Option<&str>, command: Command) -> Result<ExitCode, ApiError> {
    let api = Api::open(ApiConfig::from_environment()?).await?;
    let slot = SessionSlot::cli();
    let result = run_as_user(&api, &slot, user, command).await;
    if api.current_session(&slot).ok().flatten().is_some() {
        let _ = api.logout(&slot).await;
    }
    api.close().await;
    result
}

async fn run_as_user(
    api: &Api,
    slot: &SessionSlot,
    user: Option<&str>,
    command: Command,
) -> Result<ExitCode, ApiError> {
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
            eprintln!("stored secret {name:?} in {keys}");
        }
        Command::Secret(SecretCommand::List { json }) => {
            let names = api.named_secrets(slot).await?;
            if json {
                print_json(&names)?;
            } else {
                for name in names {
                    println!("{name}");
                }
            }
        }
        Command::Key(KeyCommand::Rotate) => {
            let report = api.rotate_master_key(slot).await?;
            println!(
                "master key rotated: {} -> {} ({} config values and {} named secrets re-encrypted)",
                report.old_key, report.new_key, report.config_values, report.named_secrets
            );
            if let Some(backup) = report.backup {
                println!("the previous config file is kept as {}", backup.display());
            }
        }
        other => {
            return Err(ApiError::internal(&format!(
                "{other:?} does not act as a console user"
            )));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), ApiError> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|err| ApiError::internal(&err))?
    );
    Ok(())
}

fn config_show(sources: &ConfigSources, json: bool, section: Option<&str>) -> Result<(), ApiError> {
    let mut view: ConfigView = match qcat_api::config::effective_config(sources) {
        Ok(view) => view,
        Err(check) => {
            print_problems(&check);
            return Err(invalid_config(&check));
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
            ));
        }
    }
    if json {
        return print_json(&view);
    }
    let width = view
        .settings
        .iter()
        .map(|setting| setting.key.len())
        .max()
        .unwrap_or(0);
    for setting in &view.settings {
        println!(
            "{:width$}  {:30}  {}",
            setting.key, setting.value, setting.origin.description
        );
        for shadowed in &setting.shadowed {
            println!(
                "{:width$}    shadows {} from {}",
                "", shadowed.value, shadowed.origin.description
            );
        }
    }
    for warning in &view.warnings {
        eprintln!("warning: {}", describe_problem(warning));
    }
    Ok(())
}

/// Exits 0 when the configuration is valid and 1 when it is not, like a linter.
fn config_check(sources: &ConfigSources, json: bool) -> Result<ExitCode, ApiError> {
    let keys = secrets::load_keys(&KeyOptions::from_process());
    let check = qcat_api::config::check_config_and_secrets(sources, keys.as_ref());
    if json {
        print_json(&check)?;
    } else {
        print_problems(&check);
        if check.ok {
            println!(
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
        eprintln!("problem: {}", describe_problem(problem));
    }
    for warning in &check.warnings {
        eprintln!("warning: {}", describe_problem(warning));
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

async fn status(api: &Api, json: bool) -> Result<(), ApiError> {
    let info = api.app_info();
    let storage = api.storage_status().await;
    if json {
        print_json(&serde_json::json!({ "app": info, "storage": storage }))?;
    } else {
        println!("version         {}", info.version);
        println!(
            "data dir        {} (from {})",
            info.data_dir,
            serde_plain(&info.data_dir_source)
        );
        println!("environment     {}", serde_plain(&info.environment));
        println!("storage         {}", serde_plain(&storage.backend));
        println!("location        {}", storage.location);
        println!("health          {}", serde_plain(&storage.health));
        match (storage.schema_version, storage.known_schema_version) {
            (Some(applied), Some(known)) => {
                println!("schema version  {applied} (this build knows {known})")
            }
            _ => println!("schema version  unknown"),
        }
        if let Some(error) = &storage.error {
            println!("problem         {} [{}]", error.message, error.code);
        }
    }
    match storage.error {
        Some(error) => Err(error),
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

//! `qcatctl`: the command line of QCAT Console, driving the same `qcat-api` as the desktop
//! window. Output is for people by default and JSON with `--json`; failures exit with the
//! error code's sysexits-style number and print `error[code]: message`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qcat_api::{Api, ApiConfig, ApiError};

#[derive(Debug, Parser)]
#[command(name = "qcatctl", version, about = "QCAT Console command line", long_about = None)]
struct Cli {
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
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error[{}]: {}", err.code, err.message);
            ExitCode::from(u8::try_from(err.code.exit_code()).unwrap_or(1))
        }
    }
}

async fn run(cli: Cli) -> Result<(), ApiError> {
    let api = Api::open(ApiConfig::from_environment()?).await?;
    let result = match cli.command {
        Command::Status { json } => status(&api, json).await,
    };
    api.close().await;
    result
}

async fn status(api: &Api, json: bool) -> Result<(), ApiError> {
    let info = api.app_info();
    let storage = api.storage_status().await;
    if json {
        let value = serde_json::json!({ "app": info, "storage": storage });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|err| ApiError::internal(&err))?
        );
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

//! `qcatctl alert …`: routing with Alertmanager's semantics, on an `alertmanager.yml`.
//! `routes test` prints the matched receivers as `amtool config routes test` does (in tree
//! order, comma-separated), or with `--json` each with its grouping and timers; `simulate`
//! routes a file of alerts and says which the others inhibit.

use clap::Subcommand;
use qcat_api::{ApiError, ErrorCode};

use crate::output::{self, CliError, out};

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Routing: test which receivers alerts reach.
    #[command(subcommand)]
    Routes(RoutesCommand),
    /// Routes each alert of a JSON file (Alertmanager's alert shape) and applies the
    /// inhibition rules among them.
    Simulate {
        /// An alertmanager.yml.
        #[arg(long)]
        config: std::path::PathBuf,
        /// A JSON list of alerts: [{"labels": {...}}, …].
        alerts: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// The receivers an alert with these labels reaches, in the routing tree's order.
    Test {
        /// An alertmanager.yml.
        #[arg(long)]
        config: std::path::PathBuf,
        #[arg(long)]
        json: bool,
        /// name=value …
        labels: Vec<String>,
    },
}

fn read(path: &std::path::Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|err| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("{what} {}: cannot read it ({err})", path.display()),
        )
        .into()
    })
}

pub fn command(command: AlertCommand) -> Result<(), CliError> {
    match command {
        AlertCommand::Routes(RoutesCommand::Test {
            config,
            json,
            labels,
        }) => {
            let text = read(&config, "--config")?;
            let labels = qcat_api::alert::parse_labels(&labels)?;
            let routes = qcat_api::alert::routes_test(&text, &labels)?;
            if json {
                return output::json(&routes);
            }
            let receivers: Vec<&str> = routes.iter().map(|r| r.receiver.as_str()).collect();
            out!("{}", receivers.join(","));
        }
        AlertCommand::Simulate {
            config,
            alerts,
            json,
        } => {
            let text = read(&config, "--config")?;
            let alerts = read(&alerts, "the alerts file")?;
            let simulated = qcat_api::alert::simulate(&text, &alerts)?;
            if json {
                return output::json(&simulated);
            }
            for alert in &simulated {
                let labels: Vec<String> = alert
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect();
                out!(
                    "{{{}}} -> {}{}",
                    labels.join(", "),
                    alert.receivers.join(","),
                    if alert.inhibited { " (inhibited)" } else { "" }
                );
            }
        }
    }
    Ok(())
}

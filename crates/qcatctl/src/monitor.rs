//! Monitoring from the command line: targets (`target add|list|test|remove`, audited like
//! the window), series (`monitor query`), one scrape read and explained (`monitor scrape`,
//! no store needed), and the simulated trading application (`simulate`).

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use qcat_api::monitor::{QueryInput, TargetInput, TargetNameInput};
use qcat_api::secrets::SecretText;
use qcat_api::{Api, ApiError, ErrorCode, SessionSlot};

use crate::output::{self, CliError, note, out};

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Adds (or, with an existing name, changes) a monitoring target.
    Add {
        name: String,
        /// host, postgres, redis, prometheus or prometheus-server.
        #[arg(long)]
        kind: String,
        /// `local` for a host; postgres://USER@HOST:PORT/DB, redis://HOST:PORT/DB or an
        /// http(s) URL. Never with a password in it.
        #[arg(long, default_value = "")]
        url: String,
        /// development, staging or production.
        #[arg(long, default_value = "development")]
        environment: String,
        /// 1s to 5m.
        #[arg(long, default_value = "5s")]
        interval: String,
        /// At most the interval (default: the interval, at most 10s).
        #[arg(long)]
        timeout: Option<String>,
        /// The password as a named secret (`qcatctl secret set NAME` first).
        #[arg(long, conflicts_with = "password_stdin")]
        password_secret: Option<String>,
        /// Read the password from standard input (it is stored encrypted).
        #[arg(long)]
        password_stdin: bool,
        /// prometheus-server targets: NAME=PROMQL, once per series.
        #[arg(long = "query")]
        queries: Vec<String>,
    },
    /// Every target with its health.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Tests a target's connection step by step.
    Test {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Removes a target.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// A series over a range from the metric store.
    Query {
        /// `name` or `name{label="value",…}`.
        series: String,
        /// How far back (e.g. 15m, 1h, 7d).
        #[arg(long, default_value = "1h")]
        since: String,
        /// The width of one point (default: the range in about 120 points).
        #[arg(long)]
        step: Option<String>,
        /// value, rate, or a quantile such as 0.99 (of NAME_bucket histogram series).
        #[arg(long, default_value = "value")]
        function: String,
        #[arg(long)]
        json: bool,
    },
    /// Imports history into one series, before its own samples (a baseline then learns
    /// from it at once): CSV rows `timestamp,value`, timestamps RFC 3339 or
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    Import {
        /// `name` or `name{label="value",…}` (with --from-prometheus: a name; the result
        /// series keep their labels).
        #[arg(long)]
        series: String,
        #[arg(long, default_value = "csv")]
        format: String,
        /// The file, or - for standard input.
        #[arg(required_unless_present = "from_prometheus")]
        file: Option<String>,
        /// A Prometheus server to read the history of --query from instead.
        #[arg(long, requires = "query")]
        from_prometheus: Option<String>,
        /// PromQL for --from-prometheus.
        #[arg(long)]
        query: Option<String>,
        /// How far back --from-prometheus reads (e.g. 30d).
        #[arg(long, default_value = "30d")]
        since: String,
        /// The resolution asked of Prometheus.
        #[arg(long, default_value = "1m")]
        step: String,
        #[arg(long)]
        json: bool,
    },
    /// Reads one scrape (an http(s) URL, a file, or - for standard input) and prints its
    /// families and each histogram's quantiles.
    Scrape {
        source: String,
        #[arg(long)]
        json: bool,
        /// A quantile to compute for each histogram (repeatable; default 0.5, 0.95, 0.99).
        #[arg(long = "quantile")]
        quantiles: Vec<f64>,
    },
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Where to serve /metrics.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: std::net::SocketAddr,
    /// Simulated time runs this many times faster (1440: a trading day per minute).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Requests per second at the busiest moment of the day.
    #[arg(long, default_value_t = 200.0)]
    pub peak_rate: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Every latency × this (1.2: a release 20 % slower).
    #[arg(long, default_value_t = 1.0)]
    pub latency_factor: f64,
    #[command(subcommand)]
    pub action: Option<SimulateAction>,
}

#[derive(Debug, Subcommand)]
pub enum SimulateAction {
    /// Starts an incident in a running simulator.
    Incident {
        /// latency (a step ×8), errors (a 15 % burst) or outage (/metrics answers 503).
        kind: String,
        #[arg(long = "for", default_value = "2m")]
        duration: String,
        /// The running simulator.
        #[arg(long, default_value = "http://127.0.0.1:9464")]
        url: String,
    },
    /// Simulates a release: every request slower (or faster) by a factor from now on.
    Release {
        /// 1.2: every latency 20 % higher; 1.0: as before.
        #[arg(long)]
        latency_factor: f64,
        /// Only this endpoint (e.g. /order/submit).
        #[arg(long)]
        endpoint: Option<String>,
        /// The running simulator.
        #[arg(long, default_value = "http://127.0.0.1:9464")]
        url: String,
    },
}

fn duration(flag: &str, text: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(text).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("{flag} {text:?}: write a duration such as 5s, 1m or 2h"),
        )
        .into()
    })
}

pub async fn target_command(
    api: &Api,
    slot: &SessionSlot,
    command: TargetCommand,
) -> Result<(), CliError> {
    match command {
        TargetCommand::Add {
            name,
            kind,
            url,
            environment,
            interval,
            timeout,
            password_secret,
            password_stdin,
            queries,
        } => {
            let interval = duration("--interval", &interval)?;
            let timeout = timeout
                .map(|text| duration("--timeout", &text))
                .transpose()?;
            let password = if password_stdin {
                Some(SecretText(crate::read_stdin_secret()?))
            } else {
                password_secret.map(|name| {
                    SecretText(qcat_api::secrets::Secret::new(format!("secret:{name}")))
                })
            };
            let mut named = BTreeMap::new();
            for query in queries {
                let Some((series, expression)) = query.split_once('=') else {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInput,
                        format!("--query {query:?}: write NAME=PROMQL, e.g. api_p99=histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"),
                    )
                    .into());
                };
                named.insert(series.trim().to_owned(), expression.trim().to_owned());
            }
            let saved = api
                .monitor_target_save(
                    slot,
                    TargetInput {
                        name,
                        kind,
                        url,
                        password,
                        environment: Some(environment),
                        interval_ms: interval.as_millis() as i64,
                        timeout_ms: timeout.map(|t| t.as_millis() as i64),
                        queries: named,
                        seen_version: None,
                    },
                )
                .await?;
            note!(
                "saved {} target {} ({}, every {}, version {})",
                saved.kind,
                saved.name,
                saved.environment,
                humantime::format_duration(Duration::from_millis(saved.interval_ms as u64)),
                saved.version
            );
        }
        TargetCommand::List { json } => {
            let targets = api.monitor_targets(slot).await?;
            if json {
                output::json(&targets)?;
            } else {
                out!(
                    "{:20} {:18} {:12} {:>8} {:8} url",
                    "name",
                    "kind",
                    "environment",
                    "interval",
                    "state"
                );
                for target in targets {
                    let state = match &target.health {
                        None => "unknown".to_owned(),
                        Some(health) if health.up => "up".to_owned(),
                        Some(health) => {
                            format!("down ({})", health.error_kind.as_deref().unwrap_or("error"))
                        }
                    };
                    out!(
                        "{:20} {:18} {:12} {:>8} {:8} {}",
                        target.name,
                        target.kind,
                        target.environment,
                        humantime::format_duration(Duration::from_millis(
                            target.interval_ms as u64
                        ))
                        .to_string(),
                        state,
                        target.url
                    );
                    if let Some(error) = target
                        .health
                        .as_ref()
                        .and_then(|health| health.error.clone())
                    {
                        out!("    {error}");
                    }
                }
            }
        }
        TargetCommand::Test { name, json } => {
            let report = api.monitor_target_test_stored(slot, &name).await?;
            if json {
                output::json(&report)?;
            } else {
                for step in &report.steps {
                    out!(
                        "{} {:8} {:>5} ms  {}",
                        if step.ok { "ok  " } else { "FAIL" },
                        step.step,
                        step.millis,
                        step.detail
                    );
                }
                out!("{}", report.message);
            }
            if !report.ok {
                return Err(ApiError::new(
                    ErrorCode::StorageUnavailable,
                    format!(
                        "target {name}: {} ({})",
                        report.message,
                        report.failure.unwrap_or_default()
                    ),
                )
                .into());
            }
        }
        TargetCommand::Remove { name } => {
            api.monitor_target_remove(slot, TargetNameInput { name: name.clone() })
                .await?;
            note!("removed target {name}");
        }
    }
    Ok(())
}

/// `monitor import --from-prometheus`.
#[allow(clippy::too_many_arguments)]
pub async fn import_prometheus(
    api: &Api,
    slot: &SessionSlot,
    series: String,
    url: String,
    query: String,
    since: &str,
    step: &str,
    json: bool,
) -> Result<(), CliError> {
    let since = duration("--since", since)?;
    let step = duration("--step", step)?;
    let views = api
        .monitor_import_prometheus(
            slot,
            qcat_api::monitor::PrometheusImportInput {
                url,
                query,
                series,
                since_ms: since.as_millis() as i64,
                step_ms: step.as_millis() as i64,
            },
        )
        .await?;
    if json {
        output::json(&views)?;
    } else {
        for view in &views {
            print_imported(view)?;
        }
    }
    Ok(())
}

pub async fn import(
    api: &Api,
    slot: &SessionSlot,
    series: String,
    format: String,
    file: &str,
    json: bool,
) -> Result<(), CliError> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|err| {
            ApiError::new(ErrorCode::InvalidInput, format!("standard input: {err}"))
        })?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|err| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("{file}: {err}; give a readable CSV file, or - for standard input"),
            )
        })?
    };
    let view = api
        .monitor_import(
            slot,
            qcat_api::monitor::ImportInput {
                series,
                format,
                text,
                source: file.to_owned(),
            },
        )
        .await?;
    if json {
        output::json(&view)?;
    } else {
        print_imported(&view)?;
    }
    Ok(())
}

fn print_imported(view: &qcat_api::monitor::ImportView) -> Result<(), CliError> {
    out!(
        "imported {} points into {} ({} .. {})",
        view.points,
        view.series,
        at(view.from_ms),
        at(view.to_ms)
    );
    Ok(())
}

fn at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

pub async fn query(
    api: &Api,
    slot: &SessionSlot,
    series: String,
    since: &str,
    step: Option<&str>,
    function: String,
    json: bool,
) -> Result<(), CliError> {
    let since = duration("--since", since)?;
    let now = qcat_api::monitor::now_ms();
    let from = now - since.as_millis() as i64;
    let max_points = match step {
        Some(step) => {
            let step = duration("--step", step)?.as_millis().max(1) as i64;
            ((now - from) / step + 1).clamp(2, 100_000) as u32
        }
        None => 120,
    };
    let found = api
        .monitor_query(
            slot,
            QueryInput {
                series,
                from_ms: from,
                to_ms: now,
                max_points,
                function: Some(function),
            },
        )
        .await?;
    if json {
        return output::json(&found);
    }
    if found.is_empty() {
        note!(
            "no series matches (see `qcatctl target list`; a new target's first samples are written within monitoring.flush_interval)"
        );
    }
    for series in found {
        out!(
            "{} (tier {}, step {} s)",
            series.key,
            series.tier,
            series.step_ms / 1000
        );
        for (index, t) in series.t.iter().enumerate() {
            out!(
                "  {}  {}",
                crate::access::ms_text(Some(*t)),
                series.avg[index]
            );
        }
    }
    Ok(())
}

pub async fn scrape(source: &str, json: bool, quantiles: Vec<f64>) -> Result<(), CliError> {
    let quantiles = if quantiles.is_empty() {
        vec![0.5, 0.95, 0.99]
    } else {
        quantiles
    };
    if json {
        let value = qcat_api::monitor::scrape(source, &quantiles).await?;
        return output::json(&value);
    }
    let families = qcat_api::monitor::scrape_families(source).await?;
    for family in &families {
        out!(
            "{} ({}, {} samples)",
            family.name,
            family.kind.as_str(),
            family.samples.len()
        );
    }
    for histogram in qcat_api::monitor::histograms(&families) {
        let labels: Vec<String> = histogram
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let values: Vec<String> = quantiles
            .iter()
            .map(|q| format!("p{}={}", q * 100.0, histogram.quantile(*q)))
            .collect();
        out!(
            "{}{{{}}} {}",
            histogram.family,
            labels.join(","),
            values.join(" ")
        );
    }
    Ok(())
}

pub async fn simulate(args: SimulateArgs) -> Result<(), CliError> {
    match args.action {
        Some(SimulateAction::Incident {
            kind,
            duration: length,
            url,
        }) => {
            duration("--for", &length)?;
            let message = qcat_api::simulate::start_incident(&url, &kind, &length).await?;
            note!("{message}");
            return Ok(());
        }
        Some(SimulateAction::Release {
            latency_factor,
            endpoint,
            url,
        }) => {
            let message =
                qcat_api::simulate::set_release(&url, latency_factor, endpoint.as_deref()).await?;
            note!("{message}");
            return Ok(());
        }
        None => {}
    }

    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let server = qcat_api::simulate::run_simulator(
        qcat_api::simulate::SimulatorOptions {
            listen: args.listen,
            seed: args.seed,
            time_scale: args.time_scale,
            peak_rate: args.peak_rate,
            latency_factor: args.latency_factor,
        },
        bound_tx,
        shutdown,
    );
    tokio::pin!(server);
    tokio::select! {
        bound = bound_rx => {
            if let Ok(address) = bound {
                note!("serving the simulated trading application on http://{address}/metrics (Ctrl-C stops)");
                note!("inject an incident: qcatctl simulate incident latency --for 2m --url http://{address}");
            }
        }
        result = &mut server => return result.map_err(CliError::from),
    }
    server.await.map_err(CliError::from)
}

//! `qcatctl alert …`. On an `alertmanager.yml` file, with no store: `routes test` prints
//! the matched receivers as `amtool config routes test` does (in tree order,
//! comma-separated), or with `--json` each with its grouping and timers; `simulate` routes
//! a file of alerts and says which the others inhibit. On the console's store, as the
//! signed-in user: `rules` (list, save, remove, preview), `firing`, `history`, `silence`
//! (list, add, expire), `routing` (show, import), `test-send RECEIVER`, `deliveries` and
//! `retry KEY`.

use clap::Subcommand;
use qcat_api::alert::rules::{RuleNameInput, RulePreviewInput, RuleSaveInput, RuleSpec};
use qcat_api::alert::silences::{SilenceIdInput, SilenceInput};
use qcat_api::alert::views::{DeliveriesInput, DeliveryKeyInput, HistoryInput};
use qcat_api::{Api, ApiError, ErrorCode, SessionSlot};

use crate::baseline::{at, time};
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
    /// Alert rules: list them, or save, remove or preview one.
    Rules {
        #[command(subcommand)]
        action: Option<RulesAction>,
        #[arg(long)]
        json: bool,
    },
    /// The alerts firing now, with the silence or inhibition muting each.
    Firing {
        #[arg(long)]
        json: bool,
    },
    /// Firings that started since a time (default: a week ago), newest first.
    History {
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// Silences: list them, add one, or end one now.
    Silence {
        #[command(subcommand)]
        action: Option<SilenceAction>,
        #[arg(long)]
        json: bool,
    },
    /// The stored routing: show it, or import an alertmanager.yml (credentials go to the
    /// keychain).
    Routing {
        #[command(subcommand)]
        action: Option<RoutingAction>,
    },
    /// Sends a test alert through every integration of a receiver now.
    TestSend {
        receiver: String,
        /// Labels of the test alert: name=value …
        labels: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The delivery log: each notification per integration, and totals per channel.
    Deliveries {
        #[arg(long, default_value = "1d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// Queues a dead letter again, due now.
    Retry { key: String },
}

#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// Saves the rule in a JSON file (fields as `alert rules --json` prints them).
    Save {
        file: std::path::PathBuf,
        /// The version you edited (refused if it changed meanwhile); 0 for a new rule.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Removes a rule.
    Remove { name: String },
    /// When the rule in a JSON file would have fired over the last hours.
    Preview {
        file: std::path::PathBuf,
        #[arg(long, default_value_t = 24)]
        hours: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Silences alerts matching every matcher until a time.
    Add {
        /// Alertmanager's matchers: alertname="Down" instance=~"db.*" …
        matchers: Vec<String>,
        /// The end: a duration from now (2h) or a time.
        #[arg(long = "for", default_value = "1h")]
        duration: String,
        #[arg(long)]
        comment: String,
    },
    /// Ends a silence now.
    Expire { id: String },
}

#[derive(Debug, Subcommand)]
pub enum RoutingAction {
    /// Prints the stored routing (the default until one is imported).
    Show,
    /// Imports an alertmanager.yml as the routing.
    Import { file: std::path::PathBuf },
}

impl AlertCommand {
    /// Whether it reads only files (no store, no session).
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Routes(_) | Self::Simulate { .. })
    }
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

/// The offline commands (`routes test`, `simulate`).
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
        _ => unreachable!("only offline commands come here"),
    }
    Ok(())
}

fn invalid(message: String) -> CliError {
    ApiError::new(ErrorCode::InvalidInput, message).into()
}

fn rule_file(path: &std::path::Path) -> Result<RuleSpec, CliError> {
    let text = read(path, "the rule file")?;
    serde_json::from_str(&text).map_err(|err| {
        invalid(format!(
            "the rule file {}: {err}; give a JSON object like {{\"name\": \"HighErrorRate\", \"kind\": \"threshold\", \"series\": \"app_error_ratio\", \"op\": \">\", \"value\": 0.05, \"for\": \"2m\", \"severity\": \"critical\"}}",
            path.display()
        ))
    })
}

fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "alertname" && *k != "severity")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The commands on the console's store.
pub async fn run(api: &Api, slot: &SessionSlot, command: AlertCommand) -> Result<(), CliError> {
    let now = qcat_api::monitor::now_ms();
    match command {
        AlertCommand::Rules { action: None, json } => {
            let rules = api.alert_rules(slot).await?;
            if json {
                return output::json(&rules);
            }
            if rules.is_empty() {
                out!("no alert rules");
            }
            for view in rules {
                let rule = &view.rule;
                let what = match rule.kind.as_str() {
                    "threshold" => format!("{} {} {}", rule.series, rule.op, rule.value),
                    "absence" => format!("absent({})", rule.series),
                    "deviation" => format!("deviation({})", rule.series),
                    _ => format!("event {}", rule.event),
                };
                out!(
                    "{:24} {:8} {} for {}{}  firing {}  v{}",
                    rule.name,
                    rule.severity,
                    what,
                    rule.for_duration,
                    if rule.enabled { "" } else { " (disabled)" },
                    view.firing,
                    view.version
                );
            }
        }
        AlertCommand::Rules {
            action: Some(RulesAction::Save { file, version }),
            ..
        } => {
            let rule = rule_file(&file)?;
            let saved = api
                .alert_rule_save(
                    slot,
                    RuleSaveInput {
                        rule,
                        seen_version: version,
                    },
                )
                .await?;
            out!("saved rule {} (version {})", saved.rule.name, saved.version);
        }
        AlertCommand::Rules {
            action: Some(RulesAction::Remove { name }),
            ..
        } => {
            api.alert_rule_remove(slot, RuleNameInput { name: name.clone() })
                .await?;
            out!("removed rule {name}");
        }
        AlertCommand::Rules {
            action: Some(RulesAction::Preview { file, hours, json }),
            ..
        } => {
            let rule = rule_file(&file)?;
            let preview = api
                .alert_rule_preview(
                    slot,
                    RulePreviewInput {
                        rule,
                        hours: Some(hours),
                    },
                )
                .await?;
            if json {
                return output::json(&preview);
            }
            if let Some(note) = &preview.note {
                out!("{note}");
            }
            out!(
                "{} firings over {} matched series in the last {hours} h",
                preview.total_firings,
                preview.matched
            );
            for series in &preview.series {
                for firing in &series.firings {
                    out!(
                        "{}  {} .. {}",
                        series.series,
                        at(firing.start_ms),
                        firing.end_ms.map_or_else(|| "still firing".to_owned(), at)
                    );
                }
            }
        }
        AlertCommand::Firing { json } => {
            let alerts = api.alert_firing(slot).await?;
            if json {
                return output::json(&alerts);
            }
            if alerts.is_empty() {
                out!("no alerts firing");
            }
            for alert in alerts {
                let muted = if !alert.silenced_by.is_empty() {
                    format!(" (silenced by {})", alert.silenced_by.join(","))
                } else if alert.inhibited {
                    " (inhibited)".to_owned()
                } else {
                    String::new()
                };
                out!(
                    "{:8} {:24} {} since {}  {}{}{}",
                    alert.severity,
                    alert.alertname,
                    labels_text(&alert.labels),
                    at(alert.starts_ms),
                    alert.source,
                    if alert.flapping { " flapping" } else { "" },
                    muted
                );
            }
        }
        AlertCommand::History { since, json } => {
            let from_ms = time("--since", &since, now)?;
            let alerts = api
                .alert_history(
                    slot,
                    HistoryInput {
                        from_ms: Some(from_ms),
                        to_ms: None,
                        limit: None,
                    },
                )
                .await?;
            if json {
                return output::json(&alerts);
            }
            for alert in alerts {
                out!(
                    "{} .. {}  {:8} {:24} {}",
                    at(alert.starts_ms),
                    match (alert.state.as_str(), alert.ends_ms) {
                        ("resolved", Some(end)) => at(end),
                        _ => "firing".to_owned(),
                    },
                    alert.severity,
                    alert.alertname,
                    labels_text(&alert.labels)
                );
            }
        }
        AlertCommand::Silence { action: None, json } => {
            let silences = api.alert_silences(slot).await?;
            if json {
                return output::json(&silences);
            }
            if silences.is_empty() {
                out!("no silences");
            }
            for silence in silences {
                out!(
                    "{} {:8} {} until {}  by {}: {}",
                    silence.id,
                    silence.state,
                    silence.matchers,
                    at(silence.ends_ms),
                    silence.created_by,
                    silence.comment
                );
            }
        }
        AlertCommand::Silence {
            action:
                Some(SilenceAction::Add {
                    matchers,
                    duration,
                    comment,
                }),
            ..
        } => {
            let ends_ms = match humantime::parse_duration(&duration) {
                Ok(length) => now + length.as_millis() as i64,
                Err(_) => time("--for", &duration, now)?,
            };
            let silence = api
                .alert_silence_add(
                    slot,
                    SilenceInput {
                        matchers: matchers.join(", "),
                        starts_ms: None,
                        ends_ms,
                        comment,
                    },
                )
                .await?;
            out!(
                "silence {} {} until {}",
                silence.id,
                silence.matchers,
                at(silence.ends_ms)
            );
        }
        AlertCommand::Silence {
            action: Some(SilenceAction::Expire { id }),
            ..
        } => {
            api.alert_silence_expire(slot, SilenceIdInput { id: id.clone() })
                .await?;
            out!("silence {id} ended");
        }
        AlertCommand::Routing { action } => match action.unwrap_or(RoutingAction::Show) {
            RoutingAction::Show => {
                let routing = api.alert_routing(slot).await?;
                out!("{}", routing.yaml.trim_end());
                for problem in &routing.problems {
                    out!("# cannot send: {problem}");
                }
            }
            RoutingAction::Import { file } => {
                let yaml = read(&file, "the alertmanager.yml")?;
                let current = api.alert_routing(slot).await?;
                let saved = api
                    .alert_routing_save(
                        slot,
                        qcat_api::alert::routing::RoutingSaveInput {
                            yaml,
                            seen_version: current.version,
                        },
                    )
                    .await?;
                out!(
                    "imported {} (version {}): {} receivers",
                    file.display(),
                    saved.version,
                    saved.receivers.len()
                );
                for receiver in &saved.receivers {
                    let kinds: Vec<&str> = receiver
                        .integrations
                        .iter()
                        .map(|i| i.kind.as_str())
                        .collect();
                    out!("  {:20} {}", receiver.name, kinds.join(", "));
                }
            }
        },
        AlertCommand::TestSend {
            receiver,
            labels,
            json,
        } => {
            let labels = qcat_api::alert::parse_labels(&labels)?;
            let results = api
                .alert_test_send(
                    slot,
                    qcat_api::alert::routing::TestSendInput {
                        receiver,
                        labels: labels.into_iter().collect(),
                        annotations: Default::default(),
                    },
                )
                .await?;
            if json {
                output::json(&results)?;
            } else {
                for result in &results {
                    out!(
                        "{:24} {:9} {} ({} ms)",
                        result.integration,
                        result.kind,
                        if result.ok {
                            "delivered".to_owned()
                        } else {
                            format!("FAILED: {}", result.error.as_deref().unwrap_or(""))
                        },
                        result.duration_ms
                    );
                }
            }
            if results.iter().any(|r| !r.ok) {
                return Err(ApiError::new(
                    ErrorCode::SourceUnavailable,
                    "a test notification was not delivered",
                )
                .into());
            }
        }
        AlertCommand::Deliveries { since, json } => {
            let since_ms = time("--since", &since, now)?;
            let log = api
                .alert_deliveries(
                    slot,
                    DeliveriesInput {
                        since_ms: Some(since_ms),
                        limit: None,
                    },
                )
                .await?;
            if json {
                return output::json(&log);
            }
            for channel in &log.channels {
                out!(
                    "{:20} {:24} sent {} queued {} failing {} dead {}  p50 {} p99 {}",
                    channel.receiver,
                    channel.integration,
                    channel.sent,
                    channel.queued,
                    channel.failing,
                    channel.dead,
                    channel
                        .latency_p50_s
                        .map_or_else(|| "-".into(), |s| format!("{:.0} ms", s * 1000.0)),
                    channel
                        .latency_p99_s
                        .map_or_else(|| "-".into(), |s| format!("{:.0} ms", s * 1000.0))
                );
            }
            for entry in &log.entries {
                out!(
                    "{} {:6} {:20} {:24} {} attempts {}{}  {}",
                    at(entry.created_ms),
                    entry.state,
                    entry.receiver,
                    entry.integration,
                    entry.alerts.join(","),
                    entry.attempts,
                    entry
                        .last_error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default(),
                    entry.key
                );
            }
        }
        AlertCommand::Retry { key } => {
            api.alert_delivery_retry(slot, DeliveryKeyInput { key: key.clone() })
                .await?;
            out!("queued {key} again");
        }
        offline @ (AlertCommand::Routes(_) | AlertCommand::Simulate { .. }) => {
            self::command(offline)?
        }
    }
    Ok(())
}

//! Alert routing through the API: an Alertmanager configuration tested with labels (which
//! receivers, with which grouping and timers — `qcatctl alert routes test`, the same answer
//! as `amtool config routes test`) and a set of alerts simulated through routing and
//! inhibition (`qcatctl alert simulate`). Pure: the configuration is given, nothing is
//! stored, no session is needed.

use qcat_alert::Labels;
use qcat_alert::config::AlertmanagerConfig;
use qcat_alert::route::Route;
use qcat_core::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// One receiver an alert is routed to, with the options of the node that routed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedRoute {
    pub receiver: String,
    /// The labels grouped by; `["..."]` for every label.
    pub group_by: Vec<String>,
    pub group_wait_s: f64,
    pub group_interval_s: f64,
    pub repeat_interval_s: f64,
}

/// One alert of a simulation: where it goes and whether another firing alert mutes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulatedAlert {
    pub labels: Labels,
    pub receivers: Vec<String>,
    pub inhibited: bool,
}

/// An alert as Alertmanager's API takes it (`labels`, optional annotations and times), or
/// a bare label object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AlertInput {
    Full {
        labels: Labels,
        #[serde(rename = "endsAt", default)]
        ends_at: Option<String>,
    },
    Bare(Labels),
}

fn config(text: &str) -> Result<(AlertmanagerConfig, Route), ApiError> {
    let config = AlertmanagerConfig::parse(text)
        .map_err(|err| ApiError::new(ErrorCode::InvalidConfig, err.to_string()))?;
    let route = Route::build(&config.route);
    Ok((config, route))
}

fn matched(route: &Route) -> MatchedRoute {
    let opts = &route.opts;
    MatchedRoute {
        receiver: opts.receiver.clone(),
        group_by: if opts.group_by_all {
            vec!["...".to_owned()]
        } else {
            opts.group_by.clone()
        },
        group_wait_s: opts.group_wait.as_secs_f64(),
        group_interval_s: opts.group_interval.as_secs_f64(),
        repeat_interval_s: opts.repeat_interval.as_secs_f64(),
    }
}

/// `LABEL=VALUE` arguments as a label set; a bad one is named.
pub fn parse_labels(pairs: &[String]) -> Result<Labels, ApiError> {
    let mut labels = Labels::new();
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("{pair:?}: write each label as name=value"),
            )
        })?;
        let value = value.trim_matches('"');
        qcat_alert::matcher::Matcher::new(name, qcat_alert::matcher::MatchOp::Equal, value)
            .map_err(|err| ApiError::new(ErrorCode::InvalidInput, err.0))?;
        labels.insert(name.to_owned(), value.to_owned());
    }
    Ok(labels)
}

/// The receivers an alert with `labels` is routed to, in tree order.
pub fn routes_test(config_text: &str, labels: &Labels) -> Result<Vec<MatchedRoute>, ApiError> {
    let (_, route) = config(config_text)?;
    Ok(route.matches(labels).into_iter().map(matched).collect())
}

/// Each alert of `alerts_json` (a JSON list) routed, and whether the others mute it; an
/// alert whose `endsAt` is in the past is resolved and mutes nothing.
pub fn simulate(config_text: &str, alerts_json: &str) -> Result<Vec<SimulatedAlert>, ApiError> {
    let (config, route) = config(config_text)?;
    let alerts: Vec<AlertInput> = serde_json::from_str(alerts_json).map_err(|err| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "the alerts file: {err}; give a JSON list of alerts, each {{\"labels\": {{…}}}} as Alertmanager's API takes them"
            ),
        )
    })?;
    let now = qcat_core::time::now_ms();
    let alerts: Vec<(Labels, bool)> = alerts
        .into_iter()
        .map(|alert| match alert {
            AlertInput::Full { labels, ends_at } => {
                let resolved = ends_at
                    .and_then(|at| at.parse::<jiff::Timestamp>().ok())
                    .is_some_and(|at| at.as_millisecond() <= now);
                (labels, !resolved)
            }
            AlertInput::Bare(labels) => (labels, true),
        })
        .collect();
    let firing: Vec<Labels> = alerts
        .iter()
        .filter(|(_, firing)| *firing)
        .map(|(labels, _)| labels.clone())
        .collect();
    Ok(alerts
        .into_iter()
        .map(|(labels, _)| SimulatedAlert {
            receivers: route
                .matches(&labels)
                .iter()
                .map(|r| r.opts.receiver.clone())
                .collect(),
            inhibited: qcat_alert::inhibit::inhibited(&config.inhibit_rules, &labels, &firing),
            labels,
        })
        .collect())
}

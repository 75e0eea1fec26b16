//! `alertmanager.yml` read as it is: `route` (with `match`, `match_re` and `matchers`,
//! `group_by` with `...`, the three intervals, `continue`, mute and active time intervals,
//! nested `routes`), `receivers` (their channel configurations kept as written, for the
//! channels to read), `inhibit_rules` (old and new matcher forms, `equal`) and
//! `time_intervals` / `mute_time_intervals`. Checked the way Alertmanager checks it; every
//! problem names where it is (`route.routes[1].receiver`) and what to change.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::matcher::{MatchOp, Matcher};

/// Problems found in a configuration, each with its place and fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    route: Option<RawRoute>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibitRule>,
    #[serde(default)]
    time_intervals: Vec<RawTimeInterval>,
    #[serde(default)]
    mute_time_intervals: Vec<RawTimeInterval>,
    // `global` and `templates` are the channels' business; accepted and kept out of routing.
    #[serde(default)]
    #[allow(dead_code)]
    global: Option<yaml_serde::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    templates: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    receiver: Option<String>,
    group_by: Option<Vec<String>>,
    #[serde(rename = "continue", default)]
    continue_matching: bool,
    #[serde(rename = "match", default)]
    match_equal: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    #[serde(default)]
    matchers: Vec<String>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    mute_time_intervals: Vec<String>,
    #[serde(default)]
    active_time_intervals: Vec<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
struct RawReceiver {
    name: String,
    #[serde(flatten)]
    configs: BTreeMap<String, yaml_serde::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibitRule {
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawTimeInterval {
    name: String,
    #[serde(default)]
    time_intervals: Vec<yaml_serde::Value>,
}

/// One node of the routing tree as written (before inheritance).
#[derive(Debug, Clone, Default)]
pub struct RouteConfig {
    /// Where it is in the file: `route`, `route.routes[0]`…
    pub path: String,
    pub receiver: Option<String>,
    /// `None`: inherited. `Some` with `all`: `group_by: ['...']`.
    pub group_by: Option<Vec<String>>,
    pub group_by_all: bool,
    pub continue_matching: bool,
    pub matchers: Vec<Matcher>,
    pub group_wait: Option<Duration>,
    pub group_interval: Option<Duration>,
    pub repeat_interval: Option<Duration>,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    /// Each `*_configs` list as written (`webhook_configs`, `email_configs`…), as JSON.
    pub configs: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct InhibitRuleConfig {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    pub route: RouteConfig,
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Named time intervals (from `time_intervals` and the older `mute_time_intervals`),
    /// each as written, as JSON.
    pub time_intervals: BTreeMap<String, Vec<serde_json::Value>>,
    /// The same intervals, read.
    pub intervals: BTreeMap<String, Vec<crate::timeinterval::TimeInterval>>,
}

/// Prometheus' duration syntax: `1y2w3d4h5m6s7ms` (units in that order, each optional) or `0`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1000),
    ];
    // The order units may appear in (ms before m and s is only for matching `ms` first).
    const ORDER: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_rank: Option<usize> = None;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, millis) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit))?;
        let rank = ORDER.iter().position(|u| u == unit)?;
        if last_rank.is_some_and(|last| rank <= last) {
            return None;
        }
        last_rank = Some(rank);
        total = total.checked_add(number.checked_mul(*millis)?)?;
        rest = &rest[unit.len()..];
    }
    Some(Duration::from_millis(total))
}

fn yaml_to_json(value: &yaml_serde::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Matchers from the three forms, as Alertmanager merges them: `match`, then `match_re`,
/// then `matchers`; sorted by name, operator and value.
fn merge_matchers(
    path: &str,
    equal: &BTreeMap<String, String>,
    regex: &BTreeMap<String, String>,
    listed: &[String],
    problems: &mut Vec<String>,
) -> Vec<Matcher> {
    let mut matchers = Vec::new();
    for (name, value) in equal {
        match Matcher::new(name, MatchOp::Equal, value) {
            Ok(m) => matchers.push(m),
            Err(err) => problems.push(format!("{path}.match: {err}")),
        }
    }
    for (name, value) in regex {
        match Matcher::new(name, MatchOp::Regex, value) {
            Ok(m) => matchers.push(m),
            Err(err) => problems.push(format!("{path}.match_re: {err}")),
        }
    }
    for (index, text) in listed.iter().enumerate() {
        match Matcher::parse_list(text) {
            Ok(list) => matchers.extend(list),
            Err(err) => problems.push(format!("{path}.matchers[{index}]: {err}")),
        }
    }
    matchers.sort_by(|a, b| (&a.name, a.op, &a.value).cmp(&(&b.name, b.op, &b.value)));
    matchers
}

fn duration_field(
    path: &str,
    field: &str,
    text: &Option<String>,
    problems: &mut Vec<String>,
) -> Option<Duration> {
    let text = text.as_ref()?;
    match parse_duration(text) {
        Some(duration) => Some(duration),
        None => {
            problems.push(format!(
                "{path}.{field}: {text:?} is not a duration; write it like 30s, 5m, 4h or 1d"
            ));
            None
        }
    }
}

fn route_config(raw: &RawRoute, path: String, problems: &mut Vec<String>) -> RouteConfig {
    let matchers = merge_matchers(
        &path,
        &raw.match_equal,
        &raw.match_re,
        &raw.matchers,
        problems,
    );
    let mut group_by_all = false;
    let group_by = raw.group_by.as_ref().map(|labels| {
        let mut names = Vec::new();
        for label in labels {
            if label == "..." {
                group_by_all = true;
            } else if Matcher::new(label, MatchOp::Equal, "").is_err() {
                problems.push(format!("{path}.group_by: {label:?} is not a label name"));
            } else {
                names.push(label.clone());
            }
        }
        names
    });
    if group_by_all && group_by.as_ref().is_some_and(|names| !names.is_empty()) {
        problems.push(format!(
            "{path}.group_by: '...' groups by every label and cannot be listed with other labels"
        ));
    }
    // As Alertmanager reads it, a list that names no label (`['...']` alone, or `[]`)
    // leaves the inherited list in place.
    let group_by = group_by.filter(|names| !names.is_empty());
    let group_wait = duration_field(&path, "group_wait", &raw.group_wait, problems);
    let group_interval = duration_field(&path, "group_interval", &raw.group_interval, problems);
    let repeat_interval = duration_field(&path, "repeat_interval", &raw.repeat_interval, problems);
    if group_interval == Some(Duration::ZERO) {
        problems.push(format!("{path}.group_interval: must be more than 0"));
    }
    if repeat_interval == Some(Duration::ZERO) {
        problems.push(format!("{path}.repeat_interval: must be more than 0"));
    }
    let routes = raw
        .routes
        .iter()
        .enumerate()
        .map(|(index, child)| route_config(child, format!("{path}.routes[{index}]"), problems))
        .collect();
    RouteConfig {
        receiver: raw.receiver.clone().filter(|r| !r.is_empty()),
        group_by,
        group_by_all,
        continue_matching: raw.continue_matching,
        matchers,
        group_wait,
        group_interval,
        repeat_interval,
        mute_time_intervals: raw.mute_time_intervals.clone(),
        active_time_intervals: raw.active_time_intervals.clone(),
        routes,
        path,
    }
}

/// Every receiver and time interval a route names must exist.
fn check_references(
    route: &RouteConfig,
    receivers: &[Receiver],
    intervals: &BTreeMap<String, Vec<serde_json::Value>>,
    problems: &mut Vec<String>,
) {
    if let Some(receiver) = &route.receiver
        && !receivers.iter().any(|r| &r.name == receiver)
    {
        problems.push(format!(
            "{}.receiver: undefined receiver {receiver:?}; add it under receivers",
            route.path
        ));
    }
    for (field, names) in [
        ("mute_time_intervals", &route.mute_time_intervals),
        ("active_time_intervals", &route.active_time_intervals),
    ] {
        for name in names {
            if !intervals.contains_key(name) {
                problems.push(format!(
                    "{}.{field}: undefined time interval {name:?}; add it under time_intervals",
                    route.path
                ));
            }
        }
    }
    for child in &route.routes {
        check_references(child, receivers, intervals, problems);
    }
}

impl AlertmanagerConfig {
    /// Reads and checks an `alertmanager.yml`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = yaml_serde::from_str(text).map_err(|err| {
            ConfigError(vec![format!("not an Alertmanager configuration: {err}")])
        })?;
        let mut problems = Vec::new();
        let Some(raw_route) = raw.route.as_ref() else {
            return Err(ConfigError(vec![
                "route: missing; an Alertmanager configuration needs a root route with a receiver"
                    .into(),
            ]));
        };
        let route = route_config(raw_route, "route".into(), &mut problems);
        if route.receiver.is_none() {
            problems.push("route.receiver: the root route must name a default receiver".into());
        }
        if !route.matchers.is_empty() {
            problems.push(
                "route: the root route must not have matchers (every alert enters it)".into(),
            );
        }
        if route.continue_matching {
            problems
                .push("route.continue: the root route cannot continue (it has no siblings)".into());
        }
        let mut receivers: Vec<Receiver> = Vec::new();
        for (index, receiver) in raw.receivers.iter().enumerate() {
            if receiver.name.is_empty() {
                problems.push(format!("receivers[{index}].name: a receiver needs a name"));
            } else if receivers.iter().any(|r| r.name == receiver.name) {
                problems.push(format!(
                    "receivers[{index}].name: {:?} is used twice; receiver names are unique",
                    receiver.name
                ));
            }
            receivers.push(Receiver {
                name: receiver.name.clone(),
                configs: receiver
                    .configs
                    .iter()
                    .map(|(kind, value)| (kind.clone(), yaml_to_json(value)))
                    .collect(),
            });
        }
        let mut time_intervals = BTreeMap::new();
        let mut intervals = BTreeMap::new();
        for (field, list) in [
            ("time_intervals", &raw.time_intervals),
            ("mute_time_intervals", &raw.mute_time_intervals),
        ] {
            for (index, interval) in list.iter().enumerate() {
                if time_intervals.contains_key(&interval.name) {
                    problems.push(format!(
                        "{field}[{index}].name: {:?} is defined twice",
                        interval.name
                    ));
                }
                let entries: Vec<serde_json::Value> =
                    interval.time_intervals.iter().map(yaml_to_json).collect();
                let mut read = Vec::new();
                for (entry_index, entry) in entries.iter().enumerate() {
                    match crate::timeinterval::TimeInterval::parse(
                        entry,
                        &format!("{field}[{index}].time_intervals[{entry_index}]"),
                    ) {
                        Ok(parsed) => read.push(parsed),
                        Err(problem) => problems.push(problem),
                    }
                }
                intervals.insert(interval.name.clone(), read);
                time_intervals.insert(interval.name.clone(), entries);
            }
        }
        check_references(&route, &receivers, &time_intervals, &mut problems);
        let inhibit_rules = raw
            .inhibit_rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let path = format!("inhibit_rules[{index}]");
                let source = merge_matchers(
                    &format!("{path}.source"),
                    &rule.source_match,
                    &rule.source_match_re,
                    &rule.source_matchers,
                    &mut problems,
                );
                let target = merge_matchers(
                    &format!("{path}.target"),
                    &rule.target_match,
                    &rule.target_match_re,
                    &rule.target_matchers,
                    &mut problems,
                );
                InhibitRuleConfig {
                    source,
                    target,
                    equal: rule.equal.clone(),
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Self {
            route,
            receivers,
            inhibit_rules,
            time_intervals,
            intervals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        // Units out of order, unknown units, fractions and empty text are refused.
        for bad in ["30m1h", "5x", "1.5h", "", "h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let err = AlertmanagerConfig::parse(
            "route:\n  matchers: ['a=\"1\"']\n  routes:\n    - receiver: missing\n      group_wait: 5x\n      group_by: ['...', 'b']\nreceivers: []\n",
        )
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "route.receiver: the root route must name a default receiver",
            "route: the root route must not have matchers",
            "route.routes[0].receiver: undefined receiver \"missing\"",
            "route.routes[0].group_wait: \"5x\" is not a duration",
            "route.routes[0].group_by: '...'",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }
}

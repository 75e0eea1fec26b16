//! Alerting with Prometheus Alertmanager's semantics, so a team's `alertmanager.yml` routes
//! the same here as there:
//!
//! - [`matcher`]: label matchers (`=`, `!=`, `=~`, `!~`, regexes anchored), parsed as
//!   Alertmanager parses them; a missing label is the empty string.
//! - [`config`]: `alertmanager.yml` read as it is — `route`, `receivers`, `inhibit_rules`,
//!   `time_intervals` — and checked the way Alertmanager checks it, each problem named.
//! - [`route`]: the routing tree with inheritance, depth-first matching and `continue`.
//! - [`inhibit`]: inhibition rules over a set of firing alerts.
//! - [`rules`]: alert rules (threshold, absence, baseline deviation) with `for`, pending →
//!   firing → resolved per label set, flap damping, cooldown, and the history preview.
//! - [`dispatch`]: grouping by route and `group_by`, `group_wait` / `group_interval` /
//!   `repeat_interval` timing, silences.
//! - [`notify`]: the notification a receiver gets (a group of alerts) and its webhook JSON.
//! - [`delivery`]: the outbox's policy — retry times with backoff and jitter, sending
//!   budgets that fold the excess into a digest.
//! - [`outbox`]: the durable outbox in the console's store (enqueue once by key, fenced
//!   claims that expire, retries, dead letters).
//! - [`retention`]: what is forgotten after `alerting.history_retention` (never a queued
//!   notification or a firing alert).
//! - [`channels`]: templates and the senders — DingTalk, WeCom, Feishu, Slack, Aliyun SMS,
//!   Alertmanager-style webhooks — each signed and answered the way the service documents.

pub mod channels;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod inhibit;
pub mod integrations;
pub mod matcher;
pub mod notify;
pub mod outbox;
pub mod retention;
pub mod route;
pub mod rules;
pub mod state;
pub mod timeinterval;

/// An alert's labels: name → value.
pub type Labels = std::collections::BTreeMap<String, String>;

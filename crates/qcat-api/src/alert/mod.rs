//! Alerting through the API (the rules, routing and channels of `qcat-alert` put to work):
//!
//! - [`simulate`]: routing tests and simulations over a given `alertmanager.yml` (pure: no
//!   session, nothing stored) — `qcatctl alert routes test`, `qcatctl alert simulate`;
//! - [`routing`]: the stored routing configuration (import, save with credentials moved
//!   to the keychain, the routing simulator with each message rendered, test sends);
//! - [`rules`]: rule definitions (threshold, absence, baseline deviation, events), saved
//!   and audited, and the 24-hour preview;
//! - [`silences`]: silences, audited;
//! - [`engine`]: the `alerting` duty — rules evaluated, alerts grouped and timed, each
//!   notification queued in the outbox with its notification-log entry;
//! - [`delivery`]: the same duty's sender — the outbox's due rows sent through their
//!   integrations with retries, budgets folding the excess into digests, fallbacks, dead
//!   letters — and the delivery metrics;
//! - [`events`]: what event rules watch (targets down, backups failed or missing, verify
//!   damage, a broken audit chain, notifications failing);
//! - [`ingest`]: Alertmanager's `POST /api/v2/alerts` on the agent, so an existing
//!   Prometheus routes its alerts through the console;
//! - [`views`]: alerts, history and the delivery log for the window and `qcatctl`.

pub mod delivery;
pub mod engine;
pub mod events;
pub mod ingest;
pub mod routing;
pub mod rules;
pub mod silences;
pub mod simulate;
pub mod views;

use std::collections::BTreeMap;
use std::sync::Mutex;

use qcat_core::ErrorCode;

pub use simulate::{MatchedRoute, SimulatedAlert, parse_labels, routes_test, simulate};

use crate::ApiError;

/// The singleton duty rules, dispatch and delivery run under.
pub const ALERT_DUTY: &str = "alerting";

/// This process's alerting state: what wakes the duty's loops, and the delivery counters
/// the agent's `/metrics` shows.
#[derive(Default)]
pub struct AlertState {
    /// An alert arrived (the API, a rule saved): evaluate and dispatch now.
    pub(crate) wake: tokio::sync::Notify,
    /// This process stored a reading: evaluate the rules now (at most every
    /// [`engine::MIN_EVALUATION_GAP_MS`]) rather than at the next interval.
    pub(crate) samples: tokio::sync::Notify,
    /// Notifications were queued: deliver now.
    pub(crate) deliver: tokio::sync::Notify,
    pub(crate) stats: Mutex<BTreeMap<(String, String), ChannelStats>>,
    /// The routing in use, rebuilt when the stored version moves.
    pub(crate) routing: Mutex<Option<std::sync::Arc<routing::LoadedRouting>>>,
}

/// Delivery counts of one integration kind of one receiver, since this process started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    pub digests: u64,
    pub fallbacks: u64,
    /// Queued → delivered, for sent notifications.
    pub latency_sum_s: f64,
    /// Counts of latencies per bucket of [`LATENCY_BUCKETS`], the last one beyond them.
    pub latency_buckets: [u64; LATENCY_BUCKETS.len() + 1],
}

/// Upper bounds (seconds) of the delivery latency histogram.
pub const LATENCY_BUCKETS: [f64; 8] = [0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0];

impl AlertState {
    pub(crate) fn count(&self, receiver: &str, kind: &str, update: impl FnOnce(&mut ChannelStats)) {
        let mut stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        update(
            stats
                .entry((receiver.to_owned(), kind.to_owned()))
                .or_default(),
        );
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<(String, String), ChannelStats> {
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ChannelStats {
    pub(crate) fn observe_latency(&mut self, seconds: f64) {
        self.latency_sum_s += seconds;
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[bucket] += 1;
    }
}

pub(crate) fn state_error(err: qcat_alert::state::StateError) -> ApiError {
    use qcat_alert::state::StateError;
    match err {
        StateError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
        StateError::NotFound(message) => ApiError::new(ErrorCode::NotFound, message),
        StateError::Store(err) => ApiError::store_failure(&err),
        StateError::Audit(err) => ApiError::from(err),
    }
}

pub(crate) fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, format!("{field}: {message}"))
}

//! What this process wrote to the trail, for its metrics: entries by action and by actor,
//! and how long each waited between being made and being committed (the seed's audit
//! metrics: events total, by type, by user, processing latency). Updated with the log
//! mirror, after each commit.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::AuditEntry;

/// Upper bounds (seconds) of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A copy of the counters.
#[derive(Debug, Clone, Default)]
pub struct AuditStats {
    pub total: u64,
    pub by_action: HashMap<String, u64>,
    pub by_actor: HashMap<String, u64>,
    /// Per bucket of [`LATENCY_BUCKETS`] (not cumulative), plus one for larger values.
    pub latency_counts: Vec<u64>,
    pub latency_sum_secs: f64,
}

static STATS: Mutex<Option<AuditStats>> = Mutex::new(None);

/// Distinct actors counted separately; more are counted as `other` so a flood of made-up
/// sign-in names cannot grow the metrics without bound.
const MAX_ACTORS: usize = 1000;

pub(crate) fn observe(entries: &[AuditEntry]) {
    let now = qcat_core::time::now_ms();
    let mut guard = STATS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let stats = guard.get_or_insert_with(|| AuditStats {
        latency_counts: vec![0; LATENCY_BUCKETS.len() + 1],
        ..AuditStats::default()
    });
    for entry in entries {
        stats.total += 1;
        *stats.by_action.entry(entry.action.clone()).or_default() += 1;
        let actor =
            if stats.by_actor.len() < MAX_ACTORS || stats.by_actor.contains_key(&entry.actor) {
                entry.actor.clone()
            } else {
                "other".to_owned()
            };
        *stats.by_actor.entry(actor).or_default() += 1;
        let latency = (now - entry.at_ms).max(0) as f64 / 1000.0;
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| latency <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        stats.latency_counts[bucket] += 1;
        stats.latency_sum_secs += latency;
    }
}

/// The counters now.
pub fn snapshot() -> AuditStats {
    STATS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_else(|| AuditStats {
            latency_counts: vec![0; LATENCY_BUCKETS.len() + 1],
            ..AuditStats::default()
        })
}

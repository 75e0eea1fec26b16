//! What the window and `qcatctl` show of alerting: the alerts firing now (with the silence
//! or inhibition muting each), the history of firings, and the delivery log — each
//! notification per integration with its attempts, error and state, per-channel totals
//! and latency — with "retry now" for dead letters.

use std::collections::BTreeMap;

use qcat_alert::outbox::{self, OutboxRow, OutboxState};
use qcat_alert::state::Episode;
use qcat_audit::event::Outcome;
use qcat_core::ErrorCode;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::silences::to_silence;
use crate::access::SessionSlot;
use crate::{Api, ApiError};

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub fingerprint: String,
    /// `rule:<name>`, `event:<name>` or `api` (Prometheus through `/api/v2/alerts`).
    pub source: String,
    pub alertname: String,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[ts(type = "number")]
    pub starts_ms: i64,
    #[ts(type = "number | null")]
    pub ends_ms: Option<i64>,
    /// `firing` or `resolved`.
    pub state: String,
    pub flapping: bool,
    /// Silences muting it now.
    pub silenced_by: Vec<String>,
    /// Muted by a firing alert through an inhibition rule.
    pub inhibited: bool,
}

#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HistoryInput {
    /// Default: a week ago.
    #[ts(type = "number | null")]
    pub from_ms: Option<i64>,
    #[ts(type = "number | null")]
    pub to_ms: Option<i64>,
    /// Default 500.
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub key: String,
    pub receiver: String,
    pub integration: String,
    /// `queued`, `sent` or `dead`.
    pub state: String,
    #[ts(type = "number")]
    pub attempts: i64,
    #[ts(type = "number")]
    pub due_ms: i64,
    #[ts(type = "number")]
    pub created_ms: i64,
    #[ts(type = "number | null")]
    pub sent_ms: Option<i64>,
    pub last_error: Option<String>,
    /// `firing` or `resolved`.
    pub status: String,
    /// The alert names it carries.
    pub alerts: Vec<String>,
    /// The notification key this one stands in for (a fallback's copy).
    pub fallback_of: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ChannelSummary {
    pub receiver: String,
    pub integration: String,
    #[ts(type = "number")]
    pub sent: u64,
    #[ts(type = "number")]
    pub queued: u64,
    /// Queued and failing (its last attempt failed).
    #[ts(type = "number")]
    pub failing: u64,
    #[ts(type = "number")]
    pub dead: u64,
    /// Queued → delivered, over the listed window.
    pub latency_p50_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryLog {
    pub channels: Vec<ChannelSummary>,
    pub entries: Vec<DeliveryView>,
}

#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesInput {
    /// Default: the last day.
    #[ts(type = "number | null")]
    pub since_ms: Option<i64>,
    /// Default 500.
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryKeyInput {
    pub key: String,
}

/// What the outbox row carries: the notification and, for a fallback's copy, the key it
/// stands in for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Payload {
    pub notification: qcat_alert::notify::Notification,
    #[serde(default)]
    pub fallback_of: Option<String>,
}

fn alert_view(episode: Episode, now_ms: i64) -> AlertView {
    AlertView {
        state: if episode.firing_at(now_ms) {
            "firing".into()
        } else {
            "resolved".into()
        },
        alertname: episode.labels.get("alertname").cloned().unwrap_or_default(),
        severity: episode.labels.get("severity").cloned().unwrap_or_default(),
        fingerprint: episode.fingerprint,
        source: episode.source,
        labels: episode.labels.into_iter().collect(),
        annotations: episode.annotations.into_iter().collect(),
        starts_ms: episode.starts_ms,
        ends_ms: episode.ends_ms,
        flapping: episode.flapping,
        silenced_by: Vec::new(),
        inhibited: false,
    }
}

pub(crate) fn delivery_view(row: OutboxRow) -> DeliveryView {
    let payload: Option<Payload> = serde_json::from_str(&row.payload).ok();
    DeliveryView {
        status: payload
            .as_ref()
            .map(|p| p.notification.status.as_str().to_owned())
            .unwrap_or_default(),
        alerts: payload
            .as_ref()
            .map(|p| {
                let mut names: Vec<String> = p
                    .notification
                    .alerts
                    .iter()
                    .filter_map(|a| a.labels.get("alertname").cloned())
                    .collect();
                names.dedup();
                names
            })
            .unwrap_or_default(),
        fallback_of: payload.and_then(|p| p.fallback_of),
        key: row.key,
        receiver: row.receiver,
        integration: row.integration,
        state: row.state.as_str().to_owned(),
        attempts: row.attempts,
        due_ms: row.due_ms,
        created_ms: row.created_ms,
        sent_ms: row.sent_ms,
        last_error: row.last_error,
    }
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied()
}

impl Api {
    /// The alerts firing now, newest first, each with what mutes it.
    pub async fn alert_firing(&self, slot: &SessionSlot) -> Result<Vec<AlertView>, ApiError> {
        self.guard(slot, "alert_firing").await?;
        self.firing_views().await
    }

    pub(crate) async fn firing_views(&self) -> Result<Vec<AlertView>, ApiError> {
        let store = self.store()?;
        let now = qcat_core::time::now_ms();
        let episodes = qcat_alert::state::firing(store, now)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let silences: Vec<_> = qcat_alert::state::silences(store, now)
            .await
            .map_err(|err| ApiError::store_failure(&err))?
            .iter()
            .filter_map(to_silence)
            .collect();
        let routing = self.loaded_routing().await.ok();
        let firing: Vec<qcat_alert::Labels> = episodes.iter().map(|e| e.labels.clone()).collect();
        Ok(episodes
            .into_iter()
            .map(|episode| {
                let silenced_by = silences
                    .iter()
                    .filter(|s| s.mutes(&episode.labels, now))
                    .map(|s| s.id.clone())
                    .collect();
                let inhibited = routing.as_ref().is_some_and(|r| {
                    qcat_alert::inhibit::inhibited(
                        &r.config.inhibit_rules,
                        &episode.labels,
                        &firing,
                    )
                });
                AlertView {
                    silenced_by,
                    inhibited,
                    ..alert_view(episode, now)
                }
            })
            .collect())
    }

    /// Firings that started in a window (a week by default), newest first.
    pub async fn alert_history(
        &self,
        slot: &SessionSlot,
        input: HistoryInput,
    ) -> Result<Vec<AlertView>, ApiError> {
        self.guard(slot, "alert_history").await?;
        let now = qcat_core::time::now_ms();
        let to_ms = input.to_ms.unwrap_or(now + 1);
        let from_ms = input.from_ms.unwrap_or(to_ms - 7 * 86_400_000);
        let episodes = qcat_alert::state::history(
            self.store()?,
            from_ms,
            to_ms,
            i64::from(input.limit.unwrap_or(500).clamp(1, 10_000)),
        )
        .await
        .map_err(|err| ApiError::store_failure(&err))?;
        Ok(episodes.into_iter().map(|e| alert_view(e, now)).collect())
    }

    /// The delivery log: every notification per integration in the window (a day by
    /// default), newest first, with per-channel totals and latency.
    pub async fn alert_deliveries(
        &self,
        slot: &SessionSlot,
        input: DeliveriesInput,
    ) -> Result<DeliveryLog, ApiError> {
        self.guard(slot, "alert_deliveries").await?;
        let now = qcat_core::time::now_ms();
        let since = input.since_ms.unwrap_or(now - 86_400_000);
        let rows = outbox::recent(
            self.store()?,
            since,
            i64::from(input.limit.unwrap_or(500).clamp(1, 10_000)),
        )
        .await
        .map_err(|err| ApiError::store_failure(&err))?;
        let mut channels: BTreeMap<(String, String), (ChannelSummary, Vec<f64>)> = BTreeMap::new();
        for row in &rows {
            let (summary, latencies) = channels
                .entry((row.receiver.clone(), row.integration.clone()))
                .or_insert_with(|| {
                    (
                        ChannelSummary {
                            receiver: row.receiver.clone(),
                            integration: row.integration.clone(),
                            sent: 0,
                            queued: 0,
                            failing: 0,
                            dead: 0,
                            latency_p50_s: None,
                            latency_p99_s: None,
                        },
                        Vec::new(),
                    )
                });
            match row.state {
                OutboxState::Sent => {
                    summary.sent += 1;
                    if let Some(sent) = row.sent_ms {
                        latencies.push((sent - row.created_ms).max(0) as f64 / 1000.0);
                    }
                }
                OutboxState::Queued => {
                    summary.queued += 1;
                    if row.last_error.is_some() {
                        summary.failing += 1;
                    }
                }
                OutboxState::Dead => summary.dead += 1,
            }
        }
        let channels = channels
            .into_values()
            .map(|(mut summary, mut latencies)| {
                latencies.sort_by(f64::total_cmp);
                summary.latency_p50_s = quantile(&latencies, 0.5);
                summary.latency_p99_s = quantile(&latencies, 0.99);
                summary
            })
            .collect();
        Ok(DeliveryLog {
            channels,
            entries: rows.into_iter().map(delivery_view).collect(),
        })
    }

    /// Queues a dead letter again, due now ("retry now"), audited.
    pub async fn alert_delivery_retry(
        &self,
        slot: &SessionSlot,
        input: DeliveryKeyInput,
    ) -> Result<(), ApiError> {
        let proof = self.guard(slot, "alert_delivery_retry").await?;
        let target = format!("alert:delivery:{}", input.key);
        let result = async {
            let requeued = outbox::retry_dead(self.store()?, &input.key, qcat_core::time::now_ms())
                .await
                .map_err(|err| ApiError::store_failure(&err))?;
            if !requeued {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "key: no dead letter {:?}; `qcatctl alert deliveries` lists them",
                        qcat_core::text::bounded(&input.key, 120)
                    ),
                ));
            }
            self.access()?
                .audit()
                .record(proof.event(
                    "alert.delivery.retry",
                    format!("alert:delivery:{}", input.key),
                    Outcome::Ok,
                ))
                .await?;
            self.inner.alert.deliver.notify_one();
            Ok(())
        }
        .await;
        self.audit_refusal(&proof, "alert.delivery.retry", &target, result)
            .await
    }
}

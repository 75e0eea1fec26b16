//! The `alerting` duty's sender: claims the outbox's due rows (fenced, for a bounded
//! time: a sender killed mid-attempt leaves them to be claimed again), sends each through
//! its integration, and settles it — sent; failed and due again after a backoff with
//! jitter (`alerting.retry_interval` doubling, `retry_count` retries, a service's own
//! `Retry-After` honoured); or a dead letter, listed with "retry now".
//!
//! Budgets: each integration sends at most `alerting.rate_limit` per
//! `rate_limit_window` and within its service's own limit (DingTalk's and WeCom's 20 a
//! minute, Slack's one a second, Feishu's 100 a minute). What does not fit is not
//! dropped: it waits for the next free slot, and the notifications waiting together then
//! go as one digest. A failure (the service down, a refusal) also queues the notification
//! for the receiver's `fallback` receiver, once. Integrations are sent concurrently; per
//! integration a group's notifications go in order. Webhooks and Alertmanagers, where a
//! repeat is harmless, get up to [`PARALLEL_SENDS`] groups at a time (as Alertmanager
//! sends each aggregation group on its own); people's channels — chat, e-mail, SMS — one
//! notification at a time, so a crash repeats at most the one whose answer it cut off.
//! Outcomes are settled as soon as they are known, those that arrive together in one
//! transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;

use qcat_alert::channels::SendError;
use qcat_alert::delivery::{Backoff, Budget};
use qcat_alert::integrations::Integration;
use qcat_alert::notify::{Notification, Status};
use qcat_alert::outbox::{self, Fence, OutboxRow, OutboxState, Outcome};
use qcat_runtime::TaskContext;

use super::ALERT_DUTY;
use super::routing::LoadedRouting;
use super::views::Payload;
use crate::Api;

/// Rows claimed per round.
const CLAIM_LIMIT: i64 = 500;
/// A claim outlives an attempt's timeout by this much.
const CLAIM_SLACK_MS: i64 = 5_000;
/// The longest wait between retries.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(600);
/// Groups a webhook or an Alertmanager is sent to at the same time (a crash can repeat
/// this many sends, each with its key).
pub const PARALLEL_SENDS: usize = 8;

/// Where the outcomes of a round's sends are recorded: each as soon as it is known, so a
/// kill after a send repeats at most the sends still in flight. The outcomes that arrive
/// while a commit runs go together in the next one (a group commit), so many sends in
/// flight cost few transactions.
struct Settler<'a> {
    store: &'a qcat_store::Store,
    fence: &'a Fence,
    /// Outcomes not yet committed, each with its ticket (in arrival order).
    pending: std::sync::Mutex<Pending>,
    /// Held by the one settle committing; the others wait, then find theirs committed.
    commit: tokio::sync::Mutex<()>,
    /// Every ticket up to this one is committed.
    committed: AtomicU64,
    /// The fence no longer held: stop sending.
    deposed: AtomicBool,
}

#[derive(Default)]
struct Pending {
    last_ticket: u64,
    outcomes: Vec<(u64, String, Outcome)>,
}

impl<'a> Settler<'a> {
    fn new(store: &'a qcat_store::Store, fence: &'a Fence) -> Self {
        Self {
            store,
            fence,
            pending: std::sync::Mutex::default(),
            commit: tokio::sync::Mutex::new(()),
            committed: AtomicU64::new(0),
            deposed: AtomicBool::new(false),
        }
    }

    fn deposed(&self) -> bool {
        self.deposed.load(Ordering::Acquire)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `outcome` for `key`, returning once it is committed (with others, or by a
    /// commit of its own).
    async fn settle(&self, key: &str, outcome: Outcome) -> Result<(), String> {
        let ticket = {
            let mut pending = self.pending();
            pending.last_ticket += 1;
            let ticket = pending.last_ticket;
            pending.outcomes.push((ticket, key.to_owned(), outcome));
            ticket
        };
        let _turn = self.commit.lock().await;
        if self.committed.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        // Ours is still pending (no commit runs but this one): commit everything pending.
        let batch = std::mem::take(&mut self.pending().outcomes);
        let upto = batch.last().map_or(ticket, |(ticket, ..)| *ticket);
        let outcomes: Vec<(String, Outcome)> = batch
            .iter()
            .map(|(_, key, outcome)| (key.clone(), outcome.clone()))
            .collect();
        match outbox::settle_many(self.store, self.fence, &outcomes, qcat_core::time::now_ms())
            .await
        {
            Ok(held) => {
                if !held {
                    self.deposed.store(true, Ordering::Release);
                }
                self.committed.store(upto, Ordering::Release);
                Ok(())
            }
            Err(err) => {
                // Put back for the next settle to try; a claim that runs out meanwhile
                // makes the row claimable again (at least once).
                let mut pending = self.pending();
                let newer = std::mem::take(&mut pending.outcomes);
                pending.outcomes = batch.into_iter().chain(newer).collect();
                Err(err.to_string())
            }
        }
    }

    async fn hand_over(&self, rows: &[OutboxRow]) -> Result<(), String> {
        if !rows.is_empty() {
            outbox::enqueue(self.store, rows)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl Api {
    /// The sender's loop: lead, then deliver whatever is due — woken when rows are queued,
    /// otherwise at the next row's due time (at most a second apart).
    pub(crate) async fn run_alert_delivery(&self, context: &TaskContext) -> Result<(), String> {
        let settings = &self.inner.config.config.config.alerting;
        let client = qcat_alert::channels::http_client(settings.timeout).map_err(|e| e.message)?;
        while let Some(term) = self.lead(ALERT_DUTY, context).await {
            let fence = Fence {
                duty: ALERT_DUTY,
                holder: self.runtime().member.clone(),
                token: term.token,
            };
            let mut budgets: HashMap<String, Vec<Budget>> = HashMap::new();
            let mut recorded_ms = 0;
            while self
                .current_term(ALERT_DUTY)
                .is_some_and(|now| now.token == term.token)
            {
                let next = match self.delivery_round(&fence, &client, &mut budgets).await {
                    Ok(Some(next)) => next,
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "delivery round failed; retried");
                        qcat_core::time::now_ms() + 1000
                    }
                };
                let now = qcat_core::time::now_ms();
                if now - recorded_ms >= 10_000 {
                    recorded_ms = now;
                    self.record_delivery_series().await;
                }
                let wait = (next - now).clamp(0, 1000) as u64;
                tokio::select! {
                    alive = context.sleep(Duration::from_millis(wait)) => {
                        if !alive {
                            return Ok(());
                        }
                    }
                    () = self.inner.alert.deliver.notified() => {}
                }
            }
        }
        Ok(())
    }

    /// One round; the time the next row is due, or `None` when deposed.
    async fn delivery_round(
        &self,
        fence: &Fence,
        client: &reqwest::Client,
        budgets: &mut HashMap<String, Vec<Budget>>,
    ) -> Result<Option<i64>, String> {
        let store = self.store().map_err(|err| err.message.clone())?.clone();
        let settings = self.inner.config.config.config.alerting.clone();
        let now = qcat_core::time::now_ms();
        // Idle, nothing is written: a claim is a write transaction, so one is made only
        // when a row is due.
        let due = outbox::next_due(&store).await.map_err(|e| e.to_string())?;
        if due.is_none_or(|due| due > now) {
            return Ok(Some(due.unwrap_or(i64::MAX)));
        }
        let claim_until = now + 3 * settings.timeout.as_millis() as i64 + CLAIM_SLACK_MS;
        let Some(rows) = outbox::claim_due(&store, fence, now, claim_until, CLAIM_LIMIT)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        if !rows.is_empty() {
            let routing = self.loaded_routing().await.map_err(|err| err.message)?;
            let mut by_integration: BTreeMap<(String, String), Vec<OutboxRow>> = BTreeMap::new();
            for row in rows {
                by_integration
                    .entry((row.receiver.clone(), row.integration.clone()))
                    .or_default()
                    .push(row);
            }
            let backoff = Backoff {
                retry_interval: settings.retry_interval,
                retry_count: settings.retry_count,
                max_interval: MAX_RETRY_WAIT,
            };
            let settler = Settler::new(&store, fence);
            let settler = &settler;
            let mut work = Vec::new();
            for ((receiver, integration_id), rows) in by_integration {
                let integration = routing
                    .integrations
                    .get(&receiver)
                    .and_then(|list| list.iter().find(|i| i.id == integration_id));
                let budget = budgets
                    .entry(format!("{receiver}/{integration_id}"))
                    .or_insert_with(|| {
                        let mut list =
                            vec![Budget::new(settings.rate_limit, settings.rate_limit_window)];
                        if let Some((limit, window)) =
                            integration.and_then(Integration::service_budget)
                        {
                            list.push(Budget::new(limit, window));
                        }
                        list
                    });
                // Each integration's budgets go with its own future (no sharing).
                let mut own = std::mem::take(budget);
                let routing = &routing;
                let backoff = &backoff;
                work.push(async move {
                    let done = self
                        .deliver_integration(
                            client,
                            routing,
                            &receiver,
                            integration,
                            rows,
                            &mut own,
                            backoff,
                            settler,
                        )
                        .await;
                    (format!("{receiver}/{integration_id}"), own, done)
                });
            }
            let results = futures_util::future::join_all(work).await;
            for (budget_key, own, done) in results {
                budgets.insert(budget_key, own);
                done?;
            }
            if settler.deposed() {
                return Ok(None);
            }
        }
        let next = outbox::next_due(&store)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or(i64::MAX);
        Ok(Some(next))
    }

    /// Sends one integration's claimed rows within its budgets: each group's in order,
    /// several groups at a time where a repeat is harmless, a digest of the excess last.
    #[allow(clippy::too_many_arguments)]
    async fn deliver_integration(
        &self,
        client: &reqwest::Client,
        routing: &LoadedRouting,
        receiver: &str,
        integration: Option<&Integration>,
        rows: Vec<OutboxRow>,
        budgets: &mut [Budget],
        backoff: &Backoff,
        settler: &Settler<'_>,
    ) -> Result<(), String> {
        let Some(integration) = integration else {
            let why = routing
                .problems
                .iter()
                .find(|p| p.starts_with(&format!("receivers[{receiver}]")))
                .cloned()
                .unwrap_or_else(|| {
                    format!("receiver {receiver} no longer has this integration in the routing")
                });
            for row in rows {
                let outcome = fail(backoff, &row, &SendError::retry(why.clone()));
                settler.settle(&row.key, outcome).await?;
            }
            return Ok(());
        };
        let now = qcat_core::time::now_ms();
        let free = free_slots(budgets, now, rows.len());
        if free == 0 {
            let due = budgets
                .iter_mut()
                .map(|b| b.next_free_ms(now))
                .max()
                .unwrap_or(now);
            for row in rows {
                settler
                    .settle(&row.key, Outcome::Defer { due_ms: due })
                    .await?;
            }
            return Ok(());
        }
        // What fits goes one by one; with more waiting than slots, the last slot carries
        // the rest as one digest.
        let (single, folded): (Vec<OutboxRow>, Vec<OutboxRow>) = if rows.len() <= free {
            (rows, Vec::new())
        } else {
            let mut rows = rows;
            let folded = rows.split_off(free - 1);
            (rows, folded)
        };
        let sends = single.len() + usize::from(!folded.is_empty());
        let now = qcat_core::time::now_ms();
        for budget in budgets.iter_mut() {
            for _ in 0..sends {
                budget.try_take(now);
            }
        }
        // One lane per group, in claim order: a group's notifications go one after another.
        let mut lanes: Vec<Vec<OutboxRow>> = Vec::new();
        let mut lane_of: HashMap<String, usize> = HashMap::new();
        for row in single {
            let group = serde_json::from_str::<Payload>(&row.payload)
                .map_or_else(|_| row.key.clone(), |p| p.notification.group_key);
            let lane = *lane_of.entry(group).or_insert_with(|| {
                lanes.push(Vec::new());
                lanes.len() - 1
            });
            lanes[lane].push(row);
        }
        let outcomes: Vec<Result<(), String>> = futures_util::stream::iter(lanes)
            .map(|lane| async move {
                for row in lane {
                    if settler.deposed() {
                        // Another process leads now; what is left is its to send.
                        return Ok(());
                    }
                    self.send_batch(
                        client,
                        routing,
                        receiver,
                        integration,
                        vec![row],
                        backoff,
                        settler,
                    )
                    .await?;
                }
                Ok(())
            })
            .buffer_unordered(if integration.repeat_is_harmless() {
                PARALLEL_SENDS
            } else {
                1
            })
            .collect()
            .await;
        outcomes.into_iter().collect::<Result<(), String>>()?;
        if !folded.is_empty() && !settler.deposed() {
            self.send_batch(
                client,
                routing,
                receiver,
                integration,
                folded,
                backoff,
                settler,
            )
            .await?;
        }
        Ok(())
    }

    /// Sends one notification, or the digest of several, and settles what it came to.
    #[allow(clippy::too_many_arguments)]
    async fn send_batch(
        &self,
        client: &reqwest::Client,
        routing: &LoadedRouting,
        receiver: &str,
        integration: &Integration,
        batch: Vec<OutboxRow>,
        backoff: &Backoff,
        settler: &Settler<'_>,
    ) -> Result<(), String> {
        let kind = integration.kind();
        let now = qcat_core::time::now_ms();
        let payloads: Vec<Payload> = batch
            .iter()
            .filter_map(|row| serde_json::from_str(&row.payload).ok())
            .collect();
        let notification = if payloads.len() == 1 {
            payloads[0].notification.clone()
        } else {
            digest(receiver, payloads.iter().map(|p| &p.notification))
        };
        let chart = match integration.channel {
            qcat_alert::integrations::Channel::Email(_) => self.alert_chart(&notification).await,
            _ => None,
        };
        let created = batch.iter().map(|r| r.created_ms).min().unwrap_or(now);
        // A digest is named by the keys it folds (the same rows again, the same key).
        let key = match batch.as_slice() {
            [row] => row.key.clone(),
            rows => format!(
                "digest:{}",
                qcat_alert::notify::fingerprint(
                    &[(
                        "keys".to_owned(),
                        rows.iter()
                            .map(|r| r.key.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    )]
                    .into()
                )
            ),
        };
        let sent = if payloads.is_empty() {
            Err(SendError::permanent(
                "the queued notification does not parse",
            ))
        } else {
            integration
                .send(
                    client,
                    &notification,
                    &key,
                    qcat_core::time::now_ms(),
                    chart,
                )
                .await
        };
        let at = qcat_core::time::now_ms();
        match sent {
            Ok(()) => {
                self.inner.alert.count(receiver, kind, |stats| {
                    stats.sent += batch.len() as u64;
                    if batch.len() > 1 {
                        stats.digests += 1;
                    }
                    for row in &batch {
                        stats.observe_latency((at - row.created_ms).max(0) as f64 / 1000.0);
                    }
                });
                tracing::info!(receiver, integration = %integration.id, notifications = batch.len(), latency_ms = at - created, "alert notification sent");
                for row in batch {
                    settler.settle(&row.key, Outcome::Sent).await?;
                }
            }
            Err(err) => {
                tracing::warn!(receiver, integration = %integration.id, error = %err.message, "alert notification failed");
                for row in batch {
                    let outcome = fail(backoff, &row, &err);
                    self.inner
                        .alert
                        .count(receiver, kind, |stats| match outcome {
                            Outcome::Retry { .. } => stats.retried += 1,
                            _ => stats.failed += 1,
                        });
                    let payload: Option<Payload> = serde_json::from_str(&row.payload).ok();
                    if let Some(payload) = payload.filter(|p| p.fallback_of.is_none()) {
                        let copies = fallback_rows(routing, receiver, &row, &payload, at);
                        if !copies.is_empty() {
                            self.inner
                                .alert
                                .count(receiver, kind, |stats| stats.fallbacks += 1);
                        }
                        settler.hand_over(&copies).await?;
                    }
                    settler.settle(&row.key, outcome).await?;
                }
            }
        }
        Ok(())
    }

    /// The chart of the first alert's series around its start, for e-mail (`None` when
    /// the alert has no stored series or the chart cannot be drawn).
    async fn alert_chart(&self, notification: &Notification) -> Option<Vec<u8>> {
        let alert = notification.alerts.first()?;
        let series = alert.annotations.get("qcat_series")?;
        let selector = qcat_monitor::tsdb::Selector::parse(series).ok()?;
        let metrics = self.metrics().await.ok()?;
        let info = metrics.series(&selector).await.ok()?.into_iter().next()?;
        let start = alert
            .starts_at
            .parse::<jiff::Timestamp>()
            .ok()?
            .as_millisecond();
        let from = start - 30 * 60_000;
        let to = (start + 30 * 60_000).min(qcat_core::time::now_ms());
        let points = metrics.minute_means(&info, from, to).await.ok()?;
        let chart = qcat_report::chart::TimeChart {
            title: series.clone(),
            y_label: String::new(),
            lines: vec![qcat_report::chart::Line {
                label: info.key.name.clone(),
                points: points.into_iter().map(|(t, v)| (t, Some(v))).collect(),
                tone: qcat_report::chart::Tone::Primary,
            }],
            band: None,
            shaded: vec![(start, to)],
            shaded_label: alert.labels.get("alertname").cloned().unwrap_or_default(),
            zone: self.baseline_settings().zone,
        };
        tokio::task::spawn_blocking(move || chart.render_png(720, 260).ok())
            .await
            .ok()
            .flatten()
    }

    /// This process's delivery counters as series in the metric store (so the window can
    /// chart them and a rule can watch them).
    async fn record_delivery_series(&self) {
        let stats = self.inner.alert.snapshot();
        if stats.is_empty() {
            return;
        }
        let mut points = Vec::new();
        for ((receiver, channel), counts) in stats {
            let key = |name: &str| {
                qcat_monitor::tsdb::SeriesKey::new(name)
                    .with("receiver", receiver.clone())
                    .with("channel", channel.clone())
            };
            points.push((key("alert_notifications_sent_total"), counts.sent as f64));
            points.push((
                key("alert_notifications_failed_total"),
                counts.failed as f64,
            ));
            points.push((
                key("alert_notifications_retried_total"),
                counts.retried as f64,
            ));
            if counts.sent > 0 {
                points.push((
                    key("alert_notification_latency_seconds_mean"),
                    counts.latency_sum_s / counts.sent as f64,
                ));
            }
        }
        self.record_points(points).await;
    }
}

/// How many sends every budget allows now (at most `wanted`).
fn free_slots(budgets: &mut [Budget], now: i64, wanted: usize) -> usize {
    budgets
        .iter_mut()
        .map(|budget| {
            let mut probe = budget.clone();
            let (fits, _) = probe.plan(wanted, now);
            fits
        })
        .min()
        .unwrap_or(wanted)
}

/// What a failed attempt comes to: a retry after the backoff, or a dead letter.
fn fail(backoff: &Backoff, row: &OutboxRow, err: &SendError) -> Outcome {
    if !err.retryable {
        return Outcome::Dead {
            error: err.message.clone(),
        };
    }
    let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX);
    match backoff.next_attempt_ms(
        &row.key,
        attempt,
        qcat_core::time::now_ms(),
        err.retry_after,
    ) {
        Some(due_ms) => Outcome::Retry {
            due_ms,
            error: err.message.clone(),
        },
        None => Outcome::Dead {
            error: format!("{} (after {attempt} attempts)", err.message),
        },
    }
}

/// One message for several waiting notifications of a receiver: every alert they carry,
/// firing if any fires.
fn digest<'a>(
    receiver: &str,
    notifications: impl Iterator<Item = &'a Notification>,
) -> Notification {
    let mut alerts = Vec::new();
    let mut count = 0;
    for notification in notifications {
        count += 1;
        for alert in &notification.alerts {
            if !alerts.iter().any(|a: &qcat_alert::notify::AlertItem| {
                a.fingerprint == alert.fingerprint && a.status == alert.status
            }) {
                alerts.push(alert.clone());
            }
        }
    }
    let status = if alerts.iter().any(|a| a.status == Status::Firing) {
        Status::Firing
    } else {
        Status::Resolved
    };
    Notification {
        receiver: receiver.to_owned(),
        status,
        group_key: format!("digest of {count}"),
        group_labels: [(
            "alertname".to_owned(),
            format!("digest of {count} notifications"),
        )]
        .into(),
        common_labels: Notification::common(&alerts, |a| &a.labels),
        common_annotations: Notification::common(&alerts, |a| &a.annotations),
        external_url: String::new(),
        alerts,
        truncated_alerts: 0,
    }
}

/// Copies of a failed notification for the receiver's fallback (each integration once:
/// the key is the original's).
fn fallback_rows(
    routing: &LoadedRouting,
    receiver: &str,
    row: &OutboxRow,
    payload: &Payload,
    now: i64,
) -> Vec<OutboxRow> {
    let Some(fallback) = routing
        .config
        .receivers
        .iter()
        .find(|r| r.name == receiver)
        .and_then(qcat_alert::integrations::fallback)
        .filter(|f| f != receiver)
    else {
        return Vec::new();
    };
    let mut notification = payload.notification.clone();
    notification.receiver = fallback.clone();
    let Ok(text) = serde_json::to_string(&Payload {
        notification: notification.clone(),
        fallback_of: Some(row.key.clone()),
    }) else {
        return Vec::new();
    };
    routing
        .integrations
        .get(&fallback)
        .into_iter()
        .flatten()
        .filter(|integration| integration.wants(&notification))
        .map(|integration| OutboxRow {
            key: format!("{}>{fallback}:{}", row.key, integration.id),
            receiver: fallback.clone(),
            integration: integration.id.clone(),
            payload: text.clone(),
            state: OutboxState::Queued,
            attempts: 0,
            due_ms: now,
            created_ms: now,
            sent_ms: None,
            last_error: None,
        })
        .collect()
}

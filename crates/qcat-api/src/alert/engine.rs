//! The `alerting` duty's engine: whichever console or agent leads it evaluates the rules
//! every `alerting.evaluation_interval` (threshold and absence on stored series, open
//! baseline deviations, events), writes each firing as an episode, feeds every changed
//! episode — rules', events' and those Prometheus posted — into the dispatcher, and turns
//! each due group into outbox rows, one per integration of its receiver, written with the
//! group's notification-log entry in one fenced transaction.
//!
//! Nothing is lost or said twice across a restart or failover: a new leader takes up the
//! firing episodes (rules go on firing instead of starting anew), rebuilds the groups, and
//! the notification log keeps a group that says the same thing within its repeat interval
//! from being queued again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use qcat_alert::Labels;
use qcat_alert::dispatch::{Dispatcher, IncomingAlert};
use qcat_alert::outbox::{Fence, OutboxRow};
use qcat_alert::rules::{Evaluator, Transition};
use qcat_alert::state::{self, Episode, NflogEntry};
use qcat_monitor::tsdb::{MetricStore, Selector, Tier};
use qcat_runtime::TaskContext;

use super::ALERT_DUTY;
use super::routing::LoadedRouting;
use super::rules::{CompiledRule, RuleSource, RuleSpec};
use super::silences::to_silence;
use super::views::Payload;
use crate::Api;

/// A series whose newest sample is older than this has no value now (Prometheus'
/// staleness is 5 minutes; a trading desk wants to know sooner).
pub const LOOKBACK_MS: i64 = 120_000;
/// Readings arriving faster than this are evaluated together.
pub const MIN_EVALUATION_GAP_MS: i64 = 200;
/// Episodes changed this long before the last one fed are read again (writers on other
/// processes' clocks): feeding one twice changes nothing.
const FEED_OVERLAP_MS: i64 = 5_000;
/// How often the history is pruned.
const PRUNE_EVERY_MS: i64 = 3_600_000;

struct LiveRule {
    version: i64,
    compiled: CompiledRule,
    evaluator: Evaluator,
}

#[derive(Default)]
struct Engine {
    rules: HashMap<String, LiveRule>,
    dispatcher: Dispatcher,
    routing_version: Option<i64>,
    fed_until_ms: i64,
    next_eval_ms: i64,
    last_eval_ms: i64,
    /// Alerts that fired within their rule's cooldown: listed, not notified.
    quiet: HashSet<String>,
    /// When history older than `alerting.history_retention` is next deleted.
    next_prune_ms: i64,
}

/// One observation: the alert's series labels, its value, and the series it came from.
type Observation = (Labels, Option<f64>, Option<String>);

impl Api {
    /// The duty's loop: lead, then cycle — at each evaluation time, each group's tick, and
    /// whenever an alert arrives or a rule or the routing is saved.
    pub(crate) async fn run_alerting(&self, context: &TaskContext) -> Result<(), String> {
        let interval = self.inner.config.config.config.alerting.evaluation_interval;
        while let Some(term) = self.lead(ALERT_DUTY, context).await {
            let fence = Fence {
                duty: ALERT_DUTY,
                holder: self.runtime().member.clone(),
                token: term.token,
            };
            let mut engine = Engine::default();
            tracing::info!("evaluating alert rules and dispatching notifications");
            while self
                .current_term(ALERT_DUTY)
                .is_some_and(|now| now.token == term.token)
            {
                let next = match self.alert_cycle(&fence, &mut engine, interval).await {
                    Ok(Some(next)) => next,
                    Ok(None) => break, // deposed
                    Err(err) => {
                        // A group flushed in memory may not have reached the outbox: the
                        // groups are rebuilt from the store, and the notification log
                        // keeps what did reach it from being queued twice.
                        tracing::warn!(error = %err, "alerting cycle failed; groups rebuilt and retried");
                        engine.routing_version = None;
                        qcat_core::time::now_ms() + 1000
                    }
                };
                let wait = (next - qcat_core::time::now_ms()).clamp(0, 1000) as u64;
                tokio::select! {
                    alive = context.sleep(Duration::from_millis(wait)) => {
                        if !alive {
                            return Ok(());
                        }
                    }
                    () = self.inner.alert.wake.notified() => {}
                    () = self.inner.alert.samples.notified() => {
                        // A fresh reading: evaluate now, or as soon as the gap allows.
                        engine.next_eval_ms = engine
                            .next_eval_ms
                            .min(engine.last_eval_ms + MIN_EVALUATION_GAP_MS);
                    }
                }
            }
        }
        Ok(())
    }

    /// One cycle; the time the next is due, or `None` when the fence no longer holds.
    async fn alert_cycle(
        &self,
        fence: &Fence,
        engine: &mut Engine,
        interval: Duration,
    ) -> Result<Option<i64>, String> {
        let store = self.store().map_err(|err| err.message.clone())?.clone();
        let now = qcat_core::time::now_ms();
        let routing = self.loaded_routing().await.map_err(|err| err.message)?;
        if engine.routing_version != Some(routing.version) {
            // A new routing (or a new term): the groups are rebuilt from every firing
            // episode; the notification log keeps them from repeating what they said.
            engine.dispatcher = Dispatcher::default();
            engine.routing_version = Some(routing.version);
            engine.fed_until_ms = i64::MIN;
            for episode in state::firing(&store, now)
                .await
                .map_err(|e| e.to_string())?
            {
                engine.fed_until_ms = engine.fed_until_ms.max(episode.updated_ms);
                feed(engine, &routing, &episode, now);
            }
        }
        if now >= engine.next_eval_ms {
            self.evaluate_rules(engine, &store, now).await?;
            engine.last_eval_ms = now;
            engine.next_eval_ms = now + interval.as_millis() as i64;
        }
        // Every episode changed since the last feed: rules', events', Prometheus'.
        let changed =
            state::changed_since(&store, engine.fed_until_ms.saturating_sub(FEED_OVERLAP_MS))
                .await
                .map_err(|e| e.to_string())?;
        for episode in &changed {
            engine.fed_until_ms = engine.fed_until_ms.max(episode.updated_ms);
            feed(engine, &routing, episode, now);
        }
        if !self.dispatch(fence, engine, &routing, &store, now).await? {
            return Ok(None);
        }
        if now >= engine.next_prune_ms {
            engine.next_prune_ms = now + PRUNE_EVERY_MS;
            self.prune_alert_history(&store, now).await;
        }
        let next = engine
            .dispatcher
            .next_due_ms()
            .unwrap_or(i64::MAX)
            .min(engine.next_eval_ms);
        Ok(Some(next))
    }

    /// Forgets what ended before `alerting.history_retention`; a failure is logged and
    /// tried again at the next hour (nothing waits on it).
    async fn prune_alert_history(&self, store: &qcat_store::Store, now: i64) {
        let retention = self.inner.config.config.config.alerting.history_retention;
        let cutoff = now.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        match qcat_alert::retention::prune(store, cutoff).await {
            Ok(pruned) if pruned.total() > 0 => tracing::info!(
                episodes = pruned.episodes,
                notifications = pruned.notifications,
                silences = pruned.silences,
                notification_log = pruned.nflog,
                "alert history older than alerting.history_retention deleted"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "pruning the alert history failed"),
        }
    }

    /// Evaluates every enabled rule and writes its transitions as episodes.
    async fn evaluate_rules(
        &self,
        engine: &mut Engine,
        store: &qcat_store::Store,
        now: i64,
    ) -> Result<(), String> {
        let stored = state::rules(store).await.map_err(|e| e.to_string())?;
        if stored.is_empty() && engine.rules.is_empty() {
            return Ok(());
        }
        let mut wanted: BTreeMap<String, (i64, CompiledRule)> = BTreeMap::new();
        for rule in stored {
            let Ok(spec) = serde_json::from_str::<RuleSpec>(&rule.definition) else {
                tracing::warn!(rule = %rule.name, "a stored rule does not parse; skipped");
                continue;
            };
            if !spec.enabled {
                continue;
            }
            match spec.compile() {
                Ok(compiled) => {
                    wanted.insert(rule.name, (rule.version, compiled));
                }
                Err(err) => tracing::warn!(rule = %rule.name, error = %err.message, "rule skipped"),
            }
        }
        let firing = state::firing(store, now).await.map_err(|e| e.to_string())?;
        let mut episodes: Vec<Episode> = Vec::new();
        // Rules removed or disabled: their alerts end now.
        let gone: Vec<String> = engine
            .rules
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            engine.rules.remove(&name);
        }
        let live_sources: HashSet<String> =
            wanted.keys().map(|name| format!("rule:{name}")).collect();
        for episode in &firing {
            if episode.source.starts_with("rule:") && !live_sources.contains(&episode.source) {
                episodes.push(Episode {
                    ends_ms: Some(now),
                    updated_ms: now,
                    ..episode.clone()
                });
            }
        }
        let metrics = self.metrics().await.map_err(|err| err.message)?;
        for (name, (version, compiled)) in wanted {
            let source = format!("rule:{name}");
            let live = match engine.rules.get_mut(&name) {
                Some(live) if live.version == version => live,
                _ => {
                    // New (or changed): take up what it had firing.
                    let mut evaluator = Evaluator::new(compiled.rule.clone());
                    for episode in firing.iter().filter(|e| e.source == source) {
                        evaluator.restore_firing(episode.labels.clone(), episode.starts_ms, now);
                    }
                    engine.rules.insert(
                        name.clone(),
                        LiveRule {
                            version,
                            compiled,
                            evaluator,
                        },
                    );
                    engine.rules.get_mut(&name).expect("just inserted")
                }
            };
            let observations = match self
                .observe(&metrics, store, &live.compiled.source, now)
                .await
            {
                Ok(observations) => observations,
                Err(err) => {
                    tracing::warn!(rule = %name, error = %err, "rule not evaluated");
                    continue;
                }
            };
            let values: Vec<(Labels, Option<f64>)> = observations
                .iter()
                .map(|(labels, value, _)| (labels.clone(), *value))
                .collect();
            let transitions = live.evaluator.evaluate(now, &values);
            for transition in transitions {
                match transition {
                    Transition::Fired {
                        fingerprint,
                        labels,
                        since_ms,
                        flapping,
                        notify,
                    } => {
                        // The observation behind it: its value for the annotations, its
                        // series for the e-mail's chart.
                        let observed = observations.iter().find(|(series, _, _)| {
                            labels
                                .iter()
                                .all(|(k, v)| series.get(k).is_none_or(|sv| sv == v))
                                && series.iter().all(|(k, v)| labels.get(k) == Some(v))
                        });
                        let mut annotations = qcat_alert::rules::render_annotations(
                            &live.compiled.rule.annotations,
                            &labels,
                            observed.and_then(|o| o.1),
                        );
                        if let Some(series) = observed.and_then(|o| o.2.clone()) {
                            annotations.insert("qcat_series".into(), series);
                        }
                        if notify {
                            engine.quiet.remove(&fingerprint);
                        } else {
                            engine.quiet.insert(fingerprint.clone());
                        }
                        episodes.push(Episode {
                            fingerprint,
                            source: source.clone(),
                            labels,
                            annotations,
                            generator_url: String::new(),
                            starts_ms: since_ms,
                            ends_ms: None,
                            updated_ms: now,
                            flapping,
                        });
                    }
                    Transition::Resolved {
                        fingerprint, at_ms, ..
                    } => {
                        if let Some(open) = firing.iter().find(|e| e.fingerprint == fingerprint) {
                            episodes.push(Episode {
                                ends_ms: Some(at_ms),
                                updated_ms: now,
                                ..open.clone()
                            });
                        }
                    }
                }
            }
        }
        state::upsert_episodes(store, &episodes)
            .await
            .map_err(|e| e.to_string())
    }

    /// A rule's observations now.
    async fn observe(
        &self,
        metrics: &MetricStore,
        store: &qcat_store::Store,
        source: &RuleSource,
        now: i64,
    ) -> Result<Vec<Observation>, String> {
        match source {
            RuleSource::Series(selector) => {
                let found = metrics.series(selector).await.map_err(|e| e.to_string())?;
                if found.is_empty() {
                    // Nothing matches: one absent series, labelled by the selector's
                    // equality matchers (as Prometheus' absent() labels it).
                    return Ok(vec![(selector_labels(selector), None, None)]);
                }
                let mut out = Vec::new();
                for info in found {
                    let rows = metrics
                        .rows(&info, Tier::Raw, now - LOOKBACK_MS, now)
                        .await
                        .map_err(|e| e.to_string())?;
                    let value = rows
                        .last()
                        .and_then(|(_, fields)| fields.first().copied())
                        .filter(|v| !v.is_nan());
                    out.push((
                        info.key.labels.clone().into_iter().collect(),
                        value,
                        Some(info.key.canonical()),
                    ));
                }
                Ok(out)
            }
            RuleSource::Deviations(selector) => {
                let open = qcat_monitor::baseline::store::deviations(
                    store,
                    now - 7 * 86_400_000,
                    now + 1,
                    None,
                    10_000,
                )
                .await
                .map_err(|e| e.to_string())?;
                let found = metrics.series(selector).await.map_err(|e| e.to_string())?;
                Ok(found
                    .into_iter()
                    .map(|info| {
                        let key = info.key.canonical();
                        let score = open
                            .iter()
                            .find(|d| d.series == key && d.deviation.end_ms.is_none())
                            .map(|d| d.deviation.peak_score);
                        (info.key.labels.into_iter().collect(), score, Some(key))
                    })
                    .collect())
            }
            RuleSource::Event(event, parameter) => Ok(self
                .event_observations(event, *parameter, now)
                .await?
                .into_iter()
                .map(|(labels, value)| (labels, value, None))
                .collect()),
        }
    }

    /// Flushes the due groups (silences, inhibitions and mute times applied) and queues
    /// each notification for its receiver's integrations; `false` when deposed.
    async fn dispatch(
        &self,
        fence: &Fence,
        engine: &mut Engine,
        routing: &LoadedRouting,
        store: &qcat_store::Store,
        now: i64,
    ) -> Result<bool, String> {
        if engine.dispatcher.next_due_ms().is_none_or(|due| due > now) {
            return Ok(true);
        }
        let silences: Vec<_> = state::silences(store, now)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(to_silence)
            .collect();
        let inhibit_rules = &routing.config.inhibit_rules;
        // Inhibition looks at every firing alert; without inhibit rules there is no need.
        let firing: Vec<Labels> = if inhibit_rules.is_empty() {
            Vec::new()
        } else {
            state::firing(store, now)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|e| e.labels)
                .collect()
        };
        let intervals = &routing.config.intervals;
        let in_any = |names: &[String]| {
            names.iter().any(|name| {
                intervals
                    .get(name)
                    .is_some_and(|list| qcat_alert::timeinterval::any_contains(list, now))
            })
        };
        let notifications = engine.dispatcher.flush_muted(
            now,
            |labels| {
                silences.iter().any(|s| s.mutes(labels, now))
                    || qcat_alert::inhibit::inhibited(inhibit_rules, labels, &firing)
            },
            |mute, active| in_any(mute) || (!active.is_empty() && !in_any(active)),
        );
        let keys: Vec<(String, String)> = notifications
            .iter()
            .map(|n| (n.receiver.clone(), n.group_key.clone()))
            .collect();
        let previous = state::nflogs(store, &keys)
            .await
            .map_err(|e| e.to_string())?;
        let mut recorded = Vec::new();
        for mut notification in notifications {
            let told = previous.get(&(
                notification.receiver.clone(),
                notification.group_key.clone(),
            ));
            // As Alertmanager: an alert is told resolved only if it was told firing (one
            // that fired and resolved within group_wait is news to no one).
            notification.alerts.retain(|alert| {
                alert.status == qcat_alert::notify::Status::Firing
                    || told.is_some_and(|t| t.firing.contains(&alert.fingerprint))
            });
            if notification.alerts.is_empty() {
                continue;
            }
            notification.common_labels =
                qcat_alert::notify::Notification::common(&notification.alerts, |a| &a.labels);
            notification.common_annotations =
                qcat_alert::notify::Notification::common(&notification.alerts, |a| &a.annotations);
            let repeat_ms = routing
                .route_of(&notification.group_key)
                .map_or(4 * 3_600_000, |r| r.opts.repeat_interval.as_millis() as i64);
            let digest = notification.digest();
            let previous = previous.get(&(
                notification.receiver.clone(),
                notification.group_key.clone(),
            ));
            if previous.is_some_and(|p| p.digest == digest && now - p.notified_ms < repeat_ms) {
                // Said already (before a restart, or by the leader before this one).
                continue;
            }
            // A group's first notification is numbered by its time, not 1: once its log
            // entry is pruned (`alerting.history_retention`), the next one cannot take the
            // key of an older row still in the outbox (keys are enqueued once).
            let seq = previous.map_or(now, |p| p.seq + 1);
            let group_hash = &qcat_alert::notify::fingerprint(
                &[("group".to_owned(), notification.group_key.clone())].into(),
            );
            let payload = serde_json::to_string(&Payload {
                notification: notification.clone(),
                fallback_of: None,
            })
            .map_err(|e| e.to_string())?;
            let rows: Vec<OutboxRow> = routing
                .integrations
                .get(&notification.receiver)
                .into_iter()
                .flatten()
                .filter(|integration| integration.wants(&notification))
                .map(|integration| OutboxRow {
                    key: format!(
                        "{}:{group_hash}:{seq}:{}",
                        notification.receiver, integration.id
                    ),
                    receiver: notification.receiver.clone(),
                    integration: integration.id.clone(),
                    payload: payload.clone(),
                    state: qcat_alert::outbox::OutboxState::Queued,
                    attempts: 0,
                    due_ms: now,
                    created_ms: now,
                    sent_ms: None,
                    last_error: None,
                })
                .collect();
            let firing = notification
                .alerts
                .iter()
                .filter(|a| a.status == qcat_alert::notify::Status::Firing)
                .map(|a| a.fingerprint.clone())
                .collect();
            recorded.push(state::Recorded {
                receiver: notification.receiver.clone(),
                group_key: notification.group_key.clone(),
                entry: NflogEntry {
                    digest,
                    firing,
                    seq,
                    notified_ms: now,
                },
                rows,
            });
        }
        // One transaction for every group due now: all of them are queued, or none (and
        // the groups are rebuilt and tried again).
        if !state::record_notifications(store, fence, &recorded)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(false);
        }
        let queued = recorded.iter().any(|r| !r.rows.is_empty());
        if queued {
            self.inner.alert.deliver.notify_one();
        }
        Ok(true)
    }
}

/// Feeds an episode into the dispatcher (unless its rule's cooldown keeps it quiet).
fn feed(engine: &mut Engine, routing: &LoadedRouting, episode: &Episode, now: i64) {
    if episode.firing_at(now) && engine.quiet.contains(&episode.fingerprint) {
        return;
    }
    let mut annotations = episode.annotations.clone();
    annotations.remove("qcat_series");
    engine.dispatcher.ingest(
        &routing.tree,
        IncomingAlert {
            labels: episode.labels.clone(),
            annotations,
            starts_ms: episode.starts_ms,
            ends_ms: episode.ends_ms,
            generator_url: episode.generator_url.clone(),
        },
        now,
    );
}

/// The labels a selector's equality matchers pin (for an absent series).
fn selector_labels(selector: &Selector) -> Labels {
    selector
        .matchers
        .iter()
        .filter_map(|(name, op)| match op {
            qcat_monitor::tsdb::MatchOp::Equal(value) => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

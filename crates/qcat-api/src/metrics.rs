//! The agent's own metrics in the Prometheus text format (OpenMetrics 1.0, which Prometheus
//! scrapes natively), served on `monitoring.prometheus_bind:prometheus_port` +
//! `metrics_path`: build info, the audit trail's counters (entries by action and by actor,
//! commit latency), the audit writer's queue, task health and duty leadership. The
//! registry is built fresh for each scrape from the live values, so nothing is registered
//! twice and a task started later shows up at once.

use std::net::SocketAddr;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use qcat_core::ErrorCode;
use qcat_runtime::{Restart, Stage, TaskState};

use crate::{Api, ApiError};

/// The content type of what [`Api::metrics_text`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DutyLabels {
    duty: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    receiver: String,
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

impl Api {
    /// The path metrics are served on (`monitoring.metrics_path`).
    pub fn metrics_path(&self) -> String {
        self.inner
            .config
            .config
            .config
            .monitoring
            .metrics_path
            .clone()
    }

    /// The metrics now, in the text format.
    pub fn metrics_text(&self) -> String {
        let mut registry = Registry::with_prefix("qcat");
        let runtime = self.runtime();

        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: qcat_core::VERSION.to_owned(),
                mode: format!("{:?}", runtime.mode).to_lowercase(),
            })
            .set(1);
        registry.register("build_info", "The running build (always 1)", build);

        let stats = qcat_audit::stats::snapshot();
        let total = Counter::<u64>::default();
        total.inc_by(stats.total);
        registry.register(
            "audit_events",
            "Audit entries this process committed",
            total,
        );
        let by_action = Family::<ActionLabels, Counter>::default();
        for (action, count) in &stats.by_action {
            by_action
                .get_or_create(&ActionLabels {
                    action: action.clone(),
                })
                .inc_by(*count);
        }
        registry.register(
            "audit_events_by_type",
            "Audit entries this process committed, by action",
            by_action,
        );
        let by_actor = Family::<ActorLabels, Counter>::default();
        for (actor, count) in &stats.by_actor {
            by_actor
                .get_or_create(&ActorLabels {
                    actor: qcat_core::text::escape_controls(actor).into_owned(),
                })
                .inc_by(*count);
        }
        registry.register(
            "audit_events_by_user",
            "Audit entries this process committed, by actor",
            by_actor,
        );
        let latency = CountedHistogram::of(&stats);
        registry.register_with_unit(
            "audit_processing_latency",
            "Time from an audit event being made to its entry being committed",
            prometheus_client::registry::Unit::Seconds,
            latency,
        );
        let queued = Gauge::<i64>::default();
        queued.set(
            self.access()
                .map(|access| access.audit().queued() as i64)
                .unwrap_or(0),
        );
        registry.register(
            "audit_queue_depth",
            "Audit events waiting in memory for the writer",
            queued,
        );

        let up = Family::<TaskLabels, Gauge>::default();
        let restarts = Family::<TaskLabels, Counter>::default();
        for task in runtime.tasks.health() {
            let labels = TaskLabels {
                task: task.name.clone(),
                stage: format!("{:?}", task.stage).to_lowercase(),
            };
            up.get_or_create(&labels)
                .set(i64::from(task.state == TaskState::Running));
            restarts
                .get_or_create(&labels)
                .inc_by(u64::from(task.restarts));
        }
        registry.register("task_up", "Whether the task is running (1) or not (0)", up);
        registry.register(
            "task_restarts",
            "Times the task was restarted after a failure",
            restarts,
        );

        let leading = Family::<DutyLabels, Gauge>::default();
        for duty in [
            crate::runtime::SCHEDULER_DUTY,
            crate::monitor::COLLECTION_DUTY,
        ] {
            leading
                .get_or_create(&DutyLabels {
                    duty: duty.to_owned(),
                })
                .set(i64::from(self.current_term(duty).is_some()));
        }
        registry.register(
            "duty_leader",
            "Whether this process runs the singleton duty (1) or not (0)",
            leading,
        );

        self.register_collection(&mut registry);
        self.register_backups(&mut registry);
        self.register_alerting(&mut registry);

        let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        uptime.set(self.inner.opened_at.elapsed().as_secs_f64());
        registry.register_with_unit(
            "uptime",
            "Time since this process opened the core",
            prometheus_client::registry::Unit::Seconds,
            uptime,
        );

        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::error!(error = %err, "metrics not encoded");
        }
        text
    }

    /// Collection's own numbers: per target up, scrapes, errors and the last scrape's
    /// duration; samples ingested (and refused as out of order); the metric store's size.
    fn register_collection(&self, registry: &mut Registry) {
        let stats = self.collection_stats();
        let up = Family::<TargetLabels, Gauge>::default();
        let scrapes = Family::<TargetLabels, Counter>::default();
        let errors = Family::<TargetLabels, Counter>::default();
        let duration = Family::<TargetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for target in &stats.targets {
            let labels = TargetLabels {
                target: target.name.clone(),
            };
            up.get_or_create(&labels).set(i64::from(target.up));
            scrapes.get_or_create(&labels).inc_by(target.scrapes);
            errors.get_or_create(&labels).inc_by(target.errors);
            duration
                .get_or_create(&labels)
                .set(target.last_duration_secs);
        }
        registry.register(
            "target_up",
            "Whether the monitoring target's last reading succeeded (1) or not (0)",
            up,
        );
        registry.register(
            "target_scrapes",
            "Readings of the monitoring target",
            scrapes,
        );
        registry.register(
            "target_scrape_errors",
            "Failed readings of the monitoring target",
            errors,
        );
        registry.register_with_unit(
            "target_scrape_duration",
            "How long the monitoring target's last reading took",
            prometheus_client::registry::Unit::Seconds,
            duration,
        );
        let ingested = Counter::<u64>::default();
        ingested.inc_by(stats.ingested);
        registry.register(
            "samples_ingested",
            "Samples this process added to the metric store",
            ingested,
        );
        let refused = Counter::<u64>::default();
        refused.inc_by(stats.out_of_order);
        registry.register(
            "samples_out_of_order",
            "Samples dropped for not being newer than their series' newest",
            refused,
        );
        let bytes = Gauge::<i64>::default();
        bytes.set(stats.store_bytes as i64);
        registry.register_with_unit(
            "metric_store_size",
            "The metric store's size on disk after the last flush",
            prometheus_client::registry::Unit::Bytes,
            bytes,
        );
    }

    /// Backups: the repository's summary (recomputed when backups come or go) and this
    /// process's backup and restore runs.
    /// Alert delivery per receiver and channel since this process started, and the
    /// queued → delivered latency over all of them.
    fn register_alerting(&self, registry: &mut Registry) {
        let stats = self.inner.alert.snapshot();
        let family = || Family::<ChannelLabels, Counter<u64>>::default();
        let (sent, failed, retried, digests, fallbacks) =
            (family(), family(), family(), family(), family());
        let latency_sum =
            Family::<ChannelLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        let mut all = qcat_audit::stats::AuditStats {
            latency_counts: vec![0; crate::alert::LATENCY_BUCKETS.len() + 1],
            ..Default::default()
        };
        for ((receiver, channel), counts) in &stats {
            let labels = ChannelLabels {
                receiver: receiver.clone(),
                channel: channel.clone(),
            };
            sent.get_or_create(&labels).inc_by(counts.sent);
            failed.get_or_create(&labels).inc_by(counts.failed);
            retried.get_or_create(&labels).inc_by(counts.retried);
            digests.get_or_create(&labels).inc_by(counts.digests);
            fallbacks.get_or_create(&labels).inc_by(counts.fallbacks);
            latency_sum
                .get_or_create(&labels)
                .inc_by(counts.latency_sum_s);
            all.latency_sum_secs += counts.latency_sum_s;
            for (total, count) in all.latency_counts.iter_mut().zip(counts.latency_buckets) {
                *total += count;
            }
        }
        registry.register("alert_notifications_sent", "Notifications delivered", sent);
        registry.register(
            "alert_notifications_failed",
            "Notifications that became dead letters (refused, or out of retries)",
            failed,
        );
        registry.register(
            "alert_notifications_retried",
            "Failed attempts that will be retried",
            retried,
        );
        registry.register(
            "alert_digests",
            "Digests sent for notifications over a channel's budget",
            digests,
        );
        registry.register(
            "alert_fallbacks",
            "Failed notifications handed to the receiver's fallback",
            fallbacks,
        );
        registry.register_with_unit(
            "alert_notification_latency_sum",
            "Queued-to-delivered time summed over delivered notifications",
            prometheus_client::registry::Unit::Seconds,
            latency_sum,
        );
        registry.register_with_unit(
            "alert_notification_latency",
            "Time from a notification being queued to its delivery",
            prometheus_client::registry::Unit::Seconds,
            CountedHistogram::with_bounds(&all, &crate::alert::LATENCY_BUCKETS),
        );
    }

    fn register_backups(&self, registry: &mut Registry) {
        use std::sync::atomic::Ordering::Relaxed;
        type Float = Gauge<f64, std::sync::atomic::AtomicU64>;
        let runs = &self.inner.backup.runs;
        let backups = Family::<OutcomeLabels, Counter>::default();
        backups
            .get_or_create(&OutcomeLabels {
                outcome: "ok".into(),
            })
            .inc_by(runs.backups_ok.load(Relaxed));
        backups
            .get_or_create(&OutcomeLabels {
                outcome: "failed".into(),
            })
            .inc_by(runs.backups_failed.load(Relaxed));
        registry.register(
            "backup_runs",
            "Backups this process ran, by outcome",
            backups,
        );
        let restores = Family::<OutcomeLabels, Counter>::default();
        restores
            .get_or_create(&OutcomeLabels {
                outcome: "ok".into(),
            })
            .inc_by(runs.restores_ok.load(Relaxed));
        restores
            .get_or_create(&OutcomeLabels {
                outcome: "failed".into(),
            })
            .inc_by(runs.restores_failed.load(Relaxed));
        registry.register(
            "restore_runs",
            "Restores this process ran, by outcome (failed: an error or a row-count mismatch)",
            restores,
        );
        let last_restore = Float::default();
        last_restore.set(runs.last_restore_ms.load(Relaxed) as f64 / 1000.0);
        registry.register_with_unit(
            "restore_last_duration",
            "How long this process's last restore took (0: none yet)",
            prometheus_client::registry::Unit::Seconds,
            last_restore,
        );
        let drill = Float::default();
        drill.set(runs.last_drill_ms.load(Relaxed) as f64 / 1000.0);
        registry.register_with_unit(
            "backup_drill_last_duration",
            "How long this process's last restore drill took (0: none yet)",
            prometheus_client::registry::Unit::Seconds,
            drill,
        );
        let drill_ok = Gauge::<i64>::default();
        drill_ok.set(runs.last_drill_ok.load(Relaxed) as i64 - 1);
        registry.register(
            "backup_drill_last_ok",
            "Whether the last restore drill passed its checks within the RTO (1), failed (0) or has not run (-1)",
            drill_ok,
        );
        let Some(summary) = self.backup_summary() else {
            return;
        };
        let count = Gauge::<i64>::default();
        count.set(summary.backups as i64);
        registry.register("backups", "Backups in the repository", count);
        let size = Gauge::<i64>::default();
        size.set(summary.stored_bytes as i64);
        registry.register_with_unit(
            "backup_repository_size",
            "Bytes of packs in the backup repository",
            prometheus_client::registry::Unit::Bytes,
            size,
        );
        let coverage = Float::default();
        coverage.set(summary.coverage);
        registry.register(
            "backup_verify_coverage_ratio",
            "Share of the repository verified in the last 7 days",
            coverage,
        );
        let newest = Family::<SourceLabels, Float>::default();
        let age = Family::<SourceLabels, Float>::default();
        let now_ms = qcat_core::time::now_ms();
        for (source, finished_ms) in &summary.newest_by_source {
            let labels = SourceLabels {
                source: source.clone(),
            };
            newest
                .get_or_create(&labels)
                .set(*finished_ms as f64 / 1000.0);
            age.get_or_create(&labels)
                .set((now_ms - finished_ms).max(0) as f64 / 1000.0);
        }
        registry.register(
            "backup_newest_timestamp",
            "When the newest backup of the source finished (seconds since the epoch)",
            newest,
        );
        registry.register_with_unit(
            "backup_newest_age",
            "Age of the newest backup of the source",
            prometheus_client::registry::Unit::Seconds,
            age,
        );
        let duration = Family::<TypeLabels, Float>::default();
        let logical = Family::<TypeLabels, Gauge>::default();
        let stored = Family::<TypeLabels, Gauge>::default();
        let ratio = Family::<TypeLabels, Float>::default();
        for (kind, secs, logical_bytes, stored_bytes) in &summary.newest_by_type {
            let labels = TypeLabels {
                r#type: kind.clone(),
            };
            duration.get_or_create(&labels).set(*secs);
            logical.get_or_create(&labels).set(*logical_bytes as i64);
            stored.get_or_create(&labels).set(*stored_bytes as i64);
            ratio.get_or_create(&labels).set(if *stored_bytes == 0 {
                0.0
            } else {
                *logical_bytes as f64 / *stored_bytes as f64
            });
        }
        registry.register_with_unit(
            "backup_last_duration",
            "How long the newest backup of the type took",
            prometheus_client::registry::Unit::Seconds,
            duration,
        );
        registry.register_with_unit(
            "backup_last_logical",
            "Bytes the newest backup of the type read",
            prometheus_client::registry::Unit::Bytes,
            logical,
        );
        registry.register_with_unit(
            "backup_last_stored",
            "Bytes the newest backup of the type added to the repository",
            prometheus_client::registry::Unit::Bytes,
            stored,
        );
        registry.register(
            "backup_last_dedup_ratio",
            "Bytes read per byte stored by the newest backup of the type",
            ratio,
        );
    }

    /// Serves [`Api::metrics_text`] on the configured address as the task `metrics-http`
    /// (stage intake: it stops first at shutdown). Returns the bound address (port 0 in
    /// the configuration binds a free port, for tests). Refused with the fix when the
    /// address is taken.
    pub async fn serve_metrics(&self) -> Result<SocketAddr, ApiError> {
        let monitoring = &self.inner.config.config.config.monitoring;
        let ip: std::net::IpAddr = monitoring.prometheus_bind.parse().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidConfig,
                format!(
                    "monitoring.prometheus_bind {:?} is not an IP address",
                    monitoring.prometheus_bind
                ),
            )
        })?;
        let wanted = SocketAddr::new(ip, monitoring.prometheus_port);
        let listener = tokio::net::TcpListener::bind(wanted).await.map_err(|err| {
            ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "cannot serve metrics on {wanted}: {err}; another program (a Prometheus server uses 9090) may hold the port: set monitoring.prometheus_port (QCAT_MONITORING__PROMETHEUS_PORT) to a free one, or monitoring.prometheus_enabled = false"
                ),
            )
        })?;
        let bound = listener
            .local_addr()
            .map_err(|err| ApiError::internal_in("serve_metrics", &err))?;
        let path = monitoring.metrics_path.clone();
        let listener = std::sync::Arc::new(tokio::sync::Mutex::new(Some(listener)));
        let weak = self.downgrade();
        self.runtime().tasks.spawn(
            "metrics-http",
            Stage::Intake,
            Restart::OnFailure,
            move |context| {
                let (listener, path, weak) = (listener.clone(), path.clone(), weak.clone());
                async move {
                    let listener = match listener.lock().await.take() {
                        Some(listener) => listener,
                        // A restart binds again.
                        None => tokio::net::TcpListener::bind(bound)
                            .await
                            .map_err(|err| format!("cannot bind {bound} again: {err}"))?,
                    };
                    let alerts_api = weak.clone();
                    let app = axum::Router::new()
                        .route(
                            &path,
                            axum::routing::get(move || {
                                let weak = weak.clone();
                                async move {
                                    let text = weak
                                        .upgrade()
                                        .map(|api| api.metrics_text())
                                        .unwrap_or_default();
                                    ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], text)
                                }
                            }),
                        )
                        .route(
                            "/api/v2/alerts",
                            axum::routing::post(
                                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                                    let weak = alerts_api.clone();
                                    async move { post_alerts(weak, headers, body).await }
                                },
                            ),
                        );
                    let cancel = context.cancel().clone();
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { cancel.cancelled().await })
                        .await
                        .map_err(|err| format!("metrics endpoint failed: {err}"))
                }
            },
        );
        if !ip.is_loopback() {
            tracing::warn!(address = %bound, "metrics are served beyond this machine without authentication (monitoring.prometheus_bind); restrict the port with a firewall");
        }
        tracing::info!(address = %bound, path = %monitoring.metrics_path, "serving metrics");
        Ok(bound)
    }
}

/// Alertmanager's `POST /api/v2/alerts`: the bearer token checked, the alerts taken, and
/// answered as Alertmanager answers (200 with no body; 400 with the problem; 401).
async fn post_alerts(
    weak: crate::WeakApi,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    let Some(api) = weak.upgrade() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    };
    let Some(token) = api.alert_api_token() else {
        return (
            StatusCode::UNAUTHORIZED,
            "alerting.api_token is not set: set it (as secret:NAME) and give Prometheus the same token as its alertmanager's authorization credentials".into(),
        );
    };
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !crate::alert::ingest::authorized(header, &token) {
        return (
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send alerting.api_token as a bearer token".into(),
        );
    }
    match api.ingest_alerts(&body).await {
        Ok(_) => (StatusCode::OK, String::new()),
        Err(err) if err.code == ErrorCode::InvalidInput => (StatusCode::BAD_REQUEST, err.message),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.message),
    }
}

/// The audit latency histogram as counted by `qcat_audit::stats` (per-bucket counts and
/// their sum), encoded as a Prometheus histogram without observing each value again.
#[derive(Debug)]
struct CountedHistogram {
    sum: f64,
    count: u64,
    /// (upper bound, count in this bucket), the last bound +Inf.
    buckets: Vec<(f64, u64)>,
}

impl CountedHistogram {
    fn of(stats: &qcat_audit::stats::AuditStats) -> Self {
        Self::with_bounds(stats, &qcat_audit::stats::LATENCY_BUCKETS)
    }

    /// Per-bucket counts (the last beyond every bound) under `bounds`.
    fn with_bounds(stats: &qcat_audit::stats::AuditStats, bounds: &[f64]) -> Self {
        let bounds = bounds.iter().copied().chain(std::iter::once(f64::INFINITY));
        Self {
            sum: stats.latency_sum_secs,
            count: stats.latency_counts.iter().sum(),
            buckets: bounds.zip(stats.latency_counts.iter().copied()).collect(),
        }
    }
}

impl prometheus_client::encoding::EncodeMetric for CountedHistogram {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum,
            self.count,
            &self.buckets,
            None,
        )
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Histogram
    }
}

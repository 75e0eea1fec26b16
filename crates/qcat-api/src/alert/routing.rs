//! The stored routing configuration: an `alertmanager.yml` (imported as it is, or edited
//! in the window) kept in the store with its version. Saving checks it the way
//! Alertmanager does, moves every literal credential into the keychain (the text keeps
//! `secret:NAME`), checks every receiver's integrations, and audits the change. Until one
//! is saved, the routing sends every alert to the receivers `alerting.default_channels`
//! names (receivers without integrations until configured).
//!
//! Also here: the routing simulator (an alert's receivers, each message rendered as its
//! channel will show it) and the test send from the same screen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use qcat_alert::Labels;
use qcat_alert::config::AlertmanagerConfig;
use qcat_alert::integrations::{self, Integration};
use qcat_alert::notify::{AlertItem, Notification, Status, fingerprint};
use qcat_alert::route::Route;
use qcat_audit::event::Outcome;
use qcat_core::ErrorCode;
use qcat_core::secret::Secret;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::state_error;
use crate::access::SessionSlot;
use crate::{Api, ApiError};

/// The routing as the duty uses it: the configuration, the tree, each receiver's
/// integrations with their credentials resolved, and what could not be resolved.
pub struct LoadedRouting {
    pub version: i64,
    pub yaml: String,
    pub config: AlertmanagerConfig,
    pub tree: Route,
    pub integrations: BTreeMap<String, Vec<Integration>>,
    /// Receivers whose integrations could not be read (a secret gone from the keychain):
    /// their notifications wait in the outbox as failures, named in the delivery log.
    pub problems: Vec<String>,
}

impl LoadedRouting {
    /// The route a group key belongs to (its path is the key's prefix).
    pub fn route_of(&self, group_key: &str) -> Option<&Route> {
        let path = group_key.split(':').next()?;
        let mut found = None;
        self.tree.walk(&mut |route| {
            if route.path == path {
                found = Some(route);
            }
        });
        found
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    /// `dingtalk_configs[0]`.
    pub id: String,
    pub kind: String,
    pub send_resolved: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverView {
    pub name: String,
    pub integrations: Vec<IntegrationView>,
    pub fallback: Option<String>,
}

/// The routing configuration for the editor.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoutingView {
    pub yaml: String,
    /// 0 until one is saved (the default routing is shown).
    #[ts(type = "number")]
    pub version: i64,
    pub updated_by: Option<String>,
    #[ts(type = "number | null")]
    pub updated_ms: Option<i64>,
    pub receivers: Vec<ReceiverView>,
    /// What keeps a receiver from sending (a secret missing from the keychain).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoutingSaveInput {
    pub yaml: String,
    /// The version the editor opened (0: none saved yet).
    #[ts(type = "number")]
    pub seen_version: i64,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoutePreviewInput {
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// A configuration to try instead of the stored one (the editor's unsaved text).
    #[serde(default)]
    pub yaml: Option<String>,
}

/// One message as its channel shows it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RenderedView {
    pub integration: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub html: Option<String>,
    /// Why it could not be rendered (a template error with its line).
    pub error: Option<String>,
}

/// One receiver an alert reaches, with its grouping and each message rendered.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoutePreview {
    pub receiver: String,
    pub route: String,
    pub group_by: Vec<String>,
    pub group_wait_s: f64,
    pub group_interval_s: f64,
    pub repeat_interval_s: f64,
    /// Muted now by a firing alert through an inhibition rule.
    pub inhibited: bool,
    pub messages: Vec<RenderedView>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TestSendInput {
    pub receiver: String,
    /// The test alert's labels (defaults: alertname=QcatTestAlert, severity=info).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TestSendResult {
    pub integration: String,
    pub kind: String,
    pub ok: bool,
    pub error: Option<String>,
    #[ts(type = "number")]
    pub duration_ms: u64,
}

/// The routing used until one is saved: every alert to each of
/// `alerting.default_channels` (receivers without integrations until configured).
pub fn default_yaml(channels: &[String]) -> String {
    let mut names: Vec<&str> = channels.iter().map(String::as_str).collect();
    if names.is_empty() {
        names.push("default");
    }
    let mut yaml = String::from(
        "# The default routing (alerting.default_channels). Give each receiver its\n\
         # integrations (dingtalk_configs, email_configs, webhook_configs, ...) and save.\n\
         route:\n  receiver: ",
    );
    yaml.push_str(names[0]);
    yaml.push_str(
        "\n  group_by: ['alertname']\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n",
    );
    if names.len() > 1 {
        yaml.push_str("  routes:\n");
        for name in &names {
            yaml.push_str(&format!("    - receiver: {name}\n      continue: true\n"));
        }
    }
    yaml.push_str("receivers:\n");
    for name in &names {
        yaml.push_str(&format!("  - name: {name}\n"));
    }
    yaml
}

/// A notification for one alert (the simulator's and the test send's).
pub fn sample_notification(
    receiver: &str,
    labels: &Labels,
    annotations: &Labels,
    now_ms: i64,
) -> Notification {
    let item = AlertItem {
        status: Status::Firing,
        labels: labels.clone(),
        annotations: annotations.clone(),
        starts_at: jiff::Timestamp::from_millisecond(now_ms)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        ends_at: "0001-01-01T00:00:00Z".into(),
        generator_url: String::new(),
        fingerprint: fingerprint(labels),
    };
    Notification {
        receiver: receiver.to_owned(),
        status: Status::Firing,
        group_key: "preview".into(),
        group_labels: labels
            .get("alertname")
            .map(|name| [("alertname".to_owned(), name.clone())].into())
            .unwrap_or_default(),
        common_labels: labels.clone(),
        common_annotations: annotations.clone(),
        external_url: String::new(),
        alerts: vec![item],
        truncated_alerts: 0,
    }
}

fn receiver_views(routing: &LoadedRouting) -> Vec<ReceiverView> {
    routing
        .config
        .receivers
        .iter()
        .map(|receiver| ReceiverView {
            name: receiver.name.clone(),
            integrations: routing
                .integrations
                .get(&receiver.name)
                .map(|list| {
                    list.iter()
                        .map(|i| IntegrationView {
                            id: i.id.clone(),
                            kind: i.kind().to_owned(),
                            send_resolved: i.send_resolved,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            fallback: integrations::fallback(receiver),
        })
        .collect()
}

fn parse_config(yaml: &str) -> Result<AlertmanagerConfig, ApiError> {
    AlertmanagerConfig::parse(yaml)
        .map_err(|err| ApiError::new(ErrorCode::InvalidConfig, err.to_string()))
}

impl Api {
    fn alert_timeout(&self) -> Duration {
        self.inner.config.config.config.alerting.timeout
    }

    /// The routing the duty and the simulator use now: the stored one (rebuilt only when
    /// its version moved), or the default.
    pub(crate) async fn loaded_routing(&self) -> Result<Arc<LoadedRouting>, ApiError> {
        let store = self.store()?;
        let version = qcat_alert::state::routing_version(store)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        if let Some(loaded) = self
            .inner
            .alert
            .routing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .filter(|loaded| loaded.version == version)
        {
            return Ok(loaded.clone());
        }
        let stored = qcat_alert::state::routing(store)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        // The version read with the text: a save between the two reads is then loaded as
        // what it is, not cached under the older number.
        let (version, yaml) = match stored {
            Some(stored) => (stored.version, stored.yaml),
            None => (
                0,
                default_yaml(&self.inner.config.config.config.alerting.default_channels),
            ),
        };
        let loaded = Arc::new(self.load_routing(version, yaml).await?);
        *self
            .inner
            .alert
            .routing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(loaded.clone());
        Ok(loaded)
    }

    /// Reads a configuration and resolves its receivers' credentials (the keychain is
    /// blocking work).
    async fn load_routing(&self, version: i64, yaml: String) -> Result<LoadedRouting, ApiError> {
        let config = parse_config(&yaml)?;
        let api = self.clone();
        let timeout = self.alert_timeout();
        let receivers = config.receivers.clone();
        let (integrations, problems) = tokio::task::spawn_blocking(move || {
            let resolve = |text: &str| -> Result<Secret<String>, String> {
                match text.strip_prefix("secret:") {
                    Some(name) => {
                        let keys = api.keys().map_err(|err| err.message)?;
                        qcat_secrets::named::get(keys, name).map_err(|err| err.to_string())
                    }
                    None => Ok(Secret::new(text.to_owned())),
                }
            };
            let mut all = BTreeMap::new();
            let mut problems = Vec::new();
            for receiver in &receivers {
                match integrations::integrations(receiver, &resolve, timeout) {
                    Ok(list) => {
                        all.insert(receiver.name.clone(), list);
                    }
                    Err(found) => problems.extend(found),
                }
            }
            (all, problems)
        })
        .await
        .map_err(|err| ApiError::internal_in("load_routing", &err))?;
        for problem in &problems {
            tracing::warn!(%problem, "alert receiver cannot send");
        }
        let tree = Route::build(&config.route);
        Ok(LoadedRouting {
            version,
            yaml,
            config,
            tree,
            integrations,
            problems,
        })
    }

    /// The routing configuration (the default until one is saved), its receivers and
    /// what keeps any from sending.
    pub async fn alert_routing(&self, slot: &SessionSlot) -> Result<RoutingView, ApiError> {
        self.guard(slot, "alert_routing").await?;
        let routing = self.loaded_routing().await?;
        let stored = qcat_alert::state::routing(self.store()?)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        Ok(RoutingView {
            yaml: routing.yaml.clone(),
            version: routing.version,
            updated_by: stored.as_ref().map(|s| s.updated_by.clone()),
            updated_ms: stored.as_ref().map(|s| s.updated_ms),
            receivers: receiver_views(&routing),
            problems: routing.problems.clone(),
        })
    }

    /// Saves a routing configuration (an imported `alertmanager.yml` or the editor's
    /// text): checked as Alertmanager checks it, literal credentials moved into named
    /// secrets, every receiver's integrations read, then stored and audited.
    pub async fn alert_routing_save(
        &self,
        slot: &SessionSlot,
        input: RoutingSaveInput,
    ) -> Result<RoutingView, ApiError> {
        let proof = self.guard(slot, "alert_routing_save").await?;
        let target = "alert:routing".to_owned();
        let result = async {
            parse_config(&input.yaml)?;
            // Credentials leave the text before anything is stored.
            let api = self.clone();
            let yaml = input.yaml.clone();
            let secured = tokio::task::spawn_blocking(move || {
                let mut store_secret = |name: &str, value: &str| -> Result<(), String> {
                    let keys = api.keys().map_err(|err| {
                        format!(
                            "a credential cannot be kept without the master key ({}); give it as secret:NAME",
                            err.message
                        )
                    })?;
                    crate::secrets::set_named(keys, name, &Secret::new(value.to_owned()))
                        .map_err(|err| err.message)
                };
                integrations::move_credentials(&yaml, &mut store_secret)
            })
            .await
            .map_err(|err| ApiError::internal_in("alert_routing_save", &err))?
            .map_err(|err| ApiError::new(ErrorCode::InvalidConfig, err))?;
            let loaded = self.load_routing(input.seen_version + 1, secured.clone()).await?;
            if !loaded.problems.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidConfig,
                    loaded.problems.join("; "),
                ));
            }
            let event = proof.event("alert.routing.save", "alert:routing", Outcome::Ok);
            qcat_alert::state::save_routing(self.store()?, &secured, input.seen_version, event)
                .await
                .map_err(state_error)?;
            self.inner.alert.wake.notify_one();
            self.alert_routing(slot).await
        }
        .await;
        self.audit_refusal(&proof, "alert.routing.save", &target, result)
            .await
    }

    /// The routing simulator: which receivers an alert reaches (with the grouping and
    /// timers of the node that routed it, and whether a firing alert inhibits it now), and
    /// each message rendered as its channel will show it.
    pub async fn alert_route_preview(
        &self,
        slot: &SessionSlot,
        input: RoutePreviewInput,
    ) -> Result<Vec<RoutePreview>, ApiError> {
        self.guard(slot, "alert_route_preview").await?;
        let routing = match &input.yaml {
            Some(yaml) => Arc::new(self.load_routing(-1, yaml.clone()).await?),
            None => self.loaded_routing().await?,
        };
        let labels: Labels = input.labels.into_iter().collect();
        let annotations: Labels = input.annotations.into_iter().collect();
        let now = qcat_core::time::now_ms();
        let firing: Vec<Labels> = qcat_alert::state::firing(self.store()?, now)
            .await
            .map_err(|err| ApiError::store_failure(&err))?
            .into_iter()
            .map(|e| e.labels)
            .collect();
        let inhibited =
            qcat_alert::inhibit::inhibited(&routing.config.inhibit_rules, &labels, &firing);
        Ok(routing
            .tree
            .matches(&labels)
            .into_iter()
            .map(|route| {
                let opts = &route.opts;
                let notification = sample_notification(&opts.receiver, &labels, &annotations, now);
                let messages = routing
                    .integrations
                    .get(&opts.receiver)
                    .map(|list| {
                        list.iter()
                            .map(|integration| match integration.render(&notification) {
                                Ok(rendered) => RenderedView {
                                    integration: integration.id.clone(),
                                    kind: integration.kind().to_owned(),
                                    title: rendered.title,
                                    body: rendered.body,
                                    html: rendered.html,
                                    error: None,
                                },
                                Err(err) => RenderedView {
                                    integration: integration.id.clone(),
                                    kind: integration.kind().to_owned(),
                                    title: String::new(),
                                    body: String::new(),
                                    html: None,
                                    error: Some(err.to_string()),
                                },
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                RoutePreview {
                    receiver: opts.receiver.clone(),
                    route: route.path.clone(),
                    group_by: if opts.group_by_all {
                        vec!["...".into()]
                    } else {
                        opts.group_by.clone()
                    },
                    group_wait_s: opts.group_wait.as_secs_f64(),
                    group_interval_s: opts.group_interval.as_secs_f64(),
                    repeat_interval_s: opts.repeat_interval.as_secs_f64(),
                    inhibited,
                    messages,
                }
            })
            .collect())
    }

    /// Sends a test alert through every integration of a receiver now (not through the
    /// outbox: the answer is each service's own), audited.
    pub async fn alert_test_send(
        &self,
        slot: &SessionSlot,
        input: TestSendInput,
    ) -> Result<Vec<TestSendResult>, ApiError> {
        let proof = self.guard(slot, "alert_test_send").await?;
        let target = format!("alert:receiver:{}", input.receiver);
        let result = async {
            let routing = self.loaded_routing().await?;
            if !routing
                .config
                .receivers
                .iter()
                .any(|r| r.name == input.receiver)
            {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "receiver: no receiver named {:?} in the routing; `qcatctl alert routing` shows them",
                        qcat_core::text::bounded(&input.receiver, 80)
                    ),
                ));
            }
            let Some(list) = routing
                .integrations
                .get(&input.receiver)
                .filter(|l| !l.is_empty())
            else {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "receiver {}: no integration to send to (or its credentials cannot be read: {})",
                        input.receiver,
                        routing.problems.join("; ")
                    ),
                ));
            };
            let mut labels: Labels = input.labels.into_iter().collect();
            labels
                .entry("alertname".into())
                .or_insert_with(|| "QcatTestAlert".into());
            labels
                .entry("severity".into())
                .or_insert_with(|| "info".into());
            let mut annotations: Labels = input.annotations.into_iter().collect();
            annotations
                .entry("summary".into())
                .or_insert_with(|| "QCAT Console test notification".into());
            let now = qcat_core::time::now_ms();
            let notification = sample_notification(&input.receiver, &labels, &annotations, now);
            let client = qcat_alert::channels::http_client(self.alert_timeout())
                .map_err(|err| ApiError::new(ErrorCode::Internal, err.message))?;
            let mut results = Vec::new();
            for integration in list {
                let started = std::time::Instant::now();
                let key = format!("test:{}", qcat_core::random::hex_id(16));
                let sent = integration
                    .send(&client, &notification, &key, qcat_core::time::now_ms(), None)
                    .await;
                results.push(TestSendResult {
                    integration: integration.id.clone(),
                    kind: integration.kind().to_owned(),
                    ok: sent.is_ok(),
                    error: sent.err().map(|e| e.message),
                    duration_ms: started.elapsed().as_millis() as u64,
                });
            }
            let failed = results.iter().filter(|r| !r.ok).count();
            let outcome = if failed == 0 {
                Outcome::Ok
            } else {
                Outcome::Failed
            };
            self.access()?
                .audit()
                .record(
                    proof
                        .event(
                            "alert.test_send",
                            format!("alert:receiver:{}", input.receiver),
                            outcome,
                        )
                        .detail(format!(
                            "{} of {} integrations delivered",
                            results.len() - failed,
                            results.len()
                        )),
                )
                .await?;
            Ok(results)
        }
        .await;
        self.audit_refusal(&proof, "alert.test_send", &target, result)
            .await
    }
}

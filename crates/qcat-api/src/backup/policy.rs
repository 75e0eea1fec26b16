//! The backup policy the window edits: which sources a scheduled recovery point takes,
//! retention, the schedules, the verify budget and the RTO. Saved to the user's config file
//! (one validated, atomic write, like `set_setting`) and applied at once: the next expiry
//! uses the new retention and the scheduler re-plans. Keys a higher layer (environment,
//! `.env`) sets are reported as locked and refused, since a file value would not apply.

use std::sync::atomic::Ordering;

use qcat_audit::event::Outcome;
use qcat_core::ErrorCode;
use qcat_core::config::{BackupConfig, Config, Layer};
use qcat_monitor::targets::TargetKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{FILES_SOURCE, invalid};
use crate::access::SessionSlot;
use crate::schedules::{BACKUP_DIFF, BACKUP_DRILL, BACKUP_FULL, BACKUP_INCR, BACKUP_VERIFY};
use crate::{Api, ApiError};

/// One backup schedule with its runs.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PolicySchedule {
    /// `full`, `diff`, `incr`, `verify` or `drill`.
    pub kind: String,
    /// Cron in `runtime.time_zone`, `@every <duration>`, or empty: not scheduled.
    pub spec: String,
    #[ts(type = "number | null")]
    pub next_ms: Option<i64>,
    #[ts(type = "number | null")]
    pub last_ended_ms: Option<i64>,
    /// `ok`, `failed` or `running`.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
}

/// A key set above the config file, so the window cannot change it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LockedSetting {
    pub key: String,
    /// The variable that sets it, e.g. `QCAT_BACKUP__KEEP_FULL`.
    pub variable: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicyView {
    pub sources: Vec<String>,
    pub keep_full: u32,
    /// A duration ("30days", "0s": off).
    pub keep_age: String,
    pub verify_budget: String,
    pub rto: String,
    pub schedules: Vec<PolicySchedule>,
    pub time_zone: String,
    pub locked: Vec<LockedSetting>,
    /// The config file a save writes.
    pub file: Option<String>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicyInput {
    pub sources: Vec<String>,
    pub keep_full: u32,
    pub keep_age: String,
    pub schedule_full: String,
    pub schedule_diff: String,
    pub schedule_incr: String,
    pub schedule_verify: String,
    pub schedule_drill: String,
    pub verify_budget: String,
    pub rto: String,
}

const KINDS: [(&str, &str); 5] = [
    ("full", BACKUP_FULL),
    ("diff", BACKUP_DIFF),
    ("incr", BACKUP_INCR),
    ("verify", BACKUP_VERIFY),
    ("drill", BACKUP_DRILL),
];

fn duration(value: std::time::Duration) -> String {
    humantime::format_duration(value).to_string()
}

fn spec_of<'a>(settings: &'a BackupConfig, kind: &str) -> &'a str {
    match kind {
        "full" => &settings.schedule_full,
        "diff" => &settings.schedule_diff,
        "incr" => &settings.schedule_incr,
        "verify" => &settings.schedule_verify,
        _ => &settings.schedule_drill,
    }
}

/// The config keys the policy sets, in the order of [`BackupPolicyInput::entries`].
const KEYS: [&str; 10] = [
    "backup.sources",
    "backup.keep_full",
    "backup.keep_age",
    "backup.schedule_full",
    "backup.schedule_diff",
    "backup.schedule_incr",
    "backup.schedule_verify",
    "backup.schedule_drill",
    "backup.verify_budget",
    "backup.rto",
];

impl BackupPolicyInput {
    /// The config keys and texts this input sets.
    fn entries(&self) -> Vec<(&'static str, String)> {
        let texts = [
            self.sources.join(","),
            self.keep_full.to_string(),
            self.keep_age.trim().to_owned(),
            self.schedule_full.trim().to_owned(),
            self.schedule_diff.trim().to_owned(),
            self.schedule_incr.trim().to_owned(),
            self.schedule_verify.trim().to_owned(),
            self.schedule_drill.trim().to_owned(),
            self.verify_budget.trim().to_owned(),
            self.rto.trim().to_owned(),
        ];
        KEYS.into_iter().zip(texts).collect()
    }
}

/// The same keys' texts for the settings in force, to tell which ones a save changes.
fn current_entries(settings: &BackupConfig) -> Vec<(&'static str, String)> {
    BackupPolicyInput {
        sources: settings.sources.clone(),
        keep_full: settings.keep_full,
        keep_age: duration(settings.keep_age),
        schedule_full: settings.schedule_full.clone(),
        schedule_diff: settings.schedule_diff.clone(),
        schedule_incr: settings.schedule_incr.clone(),
        schedule_verify: settings.schedule_verify.clone(),
        schedule_drill: settings.schedule_drill.clone(),
        verify_budget: duration(settings.verify_budget),
        rto: duration(settings.rto),
    }
    .entries()
}

impl Api {
    /// The policy in force, its schedules' runs, and what the window may not change.
    pub async fn backup_policy(&self, slot: &SessionSlot) -> Result<BackupPolicyView, ApiError> {
        self.guard(slot, "backup_policy").await?;
        self.policy_view().await
    }

    async fn policy_view(&self) -> Result<BackupPolicyView, ApiError> {
        let settings = self.backup_settings();
        let stored = self.schedules_list_unguarded().await.unwrap_or_default();
        let schedules = KINDS
            .iter()
            .map(|(kind, name)| {
                let run = stored.iter().find(|view| view.name == *name);
                PolicySchedule {
                    kind: (*kind).to_owned(),
                    spec: spec_of(&settings, kind).to_owned(),
                    next_ms: run.and_then(|run| run.next_ms),
                    last_ended_ms: run.and_then(|run| run.last_ended_ms),
                    last_result: run.and_then(|run| run.last_result.clone()),
                    last_error: run.and_then(|run| run.last_error.clone()),
                }
            })
            .collect();
        let sources = &self.inner.config.config.sources;
        Ok(BackupPolicyView {
            sources: settings.sources.clone(),
            keep_full: settings.keep_full,
            keep_age: duration(settings.keep_age),
            verify_budget: duration(settings.verify_budget),
            rto: duration(settings.rto),
            schedules,
            time_zone: self.inner.config.config.config.runtime.time_zone.clone(),
            locked: locked_settings(sources),
            file: sources
                .user_file
                .as_ref()
                .map(|file| file.path.display().to_string())
                .or_else(|| {
                    qcat_core::config::platform_config_file().map(|path| path.display().to_string())
                }),
        })
    }

    /// Saves the policy (`backup:edit`): every field checked and named when wrong, written in
    /// one atomic step, audited with before and after, in force at once.
    pub async fn backup_policy_save(
        &self,
        slot: &SessionSlot,
        input: BackupPolicyInput,
    ) -> Result<BackupPolicyView, ApiError> {
        let proof = self.guard(slot, "backup_policy_save").await?;
        let _one_at_a_time = self.inner.backup.policy_save.lock().await;
        let before = self.backup_settings();
        let saved = self.save_policy(&before, &input).await;
        let (outcome, detail) = match &saved {
            Ok(changed) if changed.is_empty() => (Outcome::Ok, "nothing changed".to_owned()),
            Ok(changed) => (Outcome::Ok, format!("changed {}", changed.join(", "))),
            Err(err) => (Outcome::Failed, err.message.clone()),
        };
        let before_json: serde_json::Map<String, serde_json::Value> = current_entries(&before)
            .into_iter()
            .map(|(key, text)| (key.to_owned(), text.into()))
            .collect();
        let after_json: serde_json::Map<String, serde_json::Value> = input
            .entries()
            .into_iter()
            .map(|(key, text)| (key.to_owned(), text.into()))
            .collect();
        let mut event = proof
            .event("backup.policy", "backup:policy", outcome)
            .detail(detail);
        if saved.is_ok() {
            event = event.change(Some(before_json.into()), Some(after_json.into()));
        }
        self.access()?.audit().record(event).await?;
        saved?;
        self.policy_view().await
    }

    /// Checks and writes the changed keys; returns them. On success the new policy is in
    /// force and the scheduler told.
    async fn save_policy(
        &self,
        before: &BackupConfig,
        input: &BackupPolicyInput,
    ) -> Result<Vec<String>, ApiError> {
        // Each source must be something a backup can read, named as the error's field.
        let targets = self
            .all_targets()
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        for name in &input.sources {
            let known = name == FILES_SOURCE
                || targets.iter().any(|(target, _)| {
                    target.name == *name
                        && matches!(target.kind, TargetKind::Postgres | TargetKind::Redis)
                });
            if !known {
                return Err(invalid(
                    "sources",
                    format!(
                        "{name:?} is not a PostgreSQL or Redis target nor `files`; add the target first (Monitoring → Targets, or `qcatctl target add`)"
                    ),
                ));
            }
        }
        let current = current_entries(before);
        let changed: Vec<(&'static str, String)> = input
            .entries()
            .into_iter()
            .zip(current)
            .filter(|((_, new), (_, old))| new != old)
            .map(|(new, _)| new)
            .collect();
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let sources = self.inner.config.config.sources.clone();
        let locked = locked_settings(&sources);
        if let Some((key, _)) = changed
            .iter()
            .find(|(key, _)| locked.iter().any(|lock| lock.key == *key))
        {
            let variable = &locked
                .iter()
                .find(|lock| lock.key == *key)
                .expect("found above")
                .variable;
            return Err(invalid(
                key.trim_start_matches("backup."),
                format!(
                    "{key} is set by {variable}, which overrides the config file; unset {variable} to change it here"
                ),
            ));
        }
        let written = changed.clone();
        let reloaded = tokio::task::spawn_blocking(move || {
            let entries: Vec<(&str, &str)> = written
                .iter()
                .map(|(key, text)| (*key, text.as_str()))
                .collect();
            crate::config::set_settings(&sources, &entries)?;
            Config::load_from(&sources).map_err(|err| {
                ApiError::new(
                    ErrorCode::InvalidConfig,
                    format!("the saved configuration does not load: {err}"),
                )
            })
        })
        .await
        .map_err(|err| ApiError::internal_in("backup_policy_save", &err))??;
        // Only the policy's keys change in force; the repository and the rest stay as the
        // process started (moving a repository under running jobs is not a live edit).
        let fresh = reloaded.config.backup;
        let mut next = before.clone();
        next.sources = fresh.sources;
        next.keep_full = fresh.keep_full;
        next.keep_age = fresh.keep_age;
        next.schedule_full = fresh.schedule_full;
        next.schedule_diff = fresh.schedule_diff;
        next.schedule_incr = fresh.schedule_incr;
        next.schedule_verify = fresh.schedule_verify;
        next.schedule_drill = fresh.schedule_drill;
        next.verify_budget = fresh.verify_budget;
        next.rto = fresh.rto;
        *self.inner.backup.policy.write().expect("never poisoned") = Some(next);
        self.inner
            .backup
            .policy_generation
            .fetch_add(1, Ordering::SeqCst);
        tracing::info!(
            changed = ?changed.iter().map(|(key, _)| *key).collect::<Vec<_>>(),
            "backup policy saved"
        );
        Ok(changed.into_iter().map(|(key, _)| key.to_owned()).collect())
    }
}

/// The policy's keys that `.env` or the environment set.
fn locked_settings(sources: &qcat_core::config::ConfigSources) -> Vec<LockedSetting> {
    let Ok(loaded) = Config::load_from(sources) else {
        return Vec::new();
    };
    KEYS.into_iter()
        .filter_map(|key| {
            let setting = loaded.setting(key)?;
            matches!(setting.origin.layer, Layer::Environment | Layer::DotEnv).then(|| {
                LockedSetting {
                    key: key.to_owned(),
                    variable: setting
                        .origin
                        .variable
                        .clone()
                        .unwrap_or_else(|| "the environment".into()),
                }
            })
        })
        .collect()
}

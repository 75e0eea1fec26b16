//! The store itself through the API: bounding a command by `database.command_timeout_secs`,
//! and `qcatctl store init --new`, the only way a store that was lost is replaced by a new
//! one.

use std::future::Future;
use std::time::Duration;

use qcat_audit::{AuditEvent, Outcome};
use qcat_core::ErrorCode;
use qcat_secrets::keys::KeyOptions;
use qcat_store::{Identities, Store};
use serde::Serialize;

use crate::{Api, ApiConfig, ApiError, SessionSlot, database, secrets};

/// What `store init --new` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreInitReport {
    pub location: String,
    /// The installation id of the store that was lost, if the data dir remembered one.
    pub previous_installation_id: Option<String>,
    /// Where a leftover SQLite file was moved.
    pub moved_aside: Option<String>,
    pub installation_id: String,
    pub summary: String,
}

impl Api {
    /// [`Api::open`], given up after `database.command_timeout_secs` (a frozen server
    /// answers the TCP connect and then nothing; migrations would wait for ever).
    pub async fn open_bounded(config: ApiConfig) -> Result<Api, ApiError> {
        let secs = config.config.config.database.command_timeout_secs;
        tokio::time::timeout(Duration::from_secs(secs), Api::open(config))
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::StorageUnavailable,
                    format!(
                        "the store did not answer within {secs} s while the console opened it (database.command_timeout_secs): the server may be frozen, overloaded or unreachable"
                    ),
                )
            })?
    }

    /// Runs `command`, giving up after `database.command_timeout_secs` without progress,
    /// with an error that says what was waited for (a frozen PostgreSQL answers nothing; its
    /// own timeouts cannot fire). While a job of this process advances (a long verify), the
    /// deadline moves on with it: only a stall ends the command.
    pub async fn within_command_timeout<T>(
        &self,
        command: impl Future<Output = T>,
    ) -> Result<T, ApiError> {
        let secs = self
            .inner
            .config
            .config
            .config
            .database
            .command_timeout_secs;
        let mut command = std::pin::pin!(command);
        let mut progress = self.jobs_progress();
        loop {
            match tokio::time::timeout(Duration::from_secs(secs), &mut command).await {
                Ok(done) => return Ok(done),
                Err(_) => {
                    let now = self.jobs_progress();
                    if !now.is_empty() && now != progress {
                        progress = now;
                        continue;
                    }
                }
            }
            let location = self
                .store()
                .map(|store| store.location().to_owned())
                .unwrap_or_else(|_| "the store".into());
            return Err(ApiError::new(
                ErrorCode::StorageUnavailable,
                format!(
                    "no answer from the store at {location} within {secs} s (database.command_timeout_secs): the server may be frozen, overloaded or unreachable; the command was stopped"
                ),
            ));
        }
    }

    /// Forgets the store this data dir used at the configured location, moves a leftover
    /// SQLite file aside, opens (creating) a fresh store and records in its audit trail what
    /// was lost. Needs no sign-in: the old users are gone with the old store, and whoever
    /// runs this can already write the data dir.
    pub async fn init_new_store(config: ApiConfig) -> Result<StoreInitReport, ApiError> {
        if let Some(narrowed) = config
            .data_dir
            .ensure_exists()
            .map_err(ApiError::data_dir)?
        {
            tracing::warn!("{narrowed}");
        }
        let key_options: KeyOptions = config.keys.clone();
        let keys = tokio::task::spawn_blocking(move || secrets::load_keys(&key_options))
            .await
            .map_err(|err| ApiError::internal_in("store_init", &err))?;
        let target = database::store_target(
            &config.config.config.database,
            &config.data_dir,
            keys.as_ref(),
        )?;
        let identities = Identities::in_dir(config.data_dir.path());
        let (previous, moved) =
            Store::forget(&target, &identities).map_err(|err| ApiError::storage_ref(&err))?;
        let api = Api::open(config).await?;
        let store = api.store()?;
        let installation_id = store
            .installation_id()
            .await
            .map_err(|err| ApiError::storage_ref(&err))?;
        let location = store.location().to_owned();
        let slot = SessionSlot::cli();
        let previous_id = previous.as_ref().map(|old| old.installation_id.clone());
        let moved = moved.map(|path| path.display().to_string());
        let detail = match (&previous_id, &moved) {
            (Some(old), Some(moved)) => format!(
                "started anew on purpose: the store {old} this data dir used was lost; the leftover file was moved to {moved}"
            ),
            (Some(old), None) => {
                format!("started anew on purpose: the store {old} this data dir used was lost")
            }
            (None, _) => "started anew on purpose (this data dir remembered no store here)".into(),
        };
        let event = AuditEvent::new(
            "-",
            "store.init_new",
            format!("store:{location}"),
            slot.source(),
            Outcome::Ok,
        )
        .detail(detail.clone())
        .change(
            previous_id
                .as_ref()
                .map(|old| serde_json::json!({ "installationId": old })),
            Some(serde_json::json!({ "installationId": installation_id })),
        );
        api.access()?.audit().record(event).await?;
        // A PostgreSQL database that holds another console store is taken as it is (with its
        // users); an empty one needs its first administrator.
        let next = if api.setup_status()?.needs_first_admin {
            "create the first administrator with `qcatctl user add --admin NAME`"
        } else {
            "it already has users: sign in as one of them"
        };
        api.close().await;
        Ok(StoreInitReport {
            summary: format!(
                "{detail}; the store {installation_id} at {location} is used from now on: {next}"
            ),
            location,
            previous_installation_id: previous_id,
            moved_aside: moved,
            installation_id,
        })
    }
}

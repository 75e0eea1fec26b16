//! Silences: matchers in Alertmanager's syntax, a start and an end, who and why; added and
//! expired with their audit entries. A silenced alert still fires and is listed; it is
//! left out of notifications while the silence lasts.

use qcat_alert::dispatch::Silence;
use qcat_alert::matcher::Matcher;
use qcat_alert::state::StoredSilence;
use qcat_audit::event::Outcome;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{invalid, state_error};
use crate::access::SessionSlot;
use crate::{Api, ApiError};

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SilenceView {
    pub id: String,
    /// `{alertname="Down", instance=~"db.*"}`.
    pub matchers: String,
    #[ts(type = "number")]
    pub starts_ms: i64,
    #[ts(type = "number")]
    pub ends_ms: i64,
    pub created_by: String,
    pub comment: String,
    /// `pending`, `active` or `expired`.
    pub state: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SilenceInput {
    /// Matchers as Alertmanager writes them: `alertname="Down", instance=~"db.*"`.
    pub matchers: String,
    /// Default: now.
    #[ts(type = "number | null")]
    pub starts_ms: Option<i64>,
    #[ts(type = "number")]
    pub ends_ms: i64,
    pub comment: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SilenceIdInput {
    pub id: String,
}

/// A stored silence as the dispatcher applies it (`None`: its matchers no longer parse).
pub(crate) fn to_silence(stored: &StoredSilence) -> Option<Silence> {
    Some(Silence {
        id: stored.id.clone(),
        matchers: Matcher::parse_list(&stored.matchers).ok()?,
        starts_ms: stored.starts_ms,
        ends_ms: stored.ends_ms,
        created_by: stored.created_by.clone(),
        comment: stored.comment.clone(),
    })
}

fn view(stored: StoredSilence, now_ms: i64) -> SilenceView {
    let state = if stored.ends_ms <= now_ms {
        "expired"
    } else if stored.starts_ms > now_ms {
        "pending"
    } else {
        "active"
    };
    SilenceView {
        id: stored.id,
        matchers: stored.matchers,
        starts_ms: stored.starts_ms,
        ends_ms: stored.ends_ms,
        created_by: stored.created_by,
        comment: stored.comment,
        state: state.into(),
    }
}

impl Api {
    /// Silences that have not ended, and those that ended in the last day.
    pub async fn alert_silences(&self, slot: &SessionSlot) -> Result<Vec<SilenceView>, ApiError> {
        self.guard(slot, "alert_silences").await?;
        let now = qcat_core::time::now_ms();
        let stored = qcat_alert::state::silences(self.store()?, now - 86_400_000)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        Ok(stored.into_iter().map(|s| view(s, now)).collect())
    }

    /// Adds a silence (matchers checked, an end after its start, a comment), audited.
    pub async fn alert_silence_add(
        &self,
        slot: &SessionSlot,
        input: SilenceInput,
    ) -> Result<SilenceView, ApiError> {
        let proof = self.guard(slot, "alert_silence_add").await?;
        let target = "alert:silence".to_owned();
        let result = async {
            let matchers = Matcher::parse_list(&input.matchers).map_err(|err| {
                invalid(
                    "matchers",
                    format!("{err}; write them like alertname=\"Down\", instance=~\"db.*\""),
                )
            })?;
            if matchers.is_empty() {
                return Err(invalid(
                    "matchers",
                    "a silence needs at least one matcher (an empty one would silence everything)",
                ));
            }
            if matchers.iter().all(|m| m.matches(&qcat_alert::Labels::new())) {
                return Err(invalid(
                    "matchers",
                    "every matcher also matches an empty label set, so this would silence every alert; match a label's value",
                ));
            }
            let now = qcat_core::time::now_ms();
            let starts_ms = input.starts_ms.unwrap_or(now);
            if input.ends_ms <= starts_ms.max(now) {
                return Err(invalid(
                    "endsMs",
                    "the silence would end before it starts or in the past; give a later end",
                ));
            }
            let comment = input.comment.trim();
            if comment.is_empty() {
                return Err(invalid("comment", "say why (a ticket, the maintenance window)"));
            }
            let canonical = format!(
                "{{{}}}",
                matchers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let stored = StoredSilence {
                id: qcat_core::random::hex_id(16),
                matchers: canonical,
                starts_ms,
                ends_ms: input.ends_ms,
                created_by: proof.actor().to_owned(),
                comment: qcat_core::text::bounded(comment, 500).into_owned(),
                created_ms: now,
            };
            let event = proof.event(
                "alert.silence.add",
                format!("alert:silence:{}", stored.id),
                Outcome::Ok,
            );
            qcat_alert::state::add_silence(self.store()?, &stored, event)
                .await
                .map_err(state_error)?;
            self.inner.alert.wake.notify_one();
            Ok(view(stored, now))
        }
        .await;
        self.audit_refusal(&proof, "alert.silence.add", &target, result)
            .await
    }

    /// Ends a silence now, audited.
    pub async fn alert_silence_expire(
        &self,
        slot: &SessionSlot,
        input: SilenceIdInput,
    ) -> Result<(), ApiError> {
        let proof = self.guard(slot, "alert_silence_expire").await?;
        let target = format!("alert:silence:{}", input.id.trim());
        let result = async {
            let event = proof.event(
                "alert.silence.expire",
                format!("alert:silence:{}", input.id),
                Outcome::Ok,
            );
            qcat_alert::state::expire_silence(
                self.store()?,
                input.id.trim(),
                qcat_core::time::now_ms(),
                event,
            )
            .await
            .map_err(state_error)?;
            self.inner.alert.wake.notify_one();
            Ok(())
        }
        .await;
        self.audit_refusal(&proof, "alert.silence.expire", &target, result)
            .await
    }
}

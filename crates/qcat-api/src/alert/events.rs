//! What event rules watch, read from where the console already records it — so an event
//! rule needs nothing new written: target health (`target_down`, one alert per target),
//! the audit trail's newest `backup.run` (`backup_failed`), `backup.run` that succeeded
//! (`no_good_backup`: none for more than the rule's hours), `backup.verify`
//! (`verify_damage`), `audit.verify` (`audit_chain_break`), and the outbox
//! (`notifications_failing`: per receiver, notifications whose last attempt failed or
//! that became dead letters in the last hour — routed like any alert, so through another
//! receiver, the failing one's fallback).

use qcat_alert::Labels;
use qcat_alert::outbox;

use crate::Api;

/// Observations of one event: per label set, `Some(value)` while it holds.
pub(crate) type Observations = Vec<(Labels, Option<f64>)>;

fn one(holds: bool, value: f64) -> Observations {
    vec![(Labels::new(), holds.then_some(value))]
}

impl Api {
    pub(crate) async fn event_observations(
        &self,
        event: &str,
        parameter: f64,
        now_ms: i64,
    ) -> Result<Observations, String> {
        let store = self.store().map_err(|err| err.message.clone())?;
        let last_failed = |action: &'static str| async move {
            qcat_audit::query::latest(store, action, None)
                .await
                .map(|entry| entry.is_some_and(|(_, result, _, _)| result == "failed"))
                .map_err(|err| err.to_string())
        };
        Ok(match event {
            "target_down" => qcat_monitor::targets::store::health(store)
                .await
                .map_err(|err| err.to_string())?
                .into_iter()
                .map(|health| {
                    (
                        [("target".to_owned(), health.name)].into(),
                        (!health.up).then_some(1.0),
                    )
                })
                .collect(),
            "backup_failed" => one(last_failed("backup.run").await?, 1.0),
            "verify_damage" => one(last_failed("backup.verify").await?, 1.0),
            "audit_chain_break" => one(last_failed("audit.verify").await?, 1.0),
            "no_good_backup" => {
                let last_good = qcat_audit::query::latest(store, "backup.run", Some("ok"))
                    .await
                    .map_err(|err| err.to_string())?
                    .map(|(at_ms, ..)| at_ms);
                // Never a good backup counts as none for ever.
                let hours = last_good.map_or(f64::INFINITY, |at| (now_ms - at) as f64 / 3.6e6);
                one(hours > parameter, hours.min(1e9))
            }
            "notifications_failing" => outbox::failing_by_receiver(store, now_ms - 3_600_000)
                .await
                .map_err(|err| err.to_string())?
                .into_iter()
                .map(|(receiver, count)| {
                    (
                        [("receiver".to_owned(), receiver)].into(),
                        (count > 0).then_some(count as f64),
                    )
                })
                .collect(),
            other => return Err(format!("unknown event {other}")),
        })
    }
}

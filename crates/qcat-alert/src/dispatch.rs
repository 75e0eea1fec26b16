//! Grouping and timing with Alertmanager's semantics, as a pure state machine: each alert
//! is routed, and joins the group of each matched route keyed by that route and the
//! alert's values of the route's `group_by` (all labels under `...`). A new group waits
//! `group_wait` before its first notification (so alerts that start together go together);
//! after that a changed group (an alert added or resolved) is notified at most every
//! `group_interval`, an unchanged one that still fires every `repeat_interval`; a group
//! whose alerts have all resolved is notified once more and dropped. Silenced alerts are
//! left out of their group's notifications, not out of the group.

use std::collections::BTreeMap;

use crate::Labels;
use crate::matcher::{Matcher, all_match};
use crate::notify::{AlertItem, Notification, Status, fingerprint};
use crate::route::Route;

/// An alert as received (a rule's state, or Prometheus' POST).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingAlert {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_ms: i64,
    /// `Some` once resolved (or the time it will count as resolved).
    pub ends_ms: Option<i64>,
    pub generator_url: String,
}

impl IncomingAlert {
    fn resolved_at(&self, now_ms: i64) -> bool {
        self.ends_ms.is_some_and(|end| end <= now_ms)
    }
}

/// A silence: alerts matching every matcher between `starts_ms` and `ends_ms` notify no one.
#[derive(Debug, Clone)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    pub fn mutes(&self, labels: &Labels, now_ms: i64) -> bool {
        (self.starts_ms..self.ends_ms).contains(&now_ms) && all_match(&self.matchers, labels)
    }
}

#[derive(Debug, Clone)]
struct Group {
    receiver: String,
    key: String,
    group_labels: Labels,
    alerts: BTreeMap<String, IncomingAlert>,
    interval_ms: i64,
    repeat_ms: i64,
    /// Its next tick (first: created + group_wait; then every group_interval).
    next_flush_ms: i64,
    /// An alert was added or changed since the last tick.
    dirty: bool,
    /// The last tick.
    last_flush_ms: Option<i64>,
    /// The last notification.
    last_sent_ms: Option<i64>,
    /// The route's `mute_time_intervals` and `active_time_intervals`.
    mute_intervals: Vec<String>,
    active_intervals: Vec<String>,
}

/// Alertmanager's group key: the route's position and the group's labels.
fn group_key(route_path: &str, group_labels: &Labels) -> String {
    let labels: Vec<String> = group_labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{route_path}:{{{}}}", labels.join(","))
}

#[derive(Debug, Default)]
pub struct Dispatcher {
    groups: BTreeMap<String, Group>,
}

impl Dispatcher {
    /// Adds or updates an alert in the groups of every route it matches.
    pub fn ingest(&mut self, tree: &Route, alert: IncomingAlert, now_ms: i64) {
        for route in tree.matches(&alert.labels) {
            let opts = &route.opts;
            let group_labels: Labels = if opts.group_by_all {
                alert.labels.clone()
            } else {
                opts.group_by
                    .iter()
                    .filter_map(|name| alert.labels.get(name).map(|v| (name.clone(), v.clone())))
                    .collect()
            };
            let key = group_key(&route.path, &group_labels);
            let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
                receiver: opts.receiver.clone(),
                key,
                group_labels,
                alerts: BTreeMap::new(),
                interval_ms: opts.group_interval.as_millis() as i64,
                repeat_ms: opts.repeat_interval.as_millis() as i64,
                next_flush_ms: now_ms + opts.group_wait.as_millis() as i64,
                dirty: true,
                last_flush_ms: None,
                last_sent_ms: None,
                mute_intervals: opts.mute_time_intervals.clone(),
                active_intervals: opts.active_time_intervals.clone(),
            });
            let fp = fingerprint(&alert.labels);
            let changed = group
                .alerts
                .get(&fp)
                .is_none_or(|old| old.resolved_at(now_ms) != alert.resolved_at(now_ms));
            if changed {
                // Told at the group's next tick (at most group_interval away).
                group.dirty = true;
            }
            group.alerts.insert(fp, alert.clone());
        }
    }

    /// The notifications due at `now_ms` (silenced alerts left out; a group with nothing
    /// left to say sends nothing), and the groups' next times advanced.
    pub fn flush(&mut self, now_ms: i64, silences: &[Silence]) -> Vec<Notification> {
        self.flush_muted(
            now_ms,
            |labels| silences.iter().any(|s| s.mutes(labels, now_ms)),
            |_, _| false,
        )
    }

    /// [`Dispatcher::flush`] with the caller's muting: `alert_muted` for one alert (a
    /// silence, an inhibition), `time_muted(mute_time_intervals, active_time_intervals)`
    /// for a whole group's route (a recurring mute time).
    ///
    /// As in Alertmanager, each group ticks every `group_interval` after its `group_wait`;
    /// a tick notifies when the group changed since the last one (an alert added, or
    /// resolved — also by its end time passing) or when `repeat_interval` has passed since
    /// the last notification while alerts still fire. A muted group's ticks run on:
    /// nothing is saved up to burst out when the mute ends.
    pub fn flush_muted(
        &mut self,
        now_ms: i64,
        alert_muted: impl Fn(&Labels) -> bool,
        time_muted: impl Fn(&[String], &[String]) -> bool,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut finished = Vec::new();
        for (key, group) in self.groups.iter_mut() {
            if group.next_flush_ms > now_ms {
                continue;
            }
            let since = group.last_flush_ms.unwrap_or(i64::MIN);
            let newly_resolved = group
                .alerts
                .values()
                .any(|a| a.resolved_at(now_ms) && a.ends_ms.is_some_and(|end| end > since));
            let all_resolved = group.alerts.values().all(|a| a.resolved_at(now_ms));
            let repeat_due = !all_resolved
                && group
                    .last_sent_ms
                    .is_none_or(|sent| now_ms - sent >= group.repeat_ms);
            let due = (group.dirty || newly_resolved || repeat_due)
                && !time_muted(&group.mute_intervals, &group.active_intervals);
            if due {
                let alerts: Vec<AlertItem> = group
                    .alerts
                    .values()
                    .filter(|a| !alert_muted(&a.labels))
                    .map(|a| item(a, now_ms))
                    .collect();
                if !alerts.is_empty() {
                    let status = if alerts.iter().any(|a| a.status == Status::Firing) {
                        Status::Firing
                    } else {
                        Status::Resolved
                    };
                    out.push(Notification {
                        receiver: group.receiver.clone(),
                        status,
                        group_key: group.key.clone(),
                        group_labels: group.group_labels.clone(),
                        common_labels: Notification::common(&alerts, |a| &a.labels),
                        common_annotations: Notification::common(&alerts, |a| &a.annotations),
                        external_url: String::new(),
                        alerts,
                        truncated_alerts: 0,
                    });
                    group.last_sent_ms = Some(now_ms);
                }
            }
            group.last_flush_ms = Some(now_ms);
            group.dirty = false;
            if all_resolved {
                finished.push(key.clone());
            } else {
                // A resolved alert has been told (or muted) once; it leaves the group.
                group.alerts.retain(|_, a| !a.resolved_at(now_ms));
                // The next tick on the group's grid (a late call does not shift it).
                while group.next_flush_ms <= now_ms {
                    group.next_flush_ms += group.interval_ms.max(1);
                }
            }
        }
        for key in finished {
            self.groups.remove(&key);
        }
        out
    }

    /// How many groups are open (for the delivery status).
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The earliest time a group is due, for the caller's timer.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush_ms).min()
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

fn item(alert: &IncomingAlert, now_ms: i64) -> AlertItem {
    let resolved = alert.resolved_at(now_ms);
    AlertItem {
        status: if resolved {
            Status::Resolved
        } else {
            Status::Firing
        },
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at: rfc3339(alert.starts_ms),
        ends_at: if resolved {
            rfc3339(alert.ends_ms.unwrap_or(now_ms))
        } else {
            "0001-01-01T00:00:00Z".into()
        },
        generator_url: alert.generator_url.clone(),
        fingerprint: fingerprint(&alert.labels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertmanagerConfig;

    const S: i64 = 1000;

    fn tree() -> Route {
        let config = AlertmanagerConfig::parse(
            "route:\n  receiver: ops\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h\nreceivers: [{name: ops}]\n",
        )
        .unwrap();
        Route::build(&config.route)
    }

    fn alert(name: &str, instance: &str, ends_ms: Option<i64>) -> IncomingAlert {
        IncomingAlert {
            labels: [("alertname", name), ("instance", instance)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            annotations: Labels::new(),
            starts_ms: 0,
            ends_ms,
            generator_url: String::new(),
        }
    }

    #[test]
    fn group_wait_batches_group_interval_spaces_changes_repeat_interval_reminds() {
        let tree = tree();
        let mut dispatcher = Dispatcher::default();
        dispatcher.ingest(&tree, alert("Down", "a", None), 0);
        dispatcher.ingest(&tree, alert("Down", "b", None), 10 * S);
        assert!(
            dispatcher.flush(29 * S, &[]).is_empty(),
            "group_wait not over"
        );
        let first = dispatcher.flush(30 * S, &[]);
        assert_eq!(first.len(), 1, "one notification for the group");
        assert_eq!(first[0].alerts.len(), 2, "both alerts, batched");
        assert_eq!(first[0].group_key, "route:{alertname=\"Down\"}");
        // A third alert a minute later waits for group_interval after the first send.
        dispatcher.ingest(&tree, alert("Down", "c", None), 90 * S);
        assert!(dispatcher.flush(200 * S, &[]).is_empty());
        let changed = dispatcher.flush(330 * S, &[]);
        assert_eq!(changed[0].alerts.len(), 3);
        // Unchanged and still firing: reminded after repeat_interval.
        assert!(dispatcher.flush(330 * S + 3_599 * S, &[]).is_empty());
        assert_eq!(dispatcher.flush(330 * S + 3_600 * S, &[]).len(), 1);
        // All resolved: one resolved notification, then the group is gone.
        let at = 330 * S + 3_700 * S;
        for instance in ["a", "b", "c"] {
            dispatcher.ingest(&tree, alert("Down", instance, Some(at)), at);
        }
        let resolved = dispatcher.flush(at + 300 * S, &[]);
        assert_eq!(resolved[0].status, Status::Resolved);
        assert_eq!(dispatcher.next_due_ms(), None);
    }

    #[test]
    fn a_silence_leaves_its_alerts_out_of_the_notification() {
        let tree = tree();
        let mut dispatcher = Dispatcher::default();
        dispatcher.ingest(&tree, alert("Down", "a", None), 0);
        dispatcher.ingest(&tree, alert("Down", "b", None), 0);
        let silence = Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("instance=\"a\"").unwrap()],
            starts_ms: 0,
            ends_ms: 60 * S,
            created_by: "root".into(),
            comment: "maintenance".into(),
        };
        let sent = dispatcher.flush(30 * S, std::slice::from_ref(&silence));
        assert_eq!(sent[0].alerts.len(), 1);
        assert_eq!(sent[0].alerts[0].labels["instance"], "b");
        // Every alert silenced: nothing is sent.
        let mut quiet = Dispatcher::default();
        quiet.ingest(&tree, alert("Down", "a", None), 0);
        assert!(quiet.flush(30 * S, &[silence]).is_empty());
    }

    #[test]
    fn an_alert_whose_end_passes_is_told_resolved_at_the_next_tick() {
        // Prometheus sends endsAt in the future and renews it while the alert fires; when
        // it stops, the end passes with no new message and the group must still tell it.
        let tree = tree();
        let mut dispatcher = Dispatcher::default();
        dispatcher.ingest(&tree, alert("Down", "a", Some(100 * S)), 0);
        assert_eq!(dispatcher.flush(30 * S, &[])[0].status, Status::Firing);
        // The tick at 330 s finds it resolved by time.
        let resolved = dispatcher.flush(330 * S, &[]);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, Status::Resolved);
        assert_eq!(dispatcher.next_due_ms(), None, "the group is done");
    }
}

//! What a receiver is sent: a group of alerts, as Alertmanager hands a group to its
//! notifiers — status, receiver, group and common labels, common annotations, each alert
//! with its labels, annotations, times and fingerprint — and its JSON in the shape of
//! Alertmanager's webhook (version 4), which generic webhooks and forwarding use.

use serde::{Deserialize, Serialize};

use crate::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertItem {
    pub status: Status,
    pub labels: Labels,
    pub annotations: Labels,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing, as Alertmanager sends it.
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// A group of alerts for one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub receiver: String,
    pub status: Status,
    pub group_key: String,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: Labels,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<AlertItem>,
    /// Alerts left out of `alerts` because a channel caps the count.
    pub truncated_alerts: usize,
}

impl Notification {
    /// Alertmanager's webhook payload (version 4).
    pub fn webhook_json(&self) -> serde_json::Value {
        serde_json::json!({
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated_alerts,
            "status": self.status.as_str(),
            "receiver": self.receiver,
            "groupLabels": self.group_labels,
            "commonLabels": self.common_labels,
            "commonAnnotations": self.common_annotations,
            "externalURL": self.external_url,
            "alerts": self.alerts,
        })
    }

    /// What the notification says, as a short hash: its status and each alert's
    /// fingerprint and status. The same digest twice is the same message.
    pub fn digest(&self) -> String {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        let mut feed = |text: &str| {
            for byte in text.bytes().chain([0xff]) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(self.status.as_str());
        for alert in &self.alerts {
            feed(&alert.fingerprint);
            feed(alert.status.as_str());
        }
        format!("{hash:016x}")
    }

    /// The labels every alert shares (what Alertmanager calls common labels).
    pub fn common(alerts: &[AlertItem], of: impl Fn(&AlertItem) -> &Labels) -> Labels {
        let Some(first) = alerts.first() else {
            return Labels::new();
        };
        of(first)
            .iter()
            .filter(|(name, value)| alerts.iter().all(|a| of(a).get(*name) == Some(value)))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// A fingerprint of a label set, stable across processes (FNV-1a over the sorted labels,
/// 16 hex digits): the key alerts are deduplicated by.
pub fn fingerprint(labels: &Labels) -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for (name, value) in labels {
        for byte in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_webhook_payload_has_alertmanagers_shape_and_common_labels() {
        let alert = |instance: &str| AlertItem {
            status: Status::Firing,
            labels: labels(&[("alertname", "HighLatency"), ("instance", instance)]),
            annotations: labels(&[("summary", "slow")]),
            starts_at: "2026-12-01T09:30:00Z".into(),
            ends_at: "0001-01-01T00:00:00Z".into(),
            generator_url: String::new(),
            fingerprint: fingerprint(&labels(&[("instance", instance)])),
        };
        let alerts = vec![alert("a"), alert("b")];
        let notification = Notification {
            receiver: "ops".into(),
            status: Status::Firing,
            group_key: "{}:{alertname=\"HighLatency\"}".into(),
            group_labels: labels(&[("alertname", "HighLatency")]),
            common_labels: Notification::common(&alerts, |a| &a.labels),
            common_annotations: Notification::common(&alerts, |a| &a.annotations),
            external_url: "http://console".into(),
            alerts,
            truncated_alerts: 0,
        };
        // Only the label both alerts share is common.
        assert_eq!(
            notification.common_labels,
            labels(&[("alertname", "HighLatency")])
        );
        let json = notification.webhook_json();
        assert_eq!(json["version"], "4");
        assert_eq!(json["alerts"][0]["generatorURL"], "");
        assert_eq!(json["alerts"][1]["labels"]["instance"], "b");
        assert_eq!(json["commonAnnotations"]["summary"], "slow");
        // Fingerprints depend on every label and value, not on their order of insertion.
        assert_ne!(
            fingerprint(&labels(&[("a", "1"), ("b", "2")])),
            fingerprint(&labels(&[("a", "12")]))
        );
    }
}

//! Inhibition as Alertmanager applies it: an alert matching a rule's target side is muted
//! while a firing alert matches the source side and has the same values for every label
//! in `equal` (a missing label counts as empty). An alert that matches both sides is not
//! muted by alerts that also match both (so "critical mutes warning" rules never let an
//! alert mute itself or its twin).

use crate::Labels;
use crate::config::InhibitRuleConfig;
use crate::matcher::all_match;

/// Whether `alert` is muted by any rule, given every firing alert (it may be among them).
pub fn inhibited(rules: &[InhibitRuleConfig], alert: &Labels, firing: &[Labels]) -> bool {
    rules.iter().any(|rule| {
        if !all_match(&rule.target, alert) {
            return false;
        }
        let two_sided = all_match(&rule.source, alert);
        firing.iter().any(|source| {
            all_match(&rule.source, source)
                && rule.equal.iter().all(|name| {
                    source.get(name).map_or("", String::as_str)
                        == alert.get(name).map_or("", String::as_str)
                })
                && !(two_sided && all_match(&rule.target, source))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertmanagerConfig;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_critical_mutes_the_warning_of_the_same_cluster_only() {
        let config = AlertmanagerConfig::parse(
            "route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules:\n  - source_matchers: ['severity=\"critical\"']\n    target_matchers: ['severity=\"warning\"']\n    equal: [cluster]\n",
        )
        .unwrap();
        let rules = &config.inhibit_rules;
        let critical = labels(&[("severity", "critical"), ("cluster", "a")]);
        let warning_a = labels(&[("severity", "warning"), ("cluster", "a")]);
        let warning_b = labels(&[("severity", "warning"), ("cluster", "b")]);
        let firing = [critical.clone(), warning_a.clone(), warning_b.clone()];
        assert!(inhibited(rules, &warning_a, &firing));
        assert!(!inhibited(rules, &warning_b, &firing), "another cluster");
        assert!(!inhibited(rules, &critical, &firing), "the source itself");
        assert!(
            !inhibited(rules, &warning_a, std::slice::from_ref(&warning_a)),
            "no critical firing"
        );
    }

    #[test]
    fn an_alert_matching_both_sides_does_not_mute_itself() {
        let config = AlertmanagerConfig::parse(
            "route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules:\n  - source_matchers: ['alertname=\"NodeDown\"']\n    target_matchers: ['team=\"infra\"']\n",
        )
        .unwrap();
        let both = labels(&[("alertname", "NodeDown"), ("team", "infra")]);
        let other = labels(&[("alertname", "DiskFull"), ("team", "infra")]);
        let source_only = labels(&[("alertname", "NodeDown"), ("team", "db")]);
        assert!(!inhibited(
            &config.inhibit_rules,
            &both,
            std::slice::from_ref(&both)
        ));
        assert!(inhibited(
            &config.inhibit_rules,
            &other,
            std::slice::from_ref(&both)
        ));
        // A two-sided target is muted by a source that is not also a target.
        assert!(inhibited(
            &config.inhibit_rules,
            &both,
            &[both.clone(), source_only]
        ));
    }
}

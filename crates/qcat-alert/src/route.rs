//! The routing tree with Alertmanager's semantics: each node inherits its receiver,
//! `group_by` (and `...`), `group_wait`, `group_interval` and `repeat_interval` from its
//! parent unless it sets them; an alert enters the root, goes depth-first, left to right,
//! into the first child whose matchers it satisfies — and on into later siblings only past
//! a child with `continue` — and a node none of whose children match is itself a match.

use std::time::Duration;

use crate::Labels;
use crate::config::RouteConfig;
use crate::matcher::{Matcher, all_match};

/// What a matched node does with an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOpts {
    pub receiver: String,
    /// The labels alerts are grouped by (sorted); see `group_by_all`.
    pub group_by: Vec<String>,
    /// `group_by: ['...']`: every label.
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

impl Default for RouteOpts {
    /// Alertmanager's defaults for the root.
    fn default() -> Self {
        Self {
            receiver: String::new(),
            group_by: Vec::new(),
            group_by_all: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Where it was configured (`route.routes[1]`).
    pub path: String,
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    pub opts: RouteOpts,
    pub routes: Vec<Route>,
}

impl Route {
    /// The tree with every node's options resolved (the root from the defaults).
    pub fn build(config: &RouteConfig) -> Route {
        Self::build_under(config, &RouteOpts::default())
    }

    fn build_under(config: &RouteConfig, parent: &RouteOpts) -> Route {
        let mut opts = parent.clone();
        if let Some(receiver) = &config.receiver {
            opts.receiver = receiver.clone();
        }
        match &config.group_by {
            Some(labels) => {
                let mut labels = labels.clone();
                labels.sort();
                labels.dedup();
                opts.group_by = labels;
                opts.group_by_all = false;
            }
            None if config.group_by_all => opts.group_by_all = true,
            None => {}
        }
        if let Some(wait) = config.group_wait {
            opts.group_wait = wait;
        }
        if let Some(interval) = config.group_interval {
            opts.group_interval = interval;
        }
        if let Some(interval) = config.repeat_interval {
            opts.repeat_interval = interval;
        }
        // Time intervals apply to the node that names them, not to its children.
        opts.mute_time_intervals = config.mute_time_intervals.clone();
        opts.active_time_intervals = config.active_time_intervals.clone();
        let routes = config
            .routes
            .iter()
            .map(|child| Self::build_under(child, &opts))
            .collect();
        Route {
            path: config.path.clone(),
            matchers: config.matchers.clone(),
            continue_matching: config.continue_matching,
            opts,
            routes,
        }
    }

    /// The nodes an alert with `labels` is routed to, in tree order (empty when it does
    /// not even match this node).
    pub fn matches<'a>(&'a self, labels: &Labels) -> Vec<&'a Route> {
        if !all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for child in &self.routes {
            let matched = child.matches(labels);
            let any = !matched.is_empty();
            found.extend(matched);
            if any && !child.continue_matching {
                break;
            }
        }
        if found.is_empty() {
            found.push(self);
        }
        found
    }

    /// Every node, depth-first.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Route)) {
        visit(self);
        for child in &self.routes {
            child.walk(visit);
        }
    }
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
    fn children_inherit_what_they_do_not_set_and_continue_reaches_later_siblings() {
        let config = AlertmanagerConfig::parse(
            "route:\n  receiver: default\n  group_by: [alertname]\n  group_wait: 10s\n  routes:\n    - matchers: ['severity=\"critical\"']\n      receiver: pager\n      continue: true\n    - matchers: ['team=~\"db|infra\"']\n      receiver: dba\n      group_by: ['...']\n      routes:\n        - matchers: ['env=\"prod\"']\n          repeat_interval: 1h\n    - match_re:\n        service: ^(foo1|foo2)$\n      receiver: foo\nreceivers: [{name: default}, {name: pager}, {name: dba}, {name: foo}]\n",
        )
        .unwrap();
        let tree = Route::build(&config.route);
        let names = |l: &[(&str, &str)]| -> Vec<String> {
            tree.matches(&labels(l))
                .iter()
                .map(|r| r.opts.receiver.clone())
                .collect()
        };
        assert_eq!(
            names(&[("severity", "critical"), ("team", "db")]),
            ["pager", "dba"]
        );
        // Only the critical route matches; with continue and no later match, it alone.
        assert_eq!(names(&[("severity", "critical")]), ["pager"]);
        assert_eq!(names(&[("service", "foo1")]), ["foo"]);
        assert_eq!(
            names(&[("service", "foo1x")]),
            ["default"],
            "regexes are anchored"
        );
        let deep = tree.matches(&labels(&[("team", "db"), ("env", "prod")]));
        // The grandchild inherits dba and group-by-all from its parent, and the root's
        // group_wait; its own repeat_interval.
        assert_eq!(deep[0].opts.receiver, "dba");
        assert!(deep[0].opts.group_by_all);
        assert_eq!(
            deep[0].opts.group_by,
            ["alertname"],
            "the list stays inherited under '...'"
        );
        assert_eq!(deep[0].opts.group_wait, Duration::from_secs(10));
        assert_eq!(deep[0].opts.repeat_interval, Duration::from_secs(3600));
        assert_eq!(
            deep[0].opts.group_interval,
            Duration::from_secs(300),
            "the default"
        );
    }
}

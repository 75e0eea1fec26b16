//! The permission catalog: the only permissions that exist are the ones listed here, and a
//! grant is a pattern over them.

/// One permission the code checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    pub resource: &'static str,
    pub action: &'static str,
    pub summary: &'static str,
}

impl Permission {
    pub fn name(&self) -> String {
        format!("{}:{}", self.resource, self.action)
    }
}

const fn permission(
    resource: &'static str,
    action: &'static str,
    summary: &'static str,
) -> Permission {
    Permission {
        resource,
        action,
        summary,
    }
}

/// Every permission, grouped by resource.
pub const CATALOG: &[Permission] = &[
    permission("monitor", "view", "See dashboards, metrics and baselines"),
    permission(
        "monitor",
        "edit",
        "Add, change, test and remove monitoring targets",
    ),
    permission("alerts", "view", "See alerts, routes and deliveries"),
    permission("alerts", "silence", "Create and expire silences"),
    permission("alerts", "edit", "Edit rules, routes and channels"),
    permission("backup", "view", "See recovery points, jobs and schedules"),
    permission("backup", "run", "Start backups and verifications"),
    permission("backup", "restore", "Restore a recovery point"),
    permission(
        "backup",
        "edit",
        "Edit schedules, retention and repositories",
    ),
    permission("logs", "view", "Read the console's logs"),
    permission(
        "config",
        "view",
        "See the effective configuration (secrets masked)",
    ),
    permission("config", "edit", "Change settings"),
    permission("secrets", "write", "Set named secrets (never read them)"),
    permission("rbac", "view", "See users, roles and grants"),
    permission("rbac", "edit", "Create and change users, roles and grants"),
    permission("audit", "view", "Read the audit trail"),
    permission("audit", "export", "Export the audit trail"),
    permission(
        "system",
        "view",
        "See tasks, jobs, schedules and which process leads",
    ),
    permission("system", "operate", "Cancel jobs other users started"),
];

/// Looks a permission up by its `resource:action` name.
pub fn find(name: &str) -> Option<&'static Permission> {
    // On every permission check: compare the parts, no String per catalog entry.
    let (resource, action) = name.split_once(':')?;
    CATALOG
        .iter()
        .find(|permission| permission.resource == resource && permission.action == action)
}

/// A grant pattern: `resource:action` where either side may be `*`, or `*` for everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern {
    resource: String,
    action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "{0:?} is not a permission pattern; write resource:action, e.g. backup:restore, backup:* or *"
    )]
    Malformed(String),
    #[error("{0:?} matches no permission in the catalog; see the permission list for the names")]
    MatchesNothing(String),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let text = text.trim();
        let (resource, action) = if text == "*" {
            ("*", "*")
        } else {
            text.split_once(':')
                .ok_or_else(|| PatternError::Malformed(text.to_owned()))?
        };
        let valid = |part: &str| {
            part == "*"
                || (!part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        };
        if !valid(resource) || !valid(action) {
            return Err(PatternError::Malformed(text.to_owned()));
        }
        let pattern = Self {
            resource: resource.to_owned(),
            action: action.to_owned(),
        };
        if !CATALOG.iter().any(|permission| pattern.matches(permission)) {
            return Err(PatternError::MatchesNothing(text.to_owned()));
        }
        Ok(pattern)
    }

    pub fn matches(&self, permission: &Permission) -> bool {
        (self.resource == "*" || self.resource == permission.resource)
            && (self.action == "*" || self.action == permission.action)
    }

    /// Whether every permission this pattern grants is also granted by `other`.
    pub fn is_covered_by(&self, grants: &[Pattern]) -> bool {
        CATALOG
            .iter()
            .filter(|permission| self.matches(permission))
            .all(|permission| grants.iter().any(|grant| grant.matches(permission)))
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.resource == "*" && self.action == "*" {
            f.write_str("*")
        } else {
            write!(f, "{}:{}", self.resource, self.action)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_as_patterns() {
        let mut seen = std::collections::HashSet::new();
        for permission in CATALOG {
            assert!(
                seen.insert(permission.name()),
                "duplicate {}",
                permission.name()
            );
            let pattern = Pattern::parse(&permission.name()).unwrap();
            assert!(pattern.matches(permission));
        }
    }

    #[test]
    fn wildcards_match_what_they_say() {
        let restore = find("backup:restore").unwrap();
        let view = find("audit:view").unwrap();
        assert!(Pattern::parse("backup:*").unwrap().matches(restore));
        assert!(!Pattern::parse("backup:*").unwrap().matches(view));
        assert!(Pattern::parse("*:view").unwrap().matches(view));
        assert!(!Pattern::parse("*:view").unwrap().matches(restore));
        assert!(Pattern::parse("*").unwrap().matches(restore));
    }

    #[test]
    fn bad_patterns_say_how_to_write_one() {
        assert!(matches!(
            Pattern::parse("backup"),
            Err(PatternError::Malformed(_))
        ));
        assert!(matches!(
            Pattern::parse("Backup:Run"),
            Err(PatternError::Malformed(_))
        ));
        let err = Pattern::parse("backups:run").unwrap_err();
        assert!(
            matches!(err, PatternError::MatchesNothing(_)),
            "a typo must not grant nothing silently"
        );
    }

    #[test]
    fn coverage_is_judged_on_the_catalog() {
        let grants = vec![Pattern::parse("backup:*").unwrap()];
        assert!(
            Pattern::parse("backup:restore")
                .unwrap()
                .is_covered_by(&grants)
        );
        assert!(!Pattern::parse("*").unwrap().is_covered_by(&grants));
        assert!(!Pattern::parse("*:view").unwrap().is_covered_by(&grants));
    }
}

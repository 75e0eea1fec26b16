//! Roles: each grants permission patterns and inherits every grant of its parents.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{CATALOG, Pattern, Permission};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub description: String,
    /// Shipped roles (viewer, operator, auditor, admin): editable, never deleted.
    pub builtin: bool,
    pub grants: BTreeSet<Pattern>,
    pub parents: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error(
        "role name {0:?} is not valid: use 2 to 40 characters a-z, 0-9, '_' or '-', starting with a letter"
    )]
    InvalidName(String),
    #[error("role {0:?} does not exist")]
    UnknownRole(String),
    #[error("role {role:?} cannot inherit from {parent:?}: that would make a cycle {}", cycle.join(" → "))]
    Cycle {
        role: String,
        parent: String,
        cycle: Vec<String>,
    },
}

/// Role names are identifiers in grants, URLs and the CLI: keep them plain.
pub fn check_role_name(name: &str) -> Result<(), RoleError> {
    let valid = (2..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(RoleError::InvalidName(name.to_owned()))
    }
}

/// One step of an explanation: the role, and the grant in it that matched (on the last step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// From one of the user's roles up to the role holding the grant.
    pub path: Vec<String>,
    pub grant: Pattern,
}

/// All roles, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleGraph {
    roles: BTreeMap<String, Role>,
}

impl RoleGraph {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Self {
        Self {
            roles: roles
                .into_iter()
                .map(|role| (role.name.clone(), role))
                .collect(),
        }
    }

    /// viewer (every `*:view` except the audit trail), operator (viewer + run backups,
    /// silence alerts), auditor (viewer + the audit trail), admin (everything).
    pub fn builtin() -> Self {
        let role = |name: &str, description: &str, grants: &[&str], parents: &[&str]| Role {
            name: name.into(),
            description: description.into(),
            builtin: true,
            grants: grants
                .iter()
                .map(|grant| Pattern::parse(grant).expect("built-in grants are valid"))
                .collect(),
            parents: parents.iter().map(|parent| (*parent).to_owned()).collect(),
        };
        Self::new([
            role(
                "viewer",
                "Watches dashboards, alerts, backups and logs",
                &[
                    "monitor:view",
                    "alerts:view",
                    "backup:view",
                    "logs:view",
                    "config:view",
                ],
                &[],
            ),
            role(
                "operator",
                "Runs and verifies backups, silences alerts",
                &["backup:run", "alerts:silence"],
                &["viewer"],
            ),
            role(
                "auditor",
                "Reads and exports the audit trail and the access model",
                &["audit:view", "audit:export", "rbac:view"],
                &["viewer"],
            ),
            role("admin", "Everything", &["*"], &[]),
        ])
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    pub fn insert(&mut self, role: Role) -> Result<(), RoleError> {
        for parent in &role.parents {
            if !self.roles.contains_key(parent) && parent != &role.name {
                return Err(RoleError::UnknownRole(parent.clone()));
            }
        }
        let mut candidate = self.clone();
        let name = role.name.clone();
        let parents: Vec<String> = role.parents.iter().cloned().collect();
        candidate.roles.insert(name.clone(), role);
        for parent in parents {
            if let Some(cycle) = candidate.path_between(&parent, &name) {
                let mut cycle = cycle;
                cycle.insert(0, name.clone());
                return Err(RoleError::Cycle {
                    role: name,
                    parent,
                    cycle,
                });
            }
        }
        *self = candidate;
        Ok(())
    }

    /// Roles that inherit directly from `name`.
    pub fn children(&self, name: &str) -> Vec<String> {
        self.roles
            .values()
            .filter(|role| role.parents.contains(name))
            .map(|role| role.name.clone())
            .collect()
    }

    /// Removes a role nobody inherits from (callers check [`RoleGraph::children`] first).
    pub fn remove(&mut self, name: &str) -> Option<Role> {
        self.roles.remove(name)
    }

    /// Makes `role` inherit from `parent`, refusing a cycle (named in the error).
    pub fn add_parent(&mut self, role: &str, parent: &str) -> Result<(), RoleError> {
        let mut updated = self
            .roles
            .get(role)
            .cloned()
            .ok_or_else(|| RoleError::UnknownRole(role.to_owned()))?;
        if !self.roles.contains_key(parent) {
            return Err(RoleError::UnknownRole(parent.to_owned()));
        }
        updated.parents.insert(parent.to_owned());
        self.insert(updated)
    }

    /// The inheritance path from `from` up to `to` (both included), if `from` inherits `to`.
    fn path_between(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut stack = vec![vec![from.to_owned()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last().expect("paths are never empty");
            if last == to {
                return Some(path);
            }
            if !seen.insert(last.clone()) {
                continue;
            }
            if let Some(role) = self.roles.get(last) {
                for parent in &role.parents {
                    let mut next = path.clone();
                    next.push(parent.clone());
                    stack.push(next);
                }
            }
        }
        None
    }

    /// Every grant of `roles` and their ancestors.
    pub fn effective_grants(&self, roles: &[String]) -> Vec<Pattern> {
        let mut grants = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = roles.iter().map(String::as_str).collect();
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(role) = self.roles.get(name) {
                grants.extend(role.grants.iter().cloned());
                stack.extend(role.parents.iter().map(String::as_str));
            }
        }
        grants.into_iter().collect()
    }

    /// The catalog permissions `roles` hold.
    pub fn effective_permissions(&self, roles: &[String]) -> Vec<&'static Permission> {
        let grants = self.effective_grants(roles);
        CATALOG
            .iter()
            .filter(|permission| grants.iter().any(|grant| grant.matches(permission)))
            .collect()
    }

    /// Why `roles` hold `permission`: the shortest inheritance path to a matching grant.
    pub fn explain(&self, roles: &[String], permission: &Permission) -> Option<Explanation> {
        let mut queue: std::collections::VecDeque<Vec<String>> =
            roles.iter().map(|role| vec![role.clone()]).collect();
        let mut seen = BTreeSet::new();
        while let Some(path) = queue.pop_front() {
            let name = path.last().expect("paths are never empty").clone();
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(role) = self.roles.get(&name) else {
                continue;
            };
            if let Some(grant) = role.grants.iter().find(|grant| grant.matches(permission)) {
                return Some(Explanation {
                    path,
                    grant: grant.clone(),
                });
            }
            for parent in &role.parents {
                let mut next = path.clone();
                next.push(parent.clone());
                queue.push_back(next);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::find;

    fn names(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    fn custom(name: &str, grants: &[&str], parents: &[&str]) -> Role {
        Role {
            name: name.into(),
            description: String::new(),
            builtin: false,
            grants: grants.iter().map(|g| Pattern::parse(g).unwrap()).collect(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn inheritance_adds_the_parents_grants() {
        let graph = RoleGraph::builtin();
        let operator = graph.effective_permissions(&names(&["operator"]));
        let has = |name: &str| operator.iter().any(|p| p.name() == name);
        assert!(has("backup:run"), "its own grant");
        assert!(has("monitor:view"), "inherited from viewer");
        assert!(!has("backup:restore"), "nobody granted it");
        assert!(
            !has("audit:view"),
            "the viewer role does not read the audit trail"
        );
    }

    #[test]
    fn explain_names_the_path_through_roles() {
        let mut graph = RoleGraph::builtin();
        graph
            .insert(custom("restorer", &["backup:restore"], &["operator"]))
            .unwrap();
        let why = graph
            .explain(&names(&["restorer"]), find("monitor:view").unwrap())
            .unwrap();
        assert_eq!(why.path, names(&["restorer", "operator", "viewer"]));
        assert_eq!(why.grant.to_string(), "monitor:view");
        assert!(
            graph
                .explain(&names(&["restorer"]), find("rbac:edit").unwrap())
                .is_none()
        );
    }

    #[test]
    fn a_cycle_is_refused_with_the_cycle_named() {
        let mut graph = RoleGraph::builtin();
        graph
            .insert(custom("restorer", &[], &["operator"]))
            .unwrap();
        let err = graph.add_parent("viewer", "restorer").unwrap_err();
        match &err {
            RoleError::Cycle { cycle, .. } => {
                assert_eq!(cycle, &names(&["viewer", "restorer", "operator", "viewer"]));
            }
            other => panic!("expected a cycle, got {other}"),
        }
        assert!(
            err.to_string()
                .contains("viewer → restorer → operator → viewer")
        );
        // The graph is unchanged by the refused edit.
        assert!(graph.get("viewer").unwrap().parents.is_empty());
        assert!(matches!(
            graph.add_parent("viewer", "viewer"),
            Err(RoleError::Cycle { .. })
        ));
    }

    #[test]
    fn unknown_parents_are_refused() {
        let mut graph = RoleGraph::builtin();
        assert_eq!(
            graph.insert(custom("x", &[], &["nope"])),
            Err(RoleError::UnknownRole("nope".into()))
        );
    }
}

//! The cache: every user's roles and effective permissions as a bit set, and the role
//! graph, as of one version of the `access` change counter.

use std::collections::HashMap;

use qcat_store::Store;

use crate::catalog::{CATALOG, Pattern, Permission};
use crate::roles::RoleGraph;
use crate::store::load_graph;
use crate::users::User;

use super::{AccessError, TOPIC};

#[derive(Debug, Clone)]
pub(super) struct CachedUser {
    pub(super) id: String,
    pub(super) username: String,
    pub(super) display_name: String,
    pub(super) enabled: bool,
    pub(super) created_at_ms: i64,
    pub(super) last_login_ms: Option<i64>,
    pub(super) roles: Vec<String>,
    pub(super) grants: Vec<Pattern>,
    pub(super) permissions: u64,
}

impl CachedUser {
    pub(super) fn holds(&self, permission: &Permission) -> bool {
        bit(permission).is_some_and(|bit| self.permissions & bit != 0)
    }

    pub(super) fn user(&self) -> User {
        User {
            id: self.id.clone(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            enabled: self.enabled,
            created_at_ms: self.created_at_ms,
            last_login_ms: self.last_login_ms,
            roles: self.roles.clone(),
        }
    }
}

impl Snapshot {
    pub(super) fn user(&self, username: &str) -> Result<&CachedUser, AccessError> {
        self.users
            .get(username)
            .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))
    }
}

pub(super) fn bit(permission: &Permission) -> Option<u64> {
    CATALOG
        .iter()
        .position(|known| known == permission)
        .map(|index| 1u64 << index)
}

/// The catalog permissions `grants` match, as a bit set.
pub(super) fn permission_bits(grants: &[Pattern]) -> u64 {
    CATALOG
        .iter()
        .enumerate()
        .filter(|(_, permission)| grants.iter().any(|grant| grant.matches(permission)))
        .fold(0, |bits, (index, _)| bits | (1u64 << index))
}

/// What the cache holds: the role graph and every user, as of one change-counter version.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pub(super) version: i64,
    pub(super) graph: RoleGraph,
    pub(super) users: HashMap<String, CachedUser>,
}

pub(super) type UserRow = (String, String, String, i64, i64, Option<i64>);

pub(super) async fn load_snapshot(store: &Store) -> Result<Snapshot, AccessError> {
    let version = store.change_version(TOPIC).await?;
    let graph = load_graph(store).await?;
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT id, username, display_name, enabled, created_at_ms, last_login_ms FROM users",
    )
    .fetch_all(store.pool())
    .await?;
    let links: Vec<(String, String)> =
        sqlx::query_as("SELECT user_id, role FROM user_roles ORDER BY role")
            .fetch_all(store.pool())
            .await?;
    let mut roles_of: HashMap<String, Vec<String>> = HashMap::new();
    for (user_id, role) in links {
        roles_of.entry(user_id).or_default().push(role);
    }
    let users = rows
        .into_iter()
        .map(
            |(id, username, display_name, enabled, created_at_ms, last_login_ms)| {
                let roles = roles_of.remove(&id).unwrap_or_default();
                let grants = graph.effective_grants(&roles);
                let user = CachedUser {
                    permissions: permission_bits(&grants),
                    grants,
                    id,
                    username: username.clone(),
                    display_name,
                    enabled: enabled != 0,
                    created_at_ms,
                    last_login_ms,
                    roles,
                };
                (username, user)
            },
        )
        .collect();
    Ok(Snapshot {
        version,
        graph,
        users,
    })
}

/// The permissions (catalog names) that `patterns` grant.
pub(super) fn names_of(patterns: &[Pattern]) -> Vec<String> {
    CATALOG
        .iter()
        .filter(|permission| patterns.iter().any(|grant| grant.matches(permission)))
        .map(Permission::name)
        .collect()
}

//! Persisting the role graph in the console's store (SQLite or PostgreSQL).
//!
//! Saving replaces one role's row, grants and parents in a single transaction, after the
//! in-memory graph has accepted the change (cycles and unknown parents are refused there),
//! so the stored graph is always one the model accepts.

use qcat_core::time::now_ms;
use std::collections::BTreeSet;

use qcat_store::Store;

use crate::catalog::Pattern;
use crate::roles::{Role, RoleError, RoleGraph};

#[derive(Debug, thiserror::Error)]
pub enum RoleStoreError {
    #[error(transparent)]
    Role(#[from] RoleError),
    #[error("the stored grant {pattern:?} of role {role:?} is not a valid pattern: {detail}")]
    BadStoredGrant {
        role: String,
        pattern: String,
        detail: String,
    },
    #[error("storage query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// Loads every role; seeds the built-in roles into an empty store first.
pub async fn load_graph(store: &Store) -> Result<RoleGraph, RoleStoreError> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roles")
        .fetch_one(store.pool())
        .await?;
    if count == 0 {
        seed_builtin(store).await?;
    }
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, description, builtin FROM roles ORDER BY name")
            .fetch_all(store.pool())
            .await?;
    let grants: Vec<(String, String)> =
        sqlx::query_as("SELECT role, pattern FROM role_grants ORDER BY role, pattern")
            .fetch_all(store.pool())
            .await?;
    let parents: Vec<(String, String)> =
        sqlx::query_as("SELECT role, parent FROM role_parents ORDER BY role, parent")
            .fetch_all(store.pool())
            .await?;
    let mut roles = Vec::with_capacity(rows.len());
    for (name, description, builtin) in rows {
        let mut role_grants = BTreeSet::new();
        for (_, pattern) in grants.iter().filter(|(role, _)| role == &name) {
            role_grants.insert(Pattern::parse(pattern).map_err(|err| {
                RoleStoreError::BadStoredGrant {
                    role: name.clone(),
                    pattern: pattern.clone(),
                    detail: err.to_string(),
                }
            })?);
        }
        roles.push(Role {
            parents: parents
                .iter()
                .filter(|(role, _)| role == &name)
                .map(|(_, parent)| parent.clone())
                .collect(),
            grants: role_grants,
            name,
            description,
            builtin: builtin != 0,
        });
    }
    Ok(RoleGraph::new(roles))
}

/// Writes the built-in roles in one transaction: every role row first, so parents exist
/// before anything refers to them.
async fn seed_builtin(store: &Store) -> Result<(), RoleStoreError> {
    let graph = RoleGraph::builtin();
    let mut tx = store.begin_write().await?;
    for role in graph.roles() {
        upsert_role_row(&mut tx, role).await?;
    }
    for role in graph.roles() {
        insert_links(&mut tx, role).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Validates `role` against `graph` (cycles, unknown parents), then stores it.
pub async fn save_role(
    store: &Store,
    graph: &mut RoleGraph,
    role: Role,
) -> Result<(), RoleStoreError> {
    let mut candidate = graph.clone();
    candidate.insert(role.clone())?;
    write_role(store, &role).await?;
    *graph = candidate;
    Ok(())
}

async fn write_role(store: &Store, role: &Role) -> Result<(), RoleStoreError> {
    let mut tx = store.begin_write().await?;
    write_role_in(&mut tx, role).await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces a role's row, grants and parents inside the caller's transaction.
pub(crate) async fn write_role_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    role: &Role,
) -> Result<(), sqlx::Error> {
    upsert_role_row(tx, role).await?;
    sqlx::query("DELETE FROM role_grants WHERE role = $1")
        .bind(&role.name)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM role_parents WHERE role = $1")
        .bind(&role.name)
        .execute(&mut **tx)
        .await?;
    insert_links(tx, role).await
}

/// Inserts or updates a role's own row (not its grants or parents).
async fn upsert_role_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    role: &Role,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO roles (name, description, builtin, updated_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET description = $2, builtin = $3, updated_at_ms = $4",
    )
    .bind(&role.name)
    .bind(&role.description)
    .bind(i64::from(role.builtin))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts a role's grants and parent links (the role rows must exist).
async fn insert_links(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    role: &Role,
) -> Result<(), sqlx::Error> {
    for grant in &role.grants {
        sqlx::query(
            "INSERT INTO role_grants (role, pattern) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&role.name)
        .bind(grant.to_string())
        .execute(&mut **tx)
        .await?;
    }
    for parent in &role.parents {
        sqlx::query(
            "INSERT INTO role_parents (role, parent) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&role.name)
        .bind(parent)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

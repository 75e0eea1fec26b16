//! Changes to users and roles: each checked against escalation (nobody grants what they
//! do not hold), the last administrator and the last holder of `rbac:edit`, and
//! committed with its audit entry.

use std::collections::BTreeSet;

use qcat_audit::Outcome;
use qcat_core::time::now_ms;

use crate::catalog::{Pattern, Permission, find};
use crate::roles::{Role, RoleError, RoleGraph};
use crate::store::write_role_in;
use crate::users::{self, User};

use super::cache::{CachedUser, Snapshot, bit};
use super::{ADMIN_ROLE, AccessControl, AccessError, Proof};

impl AccessControl {
    // ---- changes (the API checked rbac:edit; escalation is checked here) ----

    /// Refuses unless the actor holds every permission in `needed`, naming what is missing.
    fn ensure_covers(
        snapshot: &Snapshot,
        actor: &str,
        what: &str,
        needed: &[&'static Permission],
    ) -> Result<(), AccessError> {
        let held = snapshot.users.get(actor).map_or(0, |user| user.permissions);
        let missing: Vec<String> = needed
            .iter()
            .filter(|permission| bit(permission).is_none_or(|bit| held & bit == 0))
            .map(|permission| permission.name())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(AccessError::Escalation(format!(
                "{actor} cannot {what}: it would grant {} which {actor} does not hold",
                missing.join(", ")
            )))
        }
    }

    fn require_rbac_edit(snapshot: &Snapshot, proof: &Proof) -> Result<(), AccessError> {
        let edit = find("rbac:edit").expect("rbac:edit is in the catalog");
        if snapshot
            .users
            .get(&proof.actor)
            .is_some_and(|user| user.holds(edit))
        {
            Ok(())
        } else {
            Err(AccessError::Denied {
                actor: proof.actor.clone(),
                permission: edit.name(),
            })
        }
    }

    /// Creates (`create`) or replaces a role. The actor must hold everything the role grants
    /// before and after the change; a cycle is refused with the cycle named.
    pub async fn save_role(
        &self,
        proof: &Proof,
        spec: RoleSpec,
        create: bool,
    ) -> Result<Role, AccessError> {
        let action = if create {
            "rbac.role.create"
        } else {
            "rbac.role.update"
        };
        let event = proof.event(action, format!("role:{}", spec.name), Outcome::Ok);
        let snapshot = self.snapshot();
        let before = snapshot.graph.get(&spec.name).cloned();
        let result = (|| {
            Self::require_rbac_edit(&snapshot, proof)?;
            crate::roles::check_role_name(&spec.name)?;
            match (&before, create) {
                (Some(_), true) => {
                    return Err(AccessError::Conflict(format!(
                        "role {:?} already exists: pick another name or edit it",
                        spec.name
                    )));
                }
                (None, false) => return Err(RoleError::UnknownRole(spec.name.clone()).into()),
                _ => {}
            }
            let grants = spec
                .grants
                .iter()
                .map(|grant| Pattern::parse(grant))
                .collect::<Result<BTreeSet<_>, _>>()?;
            let role = Role {
                name: spec.name.clone(),
                description: spec.description.clone(),
                builtin: before.as_ref().is_some_and(|role| role.builtin),
                grants,
                parents: spec.parents.iter().cloned().collect(),
            };
            let mut graph = snapshot.graph.clone();
            graph.insert(role.clone())?;
            Self::ensure_administrable(&snapshot, &graph, None)?;
            let names = [spec.name.clone()];
            if before.is_some() {
                let held_before = snapshot.graph.effective_permissions(&names);
                Self::ensure_covers(
                    &snapshot,
                    &proof.actor,
                    &format!("change role {}", spec.name),
                    &held_before,
                )?;
            }
            let held_after = graph.effective_permissions(&names);
            Self::ensure_covers(
                &snapshot,
                &proof.actor,
                &format!("save role {}", spec.name),
                &held_after,
            )?;
            Ok(role)
        })();
        let role = match result {
            Ok(role) => role,
            Err(err) => return Err(self.refuse(event, err).await),
        };
        let event = event.change(before.as_ref().map(role_json), Some(role_json(&role)));
        let store = &self.inner.store;
        let mut tx = store.pool().begin().await?;
        write_role_in(&mut tx, &role).await?;
        self.commit_change(tx, event, snapshot.version).await?;
        Ok(role)
    }

    /// Deletes a custom role nobody inherits from; its holders lose it.
    pub async fn delete_role(&self, proof: &Proof, name: &str) -> Result<(), AccessError> {
        let event = proof.event("rbac.role.delete", format!("role:{name}"), Outcome::Ok);
        let snapshot = self.snapshot();
        let result = (|| {
            Self::require_rbac_edit(&snapshot, proof)?;
            let role = snapshot
                .graph
                .get(name)
                .ok_or_else(|| RoleError::UnknownRole(name.to_owned()))?;
            if role.builtin {
                return Err(AccessError::Conflict(format!(
                    "role {name:?} is built in: edit its grants instead of deleting it"
                )));
            }
            let children = snapshot.graph.children(name);
            if !children.is_empty() {
                return Err(AccessError::Conflict(format!(
                    "role {name:?} is inherited by {}: remove that inheritance first",
                    children.join(", ")
                )));
            }
            let mut without = snapshot.graph.clone();
            without.remove(name);
            Self::ensure_administrable(&snapshot, &without, None)?;
            let held = snapshot.graph.effective_permissions(&[name.to_owned()]);
            Self::ensure_covers(
                &snapshot,
                &proof.actor,
                &format!("delete role {name}"),
                &held,
            )?;
            Ok(role.clone())
        })();
        let role = match result {
            Ok(role) => role,
            Err(err) => return Err(self.refuse(event, err).await),
        };
        let event = event.change(Some(role_json(&role)), None);
        let store = &self.inner.store;
        let mut tx = store.pool().begin().await?;
        sqlx::query("DELETE FROM user_roles WHERE role = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM role_grants WHERE role = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM role_parents WHERE role = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        self.commit_change(tx, event, snapshot.version).await
    }

    /// One change to an existing role (`qcatctl role grant|revoke|inherit`), checked and
    /// recorded like any [`AccessControl::save_role`].
    pub async fn edit_role(
        &self,
        proof: &Proof,
        role: &str,
        edit: RoleEdit,
    ) -> Result<Role, AccessError> {
        let action = "rbac.role.update";
        let refused = |err: AccessError| async {
            let event = proof.event(action, format!("role:{role}"), Outcome::Failed);
            self.refuse(event, err).await
        };
        let Some(current) = self.snapshot().graph.get(role).map(RoleSpec::from) else {
            return Err(refused(RoleError::UnknownRole(role.to_owned()).into()).await);
        };
        let mut spec = current;
        match edit {
            RoleEdit::Grant(pattern) => spec.grants.push(pattern.trim().to_owned()),
            RoleEdit::Inherit(parent) => spec.parents.push(parent),
            RoleEdit::Revoke(pattern) => {
                let before = spec.grants.len();
                spec.grants.retain(|grant| grant != pattern.trim());
                if spec.grants.len() == before {
                    let err = AccessError::Conflict(format!(
                        "role {role:?} has no grant {pattern:?}: see `role show {role}` for its grants"
                    ));
                    return Err(refused(err).await);
                }
            }
        }
        self.save_role(proof, spec, false).await
    }

    /// Creates a user with roles; the actor must hold everything those roles grant.
    pub async fn create_user(&self, proof: &Proof, input: NewUser) -> Result<User, AccessError> {
        let event = proof.event(
            "rbac.user.create",
            format!("user:{}", input.username),
            Outcome::Ok,
        );
        let snapshot = self.snapshot();
        let result = (|| {
            Self::require_rbac_edit(&snapshot, proof)?;
            users::check_username(&input.username)?;
            users::check_display_name(&input.display_name)?;
            users::check_password(&input.password)?;
            if snapshot.users.contains_key(&input.username) {
                return Err(AccessError::Conflict(format!(
                    "user {:?} already exists: pick another username",
                    input.username
                )));
            }
            self.check_assignable(&snapshot, proof, &input.roles, &input.username)
        })();
        if let Err(err) = result {
            return Err(self.refuse(event, err).await);
        }
        let hash = users::hash_password(&input.password);
        let event = event.change(
            None,
            Some(serde_json::json!({
                "username": input.username,
                "displayName": input.display_name,
                "roles": input.roles,
                "enabled": true,
            })),
        );
        let store = &self.inner.store;
        let mut tx = store.pool().begin().await?;
        let id = insert_user(&mut tx, &input.username, &input.display_name, &hash).await?;
        for role in &input.roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(&id)
                .bind(role)
                .execute(&mut *tx)
                .await?;
        }
        self.commit_change(tx, event, snapshot.version).await?;
        self.user(&input.username)
    }

    fn check_assignable(
        &self,
        snapshot: &Snapshot,
        proof: &Proof,
        roles: &[String],
        username: &str,
    ) -> Result<(), AccessError> {
        for role in roles {
            if snapshot.graph.get(role).is_none() {
                return Err(RoleError::UnknownRole(role.clone()).into());
            }
        }
        let granted = snapshot.graph.effective_permissions(roles);
        Self::ensure_covers(
            snapshot,
            &proof.actor,
            &format!("give {username} the roles {}", roles.join(", ")),
            &granted,
        )
    }

    /// Refuses a change after which no enabled user holds the admin role, or nobody can
    /// edit users and roles any more (which nothing inside the console could undo).
    /// `graph` is the role graph after the change; `changed` a user's roles and enabled
    /// flag after it.
    fn ensure_administrable(
        snapshot: &Snapshot,
        graph: &RoleGraph,
        changed: Option<(&str, &[String], bool)>,
    ) -> Result<(), AccessError> {
        let edit = find("rbac:edit").expect("rbac:edit is in the catalog");
        let after = snapshot.users.values().map(|user| match changed {
            Some((name, roles, enabled)) if name == user.username => (name, roles, enabled),
            _ => (user.username.as_str(), user.roles.as_slice(), user.enabled),
        });
        let (mut admin_holder, mut editor) = (false, false);
        for (_, roles, enabled) in after {
            if enabled {
                admin_holder |= roles.iter().any(|role| role == ADMIN_ROLE);
                editor |= graph.effective_permissions(roles).contains(&edit);
            }
        }
        let subject = changed.map_or("this change", |(name, ..)| name);
        if !admin_holder {
            return Err(AccessError::LastAdmin(format!(
                "{subject} would leave no enabled administrator: give another user the admin role first"
            )));
        }
        if !editor {
            return Err(AccessError::LastAdmin(
                "after this change nobody could edit users and roles: keep rbac:edit with at least one enabled user".into(),
            ));
        }
        Ok(())
    }

    /// A user the actor may change: the actor holds `rbac:edit` and every permission the
    /// user holds now (nobody edits someone more powerful than themselves).
    fn editable_user<'s>(
        snapshot: &'s Snapshot,
        proof: &Proof,
        username: &str,
        what: &str,
    ) -> Result<&'s CachedUser, AccessError> {
        Self::require_rbac_edit(snapshot, proof)?;
        let user = snapshot.user(username)?;
        let current = snapshot.graph.effective_permissions(&user.roles);
        Self::ensure_covers(snapshot, &proof.actor, what, &current)?;
        Ok(user)
    }

    /// Replaces a user's roles. The actor must hold everything the user holds now and will.
    pub async fn set_user_roles(
        &self,
        proof: &Proof,
        username: &str,
        roles: Vec<String>,
    ) -> Result<User, AccessError> {
        let event = proof.event("rbac.user.roles", format!("user:{username}"), Outcome::Ok);
        let snapshot = self.snapshot();
        let result = (|| {
            let user = Self::editable_user(
                &snapshot,
                proof,
                username,
                &format!("change the roles of {username}"),
            )?;
            self.check_assignable(&snapshot, proof, &roles, username)?;
            Self::ensure_administrable(
                &snapshot,
                &snapshot.graph,
                Some((username, &roles, user.enabled)),
            )?;
            Ok(user.clone())
        })();
        let user = match result {
            Ok(user) => user,
            Err(err) => return Err(self.refuse(event, err).await),
        };
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        let event = event.change(
            Some(serde_json::json!({ "roles": user.roles })),
            Some(serde_json::json!({ "roles": roles })),
        );
        let store = &self.inner.store;
        let mut tx = store.pool().begin().await?;
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        for role in &roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(&user.id)
                .bind(role)
                .execute(&mut *tx)
                .await?;
        }
        self.commit_change(tx, event, snapshot.version).await?;
        self.user(username)
    }

    /// Enables or disables a user; disabling ends their sessions.
    pub async fn set_user_enabled(
        &self,
        proof: &Proof,
        username: &str,
        enabled: bool,
    ) -> Result<User, AccessError> {
        let action = if enabled {
            "rbac.user.enable"
        } else {
            "rbac.user.disable"
        };
        let event = proof.event(action, format!("user:{username}"), Outcome::Ok);
        let snapshot = self.snapshot();
        let result = (|| {
            let user =
                Self::editable_user(&snapshot, proof, username, &format!("{action} {username}"))?;
            Self::ensure_administrable(
                &snapshot,
                &snapshot.graph,
                Some((username, &user.roles, enabled)),
            )?;
            Ok(user.clone())
        })();
        let user = match result {
            Ok(user) => user,
            Err(err) => return Err(self.refuse(event, err).await),
        };
        let event = event.change(
            Some(serde_json::json!({ "enabled": user.enabled })),
            Some(serde_json::json!({ "enabled": enabled })),
        );
        let store = &self.inner.store;
        let mut tx = store.pool().begin().await?;
        sqlx::query("UPDATE users SET enabled = $1 WHERE id = $2")
            .bind(i64::from(enabled))
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        self.commit_change(tx, event, snapshot.version).await?;
        if !enabled {
            self.end_sessions_of(username);
        }
        self.user(username)
    }

    /// Sets a password: one's own (any signed-in user), or another's with `rbac:edit` over
    /// a user whose permissions the actor holds.
    ///
    /// Changing one's own password needs the current one (`current`), so an unattended
    /// session cannot be used to take the account over.
    pub async fn set_password(
        &self,
        proof: &Proof,
        username: &str,
        password: &str,
        current: Option<&str>,
    ) -> Result<(), AccessError> {
        let event = proof.event(
            "rbac.user.password",
            format!("user:{username}"),
            Outcome::Ok,
        );
        if username == proof.actor {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT password_hash FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(self.inner.store.pool())
                    .await?;
            let (stored, current) = (stored.unwrap_or_default(), current.unwrap_or("").to_owned());
            let matches =
                tokio::task::spawn_blocking(move || users::verify_password(&stored, &current))
                    .await
                    .unwrap_or(false);
            if !matches {
                let err = AccessError::Escalation(
                    "the current password is wrong: enter your current password to change it"
                        .into(),
                );
                return Err(self.refuse(event, err).await);
            }
        }
        let snapshot = self.snapshot();
        let result = (|| {
            let user = snapshot.user(username)?;
            if username != proof.actor {
                Self::editable_user(
                    &snapshot,
                    proof,
                    username,
                    &format!("set the password of {username}"),
                )?;
            }
            users::check_password(password)?;
            Ok(user.clone())
        })();
        let user = match result {
            Ok(user) => user,
            Err(err) => return Err(self.refuse(event, err).await),
        };
        let hash = users::hash_password(password);
        let store = &self.inner.store;
        let mut tx = store.pool().begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        self.commit_change(tx, event.detail("password changed"), snapshot.version)
            .await
    }
}

pub(super) async fn insert_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    username: &str,
    display_name: &str,
    hash: &str,
) -> Result<String, sqlx::Error> {
    let id = qcat_core::random::hex_id(16);
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, enabled, created_at_ms) \
         VALUES ($1, $2, $3, $4, 1, $5)",
    )
    .bind(&id)
    .bind(username)
    .bind(display_name)
    .bind(hash)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// A role as edited: grants as pattern text, parents by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    pub name: String,
    pub description: String,
    pub grants: Vec<String>,
    pub parents: Vec<String>,
}

impl From<&Role> for RoleSpec {
    fn from(role: &Role) -> Self {
        Self {
            name: role.name.clone(),
            description: role.description.clone(),
            grants: role.grants.iter().map(ToString::to_string).collect(),
            parents: role.parents.iter().cloned().collect(),
        }
    }
}

/// One change to an existing role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleEdit {
    /// Add a grant pattern (`backup:restore`, `backup:*`).
    Grant(String),
    /// Remove a grant pattern exactly as it is written on the role.
    Revoke(String),
    /// Inherit every grant of another role.
    Inherit(String),
}

/// A user to create.
#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub roles: Vec<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("password", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

fn role_json(role: &Role) -> serde_json::Value {
    serde_json::json!({
        "description": role.description,
        "grants": role.grants.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "parents": role.parents.iter().collect::<Vec<_>>(),
    })
}

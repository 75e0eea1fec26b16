//! Changes to users and roles: each checked against escalation (nobody grants what they
//! do not hold), the last administrator and the admin role's completeness, and committed
//! with its audit entry.
//!
//! A change names what changes (grant one pattern, add one parent, set one user's roles),
//! never a whole state copied from a window, so it cannot revert what someone else did
//! meanwhile. A caller that showed a state passes the version it saw (`seen`): if users or
//! roles moved since, the change is refused as a conflict. A caller that showed nothing
//! (`qcatctl role grant`) passes `None`, and the change is re-checked and retried on fresh
//! state a few times, which is safe because it is a delta.

use std::collections::BTreeSet;
use std::sync::Arc;

use qcat_audit::{AuditEvent, Outcome, chain};
use qcat_core::time::now_ms;
use qcat_store::changes::bump_from;

use crate::catalog::{CATALOG, Pattern, Permission, find};
use crate::roles::{Role, RoleError, RoleGraph};
use crate::store::write_role_in;
use crate::users::{self, User};

use super::cache::{CachedUser, Snapshot, bit};
use super::{ADMIN_ROLE, AccessControl, AccessError, Proof, TOPIC};

/// How often a change without a seen version is retried when another writer got first.
const ATTEMPTS: usize = 5;

/// A change checked against one snapshot: what to write, its audit entry (with before and
/// after) and what to return. Checking is plain code over the snapshot; [`Write`]s are
/// carried out in one transaction with the entry and the change counter.
struct Planned<T> {
    event: AuditEvent,
    writes: Vec<Write>,
    value: T,
}

/// One write of a change.
enum Write {
    Role(Role),
    DeleteRole(String),
    NewUser {
        username: String,
        display_name: String,
        hash: String,
        roles: Vec<String>,
    },
    UserRoles {
        user_id: String,
        roles: Vec<String>,
    },
    UserEnabled {
        user_id: String,
        enabled: bool,
    },
    Password {
        user_id: String,
        hash: String,
    },
}

impl Write {
    async fn run(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<(), sqlx::Error> {
        match self {
            Write::Role(role) => write_role_in(tx, role).await?,
            Write::DeleteRole(name) => {
                for sql in [
                    "DELETE FROM user_roles WHERE role = $1",
                    "DELETE FROM role_grants WHERE role = $1",
                    "DELETE FROM role_parents WHERE role = $1",
                    "DELETE FROM roles WHERE name = $1",
                ] {
                    sqlx::query(sql).bind(name).execute(&mut **tx).await?;
                }
            }
            Write::NewUser {
                username,
                display_name,
                hash,
                roles,
            } => {
                let id = insert_user(tx, username, display_name, hash).await?;
                insert_user_roles(tx, &id, roles).await?;
            }
            Write::UserRoles { user_id, roles } => {
                sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
                insert_user_roles(tx, user_id, roles).await?;
            }
            Write::UserEnabled { user_id, enabled } => {
                sqlx::query("UPDATE users SET enabled = $1 WHERE id = $2")
                    .bind(i64::from(*enabled))
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
            }
            Write::Password { user_id, hash } => {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(hash)
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn insert_user_roles(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    roles: &[String],
) -> Result<(), sqlx::Error> {
    for role in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(user_id)
            .bind(role)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Why the actor needs permissions they lack: they would hand them out, or the user they
/// change already holds them.
#[derive(Clone, Copy)]
enum Needed {
    Grants,
    TargetHolds,
}

impl AccessControl {
    // ---- the one way a change is applied ----

    /// The snapshot a change is checked against: the newest this process has, which must be
    /// the one the caller saw when it says what it saw.
    async fn snapshot_for(&self, seen: Option<i64>) -> Result<Arc<Snapshot>, AccessError> {
        let mut snapshot = self.snapshot();
        let Some(seen) = seen else {
            return Ok(snapshot);
        };
        if snapshot.version < seen {
            // Another process changed something this one has not reloaded yet.
            self.reload().await?;
            snapshot = self.snapshot();
        }
        if snapshot.version != seen {
            return Err(stale_view());
        }
        Ok(snapshot)
    }

    /// Plans a change with `plan` against the current snapshot, writes it and commits it
    /// with its audit entry and the change counter, only if users and roles are still at the
    /// version it was checked against (see the module doc for retries). Every refusal is
    /// audited.
    async fn apply<T>(
        &self,
        event: AuditEvent,
        seen: Option<i64>,
        mut plan: impl FnMut(&Snapshot, AuditEvent) -> Result<Planned<T>, AccessError>,
    ) -> Result<T, AccessError> {
        for _ in 0..ATTEMPTS {
            let snapshot = match self.snapshot_for(seen).await {
                Ok(snapshot) => snapshot,
                Err(err) => return Err(self.refuse(event, err).await),
            };
            let Planned {
                event: done,
                writes,
                value,
            } = match plan(&snapshot, event.clone()) {
                Ok(planned) => planned,
                Err(err) => return Err(self.refuse(event, err).await),
            };
            let mut tx = self.inner.store.begin_write().await?;
            for write in &writes {
                write.run(&mut tx).await?;
            }
            if bump_from(&mut tx, self.inner.store.backend(), TOPIC, snapshot.version).await? {
                let entries = chain::append(&mut tx, &[done]).await?;
                tx.commit().await?;
                qcat_audit::mirror::committed(&entries);
                self.reload().await?;
                return Ok(value);
            }
            drop(tx);
            self.reload().await?;
            if seen.is_some() {
                return Err(self.refuse(event, stale_view()).await);
            }
        }
        let err = AccessError::Conflict(format!(
            "users or roles kept changing while this change was tried {ATTEMPTS} times (other consoles are editing them): try again"
        ));
        Err(self.refuse(event, err).await)
    }

    // ---- checks (the API checked rbac:edit; escalation is checked here) ----

    /// Refuses unless the actor holds every permission in `needed`, naming what is missing.
    fn ensure_covers(
        snapshot: &Snapshot,
        actor: &str,
        what: &str,
        why: Needed,
        needed: &[&'static Permission],
    ) -> Result<(), AccessError> {
        let held = snapshot.users.get(actor).map_or(0, |user| user.permissions);
        let missing: Vec<String> = needed
            .iter()
            .filter(|permission| bit(permission).is_none_or(|bit| held & bit == 0))
            .map(|permission| permission.name())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let missing = missing.join(", ");
        Err(AccessError::Escalation(match why {
            Needed::Grants => {
                format!(
                    "{actor} cannot {what}: it would grant {missing}, which {actor} does not hold"
                )
            }
            Needed::TargetHolds => format!(
                "{actor} cannot {what}: that user holds {missing}, which {actor} does not; ask someone who holds it"
            ),
        }))
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

    /// Refuses a change after which nobody could administer the console any more (which
    /// nothing inside the console could undo): the admin role must keep granting every
    /// permission in the catalog and keep an enabled holder, so some enabled user always
    /// holds everything — `rbac:edit` alone would leave `backup:restore` or `secrets:write`
    /// beyond anyone's reach for good. `graph` is the role graph after the change;
    /// `changed` a user's roles and enabled flag after it.
    fn ensure_administrable(
        snapshot: &Snapshot,
        graph: &RoleGraph,
        changed: Option<(&str, &[String], bool)>,
    ) -> Result<(), AccessError> {
        let admin = [ADMIN_ROLE.to_owned()];
        let missing: Vec<String> = {
            let held = graph.effective_permissions(&admin);
            CATALOG
                .iter()
                .filter(|permission| !held.contains(permission))
                .map(Permission::name)
                .collect()
        };
        if !missing.is_empty() {
            return Err(AccessError::LastAdmin(format!(
                "the admin role must keep every permission, and this change would take {} from it: give narrower roles instead",
                missing.join(", ")
            )));
        }
        let mut after = snapshot.users.values().map(|user| match changed {
            Some((name, roles, enabled)) if name == user.username => (roles, enabled),
            _ => (user.roles.as_slice(), user.enabled),
        });
        if !after.any(|(roles, enabled)| enabled && roles.iter().any(|role| role == ADMIN_ROLE)) {
            let subject = changed.map_or("this change", |(name, ..)| name);
            return Err(AccessError::LastAdmin(format!(
                "{subject} would leave no enabled administrator: give another user the admin role first"
            )));
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
        Self::ensure_covers(snapshot, &proof.actor, what, Needed::TargetHolds, &current)?;
        Ok(user)
    }

    fn check_assignable(
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
            Needed::Grants,
            &granted,
        )
    }

    /// The role `spec` describes, checked against `snapshot`: name, existence, patterns,
    /// cycles, administrability, and that the actor holds what it grants before and after.
    fn checked_role(
        snapshot: &Snapshot,
        proof: &Proof,
        spec: &RoleSpec,
        create: bool,
    ) -> Result<(Role, Option<Role>), AccessError> {
        let before = snapshot.graph.get(&spec.name).cloned();
        Self::require_rbac_edit(snapshot, proof)?;
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
        if spec.description.chars().count() > 200 || qcat_core::text::has_control(&spec.description)
        {
            return Err(users::UserInputError::RoleDescription.into());
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
        let names = [spec.name.clone()];
        if before.is_some() {
            let held_before = snapshot.graph.effective_permissions(&names);
            Self::ensure_covers(
                snapshot,
                &proof.actor,
                &format!("change role {}", spec.name),
                Needed::Grants,
                &held_before,
            )?;
        }
        let held_after = graph.effective_permissions(&names);
        Self::ensure_covers(
            snapshot,
            &proof.actor,
            &format!("save role {}", spec.name),
            Needed::Grants,
            &held_after,
        )?;
        // After the escalation checks: someone who may not touch the role hears that first.
        Self::ensure_administrable(snapshot, &graph, None)?;
        Ok((role, before))
    }

    // ---- changes ----

    /// Creates (`create`) or replaces a role. The actor must hold everything the role grants
    /// before and after the change; a cycle is refused with the cycle named.
    pub async fn save_role(
        &self,
        proof: &Proof,
        spec: RoleSpec,
        create: bool,
        seen: Option<i64>,
    ) -> Result<Role, AccessError> {
        let action = if create {
            "rbac.role.create"
        } else {
            "rbac.role.update"
        };
        let event = proof.event(action, format!("role:{}", spec.name), Outcome::Ok);
        self.apply(event, seen, |snapshot, event| {
            let (role, before) = Self::checked_role(snapshot, proof, &spec, create)?;
            Ok(role_write(event, role, before))
        })
        .await
    }

    /// One change to an existing role, applied to the role as it is when the change is
    /// made (so a concurrent change to another grant of the role is kept).
    pub async fn edit_role(
        &self,
        proof: &Proof,
        role: &str,
        edit: RoleEdit,
        seen: Option<i64>,
    ) -> Result<Role, AccessError> {
        let event = proof.event("rbac.role.update", format!("role:{role}"), Outcome::Ok);
        self.apply(event, seen, |snapshot, event| {
            let current = snapshot
                .graph
                .get(role)
                .ok_or_else(|| RoleError::UnknownRole(role.to_owned()))?;
            let spec = edit.applied_to(RoleSpec::from(current))?;
            let (role, before) = Self::checked_role(snapshot, proof, &spec, false)?;
            Ok(role_write(event, role, before))
        })
        .await
    }

    /// Deletes a custom role nobody inherits from; its holders lose it.
    pub async fn delete_role(
        &self,
        proof: &Proof,
        name: &str,
        seen: Option<i64>,
    ) -> Result<(), AccessError> {
        let event = proof.event("rbac.role.delete", format!("role:{name}"), Outcome::Ok);
        self.apply(event, seen, |snapshot, event| {
            Self::require_rbac_edit(snapshot, proof)?;
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
            Self::ensure_administrable(snapshot, &without, None)?;
            let held = snapshot.graph.effective_permissions(&[name.to_owned()]);
            Self::ensure_covers(
                snapshot,
                &proof.actor,
                &format!("delete role {name}"),
                Needed::Grants,
                &held,
            )?;
            Ok(Planned {
                event: event.change(Some(role_json(role)), None),
                writes: vec![Write::DeleteRole(name.to_owned())],
                value: (),
            })
        })
        .await
    }

    /// Creates a user with roles; the actor must hold everything those roles grant.
    pub async fn create_user(&self, proof: &Proof, input: NewUser) -> Result<User, AccessError> {
        let event = proof.event(
            "rbac.user.create",
            format!("user:{}", qcat_core::text::bounded(&input.username, 64)),
            Outcome::Ok,
        );
        // Hash once, off the async workers, before any attempt (retries reuse it).
        let checked = users::check_username(&input.username)
            .and_then(|()| users::check_display_name(&input.display_name))
            .and_then(|()| users::check_password(&input.password));
        if let Err(err) = checked {
            return Err(self.refuse(event, err.into()).await);
        }
        let hash = match users::hash_password_blocking(&input.password).await {
            Ok(hash) => hash,
            Err(err) => {
                let err = AccessError::internal(format!("password hashing stopped: {err}"));
                return Err(self.refuse(event, err).await);
            }
        };
        self.apply(event, None, |snapshot, event| {
            Self::require_rbac_edit(snapshot, proof)?;
            if snapshot.users.contains_key(&input.username) {
                return Err(AccessError::Conflict(format!(
                    "user {:?} already exists: pick another username",
                    input.username
                )));
            }
            Self::check_assignable(snapshot, proof, &input.roles, &input.username)?;
            let event = event.change(
                None,
                Some(serde_json::json!({
                    "username": input.username,
                    "displayName": input.display_name,
                    "roles": input.roles,
                    "enabled": true,
                })),
            );
            Ok(Planned {
                event,
                writes: vec![Write::NewUser {
                    username: input.username.clone(),
                    display_name: input.display_name.clone(),
                    hash: hash.clone(),
                    roles: input.roles.clone(),
                }],
                value: (),
            })
        })
        .await?;
        self.user(&input.username)
    }

    /// Replaces one user's roles. The actor must hold everything the user holds now and will.
    pub async fn set_user_roles(
        &self,
        proof: &Proof,
        username: &str,
        roles: Vec<String>,
        seen: Option<i64>,
    ) -> Result<User, AccessError> {
        let event = proof.event("rbac.user.roles", format!("user:{username}"), Outcome::Ok);
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        self.apply(event, seen, |snapshot, event| {
            let user = Self::editable_user(
                snapshot,
                proof,
                username,
                &format!("change the roles of {username}"),
            )?;
            Self::check_assignable(snapshot, proof, &roles, username)?;
            Self::ensure_administrable(
                snapshot,
                &snapshot.graph,
                Some((username, &roles, user.enabled)),
            )?;
            let event = event.change(
                Some(serde_json::json!({ "roles": user.roles })),
                Some(serde_json::json!({ "roles": roles })),
            );
            Ok(Planned {
                event,
                writes: vec![Write::UserRoles {
                    user_id: user.id.clone(),
                    roles: roles.clone(),
                }],
                value: (),
            })
        })
        .await?;
        self.user(username)
    }

    /// Enables or disables a user; disabling ends their sessions.
    pub async fn set_user_enabled(
        &self,
        proof: &Proof,
        username: &str,
        enabled: bool,
        seen: Option<i64>,
    ) -> Result<User, AccessError> {
        let (action, verb) = if enabled {
            ("rbac.user.enable", "enable")
        } else {
            ("rbac.user.disable", "disable")
        };
        let event = proof.event(action, format!("user:{username}"), Outcome::Ok);
        self.apply(event, seen, |snapshot, event| {
            let user =
                Self::editable_user(snapshot, proof, username, &format!("{verb} {username}"))?;
            Self::ensure_administrable(
                snapshot,
                &snapshot.graph,
                Some((username, &user.roles, enabled)),
            )?;
            let event = event.change(
                Some(serde_json::json!({ "enabled": user.enabled })),
                Some(serde_json::json!({ "enabled": enabled })),
            );
            Ok(Planned {
                event,
                writes: vec![Write::UserEnabled {
                    user_id: user.id.clone(),
                    enabled,
                }],
                value: (),
            })
        })
        .await?;
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
            let stored = stored.unwrap_or_else(|| users::DECOY_HASH.to_owned());
            match users::verify_password_blocking(stored, current.unwrap_or("")).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(self.refuse(event, AccessError::WrongCurrentPassword).await);
                }
                Err(err) => {
                    let err = AccessError::internal(format!("the password check stopped: {err}"));
                    return Err(self.refuse(event, err).await);
                }
            }
        }
        if let Err(err) = users::check_password(password) {
            return Err(self.refuse(event, err.into()).await);
        }
        let hash = match users::hash_password_blocking(password).await {
            Ok(hash) => hash,
            Err(err) => {
                let err = AccessError::internal(format!("password hashing stopped: {err}"));
                return Err(self.refuse(event, err).await);
            }
        };
        self.apply(event, None, |snapshot, event| {
            let user = snapshot.user(username)?;
            if username != proof.actor {
                Self::editable_user(
                    snapshot,
                    proof,
                    username,
                    &format!("set the password of {username}"),
                )?;
            }
            Ok(Planned {
                event: event.detail("password changed"),
                writes: vec![Write::Password {
                    user_id: user.id.clone(),
                    hash: hash.clone(),
                }],
                value: (),
            })
        })
        .await
    }
}

fn role_write(event: AuditEvent, role: Role, before: Option<Role>) -> Planned<Role> {
    Planned {
        event: event.change(before.as_ref().map(role_json), Some(role_json(&role))),
        writes: vec![Write::Role(role.clone())],
        value: role,
    }
}

fn stale_view() -> AccessError {
    AccessError::Conflict(
        "users or roles were changed (by another console or window) since this view was loaded; it shows the current state now: check and try again".into(),
    )
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
    /// Stop inheriting from a parent.
    Uninherit(String),
    /// Replace the description.
    Describe(String),
}

impl RoleEdit {
    /// `spec` with this change made, or why it cannot be made.
    fn applied_to(&self, mut spec: RoleSpec) -> Result<RoleSpec, AccessError> {
        let role = spec.name.clone();
        match self {
            RoleEdit::Grant(pattern) => {
                let pattern = pattern.trim().to_owned();
                if spec.grants.contains(&pattern) {
                    return Err(AccessError::Conflict(format!(
                        "role {role:?} already has the grant {pattern:?}"
                    )));
                }
                spec.grants.push(pattern);
            }
            RoleEdit::Revoke(pattern) => {
                let before = spec.grants.len();
                spec.grants.retain(|grant| grant != pattern.trim());
                if spec.grants.len() == before {
                    return Err(AccessError::Conflict(format!(
                        "role {role:?} has no grant {pattern:?}: see `qcatctl role show {role}` for its grants"
                    )));
                }
            }
            RoleEdit::Inherit(parent) => {
                if spec.parents.contains(parent) {
                    return Err(AccessError::Conflict(format!(
                        "role {role:?} already inherits from {parent:?}"
                    )));
                }
                spec.parents.push(parent.clone());
            }
            RoleEdit::Uninherit(parent) => {
                let before = spec.parents.len();
                spec.parents.retain(|name| name != parent);
                if spec.parents.len() == before {
                    return Err(AccessError::Conflict(format!(
                        "role {role:?} does not inherit from {parent:?}"
                    )));
                }
            }
            RoleEdit::Describe(description) => spec.description = description.clone(),
        }
        Ok(spec)
    }
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

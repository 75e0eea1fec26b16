//! Sign-in, sessions and the access model through the API.
//!
//! Every front end holds a [`SessionSlot`]: the desktop shell one for its window, `qcatctl`
//! one per run, tests as many as they like. The session token lives in the slot, in the
//! core's memory, and never crosses IPC. Every entry point starts with [`Api::guard`], which
//! reads the command's access rule from the registry and returns the proof the domain call
//! needs (or an audited refusal).

use std::sync::Mutex;

use qcat_access::catalog::{CATALOG, Permission};
use qcat_access::control::{
    AccessControl, AccessError, NewUser, Proof, RoleSpec, SessionInfo, SessionToken,
};
use qcat_access::roles::Role;
use qcat_access::users::User;
use qcat_core::ErrorCode;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::commands::{self, Access};

use crate::secrets::SecretText;
use crate::{Api, ApiError};
use qcat_access::control::RoleEdit;

impl From<AccessError> for ApiError {
    fn from(err: AccessError) -> Self {
        match err {
            AccessError::Storage(err) => ApiError::store_failure(&err),
            AccessError::Store(err) => ApiError::storage_ref(&err),
            AccessError::Audit(err) => ApiError::from(err),
            AccessError::Internal(message) => ApiError::internal(&message),
            AccessError::BadStoredGrant(message) => {
                tracing::error!(problem = %message, "the stored role graph is damaged");
                ApiError::new(ErrorCode::StorageUnavailable, message)
            }
            AccessError::Unrecorded { refusal, audit } => {
                let inner = ApiError::from(*refusal);
                let audit = ApiError::from(audit);
                ApiError::new(
                    inner.code,
                    format!(
                        "{} (and this refusal could not be written to the audit trail: {})",
                        inner.message, audit.message
                    ),
                )
            }
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

/// Where a front end keeps its session, and where its calls come from.
pub struct SessionSlot {
    /// What the audit trail records as "from where".
    source: String,
    /// What sign-in throttling counts per: the source without what changes every run.
    place: String,
    token: Mutex<Option<SessionToken>>,
}

impl std::fmt::Debug for SessionSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSlot")
            .field("source", &self.source)
            .field("signed_in", &self.token().is_some())
            .finish()
    }
}

impl SessionSlot {
    /// A slot whose calls are recorded as coming from `source` and throttled per `source`
    /// (tests, and network entry points that know the remote address).
    pub fn new(source: impl Into<String>) -> Self {
        let source = source.into();
        Self {
            place: source.clone(),
            source,
            token: Mutex::new(None),
        }
    }

    /// The desktop window of this OS user: `desktop:uid=1000(alice)@host pid=42`.
    pub fn desktop() -> Self {
        Self::local("desktop")
    }

    /// A `qcatctl` run: `cli:uid=1000(alice)@host pid=42`.
    pub fn cli() -> Self {
        Self::local("cli")
    }

    /// From the OS, never the environment (`$USER` is whatever the caller says it is).
    fn local(front_end: &str) -> Self {
        let me = crate::origin::LocalProcess::current();
        Self {
            source: format!("{front_end}:{}", me.label()),
            place: format!("local:{}", me.place()),
            token: Mutex::new(None),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// What sign-in throttling counts this slot's attempts against.
    pub fn place(&self) -> &str {
        &self.place
    }

    pub(crate) fn token(&self) -> Option<SessionToken> {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, token: Option<SessionToken>) {
        *self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }
}

// ---- wire types ----

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SetupStatus {
    /// No user exists yet: the window shows the first-administrator form.
    pub needs_first_admin: bool,
}

#[derive(Debug, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LoginInput {
    pub username: String,
    #[ts(type = "string")]
    pub password: SecretText,
}

#[derive(Debug, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NewUserInput {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[ts(type = "string")]
    pub password: SecretText,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PasswordInput {
    pub username: String,
    /// The new password.
    #[ts(type = "string")]
    pub password: SecretText,
    /// The caller's current password: required to change one's own.
    #[ts(type = "string | null")]
    #[serde(default)]
    pub current_password: Option<SecretText>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    /// Every permission the user holds, by name (`backup:restore`); the UI shows only the
    /// screens and actions these allow (the core checks again on every call).
    pub permissions: Vec<String>,
    #[ts(type = "number")]
    pub expires_at_ms: i64,
    #[ts(type = "number")]
    pub idle_timeout_secs: u64,
}

impl From<SessionInfo> for SessionView {
    fn from(info: SessionInfo) -> Self {
        Self {
            username: info.username,
            display_name: info.display_name,
            roles: info.roles,
            permissions: info.permissions,
            expires_at_ms: info.expires_at_ms,
            idle_timeout_secs: info.idle_timeout_secs,
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub username: String,
    pub display_name: String,
    pub enabled: bool,
    #[ts(type = "number")]
    pub created_at_ms: i64,
    #[ts(type = "number | null")]
    pub last_login_ms: Option<i64>,
    pub roles: Vec<String>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            username: user.username,
            display_name: user.display_name,
            enabled: user.enabled,
            created_at_ms: user.created_at_ms,
            last_login_ms: user.last_login_ms,
            roles: user.roles,
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PermissionView {
    pub name: String,
    pub resource: String,
    pub action: String,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    pub name: String,
    pub description: String,
    pub builtin: bool,
    /// The role's own grant patterns.
    pub grants: Vec<String>,
    pub parents: Vec<String>,
    /// Permission names granted directly by a pattern of this role.
    pub direct: Vec<String>,
    /// Permission names held only through a parent.
    pub inherited: Vec<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AccessModel {
    /// The version of users and roles this model shows; changes made from it send it back
    /// (`seenVersion`) so a change on a stale view is refused instead of undoing another's.
    #[ts(type = "number")]
    pub version: i64,
    pub permissions: Vec<PermissionView>,
    pub roles: Vec<RoleView>,
    pub users: Vec<UserView>,
}

#[derive(Debug, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoleInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub grants: Vec<String>,
    #[serde(default)]
    pub parents: Vec<String>,
    /// True to create (refused if it exists), false to replace an existing role.
    pub create: bool,
    /// The `AccessModel.version` the caller's view showed; a replace made on an older view is
    /// refused as a conflict.
    #[ts(type = "number | null")]
    #[serde(default)]
    pub seen_version: Option<i64>,
}

/// One change to a role, as the window and `qcatctl` send it.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum RoleChange {
    /// Add a grant pattern (`backup:restore`, `backup:*`).
    Grant(String),
    /// Remove a grant pattern as written on the role.
    Revoke(String),
    /// Inherit from another role.
    Inherit(String),
    /// Stop inheriting from a parent.
    Uninherit(String),
    /// Replace the description.
    Describe(String),
}

impl From<RoleChange> for RoleEdit {
    fn from(change: RoleChange) -> Self {
        match change {
            RoleChange::Grant(pattern) => RoleEdit::Grant(pattern),
            RoleChange::Revoke(pattern) => RoleEdit::Revoke(pattern),
            RoleChange::Inherit(parent) => RoleEdit::Inherit(parent),
            RoleChange::Uninherit(parent) => RoleEdit::Uninherit(parent),
            RoleChange::Describe(text) => RoleEdit::Describe(text),
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AccessExplanation {
    pub username: String,
    pub permission: String,
    pub allowed: bool,
    pub enabled: bool,
    /// From one of the user's roles up through parents to the role holding the grant.
    pub path: Vec<String>,
    /// The grant pattern that matched.
    pub grant: Option<String>,
}

fn role_view(graph: &qcat_access::roles::RoleGraph, role: &Role) -> RoleView {
    let names = [role.name.clone()];
    let held = graph.effective_permissions(&names);
    let (direct, inherited): (Vec<&Permission>, Vec<&Permission>) = held
        .into_iter()
        .partition(|permission| role.grants.iter().any(|grant| grant.matches(permission)));
    RoleView {
        name: role.name.clone(),
        description: role.description.clone(),
        builtin: role.builtin,
        grants: role.grants.iter().map(ToString::to_string).collect(),
        parents: role.parents.iter().cloned().collect(),
        direct: direct.iter().map(|permission| permission.name()).collect(),
        inherited: inherited
            .iter()
            .map(|permission| permission.name())
            .collect(),
    }
}

impl Api {
    pub(crate) fn access(&self) -> Result<&AccessControl, ApiError> {
        self.inner.access.as_ref().map_err(Clone::clone)
    }

    /// The permission check every entry point starts with: the command's rule comes from the
    /// registry, so an entry point cannot be checked against the wrong permission. (Public
    /// commands have nothing to check and do not call it; if one did, it would still need
    /// a session.)
    pub async fn guard(&self, slot: &SessionSlot, command: &str) -> Result<Proof, ApiError> {
        let spec = commands::find(command).ok_or_else(|| {
            ApiError::internal(&format!("{command} is not in the command registry"))
        })?;
        let permission = match spec.access {
            Access::Public | Access::SignedIn => None,
            Access::Permission(permission) => Some(permission),
        };
        Ok(self
            .access()?
            .authorize(slot.token().as_ref(), permission, command, slot.source())
            .await?)
    }

    pub fn setup_status(&self) -> Result<SetupStatus, ApiError> {
        Ok(SetupStatus {
            needs_first_admin: self.access()?.needs_first_admin(),
        })
    }

    /// Creates the first administrator of an empty store and signs the slot in as them.
    pub async fn create_first_admin(
        &self,
        slot: &SessionSlot,
        input: NewUserInput,
    ) -> Result<SessionView, ApiError> {
        let access = self.access()?;
        let password = input.password.0.expose();
        access
            .create_first_admin(
                &input.username,
                &input.display_name,
                password,
                slot.source(),
            )
            .await?;
        self.login(
            slot,
            LoginInput {
                username: input.username,
                password: input.password,
            },
        )
        .await
    }

    pub async fn login(
        &self,
        slot: &SessionSlot,
        input: LoginInput,
    ) -> Result<SessionView, ApiError> {
        let (token, info) = self
            .access()?
            .login(
                &input.username,
                input.password.0.expose(),
                slot.source(),
                slot.place(),
            )
            .await?;
        slot.set(Some(token));
        Ok(info.into())
    }

    pub async fn logout(&self, slot: &SessionSlot) -> Result<(), ApiError> {
        self.guard(slot, "logout").await?;
        if let Some(token) = slot.token() {
            self.access()?.logout(&token, slot.source()).await?;
        }
        slot.set(None);
        Ok(())
    }

    /// The slot's signed-in user, or `None` (signed out, expired, disabled).
    pub fn current_session(&self, slot: &SessionSlot) -> Result<Option<SessionView>, ApiError> {
        let access = self.access()?;
        Ok(slot.token().and_then(|token| {
            access
                .check(Some(&token), None)
                .ok()
                .and_then(|_| access.session(&token))
                .map(SessionView::from)
        }))
    }

    pub async fn change_password(
        &self,
        slot: &SessionSlot,
        input: PasswordInput,
    ) -> Result<(), ApiError> {
        let proof = self.guard(slot, "change_password").await?;
        Ok(self
            .access()?
            .set_password(
                &proof,
                &input.username,
                input.password.0.expose(),
                input
                    .current_password
                    .as_ref()
                    .map(|current| current.0.expose().as_str()),
            )
            .await?)
    }

    pub async fn access_model(&self, slot: &SessionSlot) -> Result<AccessModel, ApiError> {
        let proof = self.guard(slot, "access_model").await?;
        let access = self.access()?;
        let (version, graph) = access.versioned_role_graph();
        Ok(AccessModel {
            version,
            permissions: CATALOG
                .iter()
                .map(|permission| PermissionView {
                    name: permission.name(),
                    resource: permission.resource.to_owned(),
                    action: permission.action.to_owned(),
                    summary: permission.summary.to_owned(),
                })
                .collect(),
            roles: access
                .roles(&proof)
                .iter()
                .map(|role| role_view(&graph, role))
                .collect(),
            users: access
                .users(&proof)
                .into_iter()
                .map(UserView::from)
                .collect(),
        })
    }

    pub async fn explain_access(
        &self,
        slot: &SessionSlot,
        username: &str,
        permission: &str,
    ) -> Result<AccessExplanation, ApiError> {
        let proof = self.guard(slot, "explain_access").await?;
        let (user, why) = self.access()?.explain(&proof, username, permission)?;
        Ok(AccessExplanation {
            username: user.username,
            permission: permission.to_owned(),
            allowed: why.is_some(),
            enabled: user.enabled,
            path: why.as_ref().map(|why| why.path.clone()).unwrap_or_default(),
            grant: why.map(|why| why.grant.to_string()),
        })
    }

    /// Creates a role, or replaces one (`create: false`) as of the version the caller saw.
    pub async fn save_role(
        &self,
        slot: &SessionSlot,
        input: RoleInput,
    ) -> Result<RoleView, ApiError> {
        let proof = self.guard(slot, "save_role").await?;
        let access = self.access()?;
        let spec = RoleSpec {
            name: input.name.trim().to_owned(),
            description: input.description,
            grants: input.grants,
            parents: input.parents,
        };
        let role = access
            .save_role(&proof, spec, input.create, input.seen_version)
            .await?;
        Ok(role_view(&access.role_graph(), &role))
    }

    /// One change to a role: grant or revoke one pattern, add or remove one parent, or a new
    /// description. With `seen` (the window's `AccessModel.version`) a change made on a
    /// stale view is refused as a conflict; without (`qcatctl role grant`), it is applied
    /// to the role as it is then.
    pub async fn edit_role(
        &self,
        slot: &SessionSlot,
        role: &str,
        change: RoleChange,
        seen: Option<i64>,
    ) -> Result<RoleView, ApiError> {
        let proof = self.guard(slot, "edit_role").await?;
        let access = self.access()?;
        let role = access.edit_role(&proof, role, change.into(), seen).await?;
        Ok(role_view(&access.role_graph(), &role))
    }

    pub async fn delete_role(
        &self,
        slot: &SessionSlot,
        name: &str,
        seen: Option<i64>,
    ) -> Result<(), ApiError> {
        let proof = self.guard(slot, "delete_role").await?;
        Ok(self.access()?.delete_role(&proof, name, seen).await?)
    }

    pub async fn create_user(
        &self,
        slot: &SessionSlot,
        input: NewUserInput,
    ) -> Result<UserView, ApiError> {
        let proof = self.guard(slot, "create_user").await?;
        let user = self
            .access()?
            .create_user(
                &proof,
                NewUser {
                    username: input.username.trim().to_owned(),
                    display_name: input.display_name,
                    password: input.password.0.expose().clone(),
                    roles: input.roles,
                },
            )
            .await?;
        Ok(user.into())
    }

    /// Sets one user's roles, as of the version the caller saw (`None`: as they are now).
    pub async fn set_user_roles(
        &self,
        slot: &SessionSlot,
        username: &str,
        roles: Vec<String>,
        seen: Option<i64>,
    ) -> Result<UserView, ApiError> {
        let proof = self.guard(slot, "set_user_roles").await?;
        Ok(self
            .access()?
            .set_user_roles(&proof, username, roles, seen)
            .await?
            .into())
    }

    pub async fn set_user_enabled(
        &self,
        slot: &SessionSlot,
        username: &str,
        enabled: bool,
        seen: Option<i64>,
    ) -> Result<UserView, ApiError> {
        let proof = self.guard(slot, "set_user_enabled").await?;
        Ok(self
            .access()?
            .set_user_enabled(&proof, username, enabled, seen)
            .await?
            .into())
    }
}

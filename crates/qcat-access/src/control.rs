//! Enforcement: sign-in, sessions, the permission check that yields a [`Proof`], and every
//! change to users and roles, each refused when it would escalate and each audited.
//!
//! The effective permissions of every user are cached as a bit set per user (a check is a
//! hash lookup and a bit test). Every change bumps the `access` change counter in its own
//! transaction; this process reloads at once and other processes on the same store reload
//! when they see the counter move (PostgreSQL NOTIFY, or SQLite polling).
//!
//! Changes and their audit entries commit in one transaction, so neither exists without the
//! other. Sign-ins and sign-outs go through the batching writer and are awaited; refusals
//! are submitted (synced to the local spool first with `async_mode`), so nothing is reported
//! done, or refused, before its entry is safe.

use qcat_core::time::now_ms;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use qcat_audit::{AuditEvent, AuditWriter, Outcome, chain};
use qcat_core::ErrorCode;
use qcat_store::Store;
use qcat_store::changes::{bump, bump_from};

use crate::catalog::{CATALOG, Pattern, PatternError, Permission, find};
use crate::roles::{Explanation, Role, RoleError, RoleGraph};
use crate::store::{RoleStoreError, load_graph, write_role_in};
use crate::throttle::{self, ThrottleSettings};
use crate::users::{self, User, UserInputError};

/// The change-counter topic for users, roles and grants.
pub const TOPIC: &str = "access";
/// The role that must always have an enabled holder.
pub const ADMIN_ROLE: &str = "admin";

const _: () = assert!(CATALOG.len() <= 64, "permission sets are u64 bit sets");

/// The `[auth]` settings.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    pub session_idle: Duration,
    pub session_max: Duration,
    pub throttle: ThrottleSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("not signed in: sign in first")]
    NotSignedIn,
    #[error("the session has expired: sign in again")]
    SessionExpired,
    #[error("invalid username or password")]
    BadCredentials,
    #[error("too many failed sign-ins {subject}: try again in {retry_after_secs} s")]
    Throttled {
        subject: String,
        retry_after_secs: u64,
    },
    #[error(
        "{actor} lacks the permission {permission}; ask an administrator for a role that grants it"
    )]
    Denied { actor: String, permission: String },
    #[error("{0}")]
    Escalation(String),
    #[error("{0}")]
    LastAdmin(String),
    #[error(transparent)]
    Input(#[from] UserInputError),
    #[error("grant: {0}")]
    Pattern(#[from] PatternError),
    #[error(transparent)]
    Role(#[from] RoleError),
    #[error("user {0:?} does not exist")]
    UnknownUser(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the access store failed: {0}")]
    Storage(String),
}

impl AccessError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AccessError::NotSignedIn
            | AccessError::SessionExpired
            | AccessError::BadCredentials => ErrorCode::Unauthenticated,
            AccessError::Throttled { .. } => ErrorCode::Throttled,
            AccessError::Denied { .. } | AccessError::Escalation(_) => ErrorCode::PermissionDenied,
            AccessError::LastAdmin(_) | AccessError::Conflict(_) => ErrorCode::Conflict,
            AccessError::Role(RoleError::Cycle { .. }) => ErrorCode::Conflict,
            AccessError::Role(RoleError::UnknownRole(_)) | AccessError::UnknownUser(_) => {
                ErrorCode::NotFound
            }
            AccessError::Input(_)
            | AccessError::Pattern(_)
            | AccessError::Role(RoleError::InvalidName(_)) => ErrorCode::InvalidInput,
            AccessError::Storage(_) => ErrorCode::StorageUnavailable,
        }
    }

    /// How a refusal is recorded: escalation-like refusals are `denied`, the rest `failed`.
    fn outcome(&self) -> Outcome {
        match self {
            AccessError::Denied { .. }
            | AccessError::Escalation(_)
            | AccessError::LastAdmin(_)
            | AccessError::Role(RoleError::Cycle { .. })
            | AccessError::BadCredentials
            | AccessError::Throttled { .. }
            | AccessError::NotSignedIn
            | AccessError::SessionExpired => Outcome::Denied,
            _ => Outcome::Failed,
        }
    }
}

impl From<sqlx::Error> for AccessError {
    fn from(err: sqlx::Error) -> Self {
        AccessError::Storage(err.to_string())
    }
}

impl From<RoleStoreError> for AccessError {
    fn from(err: RoleStoreError) -> Self {
        match err {
            RoleStoreError::Role(err) => AccessError::Role(err),
            other => AccessError::Storage(other.to_string()),
        }
    }
}

impl From<qcat_audit::AuditError> for AccessError {
    fn from(err: qcat_audit::AuditError) -> Self {
        AccessError::Storage(err.to_string())
    }
}

/// An opaque session token. Kept by the front end's session slot, never shown or logged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl SessionToken {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self(hex::encode(bytes))
    }
}

/// Proof that `actor` passed the permission check for one command. Only this module makes
/// them, so an entry point holding one has been checked.
#[derive(Debug)]
pub struct Proof {
    actor: String,
    source: String,
    permission: Option<&'static Permission>,
}

impl Proof {
    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The permission that was checked (`None` for commands any signed-in user may call).
    pub fn permission(&self) -> Option<&'static Permission> {
        self.permission
    }

    /// An audit event by this actor from this source.
    pub fn event(&self, action: &str, target: impl Into<String>, outcome: Outcome) -> AuditEvent {
        AuditEvent::new(&self.actor, action, target, &self.source, outcome)
    }
}

/// The signed-in user as the front end sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    /// When the session ends at the latest (ms since the epoch).
    pub expires_at_ms: i64,
    pub idle_timeout_secs: u64,
}

#[derive(Debug, Clone)]
struct CachedUser {
    id: String,
    username: String,
    display_name: String,
    enabled: bool,
    created_at_ms: i64,
    last_login_ms: Option<i64>,
    roles: Vec<String>,
    grants: Vec<Pattern>,
    permissions: u64,
}

impl CachedUser {
    fn holds(&self, permission: &Permission) -> bool {
        bit(permission).is_some_and(|bit| self.permissions & bit != 0)
    }

    fn user(&self) -> User {
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
    fn user(&self, username: &str) -> Result<&CachedUser, AccessError> {
        self.users
            .get(username)
            .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))
    }
}

fn bit(permission: &Permission) -> Option<u64> {
    CATALOG
        .iter()
        .position(|known| known == permission)
        .map(|index| 1u64 << index)
}

fn permission_bits(graph: &RoleGraph, roles: &[String]) -> u64 {
    graph
        .effective_permissions(roles)
        .into_iter()
        .filter_map(bit)
        .fold(0, |bits, bit| bits | bit)
}

/// What the cache holds: the role graph and every user, as of one change-counter version.
#[derive(Debug, Default)]
struct Snapshot {
    version: i64,
    graph: RoleGraph,
    users: HashMap<String, CachedUser>,
}

struct Session {
    username: String,
    started: Instant,
    started_at_ms: i64,
    last_used: Instant,
}

struct Inner {
    store: Store,
    audit: AuditWriter,
    settings: AuthSettings,
    snapshot: RwLock<Arc<Snapshot>>,
    sessions: Mutex<HashMap<SessionToken, Session>>,
}

/// The access-control service. Cheap to clone.
#[derive(Clone)]
pub struct AccessControl {
    inner: Arc<Inner>,
}

type UserRow = (String, String, String, i64, i64, Option<i64>);

async fn load_snapshot(store: &Store) -> Result<Snapshot, AccessError> {
    let version = store
        .change_version(TOPIC)
        .await
        .map_err(|err| AccessError::Storage(err.to_string()))?;
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
                let user = CachedUser {
                    grants: graph.effective_grants(&roles),
                    permissions: permission_bits(&graph, &roles),
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
fn names_of(patterns: &[Pattern]) -> Vec<String> {
    CATALOG
        .iter()
        .filter(|permission| patterns.iter().any(|grant| grant.matches(permission)))
        .map(Permission::name)
        .collect()
}

impl AccessControl {
    /// Loads users and roles (seeding the built-in roles into an empty store) and follows
    /// changes made by other processes.
    pub async fn open(
        store: Store,
        audit: AuditWriter,
        settings: AuthSettings,
    ) -> Result<Self, AccessError> {
        let snapshot = load_snapshot(&store).await?;
        let mut versions = store
            .watch(TOPIC)
            .await
            .map_err(|err| AccessError::Storage(err.to_string()))?;
        let inner = Arc::new(Inner {
            store,
            audit,
            settings,
            snapshot: RwLock::new(Arc::new(snapshot)),
            sessions: Mutex::new(HashMap::new()),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while versions.changed().await.is_ok() {
                let version = *versions.borrow_and_update();
                let Some(inner) = weak.upgrade() else { break };
                let control = AccessControl { inner };
                if control.snapshot().version < version
                    && let Err(err) = control.reload().await
                {
                    tracing::warn!(error = %err, "access cache not reloaded");
                }
            }
        });
        Ok(Self { inner })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads users and roles from the store into the cache.
    pub async fn reload(&self) -> Result<(), AccessError> {
        let fresh = load_snapshot(&self.inner.store).await?;
        let mut slot = self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if fresh.version >= slot.version {
            *slot = Arc::new(fresh);
        }
        Ok(())
    }

    /// The change-counter version the cache reflects (tests of cross-process invalidation).
    pub fn cached_version(&self) -> i64 {
        self.snapshot().version
    }

    pub fn audit(&self) -> &AuditWriter {
        &self.inner.audit
    }

    /// Commits a change made in `tx` together with its audit entry and the change counter
    /// other processes watch, then reloads this process's cache.
    ///
    /// `based_on` is the version of the users and roles the change was checked against; if
    /// another console changed them since, nothing is written (a lost update, or a check
    /// against stale grants, is worse than asking the user to look again).
    async fn commit_change(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        event: AuditEvent,
        based_on: i64,
    ) -> Result<(), AccessError> {
        if !bump_from(&mut tx, self.inner.store.backend(), TOPIC, based_on).await? {
            drop(tx);
            self.reload().await?;
            let err = AccessError::Conflict(
                "users or roles were changed meanwhile (by another console); the view is up to date now: check and try again".into(),
            );
            return Err(self.refuse(event, err).await);
        }
        chain::append(&mut tx, &[event]).await?;
        tx.commit().await?;
        self.reload().await
    }

    /// Records a refusal (synced to the spool with `async_mode`, else stored), then hands
    /// the error back for the caller to return.
    async fn refuse(&self, event: AuditEvent, err: AccessError) -> AccessError {
        let event = AuditEvent {
            outcome: err.outcome(),
            detail: err.to_string(),
            ..event
        };
        if let Err(audit_err) = self.inner.audit.submit(event).await {
            tracing::error!(error = %audit_err, "a refusal could not be audited");
        }
        err
    }

    // ---- sign-in and sessions ----

    /// True until the first administrator exists.
    pub fn needs_first_admin(&self) -> bool {
        self.snapshot().users.is_empty()
    }

    /// Creates the first administrator of an empty store; refused once any user exists.
    pub async fn create_first_admin(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        source: &str,
    ) -> Result<User, AccessError> {
        let event = AuditEvent::new(
            username,
            "rbac.user.create_first_admin",
            format!("user:{username}"),
            source,
            Outcome::Ok,
        );
        let checked = users::check_username(username)
            .and_then(|()| users::check_password(password))
            .and_then(|()| users::check_display_name(display_name));
        if let Err(err) = checked {
            return Err(self.refuse(event, err.into()).await);
        }
        let hash = users::hash_password(password);
        let store = &self.inner.store;
        let mut tx = store.pool().begin().await?;
        // The audit append takes the chain lock first, which also serializes two consoles
        // racing to create the first administrator.
        let after = serde_json::json!({ "username": username, "roles": [ADMIN_ROLE] });
        chain::append(
            &mut tx,
            &[event
                .clone()
                .detail("first administrator created")
                .change(None, Some(after))],
        )
        .await?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            drop(tx);
            let err = AccessError::Conflict(
                "the console already has users: sign in and ask an administrator for an account"
                    .into(),
            );
            return Err(self.refuse(event, err).await);
        }
        let id = insert_user(&mut tx, username, display_name, &hash).await?;
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(&id)
            .bind(ADMIN_ROLE)
            .execute(&mut *tx)
            .await?;
        bump(&mut tx, store.backend(), TOPIC).await?;
        tx.commit().await?;
        self.reload().await?;
        self.user(username)
    }

    /// Checks the password (after the throttle), records the sign-in and opens a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: &str,
    ) -> Result<(SessionToken, SessionInfo), AccessError> {
        let event = AuditEvent::new(
            "-",
            "auth.login",
            format!("user:{username}"),
            source,
            Outcome::Ok,
        );
        let store = &self.inner.store;
        let throttle = self.inner.settings.throttle;
        if let Some(refusal) = throttle::check(store, username, source).await? {
            let err = AccessError::Throttled {
                subject: refusal.subject,
                retry_after_secs: refusal.retry_after.as_secs().max(1),
            };
            return Err(self.refuse(event, err).await);
        }
        let hash: Option<(String, i64)> =
            sqlx::query_as("SELECT password_hash, enabled FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(store.pool())
                .await?;
        let password = password.to_owned();
        let (hash, enabled) = hash.unwrap_or_else(|| (users::decoy_hash().to_owned(), 0));
        // argon2 is deliberately slow: keep it off the async workers.
        let matches = tokio::task::spawn_blocking(move || users::verify_password(&hash, &password))
            .await
            .unwrap_or(false);
        if !matches || enabled == 0 {
            throttle::record_failure(store, &throttle, username, source).await?;
            let detail = if matches {
                "the account is disabled"
            } else {
                "wrong username or password"
            };
            let event = event.detail(detail);
            return Err(self.refuse(event, AccessError::BadCredentials).await);
        }
        throttle::record_success(store, username, source).await?;
        if !self.snapshot().users.contains_key(username) {
            // Created by another process a moment ago: catch up before the first check.
            self.reload().await?;
        }
        let now = now_ms();
        sqlx::query("UPDATE users SET last_login_ms = $1 WHERE username = $2")
            .bind(now)
            .bind(username)
            .execute(store.pool())
            .await?;
        self.inner
            .audit
            .record(AuditEvent {
                actor: username.to_owned(),
                ..event
            })
            .await?;
        let token = SessionToken::generate();
        let started = Instant::now();
        self.lock_sessions().insert(
            token.clone(),
            Session {
                username: username.to_owned(),
                started,
                started_at_ms: now,
                last_used: started,
            },
        );
        let info = self
            .session(&token)
            .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))?;
        Ok((token, info))
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionToken, Session>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends a session and records the sign-out.
    pub async fn logout(&self, token: &SessionToken, source: &str) -> Result<(), AccessError> {
        let session = self.lock_sessions().remove(token);
        if let Some(session) = session {
            self.inner
                .audit
                .record(AuditEvent::new(
                    &session.username,
                    "auth.logout",
                    format!("user:{}", session.username),
                    source,
                    Outcome::Ok,
                ))
                .await?;
        }
        Ok(())
    }

    /// The signed-in user of a live session.
    pub fn session(&self, token: &SessionToken) -> Option<SessionInfo> {
        let (username, started_at_ms) = {
            let sessions = self.lock_sessions();
            let session = sessions.get(token)?;
            (session.username.clone(), session.started_at_ms)
        };
        let snapshot = self.snapshot();
        let user = snapshot.users.get(&username)?;
        let settings = &self.inner.settings;
        Some(SessionInfo {
            username,
            display_name: user.display_name.clone(),
            roles: user.roles.clone(),
            permissions: names_of(&user.grants),
            expires_at_ms: started_at_ms.saturating_add(
                i64::try_from(settings.session_max.as_millis()).unwrap_or(i64::MAX),
            ),
            idle_timeout_secs: settings.session_idle.as_secs(),
        })
    }

    /// The permission check. `permission` `None` means any signed-in user. A refusal is
    /// audited as `access.denied` on `command:<command>`.
    pub async fn authorize(
        &self,
        token: Option<&SessionToken>,
        permission: Option<&str>,
        command: &str,
        source: &str,
    ) -> Result<Proof, AccessError> {
        let permission = match permission {
            Some(name) => Some(find(name).ok_or_else(|| {
                AccessError::Storage(format!(
                    "command {command} checks unknown permission {name}"
                ))
            })?),
            None => None,
        };
        match self.check(token, permission) {
            Ok(actor) => Ok(Proof {
                actor,
                source: source.to_owned(),
                permission,
            }),
            Err((actor, err)) => {
                let event = AuditEvent::new(
                    actor,
                    "access.denied",
                    format!("command:{command}"),
                    source,
                    Outcome::Denied,
                );
                Err(self.refuse(event, err).await)
            }
        }
    }

    /// The synchronous part of [`AccessControl::authorize`]: the hot path the benchmark times.
    /// On refusal, returns the actor to record (`-` if unknown).
    pub fn check(
        &self,
        token: Option<&SessionToken>,
        permission: Option<&'static Permission>,
    ) -> Result<String, (String, AccessError)> {
        let anonymous = || "-".to_owned();
        let Some(token) = token else {
            return Err((anonymous(), AccessError::NotSignedIn));
        };
        let settings = self.inner.settings;
        let username = {
            let mut sessions = self.lock_sessions();
            let Some(session) = sessions.get_mut(token) else {
                return Err((anonymous(), AccessError::NotSignedIn));
            };
            let now = Instant::now();
            if now.duration_since(session.last_used) > settings.session_idle
                || now.duration_since(session.started) > settings.session_max
            {
                let username = session.username.clone();
                sessions.remove(token);
                return Err((username, AccessError::SessionExpired));
            }
            session.last_used = now;
            session.username.clone()
        };
        let snapshot = self.snapshot();
        let Some(user) = snapshot.users.get(&username).filter(|user| user.enabled) else {
            self.lock_sessions().remove(token);
            return Err((username, AccessError::NotSignedIn));
        };
        if let Some(permission) = permission
            && !user.holds(permission)
        {
            return Err((
                username.clone(),
                AccessError::Denied {
                    actor: username,
                    permission: permission.name(),
                },
            ));
        }
        Ok(username)
    }

    /// Ends every session of `username` in this process (disabled users; other processes
    /// notice at their next check, where the cached user is disabled).
    fn end_sessions_of(&self, username: &str) {
        self.lock_sessions()
            .retain(|_, session| session.username != username);
    }

    // ---- reads (the API checked rbac:view) ----

    pub fn users(&self, _proof: &Proof) -> Vec<User> {
        let snapshot = self.snapshot();
        let mut users: Vec<User> = snapshot.users.values().map(CachedUser::user).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users
    }

    pub fn user(&self, username: &str) -> Result<User, AccessError> {
        self.snapshot().user(username).map(CachedUser::user)
    }

    pub fn roles(&self, _proof: &Proof) -> Vec<Role> {
        self.snapshot().graph.roles().cloned().collect()
    }

    pub fn role_graph(&self) -> RoleGraph {
        self.snapshot().graph.clone()
    }

    /// Why `username` holds `permission`, or `None` when they do not.
    pub fn explain(
        &self,
        _proof: &Proof,
        username: &str,
        permission: &str,
    ) -> Result<(User, Option<Explanation>), AccessError> {
        let permission = find(permission).ok_or_else(|| {
            AccessError::Pattern(PatternError::MatchesNothing(permission.to_owned()))
        })?;
        let snapshot = self.snapshot();
        let user = snapshot.user(username)?;
        let why = if user.enabled {
            snapshot.graph.explain(&user.roles, permission)
        } else {
            None
        };
        Ok((user.user(), why))
    }

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
            Self::require_rbac_edit(&snapshot, proof)?;
            let user = snapshot.user(username)?;
            let current = snapshot.graph.effective_permissions(&user.roles);
            Self::ensure_covers(
                &snapshot,
                &proof.actor,
                &format!("change the roles of {username}"),
                &current,
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
            Self::require_rbac_edit(&snapshot, proof)?;
            let user = snapshot.user(username)?;
            let current = snapshot.graph.effective_permissions(&user.roles);
            Self::ensure_covers(
                &snapshot,
                &proof.actor,
                &format!("{action} {username}"),
                &current,
            )?;
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
                Self::require_rbac_edit(&snapshot, proof)?;
                let current = snapshot.graph.effective_permissions(&user.roles);
                Self::ensure_covers(
                    &snapshot,
                    &proof.actor,
                    &format!("set the password of {username}"),
                    &current,
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

async fn insert_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    username: &str,
    display_name: &str,
    hash: &str,
) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let id = hex::encode(bytes);
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

/// The permissions a set of roles grants, by catalog name (for displays and tests).
pub fn permissions_of(graph: &RoleGraph, roles: &[String]) -> BTreeMap<String, bool> {
    let held = graph.effective_permissions(roles);
    CATALOG
        .iter()
        .map(|permission| (permission.name(), held.contains(&permission)))
        .collect()
}

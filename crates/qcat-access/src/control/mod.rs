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
//!
//! Here: the service, its errors, [`Proof`], reads of the model. `session`: sign-in,
//! sessions and the permission check. `changes`: every change to users and roles and the
//! rules it must pass. `cache`: the per-user permission sets.

mod cache;
mod changes;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use qcat_audit::{AuditEvent, AuditWriter, Outcome};
use qcat_core::ErrorCode;
use qcat_runtime::{Restart, Stage, TaskContext, Tasks};
use qcat_store::Store;

use crate::catalog::{CATALOG, PatternError, Permission, find};
use crate::roles::{Explanation, Role, RoleError, RoleGraph};
use crate::store::RoleStoreError;
use crate::throttle::ThrottleSettings;
use crate::users::{User, UserInputError};

use cache::{CachedUser, Snapshot, load_snapshot};
use session::Session;

pub use changes::{NewUser, RoleEdit, RoleSpec};
pub use session::{SessionInfo, SessionToken};

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
    #[error("the current password is wrong: enter your current password to change it")]
    WrongCurrentPassword,
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
    /// The store failed; the source says how (the API turns it into the cause and the fix).
    #[error("the access store failed")]
    Storage(#[from] sqlx::Error),
    /// The change-counter watch or another store-level operation failed.
    #[error("the access store failed")]
    Store(#[source] Box<qcat_store::StoreError>),
    #[error("the audit trail failed")]
    Audit(#[from] qcat_audit::AuditError),
    /// A stored grant no longer parses: the store was edited by hand or by a newer build.
    #[error("{0}")]
    BadStoredGrant(String),
    /// A refusal whose audit entry could not be written (disk full, store gone): the caller
    /// is told both, so nobody believes the refusal is on record.
    #[error(
        "{refusal} (and this refusal could not be written to the audit trail: {audit}; it is in the console's log)"
    )]
    Unrecorded {
        refusal: Box<AccessError>,
        audit: qcat_audit::AuditError,
    },
    /// A programming error (a command checking a permission missing from the catalog, a
    /// hashing task that died): never the caller's fault, always logged.
    #[error("{0}")]
    Internal(String),
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
            | AccessError::WrongCurrentPassword
            | AccessError::Pattern(_)
            | AccessError::Role(RoleError::InvalidName(_)) => ErrorCode::InvalidInput,
            AccessError::Storage(_) | AccessError::Audit(_) | AccessError::BadStoredGrant(_) => {
                ErrorCode::StorageUnavailable
            }
            AccessError::Store(err) => err.code(),
            AccessError::Unrecorded { refusal, .. } => refusal.code(),
            AccessError::Internal(_) => ErrorCode::Internal,
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
            | AccessError::WrongCurrentPassword
            | AccessError::Throttled { .. }
            | AccessError::NotSignedIn
            | AccessError::SessionExpired => Outcome::Denied,
            _ => Outcome::Failed,
        }
    }

    fn internal(what: impl std::fmt::Display) -> Self {
        AccessError::Internal(what.to_string())
    }
}

impl From<qcat_store::StoreError> for AccessError {
    fn from(err: qcat_store::StoreError) -> Self {
        AccessError::Store(Box::new(err))
    }
}

impl From<RoleStoreError> for AccessError {
    fn from(err: RoleStoreError) -> Self {
        match err {
            RoleStoreError::Role(err) => AccessError::Role(err),
            RoleStoreError::Query(err) => AccessError::Storage(err),
            other @ RoleStoreError::BadStoredGrant { .. } => {
                AccessError::BadStoredGrant(other.to_string())
            }
        }
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

impl AccessControl {
    /// Loads users and roles (seeding the built-in roles into an empty store) and follows
    /// changes made by other processes.
    pub async fn open(
        store: Store,
        audit: AuditWriter,
        settings: AuthSettings,
        tasks: &Tasks,
    ) -> Result<Self, AccessError> {
        let snapshot = load_snapshot(&store).await?;
        let inner = Arc::new(Inner {
            store: store.clone(),
            audit,
            settings,
            snapshot: RwLock::new(Arc::new(snapshot)),
            sessions: Mutex::new(HashMap::new()),
        });
        // The task holds the cache weakly: dropping the control ends it.
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        tasks.spawn(
            "access-cache",
            Stage::Intake,
            Restart::OnFailure,
            move |context| follow_changes(store.clone(), weak.clone(), context),
        );
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

    /// Records a refusal (synced to the spool with `async_mode`, else stored), then hands
    /// the error back for the caller to return.
    async fn refuse(&self, event: AuditEvent, err: AccessError) -> AccessError {
        let event = AuditEvent {
            outcome: err.outcome(),
            detail: err.to_string(),
            ..event
        };
        match self.inner.audit.submit(event).await {
            Ok(()) => err,
            Err(audit) => {
                tracing::error!(error = %audit, refusal = %err, "a refusal could not be audited");
                AccessError::Unrecorded {
                    refusal: Box::new(err),
                    audit,
                }
            }
        }
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

    /// The role graph with the change-counter version it is as of (one snapshot, so the
    /// two agree; users and roles shown with it are read from the same snapshot).
    pub fn versioned_role_graph(&self) -> (i64, RoleGraph) {
        let snapshot = self.snapshot();
        (snapshot.version, snapshot.graph.clone())
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
}

/// Reloads the cache whenever the store's `access` counter moves past it (changes made by
/// another console or by `qcatctl`), until the control is dropped or the task is stopped.
async fn follow_changes(
    store: Store,
    weak: Weak<Inner>,
    context: TaskContext,
) -> Result<(), String> {
    let (mut versions, follower) = store
        .follow(&[TOPIC])
        .await
        .map_err(|err| err.to_string())?;
    let reload = async move {
        while versions.changed().await.is_ok() {
            let version = versions.borrow_and_update()[0];
            let Some(inner) = weak.upgrade() else { break };
            let control = AccessControl { inner };
            if control.snapshot().version < version
                && let Err(err) = control.reload().await
            {
                tracing::warn!(error = %err, "access cache not reloaded");
            }
        }
    };
    tokio::select! {
        () = follower => {}
        () = reload => {}
        () = context.cancel().cancelled() => {}
    }
    Ok(())
}

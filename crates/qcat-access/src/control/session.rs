//! Sign-in (throttled, audited), sessions (idle and absolute expiry) and the permission
//! check that yields a [`Proof`].

use std::collections::HashMap;
use std::time::Instant;

use qcat_audit::{AuditEvent, Outcome, chain};
use qcat_core::time::now_ms;
use qcat_store::changes::bump;

use crate::catalog::{Permission, find};
use crate::throttle;
use crate::users::{self, User};

use super::cache::names_of;
use super::changes::insert_user;
use super::{ADMIN_ROLE, AccessControl, AccessError, Proof, TOPIC};

/// How much of a sign-in name the audit trail keeps (names are at most 32 characters; what
/// an attacker sends can be megabytes).
const MAX_RECORDED_NAME: usize = 64;

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
        Self(qcat_core::random::hex_id(32))
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

pub(super) struct Session {
    pub(super) username: String,
    pub(super) started: Instant,
    pub(super) started_at_ms: i64,
    pub(super) last_used: Instant,
}

impl AccessControl {
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
        let hash = users::hash_password_blocking(password)
            .await
            .map_err(|err| AccessError::internal(format!("password hashing stopped: {err}")))?;
        let store = &self.inner.store;
        let mut tx = store.begin_write().await?;
        // The audit append takes the chain lock first, which also serializes two consoles
        // racing to create the first administrator.
        let after = serde_json::json!({ "username": username, "roles": [ADMIN_ROLE] });
        let entries = chain::append(
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
        qcat_audit::mirror::committed(&entries);
        self.reload().await?;
        self.user(username)
    }

    /// Checks the password (after the throttle has counted the attempt), records the
    /// sign-in and opens a session. `source` is what the audit trail records; `place` what
    /// throttling counts per (the source without what changes on every run, such as a pid).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: &str,
        place: &str,
    ) -> Result<(SessionToken, SessionInfo), AccessError> {
        // What was sent is recorded, bounded: an unauthenticated caller decides this text.
        let event = AuditEvent::new(
            "-",
            "auth.login",
            format!(
                "user:{}",
                qcat_core::text::bounded(username, MAX_RECORDED_NAME)
            ),
            source,
            Outcome::Ok,
        );
        let store = &self.inner.store;
        let throttle = self.inner.settings.throttle;
        // A name of the wrong form cannot exist: it is charged to the place only (no row per
        // junk name) and refused like any wrong password, without hashing.
        let plausible = users::check_username(username).is_ok();
        throttle::clean_up_now_and_then(store, &throttle).await;
        let attempt =
            match throttle::charge(store, &throttle, plausible.then_some(username), place).await {
                Err(err) => return Err(self.refuse(event, err.into()).await),
                Ok(Err(refusal)) => {
                    let err = AccessError::Throttled {
                        subject: refusal.subject,
                        retry_after_secs: refusal.retry_after.as_secs().max(1),
                    };
                    return Err(self.refuse(event, err).await);
                }
                Ok(Ok(attempt)) => attempt,
            };
        let checked = self.check_password(username, password, plausible).await;
        let succeeded = matches!(checked, Ok(None));
        if let Err(err) = throttle::settle(store, &throttle, attempt, succeeded).await {
            return Err(self.refuse(event, err.into()).await);
        }
        match checked {
            Ok(None) => {}
            Ok(Some(detail)) => {
                let event = event.detail(detail);
                return Err(self.refuse(event, AccessError::BadCredentials).await);
            }
            Err(err) => return Err(self.refuse(event, err).await),
        }
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

    /// Checks a sign-in's password: `None` when it matches an enabled user, else what the
    /// trail records. An unknown name is verified against a decoy with the same cost, so
    /// the time does not tell which names exist.
    async fn check_password(
        &self,
        username: &str,
        password: &str,
        plausible: bool,
    ) -> Result<Option<&'static str>, AccessError> {
        if !plausible || !users::plausible_password(password) {
            return Ok(Some("wrong username or password"));
        }
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT password_hash, enabled FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(self.inner.store.pool())
                .await?;
        let (hash, enabled) = row.unwrap_or_else(|| (users::DECOY_HASH.to_owned(), 0));
        let matches = users::verify_password_blocking(hash, password)
            .await
            .map_err(|err| AccessError::internal(format!("the password check stopped: {err}")))?;
        Ok(match (matches, enabled != 0) {
            (true, true) => None,
            (true, false) => Some("the account is disabled"),
            (false, _) => Some("wrong username or password"),
        })
    }

    pub(super) fn lock_sessions(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SessionToken, Session>> {
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
                AccessError::internal(format!(
                    "command {command} checks the permission {name}, which is not in the catalog"
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
    pub(super) fn end_sessions_of(&self, username: &str) {
        self.lock_sessions()
            .retain(|_, session| session.username != username);
    }
}

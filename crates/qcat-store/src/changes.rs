//! Change notification between processes sharing one store (team mode: several consoles and
//! agents on one PostgreSQL; or a console and `qcatctl` on one SQLite file).
//!
//! A writer calls [`bump`] inside the transaction that changes a topic (say, roles). That
//! increments the topic's row in `change_counters` and, on PostgreSQL, sends `NOTIFY` on the
//! topic's channel, which PostgreSQL delivers only if the transaction commits. A reader calls
//! [`Store::follow`] and gets a `watch::Receiver` with the topic's latest version: on
//! PostgreSQL a LISTEN connection wakes it at once (the counter is re-read on every
//! notification and every few seconds, so a dropped connection only delays); on SQLite,
//! which has no notifications, the counter is polled four times a second.

use std::future::Future;
use std::time::Duration;

use sqlx::Any;
use tokio::sync::watch;

use crate::{Backend, Store, StoreError};

/// How often SQLite counters are read (PostgreSQL is notified, and re-reads as a fallback).
const SQLITE_POLL: Duration = Duration::from_millis(250);
const POSTGRES_FALLBACK_POLL: Duration = Duration::from_secs(5);

/// Marks `topic` changed, in the writer's transaction.
pub async fn bump(
    tx: &mut sqlx::Transaction<'_, Any>,
    backend: Backend,
    topic: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO change_counters (topic, version) VALUES ($1, 1) \
         ON CONFLICT (topic) DO UPDATE SET version = change_counters.version + 1",
    )
    .bind(topic)
    .execute(&mut **tx)
    .await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(channel(topic))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// [`bump`] for a caller that does not know the backend (it is read off the connection).
pub async fn bump_here(
    tx: &mut sqlx::Transaction<'_, Any>,
    topic: &str,
) -> Result<(), sqlx::Error> {
    let backend = if tx.backend_name().eq_ignore_ascii_case("postgresql") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    bump(tx, backend, topic).await
}

/// Marks `topic` changed only if it is still at `expected` (the version the writer's
/// decision was based on); returns false, changing nothing, when another writer got there
/// first. Optimistic concurrency: the caller rolls back and reports the conflict.
pub async fn bump_from(
    tx: &mut sqlx::Transaction<'_, Any>,
    backend: Backend,
    topic: &str,
    expected: i64,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "INSERT INTO change_counters (topic, version) VALUES ($1, $2 + 1) \
         ON CONFLICT (topic) DO UPDATE SET version = change_counters.version + 1 \
         WHERE change_counters.version = $2",
    )
    .bind(topic)
    .bind(expected)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if changed && backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(channel(topic))
            .execute(&mut **tx)
            .await?;
    }
    Ok(changed)
}

/// PostgreSQL channel names are identifiers; topics are short lowercase words.
fn channel(topic: &str) -> String {
    format!("qcat_{topic}")
}

impl Store {
    /// The current version of `topic` (0 if it never changed).
    pub async fn change_version(&self, topic: &str) -> Result<i64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM change_counters WHERE topic = $1")
                .bind(topic)
                .fetch_optional(self.pool())
                .await?;
        Ok(version.unwrap_or(0))
    }

    /// Follows the versions of `topics` (in that order) with one query per poll and one
    /// LISTEN connection: the receiver sees every change, as long as the returned follower
    /// runs (the caller runs it as a runtime task; it ends when every receiver is dropped).
    pub async fn follow(
        &self,
        topics: &[&str],
    ) -> Result<
        (
            watch::Receiver<Vec<i64>>,
            impl Future<Output = ()> + Send + use<>,
        ),
        StoreError,
    > {
        let topics: Vec<String> = topics.iter().map(|topic| (*topic).to_owned()).collect();
        let (sender, receiver) = watch::channel(self.change_versions(&topics).await?);
        let store = self.clone();
        let follower = async move {
            match store.listen_url.clone() {
                Some(url) => follow_postgres(store, &url, &topics, sender).await,
                None => follow_by_polling(store, &topics, sender, SQLITE_POLL).await,
            }
        };
        Ok((receiver, follower))
    }

    /// The versions of `topics`, in order (0 for a topic that never changed).
    pub async fn change_versions(&self, topics: &[String]) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT topic, version FROM change_counters")
            .fetch_all(self.pool())
            .await?;
        Ok(topics
            .iter()
            .map(|topic| {
                rows.iter()
                    .find(|(name, _)| name == topic)
                    .map_or(0, |(_, version)| *version)
            })
            .collect())
    }
}

async fn publish(store: &Store, topics: &[String], sender: &watch::Sender<Vec<i64>>) {
    match store.change_versions(topics).await {
        Ok(versions) => {
            sender.send_if_modified(|current| {
                let changed = *current != versions;
                *current = versions;
                changed
            });
        }
        Err(err) => tracing::debug!(?topics, error = %err, "change counters not readable"),
    }
}

async fn follow_by_polling(
    store: Store,
    topics: &[String],
    sender: watch::Sender<Vec<i64>>,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !sender.is_closed() {
        ticks.tick().await;
        publish(&store, topics, &sender).await;
    }
}

async fn follow_postgres(
    store: Store,
    url: &str,
    topics: &[String],
    sender: watch::Sender<Vec<i64>>,
) {
    let channels: Vec<String> = topics.iter().map(|topic| channel(topic)).collect();
    while !sender.is_closed() {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect(url).await?;
            listener
                .listen_all(channels.iter().map(String::as_str))
                .await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(?topics, error = %err, "cannot LISTEN for changes; polling meanwhile");
                tokio::time::sleep(POSTGRES_FALLBACK_POLL).await;
                publish(&store, topics, &sender).await;
                continue;
            }
        };
        // Changes made before LISTEN took effect are caught by this read.
        publish(&store, topics, &sender).await;
        loop {
            tokio::select! {
                notification = listener.try_recv() => match notification {
                    Ok(Some(_)) => publish(&store, topics, &sender).await,
                    // None: the connection dropped (sqlx reconnects); re-read what we missed.
                    Ok(None) => publish(&store, topics, &sender).await,
                    Err(err) => {
                        tracing::warn!(?topics, error = %err, "LISTEN connection failed");
                        break;
                    }
                },
                () = tokio::time::sleep(POSTGRES_FALLBACK_POLL) => {
                    if sender.is_closed() {
                        return;
                    }
                    publish(&store, topics, &sender).await;
                }
            }
        }
    }
}

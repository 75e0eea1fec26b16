//! PostgreSQL 13+ through sqlx: connections by state against `max_connections`, commits,
//! rollbacks, block hits and reads (the cache hit ratio between two readings), deadlocks,
//! temp bytes, database sizes, the longest running query and transaction, replication lag
//! on a primary (per standby) and on a standby, and the top statements of
//! `pg_stat_statements` when the extension is installed (version-aware columns).

use std::str::FromStr;
use std::time::Duration;

use qcat_core::secret::Secret;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use super::{CollectError, FailureKind, Reading};
use crate::targets::Target;
use crate::tsdb::SeriesKey;

pub struct PostgresCollector {
    options: PgConnectOptions,
    connection: Option<PgConnection>,
    /// Block hits and reads of the previous reading, for the hit ratio between readings.
    previous_blocks: Option<(f64, f64)>,
    server_version: i64,
}

impl PostgresCollector {
    pub fn new(target: &Target, password: Option<Secret<String>>) -> Result<Self, CollectError> {
        let mut options = PgConnectOptions::from_str(&target.url).map_err(|err| {
            CollectError::new(
                FailureKind::Config,
                format!("the URL is not a PostgreSQL URL: {err}"),
            )
        })?;
        if let Some(password) = password {
            options = options.password(password.expose());
        }
        let statement_timeout = target.timeout.as_millis().max(1000).to_string();
        options = options
            .application_name("qcat-monitor")
            .options([("statement_timeout", statement_timeout.as_str())]);
        Ok(Self {
            options,
            connection: None,
            previous_blocks: None,
            server_version: 0,
        })
    }

    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    pub async fn collect(
        &mut self,
        at_ms: i64,
        _timeout: Duration,
    ) -> Result<Reading, CollectError> {
        if self.connection.is_none() {
            let mut connection = PgConnection::connect_with(&self.options)
                .await
                .map_err(|err| describe(&err, &self.options))?;
            let version: String = sqlx::query_scalar("SHOW server_version_num")
                .fetch_one(&mut connection)
                .await
                .map_err(|err| describe(&err, &self.options))?;
            self.server_version = version.parse().unwrap_or(0);
            if self.server_version < 130_000 {
                return Err(CollectError::new(
                    FailureKind::Config,
                    format!(
                        "the server is PostgreSQL {} and monitoring needs 13 or newer",
                        self.server_version / 10_000
                    ),
                ));
            }
            self.connection = Some(connection);
        }
        let result = self.read(at_ms).await;
        if result.is_err() {
            // A failed statement may leave the session unusable; start clean next time.
            self.connection = None;
        }
        result
    }

    async fn read(&mut self, at_ms: i64) -> Result<Reading, CollectError> {
        let options = self.options.clone();
        let fail = move |err: sqlx::Error| describe(&err, &options);
        let connection = self.connection.as_mut().expect("connected above");
        let mut reading = Reading::new();
        let key = SeriesKey::new;

        let states = sqlx::query(
            "SELECT coalesce(state, 'unknown'), count(*)::float8 FROM pg_stat_activity \
             WHERE backend_type = 'client backend' GROUP BY 1",
        )
        .fetch_all(&mut *connection)
        .await
        .map_err(fail.clone())?;
        let mut total = 0.0;
        for state in [
            "active",
            "idle",
            "idle in transaction",
            "idle in transaction (aborted)",
        ] {
            let count = states
                .iter()
                .find(|row| row.get::<String, _>(0) == state)
                .map_or(0.0, |row| row.get::<f64, _>(1));
            reading.push(key("pg_connections").with("state", state), at_ms, count);
        }
        for row in &states {
            total += row.get::<f64, _>(1);
        }
        reading.push(key("pg_connections_total"), at_ms, total);
        let max: f64 = sqlx::query_scalar(
            "SELECT setting::float8 FROM pg_settings WHERE name = 'max_connections'",
        )
        .fetch_one(&mut *connection)
        .await
        .map_err(fail.clone())?;
        reading.push(key("pg_max_connections"), at_ms, max);

        let totals = sqlx::query(
            "SELECT coalesce(sum(xact_commit), 0)::float8, coalesce(sum(xact_rollback), 0)::float8, \
             coalesce(sum(blks_hit), 0)::float8, coalesce(sum(blks_read), 0)::float8, \
             coalesce(sum(deadlocks), 0)::float8, coalesce(sum(temp_bytes), 0)::float8, \
             coalesce(sum(tup_returned), 0)::float8, coalesce(sum(tup_inserted + tup_updated + tup_deleted), 0)::float8 \
             FROM pg_stat_database",
        )
        .fetch_one(&mut *connection)
        .await
        .map_err(fail.clone())?;
        let names = [
            "pg_xact_commit_total",
            "pg_xact_rollback_total",
            "pg_blks_hit_total",
            "pg_blks_read_total",
            "pg_deadlocks_total",
            "pg_temp_bytes_total",
            "pg_tuples_returned_total",
            "pg_tuples_written_total",
        ];
        for (index, name) in names.iter().enumerate() {
            reading.push(key(name), at_ms, totals.get::<f64, _>(index));
        }
        let (hit, read) = (totals.get::<f64, _>(2), totals.get::<f64, _>(3));
        if let Some((hit_before, read_before)) = self.previous_blocks {
            let (hits, reads) = (hit - hit_before, read - read_before);
            if hits >= 0.0 && reads >= 0.0 && hits + reads > 0.0 {
                reading.push(key("pg_cache_hit_ratio"), at_ms, hits / (hits + reads));
            }
        } else if hit + read > 0.0 {
            reading.push(key("pg_cache_hit_ratio"), at_ms, hit / (hit + read));
        }
        self.previous_blocks = Some((hit, read));

        let sizes = sqlx::query(
            "SELECT datname, pg_database_size(datname)::float8 FROM pg_database \
             WHERE datallowconn AND NOT datistemplate",
        )
        .fetch_all(&mut *connection)
        .await
        .map_err(fail.clone())?;
        for row in sizes {
            reading.push(
                key("pg_database_size_bytes").with("database", row.get::<String, _>(0)),
                at_ms,
                row.get(1),
            );
        }

        let longest = sqlx::query(
            "SELECT coalesce(max(extract(epoch FROM now() - query_start)) \
                 FILTER (WHERE state = 'active'), 0)::float8, \
             coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8 \
             FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *connection)
        .await
        .map_err(fail.clone())?;
        reading.push(key("pg_longest_query_seconds"), at_ms, longest.get(0));
        reading.push(key("pg_longest_transaction_seconds"), at_ms, longest.get(1));

        let standby = sqlx::query(
            "SELECT pg_is_in_recovery(), \
             extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
        )
        .fetch_one(&mut *connection)
        .await
        .map_err(fail.clone())?;
        let in_recovery: bool = standby.get(0);
        reading.push(
            key("pg_in_recovery"),
            at_ms,
            f64::from(u8::from(in_recovery)),
        );
        if in_recovery && let Some(lag) = standby.get::<Option<f64>, _>(1) {
            reading.push(key("pg_replay_lag_seconds"), at_ms, lag);
        }
        let replicas = sqlx::query(
            "SELECT application_name, coalesce(extract(epoch FROM replay_lag), 0)::float8, \
             coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8 \
             FROM pg_stat_replication WHERE NOT pg_is_in_recovery()",
        )
        .fetch_all(&mut *connection)
        .await
        .map_err(fail.clone())?;
        reading.push(key("pg_replicas"), at_ms, replicas.len() as f64);
        for row in replicas {
            let name: String = row.get(0);
            reading.push(
                key("pg_replication_lag_seconds").with("replica", &name),
                at_ms,
                row.get(1),
            );
            reading.push(
                key("pg_replication_lag_bytes").with("replica", &name),
                at_ms,
                row.get(2),
            );
        }

        let has_statements: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
        )
        .fetch_one(&mut *connection)
        .await
        .map_err(fail.clone())?;
        if has_statements {
            // PostgreSQL 13 renamed total_time/mean_time to total_exec_time/mean_exec_time.
            let (total, mean) = if self.server_version >= 130_000 {
                ("total_exec_time", "mean_exec_time")
            } else {
                ("total_time", "mean_time")
            };
            let statements = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT coalesce(queryid::text, ''), left(query, 300), calls::float8, \
                 {total}::float8, {mean}::float8, rows::float8 FROM pg_stat_statements \
                 ORDER BY {total} DESC LIMIT 10"
            )))
            .fetch_all(&mut *connection)
            .await;
            match statements {
                Ok(rows) => {
                    let top: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|row| {
                            serde_json::json!({
                                "queryId": row.get::<String, _>(0),
                                "query": row.get::<String, _>(1),
                                "calls": row.get::<f64, _>(2),
                                "totalMs": row.get::<f64, _>(3),
                                "meanMs": row.get::<f64, _>(4),
                                "rows": row.get::<f64, _>(5),
                            })
                        })
                        .collect();
                    reading.detail = Some(serde_json::json!({ "topStatements": top }));
                }
                Err(err) => {
                    // The extension exists but is not loaded (shared_preload_libraries):
                    // the other series are still worth having.
                    tracing::debug!(error = %err, "pg_stat_statements not readable");
                }
            }
        }
        Ok(reading)
    }
}

/// A PostgreSQL failure in words, by its SQLSTATE where the server sent one.
fn describe(err: &sqlx::Error, options: &PgConnectOptions) -> CollectError {
    let address = format!("{}:{}", options.get_host(), options.get_port());
    let user = options.get_username();
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|code| code.into_owned()).unwrap_or_default();
            let message = db.message();
            match code.as_str() {
                "28P01" | "28000" => CollectError::new(
                    FailureKind::Auth,
                    format!(
                        "PostgreSQL at {address} refused user {user}: {message} (check the \
                         target's password, and pg_hba.conf for this host)"
                    ),
                ),
                "3D000" => CollectError::new(
                    FailureKind::Config,
                    format!("{message} at {address}: fix the database name in the URL"),
                ),
                "42501" => CollectError::new(
                    FailureKind::Permission,
                    format!(
                        "user {user} may not read the statistics views ({message}): \
                         GRANT pg_monitor TO {user};"
                    ),
                ),
                "53300" => CollectError::new(
                    FailureKind::Refused,
                    format!("PostgreSQL at {address} has no connection slot left: {message}"),
                ),
                _ => CollectError::new(
                    FailureKind::Protocol,
                    format!("PostgreSQL at {address} answered an error {code}: {message}"),
                ),
            }
        }
        sqlx::Error::Io(io) => super::net::connect_error(&address, io),
        sqlx::Error::Tls(tls) => CollectError::new(
            FailureKind::Tls,
            format!(
                "TLS with {address} failed: {tls} (check sslmode and the server's certificate)"
            ),
        ),
        other => CollectError::new(
            FailureKind::Protocol,
            format!("PostgreSQL at {address}: {other}"),
        ),
    }
}

//! Redis 6+ through the redis crate: one `INFO everything` per reading — memory (used, peak,
//! max, fragmentation), clients, ops/s, commands processed, keyspace hits and misses,
//! evictions, expirations, rejected connections, `errorstats`, the last save's status and
//! age, the replication role and lag, keys per db.

use std::time::Duration;

use qcat_core::secret::Secret;
use redis::aio::MultiplexedConnection;

use super::{CollectError, FailureKind, Reading};
use crate::targets::Target;
use crate::tsdb::SeriesKey;

pub struct RedisCollector {
    client: redis::Client,
    address: String,
    connection: Option<MultiplexedConnection>,
}

impl RedisCollector {
    pub fn new(target: &Target, password: Option<Secret<String>>) -> Result<Self, CollectError> {
        let config = |err: redis::RedisError| {
            CollectError::new(
                FailureKind::Config,
                format!("the URL is not a Redis URL: {err}"),
            )
        };
        let mut info =
            redis::IntoConnectionInfo::into_connection_info(target.url.as_str()).map_err(config)?;
        if let Some(password) = password {
            let settings = info
                .redis_settings()
                .clone()
                .set_password(password.expose());
            info = info.set_redis_settings(settings);
        }
        let address = super::net::address_of(target)
            .map(|(host, port)| format!("{host}:{port}"))
            .unwrap_or_default();
        Ok(Self {
            client: redis::Client::open(info).map_err(config)?,
            address,
            connection: None,
        })
    }

    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    pub async fn collect(
        &mut self,
        at_ms: i64,
        timeout: Duration,
    ) -> Result<Reading, CollectError> {
        if self.connection.is_none() {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout));
            let connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|err| self.describe(&err))?;
            self.connection = Some(connection);
        }
        let connection = self.connection.as_mut().expect("connected above");
        let text: Result<String, _> = redis::cmd("INFO")
            .arg("everything")
            .query_async(connection)
            .await;
        match text {
            Ok(text) => Ok(parse_info(&text, at_ms)),
            Err(err) => {
                self.connection = None;
                Err(self.describe(&err))
            }
        }
    }

    fn describe(&self, err: &redis::RedisError) -> CollectError {
        let address = &self.address;
        let text = err.to_string();
        let upper = text.to_ascii_uppercase();
        if upper.contains("WRONGPASS")
            || upper.contains("NOAUTH")
            || upper.contains("INVALID PASSWORD")
            || upper.contains("AUTH")
        {
            return CollectError::new(
                FailureKind::Auth,
                format!(
                    "Redis at {address} refused the sign-in ({text}): check the target's password (and user, for ACLs)"
                ),
            );
        }
        if upper.contains("NOPERM") {
            return CollectError::new(
                FailureKind::Permission,
                format!(
                    "Redis at {address}: this user may not run INFO ({text}): allow +info in its ACL"
                ),
            );
        }
        if err.is_timeout() {
            return CollectError::new(
                FailureKind::Timeout,
                format!("Redis at {address} did not answer in time"),
            );
        }
        if err.is_connection_refusal() {
            return CollectError::new(
                FailureKind::Refused,
                format!(
                    "connection refused at {address}: nothing listens there (is Redis running, on this port?)"
                ),
            );
        }
        if err.is_io_error() {
            return CollectError::new(FailureKind::Refused, format!("Redis at {address}: {text}"));
        }
        CollectError::new(FailureKind::Protocol, format!("Redis at {address}: {text}"))
    }
}

/// Reads `INFO` text into series.
pub fn parse_info(text: &str, at_ms: i64) -> Reading {
    let mut reading = Reading::new();
    let mut fields = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.insert(name, value);
        }
    }
    let number = |name: &str| fields.get(name).and_then(|value| value.parse::<f64>().ok());
    let plain = [
        ("used_memory", "redis_memory_used_bytes"),
        ("used_memory_peak", "redis_memory_peak_bytes"),
        ("maxmemory", "redis_memory_max_bytes"),
        (
            "mem_fragmentation_ratio",
            "redis_memory_fragmentation_ratio",
        ),
        ("connected_clients", "redis_connected_clients"),
        ("blocked_clients", "redis_blocked_clients"),
        (
            "instantaneous_ops_per_sec",
            "redis_instantaneous_ops_per_second",
        ),
        ("total_commands_processed", "redis_commands_processed_total"),
        (
            "total_connections_received",
            "redis_connections_received_total",
        ),
        ("keyspace_hits", "redis_keyspace_hits_total"),
        ("keyspace_misses", "redis_keyspace_misses_total"),
        ("evicted_keys", "redis_evicted_keys_total"),
        ("expired_keys", "redis_expired_keys_total"),
        ("rejected_connections", "redis_rejected_connections_total"),
        ("total_error_replies", "redis_error_replies_total"),
        ("connected_slaves", "redis_connected_replicas"),
        ("uptime_in_seconds", "redis_uptime_seconds"),
        (
            "rdb_changes_since_last_save",
            "redis_changes_since_last_save",
        ),
    ];
    for (field, series) in plain {
        if let Some(value) = number(field) {
            reading.push(SeriesKey::new(series), at_ms, value);
        }
    }
    if let Some(status) = fields.get("rdb_last_bgsave_status") {
        reading.push(
            SeriesKey::new("redis_last_save_ok"),
            at_ms,
            if *status == "ok" { 1.0 } else { 0.0 },
        );
    }
    if let Some(saved) = number("rdb_last_save_time") {
        reading.push(
            SeriesKey::new("redis_last_save_age_seconds"),
            at_ms,
            (at_ms as f64 / 1000.0 - saved).max(0.0),
        );
    }
    if let Some(role) = fields.get("role") {
        reading.push(
            SeriesKey::new("redis_role_primary"),
            at_ms,
            if *role == "master" { 1.0 } else { 0.0 },
        );
    }
    if let Some(seconds) = number("master_last_io_seconds_ago") {
        reading.push(
            SeriesKey::new("redis_replica_last_io_seconds"),
            at_ms,
            seconds,
        );
    }
    let primary_offset = number("master_repl_offset");
    for (name, value) in &fields {
        if let Some(error) = name.strip_prefix("errorstat_") {
            if let Some(count) = value
                .split(',')
                .find_map(|part| part.strip_prefix("count="))
                .and_then(|count| count.parse::<f64>().ok())
            {
                reading.push(
                    SeriesKey::new("redis_errors_total").with("error", error),
                    at_ms,
                    count,
                );
            }
        } else if let Some(db) = name.strip_prefix("db")
            && db.chars().all(|c| c.is_ascii_digit())
        {
            for part in value.split(',') {
                match part.split_once('=') {
                    Some(("keys", keys)) => {
                        if let Ok(keys) = keys.parse::<f64>() {
                            reading.push(SeriesKey::new("redis_keys").with("db", db), at_ms, keys);
                        }
                    }
                    Some(("expires", expires)) => {
                        if let Ok(expires) = expires.parse::<f64>() {
                            reading.push(
                                SeriesKey::new("redis_keys_with_expiry").with("db", db),
                                at_ms,
                                expires,
                            );
                        }
                    }
                    _ => {}
                }
            }
        } else if name.starts_with("slave")
            && name[5..].chars().all(|c| c.is_ascii_digit())
            && let Some(primary) = primary_offset
        {
            // slave0:ip=…,port=…,state=online,offset=…,lag=…
            let part = |key: &str| {
                value
                    .split(',')
                    .find_map(|part| part.strip_prefix(key))
                    .map(str::to_owned)
            };
            let replica = format!(
                "{}:{}",
                part("ip=").unwrap_or_default(),
                part("port=").unwrap_or_default()
            );
            if let Some(offset) = part("offset=").and_then(|o| o.parse::<f64>().ok()) {
                reading.push(
                    SeriesKey::new("redis_replication_lag_bytes").with("replica", &replica),
                    at_ms,
                    (primary - offset).max(0.0),
                );
            }
            if let Some(lag) = part("lag=").and_then(|l| l.parse::<f64>().ok()) {
                reading.push(
                    SeriesKey::new("redis_replication_lag_seconds").with("replica", &replica),
                    at_ms,
                    lag,
                );
            }
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_sections_become_series() {
        let text = "# Memory\r\nused_memory:1024\r\nmem_fragmentation_ratio:1.5\r\n\
                    # Persistence\r\nrdb_last_bgsave_status:err\r\nrdb_last_save_time:100\r\n\
                    # Replication\r\nrole:master\r\nmaster_repl_offset:500\r\n\
                    slave0:ip=10.0.0.2,port=6380,state=online,offset=450,lag=1\r\n\
                    # Errorstats\r\nerrorstat_ERR:count=3\r\n\
                    # Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=0\r\n";
        let reading = parse_info(text, 110_000);
        let value = |name: &str, label: Option<(&str, &str)>| {
            reading
                .samples
                .iter()
                .find(|(key, _, _)| {
                    key.name == name
                        && label
                            .is_none_or(|(l, v)| key.labels.get(l).map(String::as_str) == Some(v))
                })
                .map(|(_, _, value)| *value)
        };
        assert_eq!(value("redis_memory_used_bytes", None), Some(1024.0));
        assert_eq!(
            value("redis_last_save_ok", None),
            Some(0.0),
            "a failed save reads 0"
        );
        assert_eq!(value("redis_last_save_age_seconds", None), Some(10.0));
        assert_eq!(
            value("redis_errors_total", Some(("error", "ERR"))),
            Some(3.0)
        );
        assert_eq!(value("redis_keys", Some(("db", "0"))), Some(10.0));
        assert_eq!(
            value(
                "redis_replication_lag_bytes",
                Some(("replica", "10.0.0.2:6380"))
            ),
            Some(50.0)
        );
    }
}

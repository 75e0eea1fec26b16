//! The embedded metric store.
//!
//! Samples land in an in-memory head: per series and tier an open Gorilla chunk
//! ([`gorilla`]) and the rows not yet rolled up. [`MetricStore::flush`] (run every
//! `monitoring.flush_interval` by the collection task) rolls finished minutes into the 1 m
//! tier and finished hours into the 1 h tier ([`rollup`]), and writes every changed chunk
//! in one transaction: the open chunk is rewritten in place, so a crash loses at most the
//! samples since the last flush. The chunks live in their own SQLite file
//! (`<data dir>/metrics.sqlite3`, WAL, `synchronous = NORMAL`: never on the audit store's
//! synchronous-FULL path) or, in team mode, in tables of the shared PostgreSQL written with
//! `synchronous_commit = off`. Retention drops whole chunks per tier.

mod gorilla;
mod query;
mod rollup;
mod schema;
mod selector;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::{AnyPool, Row};

pub use gorilla::{DecodeError, Decoded, Encoder};
pub use query::{Function, Point, QueryRequest, SeriesPoints};
pub use rollup::{Aggregate, Tier};
pub use selector::{MatchOp, Selector, SeriesKey};

#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("the metric store could not be read or written: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("a stored chunk of {series} cannot be read: {source}")]
    Decode {
        series: String,
        #[source]
        source: DecodeError,
    },
    #[error("{0}")]
    Selector(String),
    #[error(
        "the metric store was written by a newer QCAT Console (layout {0}, this build reads \
         {current}): upgrade the console",
        current = schema::SCHEMA_VERSION
    )]
    NewerLayout(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricBackend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct MetricOptions {
    /// How often the head is written: the most a crash can lose.
    pub flush_interval: Duration,
    /// How long each tier is kept, indexed by [`Tier::index`].
    pub retention: [Duration; 3],
    /// A bucket is rolled up once it ended this long ago; a sample later than that for an
    /// already rolled bucket stays in the raw tier only.
    pub late_grace: Duration,
}

impl Default for MetricOptions {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(5),
            retention: [
                Duration::from_secs(2 * 86_400),
                Duration::from_secs(30 * 86_400),
                Duration::from_secs(400 * 86_400),
            ],
            late_grace: Duration::from_secs(30),
        }
    }
}

/// A series as listed: its key and where it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    pub key: SeriesKey,
    pub id: Option<i64>,
}

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub series: usize,
    pub chunks: usize,
    pub rollup_rows: usize,
}

pub struct MetricStore {
    pool: AnyPool,
    backend: MetricBackend,
    options: MetricOptions,
    head: Mutex<Head>,
    /// One flush at a time (the periodic one and the final one at shutdown).
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Head {
    series: HashMap<String, SeriesHead>,
    ingested: u64,
    out_of_order: u64,
}

struct SeriesHead {
    key: SeriesKey,
    /// The row in `metric_series`, once the first flush found or created it.
    id: Option<i64>,
    tiers: [TierHead; 3],
    last_append_ms: i64,
}

#[derive(Default)]
struct TierHead {
    open: Option<OpenChunk>,
    /// Chunks closed since the last flush, to be written by the next.
    closed: Vec<OpenChunk>,
    /// Rows not yet rolled into the next tier.
    pending: Vec<(i64, Aggregate)>,
    /// Every bucket of the next tier before this time is rolled; `None` until known.
    rolled_until: Option<i64>,
    /// Bumped by each change; a flush clears `dirty` only if nothing changed meanwhile.
    version: u64,
    flushed_version: u64,
}

#[derive(Clone)]
struct OpenChunk {
    start_ms: i64,
    end_ms: i64,
    encoder: Encoder,
}

impl TierHead {
    fn push(&mut self, tier: Tier, timestamp: i64, fields: &[f64], keep_pending: bool) {
        if let Some(open) = &self.open
            && open.encoder.rows() >= tier.chunk_rows()
        {
            let full = self.open.take().expect("checked above");
            self.closed.push(full);
        }
        let open = self.open.get_or_insert_with(|| OpenChunk {
            start_ms: timestamp,
            end_ms: timestamp,
            encoder: Encoder::new(tier.fields()),
        });
        open.encoder.push(timestamp, fields);
        open.end_ms = timestamp;
        if keep_pending && !fields[0].is_nan() {
            self.pending
                .push((timestamp, Aggregate::from_fields(fields)));
        }
        self.version += 1;
    }

    fn last_timestamp(&self) -> Option<i64> {
        self.open
            .as_ref()
            .and_then(|open| open.encoder.last_timestamp())
    }
}

impl MetricStore {
    /// Opens (creating if needed) the SQLite metric file, 0600, WAL with
    /// `synchronous = NORMAL`.
    pub async fn open_sqlite(path: &Path, options: MetricOptions) -> Result<Self, MetricError> {
        sqlx::any::install_default_drivers();
        if !path.exists() {
            qcat_core::private_files::create_if_missing(path)
                .map_err(|err| MetricError::Storage(sqlx::Error::Io(err)))?;
        }
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        // 16 KiB pages hold several ~1.5 KiB chunks each (4 KiB ones waste
                        // a third); page_size only applies before the file's first table.
                        "PRAGMA busy_timeout = 5000; PRAGMA page_size = 16384; \
                         PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Self::with_pool(pool, MetricBackend::Sqlite, options).await
    }

    /// Uses the shared PostgreSQL store's pool (team mode): the tables are created if
    /// missing, and every metric write commits with `synchronous_commit = off`.
    pub async fn on_postgres(pool: AnyPool, options: MetricOptions) -> Result<Self, MetricError> {
        Self::with_pool(pool, MetricBackend::Postgres, options).await
    }

    async fn with_pool(
        pool: AnyPool,
        backend: MetricBackend,
        options: MetricOptions,
    ) -> Result<Self, MetricError> {
        schema::apply(&pool, backend).await?;
        Ok(Self {
            pool,
            backend,
            options,
            head: Mutex::new(Head::default()),
            flushing: tokio::sync::Mutex::new(()),
        })
    }

    pub fn backend(&self) -> MetricBackend {
        self.backend
    }

    pub fn options(&self) -> &MetricOptions {
        &self.options
    }

    /// Samples accepted since start, and those refused for being older than their series'
    /// newest sample.
    pub fn ingested(&self) -> (u64, u64) {
        let head = self.head.lock().expect("metric head lock");
        (head.ingested, head.out_of_order)
    }

    /// Adds samples to the head. A sample not newer than its series' newest is dropped (as
    /// Prometheus drops out-of-order samples) and counted.
    pub fn append<'a>(&self, samples: impl IntoIterator<Item = (&'a SeriesKey, i64, f64)>) {
        let mut head = self.head.lock().expect("metric head lock");
        for (key, timestamp, value) in samples {
            let canonical = key.canonical();
            let series = head.series.entry(canonical).or_insert_with(|| SeriesHead {
                key: key.clone(),
                id: None,
                tiers: Default::default(),
                last_append_ms: timestamp,
            });
            let raw = &mut series.tiers[Tier::Raw.index()];
            if raw.last_timestamp().is_some_and(|last| timestamp <= last) {
                head.out_of_order += 1;
                continue;
            }
            raw.push(Tier::Raw, timestamp, &[value], true);
            series.last_append_ms = timestamp;
            head.ingested += 1;
        }
    }

    /// Rolls up what has ended and writes every changed chunk in one transaction.
    pub async fn flush(&self, now_ms: i64) -> Result<FlushReport, MetricError> {
        let _one_at_a_time = self.flushing.lock().await;
        self.load_new_series().await?;
        let (work, report) = self.plan_flush(now_ms);
        if work.is_empty() {
            return Ok(report);
        }
        let mut tx = self.pool.begin().await?;
        if self.backend == MetricBackend::Postgres {
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
        }
        for item in &work {
            for chunk in &item.chunks {
                let statement = if chunk.open {
                    "INSERT INTO metric_head (series_id, tier, start_ms, end_ms, rows_count, data) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (series_id, tier) DO UPDATE SET start_ms = excluded.start_ms, \
                     end_ms = excluded.end_ms, rows_count = excluded.rows_count, data = excluded.data"
                } else {
                    "INSERT INTO metric_chunks (series_id, tier, start_ms, end_ms, rows_count, data) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (series_id, tier, start_ms) DO UPDATE SET \
                     end_ms = excluded.end_ms, rows_count = excluded.rows_count, data = excluded.data"
                };
                sqlx::query(statement)
                    .bind(item.id)
                    .bind(chunk.tier as i64)
                    .bind(chunk.start_ms)
                    .bind(chunk.end_ms)
                    .bind(chunk.rows as i64)
                    .bind(chunk.data.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE metric_series SET rolled_minute_ms = $1, rolled_hour_ms = $2, \
                 last_ms = $3 WHERE id = $4",
            )
            .bind(item.rolled[0])
            .bind(item.rolled[1])
            .bind(item.last_ms)
            .bind(item.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        // Only what was written is marked clean; anything appended meanwhile stays dirty.
        let mut head = self.head.lock().expect("metric head lock");
        for item in work {
            if let Some(series) = head.series.get_mut(&item.canonical) {
                for (tier, version, closed) in item.versions {
                    let state = &mut series.tiers[tier.index()];
                    state.flushed_version = state.flushed_version.max(version);
                    state.closed.drain(..closed.min(state.closed.len()));
                }
            }
        }
        Ok(report)
    }

    /// Finds or creates the `metric_series` row of each series new to this process, and
    /// reloads the rows it had not rolled up before the process stopped.
    async fn load_new_series(&self) -> Result<(), MetricError> {
        let new: Vec<(String, SeriesKey)> = {
            let head = self.head.lock().expect("metric head lock");
            head.series
                .iter()
                .filter(|(_, series)| series.id.is_none())
                .map(|(canonical, series)| (canonical.clone(), series.key.clone()))
                .collect()
        };
        for (canonical, key) in new {
            let found = sqlx::query(
                "SELECT id, rolled_minute_ms, rolled_hour_ms FROM metric_series WHERE series_key = $1",
            )
            .bind(&canonical)
            .fetch_optional(&self.pool)
            .await?;
            let (id, rolled) = match found {
                Some(row) => (
                    row.try_get::<i64, _>(0)?,
                    [
                        row.try_get::<Option<i64>, _>(1)?,
                        row.try_get::<Option<i64>, _>(2)?,
                    ],
                ),
                None => {
                    let labels = serde_json::to_string(&key.labels).expect("labels serialize");
                    let row = sqlx::query(
                        "INSERT INTO metric_series (series_key, name, labels) VALUES ($1, $2, $3) \
                         ON CONFLICT (series_key) DO UPDATE SET name = excluded.name RETURNING id",
                    )
                    .bind(&canonical)
                    .bind(&key.name)
                    .bind(labels)
                    .fetch_one(&self.pool)
                    .await?;
                    (row.try_get::<i64, _>(0)?, [None, None])
                }
            };
            // The open chunks a previous process left are closed now: this process starts
            // its own, and the old ones must not be overwritten.
            self.close_stored_head(id).await?;
            // Rows stored before a restart and not yet rolled up come back as pending.
            let mut reloaded: [Vec<(i64, Vec<f64>)>; 2] = Default::default();
            for (at, tier) in [Tier::Raw, Tier::Minute].into_iter().enumerate() {
                if let Some(since) = rolled[at] {
                    reloaded[at] = self
                        .stored_rows(id, &canonical, tier, since, i64::MAX)
                        .await?;
                }
            }
            let mut head = self.head.lock().expect("metric head lock");
            if let Some(series) = head.series.get_mut(&canonical) {
                series.id = Some(id);
                for (at, rows) in reloaded.into_iter().enumerate() {
                    let state = &mut series.tiers[at];
                    state.rolled_until = rolled[at];
                    let first_pending = state.pending.first().map(|row| row.0);
                    let mut rows: Vec<(i64, Aggregate)> = rows
                        .into_iter()
                        .filter(|row| first_pending.is_none_or(|first| row.0 < first))
                        .filter(|row| !row.1[0].is_nan())
                        .map(|(t, fields)| (t, Aggregate::from_fields(&fields)))
                        .collect();
                    rows.append(&mut state.pending);
                    state.pending = rows;
                }
            }
        }
        Ok(())
    }

    /// Rolls finished buckets and snapshots every dirty chunk, under the head lock.
    fn plan_flush(&self, now_ms: i64) -> (Vec<FlushItem>, FlushReport) {
        let grace = self.options.late_grace.as_millis() as i64;
        let mut head = self.head.lock().expect("metric head lock");
        let mut work = Vec::new();
        let mut report = FlushReport::default();
        for (canonical, series) in head.series.iter_mut() {
            let Some(id) = series.id else { continue };
            for tier in [Tier::Raw, Tier::Minute] {
                let next = tier.next().expect("raw and minute roll up");
                let period = next.period_ms().expect("rollup tiers have a period");
                let until = (now_ms - grace).div_euclid(period) * period;
                let state = &mut series.tiers[tier.index()];
                // A series starts rolling from the bucket of its first row (which may be
                // old: imported history is rolled up like live samples).
                let rolled = match (state.rolled_until, state.pending.first()) {
                    (Some(rolled), _) => rolled,
                    (None, Some(first)) => first.0.div_euclid(period) * period,
                    (None, None) => continue,
                };
                state.rolled_until = Some(rolled);
                // Rows for buckets rolled before (late arrivals) are kept raw only.
                state.pending.retain(|row| row.0 >= rolled);
                if until <= rolled {
                    continue;
                }
                let (rollups, used) = rollup::roll(&state.pending, period, until);
                state.pending.drain(..used);
                state.rolled_until = Some(until);
                state.version += 1;
                report.rollup_rows += rollups.len();
                let keep = next != Tier::Hour;
                let target = &mut series.tiers[next.index()];
                for (bucket, aggregate) in rollups {
                    target.push(next, bucket, &aggregate.fields(), keep);
                }
            }
            let dirty = series
                .tiers
                .iter()
                .any(|state| state.version != state.flushed_version);
            if !dirty {
                continue;
            }
            let mut chunks = Vec::new();
            let mut versions = Vec::new();
            for tier in Tier::ALL {
                let state = &series.tiers[tier.index()];
                if state.version == state.flushed_version {
                    continue;
                }
                let closed = state.closed.iter().map(|chunk| (false, chunk));
                for (open, chunk) in closed.chain(state.open.iter().map(|chunk| (true, chunk))) {
                    chunks.push(ChunkWrite {
                        open,
                        tier,
                        start_ms: chunk.start_ms,
                        end_ms: chunk.end_ms,
                        rows: chunk.encoder.rows(),
                        data: chunk.encoder.bytes(),
                    });
                }
                versions.push((tier, state.version, state.closed.len()));
            }
            report.series += 1;
            report.chunks += chunks.len();
            work.push(FlushItem {
                canonical: canonical.clone(),
                id,
                chunks,
                rolled: [series.tiers[0].rolled_until, series.tiers[1].rolled_until],
                last_ms: series.last_append_ms,
                versions,
            });
        }
        (work, report)
    }

    /// Drops chunks that ended before each tier's retention, and the head of series that
    /// have had no sample for a day (their rows are stored; a new sample reloads them).
    pub async fn enforce_retention(&self, now_ms: i64) -> Result<u64, MetricError> {
        let mut removed = 0;
        for tier in Tier::ALL {
            let keep = self.options.retention[tier.index()].as_millis() as i64;
            for table in ["metric_chunks", "metric_head"] {
                let result = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE tier = $1 AND end_ms < $2"
                )))
                .bind(tier as i64)
                .bind(now_ms - keep)
                .execute(&self.pool)
                .await?;
                removed += result.rows_affected();
            }
        }
        let mut head = self.head.lock().expect("metric head lock");
        head.series.retain(|_, series| {
            let clean = series
                .tiers
                .iter()
                .all(|state| state.version == state.flushed_version);
            !(clean && now_ms - series.last_append_ms > 86_400_000)
        });
        Ok(removed)
    }

    /// Bytes the store takes on disk (SQLite: the file's pages; PostgreSQL: the tables
    /// with their indexes).
    pub async fn size_bytes(&self) -> Result<u64, MetricError> {
        let size: i64 = match self.backend {
            MetricBackend::Sqlite => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(&self.pool)
                    .await?;
                let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(&self.pool)
                    .await?;
                pages * page
            }
            MetricBackend::Postgres => {
                sqlx::query_scalar(
                    "SELECT CAST(pg_total_relation_size('metric_chunks') + \
                     pg_total_relation_size('metric_head') + \
                     pg_total_relation_size('metric_series') AS BIGINT)",
                )
                .fetch_one(&self.pool)
                .await?
            }
        };
        Ok(size.max(0) as u64)
    }

    /// The bytes of the stored chunks themselves (without the database's pages, indexes
    /// and series rows): what the encoding costs.
    pub async fn payload_bytes(&self) -> Result<u64, MetricError> {
        let total: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(size) AS BIGINT) FROM (SELECT LENGTH(data) AS size FROM metric_chunks \
             UNION ALL SELECT LENGTH(data) AS size FROM metric_head) AS chunks",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(total.unwrap_or(0).max(0) as u64)
    }

    /// Every series the selector matches, stored or only in the head.
    pub async fn series(&self, selector: &Selector) -> Result<Vec<SeriesInfo>, MetricError> {
        let rows = sqlx::query("SELECT id, name, labels FROM metric_series WHERE name = $1")
            .bind(&selector.name)
            .fetch_all(&self.pool)
            .await?;
        let mut found: BTreeMap<String, SeriesInfo> = BTreeMap::new();
        for row in rows {
            let labels: String = row.try_get(2)?;
            let key = SeriesKey {
                name: row.try_get(1)?,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
            };
            if selector.matches(&key) {
                found.insert(
                    key.canonical(),
                    SeriesInfo {
                        key,
                        id: Some(row.try_get(0)?),
                    },
                );
            }
        }
        let head = self.head.lock().expect("metric head lock");
        for (canonical, series) in &head.series {
            if selector.matches(&series.key) && !found.contains_key(canonical) {
                found.insert(
                    canonical.clone(),
                    SeriesInfo {
                        key: series.key.clone(),
                        id: series.id,
                    },
                );
            }
        }
        Ok(found.into_values().collect())
    }

    /// Metric names with at least one series, for pickers and `qcatctl monitor series`.
    pub async fn names(&self) -> Result<Vec<String>, MetricError> {
        let mut names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT name FROM metric_series ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        let head = self.head.lock().expect("metric head lock");
        names.extend(head.series.values().map(|series| series.key.name.clone()));
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The rows of one series and tier in `[from_ms, to_ms]`, stored and in the head, in
    /// time order.
    pub async fn rows(
        &self,
        series: &SeriesInfo,
        tier: Tier,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, Vec<f64>)>, MetricError> {
        self.read_rows(
            &series.key.canonical(),
            series.id,
            tier,
            from_ms,
            to_ms,
            true,
        )
        .await
    }

    async fn read_rows(
        &self,
        canonical: &str,
        id: Option<i64>,
        tier: Tier,
        from_ms: i64,
        to_ms: i64,
        with_head: bool,
    ) -> Result<Vec<(i64, Vec<f64>)>, MetricError> {
        let mut chunks: BTreeMap<i64, (usize, Vec<u8>)> = BTreeMap::new();
        if let Some(id) = id {
            let stored = sqlx::query(
                "SELECT start_ms, rows_count, data FROM metric_chunks \
                 WHERE series_id = $1 AND tier = $2 AND end_ms >= $3 AND start_ms <= $4 \
                 UNION ALL SELECT start_ms, rows_count, data FROM metric_head \
                 WHERE series_id = $1 AND tier = $2 AND end_ms >= $3 AND start_ms <= $4",
            )
            .bind(id)
            .bind(tier as i64)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&self.pool)
            .await?;
            for row in stored {
                let rows: i64 = row.try_get(1)?;
                chunks.insert(row.try_get(0)?, (rows as usize, row.try_get(2)?));
            }
        }
        if with_head {
            // The head's chunks are newer than (or the same as) their stored copies.
            let head = self.head.lock().expect("metric head lock");
            if let Some(state) = head
                .series
                .get(canonical)
                .map(|series| &series.tiers[tier.index()])
            {
                for chunk in state.closed.iter().chain(state.open.iter()) {
                    if chunk.end_ms >= from_ms && chunk.start_ms <= to_ms {
                        chunks.insert(
                            chunk.start_ms,
                            (chunk.encoder.rows(), chunk.encoder.bytes()),
                        );
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (rows, data) in chunks.values() {
            let decoded = gorilla::decode(data, *rows).map_err(|source| MetricError::Decode {
                series: canonical.to_owned(),
                source,
            })?;
            out.extend(
                decoded
                    .rows()
                    .filter(|(t, _)| (from_ms..=to_ms).contains(t))
                    .map(|(t, fields)| (t, fields.to_vec())),
            );
        }
        out.sort_by_key(|row| row.0);
        out.dedup_by_key(|row| row.0);
        Ok(out)
    }

    async fn close_stored_head(&self, id: i64) -> Result<(), MetricError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO metric_chunks (series_id, tier, start_ms, end_ms, rows_count, data) \
             SELECT series_id, tier, start_ms, end_ms, rows_count, data FROM metric_head \
             WHERE series_id = $1 \
             ON CONFLICT (series_id, tier, start_ms) DO UPDATE SET end_ms = excluded.end_ms, \
             rows_count = excluded.rows_count, data = excluded.data",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM metric_head WHERE series_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn stored_rows(
        &self,
        id: i64,
        canonical: &str,
        tier: Tier,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, Vec<f64>)>, MetricError> {
        self.read_rows(canonical, Some(id), tier, from_ms, to_ms, false)
            .await
    }
}

struct FlushItem {
    canonical: String,
    id: i64,
    chunks: Vec<ChunkWrite>,
    rolled: [Option<i64>; 2],
    last_ms: i64,
    versions: Vec<(Tier, u64, usize)>,
}

struct ChunkWrite {
    /// The open chunk goes to `metric_head` (rewritten in place each flush); closed ones
    /// are appended to `metric_chunks` once, which keeps that table densely packed.
    open: bool,
    tier: Tier,
    start_ms: i64,
    end_ms: i64,
    rows: usize,
    data: Vec<u8>,
}

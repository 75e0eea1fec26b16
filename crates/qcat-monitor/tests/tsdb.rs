//! The metric store on both backends: exact round trips, rollups equal to recomputation
//! from raw, retention per tier, restarts mid-bucket, and a kill -9 during writes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use qcat_monitor::tsdb::{
    Aggregate, Function, MetricOptions, MetricStore, QueryRequest, Selector, SeriesKey, Tier,
};

const HOUR: i64 = 3_600_000;
/// A fixed "now" well past the data, so every bucket has ended.
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

async fn sqlite(path: &Path, options: MetricOptions) -> MetricStore {
    MetricStore::open_sqlite(path, options)
        .await
        .expect("the metric file opens in a temp dir")
}

async fn postgres(url: &str, options: MetricOptions) -> MetricStore {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("the test PostgreSQL is reachable");
    MetricStore::on_postgres(pool, options)
        .await
        .expect("the metric tables are created")
}

/// Runs `suite` against a SQLite file and a PostgreSQL database; `open` reopens the same
/// store, as a restarted process would.
async fn on_both<F, Fut>(suite: F)
where
    F: Fn(Box<dyn Fn(MetricOptions) -> futures_box::BoxStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = qcat_testkit::temp_data_dir();
    let path = dir.path().join("metrics.sqlite3");
    suite(Box::new(move |options| {
        let path = path.clone();
        Box::pin(async move { sqlite(&path, options).await })
    }))
    .await;
    let url = qcat_testkit::test_database_url();
    suite(Box::new(move |options| {
        let url = url.clone();
        Box::pin(async move { postgres(&url, options).await })
    }))
    .await;
}

mod futures_box {
    pub type BoxStore =
        std::pin::Pin<Box<dyn std::future::Future<Output = qcat_monitor::tsdb::MetricStore>>>;
}

/// A value stream with every kind of change Gorilla handles differently.
fn value(i: i64) -> f64 {
    match i % 11 {
        0 => 0.0,
        1 => (i as f64).sin() * 1e6,
        2 => i as f64,
        3 => -0.5,
        _ => 1.0 / (i as f64 + 1.0),
    }
}

#[tokio::test]
async fn raw_samples_come_back_exactly_after_a_restart() {
    on_both(|open| async move {
        let key = SeriesKey::new("app_latency_seconds").with("path", "/order/submit");
        let store = open(MetricOptions::default()).await;
        let samples: Vec<(i64, f64)> = (0..5_000)
            .map(|i| (T0 + i * 1000 + i % 3, value(i)))
            .collect();
        store.append(samples.iter().map(|(t, v)| (&key, *t, *v)));
        store.flush(T0 + 5_000_000).await.unwrap();
        drop(store);
        let reopened = open(MetricOptions::default()).await;
        let series = reopened
            .series(&Selector::name("app_latency_seconds"))
            .await
            .unwrap();
        assert_eq!(series.len(), 1, "one series was written");
        let rows = reopened
            .rows(&series[0], Tier::Raw, T0, T0 + 10_000_000)
            .await
            .unwrap();
        assert_eq!(rows.len(), samples.len(), "every sample is stored");
        for ((t, fields), (want_t, want_v)) in rows.iter().zip(&samples) {
            assert_eq!(t, want_t);
            assert_eq!(
                fields[0].to_bits(),
                want_v.to_bits(),
                "values are bit-exact"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn rollups_equal_recomputation_from_raw() {
    on_both(|open| async move {
        let key = SeriesKey::new("host_cpu_ratio");
        let store = open(MetricOptions::default()).await;
        // Three hours at 5 s, integers so sums are exact in any order, with a NaN gap.
        let samples: Vec<(i64, f64)> = (0..3 * 720)
            .map(|i| {
                (
                    T0 + i * 5_000,
                    if i % 100 == 7 {
                        f64::NAN
                    } else {
                        ((i * 31) % 97) as f64
                    },
                )
            })
            .collect();
        // Ingest in pieces with flushes between, as the live collector does.
        for piece in samples.chunks(100) {
            store.append(piece.iter().map(|(t, v)| (&key, *t, *v)));
            store.flush(piece.last().unwrap().0 + 1).await.unwrap();
        }
        store.flush(T0 + 4 * HOUR).await.unwrap();
        let series = &store
            .series(&Selector::name("host_cpu_ratio"))
            .await
            .unwrap()[0];
        for (tier, period) in [(Tier::Minute, 60_000), (Tier::Hour, HOUR)] {
            let stored = store.rows(series, tier, T0, T0 + 4 * HOUR).await.unwrap();
            let mut expected: Vec<(i64, Aggregate)> = Vec::new();
            for (t, v) in samples.iter().filter(|(_, v)| !v.is_nan()) {
                let bucket = t - (t - T0) % period;
                let one = Aggregate {
                    min: *v,
                    max: *v,
                    sum: *v,
                    count: 1.0,
                    last: *v,
                };
                match expected.last_mut() {
                    Some((start, a)) if *start == bucket => a.merge(&one),
                    _ => expected.push((bucket, one)),
                }
            }
            let got: Vec<(i64, Aggregate)> = stored
                .iter()
                .map(|(t, f)| (*t, Aggregate::from_fields(f)))
                .collect();
            assert_eq!(
                got,
                expected,
                "{} rollups equal recomputing them from raw",
                tier.name()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_restart_mid_minute_keeps_the_minute_whole() {
    on_both(|open| async move {
        let key = SeriesKey::new("redis_ops_per_second");
        let store = open(MetricOptions::default()).await;
        store.append((0..30).map(|s| (&key, T0 + s * 1000, 1.0)));
        store.flush(T0 + 30_000).await.unwrap();
        drop(store); // the process stops half-way through the minute
        let store = open(MetricOptions::default()).await;
        store.append((30..60).map(|s| (&key, T0 + s * 1000, 1.0)));
        store.flush(T0 + 2 * 60_000).await.unwrap();
        let series = &store
            .series(&Selector::name("redis_ops_per_second"))
            .await
            .unwrap()[0];
        let minutes = store
            .rows(series, Tier::Minute, T0, T0 + HOUR)
            .await
            .unwrap();
        assert_eq!(minutes.len(), 1);
        assert_eq!(
            Aggregate::from_fields(&minutes[0].1).count,
            60.0,
            "the rows stored before the restart are rolled up with those after it"
        );
    })
    .await;
}

#[tokio::test]
async fn retention_drops_each_tier_at_its_own_age() {
    on_both(|open| async move {
        let options = MetricOptions {
            retention: [
                Duration::from_secs(2 * 3600),
                Duration::from_secs(6 * 3600),
                Duration::from_secs(48 * 3600),
            ],
            ..MetricOptions::default()
        };
        let key = SeriesKey::new("pg_commits_total");
        let store = open(options).await;
        // Ten hours of one sample a minute.
        store.append((0..600).map(|m| (&key, T0 + m * 60_000, m as f64)));
        let now = T0 + 10 * HOUR;
        store.flush(now).await.unwrap();
        store.enforce_retention(now).await.unwrap();
        let series = &store
            .series(&Selector::name("pg_commits_total"))
            .await
            .unwrap()[0];
        let oldest = |rows: Vec<(i64, Vec<f64>)>| rows.first().map(|row| row.0).unwrap();
        let raw = oldest(store.rows(series, Tier::Raw, T0, now).await.unwrap());
        let minute = oldest(store.rows(series, Tier::Minute, T0, now).await.unwrap());
        let hour = oldest(store.rows(series, Tier::Hour, T0, now).await.unwrap());
        // Whole chunks (240 rows = 4 h at one a minute) go, so a tier keeps at most one
        // chunk more than its retention.
        assert!(
            raw >= now - 2 * HOUR - 4 * HOUR,
            "raw kept about 2 h: oldest {}",
            (now - raw) / HOUR
        );
        assert!(raw > T0, "the oldest raw chunk was dropped");
        assert!(minute < raw, "the 1 m tier reaches further back than raw");
        assert_eq!(hour, T0, "the 1 h tier keeps all ten hours");
    })
    .await;
}

#[tokio::test]
async fn queries_return_at_most_n_points_from_the_best_tier_with_rates_and_quantiles() {
    on_both(|open| async move {
        let store = open(MetricOptions::default()).await;
        // A counter growing 10/s with a reset, and a histogram whose P50 is 0.15.
        let counter = SeriesKey::new("app_requests_total");
        let bounds = ["0.1", "0.2", "+Inf"];
        let buckets: Vec<SeriesKey> = bounds
            .iter()
            .map(|le| SeriesKey::new("app_latency_seconds_bucket").with("le", *le))
            .collect();
        for s in 0..7200i64 {
            let t = T0 + s * 1000;
            let count = if s < 3600 { s * 10 } else { (s - 3600) * 10 };
            store.append([(&counter, t, count as f64)]);
            // Per second: 1 request ≤ 0.1, 2 more ≤ 0.2, 1 more above.
            for (key, per_second) in buckets.iter().zip([1, 3, 4]) {
                store.append([(key, t, (s * per_second) as f64)]);
            }
        }
        let now = T0 + 7200 * 1000;
        store.flush(now + 60_000).await.unwrap();
        let request = |function, from, max_points| QueryRequest {
            selector: Selector::name(match function {
                Function::Quantile(_) => "app_latency_seconds",
                _ => "app_requests_total",
            }),
            from_ms: from,
            to_ms: now,
            max_points,
            function,
            now_ms: now,
        };
        let values = store
            .query(&request(Function::Value, T0, 100))
            .await
            .unwrap();
        assert!(values[0].points.len() <= 100, "never more than asked");
        assert_eq!(
            values[0].tier,
            Tier::Minute,
            "2 h in 100 points (2 min steps) is a 1 m question"
        );
        let fine = store
            .query(&request(Function::Value, T0, 1000))
            .await
            .unwrap();
        assert_eq!(
            fine[0].tier,
            Tier::Raw,
            "2 h in 1000 points (10 s steps) needs raw rows"
        );
        assert!(fine[0].points.len() <= 1000);
        let recent = store
            .query(&request(Function::Value, now - 300_000, 1000))
            .await
            .unwrap();
        assert_eq!(recent[0].tier, Tier::Raw, "5 minutes are read raw");
        let rates = store
            .query(&request(Function::Rate, T0, 100))
            .await
            .unwrap();
        for point in &rates[0].points[1..rates[0].points.len() - 1] {
            // The step holding the reset loses the one increment the reset hid (as in
            // Prometheus); every other step is exact.
            assert!(
                (point.avg - 10.0).abs() < 0.1,
                "10 per second across the reset: {point:?}"
            );
        }
        let p50 = store
            .query(&request(Function::Quantile(0.5), T0, 50))
            .await
            .unwrap();
        assert_eq!(p50.len(), 1, "one histogram without le");
        for point in &p50[0].points[1..] {
            assert!(
                (point.avg - 0.15).abs() < 1e-9,
                "P50 is in the middle of 0.1..0.2: {point:?}"
            );
        }
    })
    .await;
}

/// The child side of the kill -9 test: writes one sample per 5 ms, flushing every 200 ms,
/// and prints the newest timestamp each flush made durable.
#[tokio::test]
async fn child_writer() {
    let Ok(path) = std::env::var("QCAT_TSDB_CHILD") else {
        return;
    };
    let options = MetricOptions {
        flush_interval: Duration::from_millis(200),
        ..MetricOptions::default()
    };
    let store = sqlite(Path::new(&path), options).await;
    let key = SeriesKey::new("crash_probe");
    let mut t = T0;
    let mut last_flush = std::time::Instant::now();
    loop {
        t += 1000;
        store.append([(&key, t, t as f64)]);
        if last_flush.elapsed() >= Duration::from_millis(200) {
            store.flush(t).await.unwrap();
            println!("durable {t}");
            last_flush = std::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn kill_9_during_writes_loses_at_most_the_last_flush_window() {
    let dir = qcat_testkit::temp_data_dir();
    let path = dir.path().join("metrics.sqlite3");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env("QCAT_TSDB_CHILD", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no flush, no close
    let output = child.wait_with_output().unwrap();
    let reported: Vec<i64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("durable ")?.parse().ok())
        .collect();
    let durable = *reported.last().expect("the child flushed at least once");
    let store = sqlite(&path, MetricOptions::default()).await;
    let series = &store.series(&Selector::name("crash_probe")).await.unwrap()[0];
    let rows = store.rows(series, Tier::Raw, T0, i64::MAX).await.unwrap();
    let newest = rows.last().unwrap().0;
    assert!(
        newest >= durable,
        "everything a finished flush reported is there"
    );
    assert_eq!(
        rows.len() as i64,
        (newest - T0) / 1000,
        "no sample is missing before the newest stored one"
    );
    for (t, fields) in &rows {
        assert_eq!(fields[0], *t as f64, "stored values are intact");
    }
}

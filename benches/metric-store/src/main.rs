//! The metric store beside Prometheus' TSDB on the same samples:
//!
//! 1. Bytes per sample: one hour of the simulated trading application scraped every second
//!    (~100 series: counters, gauges, histogram buckets) written to our store (with its 1 m
//!    and 1 h rollups) and turned into TSDB blocks by `promtool tsdb create-blocks-from
//!    openmetrics`; on-disk size divided by the raw sample count.
//! 2. Ingest: samples per second into our store (append + the flushes a live collector
//!    would make).
//! 3. Query: 24 h of 1 s data for 20 series, down to 1 000 points each, from our store and
//!    from a Prometheus server over the backfilled blocks (`query_range`, step 86.4 s).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qcat_monitor::exposition;
use qcat_monitor::simulate::Simulator;
use qcat_monitor::tsdb::{Function, MetricOptions, MetricStore, QueryRequest, Selector, SeriesKey};

/// One series: its key and its (time, value) points.
type Series = (SeriesKey, Vec<(i64, f64)>);
type Samples = BTreeMap<String, Series>;

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// One scrape per second of the simulator for `seconds`, ending at `end_ms`.
fn simulated(end_ms: i64, seconds: i64) -> Samples {
    let start = end_ms - seconds * 1000;
    let mut simulator = Simulator::new(7, 1.0, start);
    simulator.peak_rate = 300.0;
    let mut samples: Samples = BTreeMap::new();
    for step in 1..=seconds {
        let at = start + step * 1000;
        let text = simulator.render(at).expect("no outage is injected");
        for family in exposition::parse(&text).unwrap() {
            for sample in family.samples {
                let key = SeriesKey {
                    name: sample.name,
                    labels: sample.labels,
                };
                samples
                    .entry(key.canonical())
                    .or_insert_with(|| (key, Vec::new()))
                    .1
                    .push((at, sample.value));
            }
        }
    }
    samples
}

/// 20 gauges over 24 h at 1 s: a daily wave, a random walk, two decimals.
fn day_of_gauges(end_ms: i64) -> Samples {
    let mut samples: Samples = BTreeMap::new();
    let start = end_ms - 86_400_000;
    for series in 0..20u64 {
        let key = SeriesKey::new(format!("bench_gauge_{series:02}")).with("target", "bench");
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ series;
        let mut walk = 0.0f64;
        let mut points = Vec::with_capacity(86_400);
        for second in 0..86_400i64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            walk += ((state % 1000) as f64 / 1000.0 - 0.5) * 0.2;
            let wave = 50.0 + 30.0 * (second as f64 / 86_400.0 * std::f64::consts::TAU).sin();
            points.push((
                start + second * 1000,
                ((wave + walk) * 100.0).round() / 100.0,
            ));
        }
        samples.insert(key.canonical(), (key, points));
    }
    samples
}

/// Writes the samples as OpenMetrics for promtool (families contiguous, seconds).
fn openmetrics(samples: &Samples, path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut by_name: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for entry in samples.values() {
        by_name
            .entry(entry.0.name.as_str())
            .or_default()
            .push(entry);
    }
    for (name, series) in by_name {
        writeln!(out, "# TYPE {name} gauge").unwrap();
        for (key, points) in series {
            let text = key.canonical();
            for (t, v) in points {
                writeln!(out, "{text} {v} {}.{:03}", t / 1000, t % 1000).unwrap();
            }
        }
    }
    writeln!(out, "# EOF").unwrap();
}

async fn ingest(store: &MetricStore, samples: &Samples, flush_every_ms: i64) -> Duration {
    // Replay in time order, as a collector would deliver them.
    let mut rows: Vec<(i64, &SeriesKey, f64)> = samples
        .values()
        .flat_map(|(key, points)| points.iter().map(move |(t, v)| (*t, key, *v)))
        .collect();
    rows.sort_by_key(|row| row.0);
    let started = Instant::now();
    let mut next_flush = rows.first().map_or(0, |row| row.0) + flush_every_ms;
    for chunk in rows.chunk_by(|a, b| a.0 == b.0) {
        store.append(chunk.iter().map(|(t, key, v)| (*key, *t, *v)));
        if chunk[0].0 >= next_flush {
            store.flush(chunk[0].0).await.unwrap();
            next_flush += flush_every_ms;
        }
    }
    store.flush(rows.last().unwrap().0 + 120_000).await.unwrap();
    started.elapsed()
}

fn promtool_blocks(samples: &Samples, dir: &Path) -> (u64, Duration) {
    let input = dir.join("input.om");
    openmetrics(samples, &input);
    let blocks = dir.join("blocks");
    let started = Instant::now();
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(&blocks)
        .stdout(Stdio::null())
        .status()
        .expect("promtool runs (apt-get install prometheus)");
    assert!(status.success(), "promtool create-blocks-from failed");
    let took = started.elapsed();
    std::fs::remove_file(&input).unwrap();
    (dir_size(&blocks), took)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let work = qcat_testkit::temp_data_dir();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end = now.div_euclid(1000) * 1000 - 3_600_000;

    // 1 and 2: an hour of the simulated application.
    let hour = simulated(end, 3600);
    let count: usize = hour.values().map(|(_, points)| points.len()).sum();
    let ours_dir = work.path().join("ours");
    std::fs::create_dir_all(&ours_dir).unwrap();
    let store =
        MetricStore::open_sqlite(&ours_dir.join("metrics.sqlite3"), MetricOptions::default())
            .await
            .unwrap();
    let took = ingest(&store, &hour, 5_000).await;
    let ours_bytes = store.size_bytes().await.unwrap();
    let ours_payload = store.payload_bytes().await.unwrap();
    drop(store);
    let theirs_dir = work.path().join("theirs");
    std::fs::create_dir_all(&theirs_dir).unwrap();
    let (theirs_bytes, backfill) = promtool_blocks(&hour, &theirs_dir);
    println!(
        "== 1 h of the simulated trading application: {} series, {count} samples at 1 s",
        hour.len()
    );
    println!(
        "bytes per sample on disk: console {:.3} (with its 1 m and 1 h rollups), Prometheus TSDB {:.3} (promtool blocks) -> ratio {:.2}x",
        ours_bytes as f64 / count as f64,
        theirs_bytes as f64 / count as f64,
        ours_bytes as f64 / theirs_bytes as f64
    );
    println!(
        "  of which chunk payload {:.3} bytes/sample; the rest is the database's pages, indexes and series rows",
        ours_payload as f64 / count as f64
    );
    println!(
        "ingest: console {:.0} samples/s (append + a flush every 5 s of data); promtool's offline backfill {:.0} samples/s",
        count as f64 / took.as_secs_f64(),
        count as f64 / backfill.as_secs_f64()
    );

    // 3: a day of 20 gauges, queried down to 1 000 points each.
    let day = day_of_gauges(end);
    let day_count: usize = day.values().map(|(_, points)| points.len()).sum();
    let store = MetricStore::open_sqlite(&ours_dir.join("day.sqlite3"), MetricOptions::default())
        .await
        .unwrap();
    ingest(&store, &day, 5_000).await;
    let day_dir = work.path().join("day");
    std::fs::create_dir_all(&day_dir).unwrap();
    let (day_bytes, _) = promtool_blocks(&day, &day_dir);
    let ours_day = store.size_bytes().await.unwrap();
    let ours_day_payload = store.payload_bytes().await.unwrap();
    let (from, to) = (end - 86_400_000, end);
    let request = QueryRequest {
        selector: Selector::parse("bench_gauge_00").unwrap(),
        from_ms: from,
        to_ms: to,
        max_points: 1000,
        function: Function::Value,
        now_ms: now,
    };
    let mut ours_times = Vec::new();
    let mut points = 0;
    for _ in 0..7 {
        let started = Instant::now();
        points = 0;
        for series in 0..20 {
            let mut one = request.clone();
            one.selector = Selector::parse(&format!("bench_gauge_{series:02}")).unwrap();
            let found = store.query(&one).await.unwrap();
            points += found.iter().map(|s| s.points.len()).sum::<usize>();
        }
        ours_times.push(started.elapsed());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut prometheus = Command::new("prometheus")
        .arg(format!(
            "--storage.tsdb.path={}",
            day_dir.join("blocks").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--config.file={}",
            write_empty_config(work.path()).display()
        ))
        .arg("--storage.tsdb.retention.time=30d")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus runs");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let query = |client: reqwest::Client| async move {
        client
            .get(format!("http://127.0.0.1:{port}/api/v1/query_range"))
            .query(&[
                ("query", "{__name__=~\"bench_gauge_.*\"}".to_owned()),
                ("start", format!("{:.3}", from as f64 / 1000.0)),
                ("end", format!("{:.3}", to as f64 / 1000.0)),
                ("step", "86.4".to_owned()),
            ])
            .send()
            .await
            .ok()?
            .json::<serde_json::Value>()
            .await
            .ok()
    };
    let ready = Instant::now();
    let mut theirs_points = 0;
    while ready.elapsed() < Duration::from_secs(60) {
        if let Some(body) = query(client.clone()).await
            && let Some(result) = body["data"]["result"].as_array()
            && result.len() == 20
        {
            theirs_points = result
                .iter()
                .map(|s| s["values"].as_array().map_or(0, Vec::len))
                .sum();
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut theirs_times = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        query(client.clone()).await.expect("prometheus answers");
        theirs_times.push(started.elapsed());
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("kept {}", work.path().display());
        std::mem::forget(work);
    }
    let (ours, theirs) = (median(ours_times), median(theirs_times));
    println!("== 24 h of 1 s data, 20 series ({day_count} samples)");
    println!(
        "on disk: console {:.3} bytes/sample (raw + rollups; chunk payload {:.3}), Prometheus {:.3} -> ratio {:.2}x",
        ours_day as f64 / day_count as f64,
        ours_day_payload as f64 / day_count as f64,
        day_bytes as f64 / day_count as f64,
        ours_day as f64 / day_bytes as f64
    );
    println!(
        "query down to 1 000 points per series (median of 7): console {:.1} ms ({points} points, from the 1 m tier), Prometheus query_range {:.1} ms ({theirs_points} points) -> ratio {:.2}x",
        ours.as_secs_f64() * 1000.0,
        theirs.as_secs_f64() * 1000.0,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}

fn write_empty_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, "global: {scrape_interval: 1m}\nscrape_configs: []\n").unwrap();
    path
}

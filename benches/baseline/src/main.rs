//! The learned baselines, measured (issue #12). Prints, side by side where a user has an
//! alternative:
//!
//! 1. Update cost per sample and memory per baselined series, beside the rolling z-score
//!    (GitLab's recipe, mean ± 3σ over a week) kept the same way in memory.
//! 2. Building baselines for 1 000 series from 30 days of 1-minute history.
//! 3. A deviation replay over 30 days of one series (with the four weeks before as its
//!    history): in memory, and from the console's metric store as `qcatctl baseline
//!    deviations` reads it — beside Prometheus (Debian's `prometheus`, blocks made by
//!    `promtool tsdb create-blocks-from`) evaluating the z-score recipe over the same 30 days
//!    at a 1-minute step through `query_range`.
//! 4. plotters render time per chart and per report (16 charts).
//! 5. Detection quality against the rolling z-score on synthetic series with known
//!    anomalies.
//!
//! Run: `cargo run --release -p bench-baseline`

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qcat_monitor::baseline::detect::{Detector, Settings, replay};
use qcat_monitor::baseline::synthetic::{Quality, Series, Shape, injected};
use qcat_monitor::baseline::zscore::{self, RollingZScore, WEEK_MS};
use qcat_monitor::tsdb::{MetricOptions, MetricStore, Selector, SeriesKey};
use qcat_report::Language;
use qcat_report::baseline::{BandData, BaselineReport, Row};
use qcat_report::chart::{Band, Line, ProfileChart, TimeChart, Tone};

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn shanghai() -> Settings {
    Settings {
        zone: jiff::tz::TimeZone::get("Asia/Shanghai").expect("the zone database has Shanghai"),
        ..Settings::default()
    }
}

fn series(shape: Shape, seed: u64) -> Series {
    Series {
        shape,
        level: 100.0,
        noise: 0.05,
        seed,
        anomalies: vec![],
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// 1: per-sample cost and memory of one series.
fn update_cost(start: i64) {
    let values = series(Shape::TradingDay, 1).generate(start, 30);
    let settings = shanghai();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut memory = 0;
    for _ in 0..5 {
        let mut detector = Detector::new(settings.clone());
        let mut changes = Vec::new();
        let started = Instant::now();
        for (t, v) in &values {
            std::hint::black_box(detector.push(*t, *v, false, &mut changes));
        }
        ours.push(started.elapsed());
        memory = detector.model().heap_bytes();

        let mut z = RollingZScore::new(WEEK_MS, 3.0, settings.for_ms);
        let started = Instant::now();
        for (t, v) in &values {
            z.push(*t, *v, &mut changes);
        }
        theirs.push(started.elapsed());
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / values.len() as f64;
    let (ours, theirs) = (median(ours), median(theirs));
    // The z-score keeps the week's values to slide its window: 16 bytes a minute.
    let z_memory = (WEEK_MS / MINUTE) as usize * 16;
    println!(
        "== 1. one series, 30 days of 1-minute values ({} samples)",
        values.len()
    );
    println!(
        "update cost per sample: baseline {:.0} ns (score, learn, events), rolling z-score {:.0} ns -> ratio {:.2}x",
        per(ours),
        per(theirs),
        per(ours) / per(theirs)
    );
    println!(
        "memory per series: baseline {:.1} KiB (4 weeks of each half hour's median and spread), z-score {:.1} KiB (a week of values) -> ratio {:.2}x",
        memory as f64 / 1024.0,
        z_memory as f64 / 1024.0,
        memory as f64 / z_memory as f64
    );
}

/// 2: a thousand series from 30 days each.
fn thousand_series(start: i64) {
    let settings = shanghai();
    let shapes = [Shape::TradingDay, Shape::DailyWave, Shape::Steady];
    let mut learning = Duration::ZERO;
    let mut samples = 0usize;
    let mut memory = 0usize;
    for index in 0..1000u64 {
        let values = series(shapes[index as usize % 3], index + 1).generate(start, 30);
        let mut detector = Detector::new(settings.clone());
        let mut changes = Vec::new();
        let started = Instant::now();
        for (t, v) in &values {
            std::hint::black_box(detector.push(*t, *v, false, &mut changes));
        }
        learning += started.elapsed();
        samples += values.len();
        memory += detector.model().heap_bytes();
    }
    println!("== 2. building baselines for 1 000 series from 30 days of 1-minute history");
    println!(
        "{samples} samples in {:.2} s on one core ({:.1} M samples/s); {:.1} MiB for the 1 000 learned profiles",
        learning.as_secs_f64(),
        samples as f64 / learning.as_secs_f64() / 1e6,
        memory as f64 / (1024.0 * 1024.0)
    );
}

/// 3: a 30-day replay, in memory, from the console's store, and by Prometheus.
async fn replay_30_days(start: i64, work: &Path) {
    // 28 days of history before the 30 days replayed (the profile keeps four weeks).
    let values = series(Shape::TradingDay, 7).generate(start, 58);
    let since = start + 28 * DAY;
    let until = start + 58 * DAY;
    let settings = shanghai();

    let mut memory_runs = Vec::new();
    let mut events = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let (_, deviations) = replay(&settings, &values, |_| false);
        memory_runs.push(started.elapsed());
        events = deviations.len();
    }

    // The console's store: the samples appended and flushed as a collector's would be
    // (1-minute rollups made as it goes), then read back as minute means and replayed.
    let store = MetricStore::open_sqlite(&work.join("metrics.sqlite3"), MetricOptions::default())
        .await
        .expect("a metric store");
    let key = SeriesKey::new("bench_latency");
    for chunk in values.chunks(1440) {
        store.append(chunk.iter().map(|(t, v)| (&key, *t, *v)));
        let last = chunk.last().expect("a day").0;
        store.flush(last + 2 * MINUTE).await.expect("flushed");
    }
    store.flush(until + 10 * MINUTE).await.expect("flushed");
    let info = store
        .series(&Selector::name("bench_latency"))
        .await
        .expect("listed")
        .remove(0);
    let mut store_runs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let minutes = store
            .minute_means(&info, since - 28 * DAY, until)
            .await
            .expect("read");
        let (_, deviations) = replay(&settings, &minutes, |_| false);
        std::hint::black_box(deviations);
        store_runs.push(started.elapsed());
    }

    // Prometheus: the same samples as TSDB blocks, the z-score recipe over the same 30 days
    // at a 1-minute step (query_range answers at most 11 000 points: four windows).
    let input = work.join("input.om");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&input).expect("input"));
        writeln!(out, "# TYPE bench_latency gauge").expect("write");
        for (t, v) in &values {
            writeln!(out, "bench_latency {v} {}", t / 1000).expect("write");
        }
        writeln!(out, "# EOF").expect("write");
    }
    let blocks = work.join("blocks");
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(&blocks)
        .stdout(Stdio::null())
        .status()
        .expect("promtool runs (apt-get install prometheus)");
    assert!(status.success(), "promtool create-blocks-from failed");
    let config = work.join("prometheus.yml");
    std::fs::write(
        &config,
        "global: {scrape_interval: 1m}\nscrape_configs: []\n",
    )
    .expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--storage.tsdb.path={}", blocks.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--config.file={}", config.display()))
        // The blocks are months old by the wall clock: keep them.
        .arg("--storage.tsdb.retention.time=3650d")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus runs");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let expression =
        "(bench_latency - avg_over_time(bench_latency[1w])) / stddev_over_time(bench_latency[1w])";
    let window = 10_800 * MINUTE;
    let query = |from: i64, to: i64| {
        let client = client.clone();
        async move {
            let body: serde_json::Value = client
                .get(format!("http://127.0.0.1:{port}/api/v1/query_range"))
                .query(&[
                    ("query", expression.to_owned()),
                    ("start", (from / 1000).to_string()),
                    ("end", (to / 1000).to_string()),
                    ("step", "60".to_owned()),
                ])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            body["data"]["result"][0]["values"].as_array().map(Vec::len)
        }
    };
    let ready = Instant::now();
    while query(since, since + window).await.unwrap_or(0) == 0 {
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "Prometheus never answered"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut prometheus_runs = Vec::new();
    let mut points = 0;
    for _ in 0..5 {
        let started = Instant::now();
        points = 0;
        let mut from = since;
        while from < until {
            let to = (from + window).min(until);
            points += query(from, to - MINUTE).await.expect("prometheus answers");
            from = to;
        }
        prometheus_runs.push(started.elapsed());
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();

    let (in_memory, from_store, theirs) = (
        median(memory_runs),
        median(store_runs),
        median(prometheus_runs),
    );
    println!(
        "== 3. deviation replay over 30 days of one series (with 28 days of history), median of 5"
    );
    println!(
        "baseline in memory {:.1} ms ({} samples, {events} events); from the console's store {:.1} ms (minute means + replay, what `baseline deviations` does); Prometheus z-score query_range {:.0} ms ({points} points in 4 windows) -> ratio {:.4}x (store), Prometheus takes {:.0}x as long",
        ms(in_memory),
        values.len(),
        ms(from_store),
        ms(theirs),
        from_store.as_secs_f64() / theirs.as_secs_f64(),
        theirs.as_secs_f64() / from_store.as_secs_f64()
    );
}

/// 4: plotters, per chart and per report.
fn plotters(start: i64) {
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
    let day = series(Shape::TradingDay, 3).generate(start, 1);
    let time_chart = TimeChart {
        title: "P99 · 基线".to_owned(),
        y_label: "s".to_owned(),
        lines: vec![Line {
            label: "value".to_owned(),
            points: day.iter().map(|(t, v)| (*t, Some(*v))).collect(),
            tone: Tone::Primary,
        }],
        band: Some(Band {
            label: "band".to_owned(),
            points: day
                .iter()
                .map(|(t, v)| (*t, Some((v * 0.8, v * 1.2))))
                .collect(),
        }),
        shaded: vec![(start + 3_600_000, start + 4_000_000)],
        shaded_label: "deviation".to_owned(),
        zone: zone.clone(),
    };
    let profile = ProfileChart {
        title: "按小时".to_owned(),
        y_label: "s".to_owned(),
        x_label: "hour".to_owned(),
        lines: vec![(
            "before".to_owned(),
            (0..24).map(|h| Some(h as f64)).collect(),
            Tone::Secondary,
        )],
    };
    let time = |f: &dyn Fn()| {
        let runs: Vec<Duration> = (0..7)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .collect();
        median(runs)
    };
    let time_png = time(&|| {
        std::hint::black_box(time_chart.render_png(960, 320).expect("drawn"));
    });
    let profile_png = time(&|| {
        std::hint::black_box(profile.render_png(960, 320).expect("drawn"));
    });
    let band = BandData {
        t: day.iter().map(|(t, _)| *t).collect(),
        value: day.iter().map(|(_, v)| *v).collect(),
        low: day.iter().map(|(_, v)| Some(v * 0.8)).collect(),
        high: day.iter().map(|(_, v)| Some(v * 1.2)).collect(),
        deviations: vec![(start + 3_600_000, start + 4_000_000)],
    };
    let row = |index: usize| Row {
        series: format!("app_endpoint_latency_seconds{{endpoint=\"/e{index}\",quantile=\"0.99\"}}"),
        before: Some(0.08),
        now: Some(0.1),
        change: Some(0.25),
        change_low: Some(0.2),
        change_high: Some(0.3),
        significant: true,
        problem: None,
        before_hourly: (0..24).map(|h| Some(h as f64)).collect(),
        now_hourly: (0..24).map(|h| Some(h as f64 * 1.2)).collect(),
        band: Some(band.clone()),
    };
    let report = BaselineReport {
        language: Language::SimplifiedChinese,
        baseline: "1.4 版本发布前".to_owned(),
        description: String::new(),
        baseline_period: (start - 7 * DAY, start),
        compared_period: (start, start + DAY),
        against: None,
        confidence: 0.95,
        generated_ms: start + DAY,
        zone,
        zone_name: "Asia/Shanghai".to_owned(),
        rows: (0..32).map(row).collect(),
    };
    let mut html_bytes = 0;
    let whole = time(&|| {
        let html = qcat_report::baseline::render(&report).expect("rendered");
        std::hint::black_box(html.len());
    });
    if let Ok(html) = qcat_report::baseline::render(&report) {
        html_bytes = html.len();
    }
    println!("== 4. plotters (960×320 PNG, bundled CJK font), median of 7");
    println!(
        "time chart with band, 1 440 points: {:.1} ms; hour-of-day profile: {:.1} ms; report of 32 series with 16 charts: {:.0} ms ({:.1} MiB of HTML)",
        ms(time_png),
        ms(profile_png),
        ms(whole),
        html_bytes as f64 / (1024.0 * 1024.0)
    );
}

/// 5: detection quality against the rolling z-score.
fn quality(start: i64) {
    let settings = shanghai();
    println!(
        "== 5. detection on synthetic series × 28 days, 6 injected anomalies each (weeks 2–4)"
    );
    println!(
        "{:<12} {:>22} {:>24}",
        "pattern", "baseline found/false", "z-score 1w found/false"
    );
    let (mut ours_all, mut theirs_all) = (Quality::default(), Quality::default());
    for shape in [Shape::TradingDay, Shape::DailyWave, Shape::Steady] {
        let (mut ours, mut theirs) = (Quality::default(), Quality::default());
        for seed in 101..=110 {
            let anomalies = injected(seed, start);
            let mut generated = series(shape, seed);
            generated.anomalies = anomalies.clone();
            let values = generated.generate(start, 28);
            let (_, deviations) = replay(&settings, &values, |_| false);
            let z = zscore::replay(WEEK_MS, 3.0, settings.for_ms, &values);
            for (quality, found) in [
                (&mut ours, &deviations),
                (&mut ours_all, &deviations),
                (&mut theirs, &z),
                (&mut theirs_all, &z),
            ] {
                quality.score(&anomalies, found, settings.for_ms, start + 7 * DAY);
            }
        }
        print_quality(&format!("{shape:?}"), ours, theirs);
    }
    print_quality("all", ours_all, theirs_all);
}

fn print_quality(label: &str, ours: Quality, theirs: Quality) {
    println!(
        "{label:<12} {:>15}/{:<3} {:>3} {:>17}/{:<3} {:>3}",
        ours.found,
        ours.anomalies,
        ours.false_alarms,
        theirs.found,
        theirs.anomalies,
        theirs.false_alarms
    );
}

#[tokio::main]
async fn main() {
    // 2026-11-02 00:00 UTC, a Monday: fixed, so every run measures the same data.
    let start = 1_793_577_600_000;
    let work = tempfile::tempdir().expect("a work folder");
    update_cost(start);
    thousand_series(start);
    replay_30_days(start, work.path()).await;
    plotters(start);
    quality(start);
}

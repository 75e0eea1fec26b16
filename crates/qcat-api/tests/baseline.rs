//! Baselines through the API as a desk uses them:
//!
//! - named baselines: the simulated application's history imported as CSV, a week
//!   captured as "before 1.4", then a 20 % latency regression on one endpoint reported as
//!   significant (and pinned on that endpoint) while an unchanged day is not; the report
//!   written from it is one self-contained page;
//! - marked incidents: a step in imported history is a deviation until its period is
//!   marked, and is one again once the mark is removed;
//! - the live duty: the demo starts with a week of history, the learned band speaks at
//!   once, an injected latency incident becomes a stored deviation event, and a restart
//!   neither loses nor repeats it.

use std::time::{Duration, Instant};

use qcat_api::access::{LoginInput, NewUserInput};
use qcat_api::monitor::{
    CaptureInput, CompareInput, ComparisonView, DeviationEventsInput, DeviationsInput, ImportInput,
    MarkInput, QuickStartInput, ReportInput,
};
use qcat_api::secrets::SecretText;
use qcat_api::{Api, ApiConfig, SessionSlot};
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;
use qcat_core::secret::Secret;
use qcat_monitor::baseline::synthetic::{Anomaly, AnomalyKind, Series, Shape};
use qcat_monitor::simulate::{Simulator, history};
use qcat_secrets::keys::KeyOptions;

const PASSWORD: &str = "baseline test password 1";
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 2026-11-02 00:00 UTC, a Monday: fixed dates make the simulated history, and so every
/// number below, the same on every run.
const MONDAY: i64 = 1_793_577_600_000;

/// An API on `database_url` (empty: the embedded SQLite store).
async fn open(
    database_url: &str,
    dir: &std::path::Path,
    mode: qcat_api::Mode,
    settings: &[(&str, &str)],
) -> Api {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("master.key");
    if !key.exists() {
        qcat_secrets::keys::init_key_file(&key).unwrap();
    }
    let mut variables = vec![
        ("QCAT_DATABASE__URL".to_owned(), database_url.to_owned()),
        (
            "QCAT_MONITORING__FLUSH_INTERVAL".to_owned(),
            "1s".to_owned(),
        ),
        (
            "QCAT_RUNTIME__TIME_ZONE".to_owned(),
            "Asia/Shanghai".to_owned(),
        ),
    ];
    variables.extend(
        settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Api::open(ApiConfig {
        keys: KeyOptions {
            key_file: Some(key),
            ..KeyOptions::default()
        },
        data_dir: DataDir::at(dir),
        config: Config::load_from(&ConfigSources::environment_only(variables))
            .expect("valid test config"),
        mode,
    })
    .await
    .unwrap()
}

async fn sign_in(api: &Api, first: bool) -> SessionSlot {
    let slot = SessionSlot::new("test:desk");
    if first {
        api.create_first_admin(
            &slot,
            NewUserInput {
                username: "root".into(),
                display_name: String::new(),
                password: SecretText(Secret::new(PASSWORD.into())),
                roles: vec![],
            },
        )
        .await
        .unwrap();
    }
    api.login(
        &slot,
        LoginInput {
            username: "root".into(),
            password: SecretText(Secret::new(PASSWORD.into())),
        },
    )
    .await
    .ok();
    slot
}

fn csv(points: &[(i64, f64)]) -> String {
    points
        .iter()
        .map(|(t, v)| {
            let at = jiff::Timestamp::from_millisecond(*t).unwrap();
            format!("{at},{v}\n")
        })
        .collect()
}

/// Imports series through the same command an operator's CSV goes through.
async fn import(api: &Api, slot: &SessionSlot, series: &[(String, Vec<(i64, f64)>)]) {
    for (key, points) in series {
        api.monitor_import(
            slot,
            ImportInput {
                series: key.clone(),
                format: "csv".into(),
                text: csv(points),
                source: "test.csv".into(),
            },
        )
        .await
        .unwrap();
    }
}

fn row<'a>(view: &'a ComparisonView, series: &str) -> &'a qcat_api::monitor::ComparisonRowView {
    view.rows
        .iter()
        .find(|row| row.series == series)
        .unwrap_or_else(|| {
            panic!(
                "{series} is compared: {:?}",
                view.rows.iter().map(|r| &r.series).collect::<Vec<_>>()
            )
        })
}

fn print(view: &ComparisonView, title: &str) {
    println!(
        "\n{title}: {} of {} significant",
        view.significant_count,
        view.rows.len()
    );
    for row in &view.rows {
        println!(
            "  {:<5} {:>+7.1} % [{:>+6.1}, {:>+6.1}]  {}",
            if row.significant { "SIG" } else { "" },
            row.change.unwrap_or(f64::NAN) * 100.0,
            row.change_low.unwrap_or(f64::NAN) * 100.0,
            row.change_high.unwrap_or(f64::NAN) * 100.0,
            row.series
        );
    }
}

/// SQLite, then a fresh PostgreSQL database.
fn backends() -> [String; 2] {
    [String::new(), qcat_testkit::test_database_url()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_regression_on_one_endpoint_is_significant_and_an_unchanged_day_is_not() {
    for url in backends() {
        regression_is_found(&url).await;
    }
}

async fn regression_is_found(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let api = open(database_url, dir.path(), qcat_api::Mode::OneShot, &[]).await;
    let slot = sign_in(&api, true).await;

    // Five days of the simulated application, one reading a minute: three as released,
    // one more day as released, then "release 1.5" makes /order/submit 20 % slower.
    let release = MONDAY + 4 * DAY;
    let mut simulator = Simulator::new(7, 1.0, MONDAY - MINUTE);
    simulator.max_draws = 400.0;
    let series = history(
        &mut simulator,
        "app",
        MONDAY,
        MONDAY + 5 * DAY,
        MINUTE,
        |sim, t| {
            if t == release {
                sim.set_release(Some("/order/submit"), 1.2).unwrap();
            }
        },
    );
    let series: Vec<(String, Vec<(i64, f64)>)> = series
        .into_iter()
        .map(|(key, points)| (key.canonical(), points))
        .collect();
    import(&api, &slot, &series).await;

    let captured = api
        .baseline_capture(
            &slot,
            CaptureInput {
                name: "before 1.5".into(),
                description: Some("three trading days on 1.4".into()),
                from_ms: MONDAY,
                until_ms: MONDAY + 3 * DAY,
                series: vec![],
            },
        )
        .await
        .unwrap();
    let submit_p99 =
        "app_endpoint_latency_seconds{endpoint=\"/order/submit\",quantile=\"0.99\",target=\"app\"}";
    let quote_p99 =
        "app_endpoint_latency_seconds{endpoint=\"/market/quote\",quantile=\"0.99\",target=\"app\"}";
    // The default capture: the whole application and each of its five endpoints.
    assert!(
        captured.series.iter().any(|s| s.series == submit_p99),
        "per endpoint"
    );
    assert!(
        captured
            .series
            .iter()
            .any(|s| s.series.starts_with("app_in_flight")),
        "concurrency"
    );
    assert!(
        captured
            .series
            .iter()
            .any(|s| s.series.starts_with("app_throughput")),
        "throughput"
    );
    let submit = captured
        .series
        .iter()
        .find(|s| s.series == submit_p99)
        .unwrap();
    assert_eq!(submit.minutes, 3 * 1440, "every minute of the three days");
    assert!(submit.p50 <= submit.p95 && submit.p95 <= submit.p99);
    assert_eq!(submit.hourly.len(), 24);
    // A baseline is a record: the same name is refused, not replaced.
    let again = api
        .baseline_capture(
            &slot,
            CaptureInput {
                name: "before 1.5".into(),
                description: None,
                from_ms: MONDAY,
                until_ms: MONDAY + DAY,
                series: vec![],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(again.code, qcat_api::ErrorCode::Conflict, "{again}");

    let compare = |since: i64| CompareInput {
        name: "before 1.5".into(),
        since_ms: Some(since),
        until_ms: Some(since + DAY),
        against: None,
    };
    let unchanged = api
        .baseline_compare(&slot, compare(MONDAY + 3 * DAY))
        .await
        .unwrap();
    print(&unchanged, "the fourth day, still 1.4");
    // The same release on another day: no series changed beyond chance, for the whole
    // table at once (the intervals are family-wise).
    assert_eq!(unchanged.significant_count, 0, "nothing changed");
    assert!(
        unchanged.rows.len() >= 20,
        "every captured series is compared"
    );

    let regressed = api.baseline_compare(&slot, compare(release)).await.unwrap();
    print(&regressed, "the fifth day, /order/submit 20 % slower");
    let submit = row(&regressed, submit_p99);
    assert!(submit.significant, "the regression is found: {submit:?}");
    assert_eq!(submit.verdict, "higher");
    let change = submit.change.unwrap();
    // Every latency of the endpoint ×1.2; P99 read from the histogram's buckets moves by
    // about as much (linear interpolation inside a bucket).
    assert!(
        (0.1..0.35).contains(&change),
        "P99 {:+.1} %",
        change * 100.0
    );
    assert!(
        submit.change_low.unwrap() > 0.0,
        "its interval excludes no change"
    );
    // And it is pinned on that endpoint: the others did not move.
    let quote = row(&regressed, quote_p99);
    assert!(!quote.significant, "/market/quote is unchanged: {quote:?}");
    // Significant rows come first, so the answer is at the top of the table.
    assert!(regressed.rows[0].significant);

    // Another named baseline can be the compared side ("1.5 against 1.4").
    api.baseline_capture(
        &slot,
        CaptureInput {
            name: "1.5".into(),
            description: None,
            from_ms: release,
            until_ms: release + DAY,
            series: vec![submit_p99.into()],
        },
    )
    .await
    .unwrap();
    let against = api
        .baseline_compare(
            &slot,
            CompareInput {
                name: "before 1.5".into(),
                since_ms: None,
                until_ms: None,
                against: Some("1.5".into()),
            },
        )
        .await
        .unwrap();
    assert!(row(&against, submit_p99).significant);
    // Series the other baseline did not capture have nothing to compare.
    assert_eq!(row(&against, quote_p99).problem.as_deref(), Some("noData"));

    // The report: one self-contained page in the exports folder, charts inline.
    let file = api
        .baseline_report(
            &slot,
            ReportInput {
                compare: compare(release),
                language: Some("zh-CN".into()),
            },
        )
        .await
        .unwrap();
    let html = std::fs::read_to_string(&file.path).unwrap();
    assert!(file.path.contains("/exports/"), "{}", file.path);
    assert!(html.contains("/order/submit") && html.contains("显著"));
    assert_eq!(
        html.matches("data:image/png;base64,").count() as u64,
        file.charts,
        "every chart is inside the page"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "reports hold what the desk's systems did: owner only"
        );
    }

    // Removing a baseline is audited and leaves the others.
    api.baseline_remove(&slot, "1.5".into()).await.unwrap();
    let names: Vec<String> = api
        .baseline_list(&slot)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["before 1.5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marked_incident_raises_nothing_until_the_mark_is_removed() {
    for url in backends() {
        marks_are_honoured(&url).await;
    }
}

async fn marks_are_honoured(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let api = open(database_url, dir.path(), qcat_api::Mode::OneShot, &[]).await;
    let slot = sign_in(&api, true).await;
    // Three weeks of a steady latency with a two-hour step ×2 in the third week.
    let step = Anomaly {
        kind: AnomalyKind::Step,
        start_ms: MONDAY + 16 * DAY + 2 * 3_600_000,
        duration_ms: 2 * 3_600_000,
        factor: 2.0,
    };
    let points = Series {
        shape: Shape::Steady,
        level: 0.05,
        noise: 0.05,
        seed: 3,
        anomalies: vec![step],
    }
    .generate(MONDAY, 21);
    let name = "checkout_p99_seconds";
    import(&api, &slot, &[(name.to_owned(), points)]).await;
    let before = deviations(&api, &slot, name).await;
    assert_eq!(before.len(), 1, "the step is a deviation: {before:?}");
    assert_eq!(before[0].direction, "above");

    let mark = api
        .baseline_mark(
            &slot,
            MarkInput {
                kind: "incident".into(),
                from_ms: step.start_ms - 10 * MINUTE,
                until_ms: step.start_ms + step.duration_ms + 10 * MINUTE,
                series: Some(name.into()),
                note: Some("INC-42: the checkout cache was cold".into()),
            },
        )
        .await
        .unwrap();
    assert!(
        deviations(&api, &slot, name).await.is_empty(),
        "a marked incident raises nothing"
    );
    // A mark of another series does not hide this one's.
    let other = api
        .baseline_mark(
            &slot,
            MarkInput {
                kind: "maintenance".into(),
                from_ms: step.start_ms,
                until_ms: step.start_ms + step.duration_ms,
                series: Some("other_series".into()),
                note: None,
            },
        )
        .await
        .unwrap();
    api.baseline_unmark(&slot, mark.id.clone()).await.unwrap();
    assert_eq!(
        deviations(&api, &slot, name).await.len(),
        1,
        "unmarked, it is a deviation again"
    );
    // Bad input names the field and the fix.
    let bad = api
        .baseline_mark(
            &slot,
            MarkInput {
                kind: "outage".into(),
                from_ms: 0,
                until_ms: 1,
                series: None,
                note: None,
            },
        )
        .await
        .unwrap_err();
    assert!(bad.message.starts_with("kind:"), "{bad}");
    let marks = api
        .baseline_marks(
            &slot,
            qcat_api::monitor::RangeInput {
                since_ms: MONDAY,
                until_ms: MONDAY + 30 * DAY,
            },
        )
        .await
        .unwrap();
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0].id, other.id);
}

async fn deviations(
    api: &Api,
    slot: &SessionSlot,
    name: &str,
) -> Vec<qcat_api::monitor::DeviationView> {
    api.baseline_deviations(
        slot,
        DeviationsInput {
            series: name.into(),
            since_ms: MONDAY + 14 * DAY,
            until_ms: MONDAY + 21 * DAY,
            for_ms: None,
            threshold: None,
        },
    )
    .await
    .unwrap()
    .deviations
}

async fn events_since(
    api: &Api,
    slot: &SessionSlot,
    series: &str,
    since_ms: i64,
) -> Vec<qcat_api::monitor::DeviationEventView> {
    api.baseline_events(
        slot,
        DeviationEventsInput {
            since_ms,
            until_ms: since_ms + 60 * MINUTE,
            series: Some(series.into()),
            limit: None,
        },
    )
    .await
    .unwrap()
}

/// Polls `probe` every half second until it returns something, or fails after `limit`.
async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// On PostgreSQL, where several consoles and agents share the store: the duty's writes
/// are fenced and its numbers are PostgreSQL's float columns. (The end-to-end test runs
/// the same flow on the embedded store.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_speaks_at_once_and_an_incident_becomes_one_stored_event_across_a_restart() {
    let database_url = qcat_testkit::test_database_url();
    let dir = tempfile::tempdir().unwrap();
    // A deviation lasts two minutes before it is an event, so the test waits minutes, not
    // the default five.
    let settings = [
        ("QCAT_BASELINE__DEVIATION_FOR", "2m"),
        (
            "QCAT_BASELINE__SERIES",
            "app_latency_seconds{quantile=\"0.99\"}",
        ),
    ];
    let api = open(
        &database_url,
        dir.path(),
        qcat_api::Mode::Console,
        &settings,
    )
    .await;
    let slot = sign_in(&api, true).await;
    let demo = api
        .monitor_quick_start(
            &slot,
            QuickStartInput {
                what: "demo".into(),
            },
        )
        .await
        .unwrap();
    let p99 = format!(
        "app_latency_seconds{{quantile=\"0.99\",target=\"{}\"}}",
        demo.name
    );
    let p99 = p99.as_str();

    // The backfilled week: the baseline has learned its minimum history at once.
    let ready = wait_for(Duration::from_secs(90), "the learned p99", || async {
        let status = api.baseline_status(&slot).await.ok()?;
        status
            .series
            .into_iter()
            .find(|s| s.series == p99 && s.expected.is_some() && s.last_ms.is_some())
    })
    .await;
    assert_eq!(ready.learning, 1.0, "eight days learned: {ready:?}");
    assert!(
        ready.deviation.is_none(),
        "the calm demo is inside its band: {ready:?}"
    );
    let (low, high) = (ready.low.unwrap(), ready.high.unwrap());
    assert!(low < high && ready.expected.unwrap() > 0.0);

    // Every latency ×8 for four minutes: above the band from its first whole minute.
    let url = demo.url.trim_end_matches("/metrics").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let injected = qcat_core::time::now_ms();
    qcat_api::simulate::start_incident(&url, "latency", "4m")
        .await
        .unwrap();
    // The event that starts with the incident (the minute it began in, or the next).
    let with_incident = |e: &qcat_api::monitor::DeviationEventView| {
        (injected - MINUTE..injected + 3 * MINUTE).contains(&e.deviation.start_ms)
    };
    let raised = wait_for(Duration::from_secs(300), "the deviation event", || async {
        events_since(&api, &slot, p99, injected - 10 * MINUTE)
            .await
            .into_iter()
            .find(with_incident)
    })
    .await;
    assert_eq!(raised.deviation.direction, "above");
    assert!(raised.deviation.peak_score >= 4.0, "{raised:?}");
    // The band drawn for the chart holds the same deviation.
    let band = api
        .baseline_band(
            &slot,
            qcat_api::monitor::BandInput {
                series: p99.into(),
                since_ms: injected - 30 * MINUTE,
                until_ms: qcat_core::time::now_ms(),
                max_points: None,
            },
        )
        .await
        .unwrap();
    assert!(
        band.expected.iter().any(Option::is_some),
        "the band is drawn"
    );
    assert!(
        band.deviations
            .iter()
            .any(|d| d.start_ms == raised.deviation.start_ms),
        "the chart marks the stored event: {:?}",
        band.deviations
    );

    // A restart: the new leader warms up from the stored history and finds the same
    // event, which is neither lost nor stored twice.
    api.close().await;
    drop(api);
    let api = open(
        &database_url,
        dir.path(),
        qcat_api::Mode::Console,
        &settings,
    )
    .await;
    let slot = sign_in(&api, false).await;
    wait_for(
        Duration::from_secs(60),
        "the new leader's first cycle",
        || async {
            let status = api.baseline_status(&slot).await.ok()?;
            status
                .series
                .into_iter()
                .find(|s| s.series == p99 && s.updated_ms > raised.deviation.raised_ms + MINUTE)
        },
    )
    .await;
    let after = events_since(&api, &slot, p99, injected - 10 * MINUTE).await;
    assert_eq!(
        after
            .iter()
            .filter(|e| e.deviation.start_ms == raised.deviation.start_ms)
            .count(),
        1,
        "one event across the restart: {after:?}"
    );
}

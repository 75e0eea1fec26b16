//! `qcatctl baseline` as a release manager uses it: history imported from CSV, a period
//! captured as "before 1.4", the day after the release compared with it (the slower
//! endpoint named, the unchanged one not), a report written for the change review, a
//! maintenance window marked, and bad input refused with the flag and the fix.

mod common;

use common::{as_root, assert_exit, succeeded};

const DAY: i64 = 86_400;
/// 2026-11-02 00:00 UTC, a Monday (fixed, so the numbers are the same on every run).
const MONDAY: i64 = 1_793_577_600;

/// One value a minute for `days` days from `start` (seconds): a daily wave with noise,
/// × `after_factor` from `change_at` on.
fn csv(start: i64, days: i64, seed: u64, change_at: i64, after_factor: f64) -> String {
    let mut state = seed | 1;
    let mut text = String::new();
    for minute in 0..days * 1440 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 10_000) as f64 / 10_000.0 - 0.5;
        let at = start + minute * 60;
        let phase = (at % DAY) as f64 / DAY as f64;
        let mut value =
            0.05 * (1.0 + 0.3 * (phase * std::f64::consts::TAU).sin()) * (1.0 + 0.2 * noise);
        if at >= change_at {
            value *= after_factor;
        }
        let t = jiff::Timestamp::from_second(at).unwrap();
        text.push_str(&format!("{t},{value:.6}\n"));
    }
    text
}

fn rfc(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).unwrap().to_string()
}

#[test]
fn a_release_is_compared_with_its_named_baseline_reported_and_its_window_marked() {
    let dir = common::data_dir_with_admin();
    let dir = dir.path();
    let release = MONDAY + 3 * DAY;
    for (endpoint, seed, factor) in [("/order/submit", 11, 1.25), ("/market/quote", 12, 1.0)] {
        let file = dir.join(format!("p99-{seed}.csv"));
        std::fs::write(&file, csv(MONDAY, 4, seed, release, factor)).unwrap();
        succeeded(&as_root(
            dir,
            &[
                "monitor",
                "import",
                "--series",
                &format!("checkout_p99_seconds{{endpoint=\"{endpoint}\"}}"),
                file.to_str().unwrap(),
            ],
        ));
    }

    let captured = succeeded(&as_root(
        dir,
        &[
            "baseline",
            "capture",
            "before 1.4",
            "--from",
            &rfc(MONDAY),
            "--until",
            &rfc(release),
            "--series",
            "checkout_p99_seconds",
            "--description",
            "three days on 1.3",
        ],
    ));
    assert!(
        captured.contains("captured \"before 1.4\": 2 series"),
        "{captured}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&succeeded(&as_root(dir, &["baseline", "list", "--json"]))).unwrap();
    assert_eq!(list[0]["name"], "before 1.4");
    assert_eq!(list[0]["seriesCount"], 2);

    let compare = |extra: &[&str]| {
        let mut args = vec![
            "baseline",
            "compare",
            "before 1.4",
            "--since",
            &rfc(release),
            "--until",
            &rfc(release + DAY),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        succeeded(&as_root(dir, &args))
    };
    let view: serde_json::Value = serde_json::from_str(&compare(&["--json"])).unwrap();
    assert_eq!(view["significantCount"], 1, "{view}");
    let rows = view["rows"].as_array().unwrap();
    // The slower endpoint comes first, with its change and interval.
    assert_eq!(
        rows[0]["series"],
        "checkout_p99_seconds{endpoint=\"/order/submit\"}"
    );
    assert_eq!(rows[0]["verdict"], "higher");
    let change = rows[0]["change"].as_f64().unwrap();
    assert!(
        (0.2..0.3).contains(&change),
        "+25 % injected, {change} found"
    );
    assert_eq!(
        rows[1]["significant"], false,
        "/market/quote did not change"
    );
    let text = compare(&[]);
    assert!(
        text.lines()
            .any(|line| line.starts_with("SIGNIFICANT") && line.contains("/order/submit")),
        "{text}"
    );

    // The report for the change review: one file, charts inside, in Chinese.
    let report = dir.join("review").join("before-1.4.html");
    let wrote = succeeded(&as_root(
        dir,
        &[
            "baseline",
            "report",
            "before 1.4",
            "--since",
            &rfc(release),
            "--until",
            &rfc(release + DAY),
            "--lang",
            "zh-CN",
            "--out",
            report.to_str().unwrap(),
        ],
    ));
    assert!(wrote.starts_with("wrote "), "{wrote}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<html lang=\"zh-CN\">") && html.contains("显著"));
    assert_eq!(
        html.matches("data:image/png;base64,").count(),
        4,
        "two series, two charts each"
    );

    // A maintenance window: marked, listed, removed.
    let marked = succeeded(&as_root(
        dir,
        &[
            "baseline",
            "mark",
            "--kind",
            "maintenance",
            "--from",
            &rfc(release + 3600),
            "--until",
            &rfc(release + 7200),
            "--note",
            "index rebuild",
        ],
    ));
    let id = marked.trim().rsplit(' ').next().unwrap().to_owned();
    let marks: serde_json::Value = serde_json::from_str(&succeeded(&as_root(
        dir,
        &["baseline", "marks", "--since", &rfc(MONDAY), "--json"],
    )))
    .unwrap();
    assert_eq!(marks[0]["id"], id.as_str());
    assert_eq!(marks[0]["note"], "index rebuild");
    succeeded(&as_root(dir, &["baseline", "unmark", &id]));

    // Bad input names the flag (or field) and the fix; nothing is written.
    let refused = as_root(dir, &["baseline", "capture", "x", "--from", "yesterday"]);
    assert_exit(&refused, 64);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--from \"yesterday\""));
    let unknown = as_root(
        dir,
        &[
            "baseline",
            "capture",
            "x",
            "--from",
            &rfc(MONDAY),
            "--until",
            &rfc(release),
            "--series",
            "no_such_series",
        ],
    );
    assert_exit(&unknown, 66);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("series:"));
    let missing = as_root(dir, &["baseline", "compare", "before 1.5"]);
    assert_exit(&missing, 66);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("baseline list"));

    succeeded(&as_root(dir, &["baseline", "remove", "before 1.4"]));
    let list = succeeded(&as_root(dir, &["baseline", "list"]));
    assert!(list.contains("no named baselines"), "{list}");
}

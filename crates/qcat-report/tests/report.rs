//! Reports as a reader gets them: PNG charts that decode, Chinese labels drawn with real
//! glyphs (not the empty boxes a missing font gives), and a self-contained page.

use qcat_report::Language;
use qcat_report::baseline::{BandData, BaselineReport, Row, render};
use qcat_report::chart::{ProfileChart, Tone, empty_png};

fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("one frame");
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

#[test]
fn chinese_words_draw_as_their_own_glyphs() {
    // A font without these characters draws each as the same "missing glyph" box, so two
    // different words would give the same pixels; with the bundled font they differ, and
    // ink is laid down.
    let first = decode(&empty_png("基线对比", 240, 60).unwrap());
    let second = decode(&empty_png("显著变化", 240, 60).unwrap());
    assert_eq!((first.0, first.1), (240, 60));
    assert_ne!(first.2, second.2, "different words, different pixels");
    let inked = first.2.chunks(3).filter(|p| p[0] < 200).count();
    assert!(inked > 50, "the text is drawn: {inked} dark pixels");
}

fn sample_report(language: Language) -> BaselineReport {
    let start = 1_793_577_600_000i64;
    let hourly = |factor: f64| -> Vec<Option<f64>> {
        (0..24).map(|h| Some(factor * (10.0 + h as f64))).collect()
    };
    let t: Vec<i64> = (0..120).map(|i| start + i * 60_000).collect();
    let value: Vec<f64> = (0..120)
        .map(|i| if (60..70).contains(&i) { 40.0 } else { 20.0 })
        .collect();
    BaselineReport {
        language,
        baseline: "发布 1.4 之前 <before 1.4>".to_owned(),
        description: "a week of trading".to_owned(),
        baseline_period: (start - 7 * 86_400_000, start),
        compared_period: (start, start + 7_200_000),
        against: None,
        confidence: 0.95,
        generated_ms: start + 7_200_000,
        zone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        zone_name: "Asia/Shanghai".to_owned(),
        rows: vec![
            Row {
                series:
                    "app_endpoint_latency_seconds{endpoint=\"/order/submit\",quantile=\"0.99\"}"
                        .to_owned(),
                before: Some(0.08),
                now: Some(0.096),
                change: Some(0.2),
                change_low: Some(0.16),
                change_high: Some(0.24),
                significant: true,
                problem: None,
                before_hourly: hourly(1.0),
                now_hourly: hourly(1.2),
                band: Some(BandData {
                    t: t.clone(),
                    value,
                    low: t.iter().map(|_| Some(15.0)).collect(),
                    high: t.iter().map(|_| Some(25.0)).collect(),
                    deviations: vec![(start + 60 * 60_000, start + 70 * 60_000)],
                }),
            },
            Row {
                series: "app_in_flight".to_owned(),
                before: Some(3.0),
                now: None,
                change: None,
                change_low: None,
                change_high: None,
                significant: false,
                problem: Some("noData".to_owned()),
                before_hourly: hourly(0.1),
                now_hourly: vec![],
                band: None,
            },
        ],
    }
}

#[test]
fn a_report_is_one_self_contained_page_with_its_charts() {
    for language in [Language::English, Language::SimplifiedChinese] {
        let html = render(&sample_report(language)).unwrap();
        if let Ok(dir) = std::env::var("QCAT_REPORT_SAMPLE_DIR") {
            std::fs::write(format!("{dir}/sample-{}.html", language.tag()), &html).unwrap();
        }
        // Everything is inside: no script, no link to anything outside the file.
        assert!(!html.contains("<script"), "no script");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external resource"
        );
        // Names from users are escaped, not markup.
        assert!(html.contains("&lt;before 1.4&gt;"));
        // Both series are listed; the first (significant) one has two charts, the second
        // a profile and a "no band" notice.
        let images: Vec<&str> = html.split("data:image/png;base64,").skip(1).collect();
        assert_eq!(images.len(), 4, "two charts per charted series");
        for image in images {
            let encoded = image.split('"').next().unwrap();
            let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded)
                .unwrap();
            let (width, height, _) = decode(&bytes);
            assert!(width >= 240 && height >= 60);
        }
        let significant = match language {
            Language::English => "significant",
            Language::SimplifiedChinese => "显著",
        };
        assert!(html.contains(significant));
        assert!(html.contains("+20.0 %"), "the change with its sign");
    }
}

#[test]
fn a_profile_chart_with_gaps_still_draws() {
    // Hours without data (a period that covers only the trading sessions) break the line
    // instead of failing or drawing zeros.
    let mut hours: Vec<Option<f64>> = (0..24).map(|h| Some(h as f64)).collect();
    hours[3] = None;
    hours[4] = None;
    let png_bytes = ProfileChart {
        title: "按小时".to_owned(),
        y_label: "s".to_owned(),
        x_label: "hour".to_owned(),
        lines: vec![("before".to_owned(), hours, Tone::Primary)],
    }
    .render_png(480, 240)
    .unwrap();
    assert_eq!(decode(&png_bytes).0, 480);
}

//! The baseline comparison report: a named baseline against a later period (or another
//! named baseline), every series with its change and interval, and for the series that
//! matter most (significant changes first) two charts — the hour-of-day profile of both
//! periods, and the compared period against its learned band with deviations shaded.

use crate::chart::{self, Band, Line, ProfileChart, TimeChart, Tone};
use crate::html::{escape, page, png_image};
use crate::{Language, ReportError};

/// Charts are drawn for at most this many series (the table lists every one).
pub const CHARTED_SERIES: usize = 8;
const WIDTH: u32 = 960;
const HEIGHT: u32 = 320;

#[derive(Debug, Clone)]
pub struct BaselineReport {
    pub language: Language,
    pub baseline: String,
    pub description: String,
    pub baseline_period: (i64, i64),
    pub compared_period: (i64, i64),
    /// The other named baseline compared, if it is one.
    pub against: Option<String>,
    /// Family-wise confidence of the intervals.
    pub confidence: f64,
    pub generated_ms: i64,
    pub zone: jiff::tz::TimeZone,
    pub zone_name: String,
    pub rows: Vec<Row>,
}

/// One series compared.
#[derive(Debug, Clone)]
pub struct Row {
    pub series: String,
    pub before: Option<f64>,
    pub now: Option<f64>,
    pub change: Option<f64>,
    pub change_low: Option<f64>,
    pub change_high: Option<f64>,
    pub significant: bool,
    /// `noData` or `noCommonHours` when there are no numbers.
    pub problem: Option<String>,
    pub before_hourly: Vec<Option<f64>>,
    pub now_hourly: Vec<Option<f64>>,
    /// The compared period against its learned band, when the series could be replayed.
    pub band: Option<BandData>,
}

#[derive(Debug, Clone)]
pub struct BandData {
    pub t: Vec<i64>,
    pub value: Vec<f64>,
    pub low: Vec<Option<f64>>,
    pub high: Vec<Option<f64>>,
    /// Deviation events: start and end (the period's end while one lasts).
    pub deviations: Vec<(i64, i64)>,
}

/// The words of the report, per language.
struct Words {
    title: &'static str,
    baseline_period: &'static str,
    compared_period: &'static str,
    against: &'static str,
    generated: &'static str,
    zone: &'static str,
    summary: &'static str,
    series: &'static str,
    before: &'static str,
    now: &'static str,
    change: &'static str,
    verdict: &'static str,
    significant: &'static str,
    not_significant: &'static str,
    no_data: &'static str,
    no_common_hours: &'static str,
    profile: &'static str,
    hour_of_day: &'static str,
    band_chart: &'static str,
    band: &'static str,
    value: &'static str,
    deviation: &'static str,
    no_band: &'static str,
    method: &'static str,
    significant_count: &'static str,
}

fn words(language: Language) -> Words {
    match language {
        Language::English => Words {
            title: "Baseline comparison",
            baseline_period: "Baseline period",
            compared_period: "Compared period",
            against: "Compared baseline",
            generated: "Generated",
            zone: "Time zone",
            summary: "Summary",
            series: "Series",
            before: "Baseline",
            now: "Compared",
            change: "Change",
            verdict: "Verdict",
            significant: "significant",
            not_significant: "not significant",
            no_data: "no data in the compared period",
            no_common_hours: "no hours of day in common",
            profile: "By hour of day",
            hour_of_day: "hour of day",
            band_chart: "Compared period and its learned band",
            band: "expected band",
            value: "value",
            deviation: "deviation",
            no_band: "No learned band for this period",
            method: "Each change compares the hour-of-day weighted means of both periods over the \
                     hours both cover. The interval is a 10-minute block bootstrap, widened for the \
                     number of series compared (Bonferroni), so the whole table holds at the stated \
                     confidence; a change is significant when its interval excludes zero.",
            significant_count: "significant changes",
        },
        Language::SimplifiedChinese => Words {
            title: "基线对比",
            baseline_period: "基线时段",
            compared_period: "对比时段",
            against: "对比基线",
            generated: "生成时间",
            zone: "时区",
            summary: "概要",
            series: "序列",
            before: "基线",
            now: "对比",
            change: "变化",
            verdict: "结论",
            significant: "显著",
            not_significant: "不显著",
            no_data: "对比时段无数据",
            no_common_hours: "两个时段没有共同的小时",
            profile: "按一天中的小时",
            hour_of_day: "小时",
            band_chart: "对比时段与学习到的基线带",
            band: "预期范围",
            value: "数值",
            deviation: "偏离",
            no_band: "该时段没有学习到的基线带",
            method: "每项变化比较两个时段在共同覆盖的小时上按小时加权的均值。区间来自 10 分钟分块自助法，\
                     并按对比的序列数加宽（Bonferroni），使整张表在所述置信度下成立；区间不含零即为显著。",
            significant_count: "项显著变化",
        },
    }
}

fn time_text(zone: &jiff::tz::TimeZone, t_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(t_ms)
        .map(|t| {
            t.to_zoned(zone.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn percent(value: f64) -> String {
    format!("{:+.1} %", value * 100.0)
}

/// The change with its interval: `+18.2 % (+14.1 … +22.3 %)`.
fn change_text(row: &Row) -> String {
    match (row.change, row.change_low, row.change_high) {
        (Some(change), Some(low), Some(high)) => format!(
            "{} ({:+.1} … {:+.1} %)",
            percent(change),
            low * 100.0,
            high * 100.0
        ),
        _ => "–".to_owned(),
    }
}

/// Renders the report as one HTML page.
pub fn render(report: &BaselineReport) -> Result<String, ReportError> {
    let w = words(report.language);
    let zone = &report.zone;
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>{}: {}</h1>\n",
        escape(w.title),
        escape(&report.baseline)
    ));
    if !report.description.is_empty() {
        body.push_str(&format!("<p>{}</p>\n", escape(&report.description)));
    }
    let meta = |label: &str, value: String| {
        format!(
            "<p class=\"meta\">{}: {}</p>\n",
            escape(label),
            escape(&value)
        )
    };
    body.push_str(&meta(
        w.baseline_period,
        format!(
            "{} – {}",
            time_text(zone, report.baseline_period.0),
            time_text(zone, report.baseline_period.1)
        ),
    ));
    if let Some(other) = &report.against {
        body.push_str(&meta(w.against, other.clone()));
    }
    body.push_str(&meta(
        w.compared_period,
        format!(
            "{} – {}",
            time_text(zone, report.compared_period.0),
            time_text(zone, report.compared_period.1)
        ),
    ));
    body.push_str(&meta(w.zone, report.zone_name.clone()));
    body.push_str(&meta(w.generated, time_text(zone, report.generated_ms)));

    let significant = report.rows.iter().filter(|r| r.significant).count();
    body.push_str(&format!(
        "<h2>{}</h2>\n<p><strong>{significant}</strong> {} / {} · {:.0} %</p>\n",
        escape(w.summary),
        escape(w.significant_count),
        report.rows.len(),
        report.confidence * 100.0
    ));
    body.push_str(&format!(
        "<table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        escape(w.series),
        escape(w.before),
        escape(w.now),
        escape(w.change),
        escape(w.verdict)
    ));
    for row in &report.rows {
        let number = |v: Option<f64>| v.map_or("–".to_owned(), chart::short_number);
        let verdict = match row.problem.as_deref() {
            Some("noData") => format!("<span class=\"ok\">{}</span>", escape(w.no_data)),
            Some(_) => format!("<span class=\"ok\">{}</span>", escape(w.no_common_hours)),
            None if row.significant => {
                format!("<span class=\"sig\">{}</span>", escape(w.significant))
            }
            None => format!("<span class=\"ok\">{}</span>", escape(w.not_significant)),
        };
        body.push_str(&format!(
            "<tr><td class=\"series\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{verdict}</td></tr>\n",
            escape(&row.series),
            number(row.before),
            number(row.now),
            escape(&change_text(row))
        ));
    }
    body.push_str("</table>\n");
    body.push_str(&format!("<p class=\"note\">{}</p>\n", escape(w.method)));

    for row in report.rows.iter().take(CHARTED_SERIES) {
        body.push_str(&format!(
            "<h2 class=\"series\">{}</h2>\n<p>{} {}</p>\n",
            escape(&row.series),
            escape(w.change),
            escape(&change_text(row))
        ));
        let profile = ProfileChart {
            title: w.profile.to_owned(),
            y_label: w.value.to_owned(),
            x_label: w.hour_of_day.to_owned(),
            lines: vec![
                (
                    w.before.to_owned(),
                    row.before_hourly.clone(),
                    Tone::Secondary,
                ),
                (w.now.to_owned(), row.now_hourly.clone(), Tone::Primary),
            ],
        };
        body.push_str(&png_image(
            &profile.render_png(WIDTH, HEIGHT)?,
            &format!("{} — {}", w.profile, row.series),
        ));
        body.push('\n');
        let band_png = match &row.band {
            Some(band) if !band.t.is_empty() => TimeChart {
                title: w.band_chart.to_owned(),
                y_label: w.value.to_owned(),
                lines: vec![Line {
                    label: w.value.to_owned(),
                    points: band
                        .t
                        .iter()
                        .zip(&band.value)
                        .map(|(t, v)| (*t, Some(*v)))
                        .collect(),
                    tone: Tone::Primary,
                }],
                band: Some(Band {
                    label: w.band.to_owned(),
                    points: band
                        .t
                        .iter()
                        .zip(band.low.iter().zip(&band.high))
                        .map(|(t, (low, high))| (*t, low.zip(*high)))
                        .collect(),
                }),
                shaded: band.deviations.clone(),
                shaded_label: w.deviation.to_owned(),
                zone: zone.clone(),
            }
            .render_png(WIDTH, HEIGHT)?,
            _ => chart::empty_png(w.no_band, WIDTH, 80)?,
        };
        body.push_str(&png_image(
            &band_png,
            &format!("{} — {}", w.band_chart, row.series),
        ));
        body.push('\n');
    }
    Ok(page(
        report.language,
        &format!("{}: {}", w.title, report.baseline),
        &body,
    ))
}

//! The Prometheus text exposition format, version 0.0.4: what an exporter's `/metrics`
//! serves. [`parse`] turns a scrape into [`Family`]s with every sample kept;
//! [`quantile::histograms`] reads the classic histograms in it the way Prometheus'
//! `histogram_quantile` does.

mod parse;
pub mod quantile;

use std::collections::BTreeMap;

pub use parse::{ParseError, parse};

/// A metric family: the samples under one `# TYPE` (or one name, when untyped).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: FamilyKind,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FamilyKind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl FamilyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Summary => "summary",
            Self::Untyped => "untyped",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            "untyped" => Self::Untyped,
            _ => return None,
        })
    }

    /// The suffixes a sample of this kind may add to the family's name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Histogram => &["_bucket", "_sum", "_count"],
            Self::Summary => &["_sum", "_count"],
            _ => &[],
        }
    }
}

/// One line of a scrape: a series (name + labels) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Sorted by label name, as Prometheus identifies a series.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Numbers as JSON can carry them: finite values as numbers, the others as Prometheus
/// spells them (`"NaN"`, `"+Inf"`, `"-Inf"`), the way its HTTP API writes every value.
pub fn json_number(value: f64) -> serde_json::Value {
    if value.is_nan() {
        serde_json::Value::from("NaN")
    } else if value == f64::INFINITY {
        serde_json::Value::from("+Inf")
    } else if value == f64::NEG_INFINITY {
        serde_json::Value::from("-Inf")
    } else {
        serde_json::Value::from(value)
    }
}

/// A float as Prometheus writes and reads it: Go's `strconv.ParseFloat` spellings, which
/// accept `NaN`, `Inf`, `+Inf`, `-Inf` in any case besides ordinary decimals.
pub fn parse_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "nan" => return Some(f64::NAN),
        "inf" | "infinity" => {
            return Some(if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        _ => {}
    }
    // Rust's parser takes the same decimal forms ("1e3", ".5", "5.") as Go's, and no hex.
    if text.contains(['x', 'X', '_']) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// The families, samples and histogram quantiles of one scrape, in the shape
/// `qcatctl monitor scrape --json` prints.
pub fn scrape_json(families: &[Family], quantiles: &[f64]) -> serde_json::Value {
    let families_json: Vec<serde_json::Value> = families
        .iter()
        .map(|family| {
            serde_json::json!({
                "name": family.name,
                "type": family.kind.as_str(),
                "help": family.help,
                "samples": family.samples.iter().map(|sample| serde_json::json!({
                    "name": sample.name,
                    "labels": sample.labels,
                    "value": json_number(sample.value),
                    "timestamp_ms": sample.timestamp_ms,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let histograms: Vec<serde_json::Value> = quantile::histograms(families)
        .iter()
        .map(|histogram| {
            let quantile_values: serde_json::Map<String, serde_json::Value> = quantiles
                .iter()
                .map(|q| (format_quantile(*q), json_number(histogram.quantile(*q))))
                .collect();
            serde_json::json!({
                "name": histogram.family,
                "labels": histogram.labels,
                "count": histogram.count.map(json_number),
                "sum": histogram.sum.map(json_number),
                "quantiles": quantile_values,
            })
        })
        .collect();
    serde_json::json!({ "families": families_json, "histograms": histograms })
}

/// `0.5` → `"0.5"`, `0.99` → `"0.99"`, `1.0` → `"1"`: the shortest text that reads back.
pub fn format_quantile(q: f64) -> String {
    let text = format!("{q}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

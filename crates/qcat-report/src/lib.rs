//! Reports that leave the console: charts rendered in Rust by plotters as PNG — with a
//! bundled CJK font, so Chinese labels draw the same on every machine — and self-contained
//! HTML pages that embed them (no network, no script, one file to mail or archive).
//!
//! - [`chart`]: time charts (lines, expected band, shaded deviations) and hour-of-day
//!   profiles, as PNG bytes.
//! - [`html`]: escaping and the page frame.
//! - [`baseline`]: the baseline comparison report.
//!
//! This crate draws what it is given: it reads no store and knows no API types.

pub mod baseline;
pub mod chart;
mod font;
pub mod html;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the chart could not be drawn: {0}")]
    Draw(String),
    #[error("the chart could not be encoded as PNG: {0}")]
    Encode(String),
    #[error("the bundled report font could not be loaded")]
    Font,
}

/// The languages reports are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    SimplifiedChinese,
}

impl Language {
    /// `en` or `zh-CN` (also `zh`, `zh-Hans`); `None` for anything else.
    pub fn parse(tag: &str) -> Option<Self> {
        match tag.trim() {
            "en" | "en-US" | "en-GB" => Some(Self::English),
            "zh" | "zh-CN" | "zh-Hans" | "zh-Hans-CN" => Some(Self::SimplifiedChinese),
            _ => None,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::SimplifiedChinese => "zh-CN",
        }
    }
}

//! Charts drawn by plotters into an RGB buffer and encoded as PNG in memory: a time chart
//! (lines, an expected band, shaded periods, times on the axis in the desk's zone) and an
//! hour-of-day profile. Text is drawn with the bundled font, so Chinese labels look the
//! same on every machine.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{ReportError, font};

/// The colours a chart uses (the console's palette, legible on white and in print).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// The measured value.
    Primary,
    /// What it is compared with.
    Secondary,
    /// A deviation or regression.
    Alert,
    /// Reference lines and bands.
    Muted,
}

impl Tone {
    fn rgb(self) -> RGBColor {
        match self {
            Tone::Primary => RGBColor(37, 99, 235),
            Tone::Secondary => RGBColor(100, 116, 139),
            Tone::Alert => RGBColor(220, 38, 38),
            Tone::Muted => RGBColor(148, 163, 184),
        }
    }
}

/// One line of a time chart: points in time order; a `None` value breaks the line.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(i64, Option<f64>)>,
    pub tone: Tone,
}

/// An expected band: per time its low and high edge (`None` where there is none).
#[derive(Debug, Clone)]
pub struct Band {
    pub label: String,
    pub points: Vec<(i64, Option<(f64, f64)>)>,
}

#[derive(Debug, Clone)]
pub struct TimeChart {
    pub title: String,
    /// The unit or quantity on the vertical axis.
    pub y_label: String,
    pub lines: Vec<Line>,
    pub band: Option<Band>,
    /// Periods shaded in the alert tone (deviations), with their legend label.
    pub shaded: Vec<(i64, i64)>,
    pub shaded_label: String,
    /// Times on the axis are shown in this zone.
    pub zone: jiff::tz::TimeZone,
}

/// Twenty-four values, one per hour of day, per line.
#[derive(Debug, Clone)]
pub struct ProfileChart {
    pub title: String,
    pub y_label: String,
    pub x_label: String,
    pub lines: Vec<(String, Vec<Option<f64>>, Tone)>,
}

/// The plot area's value range over everything drawn, padded; a flat range is widened so
/// the line sits in the middle instead of on an edge.
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for value in values.filter(|v| v.is_finite()) {
        low = low.min(value);
        high = high.max(value);
    }
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    if high - low < f64::EPSILON * high.abs().max(1.0) {
        let pad = high.abs().max(1.0) * 0.1;
        return (low - pad, high + pad);
    }
    let pad = (high - low) * 0.08;
    let low = if low >= 0.0 {
        (low - pad).max(0.0)
    } else {
        low - pad
    };
    (low, high + pad)
}

/// A value as an axis label: short, SI-scaled for large and small magnitudes.
pub fn short_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0".to_owned()
    } else if magnitude >= 1e9 {
        format!("{:.1}G", value / 1e9)
    } else if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else if magnitude >= 1e-3 {
        format!("{value:.4}")
    } else {
        format!("{value:.2e}")
    }
}

/// `MM-DD HH:MM` in `zone`.
fn local_time(zone: &jiff::tz::TimeZone, t_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(t_ms)
        .map(|t| t.to_zoned(zone.clone()).strftime("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Draws into an RGB buffer of `width` × `height` and returns it as a PNG.
fn to_png(
    width: u32,
    height: u32,
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), ReportError>,
) -> Result<Vec<u8>, ReportError> {
    font::register()?;
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(root)?;
    }
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder
        .write_header()
        .map_err(|err| ReportError::Encode(err.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|err| ReportError::Encode(err.to_string()))?;
    writer
        .finish()
        .map_err(|err| ReportError::Encode(err.to_string()))?;
    Ok(png_bytes)
}

fn draw_error(err: impl std::fmt::Display) -> ReportError {
    ReportError::Draw(err.to_string())
}

/// Splits points into runs without gaps (a `None` ends a run).
fn runs<T: Copy>(points: &[(i64, Option<T>)]) -> Vec<Vec<(i64, T)>> {
    let mut out = vec![Vec::new()];
    for (t, value) in points {
        match value {
            Some(value) => out.last_mut().expect("one run").push((*t, *value)),
            None if !out.last().expect("one run").is_empty() => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|run| !run.is_empty());
    out
}

impl TimeChart {
    pub fn render_png(&self, width: u32, height: u32) -> Result<Vec<u8>, ReportError> {
        let times = self
            .lines
            .iter()
            .flat_map(|line| line.points.iter().map(|(t, _)| *t))
            .chain(
                self.band
                    .iter()
                    .flat_map(|b| b.points.iter().map(|(t, _)| *t)),
            );
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for t in times {
            first = first.min(t);
            last = last.max(t);
        }
        if first >= last {
            first = first.min(last) - 60_000;
            last = first + 120_000;
        }
        let values = self
            .lines
            .iter()
            .flat_map(|line| line.points.iter().filter_map(|(_, v)| *v))
            .chain(
                self.band
                    .iter()
                    .flat_map(|b| b.points.iter().filter_map(|(_, e)| *e))
                    .flat_map(|(low, high)| [low, high]),
            );
        let (low, high) = value_range(values);
        let zone = self.zone.clone();
        to_png(width, height, |root| {
            root.fill(&WHITE).map_err(draw_error)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 18).into_font())
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(64)
                .build_cartesian_2d(first..last, low..high)
                .map_err(draw_error)?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(241, 245, 249))
                .bold_line_style(RGBColor(226, 232, 240))
                .x_labels(6)
                .y_labels(6)
                .x_label_formatter(&|t| local_time(&zone, *t))
                .y_label_formatter(&|v| short_number(*v))
                .y_desc(&self.y_label)
                .label_style(("sans-serif", 12).into_font())
                .axis_desc_style(("sans-serif", 13).into_font())
                .draw()
                .map_err(draw_error)?;
            let shade = Tone::Alert.rgb().mix(0.12);
            for (index, (start, end)) in self.shaded.iter().enumerate() {
                let drawn = chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [((*start).max(first), high), ((*end).min(last), low)],
                        shade.filled(),
                    )))
                    .map_err(draw_error)?;
                if index == 0 {
                    drawn.label(&self.shaded_label).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 16, y + 5)], shade.filled())
                    });
                }
            }
            if let Some(band) = &self.band {
                let fill = Tone::Muted.rgb().mix(0.25);
                for (index, run) in runs(&band.points).into_iter().enumerate() {
                    let mut outline: Vec<(i64, f64)> =
                        run.iter().map(|(t, (_, h))| (*t, *h)).collect();
                    outline.extend(run.iter().rev().map(|(t, (l, _))| (*t, *l)));
                    let drawn = chart
                        .draw_series(std::iter::once(Polygon::new(outline, fill.filled())))
                        .map_err(draw_error)?;
                    if index == 0 {
                        drawn.label(&band.label).legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 16, y + 5)], fill.filled())
                        });
                    }
                }
            }
            for line in &self.lines {
                let color = line.tone.rgb();
                for (index, run) in runs(&line.points).into_iter().enumerate() {
                    let drawn = chart
                        .draw_series(LineSeries::new(run, color.stroke_width(2)))
                        .map_err(draw_error)?;
                    if index == 0 {
                        drawn.label(&line.label).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    }
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(203, 213, 225))
                .label_font(("sans-serif", 12).into_font())
                .draw()
                .map_err(draw_error)?;
            root.present().map_err(draw_error)
        })
    }
}

impl ProfileChart {
    pub fn render_png(&self, width: u32, height: u32) -> Result<Vec<u8>, ReportError> {
        let values = self
            .lines
            .iter()
            .flat_map(|(_, hours, _)| hours.iter().filter_map(|v| *v));
        let (low, high) = value_range(values);
        to_png(width, height, |root| {
            root.fill(&WHITE).map_err(draw_error)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 18).into_font())
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(0i64..23i64, low..high)
                .map_err(draw_error)?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(241, 245, 249))
                .bold_line_style(RGBColor(226, 232, 240))
                .x_labels(12)
                .y_labels(6)
                .x_label_formatter(&|h| format!("{h:02}"))
                .y_label_formatter(&|v| short_number(*v))
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(("sans-serif", 12).into_font())
                .axis_desc_style(("sans-serif", 13).into_font())
                .draw()
                .map_err(draw_error)?;
            for (label, hours, tone) in &self.lines {
                let color = tone.rgb();
                let points: Vec<(i64, Option<f64>)> = hours
                    .iter()
                    .enumerate()
                    .map(|(h, v)| (h as i64, *v))
                    .collect();
                for (index, run) in runs(&points).into_iter().enumerate() {
                    let series = chart
                        .draw_series(LineSeries::new(run.clone(), color.stroke_width(2)))
                        .map_err(draw_error)?;
                    if index == 0 {
                        series.label(label).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    }
                    chart
                        .draw_series(run.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                        .map_err(draw_error)?;
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(203, 213, 225))
                .label_font(("sans-serif", 12).into_font())
                .draw()
                .map_err(draw_error)?;
            root.present().map_err(draw_error)
        })
    }
}

/// A chart that says there is nothing to draw (a series without data in the period).
pub fn empty_png(message: &str, width: u32, height: u32) -> Result<Vec<u8>, ReportError> {
    to_png(width, height, |root| {
        root.fill(&WHITE).map_err(draw_error)?;
        let grey = Tone::Secondary.rgb();
        let style = TextStyle::from(("sans-serif", 16).into_font())
            .color(&grey)
            .pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(message, &style, (width as i32 / 2, height as i32 / 2))
            .map_err(draw_error)?;
        root.present().map_err(draw_error)
    })
}

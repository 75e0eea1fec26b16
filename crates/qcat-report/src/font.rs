//! The bundled font (Noto Sans CJK SC, subset: see `fonts/README.md`), registered with
//! plotters once as `sans-serif` so every chart draws Latin and Chinese text with it.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::ReportError;

static FONT: &[u8] = include_bytes!("../fonts/NotoSansSC-Subset.otf");

/// Registers the font (once per process).
pub(crate) fn register() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok { Ok(()) } else { Err(ReportError::Font) }
}

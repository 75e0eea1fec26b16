//! Performance baselines: what each series is expected to do at this time of the week,
//! and when it strays from it.
//!
//! - [`model`]: one series' seasonal profile (half hour × day of week, falling back to day
//!   type, day, flat), median and robust spread per occurrence, updated incrementally.
//! - [`detect`]: scores against the profile and deviation events that last a `for`
//!   duration, live ([`detect::Detector`]) or replayed ([`detect::replay`]), causally.
//! - [`named`]: named baselines — a period captured as a summary, later periods compared
//!   with it per series, significance from a block bootstrap.
//! - [`store`]: named baselines, marked periods, deviation events and each learned series'
//!   state in the console's store.
//! - [`zscore`]: the rolling z-score (mean ± 3σ over the previous week) it is compared with.
//! - [`synthetic`]: series with known patterns and injected anomalies for tests and benches.

pub mod detect;
pub mod model;
pub mod named;
pub mod store;
pub mod synthetic;
pub mod zscore;

pub use detect::{Change, Detector, Deviation, Direction, Evaluation, Settings};
pub use model::{Expected, Level, Model};

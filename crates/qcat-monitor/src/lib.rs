//! Monitoring: what the console knows about the trading system's machines, databases and
//! application, and where it keeps it.
//!
//! - [`baseline`]: learned seasonal bands per series and the deviation events they raise.
//! - [`exposition`]: the Prometheus text format (0.0.4) parsed into families, and
//!   `histogram_quantile` with Prometheus' exact semantics.
//! - [`tsdb`]: the embedded metric store — Gorilla-compressed chunks, 1 m and 1 h rollups,
//!   retention per tier, range queries with rates and quantiles.
//! - [`targets`]: connection profiles (kind, URL, password reference, environment,
//!   interval) and their rows and health in the console's store.
//! - [`collect`]: a collector per target kind, and the step-by-step connection test.
//! - [`import`]: history from CSV (`timestamp,value`) for backfilling a series.
//! - [`simulate`]: a simulated trading application's `/metrics`, with incidents to inject.

pub mod baseline;
pub mod collect;
pub mod exposition;
pub mod import;
pub mod simulate;
pub mod targets;
pub mod tsdb;

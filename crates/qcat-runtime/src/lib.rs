//! The runtime every QCAT process shares — the console, `qcatctl agent` and one-shot
//! `qcatctl` runs: supervised named tasks with an ordered shutdown ([`task`]), schedule
//! times ([`schedule`]), job progress throttled for the window ([`progress`]) and the live
//! event bus ([`events`]). No Tauri and no store here: `qcat-api` wires these to both.

pub mod events;
pub mod progress;
pub mod schedule;
pub mod task;

pub use task::{Backoff, Restart, Stage, TaskContext, TaskHandle, TaskHealth, TaskState, Tasks};
pub use tokio_util::sync::CancellationToken;

/// Which kind of process runs the runtime; decides what starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The desktop window: maintenance, watchers, the scheduler when it leads.
    Console,
    /// `qcatctl agent`: like the console, plus the metrics endpoint; no window.
    Agent,
    /// A one-shot `qcatctl` command: the audit writer only, no maintenance, no scheduler.
    OneShot,
}

impl Mode {
    /// Whether this process runs long enough to take part in maintenance and duties.
    pub fn is_long_running(self) -> bool {
        !matches!(self, Mode::OneShot)
    }
}

//! Progress of a long command: a bar on stderr when it is a terminal, plain lines every few
//! seconds otherwise (a log file or CI keeps a readable record, not carriage returns).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use qcat_api::jobs::{JobStarted, JobView};
use qcat_api::runtime::LiveEvent;
use qcat_api::{Api, ApiError, Delivery, ProgressReport, SessionSlot};

use crate::output::note;

/// Plain progress lines are at most this frequent.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Display {
    label: String,
    bar: Option<indicatif::ProgressBar>,
    last_line: Mutex<Option<Instant>>,
}

impl Display {
    pub fn new(label: &str) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:32}] {pos}/{len} {msg} ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_owned());
            bar
        });
        Self {
            label: label.to_owned(),
            bar,
            last_line: Mutex::new(None),
        }
    }

    pub fn show(&self, report: &ProgressReport) {
        self.draw(&Shown {
            done: report.done,
            total: report.total,
            unit: report.unit,
            phase: &report.phase,
            rate: report.rate,
            eta_secs: report.eta_secs,
        });
    }

    fn show_job(&self, job: &JobView) {
        self.draw(&Shown {
            done: job.done,
            total: job.total,
            unit: &job.unit,
            phase: &job.phase,
            rate: job.rate,
            eta_secs: job.eta_secs,
        });
    }

    fn draw(&self, report: &Shown<'_>) {
        if let Some(bar) = &self.bar {
            if let Some(total) = report.total {
                bar.set_length(total);
            }
            bar.set_position(report.done);
            bar.set_message(format!("{} {}", report.unit, report.phase));
            return;
        }
        let mut last = self
            .last_line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < LINE_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let share = report
            .total
            .filter(|total| *total > 0)
            .map(|total| format!(" ({:.0} %)", report.done as f64 * 100.0 / total as f64))
            .unwrap_or_default();
        let eta = report
            .eta_secs
            .map(|secs| format!(", about {secs:.0} s left"))
            .unwrap_or_default();
        note!(
            "{}: {}{} {} {}{share}, {:.0}/s{eta}",
            self.label,
            report.done,
            report
                .total
                .map(|total| format!("/{total}"))
                .unwrap_or_default(),
            report.unit,
            report.phase,
            report.rate
        );
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

struct Shown<'a> {
    done: u64,
    total: Option<u64>,
    unit: &'a str,
    phase: &'a str,
    rate: f64,
    eta_secs: Option<f64>,
}

/// Starts a job with `start`, shows its progress until it ends and returns how it ended.
/// Ctrl-C cancels the job (and waits for it to record that).
pub async fn run_job<Start>(
    api: &Api,
    slot: &SessionSlot,
    label: &str,
    start: Start,
) -> Result<JobView, ApiError>
where
    Start: std::future::Future<Output = Result<JobStarted, ApiError>>,
{
    // Subscribed before the job starts, so no report is missed.
    let mut events = api.events();
    let started = start.await?;
    let display = Display::new(label);
    let wait = api.job_wait(&started.id);
    tokio::pin!(wait);
    let mut cancelled = false;
    let ended = loop {
        tokio::select! {
            ended = &mut wait => break ended,
            delivery = events.next_batch(Duration::from_millis(50), 64) => {
                if let Some(Delivery::Events(batch)) = delivery {
                    for event in batch {
                        if let LiveEvent::JobProgress { job } = event
                            && job.id == started.id
                        {
                            display.show_job(&job);
                        }
                    }
                }
            }
            _ = tokio::signal::ctrl_c(), if !cancelled => {
                cancelled = true;
                note!("{label}: cancelling…");
                api.job_cancel(slot, qcat_api::jobs::JobIdInput { id: started.id.clone() }).await?;
            }
        }
    };
    display.finish();
    ended
}

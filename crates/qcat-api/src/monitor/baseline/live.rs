//! The `baselines` duty: whichever console or agent leads it keeps a detector per series
//! that `baseline.series` selects, learns and scores each series' new whole minutes as
//! they are stored (O(1) per minute: see [`qcat_monitor::baseline::model`]), and writes the
//! deviation events it raises or ends and each series' state (learning share, expected
//! value, score) to the store, fenced by its lease. A new leader (or a restart) warms each
//! detector up by replaying `baseline.weeks` of stored history — the profile only keeps
//! that much, so the warm detector is the one that ran before — and writes what happened
//! recently while nobody led: events raised in the last day, and the end of events that
//! ended meanwhile.

use std::collections::HashMap;
use std::time::Duration;

use qcat_monitor::baseline::detect::{Change, Detector, Evaluation};
use qcat_monitor::baseline::model::MINUTE_MS;
use qcat_monitor::baseline::store::{self as baseline_store, Fence, SeriesState, StoredDeviation};
use qcat_monitor::tsdb::{MetricStore, Selector, SeriesInfo};
use qcat_runtime::TaskContext;

use super::{DAY_MS, Masks};
use crate::Api;

/// The singleton duty the live baselines run under.
pub const BASELINE_DUTY: &str = "baselines";
/// How often the duty looks for whole minutes not yet scored.
const CYCLE: Duration = Duration::from_secs(10);
/// Series matching `baseline.series` are looked up again this often.
const DISCOVER_EVERY_MS: i64 = 20_000;
/// Events a warm-up replays that were raised at most this long ago are written (a restart
/// or failover must not lose them); older ones belong to history, not to now.
const RECENT_MS: i64 = DAY_MS;

struct Learned {
    info: SeriesInfo,
    detector: Detector,
    /// The first minute not yet read.
    next_ms: i64,
    last: Option<Evaluation>,
}

impl Api {
    /// The duty's loop: lead, then a cycle every [`CYCLE`] while leading.
    pub(crate) async fn run_baselines(&self, context: &TaskContext) -> Result<(), String> {
        let metrics = self.metrics().await.map_err(|err| err.message)?;
        let selectors: Vec<Selector> = self
            .inner
            .config
            .config
            .config
            .baseline
            .series
            .iter()
            .filter_map(|text| match Selector::parse(text) {
                Ok(selector) => Some(selector),
                Err(why) => {
                    tracing::warn!(selector = %text, %why, "baseline.series: a selector that does not parse is skipped");
                    None
                }
            })
            .collect();
        while let Some(term) = self.lead(BASELINE_DUTY, context).await {
            tracing::info!("learning the baselines of {} selectors", selectors.len());
            let fence = Fence {
                duty: BASELINE_DUTY,
                holder: self.runtime().member.clone(),
                token: term.token,
            };
            let mut learned: HashMap<String, Learned> = HashMap::new();
            let mut discovered_ms = i64::MIN;
            while self
                .current_term(BASELINE_DUTY)
                .is_some_and(|now| now.token == term.token)
            {
                match self
                    .baseline_cycle(
                        &metrics,
                        &selectors,
                        &fence,
                        &mut learned,
                        &mut discovered_ms,
                    )
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => break, // deposed: lead again from scratch
                    Err(err) => tracing::warn!(error = %err, "baseline cycle failed; retried"),
                }
                if !context.sleep(CYCLE).await {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// One cycle; `false` when the fence no longer holds.
    async fn baseline_cycle(
        &self,
        metrics: &MetricStore,
        selectors: &[Selector],
        fence: &Fence,
        learned: &mut HashMap<String, Learned>,
        discovered_ms: &mut i64,
    ) -> Result<bool, String> {
        let store = self.store().map_err(|err| err.message.clone())?.clone();
        let now = qcat_core::time::now_ms();
        // Minutes before `end` are whole and stored wherever the collector runs: the
        // collector's flush interval and a few seconds of slack after each minute ends.
        let slack = self
            .inner
            .config
            .config
            .config
            .monitoring
            .flush_interval
            .as_millis() as i64
            + 5_000;
        let end = (now - slack).div_euclid(MINUTE_MS) * MINUTE_MS;
        let settings = self.baseline_settings();
        let warm_up = settings.weeks as i64 * 7 * DAY_MS;

        let mut fresh: Vec<String> = Vec::new();
        if now.saturating_sub(*discovered_ms) >= DISCOVER_EVERY_MS {
            *discovered_ms = now;
            let mut seen: Vec<String> = Vec::new();
            for selector in selectors {
                let found = metrics.series(selector).await.map_err(|e| e.to_string())?;
                for info in found {
                    let key = info.key.canonical();
                    if !learned.contains_key(&key) {
                        learned.insert(
                            key.clone(),
                            Learned {
                                info,
                                detector: Detector::new(settings.clone()),
                                next_ms: end - warm_up,
                                last: None,
                            },
                        );
                        fresh.push(key.clone());
                    }
                    seen.push(key);
                }
            }
            learned.retain(|key, _| seen.contains(key));
            if !baseline_store::forget_series(&store, fence, &seen)
                .await
                .map_err(|e| e.to_string())?
            {
                return Ok(false);
            }
        }
        let oldest = learned.values().map(|l| l.next_ms).min().unwrap_or(end);
        let marks = baseline_store::marks(&store, oldest, end)
            .await
            .map_err(|e| e.to_string())?;
        let masks = Masks::new(&marks);

        let mut deviations: Vec<StoredDeviation> = Vec::new();
        let mut states: Vec<SeriesState> = Vec::new();
        for (key, series) in learned.iter_mut() {
            if series.next_ms >= end {
                continue;
            }
            let values = metrics
                .minute_means(&series.info, series.next_ms, end)
                .await
                .map_err(|e| e.to_string())?;
            let warming = fresh.contains(key);
            let mut changes = Vec::new();
            for (t, value) in values {
                let masked = masks.masked(&series.info, t);
                series.last = Some(series.detector.push(t, value, masked, &mut changes));
            }
            series.detector.model_mut().advance(end);
            series.next_ms = end;
            if warming {
                // Close what a previous leader left open and this replay saw end (or never
                // saw: its data is gone), and keep only the recent past.
                let ongoing = series.detector.ongoing().map(|d| d.start_ms);
                let stored_open = baseline_store::deviations(
                    &store,
                    end - warm_up,
                    end + DAY_MS,
                    Some(key),
                    1000,
                )
                .await
                .map_err(|e| e.to_string())?;
                for open in stored_open.iter().filter(|d| d.deviation.end_ms.is_none()) {
                    if Some(open.deviation.start_ms) == ongoing {
                        continue;
                    }
                    let ended = changes.iter().find_map(|change| match change {
                        Change::Ended(d) if d.start_ms == open.deviation.start_ms => Some(*d),
                        _ => None,
                    });
                    let mut closed = open.deviation;
                    closed.end_ms = Some(ended.and_then(|d| d.end_ms).unwrap_or(end));
                    deviations.push(StoredDeviation {
                        series: key.clone(),
                        deviation: closed,
                    });
                }
                changes.retain(|change| match change {
                    Change::Raised(d) | Change::Ended(d) => d.raised_ms >= now - RECENT_MS,
                });
            }
            for change in changes {
                let (Change::Raised(deviation) | Change::Ended(deviation)) = change;
                if let Change::Raised(d) = change {
                    tracing::info!(series = %key, start_ms = d.start_ms, score = d.peak_score, direction = d.direction.as_str(), "baseline deviation raised");
                }
                deviations.push(StoredDeviation {
                    series: key.clone(),
                    deviation,
                });
            }
            let expected = series.last.and_then(|e| e.expected);
            states.push(SeriesState {
                series: key.clone(),
                learning: series.detector.model().learning(),
                level: expected.map(|e| e.level.as_str().to_owned()),
                last_ms: series.last.map(|e| e.t_ms),
                value: series.last.map(|e| e.value),
                expected: expected.map(|e| e.median),
                scale: expected.map(|e| e.scale),
                score: series.last.and_then(|e| e.score()),
                updated_ms: now,
            });
        }
        if deviations.is_empty() && states.is_empty() {
            return Ok(true);
        }
        baseline_store::record_cycle(&store, fence, &deviations, &states)
            .await
            .map_err(|e| e.to_string())
    }
}

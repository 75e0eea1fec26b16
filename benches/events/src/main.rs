//! `cargo run --release -p bench-events [-- --changes N]`: see Cargo.toml. A driver makes
//! one role change every 10 ms through the API (each bumps the `access` counter by one, so
//! change i is visible as version v0 + i); the live events reach the sink the shell uses
//! (`Api::forward_events`), and a poller reads the access model once a second as a window
//! without events would. For each change: the time from its commit to the first event, and
//! to the first poll, that carries its version.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qcat_api::access::{NewUserInput, RoleChange, RoleInput};
use qcat_api::runtime::LiveEvent;
use qcat_api::{Api, ApiConfig, Mode, SessionSlot};
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;
use qcat_core::secret::Secret;
use qcat_secrets::keys::KeyOptions;

const PASSWORD: &str = "bench password 1";

fn secret(text: &str) -> qcat_api::secrets::SecretText {
    qcat_api::secrets::SecretText(Secret::new(text.to_owned()))
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let index = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[index.min(samples.len() - 1)]
}

async fn run(backend: &str, url: &str, changes: usize) {
    let dir = qcat_testkit::temp_data_dir();
    let key = dir.path().join("master.key");
    qcat_secrets::keys::init_key_file(&key).unwrap();
    let api = Api::open(ApiConfig {
        data_dir: DataDir::at(dir.path()),
        config: Config::load_from(&ConfigSources::environment_only([(
            "QCAT_DATABASE__URL".to_owned(),
            url.to_owned(),
        )]))
        .unwrap(),
        keys: KeyOptions {
            key_file: Some(key),
            ..KeyOptions::default()
        },
        mode: Mode::Console,
    })
    .await
    .unwrap();
    let slot = SessionSlot::new("bench");
    api.create_first_admin(
        &slot,
        NewUserInput {
            username: "root".into(),
            display_name: String::new(),
            password: secret(PASSWORD),
            roles: vec![],
        },
    )
    .await
    .unwrap();
    api.save_role(
        &slot,
        RoleInput {
            name: "desk".into(),
            description: String::new(),
            grants: vec![],
            parents: vec![],
            create: true,
            seen_version: None,
        },
    )
    .await
    .unwrap();
    // The sink the shell hands the live events to: (when, version) of each access event.
    let heard: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
    let sink = heard.clone();
    api.forward_events(move |_topic, events| {
        let now = Instant::now();
        let mut heard = sink.lock().unwrap();
        for event in events {
            if let LiveEvent::AccessChanged { version } = event {
                heard.push((now, version));
            }
        }
    });
    // The alternative: a window polling the access model every second.
    let polled: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
    let poller_slot = SessionSlot::new("bench-poller");
    api.login(
        &poller_slot,
        qcat_api::access::LoginInput {
            username: "root".into(),
            password: secret(PASSWORD),
        },
    )
    .await
    .unwrap();
    let poller = {
        let (api, polled) = (api.clone(), polled.clone());
        let slot = poller_slot;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticks.tick().await;
                if let Ok(model) = api.access_model(&slot).await {
                    polled.lock().unwrap().push((Instant::now(), model.version));
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let start_version = api.access_model(&slot).await.unwrap().version;
    let mut committed = Vec::with_capacity(changes);
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    for n in 0..changes {
        ticks.tick().await;
        let change = if n % 2 == 0 {
            RoleChange::Grant("backup:view".into())
        } else {
            RoleChange::Revoke("backup:view".into())
        };
        api.edit_role(&slot, "desk", change, None).await.unwrap();
        committed.push((Instant::now(), start_version + n as i64 + 1));
    }
    let rate = changes as f64 / started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    poller.abort();
    let latency = |seen: &[(Instant, i64)]| -> Vec<f64> {
        committed
            .iter()
            .filter_map(|(at, version)| {
                seen.iter()
                    .find(|(when, seen)| seen >= version && when >= at)
                    .map(|(when, _)| (*when - *at).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    {
        let (heard, polled) = (heard.lock().unwrap(), polled.lock().unwrap());
        if heard.is_empty() || polled.is_empty() {
            eprintln!(
                "{backend}: {} events and {} polls seen (versions {:?} .. {:?}; committed up to {:?})",
                heard.len(),
                polled.len(),
                heard.first(),
                heard.last().map(|(_, v)| v),
                committed.last().map(|(_, v)| v)
            );
        }
    }
    let mut events = latency(&heard.lock().unwrap());
    let mut polls = latency(&polled.lock().unwrap());
    let (e50, e99) = (percentile(&mut events, 50.0), percentile(&mut events, 99.0));
    let (p50, p99) = (percentile(&mut polls, 50.0), percentile(&mut polls, 99.0));
    println!(
        "{backend:<10} {changes} changes at {rate:.0}/s: live events p50 {e50:7.1} ms p99 {e99:7.1} ms ({} seen) | 1 s polling p50 {p50:7.1} ms p99 {p99:7.1} ms | {:.1}x / {:.1}x sooner",
        events.len(),
        p50 / e50,
        p99 / e99
    );
    api.close().await;
}

#[tokio::main]
async fn main() {
    let mut changes = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--changes" {
            changes = args.next().and_then(|n| n.parse().ok()).unwrap_or(changes);
        }
    }
    println!("event latency: commit of a role change → the window's event sink (core → shell)");
    run("sqlite", "", changes).await;
    run("postgresql", &qcat_testkit::test_database_url(), changes).await;
}

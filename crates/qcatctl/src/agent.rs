//! `qcatctl agent`: the headless process for servers. The same core as the console in
//! agent mode: it logs like the console (JSON lines, rotation), keeps a heartbeat, leads
//! singleton duties when it can, serves its metrics, and stops cleanly on SIGTERM or
//! SIGINT (exit 0 with everything queued written).

use std::process::ExitCode;

use qcat_api::{Api, ApiConfig, ApiError, ErrorCode, Mode};

use crate::output::{CliError, note};

pub async fn run() -> Result<ExitCode, CliError> {
    let config = ApiConfig::from_environment(Mode::Agent)?;
    // Kept for the life of the process: the rotating log file's writer.
    let _log_file = qcat_api::logs::init_logging(&config)?;
    let metrics_enabled = config.config.config.monitoring.prometheus_enabled;
    let api = Api::open(config).await?;
    let storage = api.storage_status().await;
    if let Some(error) = storage.error {
        // Without its store an agent can do nothing; the service manager restarts it.
        tracing::error!(error = %error.message, "agent stopped: no store");
        api.close().await;
        return Err(error.into());
    }
    let served = if metrics_enabled {
        match api.serve_metrics().await {
            Ok(address) => Some(address),
            Err(err) => {
                api.close().await;
                return Err(err.into());
            }
        }
    } else {
        None
    };
    let status = api.runtime_status_unguarded().await;
    tracing::info!(member = %status.member, metrics = ?served, "agent started");
    note!(
        "qcatctl agent: running as member {} on {} ({}){}",
        status.member,
        storage.location,
        serde_json::to_value(storage.backend)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default(),
        served
            .map(|address| format!("; metrics on http://{address}{}", api.metrics_path()))
            .unwrap_or_default()
    );
    let signal = stop_signal().await?;
    tracing::info!(signal, "agent stopping");
    note!("qcatctl agent: {signal}: stopping");
    api.close().await;
    tracing::info!("agent stopped");
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGTERM (service managers) or SIGINT (Ctrl-C); returns its name.
async fn stop_signal() -> Result<&'static str, CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let fail = |err: std::io::Error| {
            ApiError::new(
                ErrorCode::Internal,
                format!("cannot listen for stop signals: {err}"),
            )
        };
        let mut terminate = signal(SignalKind::terminate()).map_err(fail)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(fail)?;
        Ok(tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        })
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(|err| {
            ApiError::new(
                ErrorCode::Internal,
                format!("cannot listen for Ctrl-C: {err}"),
            )
        })?;
        Ok("Ctrl-C")
    }
}

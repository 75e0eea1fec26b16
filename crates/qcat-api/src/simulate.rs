//! `qcatctl simulate`: serves the simulated trading application ([`qcat_monitor::simulate`])
//! over HTTP — `GET /metrics`, and `POST /incident?kind=latency|errors|outage&for=2m` to
//! start an incident — until `shutdown` completes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcat_core::ErrorCode;
use qcat_monitor::simulate::{IncidentKind, Simulator};

use crate::ApiError;

pub struct SimulatorOptions {
    pub listen: SocketAddr,
    pub seed: u64,
    /// Simulated time runs this many times faster than real time.
    pub time_scale: f64,
    /// Requests per second at the busiest time of the simulated day.
    pub peak_rate: f64,
}

/// Binds, then serves until `shutdown` resolves. Returns the bound address through
/// `bound` as soon as it listens (port 0 picks a free one).
pub async fn run_simulator(
    options: SimulatorOptions,
    bound: tokio::sync::oneshot::Sender<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|err| {
            ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "cannot listen on {}: {err}; choose another --listen address",
                    options.listen
                ),
            )
        })?;
    let address = listener
        .local_addr()
        .map_err(|err| ApiError::internal_in("simulate", &err))?;
    let mut simulator = Simulator::new(options.seed, options.time_scale, qcat_core::time::now_ms());
    simulator.peak_rate = options.peak_rate;
    let simulator = Arc::new(Mutex::new(simulator));
    let metrics = {
        let simulator = simulator.clone();
        move || {
            let simulator = simulator.clone();
            async move {
                let text = simulator
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .render(qcat_core::time::now_ms());
                match text {
                    Some(text) => (
                        axum::http::StatusCode::OK,
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    ),
                    None => (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; charset=utf-8",
                        )],
                        "outage (simulated)\n".to_owned(),
                    ),
                }
            }
        }
    };
    let incident = move |query: axum::extract::RawQuery| {
        let simulator = simulator.clone();
        async move {
            let query = query.0.unwrap_or_default();
            let mut kind = None;
            let mut duration = Duration::from_secs(120);
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("kind", value)) => kind = IncidentKind::parse(value),
                    Some(("for", value)) => match humantime::parse_duration(value) {
                        Ok(parsed) => duration = parsed,
                        Err(_) => {
                            return (
                                axum::http::StatusCode::BAD_REQUEST,
                                format!("for={value}: use a duration such as 90s or 5m\n"),
                            );
                        }
                    },
                    _ => {}
                }
            }
            let Some(kind) = kind else {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    "kind: use latency, errors or outage\n".to_owned(),
                );
            };
            simulator
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .inject(kind, qcat_core::time::now_ms(), duration.as_millis() as i64);
            tracing::info!(
                kind = kind.as_str(),
                seconds = duration.as_secs(),
                "simulated incident started"
            );
            (
                axum::http::StatusCode::OK,
                format!(
                    "{} for {}\n",
                    kind.as_str(),
                    humantime::format_duration(duration)
                ),
            )
        }
    };
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/incident", axum::routing::post(incident))
        .route(
            "/",
            axum::routing::get(|| async {
                "QCAT trading application (simulated): GET /metrics; POST /incident?kind=latency|errors|outage&for=2m\n"
            }),
        );
    let _ = bound.send(address);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|err| ApiError::internal_in("simulate", &err))
}

/// Starts an incident in a running simulator at `url` (`qcatctl simulate incident`).
pub async fn start_incident(url: &str, kind: &str, length: &str) -> Result<String, ApiError> {
    if IncidentKind::parse(kind).is_none() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("{kind:?}: the incident is latency, errors or outage"),
        ));
    }
    let client = qcat_monitor::collect::http_client(Duration::from_secs(5))
        .map_err(|err| ApiError::new(ErrorCode::InvalidInput, err.message))?;
    let endpoint = format!(
        "{}/incident?kind={kind}&for={length}",
        url.trim_end_matches('/')
    );
    let response = client.post(&endpoint).send().await.map_err(|err| {
        ApiError::new(
            ErrorCode::StorageUnavailable,
            qcat_monitor::collect::describe_http(url, &err).message,
        )
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("the simulator answered {status}: {}", text.trim()),
        ));
    }
    Ok(text.trim().to_owned())
}

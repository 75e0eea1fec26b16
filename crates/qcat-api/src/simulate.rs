//! `qcatctl simulate`: serves the simulated trading application ([`qcat_monitor::simulate`])
//! over HTTP — `GET /metrics`, and `POST /incident?kind=latency|errors|outage&for=2m` to
//! start an incident, `POST /release?latency_factor=1.2` to make every request slower from
//! now on (a regressed release) — until `shutdown` completes.

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
    /// Every latency × this (1.0 as released).
    pub latency_factor: f64,
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
    simulator
        .set_release(None, options.latency_factor)
        .map_err(|why| {
            ApiError::new(ErrorCode::InvalidInput, format!("--latency-factor: {why}"))
        })?;
    let simulator = Arc::new(Mutex::new(simulator));
    let release = {
        let simulator = simulator.clone();
        move |query: axum::extract::RawQuery| {
            let simulator = simulator.clone();
            async move {
                let query = query.0.unwrap_or_default();
                let value = |name: &str| {
                    query.split('&').find_map(|pair| {
                        pair.strip_prefix(name)
                            .and_then(|rest| rest.strip_prefix('='))
                            .map(|v| v.replace("%2F", "/").replace("%2f", "/"))
                    })
                };
                let Some(factor) = value("latency_factor").and_then(|v| v.parse::<f64>().ok())
                else {
                    return (
                        axum::http::StatusCode::BAD_REQUEST,
                        "latency_factor: a number from 0.1 to 100 (1.2: every request 20 % slower)\n"
                            .to_owned(),
                    );
                };
                let endpoint = value("endpoint");
                let changed = simulator
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .set_release(endpoint.as_deref(), factor);
                if let Err(why) = changed {
                    return (axum::http::StatusCode::BAD_REQUEST, format!("{why}\n"));
                }
                let scope = endpoint.unwrap_or_else(|| "every endpoint".to_owned());
                tracing::info!(factor, %scope, "simulated release: latency factor changed");
                (
                    axum::http::StatusCode::OK,
                    format!("latency ×{factor} on {scope} from now on\n"),
                )
            }
        }
    };
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
        .route("/release", axum::routing::post(release))
        .route(
            "/",
            axum::routing::get(|| async {
                "QCAT trading application (simulated): GET /metrics; POST /incident?kind=latency|errors|outage&for=2m; POST /release?latency_factor=1.2\n"
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
    post_to_simulator(url, &format!("incident?kind={kind}&for={length}")).await
}

/// Changes a running simulator's latency factor, of one endpoint or all
/// (`qcatctl simulate release`).
pub async fn set_release(
    url: &str,
    latency_factor: f64,
    endpoint: Option<&str>,
) -> Result<String, ApiError> {
    let endpoint = endpoint
        .map(|path| format!("&endpoint={}", path.replace('/', "%2F")))
        .unwrap_or_default();
    post_to_simulator(
        url,
        &format!("release?latency_factor={latency_factor}{endpoint}"),
    )
    .await
}

async fn post_to_simulator(url: &str, path_and_query: &str) -> Result<String, ApiError> {
    let client = qcat_monitor::collect::http_client(Duration::from_secs(5))
        .map_err(|err| ApiError::new(ErrorCode::InvalidInput, err.message))?;
    let endpoint = format!("{}/{path_and_query}", url.trim_end_matches('/'));
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

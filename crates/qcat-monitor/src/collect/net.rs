//! The network steps every remote target shares: resolve the host, open a TCP connection.
//! Done first by a connection test so "the name does not resolve", "nothing listens" and
//! "no answer" are told apart before any protocol is spoken.

use std::time::{Duration, Instant};

use super::{CheckStep, CollectError, FailureKind};
use crate::targets::{Target, TargetKind};

/// `host:port` of a remote target (none for the local host).
pub fn address_of(target: &Target) -> Option<(String, u16)> {
    if target.kind == TargetKind::Host {
        return None;
    }
    let url = url::Url::parse(&target.url).ok()?;
    let default_port = match url.scheme() {
        "postgres" | "postgresql" => 5432,
        "redis" | "rediss" => 6379,
        "https" => 443,
        _ => 80,
    };
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    Some((host.to_owned(), url.port().unwrap_or(default_port)))
}

pub async fn probe(
    (host, port): &(String, u16),
    timeout: Duration,
    steps: &mut Vec<CheckStep>,
) -> Result<(), CollectError> {
    let started = Instant::now();
    let resolved =
        tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), *port))).await;
    let addresses: Vec<std::net::SocketAddr> = match resolved {
        Ok(Ok(found)) => found.collect(),
        Ok(Err(err)) => {
            let error = resolve_error(host, &err.to_string());
            steps.push(step("resolve", false, started, &error.message));
            return Err(error);
        }
        Err(_) => {
            let error = CollectError::new(
                FailureKind::Dns,
                format!(
                    "resolving {host} took longer than {}",
                    crate::targets::humanize(timeout)
                ),
            );
            steps.push(step("resolve", false, started, &error.message));
            return Err(error);
        }
    };
    let Some(address) = addresses.first().copied() else {
        let error = resolve_error(host, "no addresses");
        steps.push(step("resolve", false, started, &error.message));
        return Err(error);
    };
    steps.push(step(
        "resolve",
        true,
        started,
        &format!("{host} is {}", address.ip()),
    ));
    let started = Instant::now();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => {
            steps.push(step(
                "connect",
                true,
                started,
                &format!("{address} accepts connections"),
            ));
            Ok(())
        }
        Ok(Err(err)) => {
            let error = connect_error(&address.to_string(), &err);
            steps.push(step("connect", false, started, &error.message));
            Err(error)
        }
        Err(_) => {
            let error = CollectError::new(
                FailureKind::Timeout,
                format!(
                    "{address} did not accept a connection within {} (a firewall dropping \
                     packets, or the host is down)",
                    crate::targets::humanize(timeout)
                ),
            );
            steps.push(step("connect", false, started, &error.message));
            Err(error)
        }
    }
}

pub fn resolve_error(host: &str, detail: &str) -> CollectError {
    CollectError::new(
        FailureKind::Dns,
        format!("the host name {host} does not resolve ({detail}): check the URL's host"),
    )
}

pub fn connect_error(address: &str, err: &std::io::Error) -> CollectError {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => CollectError::new(
            FailureKind::Refused,
            format!(
                "connection refused at {address}: nothing listens there (is the server running, on this port?)"
            ),
        ),
        std::io::ErrorKind::TimedOut => CollectError::new(
            FailureKind::Timeout,
            format!("{address} did not accept a connection in time"),
        ),
        _ => CollectError::new(
            FailureKind::Refused,
            format!("cannot connect to {address}: {err}"),
        ),
    }
}

fn step(name: &str, ok: bool, started: Instant, detail: &str) -> CheckStep {
    CheckStep {
        step: name.into(),
        ok,
        millis: started.elapsed().as_millis() as u64,
        detail: detail.into(),
    }
}

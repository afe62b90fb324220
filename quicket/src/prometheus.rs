//! quicket's metrics in Prometheus's text format, on the HTTP port [`serve`](crate::serve)
//! binds (feature `prometheus`): a route of its own router, not an HTTP server of its own.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use quicket_ws::axum::Router;
use quicket_ws::axum::http::header;
use quicket_ws::axum::response::IntoResponse;
use quicket_ws::axum::routing::get;
use thiserror::Error;

/// Histogram buckets for durations: 1 ms to 10 s.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram buckets for a broadcast's recipients.
const RECIPIENTS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0,
];

/// How often histogram samples are folded into their buckets between scrapes, which bounds
/// what they hold under load.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder this crate installed, shared by every `serve` of the process: the global
/// recorder can be set only once.
static INSTALLED: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Why the metrics endpoint could not be served.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The process already has a `metrics` recorder that this crate did not install: quicket
    /// records into it, and it must be exported by whoever installed it.
    #[error("another metrics recorder is already installed in this process")]
    RecorderInstalled,
    /// The Prometheus recorder refused its configuration.
    #[error("the Prometheus recorder could not be built: {0}")]
    Build(String),
}

/// `routes` with quicket's metrics at `GET path`.
pub(crate) fn mount(routes: Router, path: &str) -> Result<Router, MetricsError> {
    let handle = Arc::new(installed()?);
    upkeep(Arc::downgrade(&handle));
    let render = move || {
        let handle = Arc::clone(&handle);
        async move {
            let content_type = "text/plain; version=0.0.4; charset=utf-8";
            ([(header::CONTENT_TYPE, content_type)], handle.render()).into_response()
        }
    };
    Ok(routes.route(path, get(render)))
}

/// The recorder this crate installed, installing it first if no one has.
fn installed() -> Result<PrometheusHandle, MetricsError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = &*installed {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .and_then(|builder| {
            let recipients = Matcher::Full("quicket_broadcast_recipients".into());
            builder.set_buckets_for_metric(recipients, RECIPIENTS)
        })
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|err| match err {
            BuildError::FailedToSetGlobalRecorder(_) => MetricsError::RecorderInstalled,
            other => MetricsError::Build(other.to_string()),
        })?;
    quicket_core::describe_metrics();
    #[cfg(feature = "redis")]
    quicket_redis::describe_metrics();
    *installed = Some(handle.clone());
    Ok(handle)
}

/// Folds histogram samples into buckets until the router that serves `handle` is gone.
fn upkeep(handle: Weak<PrometheusHandle>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_EVERY);
        loop {
            ticks.tick().await;
            let Some(handle) = handle.upgrade() else {
                return;
            };
            handle.run_upkeep();
        }
    });
}

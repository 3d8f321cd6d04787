//! Operations endpoints: `/readyz` (readiness, false from the start of the drain) next to
//! `/healthz` (liveness, in `web`), `/api/stats` (what the server holds, as JSON) and
//! `/metrics` (Prometheus text).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use switchboard::SocketIo;

/// What the operations endpoints read; shared by the routes and the shutdown.
#[derive(Clone)]
pub(crate) struct Ops(Arc<OpsInner>);

struct OpsInner {
    io: SocketIo,
    /// Renders the metrics recorded since the start (the process-wide recorder's handle).
    prometheus: PrometheusHandle,
    /// When the server started, for the uptime.
    started: Instant,
    /// Set once, when the shutdown begins: a load balancer stops sending new clients.
    draining: AtomicBool,
    /// The link to Redis, in cluster mode: recorded at each scrape.
    redis: Option<crate::cluster::LinkStatusFn>,
}

impl Ops {
    pub(crate) fn new(
        io: SocketIo,
        prometheus: PrometheusHandle,
        redis: Option<crate::cluster::LinkStatusFn>,
    ) -> Self {
        if let Some(status) = &redis {
            let _ = REDIS_LINK.set(status.clone());
        }
        Ops(Arc::new(OpsInner {
            io,
            prometheus,
            started: Instant::now(),
            draining: AtomicBool::new(false),
            redis,
        }))
    }

    /// The drain begins: `/readyz` answers 503 from now on.
    pub(crate) fn start_drain(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    fn ready(&self) -> bool {
        !self.0.draining.load(Ordering::SeqCst) && !self.0.io.is_closing()
    }

    /// `/readyz` and `/api/stats`.
    pub(crate) fn routes<S>(&self) -> Router<S> {
        Router::new()
            .route("/readyz", get(readyz))
            .route("/api/stats", get(stats))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }
}

/// 200 `ready` while new clients are welcome, 503 `draining` once the shutdown began.
async fn readyz(State(ops): State<Ops>) -> (StatusCode, &'static str) {
    if ops.ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    }
}

/// `{ version, uptimeSeconds, ready, clients, sockets, rooms, namespaces: [{ name, sockets,
/// rooms }] }`; 500 `{ ok: false, error }` if an adapter cannot list its rooms.
async fn stats(State(ops): State<Ops>) -> Response {
    match ops.0.io.stats().await {
        Ok(stats) => axum::Json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": ops.0.started.elapsed().as_secs(),
            "ready": ops.ready(),
            "clients": stats.clients,
            "sockets": stats.sockets(),
            "rooms": stats.rooms(),
            "namespaces": stats.namespaces,
        }))
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "stats unavailable");
            let body = json!({ "ok": false, "error": { "code": "internal", "message": error.to_string() } });
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
    }
}

/// The buckets of the latency histograms (`*_seconds`), 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often the recorder folds histogram samples in (the exporter's own default).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide Prometheus recorder, before the server records anything: the
/// library registers its per-packet counters with the recorder present at its first packet.
pub(crate) fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)?
        .install_recorder()?;
    let _ = RECORDER.set(handle.clone());
    switchboard::metrics::describe();
    switchboard_redis::metrics::describe();
    metrics::describe_histogram!(
        "switchboard_store_seconds",
        metrics::Unit::Seconds,
        "Store requests, from the call to the committed answer, by outcome."
    );
    // The recorder keeps histogram samples until an upkeep folds them in: without one they
    // would grow for as long as nobody scrapes. The task runs for the process's life.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP_EVERY).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The process-wide recorder's handle (set once by [`install_metrics`]), read by the
/// dashboard's samples.
static RECORDER: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();

/// The link to Redis (cluster mode; set once by [`Ops::new`]), read by the dashboard.
static REDIS_LINK: std::sync::OnceLock<crate::cluster::LinkStatusFn> = std::sync::OnceLock::new();

/// The metrics recorded so far as Prometheus text, if the recorder is installed.
pub(crate) fn render_metrics() -> Option<String> {
    RECORDER.get().map(PrometheusHandle::render)
}

/// The link to Redis now, in cluster mode.
pub(crate) fn redis_link() -> Option<switchboard_redis::LinkStatus> {
    REDIS_LINK.get().map(|status| status())
}

/// The metrics as Prometheus text (version 0.0.4), with the namespace, socket and room gauges
/// and, in cluster mode, the link to Redis brought up to date first.
async fn metrics(State(ops): State<Ops>) -> Response {
    match ops.0.io.stats().await {
        Ok(stats) => switchboard::metrics::record_stats(&stats),
        Err(error) => tracing::warn!(%error, "stats unavailable for the metrics"),
    }
    if let Some(status) = &ops.0.redis {
        switchboard_redis::metrics::record_link(&status());
    }
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(axum::http::header::CONTENT_TYPE, content_type)], ops.0.prometheus.render()).into_response()
}

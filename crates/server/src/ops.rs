//! Operations endpoints: `/readyz` (readiness, false from the start of the drain) next to
//! `/healthz` (liveness, in `web`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use switchboard::SocketIo;

/// What the operations endpoints read; shared by the routes and the shutdown.
#[derive(Clone)]
pub(crate) struct Ops(Arc<OpsInner>);

struct OpsInner {
    io: SocketIo,
    /// Set once, when the shutdown begins: a load balancer stops sending new clients.
    draining: AtomicBool,
}

impl Ops {
    pub(crate) fn new(io: SocketIo) -> Self {
        Ops(Arc::new(OpsInner { io, draining: AtomicBool::new(false) }))
    }

    /// The drain begins: `/readyz` answers 503 from now on.
    pub(crate) fn start_drain(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    fn ready(&self) -> bool {
        !self.0.draining.load(Ordering::SeqCst) && !self.0.io.is_closing()
    }

    /// `/readyz`.
    pub(crate) fn routes<S>(&self) -> Router<S> {
        Router::new().route("/readyz", get(readyz)).with_state(self.clone())
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

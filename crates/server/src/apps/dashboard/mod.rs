//! The live dashboard: namespace `/dashboard`. A client `dashboard:subscribe`s and gets a
//! `dashboard:sample` once a second: connections per namespace and transport, messages in
//! and out (totals and per second), rooms, the process's memory and CPU, the store and the
//! adapter. The sampling task runs only while somebody is subscribed: the first subscriber
//! starts it, the last one to leave (or disconnect) stops it.
//!
//! The numbers come from what the server already keeps: [`switchboard::SocketIo::stats`]
//! (namespaces, sockets, rooms), the library's metrics as the process-wide recorder holds
//! them (packets and bytes in and out, connections by transport), `/proc/self` (memory, CPU)
//! and a round trip to the store.

mod sample;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::{Data, HandlerError, Socket};

use crate::apps::{App, AppContext, Asset, Outcome, Shared, fields, page_routes};

/// The dashboard app (see the module).
pub(crate) struct DashboardApp;

const NAMESPACE: &str = "/dashboard";
/// The room of the subscribers.
const ROOM: &str = "subscribers";
/// How often a sample is pushed.
const INTERVAL: Duration = Duration::from_secs(1);

const PAGE: &str = include_str!("page/index.html");
const ASSETS: &[Asset] = &[
    Asset { file: "dashboard.js", body: include_str!("page/dashboard.js") },
    Asset { file: "dashboard.css", body: include_str!("page/dashboard.css") },
];

/// Event names of `/dashboard`.
pub(crate) mod events {
    /// Client → server: `{}`, acked `{ ok, intervalMs, sample }`; samples follow.
    pub(crate) const SUBSCRIBE: &str = "dashboard:subscribe";
    /// Client → server: `{}`, acked `{ ok, ticks }`; no more samples.
    pub(crate) const UNSUBSCRIBE: &str = "dashboard:unsubscribe";
    /// Server → subscribers, once a second: a sample (see [`super::sample::Sample`]).
    pub(crate) const SAMPLE: &str = "dashboard:sample";
}

impl App for DashboardApp {
    fn name(&self) -> &'static str {
        "dashboard"
    }

    fn title(&self) -> &'static str {
        "Dashboard"
    }

    fn summary(&self) -> &'static str {
        "The server's own numbers, live: connections, messages per second, rooms, memory, CPU."
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        cx.provide(Sampler::default());
        let ns = cx.of(NAMESPACE);
        crate::apps::authenticate(&ns);
        ns.on_connection(|socket: Socket| async move {
            socket.on(events::SUBSCRIBE, subscribe)?;
            socket.on(events::UNSUBSCRIBE, unsubscribe)?;
            socket.on_disconnect(|socket: Socket, Shared(sampler): Shared<Sampler>| async move {
                sampler.remove(socket.id().as_str());
            });
            Ok::<_, HandlerError>(())
        });
        Ok(())
    }

    fn routes(&self, _cx: &AppContext) -> axum::Router {
        page_routes(self.name(), PAGE, ASSETS)
    }
}

/// The subscribers and the sampling task.
#[derive(Clone, Default)]
pub(crate) struct Sampler(Arc<SamplerInner>);

#[derive(Default)]
struct SamplerInner {
    // The subscribed socket ids and the running task, changed together: the task exists
    // exactly while the set is not empty. Held briefly, never across an await.
    state: Mutex<SamplerState>,
    /// Samples taken since the start (a subscriber sees that none were taken unwatched).
    ticks: AtomicU64,
}

#[derive(Default)]
struct SamplerState {
    subscribers: HashSet<String>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sampler {
    fn lock(&self) -> std::sync::MutexGuard<'_, SamplerState> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ticks(&self) -> u64 {
        self.0.ticks.load(Ordering::Relaxed)
    }

    /// Adds a subscriber; starts the task for the first one.
    fn add(&self, sid: &str, cx: &AppContext) {
        let mut state = self.lock();
        state.subscribers.insert(sid.to_owned());
        if state.task.is_none() {
            tracing::debug!("dashboard sampling starts");
            // The sampling task: owned by this sampler, aborted when the last subscriber
            // leaves; it also ends at shutdown.
            state.task = Some(tokio::spawn(run(self.clone(), cx.clone())));
        }
    }

    /// Removes a subscriber; stops the task after the last one.
    fn remove(&self, sid: &str) {
        let mut state = self.lock();
        state.subscribers.remove(sid);
        if !state.subscribers.is_empty() {
            return;
        }
        if let Some(task) = state.task.take() {
            tracing::debug!("dashboard sampling stops");
            task.abort();
        }
    }
}

/// Takes and pushes a sample every [`INTERVAL`] until aborted or the shutdown.
async fn run(sampler: Sampler, cx: AppContext) {
    let mut previous = sample::Reading::take(&cx).await;
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = cx.shutdown.fired() => return,
        }
        let reading = sample::Reading::take(&cx).await;
        let ticks = sampler.0.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let sample = reading.sample(Some(&previous), ticks);
        if let Err(error) = cx.of(NAMESPACE).to(ROOM).emit(events::SAMPLE, &sample).await {
            tracing::debug!(%error, "dashboard sample not sent");
        }
        previous = reading;
    }
}

/// `dashboard:subscribe`.
async fn subscribe(
    socket: Socket,
    cx: AppContext,
    Shared(sampler): Shared<Sampler>,
    Data(_): Data<Value>,
) -> Outcome {
    socket.join(ROOM);
    // The current numbers at once (without rates), so the page has something to draw.
    let reading = sample::Reading::take(&cx).await;
    let ticks = sampler.ticks();
    sampler.add(socket.id().as_str(), &cx);
    let interval_ms = u64::try_from(INTERVAL.as_millis()).unwrap_or(u64::MAX);
    Ok(fields(json!({ "intervalMs": interval_ms, "sample": reading.sample(None, ticks) })))
}

/// `dashboard:unsubscribe`.
async fn unsubscribe(socket: Socket, Shared(sampler): Shared<Sampler>) -> Outcome {
    socket.leave(ROOM);
    sampler.remove(socket.id().as_str());
    Ok(fields(json!({ "ticks": sampler.ticks() })))
}

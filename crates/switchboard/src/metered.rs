//! The adapter metrics (feature `metrics`): every namespace's adapter is wrapped in
//! [`Metered`], which counts each cluster-wide request and its errors, and times the requests
//! that are not per-emit.

use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use metrics::{Counter, counter, histogram};
use switchboard_adapter::{
    AckSender, Adapter, AdapterError, AdapterFactory, BoxFuture, BroadcastOptions, LocalNamespace,
    MissedPackets, Offset, Room, ServerAckSender, Session, SocketId, SocketInfo,
};
use switchboard_proto::socket::{EventName, Packet, Payload};

/// Wraps the adapters a factory makes in [`Metered`].
pub(crate) struct MeteredFactory(pub(crate) Arc<dyn AdapterFactory>);

impl AdapterFactory for MeteredFactory {
    fn create(&self, namespace: Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> {
        Arc::new(Metered(self.0.create(namespace)))
    }
}

/// An adapter that records `switchboard_adapter_requests_total{op}`,
/// `switchboard_adapter_errors_total{op}` and (except for `broadcast`, which runs on every
/// emit) `switchboard_adapter_seconds{op}` around the one it wraps.
pub(crate) struct Metered(Arc<dyn Adapter>);

/// The counters of `broadcast`, registered once: it runs on every emit.
fn broadcast_counters() -> &'static (Counter, Counter) {
    // Written once, read on every broadcast.
    static COUNTERS: OnceLock<(Counter, Counter)> = OnceLock::new();
    COUNTERS.get_or_init(|| {
        (
            counter!("switchboard_adapter_requests_total", "op" => "broadcast"),
            counter!("switchboard_adapter_errors_total", "op" => "broadcast"),
        )
    })
}

/// Counts, times and checks one request.
fn timed<'a, T: Send + 'a>(
    op: &'static str,
    fut: BoxFuture<'a, Result<T, AdapterError>>,
) -> BoxFuture<'a, Result<T, AdapterError>> {
    counter!("switchboard_adapter_requests_total", "op" => op).increment(1);
    let started = Instant::now();
    Box::pin(async move {
        let result = fut.await;
        histogram!("switchboard_adapter_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            counter!("switchboard_adapter_errors_total", "op" => op).increment(1);
        }
        result
    })
}

impl Adapter for Metered {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
        self.0.add_all(socket, rooms);
    }

    fn del(&self, socket: &SocketId, room: &Room) {
        self.0.del(socket, room);
    }

    fn del_all(&self, socket: &SocketId) {
        self.0.del_all(socket);
    }

    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>> {
        self.0.socket_rooms(socket)
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.0.local_sockets(opts)
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        timed("rooms", self.0.rooms())
    }

    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let (requests, errors) = broadcast_counters();
        requests.increment(1);
        let fut = self.0.broadcast(packet, opts);
        Box::pin(checked(fut, errors))
    }

    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        responses: AckSender,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        timed("broadcast_with_ack", self.0.broadcast_with_ack(packet, opts, responses))
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
        timed("fetch_sockets", self.0.fetch_sockets(opts))
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        timed("add_sockets", self.0.add_sockets(opts, rooms))
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        timed("del_sockets", self.0.del_sockets(opts, rooms))
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        timed("disconnect_sockets", self.0.disconnect_sockets(opts, close))
    }

    fn server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        timed("server_side_emit", self.0.server_side_emit(event, payload, ack))
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        timed("server_count", self.0.server_count())
    }

    fn supports_recovery(&self) -> bool {
        self.0.supports_recovery()
    }

    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        timed("persist_session", self.0.persist_session(session))
    }

    fn take_session(&self, pid: &str) -> BoxFuture<'_, Result<Option<Session>, AdapterError>> {
        timed("take_session", self.0.take_session(pid))
    }

    fn missed_packets(
        &self,
        after: &Offset,
        rooms: &[Room],
    ) -> BoxFuture<'_, Result<Option<MissedPackets>, AdapterError>> {
        timed("missed_packets", self.0.missed_packets(after, rooms))
    }

    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        timed("close", self.0.close())
    }
}

/// `fut`, counting its error.
async fn checked<F>(fut: F, errors: &'static Counter) -> Result<(), AdapterError>
where
    F: Future<Output = Result<(), AdapterError>>,
{
    let result = fut.await;
    if result.is_err() {
        errors.increment(1);
    }
    result
}

//! The UI's commands: `join`, `leave`, `_disconnect`, `emit` (no acknowledgements). A
//! command for a namespace that does not exist, or with arguments of the wrong types, is
//! ignored.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::monitor::Monitor;
use crate::{Namespace, Payload, Socket, SocketIo};

/// Registers the command handlers on an admin socket.
pub(super) fn register(io: &SocketIo, socket: &Socket, monitor: &Arc<Monitor>) {
    let (io2, m) = (io.clone(), monitor.clone());
    let _ = socket.on("join", move |args: Payload| {
        let (io, m) = (io2.clone(), m.clone());
        async move { join_or_leave(&io, &m, true, args.args()).await }
    });
    let (io2, m) = (io.clone(), monitor.clone());
    let _ = socket.on("leave", move |args: Payload| {
        let (io, m) = (io2.clone(), m.clone());
        async move { join_or_leave(&io, &m, false, args.args()).await }
    });
    let io2 = io.clone();
    let _ = socket.on("_disconnect", move |args: Payload| {
        let io = io2.clone();
        async move { disconnect(&io, args.args()).await }
    });
    let io2 = io.clone();
    let _ = socket.on("emit", move |args: Payload| {
        let io = io2.clone();
        async move { emit(&io, args).await }
    });
}

/// The namespace named by the first argument, if it exists.
fn namespace(io: &SocketIo, args: &[Value]) -> Option<Namespace> {
    let name = args.first()?.as_str()?;
    io.existing(name)
}

/// A room filter: a non-empty string (anything else selects the whole namespace).
fn filter(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `join`/`leave(nsp, room, filter?)`. In a cluster, the other servers apply the change
/// inside their adapter, unseen by their admin: the next stats tick resyncs `all_sockets`.
async fn join_or_leave(io: &SocketIo, monitor: &Monitor, join: bool, args: &[Value]) {
    let (Some(ns), Some(room)) = (namespace(io, args), args.get(1).and_then(Value::as_str)) else {
        return;
    };
    let room = room.to_owned();
    let result = match (filter(args.get(2)), join) {
        (Some(f), true) => ns.in_(f).sockets_join(room).await,
        (Some(f), false) => ns.in_(f).sockets_leave(room).await,
        (None, true) => ns.sockets_join(room).await,
        (None, false) => ns.sockets_leave(room).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "admin join/leave failed");
    }
    if ns.adapter().server_count().await.unwrap_or(1) > 1 {
        monitor.dirty.store(true, Ordering::Relaxed);
    }
}

async fn disconnect(io: &SocketIo, args: &[Value]) {
    let Some(ns) = namespace(io, args) else { return };
    let close = args.get(1).and_then(Value::as_bool).unwrap_or(false);
    let result = match filter(args.get(2)) {
        Some(f) => ns.in_(f).disconnect_sockets(close).await,
        None => ns.disconnect_sockets(close).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "admin disconnect failed");
    }
}

/// `emit(nsp, filter, event, ...args)`.
async fn emit(io: &SocketIo, payload: Payload) {
    let (args, attachments) = payload.into_parts();
    let Some(ns) = namespace(io, &args) else { return };
    let Some(event) = args.get(2).and_then(Value::as_str).map(str::to_owned) else { return };
    let room = filter(args.get(1));
    let rest = Payload::from_parts(args.into_iter().skip(3).collect(), attachments);
    let result = match room {
        Some(room) => ns.to(room).emit_payload(&event, rest).await,
        None => ns.emit_payload(&event, rest).await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %event, "admin emit refused");
    }
}

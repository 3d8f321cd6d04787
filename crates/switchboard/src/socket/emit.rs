//! Emitting to one socket, and the broadcast operators that start from it.

use std::time::Duration;

use serde::Serialize;
use switchboard_adapter::{BroadcastOptions, Room};
use switchboard_proto::socket::Payload;

use super::{AckFuture, Socket};
use crate::emitter::SocketEmitter;
use crate::{BroadcastOperator, EmitError};

impl Socket {
    /// Emits `event` with `data` to this client.
    ///
    /// The argument forms, the same for every emit, broadcast and ack: a tuple spreads into
    /// arguments (`&("a", 1)` is the client's `(a, b) => ..`), `&()` is no argument, anything
    /// else is one argument (a `Vec` is one array). Binary placeholders in `data` (the data
    /// of a binary event, read as JSON) are sent with their attachments when this runs in
    /// that event's handler, else refused ([`EmitError::UnresolvedPlaceholder`]). For binary
    /// of your own, build a [`Payload`] and use [`Socket::emit_payload`].
    ///
    /// Reserved names (`connect`, `disconnect`, ...) are refused.
    ///
    /// ```
    /// # use switchboard::prelude::*;
    /// # fn demo(socket: Socket) -> Result<(), EmitError> {
    /// socket.emit("hello", "world")?; // socket.on("hello", (s) => ..)
    /// socket.emit("move", &(3, 4))?; // socket.on("move", (x, y) => ..)
    /// socket.emit("list", &vec![1, 2])?; // socket.on("list", (arr) => ..)
    /// # Ok(()) }
    /// ```
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emitter().emit(event, data)
    }

    /// Emits `event` with these arguments (several, none, or binary) to this client.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.emitter().emit_payload(event, payload)
    }

    /// Emits `data` (at once; argument forms as [`Socket::emit`]) and returns a future of the client's answer (no
    /// timeout; see [`Socket::timeout`]).
    pub fn emit_with_ack<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> AckFuture {
        self.emitter().emit_with_ack(event, data)
    }

    /// Emits these arguments and waits for the client's answer (sent at once).
    pub fn emit_payload_with_ack(&self, event: &str, payload: Payload) -> AckFuture {
        self.emitter().emit_payload_with_ack(event, payload)
    }

    fn emitter(&self) -> SocketEmitter {
        SocketEmitter { socket: self.clone(), volatile: false, timeout: None }
    }

    /// Emits to this socket with a timeout on the ack.
    pub fn timeout(&self, timeout: Duration) -> SocketEmitter {
        self.emitter().timeout(timeout)
    }

    /// Emits to this socket, dropping the packet if the connection cannot take it now.
    pub fn volatile(&self) -> SocketEmitter {
        self.emitter().volatile()
    }

    /// Emits to this socket; compression is left to the engine.
    pub fn compress(&self, compress: bool) -> SocketEmitter {
        self.emitter().compress(compress)
    }

    /// Broadcasts to `room`, except this socket.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Same as [`Socket::to`].
    pub fn in_(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.to(room)
    }

    /// Broadcasts to everyone but this socket and sockets in `room`.
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// Broadcasts to everyone in the namespace but this socket.
    pub fn broadcast(&self) -> BroadcastOperator {
        let mut opts = BroadcastOptions::new().except(self.id().room());
        opts.flags.broadcast = true;
        BroadcastOperator::new(self.0.ns.clone(), opts)
    }

    /// Broadcast operators on this server only, except this socket.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }
}

//! The session task's side of the I/O: polling its inputs, queueing frames on its
//! WebSockets and flushing them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use switchboard_proto::engine::session::CloseReason;
use switchboard_proto::engine::websocket::Opcode;
use switchboard_proto::engine::{EncodedMessage, Message, Packet, Protocol, v3};
use tokio::time::{Instant, Sleep};

use super::{INPUTS, Input, Task, Wire, now};
use crate::Handler;

impl<H: Handler> Task<H> {
    /// Writes out queued frames. Returns true if that changed something (a write finished or
    /// failed), so the session should be driven again.
    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        if self.ws_unflushed {
            if let Some(ws) = self.ws.as_mut() {
                match ws.poll_write_out(cx) {
                    Poll::Pending => {}
                    Poll::Ready(result) => {
                        progress = true;
                        self.ws_unflushed = false;
                        if result.is_err() {
                            self.ws_write_failed();
                        }
                    }
                }
            } else {
                self.ws_unflushed = false;
            }
        }
        if self.probe_unflushed {
            if let Some(probe) = self.probe.as_deref_mut() {
                match probe.poll_write_out(cx) {
                    Poll::Pending => {}
                    Poll::Ready(result) => {
                        progress = true;
                        self.probe_unflushed = false;
                        if result.is_err() {
                            self.probe_write_failed();
                        }
                    }
                }
            } else {
                self.probe_unflushed = false;
            }
        }
        if !self.ws_unflushed && !self.probe_unflushed {
            self.write_deadline = None;
            return progress;
        }
        // A write waits for the peer: it has `ping_timeout` to take it.
        let now = Instant::now();
        let deadline = *self.write_deadline.get_or_insert_with(|| {
            now.checked_add(self.engine.config().ping_timeout).unwrap_or(now)
        });
        let overdue = now >= deadline;
        if overdue && self.ws_unflushed {
            progress = true;
            self.ws_write_failed();
        }
        if overdue && self.probe_unflushed {
            progress = true;
            self.probe_write_failed();
        }
        if !self.ws_unflushed && !self.probe_unflushed {
            self.write_deadline = None;
        }
        progress
    }

    pub(super) fn ws_write_failed(&mut self) {
        if let Some(ws) = self.ws.take() {
            crate::websocket::drop_ws(ws);
        }
        self.ws_unflushed = false;
        self.session.handle_transport_close(CloseReason::TransportError, now());
    }

    fn probe_write_failed(&mut self) {
        self.probe = None;
        self.probe_unflushed = false;
        self.session.handle_probe_close(now());
    }

    /// The first input that is ready, polling each in turn.
    pub(super) fn poll_input(
        &mut self,
        cx: &mut Context<'_>,
        mut timer: Pin<&mut Sleep>,
    ) -> Poll<Input> {
        // Every input is polled (and so registers for a wake-up) before this returns Pending.
        self.turn = (self.turn + 1) % INPUTS;
        for i in 0..INPUTS {
            let ready = match (self.turn + i) % INPUTS {
                0 => {
                    let can_queue = !self.ws_unflushed
                        && self.session.buffered() < self.engine.config().max_buffered_messages;
                    self.socket.mailbox().poll_ready(cx, can_queue).map(|_| Input::Mailbox)
                }
                1 => match self.ws.as_mut() {
                    Some(ws) => ws.poll_next(cx, self.engine.config().max_payload).map(Input::Ws),
                    None => Poll::Pending,
                },
                2 => match self.probe.as_deref_mut() {
                    Some(probe) => {
                        probe.poll_next(cx, self.engine.config().max_payload).map(Input::Probe)
                    }
                    None => Poll::Pending,
                },
                3 => match self.pending.as_mut() {
                    Some(reply) => reply.poll_closed(cx).map(|()| Input::PollDropped),
                    None => Poll::Pending,
                },
                // Registered already and not fired: nothing to poll (the task's waker is the
                // same on every poll, and the timer keeps the one it was given).
                _ if self.armed && self.timer_polled && !timer.is_elapsed() => Poll::Pending,
                _ if self.armed => {
                    self.timer_polled = true;
                    timer.as_mut().poll(cx).map(|()| {
                        self.armed = false;
                        Input::Timer
                    })
                }
                _ => Poll::Pending,
            };
            if ready.is_ready() {
                return ready;
            }
        }
        Poll::Pending
    }

    /// Queues a packet on the session's WebSocket (or, during the upgrade, the probe's).
    pub(super) fn ws_send_packet(&mut self, cx: &mut Context<'_>, packet: Packet) {
        if let Some((opcode, data)) = encode_packet(packet, self.wire) {
            self.ws_queue(cx, opcode, &data);
        }
    }

    /// Queues a pre-encoded message: its shared buffer is framed as is (a text frame's bytes
    /// were checked to be UTF-8 when they were made into a `Str`).
    pub(super) fn ws_send_encoded(&mut self, cx: &mut Context<'_>, message: &EncodedMessage) {
        match (message.wire_text(), message.binary_data()) {
            (Some(text), _) => self.ws_queue(cx, Opcode::Text, text.as_bytes()),
            // v3 frames binary data its own way (a copy; v3 clients are the exception).
            (None, data) if self.wire.protocol == Protocol::V3 => {
                let packet = Packet::binary(data.cloned().unwrap_or_default());
                self.ws_send_packet(cx, packet);
            }
            (None, Some(data)) => self.ws_queue(cx, Opcode::Binary, data),
            (None, None) => self.ws_queue(cx, Opcode::Binary, &[]),
        }
    }

    /// Queues a packet on the probe (after the upgrade, the probe is the session's WebSocket).
    pub(super) fn probe_send(&mut self, cx: &mut Context<'_>, packet: Packet) {
        if let Some((opcode, data)) = encode_packet(packet, self.wire) {
            self.probe_queue(cx, opcode, &data);
        }
    }

    /// Queues a frame on the session's WebSocket (or, during the upgrade, the probe's).
    pub(super) fn ws_queue(&mut self, cx: &mut Context<'_>, opcode: Opcode, payload: &[u8]) {
        let max_write = self.engine.config().max_websocket_write_buffer;
        if let Some(ws) = self.ws.as_mut() {
            self.ws_unflushed = true;
            if ws.queue(cx, opcode, payload, max_write).is_err() {
                self.ws_write_failed();
            }
        } else if let Some(probe) = self.probe.as_deref_mut() {
            self.probe_unflushed = true;
            if probe.queue(cx, opcode, payload, max_write).is_err() {
                self.probe_write_failed();
            }
        }
        self.start_write();
    }

    /// Queues a frame on the probe (after the upgrade, the probe is the session's WebSocket).
    pub(super) fn probe_queue(&mut self, cx: &mut Context<'_>, opcode: Opcode, payload: &[u8]) {
        let max_write = self.engine.config().max_websocket_write_buffer;
        if let Some(probe) = self.probe.as_deref_mut() {
            self.probe_unflushed = true;
            if probe.queue(cx, opcode, payload, max_write).is_err() {
                self.probe_write_failed();
            }
        } else if let Some(ws) = self.ws.as_mut() {
            self.ws_unflushed = true;
            if ws.queue(cx, opcode, payload, max_write).is_err() {
                self.probe_write_failed();
            }
        }
        self.start_write();
    }

    fn start_write(&self) {
        // Busy writing: a volatile packet sent meanwhile is dropped, as in Node.
        self.socket.set_writable(false);
    }
}

/// One WebSocket frame per packet: text packets as text, binary messages as raw binary (v4),
/// as the type byte and the data (v3), or as `b4` and base64 text (v3 with `b64`).
fn encode_packet(packet: Packet, wire: Wire) -> Option<(Opcode, Bytes)> {
    match (packet, wire.protocol) {
        (Packet::Message(Message::Binary(data)), Protocol::V3) if wire.b64 => {
            let mut text = String::with_capacity(data.len() * 4 / 3 + 6);
            v3::encode_text(&Packet::Message(Message::Binary(data)), &mut text);
            Some((Opcode::Text, Bytes::from(text)))
        }
        (Packet::Message(Message::Binary(data)), Protocol::V3) => {
            Some((Opcode::Binary, v3::encode_binary(&data)))
        }
        (Packet::Message(Message::Binary(data)), _) => Some((Opcode::Binary, data)),
        (other, _) => other.encode_text().map(|text| (Opcode::Text, text.into_bytes())),
    }
}

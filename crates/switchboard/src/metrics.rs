//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! With the feature on, the server records the metrics below into whatever recorder the
//! application installed (the `switchboard` binary: the Prometheus exporter, at `/metrics`);
//! with no recorder installed they cost a branch each. With the feature off, nothing is
//! recorded and the facade is not compiled in.
//!
//! | Name | Kind | Labels | What |
//! |---|---|---|---|
//! | `switchboard_connections` | gauge | `transport` | open Engine.IO connections |
//! | `switchboard_handshakes_total` | counter | `transport` | connections opened |
//! | `switchboard_upgrades_total` | counter | | polling connections upgraded to WebSocket |
//! | `switchboard_packets_received_total` | counter | `type` | Socket.IO packets from clients |
//! | `switchboard_packets_sent_total` | counter | `type` | Socket.IO packets queued for clients (a broadcast counts once per recipient) |
//! | `switchboard_bytes_received_total` | counter | | bytes of those packets and their binary attachments |
//! | `switchboard_bytes_sent_total` | counter | | bytes queued, as framed for Engine.IO |
//! | `switchboard_acks_pending` | gauge | | `emit_with_ack` to one socket waiting for the answer |
//! | `switchboard_acks_timed_out_total` | counter | | of those, answers that did not come in time |
//! | `switchboard_broadcasts_total` | counter | | broadcasts (`io.emit`, `to(..).emit`, ...) |
//! | `switchboard_broadcast_recipients_total` | counter | | sockets of this server a broadcast was queued for |
//! | `switchboard_disconnects_total` | counter | `reason` | sockets that left a namespace, by reason (`transport close`, ...) |
//! | `switchboard_recovery_attempts_total` | counter | | connections that presented a session to recover |
//! | `switchboard_recovery_successes_total` | counter | | of those, sessions recovered |
//! | `switchboard_adapter_requests_total`, `switchboard_adapter_errors_total` | counter | `op` | requests to each namespace's adapter that may span a cluster (`broadcast`, `fetch_sockets`, `server_side_emit`, ...) and those that failed |
//! | `switchboard_adapter_seconds` | histogram | `op` | how long those took, except `broadcast` (one per emit) |
//! | `switchboard_connect_seconds` | histogram | | from a CONNECT packet to its answer (middlewares, recovery and the connect answer), for the connects that succeed |
//! | `switchboard_namespaces`, `switchboard_sockets`, `switchboard_rooms` | gauge | | set by `record_stats` (for example before each scrape) |
//! | `switchboard_sse_streams` | gauge | | open SSE streams (feature `sse`) |
//! | `switchboard_sse_overflows_total` | counter | | SSE streams cut because their reader did not keep up |
//!
//! `type` is the packet type: `connect`, `disconnect`, `event`, `ack`, `connect_error`,
//! `binary_event`, `binary_ack`. Labels are fixed strings: recording a packet allocates
//! nothing, and touches two atomic counters.
//!
//! ```
//! # #[cfg(feature = "metrics")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Install a recorder first (for example `metrics_exporter_prometheus`), then:
//! let io = switchboard::SocketIo::new(Default::default());
//! switchboard::metrics::describe();
//! switchboard::metrics::record_stats(&io.stats().await?);
//! # Ok(()) }
//! # #[cfg(not(feature = "metrics"))]
//! # fn main() {}
//! ```

#[cfg(feature = "metrics")]
pub use enabled::{describe, record_stats};

#[cfg(feature = "metrics")]
pub(crate) use enabled::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::*;

/// The `type` label of a packet, from its type digit.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const TYPES: [&str; 7] =
    ["connect", "disconnect", "event", "ack", "connect_error", "binary_event", "binary_ack"];

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::OnceLock;

    use metrics::{
        Counter, Gauge, counter, describe_counter, describe_gauge, describe_histogram, gauge,
        histogram,
    };
    use switchboard_engine::{EncodedMessage, Message, TransportKind};

    use super::TYPES;
    use crate::{DisconnectReason, ServerStats};

    /// The handles of the per-packet (and per-emit) metrics, registered once with the recorder installed at
    /// the first packet: recording then is an atomic add, with no lookup by name.
    struct Hot {
        received: [Counter; 7],
        sent: [Counter; 7],
        bytes_received: Counter,
        bytes_sent: Counter,
        connections_polling: Gauge,
        connections_websocket: Gauge,
        recipients: Counter,
        broadcasts: Counter,
        acks_pending: Gauge,
    }

    fn hot() -> &'static Hot {
        // Written once, read on every packet.
        static HOT: OnceLock<Hot> = OnceLock::new();
        HOT.get_or_init(|| Hot {
            received: TYPES.map(|t| counter!("switchboard_packets_received_total", "type" => t)),
            sent: TYPES.map(|t| counter!("switchboard_packets_sent_total", "type" => t)),
            bytes_received: counter!("switchboard_bytes_received_total"),
            bytes_sent: counter!("switchboard_bytes_sent_total"),
            connections_polling: gauge!("switchboard_connections", "transport" => "polling"),
            connections_websocket: gauge!("switchboard_connections", "transport" => "websocket"),
            recipients: counter!("switchboard_broadcast_recipients_total"),
            broadcasts: counter!("switchboard_broadcasts_total"),
            acks_pending: gauge!("switchboard_acks_pending"),
        })
    }

    fn connections(transport: TransportKind) -> &'static Gauge {
        match transport {
            TransportKind::WebSocket => &hot().connections_websocket,
            _ => &hot().connections_polling,
        }
    }

    /// Registers a description for every metric with the installed recorder (the `# HELP`
    /// lines of Prometheus).
    ///
    /// ```
    /// switchboard::metrics::describe(); // no recorder installed: nothing happens
    /// ```
    pub fn describe() {
        describe_gauge!("switchboard_connections", "Open Engine.IO connections.");
        describe_counter!("switchboard_handshakes_total", "Engine.IO connections opened.");
        describe_counter!("switchboard_upgrades_total", "Connections upgraded to WebSocket.");
        describe_counter!("switchboard_packets_received_total", "Socket.IO packets received.");
        describe_counter!("switchboard_packets_sent_total", "Socket.IO packets queued to send.");
        describe_counter!("switchboard_bytes_received_total", "Bytes of packets received.");
        describe_counter!("switchboard_bytes_sent_total", "Bytes of packets queued to send.");
        describe_gauge!("switchboard_acks_pending", "Acks the server waits for.");
        describe_counter!("switchboard_acks_timed_out_total", "Acks not answered in time.");
        describe_counter!("switchboard_broadcasts_total", "Broadcasts.");
        describe_counter!("switchboard_broadcast_recipients_total", "Broadcast deliveries.");
        describe_counter!("switchboard_disconnects_total", "Sockets disconnected, by reason.");
        describe_counter!("switchboard_recovery_attempts_total", "Recoveries attempted.");
        describe_counter!("switchboard_recovery_successes_total", "Sessions recovered.");
        describe_histogram!(
            "switchboard_connect_seconds",
            metrics::Unit::Seconds,
            "From a CONNECT packet to its answer."
        );
        describe_counter!("switchboard_adapter_requests_total", "Adapter requests, by op.");
        describe_counter!("switchboard_adapter_errors_total", "Adapter requests that failed.");
        describe_histogram!(
            "switchboard_adapter_seconds",
            metrics::Unit::Seconds,
            "Adapter request durations, by op (broadcast left out)."
        );
        describe_gauge!("switchboard_namespaces", "Namespaces.");
        describe_gauge!("switchboard_sockets", "Sockets connected to a namespace.");
        describe_gauge!("switchboard_rooms", "Rooms with a socket (own rooms left out).");
        describe_gauge!("switchboard_sse_streams", "Open SSE streams.");
        describe_counter!("switchboard_sse_overflows_total", "SSE streams cut for a full buffer.");
    }

    /// Sets the `switchboard_namespaces`, `switchboard_sockets` and `switchboard_rooms`
    /// gauges from a [`SocketIo::stats`](crate::SocketIo::stats) snapshot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// switchboard::metrics::record_stats(&io.stats().await?);
    /// # Ok(()) }
    /// ```
    pub fn record_stats(stats: &ServerStats) {
        gauge!("switchboard_namespaces").set(stats.namespaces.len() as f64);
        gauge!("switchboard_sockets").set(stats.sockets() as f64);
        gauge!("switchboard_rooms").set(stats.rooms() as f64);
    }

    pub(crate) fn conn_opened(transport: TransportKind) {
        let label = match transport {
            TransportKind::WebSocket => "websocket",
            _ => "polling",
        };
        counter!("switchboard_handshakes_total", "transport" => label).increment(1);
        connections(transport).increment(1.0);
    }

    pub(crate) fn conn_upgraded() {
        counter!("switchboard_upgrades_total").increment(1);
        hot().connections_polling.decrement(1.0);
        hot().connections_websocket.increment(1.0);
    }

    pub(crate) fn conn_closed(transport: TransportKind) {
        connections(transport).decrement(1.0);
    }

    /// A message from a client: a packet (text) or one of its attachments (binary).
    #[inline]
    pub(crate) fn received(message: &Message) {
        let hot = hot();
        match message {
            Message::Text(text) => {
                if let Some(c) =
                    packet_type(text.as_bytes().first()).and_then(|t| hot.received.get(t))
                {
                    c.increment(1);
                }
                hot.bytes_received.increment(text.len() as u64);
            }
            Message::Binary(data) => hot.bytes_received.increment(data.len() as u64),
        }
    }

    /// Messages queued for a client (Engine.IO framed: `4` then the packet type).
    #[inline]
    pub(crate) fn sent(messages: &[EncodedMessage]) {
        for m in messages {
            sent_one(m);
        }
    }

    #[inline]
    pub(crate) fn sent_one(message: &EncodedMessage) {
        let hot = hot();
        if let Some(text) = message.wire_text() {
            if let Some(c) = packet_type(text.as_bytes().get(1)).and_then(|t| hot.sent.get(t)) {
                c.increment(1);
            }
            hot.bytes_sent.increment(text.len() as u64);
        } else if let Some(data) = message.binary_data() {
            hot.bytes_sent.increment(data.len() as u64);
        }
    }

    /// Messages not yet encoded for the wire (CONNECT answers and errors).
    pub(crate) fn sent_messages(messages: &[Message]) {
        let hot = hot();
        for m in messages {
            match m {
                Message::Text(text) => {
                    if let Some(c) =
                        packet_type(text.as_bytes().first()).and_then(|t| hot.sent.get(t))
                    {
                        c.increment(1);
                    }
                    // The Engine.IO `4` in front, as for the encoded ones.
                    hot.bytes_sent.increment(text.len() as u64 + 1);
                }
                Message::Binary(data) => hot.bytes_sent.increment(data.len() as u64),
            }
        }
    }

    fn packet_type(digit: Option<&u8>) -> Option<usize> {
        digit.and_then(|d| d.checked_sub(b'0')).map(usize::from)
    }

    #[inline]
    pub(crate) fn broadcast() {
        hot().broadcasts.increment(1);
    }

    #[inline]
    pub(crate) fn broadcast_recipient() {
        hot().recipients.increment(1);
    }

    pub(crate) fn disconnected(reason: DisconnectReason) {
        counter!("switchboard_disconnects_total", "reason" => reason.as_str()).increment(1);
    }

    pub(crate) fn recovery_attempt() {
        counter!("switchboard_recovery_attempts_total").increment(1);
    }

    pub(crate) fn recovery_success() {
        counter!("switchboard_recovery_successes_total").increment(1);
    }

    pub(crate) fn ack_timed_out() {
        counter!("switchboard_acks_timed_out_total").increment(1);
    }

    /// An SSE stream opened (`1.0`) or ended (`-1.0`).
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn sse_streams(change: f64) {
        gauge!("switchboard_sse_streams").increment(change);
    }

    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn sse_overflow() {
        counter!("switchboard_sse_overflows_total").increment(1);
    }

    /// When a namespace CONNECT began, for `switchboard_connect_seconds`.
    pub(crate) struct ConnectTimer(std::time::Instant);

    impl ConnectTimer {
        pub(crate) fn start() -> Self {
            ConnectTimer(std::time::Instant::now())
        }

        /// The connect succeeded: its duration is recorded.
        pub(crate) fn connected(self) {
            histogram!("switchboard_connect_seconds").record(self.0.elapsed().as_secs_f64());
        }
    }

    /// Counts one ack the server waits for, until dropped.
    pub(crate) struct AckPending(());

    impl AckPending {
        pub(crate) fn start() -> Self {
            hot().acks_pending.increment(1.0);
            AckPending(())
        }
    }

    impl Drop for AckPending {
        fn drop(&mut self) {
            hot().acks_pending.decrement(1.0);
        }
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(dead_code)]
mod disabled {
    //! The same calls, doing nothing.
    use switchboard_engine::{EncodedMessage, Message, TransportKind};

    use crate::DisconnectReason;

    #[inline(always)]
    pub(crate) fn conn_opened(_: TransportKind) {}
    #[inline(always)]
    pub(crate) fn conn_upgraded() {}
    #[inline(always)]
    pub(crate) fn conn_closed(_: TransportKind) {}
    #[inline(always)]
    pub(crate) fn received(_: &Message) {}
    #[inline(always)]
    pub(crate) fn sent(_: &[EncodedMessage]) {}
    #[inline(always)]
    pub(crate) fn sent_one(_: &EncodedMessage) {}
    #[inline(always)]
    pub(crate) fn sent_messages(_: &[Message]) {}
    #[inline(always)]
    pub(crate) fn broadcast() {}
    #[inline(always)]
    pub(crate) fn broadcast_recipient() {}
    #[inline(always)]
    pub(crate) fn disconnected(_: DisconnectReason) {}
    #[inline(always)]
    pub(crate) fn recovery_attempt() {}
    #[inline(always)]
    pub(crate) fn recovery_success() {}
    #[inline(always)]
    pub(crate) fn ack_timed_out() {}
    #[inline(always)]
    pub(crate) fn sse_streams(_: f64) {}
    #[inline(always)]
    pub(crate) fn sse_overflow() {}

    /// Nothing to time.
    pub(crate) struct ConnectTimer(());

    impl ConnectTimer {
        #[inline(always)]
        pub(crate) fn start() -> Self {
            ConnectTimer(())
        }
        #[inline(always)]
        pub(crate) fn connected(self) {}
    }

    /// Nothing to count.
    pub(crate) struct AckPending(());

    impl AckPending {
        #[inline(always)]
        pub(crate) fn start() -> Self {
            AckPending(())
        }
    }
}

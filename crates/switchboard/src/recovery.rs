//! Connection state recovery (Node's `connectionStateRecovery`) and the takeover of half-open
//! connections.
//!
//! With recovery on, every socket gets a private session id (`pid`, in the CONNECT answer) and
//! every recoverable packet an offset (its last argument). When a socket drops for a
//! recoverable reason its session (id, rooms, data) is saved in the adapter. A client that
//! reconnects with `{pid, offset}` in its CONNECT auth within `max_disconnection_duration` gets
//! the same id, rooms and data back, `recovered` is true, and the packets it missed are sent
//! before any new one. See docs/RECOVERY.md for the guarantees.

use std::sync::Arc;
use std::time::Duration;

use switchboard_adapter::{Offset, RecoveryOptions, Session};
use switchboard_engine::DisconnectReason as EngineReason;

use crate::client::Client;
use crate::namespace::NamespaceInner;
use crate::{DisconnectReason, Handshake, Socket};

/// The `connectionStateRecovery` option. `Default` equals Node's (2 minutes, middlewares
/// skipped); the caps have no Node equivalent (Node keeps everything for the window).
///
/// ```
/// use std::time::Duration;
/// use switchboard::{ConnectionStateRecovery, SocketIoConfig};
///
/// let mut config = SocketIoConfig::default();
/// assert!(config.connection_state_recovery.is_none(), "off by default, as in Node");
/// let recovery = ConnectionStateRecovery::default();
/// assert_eq!(recovery.max_disconnection_duration, Duration::from_secs(120));
/// assert!(recovery.skip_middlewares);
/// config.connection_state_recovery = Some(recovery);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStateRecovery {
    /// How long a dropped socket's session and the packets it may miss are kept (2 minutes).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the connect middlewares (true).
    pub skip_middlewares: bool,
    /// The most packets each namespace keeps for replay (100 000): past it the oldest go, and
    /// a client whose offset went with them is not recovered.
    pub max_buffered_packets: usize,
    /// The most saved sessions per namespace (100 000): past it the oldest go.
    pub max_sessions: usize,
    /// How long a reconnecting client waits for the stale connection holding its session to
    /// be closed (half-open takeover) before it gets a new session instead (5 s).
    pub takeover_timeout: Duration,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        let adapter = RecoveryOptions::default();
        ConnectionStateRecovery {
            max_disconnection_duration: adapter.max_disconnection_duration,
            skip_middlewares: true,
            max_buffered_packets: adapter.max_packets,
            max_sessions: adapter.max_sessions,
            takeover_timeout: Duration::from_secs(5),
        }
    }
}

impl ConnectionStateRecovery {
    /// What the adapter keeps.
    pub(crate) fn adapter_options(&self) -> RecoveryOptions {
        let mut opts = RecoveryOptions::default();
        opts.max_disconnection_duration = self.max_disconnection_duration;
        opts.max_packets = self.max_buffered_packets;
        opts.max_sessions = self.max_sessions;
        opts
    }
}

/// The reasons after which a session is saved (Node's `RECOVERABLE_DISCONNECT_REASONS`, plus a
/// takeover). Leaving on purpose (either side's namespace disconnect) or sending garbage is not
/// recoverable.
pub(crate) fn is_recoverable(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportError
            | DisconnectReason::TransportClose
            | DisconnectReason::ForcedClose
            | DisconnectReason::PingTimeout
            | DisconnectReason::ServerShuttingDown
            | DisconnectReason::SessionTakenOver
    )
}

/// A session being restored: the socket exists but is not in the namespace yet.
pub(crate) struct Restoring {
    pub(crate) socket: Socket,
    session: Session,
    after: Offset,
}

impl NamespaceInner {
    /// Saves the session of a socket that dropped.
    pub(crate) async fn persist(&self, socket: &Socket) {
        let Some(pid) = socket.pid() else { return };
        let session =
            Session::new(socket.id().clone(), pid.clone(), socket.rooms(), socket.data_json());
        if let Err(e) = self.adapter().persist_session(session).await {
            tracing::warn!(socket = %socket.id(), error = %e, "session not saved");
        }
    }

    /// Takes the session named in the CONNECT auth, if it can be recovered: known, not
    /// expired, and the packets after the client's offset still logged.
    pub(crate) async fn begin_restore(
        self: &Arc<Self>,
        client: &Arc<Client>,
        handshake: &Handshake,
    ) -> Option<Restoring> {
        let config = self.recovery.as_ref()?;
        let pid = handshake.auth.get("pid")?.as_str()?;
        let offset = handshake.auth.get("offset")?.as_str()?;
        crate::metrics::recovery_attempt();
        self.take_over(pid, config.takeover_timeout).await;
        let adapter = self.adapter();
        let session = match adapter.take_session(pid).await {
            Ok(Some(session)) => session,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "session not restored");
                return None;
            }
        };
        let after = Offset::new(offset);
        if !matches!(adapter.missed_packets(&after, &session.rooms).await, Ok(Some(_))) {
            tracing::debug!(sid = %session.sid, %after, "missed packets no longer logged");
            return None;
        }
        let socket = Socket::new(
            session.sid.clone(),
            self.clone(),
            client.clone(),
            handshake.clone(),
            Some(session.pid.clone()),
            true,
        );
        socket.set_data_json(session.data.clone());
        Some(Restoring { socket, session, after })
    }

    /// The restore did not happen (a middleware refused, the client left): keep the session.
    pub(crate) async fn abandon_restore(&self, restoring: Restoring) {
        if let Err(e) = self.adapter().persist_session(restoring.session).await {
            tracing::warn!(error = %e, "session not saved back");
        }
    }

    /// Joins the session's rooms, replays the missed packets, answers CONNECT, then lets live
    /// packets through. Live packets are held from the moment the socket joins its rooms, so
    /// none is lost between the replay's read and the join, and the ones the replay already
    /// had (by offset) are dropped.
    pub(crate) async fn finish_restore(&self, client: &Arc<Client>, restoring: Restoring) {
        let Restoring { socket, session, after } = restoring;
        socket.close_gate();
        self.insert_socket(&socket);
        client.add_socket(socket.clone());
        socket.set_connected_in(&session.rooms);
        let missed = match self.adapter().missed_packets(&after, &session.rooms).await {
            Ok(Some(missed)) => missed,
            other => {
                // Only if the log was pruned between the check and now.
                tracing::warn!(socket = %socket.id(), ok = other.is_ok(), "replay unavailable");
                Vec::new()
            }
        };
        let mut last = after;
        for (offset, packet) in missed {
            if let Err(e) = socket.send_packet(&packet, false) {
                tracing::debug!(socket = %socket.id(), %e, "replayed packet not sent");
            }
            last = last.max(offset);
        }
        client.send_packet(&self.connect_answer(&socket));
        socket.open_gate(Some(&last));
    }

    /// Half-open takeover: a client presents the pid of a socket this server still holds (its
    /// network vanished without a FIN/RST, so no ping timeout yet). The stale socket is closed
    /// at once and its session saved, so that the new connection recovers it.
    async fn take_over(&self, pid: &str, timeout: Duration) {
        let stale =
            crate::namespace::lock(&self.pids).get(&switchboard_proto::Str::from(pid)).cloned();
        let Some(stale) = stale else { return };
        tracing::debug!(socket = %stale.id(), "session taken over by a new connection");
        stale.on_close(DisconnectReason::SessionTakenOver).await;
        stale.client().conn().close(EngineReason::ForcedClose);
        if tokio::time::timeout(timeout, stale.wait_closed()).await.is_err() {
            tracing::warn!(socket = %stale.id(), "stale socket did not close in time");
        }
    }
}

//! The emitter: reach the sockets of a cluster from a process that is not a Socket.IO
//! server, in the format of Node's `@socket.io/redis-emitter` 5.x.

use std::collections::HashSet;
use std::sync::Arc;

use rmpv::Value as Mp;
use serde::Serialize;
use serde_json::{Value, json};
use switchboard_adapter::{BroadcastFlags, Room};
use switchboard_proto::socket::{EventName, Packet, Payload, ReservedEventName};

use crate::driver::{DriverError, SharedDriver};
use crate::protocol::{flags_to_mp, kind, packet_to_mp};
use crate::value::{encode_msgpack, map, payload_to_json};

/// Why an emit was refused or not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// The event name is reserved (`connect`, `disconnect`, ...).
    #[error(transparent)]
    Reserved(#[from] ReservedEventName),
    /// The data could not be serialized.
    #[error("cannot serialize the event data")]
    Serialize(#[source] serde_json::Error),
    /// The driver refused the publish.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

/// Emits to the sockets of a cluster through Redis, as `@socket.io/redis-emitter` does: the
/// Switchboard and Node servers of the cluster deliver to their own sockets. Immutable:
/// `to`, `except`, `of` return new emitters.
///
/// ```
/// use switchboard_redis::{Emitter, FakeRedis};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchboard_redis::EmitterError> {
/// // With a real server: `RedisDriver::open("redis://127.0.0.1:6379", RedisConfig::default())?`.
/// let emitter = Emitter::new(FakeRedis::new().driver());
/// emitter.to("room1").except("banned").emit("news", &"hello")?;
/// emitter.of("/admin").sockets_join(&["staff"])?;
/// emitter.server_side_emit("reload", &1)?;
/// emitter.flushed().await; // before a short-lived process exits
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Emitter {
    driver: SharedDriver,
    key: Arc<str>,
    nsp: Arc<str>,
    rooms: HashSet<Room>,
    except: HashSet<Room>,
    flags: BroadcastFlags,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").field("nsp", &self.nsp).field("rooms", &self.rooms).finish()
    }
}

fn list(set: &HashSet<Room>) -> Vec<&str> {
    set.iter().map(Room::as_str).collect()
}

impl Emitter {
    /// An emitter for namespace `/` with the default key prefix `socket.io`.
    pub fn new(driver: SharedDriver) -> Self {
        Emitter::with_key(driver, "socket.io")
    }

    /// An emitter with another key prefix (the adapters' `key`).
    pub fn with_key(driver: SharedDriver, key: &str) -> Self {
        Emitter {
            driver,
            key: Arc::from(key),
            nsp: Arc::from("/"),
            rooms: HashSet::new(),
            except: HashSet::new(),
            flags: BroadcastFlags::new(),
        }
    }

    /// The same emitter for namespace `nsp` (a missing leading `/` is added), without rooms.
    pub fn of(&self, nsp: &str) -> Self {
        let nsp = if nsp.starts_with('/') { nsp.to_owned() } else { format!("/{nsp}") };
        Emitter {
            nsp: Arc::from(nsp),
            rooms: HashSet::new(),
            except: HashSet::new(),
            flags: BroadcastFlags::new(),
            ..self.clone()
        }
    }

    /// Targets `room` too.
    pub fn to(&self, room: impl Into<Room>) -> Self {
        let mut next = self.clone();
        next.rooms.insert(room.into());
        next
    }

    /// Same as [`Emitter::to`].
    pub fn in_(&self, room: impl Into<Room>) -> Self {
        self.to(room)
    }

    /// Skips the sockets in `room`.
    pub fn except(&self, room: impl Into<Room>) -> Self {
        let mut next = self.clone();
        next.except.insert(room.into());
        next
    }

    /// Lets servers drop the packet for sockets that cannot take it now.
    pub fn volatile(&self) -> Self {
        let mut next = self.clone();
        next.flags.volatile = true;
        next
    }

    /// Sets the compression flag.
    pub fn compress(&self, compress: bool) -> Self {
        let mut next = self.clone();
        next.flags.compress = compress;
        next
    }

    /// Emits `event` with one argument to the target sockets.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitterError> {
        self.emit_payload(event, Payload::single(data).map_err(EmitterError::Serialize)?)
    }

    /// Emits `event` with these arguments (several, none, or binary).
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitterError> {
        let packet = Packet::event(self.nsp.as_ref(), EventName::new(event.to_owned())?, payload);
        let wire = packet_to_mp(&packet).unwrap_or(Mp::Nil);
        let rooms =
            |set: &HashSet<Room>| Mp::Array(set.iter().map(|r| Mp::from(r.as_str())).collect());
        // Node's emitter writes `rooms, flags, except`, in that order.
        let opts = map(vec![
            ("rooms", rooms(&self.rooms)),
            ("flags", flags_to_mp(&self.flags)),
            ("except", rooms(&self.except)),
        ]);
        let message = Mp::Array(vec![Mp::from("emitter"), wire, opts]);
        let channel = match (self.rooms.len(), self.rooms.iter().next()) {
            (1, Some(room)) => format!("{}#{}#{room}#", self.key, self.nsp),
            _ => format!("{}#{}#", self.key, self.nsp),
        };
        Ok(self.driver.publish(channel, encode_msgpack(&message))?)
    }

    fn request(&self, body: &Value) -> Result<(), EmitterError> {
        let channel = format!("{}-request#{}#", self.key, self.nsp);
        let bytes = serde_json::to_vec(body).map_err(EmitterError::Serialize)?;
        Ok(self.driver.publish(channel, bytes.into())?)
    }

    fn targets(&self) -> Value {
        json!({"rooms": list(&self.rooms), "except": list(&self.except)})
    }

    /// Makes the target sockets join `rooms`.
    pub fn sockets_join(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.request(&json!({"type": kind::REMOTE_JOIN, "opts": self.targets(), "rooms": rooms}))
    }

    /// Makes the target sockets leave `rooms`.
    pub fn sockets_leave(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.request(&json!({"type": kind::REMOTE_LEAVE, "opts": self.targets(), "rooms": rooms}))
    }

    /// Disconnects the target sockets (`close`: close their connections too).
    pub fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        self.request(
            &json!({"type": kind::REMOTE_DISCONNECT, "opts": self.targets(), "close": close}),
        )
    }

    /// Emits `event` with one argument to every server of the cluster (no acks, as Node's
    /// emitter).
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitterError> {
        let payload = Payload::single(data).map_err(EmitterError::Serialize)?;
        let mut args = vec![Value::String(EventName::new(event.to_owned())?.as_str().to_owned())];
        args.extend(payload_to_json(&payload));
        self.request(&json!({"uid": "emitter", "type": kind::SERVER_SIDE_EMIT, "data": args}))
    }

    /// Resolves once everything emitted so far was sent to Redis.
    pub async fn flushed(&self) {
        self.driver.flushed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeRedis;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[tokio::test]
    async fn an_emit_is_byte_for_byte_what_the_node_emitter_publishes() {
        let redis = FakeRedis::new();
        // Unbounded: the test reads everything published.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sub = crate::Subscription { patterns: vec!["*".into()], ..Default::default() };
        let listener = redis.driver();
        let _h = listener.subscribe(sub, tx);
        let emitter = Emitter::new(redis.driver());
        emitter
            .to("room1")
            .emit("hello", "world")
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(got) = rx.recv().await else { panic!("nothing published") };
        assert_eq!(got.channel, "socket.io#/#room1#");
        // V2 of the wire-format notes.
        assert_eq!(
            hex(&got.payload),
            "93a7656d697474657283a47479706502a46461746192a568656c6c6fa5776f726c64a36e7370a12f83a5726f6f6d7391a5726f6f6d31a5666c61677380a665786365707490"
        );
        assert!(matches!(emitter.emit("connect", &1), Err(EmitterError::Reserved(_))));
        assert!(emitter.of("admin").sockets_join(&["x"]).is_ok());
        let Some(got) = rx.recv().await else { panic!("nothing published") };
        assert_eq!(got.channel, "socket.io-request#/admin#");
        assert_eq!(
            std::str::from_utf8(&got.payload).ok(),
            Some(r#"{"type":2,"opts":{"rooms":[],"except":[]},"rooms":["x"]}"#)
        );
    }
}

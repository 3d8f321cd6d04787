//! Events received from the server, and the acknowledgements sent back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_proto::Str;
use switchboard_proto::socket::Payload;
use tokio::sync::mpsc;

use crate::Error;
use crate::manager::Cmd;

/// An event sent by the server to a socket.
///
/// ```
/// # use switchboard_client::Event;
/// fn on_chat(event: Event) {
///     let (user, text): (String, String) = event.args().unwrap_or_default();
///     println!("{user}: {text}");
///     // Answers the server's ack callback, if it asked for one.
///     let _ = event.ack(&("received",));
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) name: Str,
    pub(crate) payload: Payload,
    pub(crate) ack: Option<AckSender>,
}

impl Event {
    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw arguments (JSON values; binary ones are placeholders, see [`Event::binary`]).
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// All the arguments deserialized at once, as a tuple or a `Vec`.
    ///
    /// With connection state recovery on, the server appends the packet's offset as a last
    /// string argument, as the JS client sees it too.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Array(self.payload.args().to_vec()))
    }

    /// The first argument deserialized.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.payload.args().first().unwrap_or(&Value::Null))
    }

    /// The bytes of argument `index`, if it is binary.
    pub fn binary(&self, index: usize) -> Option<&Bytes> {
        self.payload.args().get(index).and_then(|v| self.payload.binary(v))
    }

    /// Whether the server asked for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Answers the server's acknowledgement with `args` (a tuple or `Vec` of arguments).
    /// Does nothing if none was asked for or one was already sent.
    pub fn ack<T: Serialize + ?Sized>(&self, args: &T) -> Result<(), Error> {
        self.ack_payload(Payload::spread(args).map_err(Error::Serialize)?)
    }

    /// Answers the server's acknowledgement with a prepared payload (binary included).
    pub fn ack_payload(&self, payload: Payload) -> Result<(), Error> {
        match &self.ack {
            Some(ack) => ack.send(payload),
            None => Ok(()),
        }
    }
}

/// Sends the answer to one acknowledgement the server asked for, once.
#[derive(Debug, Clone)]
pub(crate) struct AckSender {
    pub(crate) ns: Str,
    pub(crate) id: u64,
    pub(crate) cmds: mpsc::UnboundedSender<Cmd>,
    /// Set by the first answer: the event is cloned for every handler, and only one answer
    /// may go out, as in the JS client.
    pub(crate) sent: Arc<AtomicBool>,
}

impl AckSender {
    fn send(&self, payload: Payload) -> Result<(), Error> {
        if self.sent.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let cmd = Cmd::Ack { ns: self.ns.clone(), id: self.id, payload };
        self.cmds.send(cmd).map_err(|_| Error::Closed)
    }
}

//! The JSON body of the `open` packet.

use serde::{Deserialize, Serialize};

/// The handshake the server sends in the `open` packet.
///
/// It serializes to exactly the five keys of the specification, in this order:
/// `sid`, `upgrades`, `pingInterval`, `pingTimeout`, `maxPayload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The session id.
    pub sid: String,
    /// The transports the client may upgrade to (`["websocket"]` on polling, `[]` otherwise).
    pub upgrades: Vec<String>,
    /// Milliseconds between two pings.
    pub ping_interval: u64,
    /// Milliseconds the client has to answer a ping.
    pub ping_timeout: u64,
    /// The largest payload, in bytes, the server accepts.
    pub max_payload: u64,
}

impl Handshake {
    /// The JSON text of the handshake.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_exactly_the_spec_keys_in_order() {
        let h = Handshake {
            sid: "lv_VI97HAXpY6yYWAAAC".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        };
        assert_eq!(
            h.to_json(),
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        let back: Handshake = serde_json::from_str(&h.to_json()).ok().unwrap_or(Handshake {
            sid: String::new(),
            upgrades: vec![],
            ping_interval: 0,
            ping_timeout: 0,
            max_payload: 0,
        });
        assert_eq!(back, h);
    }
}

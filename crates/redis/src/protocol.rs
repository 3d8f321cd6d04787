//! The classic `@socket.io/redis-adapter` protocol: channels, request types, and the shapes
//! of packets and broadcast options on the wire.

use std::collections::HashSet;
use std::time::Duration;

use rand::Rng as _;
use rmpv::Value as Mp;
use switchboard_adapter::{BroadcastFlags, BroadcastOptions, Room};
use switchboard_proto::socket::{EventName, Packet, PacketData};

use crate::driver::glob_escape;
use crate::value::{get, map, mp_to_payload, payload_to_mp};

/// The most rooms (targets plus exceptions) accepted in one message from Redis.
pub(crate) const MAX_ROOMS: usize = 10_000;

/// The request types of the classic adapter (its `RequestType` enum).
pub(crate) mod kind {
    pub(crate) const SOCKETS: u64 = 0;
    pub(crate) const ALL_ROOMS: u64 = 1;
    pub(crate) const REMOTE_JOIN: u64 = 2;
    pub(crate) const REMOTE_LEAVE: u64 = 3;
    pub(crate) const REMOTE_DISCONNECT: u64 = 4;
    pub(crate) const REMOTE_FETCH: u64 = 5;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 6;
    pub(crate) const BROADCAST: u64 = 7;
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub(crate) const BROADCAST_ACK: u64 = 9;
}

/// The Redis channels of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channels {
    /// `<key>#<nsp>#`: broadcasts to everyone or several rooms.
    pub(crate) base: String,
    /// `<key>-request#<nsp>#`.
    pub(crate) request: String,
    /// `<key>-response#<nsp>#`.
    pub(crate) response: String,
    /// `<key>-response#<nsp>#<uid>#`.
    pub(crate) specific: String,
    /// `<key>#<nsp>#*`, with glob characters of the namespace escaped.
    pub(crate) pattern: String,
}

impl Channels {
    pub(crate) fn new(key: &str, nsp: &str, uid: &str) -> Self {
        Channels {
            base: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            response: format!("{key}-response#{nsp}#"),
            specific: format!("{key}-response#{nsp}#{uid}#"),
            pattern: format!("{}#{}#*", glob_escape(key), glob_escape(nsp)),
        }
    }

    /// Where a broadcast to `opts.rooms` goes: the room's channel for exactly one room.
    pub(crate) fn broadcast(&self, opts: &BroadcastOptions) -> String {
        match (opts.rooms.len(), opts.rooms.iter().next()) {
            (1, Some(room)) => format!("{}{room}#", self.base),
            _ => self.base.clone(),
        }
    }
}

/// A random id of 6 characters from `[A-Za-z0-9]`, as Node's `uid2(6)`.
pub(crate) fn uid() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// An event packet as Node encodes it: `{type: 2, data: [event, ...args], nsp}`. `None` for
/// other packet types, which are never broadcast.
pub(crate) fn packet_to_mp(packet: &Packet) -> Option<Mp> {
    let PacketData::Event { event, payload, .. } = &packet.data else { return None };
    let mut data = Vec::with_capacity(payload.args().len() + 1);
    data.push(Mp::from(event.as_str()));
    data.extend(payload_to_mp(payload));
    Some(map(vec![
        ("type", Mp::from(2)),
        ("data", Mp::Array(data)),
        ("nsp", Mp::from(packet.ns.as_str())),
    ]))
}

/// An event packet of the `ClusterAdapter` protocol (its namespace travels in the envelope).
pub(crate) fn cluster_packet(value: &Mp, nsp: &str) -> Option<Packet> {
    if !matches!(get(value, "type").and_then(Mp::as_u64), Some(2 | 5)) {
        return None;
    }
    event_packet(nsp, get(value, "data")?)
}

/// `[event, ...args]` as an event packet of namespace `nsp`.
pub(crate) fn event_packet(nsp: &str, data: &Mp) -> Option<Packet> {
    let (name, args) = data.as_array()?.split_first()?;
    let event = EventName::new(name.as_str()?.to_owned()).ok()?;
    Some(Packet::event(nsp.to_owned(), event, mp_to_payload(args)))
}

/// A packet from the wire, for namespace `nsp`: an event (type 2, or 5 from old encoders)
/// whose `nsp` (default `/`) is `nsp`.
pub(crate) fn packet_from_mp(value: &Mp, nsp: &str) -> Option<Packet> {
    let kind = get(value, "type").and_then(Mp::as_u64);
    if !matches!(kind, Some(2 | 5)) {
        return None;
    }
    let packet_nsp = match get(value, "nsp") {
        None | Some(Mp::Nil) => "/",
        Some(v) => v.as_str()?,
    };
    if packet_nsp != nsp {
        return None;
    }
    event_packet(nsp, get(value, "data")?)
}

fn rooms_to_mp(rooms: &HashSet<Room>) -> Mp {
    Mp::Array(rooms.iter().map(|r| Mp::from(r.as_str())).collect())
}

/// `{rooms, except, flags}` (Node's order); flags carry only what differs from the defaults.
pub(crate) fn opts_to_mp(opts: &BroadcastOptions) -> Mp {
    map(vec![
        ("rooms", rooms_to_mp(&opts.rooms)),
        ("except", rooms_to_mp(&opts.except)),
        ("flags", flags_to_mp(&opts.flags)),
    ])
}

pub(crate) fn flags_to_mp(flags: &BroadcastFlags) -> Mp {
    let mut entries = Vec::new();
    if flags.volatile {
        entries.push(("volatile", Mp::Boolean(true)));
    }
    if !flags.compress {
        entries.push(("compress", Mp::Boolean(false)));
    }
    if let Some(t) = flags.timeout {
        entries.push(("timeout", Mp::from(u64::try_from(t.as_millis()).unwrap_or(u64::MAX))));
    }
    map(entries)
}

/// A room name from the wire: a string, or a number (Node allows numeric rooms).
fn room(value: &Mp) -> Option<Room> {
    match value {
        Mp::String(s) => s.as_str().map(Room::from),
        Mp::Integer(i) => Some(Room::from(i.to_string().as_str())),
        Mp::F64(f) if f.fract() == 0.0 && f.is_finite() => {
            Some(Room::from(format!("{f}").as_str()))
        }
        _ => None,
    }
}

fn rooms(value: Option<&Mp>) -> Option<HashSet<Room>> {
    match value {
        None | Some(Mp::Nil) => Some(HashSet::new()),
        Some(Mp::Array(items)) if items.len() <= MAX_ROOMS => items.iter().map(room).collect(),
        Some(_) => None,
    }
}

/// Broadcast options from `{rooms, except, flags}`; missing parts are empty, unknown flags
/// ignored. `None` when malformed (a room that is not a string or number, too many rooms).
pub(crate) fn opts_from_mp(value: Option<&Mp>) -> Option<BroadcastOptions> {
    let mut opts = BroadcastOptions::new();
    let Some(value) = value.filter(|v| !v.is_nil()) else { return Some(opts) };
    value.as_map()?;
    opts.rooms = rooms(get(value, "rooms"))?;
    opts.except = rooms(get(value, "except"))?;
    if opts.rooms.len() + opts.except.len() > MAX_ROOMS {
        return None;
    }
    if let Some(flags) = get(value, "flags") {
        opts.flags.volatile = get(flags, "volatile").and_then(Mp::as_bool).unwrap_or(false);
        opts.flags.compress = get(flags, "compress").and_then(Mp::as_bool).unwrap_or(true);
        opts.flags.timeout = get(flags, "timeout")
            .and_then(|t| t.as_u64().or_else(|| t.as_f64().map(|f| f.max(0.0) as u64)))
            .map(Duration::from_millis);
    }
    Some(opts)
}

/// A list of room names (`rooms` of a join or leave request).
pub(crate) fn room_list(value: Option<&Mp>) -> Option<Vec<Room>> {
    match value? {
        Mp::Array(items) if items.len() <= MAX_ROOMS => items.iter().map(room).collect(),
        other => room(other).map(|r| vec![r]),
    }
}

#[cfg(test)]
mod tests {
    use switchboard_proto::socket::Payload;

    use super::*;
    use crate::value::{decode_msgpack, encode_msgpack};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_broadcast_encodes_as_node_does() {
        // V1 of the wire-format notes: io.to("room1").emit("hello", "world"), uid aBc123.
        let packet = Packet::event(
            "/",
            EventName::from_static("hello").unwrap_or_else(|_| unreachable!()),
            Payload::from_args(vec![serde_json::json!("world")]),
        );
        let opts = BroadcastOptions::new().to("room1");
        let Some(p) = packet_to_mp(&packet) else { panic!("not an event") };
        let message = Mp::Array(vec![Mp::from("aBc123"), p, opts_to_mp(&opts)]);
        assert_eq!(
            hex(&encode_msgpack(&message)),
            "93a661426331323383a47479706502a46461746192a568656c6c6fa5776f726c64a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380"
        );
        let channels = Channels::new("socket.io", "/", "aBc123");
        assert_eq!(channels.broadcast(&opts), "socket.io#/#room1#");
        assert_eq!(channels.broadcast(&BroadcastOptions::new()), "socket.io#/#");
        assert_eq!(channels.specific, "socket.io-response#/#aBc123#");
    }

    #[test]
    fn packets_and_options_decode_leniently_and_refuse_bad_shapes() {
        let bytes = [
            0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa4, b'd', b'a', b't', b'a', 0x92, 0xa1,
            b'e', 0xc4, 0x01, 0x07, 0xa3, b'n', b's', b'p', 0xa1, b'/',
        ];
        let Some(value) = decode_msgpack(&bytes) else { panic!("valid msgpack") };
        let packet = packet_from_mp(&value, "/");
        assert!(packet.as_ref().is_some_and(|p| p.payload().is_some_and(Payload::is_binary)));
        assert!(packet_from_mp(&value, "/chat").is_none(), "other namespace");
        let reserved =
            map(vec![("type", Mp::from(2)), ("data", Mp::Array(vec![Mp::from("connect")]))]);
        assert!(packet_from_mp(&reserved, "/").is_none(), "reserved event name");
        let opts = map(vec![
            ("rooms", Mp::Array(vec![Mp::from("a"), Mp::from(42)])),
            ("flags", map(vec![("volatile", Mp::Boolean(true)), ("timeout", Mp::from(1000))])),
        ]);
        let Some(opts) = opts_from_mp(Some(&opts)) else { panic!("valid options") };
        assert!(opts.rooms.contains(&Room::from("42")) && opts.flags.volatile);
        assert_eq!(opts.flags.timeout, Some(Duration::from_secs(1)));
        let bad = map(vec![("rooms", Mp::Array(vec![Mp::Boolean(true)]))]);
        assert!(opts_from_mp(Some(&bad)).is_none());
        let huge = map(vec![("rooms", Mp::Array(vec![Mp::from("r"); MAX_ROOMS + 1]))]);
        assert!(opts_from_mp(Some(&huge)).is_none());
        assert!(opts_from_mp(None).is_some_and(|o| o.rooms.is_empty()));
    }
}

//! The streams adapter's wire format: an entry's `data` and a stored session, as Node's
//! `@socket.io/redis-streams-adapter` writes them.

use base64::Engine as _;
use bytes::Bytes;
use rmpv::Value as Mp;

use crate::sharded::mt;
use crate::value::{self, Binary, encode_msgpack, json_to_mp, mp_to_json};

/// Decodes an entry's `data` as Node does: JSON when it starts with `{`, else base64 of msgpack.
pub(crate) fn decode_data(raw: &[u8]) -> Option<Mp> {
    if raw.first() == Some(&b'{') {
        let json: serde_json::Value = serde_json::from_slice(raw).ok()?;
        return Some(json_to_mp(&json, &[]));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    value::decode_msgpack(&bytes)
}

fn has_binary(value: &Mp) -> bool {
    match value {
        Mp::Binary(_) => true,
        Mp::Array(items) => items.iter().any(has_binary),
        Mp::Map(entries) => entries.iter().any(|(k, v)| has_binary(k) || has_binary(v)),
        _ => false,
    }
}

/// Encodes an entry's `data` as Node does: base64 of msgpack when a type that may carry
/// binary carries some, JSON otherwise.
pub(crate) fn encode_data(kind: u64, data: &Mp) -> Bytes {
    let may_have_binary = matches!(
        kind,
        mt::BROADCAST
            | mt::FETCH_SOCKETS_RESPONSE
            | mt::SERVER_SIDE_EMIT
            | mt::SERVER_SIDE_EMIT_RESPONSE
            | mt::BROADCAST_ACK
    );
    if may_have_binary && has_binary(data) {
        let text = base64::engine::general_purpose::STANDARD.encode(encode_msgpack(data));
        Bytes::from(text)
    } else {
        let json = mp_to_json(data, Binary::BufferJson, &mut Vec::new());
        Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
    }
}

/// The field that numbers a writer's entries: `<writer id>:<n>`, `n` counting from 0 in the
/// order the writer adds them. Node's adapter ignores it; Switchboard readers drop an entry
/// whose number they already passed (an entry added again after its reply was lost).
pub(crate) const SEQ_FIELD: &str = "seq";

/// Writers remembered by a [`Dedup`]; past it the one heard from least recently is forgotten.
const DEDUP_WRITERS: usize = 1024;

/// The field value of a writer's `n`th entry.
pub(crate) fn seq_value(writer: &str, n: u64) -> Bytes {
    Bytes::from(format!("{writer}:{n}"))
}

/// The writer and number of an entry, when it has a well-formed `seq` field.
pub(crate) fn seq_of(entry: &crate::driver::StreamEntry) -> Option<(&str, u64)> {
    let value = std::str::from_utf8(entry.field(SEQ_FIELD)?).ok()?;
    let (writer, n) = value.rsplit_once(':')?;
    Some((writer, n.parse().ok()?))
}

/// The first id after `id` (`ms-seq`), for a range that excludes it.
pub(crate) fn id_after(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    Some(match seq.checked_add(1) {
        Some(seq) => format!("{ms}-{seq}"),
        None => format!("{}-0", ms.checked_add(1)?),
    })
}

/// The last entry number read from each writer, to read every entry once.
#[derive(Debug, Default)]
pub(crate) struct Dedup {
    /// By writer id: the last number read, and when (a count of calls).
    last: std::collections::HashMap<String, (u64, u64)>,
    tick: u64,
}

impl Dedup {
    /// False when `entry` repeats one of its writer already read; true for a new entry and for
    /// entries without (or with a malformed) number, such as Node's.
    pub(crate) fn fresh(&mut self, entry: &crate::driver::StreamEntry) -> bool {
        let Some((writer, n)) = seq_of(entry) else { return true };
        self.tick += 1;
        if let Some((last, seen)) = self.last.get_mut(writer) {
            *seen = self.tick;
            if n <= *last {
                return false;
            }
            *last = n;
            return true;
        }
        if self.last.len() >= DEDUP_WRITERS {
            let oldest =
                self.last.iter().min_by_key(|(_, (_, seen))| *seen).map(|(w, _)| w.clone());
            if let Some(oldest) = oldest {
                self.last.remove(&oldest);
            }
        }
        self.last.insert(writer.to_owned(), (n, self.tick));
        true
    }
}

/// A session as Node's streams adapter stores it: base64 of msgpack `{sid, pid, rooms, data}`.
pub(crate) fn encode_session(session: &switchboard_adapter::Session) -> Bytes {
    let rooms = session.rooms.iter().map(|r| Mp::from(r.as_str())).collect();
    let data = if session.data.is_null() { serde_json::json!({}) } else { session.data.clone() };
    let value = crate::value::map(vec![
        ("sid", Mp::from(session.sid.as_str())),
        ("pid", Mp::from(session.pid.as_str())),
        ("rooms", Mp::Array(rooms)),
        ("data", json_to_mp(&data, &[])),
    ]);
    Bytes::from(base64::engine::general_purpose::STANDARD.encode(encode_msgpack(&value)))
}

/// A stored session, `None` when malformed.
pub(crate) fn decode_session(raw: &[u8]) -> Option<switchboard_adapter::Session> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let value = value::decode_msgpack(&bytes)?;
    let text = |k| value::get(&value, k).and_then(Mp::as_str);
    let rooms = crate::protocol::room_list(value::get(&value, "rooms"))?;
    let data = value::get(&value, "data")
        .map_or(serde_json::Value::Null, |d| mp_to_json(d, Binary::BufferJson, &mut Vec::new()));
    Some(switchboard_adapter::Session::new(
        switchboard_adapter::SocketId::from(text("sid")?),
        text("pid")?,
        rooms,
        data,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sharded::mt;

    #[test]
    fn entries_and_sessions_encode_as_node_does() {
        // V6 of the wire-format notes: a binary broadcast to all.
        let packet = crate::value::map(vec![
            ("type", Mp::from(2)),
            ("data", Mp::Array(vec![Mp::from("file"), Mp::Binary(vec![1, 2, 3])])),
        ]);
        let opts = crate::value::map(vec![
            ("rooms", Mp::Array(vec![])),
            ("except", Mp::Array(vec![])),
            ("flags", Mp::Map(vec![])),
        ]);
        let data = crate::value::map(vec![("packet", packet), ("opts", opts)]);
        assert_eq!(
            encode_data(mt::BROADCAST, &data),
            "gqZwYWNrZXSCpHR5cGUCpGRhdGGSpGZpbGXEAwECA6RvcHRzg6Vyb29tc5CmZXhjZXB0kKVmbGFnc4A="
        );
        assert_eq!(decode_data(&encode_data(mt::BROADCAST, &data)), Some(data));
        let plain = crate::value::map(vec![("requestId", Mp::from("a1"))]);
        assert_eq!(encode_data(mt::FETCH_SOCKETS, &plain), r#"{"requestId":"a1"}"#);
        assert!(decode_data(b"{not json").is_none() && decode_data(b"!!").is_none());

        // V7: a session.
        let session = switchboard_adapter::Session::new(
            "Vd7yYs2Ow3Sp0tW0AAAB".into(),
            "kP3mZ8qR2tYw9xLc4vBn",
            vec!["Vd7yYs2Ow3Sp0tW0AAAB".into(), "room1".into()],
            serde_json::json!({}),
        );
        let encoded = encode_session(&session);
        assert_eq!(
            encoded,
            "hKNzaWS0VmQ3eVlzMk93M1NwMHRXMEFBQUKjcGlktGtQM21aOHFSMnRZdzl4TGM0dkJupXJvb21zkrRWZDd5WXMyT3czU3AwdFcwQUFBQqVyb29tMaRkYXRhgA=="
        );
        assert_eq!(decode_session(&encoded), Some(session));
        assert!(decode_session(b"AAAA").is_none());
    }

    #[test]
    fn entries_are_read_once_per_writer_number() {
        let entry = |seq: Option<&str>| crate::driver::StreamEntry {
            id: "1-0".to_owned(),
            fields: seq
                .map(|s| (SEQ_FIELD.to_owned(), Bytes::from(s.to_owned())))
                .into_iter()
                .collect(),
        };
        let mut dedup = Dedup::default();
        let read: Vec<bool> = ["w:0", "w:1", "v:0", "w:0", "w:1", "w:2", "v:0", "w:2"]
            .iter()
            .map(|s| dedup.fresh(&entry(Some(s))))
            .collect();
        assert_eq!(read, [true, true, true, false, false, true, false, false]);
        for odd in [None, Some("w"), Some("w:x"), Some("")] {
            assert!(
                dedup.fresh(&entry(odd)) && dedup.fresh(&entry(odd)),
                "{odd:?} is not numbered"
            );
        }
        assert_eq!(seq_value("ab", 7), "ab:7");
        assert_eq!(id_after("5-1").as_deref(), Some("5-2"));
        assert_eq!(id_after(&format!("5-{}", u64::MAX)).as_deref(), Some("6-0"));
        assert!(id_after("5").is_none() && id_after("x-1").is_none());
        for w in 0..DEDUP_WRITERS + 5 {
            assert!(dedup.fresh(&entry(Some(&format!("x{w}:0")))));
        }
        assert!(dedup.last.len() <= DEDUP_WRITERS);
        assert!(!dedup.fresh(&entry(Some(&format!("x{}:0", DEDUP_WRITERS + 4)))), "recent kept");
    }
}

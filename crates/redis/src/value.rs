//! Conversions between MessagePack values (what Node's adapters put on Redis) and the JSON
//! arguments plus binary attachments of a Socket.IO [`Payload`].

use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};
use switchboard_proto::socket::{Payload, placeholder, placeholder_num};

/// The deepest value accepted from Redis (msgpack nesting); deeper input is malformed.
const MAX_DEPTH: usize = 128;

/// Decodes a message body as Node's adapter does: JSON when it starts with `{`, msgpack
/// otherwise. `None` when it is neither.
pub(crate) fn decode(bytes: &[u8]) -> Option<Mp> {
    if bytes.first() == Some(&b'{') {
        let json: Value = serde_json::from_slice(bytes).ok()?;
        Some(json_to_mp(&json, &[]))
    } else {
        decode_msgpack(bytes)
    }
}

/// Decodes a msgpack body; trailing bytes make it malformed.
pub(crate) fn decode_msgpack(bytes: &[u8]) -> Option<Mp> {
    let mut rd = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH).ok()?;
    rd.is_empty().then_some(value)
}

/// Encodes a msgpack value.
pub(crate) fn encode_msgpack(value: &Mp) -> Bytes {
    let mut out = Vec::with_capacity(64);
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, value);
    Bytes::from(out)
}

/// A JSON value as msgpack, with placeholders replaced by their attachment as `bin`.
pub(crate) fn json_to_mp(value: &Value, attachments: &[Bytes]) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else {
                Mp::F64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => {
            Mp::Array(items.iter().map(|v| json_to_mp(v, attachments)).collect())
        }
        Value::Object(map) => match placeholder_num(value) {
            Some(n) if !attachments.is_empty() => {
                attachments.get(n).map_or(Mp::Nil, |b| Mp::Binary(b.to_vec()))
            }
            _ => Mp::Map(
                map.iter()
                    .map(|(k, v)| (Mp::from(k.as_str()), json_to_mp(v, attachments)))
                    .collect(),
            ),
        },
    }
}

/// How `bin` values become JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binary {
    /// As placeholders plus attachments (packets sent to clients).
    Attach,
    /// As Node's `Buffer.toJSON()`, `{"type":"Buffer","data":[..]}` (JSON-only places).
    BufferJson,
}

/// A msgpack value as JSON; `bin` values become attachments (or Buffer JSON), timestamps
/// (ext −1, Node's `Date`) their ISO-8601 text as `Date.toJSON()` gives, other extensions null.
pub(crate) fn mp_to_json(value: &Mp, binary: Binary, attachments: &mut Vec<Bytes>) -> Value {
    match value {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(i) => {
            i.as_i64().map(Value::from).or_else(|| i.as_u64().map(Value::from)).unwrap_or_default()
        }
        Mp::F32(f) => Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number),
        Mp::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Mp::String(s) => match s.as_str() {
            Some(text) => Value::String(text.to_owned()),
            None => Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        },
        Mp::Binary(bytes) => match binary {
            Binary::Attach => {
                attachments.push(Bytes::copy_from_slice(bytes));
                placeholder(attachments.len() - 1)
            }
            Binary::BufferJson => {
                serde_json::json!({"type": "Buffer", "data": bytes})
            }
        },
        Mp::Array(items) => {
            Value::Array(items.iter().map(|v| mp_to_json(v, binary, attachments)).collect())
        }
        Mp::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    Mp::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    other => mp_to_json(other, Binary::BufferJson, &mut Vec::new()).to_string(),
                };
                map.insert(key, mp_to_json(v, binary, attachments));
            }
            Value::Object(map)
        }
        Mp::Ext(-1, data) => timestamp(data).map_or(Value::Null, Value::String),
        Mp::Ext(..) => Value::Null,
    }
}

/// A payload's arguments as msgpack values (binary attachments inline as `bin`).
pub(crate) fn payload_to_mp(payload: &Payload) -> Vec<Mp> {
    payload.args().iter().map(|v| json_to_mp(v, payload.attachments())).collect()
}

/// A payload's arguments as plain JSON (attachments as Node's Buffer JSON), for the
/// JSON-encoded requests.
pub(crate) fn payload_to_json(payload: &Payload) -> Vec<Value> {
    payload_to_mp(payload)
        .iter()
        .map(|v| mp_to_json(v, Binary::BufferJson, &mut Vec::new()))
        .collect()
}

/// Msgpack arguments as a payload.
pub(crate) fn mp_to_payload(args: &[Mp]) -> Payload {
    let mut attachments = Vec::new();
    let json = args.iter().map(|v| mp_to_json(v, Binary::Attach, &mut attachments)).collect();
    Payload::from_parts(json, attachments)
}

/// The value of `key` in a msgpack map.
pub(crate) fn get<'a>(map: &'a Mp, key: &str) -> Option<&'a Mp> {
    map.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
}

/// A msgpack map from string keys.
pub(crate) fn map(entries: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(entries.into_iter().map(|(k, v)| (Mp::from(k), v)).collect())
}

/// The ISO-8601 text of a msgpack timestamp (32, 64 or 96 bits), in milliseconds, as
/// JavaScript's `Date.prototype.toJSON`.
fn timestamp(data: &[u8]) -> Option<String> {
    let (secs, nanos): (i64, u32) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let v = u64::from_be_bytes(data.try_into().ok()?);
            (i64::try_from(v & 0x3_ffff_ffff).ok()?, u32::try_from(v >> 34).ok()?)
        }
        12 => {
            let nanos = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
            (i64::from_be_bytes(data.get(4..)?.try_into().ok()?), nanos)
        }
        _ => return None,
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        nanos / 1_000_000
    ))
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_and_binary_round_trip_through_msgpack() {
        let mut payload = Payload::from_args(vec![json!({"a": [1, -2, 1.5, null, "x"]})]);
        payload.push_binary(vec![1u8, 2, 3]);
        let mp = payload_to_mp(&payload);
        assert_eq!(mp.get(1), Some(&Mp::Binary(vec![1, 2, 3])));
        let back = mp_to_payload(&mp);
        assert_eq!(back, payload);
        assert_eq!(payload_to_json(&payload)[1], json!({"type": "Buffer", "data": [1, 2, 3]}));
    }

    #[test]
    fn dates_become_iso_text_and_bad_bodies_are_refused() {
        // 2026-06-30T10:00:00.000Z as a 64-bit timestamp (0 ns).
        let secs: u64 = 1_782_813_600;
        let ext = Mp::Ext(-1, secs.to_be_bytes().to_vec());
        assert_eq!(
            mp_to_json(&ext, Binary::Attach, &mut Vec::new()),
            json!("2026-06-30T10:00:00.000Z")
        );
        let ext96 = Mp::Ext(-1, [&500_000_000u32.to_be_bytes()[..], &0i64.to_be_bytes()].concat());
        assert_eq!(
            mp_to_json(&ext96, Binary::Attach, &mut Vec::new()),
            json!("1970-01-01T00:00:00.500Z")
        );
        assert_eq!(mp_to_json(&Mp::Ext(3, vec![1]), Binary::Attach, &mut Vec::new()), Value::Null);
        assert!(decode(b"{not json").is_none());
        assert!(decode(&[0x93, 0x01]).is_none(), "truncated array");
        assert!(decode(&[0x01, 0x02]).is_none(), "trailing bytes");
        let deep: Vec<u8> = std::iter::repeat_n(0x91u8, 1000).chain([0x01]).collect();
        assert!(decode(&deep).is_none(), "too deep");
        assert_eq!(decode(br#"{"a":1}"#).and_then(|v| get(&v, "a").and_then(Mp::as_u64)), Some(1));
    }
}

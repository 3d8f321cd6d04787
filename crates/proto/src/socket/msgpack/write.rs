//! Writing packets as the npm `socket.io-msgpack-parser` does: the whole packet object
//! `{type, data, nsp, id}` in one msgpack value, binary values inline as msgpack `bin`.

use rmp::encode::{self as enc, ByteBuf};
use serde_json::Value;

use crate::socket::{Packet, PacketData, Payload};

/// Encodes `packet` as one msgpack map.
pub(super) fn packet(packet: &Packet) -> Vec<u8> {
    let mut out = ByteBuf::with_capacity(32);
    let (data, id) = match &packet.data {
        PacketData::Connect(v) => (v.as_ref().map(Data::Value), None),
        PacketData::Disconnect => (None, None),
        PacketData::Event { event, payload, ack } => (Some(Data::Event(event, payload)), *ack),
        PacketData::Ack { payload, ack } => (Some(Data::Args(payload)), Some(*ack)),
        PacketData::ConnectError(v) => (Some(Data::Value(v)), None),
    };
    let len = 2 + u32::from(data.is_some()) + u32::from(id.is_some());
    // Writing to a growable buffer cannot fail (its error type is `Infallible`).
    let _ = enc::write_map_len(&mut out, len);
    let _ = enc::write_str(&mut out, "type");
    let _ = enc::write_uint(&mut out, wire_type(packet));
    if let Some(data) = data {
        let _ = enc::write_str(&mut out, "data");
        match data {
            Data::Value(v) => value(&mut out, v, None),
            Data::Event(event, payload) => {
                array_len(&mut out, payload.args().len() + 1);
                let _ = enc::write_str(&mut out, event.as_str());
                args(&mut out, payload);
            }
            Data::Args(payload) => {
                array_len(&mut out, payload.args().len());
                args(&mut out, payload);
            }
        }
    }
    let _ = enc::write_str(&mut out, "nsp");
    let _ = enc::write_str(&mut out, &packet.ns);
    if let Some(id) = id {
        let _ = enc::write_str(&mut out, "id");
        let _ = enc::write_uint(&mut out, id);
    }
    out.into_vec()
}

/// What goes under `data`.
enum Data<'a> {
    Value(&'a Value),
    Event(&'a crate::socket::EventName, &'a Payload),
    Args(&'a Payload),
}

/// The msgpack parser's type: binary events and acks keep their plain types (0 to 4).
fn wire_type(packet: &Packet) -> u64 {
    match &packet.data {
        PacketData::Connect(_) => 0,
        PacketData::Disconnect => 1,
        PacketData::Event { .. } => 2,
        PacketData::Ack { .. } => 3,
        PacketData::ConnectError(_) => 4,
    }
}

fn array_len(out: &mut ByteBuf, len: usize) {
    let _ = enc::write_array_len(out, u32::try_from(len).unwrap_or(u32::MAX));
}

fn args(out: &mut ByteBuf, payload: &Payload) {
    for arg in payload.args() {
        value(out, arg, Some(payload));
    }
}

/// Writes `v`; a placeholder of `payload` is written as the bytes it stands for.
fn value(out: &mut ByteBuf, v: &Value, payload: Option<&Payload>) {
    match v {
        Value::Null => {
            let _ = enc::write_nil(out);
        }
        Value::Bool(b) => {
            let _ = enc::write_bool(out, *b);
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = enc::write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                let _ = enc::write_sint(out, i);
            } else {
                let _ = enc::write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => {
            let _ = enc::write_str(out, s);
        }
        Value::Array(items) => {
            array_len(out, items.len());
            for item in items {
                value(out, item, payload);
            }
        }
        Value::Object(map) => {
            if let Some(bytes) = payload.and_then(|p| p.binary(v)) {
                let _ = enc::write_bin(out, bytes);
                return;
            }
            let _ = enc::write_map_len(out, u32::try_from(map.len()).unwrap_or(u32::MAX));
            for (key, item) in map {
                let _ = enc::write_str(out, key);
                value(out, item, payload);
            }
        }
    }
}

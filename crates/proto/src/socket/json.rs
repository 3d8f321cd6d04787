//! The default parser's text format:
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]`.

use bytes::Bytes;

use serde::Serialize;
use serde_json::Value;

use super::event_array::{EventJson, Name};
use super::payload::{PlaceholderError, check_placeholders};
use super::{DecodeError, EventName, MAIN_NAMESPACE, Packet, PacketData, PacketType, Payload};
use crate::Str;
use crate::engine::{EncodedMessage, Message};

/// The largest ack id accepted: JavaScript's `Number.MAX_SAFE_INTEGER`, the largest id a JS peer
/// can represent exactly.
pub const MAX_ACK_ID: u64 = (1 << 53) - 1;

/// Encodes `packet` as one text message and one binary message per attachment.
pub(crate) fn encode(packet: &Packet) -> Vec<Message> {
    let (text, attachments) = encode_text(packet, Vec::with_capacity(32));
    let mut messages = Vec::with_capacity(1 + attachments.len());
    messages.push(Message::Text(text));
    messages.extend(attachments.iter().cloned().map(Message::Binary));
    messages
}

/// [`encode`], with the text already behind the Engine.IO `message` type digit: the buffer
/// the packet is written to goes to the wire as is (no copy to prepend the digit).
pub(crate) fn encode_wire(packet: &Packet) -> Vec<EncodedMessage> {
    let mut out = Vec::with_capacity(32);
    out.push(crate::engine::PacketType::Message as u8);
    let (text, attachments) = encode_text(packet, out);
    let mut messages = Vec::with_capacity(1 + attachments.len());
    match EncodedMessage::from_wire(text) {
        Ok(m) => messages.push(m),
        // Not reached: the text starts with the digit written above.
        Err(_) => return encode(packet).into_iter().map(EncodedMessage::from).collect(),
    }
    messages.extend(attachments.iter().cloned().map(EncodedMessage::binary));
    messages
}

/// The wire form of an ACK packet with one JSON argument, written straight (see
/// [`super::JsonParser::encode_ack_wire`]).
pub(crate) fn encode_ack_wire<T: Serialize + ?Sized>(
    ns: &str,
    id: u64,
    value: &T,
) -> Result<EncodedMessage, serde_json::Error> {
    let write = |out: &mut Vec<u8>| -> Result<Vec<u8>, serde_json::Error> {
        out.clear();
        out.push(crate::engine::PacketType::Message as u8);
        out.push(b'0' + PacketType::Ack as u8);
        if ns != MAIN_NAMESPACE {
            out.extend_from_slice(ns.as_bytes());
            out.push(b',');
        }
        push_number(out, id);
        out.push(b'[');
        serde_json::to_writer(&mut *out, value)?;
        out.push(b']');
        // A buffer of the exact size: its `Bytes` needs no shared header (one allocation).
        Ok(out.as_slice().to_vec())
    };
    let wire = SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut out) => {
            let wire = write(&mut out);
            if out.capacity() > MAX_SCRATCH {
                *out = Vec::new();
            }
            wire
        }
        // Only if serializing `value` encodes an ack itself: a buffer of its own.
        Err(_) => write(&mut Vec::new()),
    })?;
    // Only UTF-8 was written (ASCII digits and punctuation, the namespace, JSON).
    let text = String::from_utf8(wire).map(Str::from).unwrap_or_default();
    Ok(EncodedMessage::from_wire(text).unwrap_or_else(|_| EncodedMessage::text("")))
}

/// Appends `n` in decimal (an ack id, an attachment count).
fn push_number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The largest scratch buffer a thread keeps between encodings.
const MAX_SCRATCH: usize = 64 * 1024;

thread_local! {
    // Where `encode_ack_wire` writes a packet before copying it into a buffer of its exact
    // size. Per thread, so no lock: a packet is written and copied out in one call.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends the text form of `packet` to `out`; returns it with the packet's attachments.
fn encode_text(packet: &Packet, mut out: Vec<u8>) -> (Str, &[Bytes]) {
    let ty = packet.packet_type();
    out.push(b'0' + ty as u8);
    let attachments = packet.payload().map(Payload::attachments).unwrap_or_default();
    if !attachments.is_empty() {
        push_number(&mut out, attachments.len() as u64);
        out.push(b'-');
    }
    if packet.ns != MAIN_NAMESPACE {
        out.extend_from_slice(packet.ns.as_bytes());
        out.push(b',');
    }
    match &packet.data {
        PacketData::Connect(payload) => {
            if let Some(v) = payload {
                push_json(&mut out, v);
            }
        }
        PacketData::Disconnect => {}
        PacketData::Event { event, payload, ack } => {
            if let Some(id) = ack {
                push_number(&mut out, *id);
            }
            out.push(b'[');
            push_json(&mut out, event.as_str());
            for arg in payload.args() {
                out.push(b',');
                push_json(&mut out, arg);
            }
            out.push(b']');
        }
        PacketData::Ack { payload, ack } => {
            push_number(&mut out, *ack);
            push_json(&mut out, payload.args());
        }
        PacketData::ConnectError(v) => push_json(&mut out, v),
    }
    // Only UTF-8 was written (ASCII digits and punctuation, the namespace, JSON).
    let text = String::from_utf8(out).map(Str::from).unwrap_or_default();
    (text, attachments)
}

/// Appends the compact JSON of `value`, serialized in place.
fn push_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing JSON values and strings cannot fail (no I/O, no non-string map keys).
    let _ = serde_json::to_writer(&mut *out, value);
}

/// A decoded text packet, complete or waiting for its binary attachments.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Nothing more to wait for.
    Complete(Packet),
    /// The packet needs `expected` attachments (all still missing).
    Pending { packet: Packet, expected: usize },
}

/// Decodes the text part of a packet, checking the header, the payload's shape for the type and
/// the binary placeholders.
pub(crate) fn decode_text(
    source: &Str,
    max_attachments: usize,
    last_event: &mut Option<Box<EventName>>,
) -> Result<Decoded, DecodeError> {
    let text = source.as_str();
    let b = text.as_bytes();
    let first = *b.first().ok_or(DecodeError::Empty)?;
    let ty = PacketType::from_digit(first)
        .ok_or_else(|| DecodeError::UnknownType(text.chars().next().unwrap_or('\0')))?;
    let mut i = 1;

    let mut expected = 0usize;
    if matches!(ty, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || b.get(i) != Some(&b'-') {
            return Err(DecodeError::AttachmentCount);
        }
        let count = text.get(start..i).ok_or(DecodeError::AttachmentCount)?;
        expected = count.parse().map_err(|_| DecodeError::AttachmentCount)?;
        if expected > max_attachments {
            return Err(DecodeError::TooManyAttachments { count: expected, max: max_attachments });
        }
        i += 1;
    }

    let mut ns = Str::from_static(MAIN_NAMESPACE);
    if b.get(i) == Some(&b'/') {
        let start = i;
        while b.get(i).is_some_and(|c| *c != b',') {
            i += 1;
        }
        // Shares the message's buffer.
        ns = source.slice(start, i).ok_or(DecodeError::Namespace)?;
        if b.get(i) == Some(&b',') {
            i += 1;
        }
    }

    let start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let ack = if i > start {
        let digits = text.get(start..i).ok_or(DecodeError::AckId)?;
        let id: u64 = digits.parse().map_err(|_| DecodeError::AckId)?;
        if id > MAX_ACK_ID {
            return Err(DecodeError::AckId);
        }
        Some(id)
    } else {
        None
    };

    if ack.is_some()
        && matches!(ty, PacketType::Connect | PacketType::Disconnect | PacketType::ConnectError)
    {
        return Err(DecodeError::AckId);
    }

    let rest = text.get(i..).unwrap_or_default();
    if matches!(ty, PacketType::Event | PacketType::BinaryEvent) {
        let event = decode_event(source, rest, ty, last_event)?;
        let data = PacketData::Event { event: event.0, payload: Payload::from_args(event.1), ack };
        return finish(Packet { ns, data }, ty, expected);
    }
    let json: Option<Value> =
        if rest.is_empty() { None } else { Some(serde_json::from_str(rest)?) };

    let data = match (ty, json) {
        (PacketType::Connect, None) => PacketData::Connect(None),
        (PacketType::Connect, Some(v @ Value::Object(_))) => PacketData::Connect(Some(v)),
        (PacketType::Disconnect, None) => PacketData::Disconnect,
        (PacketType::ConnectError, Some(v @ (Value::Object(_) | Value::String(_)))) => {
            PacketData::ConnectError(v)
        }
        (PacketType::Ack | PacketType::BinaryAck, Some(Value::Array(args))) => {
            let ack = ack.ok_or(DecodeError::AckId)?;
            PacketData::Ack { payload: Payload::from_args(args), ack }
        }
        (ty, _) => return Err(DecodeError::InvalidPayload(ty)),
    };
    finish(Packet { ns, data }, ty, expected)
}

/// An event's name and arguments, from the JSON after its header (`rest`, a part of
/// `source`).
/// The longest event name a decoder keeps to share with the next event of the same name.
const MAX_KEPT_EVENT_NAME: usize = 64;

fn decode_event(
    source: &Str,
    rest: &str,
    ty: PacketType,
    last_event: &mut Option<Box<EventName>>,
) -> Result<(EventName, Vec<Value>), DecodeError> {
    if rest.is_empty() {
        return Err(DecodeError::InvalidPayload(ty));
    }
    let (name, args) = match serde_json::from_str::<EventJson<'_>>(rest)? {
        EventJson::Array { name: Some(name), args } => (name, args),
        EventJson::Array { name: None, .. } | EventJson::NotArray => {
            return Err(DecodeError::InvalidPayload(ty));
        }
    };
    let name = match name {
        Name::Borrowed(s) => {
            // The same name as the connection's previous event (the common case): shared
            // with it, no allocation, and the message's buffer is not kept alive by it.
            if let Some(last) = last_event.as_deref().filter(|last| last.as_str() == s) {
                return Ok((last.clone(), args));
            }
            // A short name is copied, to be kept for the next event.
            if s.len() <= MAX_KEPT_EVENT_NAME {
                let name = EventName::new(Str::from(s))?;
                *last_event = Some(Box::new(name.clone()));
                return Ok((name, args));
            }
            // Shares the message's buffer: `s` points into `rest`, itself a part of `source`.
            let start = (s.as_ptr() as usize).wrapping_sub(source.as_str().as_ptr() as usize);
            source.slice(start, start + s.len()).unwrap_or_else(|| Str::from(s))
        }
        Name::Owned(s) => Str::from(s),
        Name::NotString => return Err(DecodeError::EventName),
    };
    Ok((EventName::new(name)?, args))
}

/// Checks a decoded packet's binary placeholders; says whether it waits for attachments.
fn finish(packet: Packet, ty: PacketType, expected: usize) -> Result<Decoded, DecodeError> {
    let binary = matches!(ty, PacketType::BinaryEvent | PacketType::BinaryAck);
    if binary {
        let args = packet.payload().map(Payload::args).unwrap_or_default();
        check_placeholders(args, expected).map_err(|e| match e {
            PlaceholderError::Invalid => DecodeError::Placeholder,
            PlaceholderError::Count { expected, found } => {
                DecodeError::PlaceholderCount { expected, found }
            }
        })?;
    }
    if expected == 0 {
        Ok(Decoded::Complete(packet))
    } else {
        Ok(Decoded::Pending { packet, expected })
    }
}

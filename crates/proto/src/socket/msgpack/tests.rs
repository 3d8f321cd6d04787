//! Table-driven tests: bytes written by the npm `socket.io-msgpack-parser` (`notepack.io`
//! 2.2) and the packets they are, then the malformed and hostile inputs.

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::socket::placeholder;

fn hex(s: &str) -> Message {
    let bytes: Vec<u8> =
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
    Message::Binary(bytes.into())
}

fn decode(m: Message) -> Result<Packet, DecodeError> {
    MsgpackParser::default().decoder().decode(m).map(|p| p.unwrap())
}

fn event(ns: &str, name: &str, args: Vec<Value>, bins: &[&[u8]], ack: Option<u64>) -> Packet {
    let payload =
        Payload::from_parts(args, bins.iter().map(|b| Bytes::copy_from_slice(b)).collect());
    Packet {
        ns: ns.into(),
        data: PacketData::Event { event: EventName::new(name).unwrap(), payload, ack },
    }
}

/// What the official encoder writes, and the packet it is. `true`: the key order is ours too,
/// so encoding the packet gives the same bytes.
#[test]
fn official_encodings_decode() {
    let cases: Vec<(&str, &str, Packet, bool)> = vec![
        // {type: 0, data: undefined, nsp: "/"}: the client's CONNECT without auth.
        (
            "connect_no_auth",
            "83a47479706500a464617461d40000a36e7370a12f",
            Packet::connect("/", None),
            false,
        ),
        (
            "connect_auth",
            "83a47479706500a46461746181a5746f6b656ea3616263a36e7370a62f61646d696e",
            Packet::connect("/admin", Some(json!({"token": "abc"}))),
            true,
        ),
        (
            "server_connect",
            "83a47479706500a46461746181a3736964a378797aa36e7370a12f",
            Packet::connect_ok("/", "xyz"),
            true,
        ),
        ("disconnect", "82a47479706501a36e7370a12f", Packet::disconnect("/"), true),
        (
            // The client's event: `options` is ignored, the id is after it.
            "event_client",
            "85a47479706502a46461746197a2686901fdcb3ff8000000000000c0c381a161920102a76f7074696f6e7381a8636f6d7072657373c3a2696407a36e7370a12f",
            event(
                "/",
                "hi",
                vec![
                    json!(1),
                    json!(-3),
                    json!(1.5),
                    json!(null),
                    json!(true),
                    json!({"a": [1, 2]}),
                ],
                &[],
                Some(7),
            ),
            false,
        ),
        (
            "event_bin",
            "83a47479706502a46461746193a27570c40301020381a178c40104a36e7370a12f",
            event(
                "/",
                "up",
                vec![placeholder(0), json!({"x": placeholder(1)})],
                &[&[1, 2, 3], &[4]],
                None,
            ),
            true,
        ),
        (
            // A browser's ArrayBuffer: ext 8 of type 0.
            "event_ab",
            "83a47479706502a46461746192a27570c702000908a36e7370a12f",
            event("/", "up", vec![placeholder(0)], &[&[9, 8]], None),
            false,
        ),
        (
            // `undefined`: null in an array, left out of an object (as JSON.stringify).
            "event_undef",
            "83a47479706502a46461746193a175d4000082a16bd40000a16a01a36e7370a12f",
            event("/", "u", vec![json!(null), json!({"j": 1})], &[], None),
            false,
        ),
        (
            // A Date: its ISO string (as JSON.stringify).
            "event_date",
            "83a47479706502a46461746192a164d7000000018bcfe5687ba36e7370a12f",
            event("/", "d", vec![json!("2023-11-14T22:13:20.123Z")], &[], None),
            false,
        ),
        (
            "event_big",
            "83a47479706502a46461746196a16ecf0000000100000000d3ffffffff7fffffffccffd0dfce00010000a36e7370a12f",
            event(
                "/",
                "n",
                vec![
                    json!(4294967296u64),
                    json!(-2147483649i64),
                    json!(255),
                    json!(-33),
                    json!(65536),
                ],
                &[],
                None,
            ),
            true,
        ),
        (
            "ack",
            "84a47479706503a46461746191a26f6ba269640ca36e7370a72f637573746f6d",
            Packet::ack("/custom", Payload::from_args(vec![json!("ok")]), 12),
            false,
        ),
        (
            "connect_error",
            "83a47479706504a46461746181a76d657373616765a46e6f7065a36e7370a12f",
            Packet::connect_error("/", "nope", None),
            true,
        ),
    ];
    let parser = MsgpackParser::default();
    for (name, wire, packet, same_bytes) in cases {
        assert_eq!(decode(hex(wire)).unwrap(), packet, "{name}");
        let encoded = parser.encode(&packet);
        assert_eq!(encoded.len(), 1, "{name}");
        if same_bytes {
            assert_eq!(encoded[0], hex(wire), "{name}");
        }
        // Whatever the key order, our encoding decodes to the same packet.
        assert_eq!(decode(encoded[0].clone()).unwrap(), packet, "{name}");
    }
}

#[test]
fn round_trips_keep_values_and_binary_places() {
    let mut payload =
        Payload::from_args(vec![json!({"f": 0.25, "neg": -70000, "s": "ünï", "n": null})]);
    let thumb = payload.attach(vec![0u8; 300]);
    payload.push(json!({"thumb": thumb, "list": [1, [2, [3]]]}));
    payload.push_binary(Vec::<u8>::new());
    for packet in [
        Packet::event_with_ack(
            "/a",
            EventName::new("e").unwrap(),
            payload.clone(),
            9_007_199_254_740_991,
        ),
        Packet::ack("/", payload, 0),
        Packet::connect_error("/x", "no", Some(json!({"why": [1]}))),
        Packet { ns: "/".into(), data: PacketData::ConnectError(json!("old style")) },
    ] {
        let wire = MsgpackParser::default().encode(&packet).remove(0);
        assert_eq!(decode(wire).unwrap(), packet);
    }
}

/// A placeholder without its attachment is plain data and stays an object.
#[test]
fn a_placeholder_without_attachment_is_refused_on_the_way_back() {
    let packet = event("/", "e", vec![placeholder(3)], &[], None);
    let wire = MsgpackParser::default().encode(&packet).remove(0);
    assert!(matches!(decode(wire), Err(DecodeError::Msgpack(MsgpackError::PlaceholderObject))));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // ["e", [[[[...]]]]] nested 100,000 deep.
    let mut wire = hex("83a47479706502a36e7370a12fa464617461").as_bytes_vec();
    wire.extend_from_slice(&[0x92, 0xa1, b'e']);
    wire.extend(std::iter::repeat_n(0x91, 100_000));
    wire.push(0x90);
    let err = decode(Message::Binary(wire.into())).unwrap_err();
    assert!(matches!(err, DecodeError::Msgpack(MsgpackError::TooDeep { max: 128 })), "{err:?}");
    // Maps too.
    let mut wire = hex("83a47479706502a36e7370a12fa464617461").as_bytes_vec();
    wire.extend_from_slice(&[0x92, 0xa1, b'e']);
    for _ in 0..100_000 {
        wire.extend_from_slice(&[0x81, 0xa1, b'k']);
    }
    wire.push(0xc0);
    let err = decode(Message::Binary(wire.into())).unwrap_err();
    assert!(matches!(err, DecodeError::Msgpack(MsgpackError::TooDeep { .. })), "{err:?}");
    // At the limit it decodes: `data` is level 1, so with 4 levels allowed, 3 more inside.
    let strict = MsgpackParser { max_depth: 4, ..MsgpackParser::default() };
    let ok = event("/", "e", vec![json!([[[1]]])], &[], None);
    let wire = strict.encode(&ok).remove(0);
    assert_eq!(strict.decoder().decode(wire).unwrap(), Some(ok));
    let deeper = event("/", "e", vec![json!([[[[1]]]])], &[], None);
    let wire = strict.encode(&deeper).remove(0);
    assert!(matches!(
        strict.decoder().decode(wire),
        Err(DecodeError::Msgpack(MsgpackError::TooDeep { max: 4 }))
    ));
}

#[test]
fn announced_sizes_beyond_the_message_are_refused_before_allocating() {
    for tail in [
        "dd7fffffff",     // array 32 of 2^31 items
        "df7fffffff",     // map 32
        "dbffffffff61",   // str 32
        "c6ffffffff00",   // bin 32
        "c9ffffffff0000", // ext 32 (ArrayBuffer)
    ] {
        let wire = hex(&format!("83a47479706502a36e7370a12fa46461746192a165{tail}"));
        assert_eq!(decode(wire).unwrap_err().to_string(), "truncated msgpack value", "{tail}");
    }
}

#[test]
fn every_prefix_of_a_packet_is_an_error() {
    let wire = hex("83a47479706502a46461746193a27570c40301020381a178c40104a36e7370a12f");
    let Message::Binary(bytes) = wire else { unreachable!() };
    for n in 0..bytes.len() {
        assert!(decode(Message::Binary(bytes.slice(..n))).is_err(), "prefix {n}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0xc0);
    assert!(matches!(
        decode(Message::Binary(longer.into())),
        Err(DecodeError::Msgpack(MsgpackError::TrailingBytes))
    ));
}

#[test]
fn malformed_packets() {
    type Check = fn(&DecodeError) -> bool;
    let cases: Vec<(&str, Check)> = vec![
        ("92a474797065", |e| matches!(e, DecodeError::Msgpack(MsgpackError::NotAMap))),
        ("82a47479706505a36e7370a12f", |e| {
            matches!(e, DecodeError::Msgpack(MsgpackError::PacketType))
        }),
        ("82a474797065ffa36e7370a12f", |e| {
            matches!(e, DecodeError::Msgpack(MsgpackError::PacketType))
        }),
        ("81a36e7370a12f", |e| matches!(e, DecodeError::Msgpack(MsgpackError::PacketType))),
        ("81a47479706501", |e| matches!(e, DecodeError::Namespace)),
        ("82a47479706501a36e737001", |e| matches!(e, DecodeError::Namespace)),
        ("82a47479706501a36e7370a161", |e| matches!(e, DecodeError::Namespace)),
        // DISCONNECT with data.
        ("83a47479706501a36e7370a12fa46461746190", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::Disconnect))
        }),
        // CONNECT with an array, with null.
        ("83a47479706500a36e7370a12fa46461746190", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::Connect))
        }),
        ("83a47479706500a36e7370a12fa464617461c0", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::Connect))
        }),
        // EVENT: empty array, number name, reserved name, not an array.
        ("83a47479706502a36e7370a12fa46461746190", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::Event))
        }),
        ("83a47479706502a36e7370a12fa4646174619101", |e| matches!(e, DecodeError::EventName)),
        ("83a47479706502a36e7370a12fa46461746191aa646973636f6e6e656374", |e| {
            matches!(e, DecodeError::ReservedEvent(_))
        }),
        ("83a47479706502a36e7370a12fa464617461a161", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::Event))
        }),
        // ACK without id; negative id; id past 2^53 - 1; float id.
        ("83a47479706503a36e7370a12fa46461746190", |e| matches!(e, DecodeError::AckId)),
        ("84a47479706503a36e7370a12fa46461746190a26964ff", |e| matches!(e, DecodeError::AckId)),
        ("84a47479706503a36e7370a12fa46461746190a26964cf0020000000000000", |e| {
            matches!(e, DecodeError::AckId)
        }),
        ("84a47479706503a36e7370a12fa46461746190a26964cb3ff8000000000000", |e| {
            matches!(e, DecodeError::AckId)
        }),
        // CONNECT and CONNECT_ERROR with binary values.
        ("83a47479706500a36e7370a12fa46461746181a162c40101", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::Connect))
        }),
        ("83a47479706504a36e7370a12fa46461746181a162c40101", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::ConnectError))
        }),
        // CONNECT_ERROR with a number.
        ("83a47479706504a36e7370a12fa46461746101", |e| {
            matches!(e, DecodeError::InvalidPayload(PacketType::ConnectError))
        }),
        // The reserved marker; a number as map key; data twice.
        ("83a47479706502a36e7370a12fa46461746192a165c1", |e| {
            matches!(e, DecodeError::Msgpack(MsgpackError::Reserved))
        }),
        ("83a47479706502a36e7370a12fa46461746192a165810101", |e| {
            matches!(e, DecodeError::Msgpack(MsgpackError::MapKey))
        }),
        ("84a47479706502a36e7370a12fa46461746191a165a46461746191a165", |e| {
            matches!(e, DecodeError::Msgpack(MsgpackError::DuplicateData))
        }),
        // A key twice in a map (the first value's binary would be left without a place).
        ("83a47479706502a36e7370a12fa46461746193a175d4040082a16ad42600a16a01", |e| {
            matches!(e, DecodeError::Msgpack(MsgpackError::DuplicateKey))
        }),
        ("83a47479706502a36e7370a12fa46461746192a16582a16b01a16bd40000", |e| {
            matches!(e, DecodeError::Msgpack(MsgpackError::DuplicateKey))
        }),
        // A binary value as the event name: [<bin>] has no string name.
        ("83a47479706502a36e7370a12fa46461746191c40101", |e| matches!(e, DecodeError::EventName)),
        // A literal placeholder object.
        (
            "83a47479706502a36e7370a12fa46461746192a16582ac5f706c616365686f6c646572c3a36e756d00",
            |e| matches!(e, DecodeError::Msgpack(MsgpackError::PlaceholderObject)),
        ),
    ];
    for (wire, check) in cases {
        let err = decode(hex(wire)).unwrap_err();
        assert!(check(&err), "{wire}: {err:?}");
    }
    let err = decode(Message::Text("2[\"a\"]".into())).unwrap_err();
    assert!(matches!(err, DecodeError::Msgpack(MsgpackError::TextMessage)));
}

#[test]
fn whole_floats_and_other_forms_are_accepted() {
    // id 3.0 (a float64 from another encoder), float32 1.5, NaN as null, an unknown ext type
    // as [type, <binary>], a nil-free map16.
    let wire = "84a47479706503a36e7370a12fa46461746193ca3fc00000cb7ff8000000000000d5050102a26964cb4008000000000000";
    let packet = decode(hex(wire)).unwrap();
    let expected = Packet::ack(
        "/",
        Payload::from_parts(
            vec![json!(1.5), json!(null), json!([5, placeholder(0)])],
            vec![Bytes::from_static(&[1, 2])],
        ),
        3,
    );
    assert_eq!(packet, expected);
    // An id on a CONNECT is accepted and dropped, as the npm parser does not refuse it.
    assert_eq!(
        decode(hex("83a47479706500a36e7370a12fa26964cc05")).unwrap(),
        Packet::connect("/", None)
    );
}

#[test]
fn binary_values_count_against_the_attachment_limit() {
    let strict = MsgpackParser { max_attachments: 1, ..MsgpackParser::default() };
    let two = event("/", "e", vec![placeholder(0), placeholder(1)], &[b"a", b"b"], None);
    let wire = MsgpackParser::default().encode(&two).remove(0);
    let err = strict.decoder().decode(wire).unwrap_err();
    assert!(matches!(err, DecodeError::Msgpack(MsgpackError::TooManyBinaries { max: 1 })));
    // Binary values outside `data` are ignored, and are not counted.
    let wire = "84a47479706502a36e7370a12fa46461746191a165a178c40101";
    assert_eq!(
        strict.decoder().decode(hex(wire)).unwrap(),
        Some(event("/", "e", vec![], &[], None))
    );
}

trait AsBytesVec {
    fn as_bytes_vec(&self) -> Vec<u8>;
}

impl AsBytesVec for Message {
    fn as_bytes_vec(&self) -> Vec<u8> {
        match self {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => t.as_bytes().to_vec(),
        }
    }
}

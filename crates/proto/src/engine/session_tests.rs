//! Table-driven tests of every session transition, with injected time (pingInterval 300 ms,
//! pingTimeout 200 ms, upgradeTimeout 1000 ms, closeTimeout 400 ms, as the protocol test server).

use std::time::{Duration, Instant};

use super::*;
use crate::Str;
use crate::engine::payload;

/// One step of a scenario: an input at `t` ms after the handshake, or an expectation.
#[derive(Debug)]
enum Step {
    /// `handle_packet` with a polling-encoded packet.
    Recv(u64, &'static str),
    /// `handle_probe_packet`.
    Probe(u64, &'static str),
    ProbeOpen(u64, Result<(), SessionError>),
    ProbeClose(u64),
    Get(u64, Result<(), SessionError>),
    PollDropped(u64),
    TransportClose(u64, CloseReason),
    Close(u64, CloseReason),
    Queue(&'static str),
    Timeout(u64),
    /// Exactly these transmits (polling payloads are written in the wire format).
    Sent(&'static [Tx]),
    /// Exactly these events.
    Events(&'static [Ev]),
    /// The next deadline, in ms.
    Next(Option<u64>),
    Is(State),
}

#[derive(Debug)]
enum Tx {
    Poll(&'static str),
    Ws(&'static str),
    Probe(&'static str),
}

#[derive(Debug)]
enum Ev {
    Msg(&'static str),
    Upgraded,
    ProbeClosed,
    Closed(CloseReason),
}

use CloseReason as R;
use Step::*;

#[path = "session/upgrade_tests.rs"]
mod upgrade;

const HS: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;

fn packet(wire: &str) -> Packet {
    let decoded = Packet::decode_polling(Str::from(wire));
    decoded.unwrap_or_else(|e| panic!("bad test packet {wire:?}: {e}"))
}

fn handshake() -> Handshake {
    match packet(HS) {
        Packet::Open(h) => h,
        other => panic!("not an open packet: {other:?}"),
    }
}

fn run(name: &str, transport: Transport, steps: &[Step]) {
    run_with(name, transport, Protocol::V4, steps);
}

fn run_with(name: &str, transport: Transport, protocol: Protocol, steps: &[Step]) {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let config = SessionConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        upgrade_timeout: Duration::from_millis(1000),
        close_timeout: Duration::from_millis(400),
        close_notice_timeout: Duration::from_millis(100),
        protocol,
    };
    let mut s = Session::new(config, handshake(), transport, t0);
    for (i, step) in steps.iter().enumerate() {
        let ctx = format!("{name}: step {i} {step:?}");
        match step {
            Recv(t, w) => s.handle_packet(packet(w), at(*t)),
            Probe(t, w) => s.handle_probe_packet(packet(w), at(*t)),
            ProbeOpen(t, want) => assert_eq!(s.handle_probe_open(at(*t)), *want, "{ctx}"),
            ProbeClose(t) => s.handle_probe_close(at(*t)),
            Get(t, want) => assert_eq!(s.handle_poll(at(*t)), *want, "{ctx}"),
            PollDropped(t) => s.handle_poll_dropped(at(*t)),
            TransportClose(t, r) => s.handle_transport_close(*r, at(*t)),
            Close(t, r) => s.close(*r, at(*t)),
            Queue(text) => {
                let m = match packet(text) {
                    crate::engine::Packet::Message(m) => m,
                    other => panic!("{ctx}: not a message {other:?}"),
                };
                assert_eq!(s.send(m), Ok(()), "{ctx}");
            }
            Timeout(t) => s.handle_timeout(at(*t)),
            Sent(want) => {
                let got: Vec<Transmit> = std::iter::from_fn(|| s.poll_transmit()).collect();
                let want: Vec<Transmit> = want
                    .iter()
                    .map(|t| match t {
                        Tx::Poll(p) => Transmit::Poll(
                            payload::decode(p.as_bytes(), usize::MAX)
                                .unwrap_or_else(|e| panic!("{ctx}: {e}")),
                        ),
                        Tx::Ws(p) => Transmit::WebSocket(packet(p)),
                        Tx::Probe(p) => Transmit::Probe(packet(p)),
                    })
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            Events(want) => {
                let got: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
                let want: Vec<Event> = want
                    .iter()
                    .map(|e| match e {
                        Ev::Msg(p) => match packet(p) {
                            crate::engine::Packet::Message(m) => Event::Message(m),
                            other => panic!("{ctx}: not a message {other:?}"),
                        },
                        Ev::Upgraded => Event::Upgraded,
                        Ev::ProbeClosed => Event::ProbeClosed,
                        Ev::Closed(r) => Event::Closed(*r),
                    })
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            Next(want) => assert_eq!(s.poll_timeout(), want.map(at), "{ctx}"),
            Is(want) => assert_eq!(s.state(), *want, "{ctx}"),
        }
    }
}

#[test]
fn polling_transitions() {
    use Transport::Polling as P;
    let cases: &[(&str, &[Step])] = &[
        (
            "handshake answers the first GET with the open packet",
            &[Get(0, Ok(())), Sent(&[Tx::Poll(HS)]), Next(Some(300)), Is(super::State::Open)],
        ),
        (
            "messages posted are events in order; sends are one payload",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Recv(10, "4hello"),
                Recv(10, "bAQIDBA=="),
                Events(&[Ev::Msg("4hello"), Ev::Msg("bAQIDBA==")]),
                Queue("4test1"),
                Queue("4test2"),
                Queue("4test3"),
                Sent(&[]),
                Get(20, Ok(())),
                Sent(&[Tx::Poll("4test1\x1e4test2\x1e4test3")]),
            ],
        ),
        (
            "a pending GET gets the ping at pingInterval; pong reschedules",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Get(1, Ok(())),
                Sent(&[]),
                Next(Some(300)),
                Timeout(299),
                Sent(&[]),
                Timeout(300),
                Sent(&[Tx::Poll("2")]),
                Next(Some(500)),
                Recv(350, "3"),
                Next(Some(650)),
                Timeout(650),
                Get(650, Ok(())),
                Sent(&[Tx::Poll("2")]),
                Next(Some(850)),
                Recv(700, "3"),
                Events(&[]),
                Is(super::State::Open),
            ],
        ),
        (
            "no pong: closed exactly at ping + pingTimeout",
            &[
                Timeout(300),
                Next(Some(500)),
                Timeout(499),
                Is(super::State::Open),
                Timeout(500),
                Is(super::State::Closed),
                Events(&[Ev::Closed(R::PingTimeout)]),
                Next(None),
                Get(501, Err(SessionError::Closed)),
            ],
        ),
        ("a stray pong does not move the ping", &[Recv(100, "3"), Next(Some(300))]),
        (
            "client close packet: pending GET gets a noop",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Get(1, Ok(())),
                Recv(5, "1"),
                Sent(&[Tx::Poll("6")]),
                Events(&[Ev::Closed(R::TransportClose)]),
                Get(6, Err(SessionError::Closed)),
            ],
        ),
        (
            "overlapping GET: the pending one gets close, the session closes",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Get(1, Ok(())),
                Get(2, Err(SessionError::OverlappingPoll)),
                Sent(&[Tx::Poll("1")]),
                Events(&[Ev::Closed(R::TransportError)]),
                Is(super::State::Closed),
            ],
        ),
        (
            "a dropped pending GET closes the session",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Get(1, Ok(())),
                PollDropped(2),
                Events(&[Ev::Closed(R::TransportError)]),
            ],
        ),
        (
            "server close with a pending GET: queued packets, then close on the next GET",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Get(1, Ok(())),
                Queue("4bye"),
                Close(1, R::ForcedClose),
                Sent(&[Tx::Poll("4bye")]),
                Is(super::State::Closing),
                Events(&[]),
                Get(2, Ok(())),
                Sent(&[Tx::Poll("1")]),
                Events(&[Ev::Closed(R::ForcedClose)]),
            ],
        ),
        (
            "server close with a pending GET and nothing queued: close at once",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Get(1, Ok(())),
                Close(1, R::ServerShuttingDown),
                Sent(&[Tx::Poll("1")]),
                Events(&[Ev::Closed(R::ServerShuttingDown)]),
            ],
        ),
        (
            "server close without a GET waits for the last GET",
            &[
                Queue("4bye"),
                Close(10, R::ForcedClose),
                Is(super::State::Closing),
                Events(&[]),
                Next(Some(410)),
                Get(20, Ok(())),
                Sent(&[Tx::Poll(HS_BYE)]),
                Events(&[]),
                Get(21, Ok(())),
                Sent(&[Tx::Poll("1")]),
                Events(&[Ev::Closed(R::ForcedClose)]),
            ],
        ),
        (
            "server close without a GET gives up after closeTimeout",
            &[
                Close(10, R::ServerShuttingDown),
                Is(super::State::Closing),
                Timeout(409),
                Is(super::State::Closing),
                Timeout(410),
                Events(&[Ev::Closed(R::ServerShuttingDown)]),
                Get(411, Err(SessionError::Closed)),
            ],
        ),
        (
            "ping timeout discards the queue",
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Timeout(300),
                Queue("4late"),
                Timeout(500),
                Sent(&[]),
                Events(&[Ev::Closed(R::PingTimeout)]),
            ],
        ),
    ];
    for (name, steps) in cases {
        run(name, P, steps);
    }
}

const HS_BYE: &str = concat!(
    r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#,
    "\x1e4bye"
);

#[test]
fn websocket_transitions() {
    const WS_HS: &str = HS;
    let cases: &[(&str, &[Step])] = &[
        (
            "open, ping/pong rounds, echo",
            &[
                Sent(&[Tx::Ws(WS_HS)]),
                Timeout(300),
                Sent(&[Tx::Ws("2")]),
                Recv(320, "3"),
                Next(Some(620)),
                Timeout(620),
                Sent(&[Tx::Ws("2")]),
                Recv(640, "3"),
                Recv(641, "4hello"),
                Recv(642, "bAQIDBA=="),
                Events(&[Ev::Msg("4hello"), Ev::Msg("bAQIDBA==")]),
                Queue("bAQIDBA=="),
                Sent(&[Tx::Ws("bAQIDBA==")]),
            ],
        ),
        (
            "no pong closes at 500 ms",
            &[Timeout(300), Timeout(500), Events(&[Ev::Closed(R::PingTimeout)]), Sent(&[])],
        ),
        (
            "close packet",
            &[Recv(10, "1"), Events(&[Ev::Closed(R::TransportClose)]), Is(super::State::Closed)],
        ),
        (
            "the WebSocket failing closes the session",
            &[
                TransportClose(10, R::TransportError),
                Events(&[Ev::Closed(R::TransportError)]),
                Sent(&[]),
            ],
        ),
        (
            "a forced close flushes the queue first",
            &[
                Sent(&[Tx::Ws(WS_HS)]),
                Queue("4bye"),
                Close(10, R::ForcedClose),
                Events(&[Ev::Closed(R::ForcedClose)]),
                Sent(&[Tx::Ws("4bye")]),
                Recv(11, "4ignored"),
                Events(&[]),
            ],
        ),
        (
            "GET on a WebSocket session is refused; probe too",
            &[
                Get(10, Err(SessionError::WrongTransport)),
                ProbeOpen(11, Err(SessionError::UpgradeRefused)),
            ],
        ),
    ];
    for (name, steps) in cases {
        run(name, Transport::WebSocket, steps);
    }
}

#[test]
fn send_after_close_fails() {
    let mut s =
        Session::new(SessionConfig::default(), handshake(), Transport::WebSocket, Instant::now());
    s.close(CloseReason::ForcedClose, Instant::now());
    assert_eq!(s.send(Message::Text("x".into())), Err(SessionError::Closed));
    assert!(s.is_closed());
    assert_eq!(s.transport(), Transport::WebSocket);
    assert_eq!(s.buffered(), 1);
}

#[test]
fn late_ping_does_not_extend_the_pong_deadline() {
    run(
        "ping handled 30 ms late still closes at 500 ms",
        Transport::WebSocket,
        &[
            Timeout(330),
            Sent(&[Tx::Ws(HS), Tx::Ws("2")]),
            Next(Some(500)),
            Timeout(500),
            Events(&[Ev::Closed(R::PingTimeout)]),
        ],
    );
}

#[test]
fn unrepresentable_timeouts_mean_never() {
    let now = Instant::now();
    let config = SessionConfig {
        ping_interval: Duration::MAX,
        upgrade_timeout: Duration::MAX,
        close_timeout: Duration::MAX,
        close_notice_timeout: Duration::MAX,
        protocol: Protocol::V4,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, handshake(), Transport::Polling, now);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_probe_open(now), Ok(()));
    assert_eq!(s.poll_timeout(), None);
    s.handle_probe_close(now);
    s.close(CloseReason::ForcedClose, now);
    assert_eq!(s.state(), State::Closing);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_poll(now), Ok(())); // the handshake, still queued
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.handle_poll(now), Ok(())); // the close packet
    assert_eq!(s.poll_event(), Some(Event::Closed(CloseReason::ForcedClose)));
}

#[test]
fn encoded_messages_keep_their_place_among_packets() {
    let now = Instant::now();
    let wire = EncodedMessage::from_wire(Str::from("4shared")).unwrap();
    // WebSocket: handed back as is, in order with the other packets.
    let mut s = Session::new(SessionConfig::default(), handshake(), Transport::WebSocket, now);
    assert_eq!(s.send(Message::Text("a".into())), Ok(()));
    assert_eq!(s.send_encoded(wire.clone()), Ok(()));
    assert_eq!(s.buffered(), 3);
    assert_eq!(s.poll_transmit(), Some(Transmit::WebSocket(Packet::Open(handshake()))));
    assert_eq!(s.poll_transmit(), Some(Transmit::WebSocket(packet("4a"))));
    assert_eq!(s.poll_transmit(), Some(Transmit::Encoded(wire.clone())));
    assert_eq!(s.poll_transmit(), None);
    s.shrink_idle();
    assert_eq!(s.buffered(), 0);
    s.close(CloseReason::ForcedClose, now);
    assert_eq!(s.send_encoded(wire.clone()), Err(SessionError::Closed));
    // Polling: part of the payload, as a message packet.
    let mut s = Session::new(SessionConfig::default(), handshake(), Transport::Polling, now);
    assert_eq!(s.send_encoded(wire), Ok(()));
    assert_eq!(s.handle_poll(now), Ok(()));
    let Some(Transmit::Poll(packets)) = s.poll_transmit() else { panic!("no payload") };
    assert_eq!(payload::encode(&packets), format!("{HS}\x1e4shared"));
}

#[test]
fn v3_clients_ping_and_the_server_answers() {
    let cases: &[(&str, Transport, &[Step])] = &[
        (
            "the server never pings; each client ping is answered and moves the deadline",
            Transport::WebSocket,
            &[
                Sent(&[Tx::Ws(HS)]),
                Next(Some(500)),
                Timeout(300),
                Sent(&[]),
                Recv(400, "2"),
                Sent(&[Tx::Ws("3")]),
                Next(Some(900)),
                Timeout(899),
                Events(&[]),
                Recv(899, "4hi"),
                Events(&[Ev::Msg("4hi")]),
                Next(Some(900)),
            ],
        ),
        (
            "no ping for pingInterval + pingTimeout closes",
            Transport::WebSocket,
            &[Timeout(500), Events(&[Ev::Closed(R::PingTimeout)]), Is(super::State::Closed)],
        ),
        (
            "a pong from a v3 client is the wrong direction",
            Transport::WebSocket,
            &[Recv(10, "3"), Events(&[Ev::Closed(R::TransportError)])],
        ),
        (
            "over polling the pong answers the next GET",
            Transport::Polling,
            &[
                Get(0, Ok(())),
                Sent(&[Tx::Poll(HS)]),
                Recv(100, "2"),
                Get(110, Ok(())),
                Sent(&[Tx::Poll("3")]),
                Next(Some(600)),
            ],
        ),
    ];
    for (name, transport, steps) in cases {
        run_with(name, *transport, Protocol::V3, steps);
    }
}

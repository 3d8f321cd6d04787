//! The Engine.IO session state machine fed random sequences of what the I/O layer reports
//! (packets, polls, probes, transport failures, closes, time passing), with its invariants
//! checked after every step:
//! - it reports `Closed` at most once, and is closed from then on;
//! - once closed, it reports nothing but that and accepts no new poll or probe;
//! - the timers settle: a few calls of `handle_timeout(now)` leave none due at `now`;
//! - a polling answer goes out only while a GET waits (so never on a WebSocket session).
//!
//! Sessions of both protocol revisions are driven (v3: the client pings).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::session::{
    CloseReason, Event, Session, SessionConfig, Transmit, Transport,
};
use switchboard_proto::engine::{Handshake, Message, Packet, Protocol};

#[derive(Debug, Arbitrary)]
enum Kind {
    Close,
    Ping,
    Pong,
    PingProbe,
    PongProbe,
    Message,
    Upgrade,
    Noop,
}

impl Kind {
    fn packet(&self) -> Packet {
        match self {
            Kind::Close => Packet::Close,
            Kind::Ping => Packet::Ping,
            Kind::Pong => Packet::Pong,
            Kind::PingProbe => Packet::PingProbe,
            Kind::PongProbe => Packet::PongProbe,
            Kind::Message => Packet::Message(Message::Text("x".into())),
            Kind::Upgrade => Packet::Upgrade,
            Kind::Noop => Packet::Noop,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Step {
    Packet(Kind),
    Poll,
    PollDropped,
    TransportClose,
    ProbeOpen,
    ProbePacket(Kind),
    ProbeClose,
    Close(u8),
    Send,
    /// Milliseconds pass, then the timers run.
    Wait(u16),
}

fn reason(n: u8) -> CloseReason {
    match n % 6 {
        0 => CloseReason::TransportClose,
        1 => CloseReason::TransportError,
        2 => CloseReason::PingTimeout,
        3 => CloseReason::ParseError,
        4 => CloseReason::ForcedClose,
        _ => CloseReason::ServerShuttingDown,
    }
}

fuzz_target!(|input: (bool, bool, Vec<Step>)| {
    let (websocket, v3, steps) = input;
    let start = Instant::now();
    let mut now = start;
    let mut config = SessionConfig::default();
    config.ping_interval = Duration::from_millis(300);
    config.ping_timeout = Duration::from_millis(200);
    config.upgrade_timeout = Duration::from_millis(1000);
    config.protocol = if v3 { Protocol::V3 } else { Protocol::V4 };
    let handshake = Handshake {
        sid: "fuzz".into(),
        upgrades: vec![],
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: 1000,
    };
    let transport = if websocket { Transport::WebSocket } else { Transport::Polling };
    let mut session = Session::new(config, handshake, transport, now);
    let mut closed = false;
    let mut get_waiting = false;
    for step in steps {
        match step {
            Step::Packet(kind) => session.handle_packet(kind.packet(), now),
            Step::Poll => {
                let accepted = session.handle_poll(now).is_ok();
                assert!(!(closed && accepted), "a poll accepted after the close");
                get_waiting |= accepted;
            }
            Step::PollDropped => {
                session.handle_poll_dropped(now);
                get_waiting = false;
            }
            Step::TransportClose => {
                session.handle_transport_close(CloseReason::TransportClose, now)
            }
            Step::ProbeOpen => {
                let accepted = session.handle_probe_open(now).is_ok();
                assert!(!(closed && accepted), "a probe accepted after the close");
            }
            Step::ProbePacket(kind) => session.handle_probe_packet(kind.packet(), now),
            Step::ProbeClose => session.handle_probe_close(now),
            Step::Close(n) => session.close(reason(n), now),
            Step::Send => {
                let _ = session.send(Message::Text("s".into()));
            }
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms));
                // A late wake-up may find a second timer due (the pong deadline counts from
                // when the ping was due); the I/O layer calls again at once, as here. The
                // timers must settle within a few calls, never loop.
                let mut calls = 0;
                session.handle_timeout(now);
                while session.poll_timeout().is_some_and(|at| at <= now) {
                    calls += 1;
                    assert!(calls < 8, "timers still due at {now:?} after {calls} calls");
                    session.handle_timeout(now);
                }
            }
        }
        while let Some(transmit) = session.poll_transmit() {
            if let Transmit::Poll(_) = transmit {
                assert!(get_waiting, "a polling answer with no GET waiting");
                get_waiting = false;
            }
        }
        while let Some(event) = session.poll_event() {
            assert!(!closed, "{event:?} reported after the close");
            if let Event::Closed(_) = event {
                closed = true;
            }
        }
        if closed {
            assert!(session.is_closed());
        }
    }
});

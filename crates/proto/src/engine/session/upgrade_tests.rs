//! The upgrade table of the session tests: a polling session probed and upgraded to
//! WebSocket, with the same injected timeouts as the rest of the table.

use super::*;

#[test]
fn upgrade_transitions() {
    let cases: &[(&str, &[Step])] = &[
        (
            "probe, pending GET gets noop, upgrade, then everything over WebSocket",
            &[
                Get(1, Ok(())),
                ProbeOpen(10, Ok(())),
                Is(super::State::Probing),
                Next(Some(300)),
                Probe(11, "2probe"),
                Is(super::State::Upgrading),
                Sent(&[Tx::Probe("3probe"), Tx::Poll("6")]),
                Queue("4queued"),
                Get(12, Ok(())),
                Sent(&[Tx::Poll("6")]),
                Probe(13, "5"),
                Events(&[Ev::Upgraded]),
                Is(super::State::Open),
                Sent(&[Tx::Ws("4queued")]),
                Get(14, Err(SessionError::WrongTransport)),
                ProbeOpen(15, Err(SessionError::UpgradeRefused)),
                Timeout(300),
                Sent(&[Tx::Ws("2")]),
                Recv(310, "3"),
                Recv(311, "4hello"),
                Events(&[Ev::Msg("4hello")]),
            ],
        ),
        (
            "2probe and 5 back to back",
            &[
                ProbeOpen(10, Ok(())),
                Probe(10, "2probe"),
                Probe(10, "5"),
                Sent(&[Tx::Probe("3probe")]),
                Events(&[Ev::Upgraded]),
            ],
        ),
        (
            "a second WebSocket while upgrading is refused",
            &[
                ProbeOpen(10, Ok(())),
                ProbeOpen(11, Err(SessionError::UpgradeRefused)),
                Probe(12, "2probe"),
                ProbeOpen(13, Err(SessionError::UpgradeRefused)),
            ],
        ),
        (
            "upgrade timeout closes the probe; polling goes on",
            &[
                ProbeOpen(10, Ok(())),
                Probe(11, "2probe"),
                Sent(&[Tx::Probe("3probe")]),
                Next(Some(300)),
                Timeout(300),
                Recv(301, "3"),
                Next(Some(601)),
                Timeout(1009),
                Recv(1009, "3"),
                Is(super::State::Upgrading),
                Timeout(1010),
                Is(super::State::Open),
                Events(&[Ev::ProbeClosed]),
                Get(1011, Ok(())),
                Sent(&[Tx::Poll("2\x1e2")]),
            ],
        ),
        (
            "an invalid packet on the probe aborts the upgrade",
            &[
                ProbeOpen(10, Ok(())),
                Probe(11, "4nope"),
                Is(super::State::Open),
                Events(&[Ev::ProbeClosed]),
                ProbeOpen(12, Ok(())),
            ],
        ),
        (
            "the probe WebSocket closing aborts the upgrade",
            &[ProbeOpen(10, Ok(())), ProbeClose(11), Is(super::State::Open), Events(&[])],
        ),
        (
            "closing while probing closes the probe too",
            &[
                ProbeOpen(10, Ok(())),
                Close(11, R::ForcedClose),
                Events(&[Ev::ProbeClosed]),
                Get(12, Ok(())),
                Sent(&[Tx::Poll("1")]),
                Events(&[Ev::Closed(R::ForcedClose)]),
            ],
        ),
        (
            "a server close with nothing queued still waits for the last GET",
            &[
                Close(10, R::ServerShuttingDown),
                Is(super::State::Closing),
                Events(&[]),
                Next(Some(110)),
                Get(20, Ok(())),
                Sent(&[Tx::Poll("1")]),
                Events(&[Ev::Closed(R::ServerShuttingDown)]),
            ],
        ),
        (
            "with nothing queued, the wait for the last GET is close_notice_timeout",
            &[
                Close(10, R::ServerShuttingDown),
                Timeout(109),
                Is(super::State::Closing),
                Timeout(110),
                Events(&[Ev::Closed(R::ServerShuttingDown)]),
            ],
        ),
        (
            "a ping timeout on polling closes at once, without waiting for a GET",
            &[Timeout(300), Timeout(500), Events(&[Ev::Closed(R::PingTimeout)])],
        ),
        (
            "upgrade without a probe is accepted, as Node does",
            &[ProbeOpen(10, Ok(())), Probe(11, "5"), Events(&[Ev::Upgraded])],
        ),
    ];
    for (name, steps) in cases {
        // Scenarios start after the handshake GET.
        let mut full: Vec<Step> = vec![Get(0, Ok(())), Sent(&[Tx::Poll(HS)])];
        full.extend(steps.iter().map(clone_step));
        run(name, Transport::Polling, &full);
    }
}

fn clone_step(s: &Step) -> Step {
    match s {
        Recv(t, w) => Recv(*t, w),
        Probe(t, w) => Probe(*t, w),
        ProbeOpen(t, r) => ProbeOpen(*t, *r),
        ProbeClose(t) => ProbeClose(*t),
        Get(t, r) => Get(*t, *r),
        PollDropped(t) => PollDropped(*t),
        TransportClose(t, r) => TransportClose(*t, *r),
        Close(t, r) => Close(*t, *r),
        Queue(w) => Queue(w),
        Timeout(t) => Timeout(*t),
        Sent(x) => Sent(x),
        Events(x) => Events(x),
        Next(x) => Next(*x),
        Is(x) => Is(*x),
    }
}

//! A connection's packet flow under loom (`RUSTFLAGS="--cfg switchboard_loom"`, run by
//! `cargo xtask test`): every interleaving of the engine's session task (which admits packets,
//! starts drainers, then reports the close) and the drainers, looking for a packet counted with
//! no drainer coming (loom reports a drainer waiting for it forever as a deadlock; a dropped
//! one fails the log check), two handlings at once, packets out of order, and a close that
//! runs twice, never, or before the last handling.
//!
//! Modelled: [`Flow`] itself (its counts are loom's under `cfg(switchboard_loom)`), called as
//! `Inbound::enqueue`, `Client::drain` and `Client::on_close` call it, with the inbox as they
//! use it (a packet queued before it is counted, taken back when refused or when the runner
//! ended meanwhile). Taken as correct: the `closed` notifier, which only hurries a runner whose
//! handler waits; the handoff of the close is the count, checked here: a runner that sees the
//! close after a handling may stop there (as `run_one` does when told).

use std::collections::VecDeque;

use loom::sync::atomic::AtomicUsize;
use loom::sync::{Arc, Mutex, MutexGuard};
use loom::thread::{self, JoinHandle};

use super::*;

/// Few enough preemptions to finish in seconds in a debug build; the bugs loom finds in code
/// this size need one or two.
const PREEMPTIONS: usize = 2;

/// Packets per run: enough for a drainer to take one from its inbox and for a second drainer
/// to start after the first ended.
const PACKETS: u32 = 3;

fn model(test: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(test);
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere already fails the model; the data stays readable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What happened, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Handled(u32),
    /// A runner stopped at the close, dropping what was queued behind.
    Stopped,
    Close,
}

/// The shared side of a model connection.
struct Conn {
    flow: Flow,
    /// `Client::inbox`.
    inbox: Mutex<VecDeque<u32>>,
    log: Mutex<Vec<Event>>,
    /// Handlings running now: never more than one.
    running: AtomicUsize,
}

impl Conn {
    fn handle(&self, packet: u32) {
        assert_eq!(self.running.fetch_add(1, Ordering::SeqCst), 0, "two handlings at once");
        locked(&self.log).push(Event::Handled(packet));
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    fn close(&self) {
        assert_eq!(self.running.load(Ordering::SeqCst), 0, "close during a handling");
        locked(&self.log).push(Event::Close);
    }

    /// `Client::runner_done`.
    fn runner_done(&self) {
        if let Some(Close::RunNow) = self.flow.runner_done() {
            self.close();
        }
    }
}

/// How the model's runners behave.
#[derive(Clone, Copy)]
struct Setup {
    /// A runner that sees the close after a handling stops there (its handler waited and was
    /// told), dropping what is queued behind.
    stop_at_close: bool,
    /// Polling: a packet that starts a runner is handled inline, on the session task, unless
    /// `waits(packet)` (then a drainer finishes it).
    polling: bool,
    /// The close comes from another task, at any point of the admissions (the in-process
    /// connections of `testing` close so; the engine reports a close on the session task).
    close_elsewhere: bool,
}

fn waits(packet: u32) -> bool {
    packet % 2 == 0
}

/// `Client::drain`: `first` is counted and its runner too.
fn drain(conn: Arc<Conn>, first: u32, setup: Setup) {
    let mut next = Some(first);
    loop {
        if let Some(packet) = next.take() {
            conn.handle(packet);
            if setup.stop_at_close && conn.flow.is_closed() {
                locked(&conn.log).push(Event::Stopped);
                break;
            }
        }
        if conn.flow.handled() == Next::Stop {
            break;
        }
        // Counted, so queued before.
        next = locked(&conn.inbox).pop_front();
        assert!(next.is_some(), "a packet counted for this runner was not queued");
    }
    conn.runner_done();
}

/// The session task: admits `PACKETS` packets, reports the close, then waits for the drainers
/// it started and checks the log.
fn session(setup: Setup) {
    let conn = Arc::new(Conn {
        flow: Flow::new(),
        inbox: Mutex::new(VecDeque::new()),
        log: Mutex::new(Vec::new()),
        running: AtomicUsize::new(0),
    });
    let mut drainers: Vec<JoinHandle<()>> = Vec::new();
    let closer = setup.close_elsewhere.then(|| {
        let conn = conn.clone();
        thread::spawn(move || {
            if conn.flow.close() == Close::RunNow {
                conn.close();
            }
        })
    });
    for packet in 0..PACKETS {
        let queued = conn.flow.busy();
        if queued {
            locked(&conn.inbox).push_back(packet);
        }
        let admit = conn.flow.admit(u32::MAX);
        if queued && admit != Admit::Queued {
            let back = locked(&conn.inbox).pop_back();
            assert_eq!(back, Some(packet), "the packet taken back is the one just queued");
        }
        match admit {
            Admit::Closed if setup.close_elsewhere => {}
            Admit::CloseNow if setup.close_elsewhere => conn.close(),
            Admit::CloseNow => panic!("packet {packet} ran the close before the close"),
            Admit::Closed | Admit::Full => panic!("packet {packet} refused before the close"),
            Admit::Queued => assert!(queued, "packet {packet} counted behind a runner unseen"),
            Admit::Start if setup.polling && !waits(packet) => {
                conn.handle(packet);
                assert_eq!(conn.flow.handled(), Next::Stop, "counted behind an inline handling");
                conn.runner_done();
            }
            Admit::Start => {
                let conn = conn.clone();
                drainers.push(thread::spawn(move || drain(conn, packet, setup)));
            }
        }
    }
    match closer {
        Some(closer) => assert!(closer.join().is_ok(), "the closer panicked"),
        None => {
            if conn.flow.close() == Close::RunNow {
                conn.close();
            }
        }
    }
    for drainer in drainers {
        assert!(drainer.join().is_ok(), "a drainer panicked");
    }

    let log = locked(&conn.log).clone();
    assert_eq!(log.iter().filter(|e| **e == Event::Close).count(), 1, "one close: {log:?}");
    assert_eq!(log.last(), Some(&Event::Close), "the close after every handling: {log:?}");
    let handled: Vec<u32> = log
        .iter()
        .filter_map(|e| match e {
            Event::Handled(p) => Some(*p),
            Event::Stopped | Event::Close => None,
        })
        .collect();
    if log.contains(&Event::Stopped) || setup.close_elsewhere {
        // In order, none skipped; what the stopped runner left behind is dropped.
        assert!(handled.iter().copied().eq(0..handled.len() as u32), "order: {log:?}");
        assert!(
            setup.close_elsewhere || !handled.is_empty(),
            "the first packet's runner started before the close"
        );
    } else {
        assert!(handled.iter().copied().eq(0..PACKETS), "every packet, in order: {log:?}");
    }
}

#[test]
fn loom_every_packet_runs_in_order_one_at_a_time_then_the_close() {
    model(|| session(Setup { stop_at_close: false, polling: false, close_elsewhere: false }));
}

#[test]
fn loom_a_runner_stopped_at_the_close_still_closes_once_and_last() {
    model(|| session(Setup { stop_at_close: true, polling: false, close_elsewhere: false }));
}

#[test]
fn loom_inline_and_drained_handlings_mix_over_polling() {
    model(|| session(Setup { stop_at_close: false, polling: true, close_elsewhere: false }));
}

#[test]
fn loom_inline_and_drained_handlings_mix_with_a_stop_at_the_close() {
    model(|| session(Setup { stop_at_close: true, polling: true, close_elsewhere: false }));
}

#[test]
fn loom_a_close_from_another_task_runs_once_and_last() {
    model(|| session(Setup { stop_at_close: false, polling: false, close_elsewhere: true }));
}

#[test]
fn loom_a_close_from_another_task_with_a_runner_stopped_at_it() {
    model(|| session(Setup { stop_at_close: true, polling: false, close_elsewhere: true }));
}

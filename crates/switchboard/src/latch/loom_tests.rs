//! The latch under loom (`RUSTFLAGS="--cfg switchboard_loom"`, run by `cargo xtask test`): every
//! interleaving of `set` and `wait`, looking for a waiter that is never told (loom reports it
//! as a deadlock) and for a set that is lost.
//!
//! Modelled: the latch's lock (loom's under `cfg(switchboard_loom)`). Each waiter's tokio `oneshot` is
//! taken as correct; which waiters the lock hands a sender to, and when, is what is checked.

use loom::sync::Arc;
use loom::thread;

use super::*;

/// Few enough preemptions to finish in seconds in a debug build; the bugs loom finds in code
/// this size need one or two.
const PREEMPTIONS: usize = 2;

fn model(test: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(test);
}

#[test]
fn loom_a_waiter_is_told_whenever_the_set_comes() {
    model(|| {
        let latch = Arc::new(Latch::new());
        let waiter = thread::spawn({
            let latch = latch.clone();
            move || loom::future::block_on(latch.wait())
        });
        latch.set();
        assert!(waiter.join().is_ok());
        // Set stays set: a later wait is ready at once.
        loom::future::block_on(latch.wait());
    });
}

#[test]
fn loom_a_waiter_and_two_setters() {
    model(|| {
        let latch = Arc::new(Latch::new());
        let waiter = thread::spawn({
            let latch = latch.clone();
            move || loom::future::block_on(latch.wait())
        });
        let setter = thread::spawn({
            let latch = latch.clone();
            move || latch.set()
        });
        latch.set();
        assert!(setter.join().is_ok());
        assert!(waiter.join().is_ok());
    });
}

#[test]
fn loom_a_waiter_that_gives_up_harms_nobody() {
    model(|| {
        let latch = Arc::new(Latch::new());
        let quitter = thread::spawn({
            let latch = latch.clone();
            // Registers, then drops its wait before the set.
            move || drop(latch.wait())
        });
        let waiter = thread::spawn({
            let latch = latch.clone();
            move || loom::future::block_on(latch.wait())
        });
        latch.set();
        assert!(quitter.join().is_ok());
        assert!(waiter.join().is_ok());
    });
}

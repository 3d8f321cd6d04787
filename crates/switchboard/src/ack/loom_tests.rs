//! An ack's "answered" flag under loom (`RUSTFLAGS="--cfg switchboard_loom"`, run by
//! `cargo xtask test`): every interleaving of answers and clones, looking for an ack answered
//! twice (once inline, once through the shared flag) or an answer a clone does not see.
//!
//! Modelled: [`SentFlag`]'s two atomics and its shared allocation (loom's under
//! `cfg(switchboard_loom)`). Its `OnceLock` stays std's, taken as correct: it is set before
//! the inline flag turns `SHARED`, in the same thread, which is what is checked. Not modelled
//! for that reason: one ack cloned on two threads at once (two first `share`s racing to set
//! the `OnceLock`, whose synchronisation loom cannot see).

use loom::sync::atomic::AtomicUsize;
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

/// Answers through `flag`, counting the answers that went out.
fn answer(flag: &SentFlag, answers: &AtomicUsize) {
    if flag.take() {
        answers.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn loom_an_answer_racing_the_first_clone_goes_out_once() {
    model(|| {
        let original = Arc::new(SentFlag::default());
        let answers = Arc::new(AtomicUsize::new(0));
        let answering = thread::spawn({
            let (original, answers) = (original.clone(), answers.clone());
            move || answer(&original, &answers)
        });
        let clone = original.share();
        answer(&clone, &answers);
        answering.join().unwrap();
        assert_eq!(answers.load(Ordering::SeqCst), 1);
        assert!(original.is_sent() && clone.is_sent());
    });
}

#[test]
fn loom_answers_through_the_original_and_a_clone_on_three_threads_go_out_once() {
    model(|| {
        let original = Arc::new(SentFlag::default());
        let answers = Arc::new(AtomicUsize::new(0));
        let answering = thread::spawn({
            let (original, answers) = (original.clone(), answers.clone());
            move || answer(&original, &answers)
        });
        let clone = original.share();
        let other = thread::spawn({
            let answers = answers.clone();
            move || {
                answer(&clone, &answers);
                clone
            }
        });
        answer(&original, &answers);
        answering.join().unwrap();
        let clone = other.join().unwrap();
        assert_eq!(answers.load(Ordering::SeqCst), 1);
        assert!(original.is_sent() && clone.is_sent());
    });
}

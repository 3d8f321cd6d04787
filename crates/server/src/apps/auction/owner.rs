//! The owner of one auction: a task that takes its commands one at a time, so that checking a
//! bid, appending it to the stored log and broadcasting it happen as one step, and the order
//! every client sees is the order of the log. It also ends the auction when its end comes.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::lot::{Auction, Bid, BidRecord, Bidder, Refusal};
use crate::apps::ApiError;

/// The owner's effects: the store and the clients (the app's, or a test's record).
pub(crate) trait Sink: Send + Sync + 'static {
    /// Appends a bid to the auction's log; its sequence number.
    fn append(
        &self,
        auction: &str,
        bid: &BidRecord,
    ) -> impl Future<Output = Result<i64, ApiError>> + Send;
    /// Stores the auction.
    fn save(&self, auction: &Auction) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Tells the auction's room about an accepted bid.
    fn bid(&self, auction: &Auction, bid: &Bid) -> impl Future<Output = ()> + Send;
    /// Tells everyone the auction ended.
    fn ended(&self, auction: &Auction) -> impl Future<Output = ()> + Send;
}

/// Milliseconds since the epoch, read from tokio's clock (so paused time drives it in tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base_ms: i64,
    base: Instant,
}

impl Clock {
    /// A clock that reads `now_ms` now.
    pub(crate) fn starting_at(now_ms: i64) -> Clock {
        Clock { base_ms: now_ms, base: Instant::now() }
    }

    /// Now.
    pub(crate) fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.base_ms.saturating_add(elapsed)
    }

    /// The instant of `ms`.
    fn instant_of(&self, ms: i64) -> Instant {
        let after = u64::try_from(ms.saturating_sub(self.base_ms)).unwrap_or(0);
        self.base + Duration::from_millis(after)
    }
}

/// Looks at the auction and its history, inside the owner (nothing changes meanwhile).
type Look = Box<dyn FnOnce(&Auction, &[Bid]) + Send>;

enum Command {
    Bid { bidder: Bidder, amount: i64, reply: oneshot::Sender<Result<Bid, ApiError>> },
    Look(Look),
}

/// The handle of an auction's owner. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Owner {
    // Commands to the owner task, which ends when every handle is gone.
    tx: mpsc::Sender<Command>,
    // The latest state, published by the owner after each change; read by lists.
    state: watch::Receiver<Auction>,
}

/// How many commands may wait for an owner.
const QUEUE: usize = 1024;

impl Owner {
    /// Starts the owner of `auction` with its `history`.
    /// The task ends when `stop` resolves or every handle is dropped.
    pub(crate) fn spawn<S: Sink>(
        auction: Auction,
        history: Vec<Bid>,
        sink: S,
        clock: Clock,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Owner {
        // Bounded: a full queue answers `busy` instead of growing without end.
        let (tx, rx) = mpsc::channel(QUEUE);
        // The state for readers; the owner task holds the sender.
        let (state_tx, state) = watch::channel(auction.clone());
        // The owner task: owns the auction; ends at `stop` (the server's shutdown) or when
        // every `Owner` handle is dropped.
        tokio::spawn(async move {
            tokio::select! {
                () = run(auction, history, sink, clock, rx, state_tx) => {}
                () = stop => {}
            }
        });
        Owner { tx, state }
    }

    /// The latest state.
    pub(crate) fn snapshot(&self) -> Auction {
        self.state.borrow().clone()
    }

    /// Places a bid; the accepted bid once it is stored and broadcast.
    pub(crate) async fn bid(&self, bidder: Bidder, amount: i64) -> Result<Bid, ApiError> {
        // One answer for one bid.
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Command::Bid { bidder, amount, reply })
            .map_err(|_| ApiError::new("busy", "too many bids at once, retry"))?;
        answer.await.map_err(|_| gone())?
    }

    /// Runs `look` inside the owner; its result.
    pub(crate) async fn look<T: Send + 'static>(
        &self,
        look: impl FnOnce(&Auction, &[Bid]) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        // One answer for one look.
        let (reply, answer) = oneshot::channel();
        let look: Look = Box::new(move |a, h| {
            let _ = reply.send(look(a, h));
        });
        self.tx.send(Command::Look(look)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }
}

fn gone() -> ApiError {
    ApiError::new("unavailable", "the auction is not available, retry")
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Closed => ApiError::new("auction_closed", "the auction is closed"),
        Refusal::TooLow(minimum) => {
            ApiError::new("bid_too_low", format!("the lowest bid now is {minimum}"))
                .with("minimum", serde_json::json!(minimum))
        }
        Refusal::OwnAuction => ApiError::new("own_auction", "you cannot bid on your own auction"),
        Refusal::InvalidAmount => {
            ApiError::new("invalid_amount", "amount must be a positive whole number of cents")
        }
    }
}

async fn run<S: Sink>(
    mut auction: Auction,
    mut history: Vec<Bid>,
    sink: S,
    clock: Clock,
    mut rx: mpsc::Receiver<Command>,
    state: watch::Sender<Auction>,
) {
    loop {
        let end = clock.instant_of(auction.ends_at);
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(end), if !auction.ended => {
                if auction.close(clock.now_ms()) {
                    if let Err(e) = sink.save(&auction).await {
                        tracing::warn!(code = e.code, auction = %auction.id, "auction end not stored");
                    }
                    state.send_replace(auction.clone());
                    sink.ended(&auction).await;
                }
            }
            command = rx.recv() => match command {
                None => return,
                Some(Command::Look(look)) => look(&auction, &history),
                Some(Command::Bid { bidder, amount, reply }) => {
                    let outcome = bid(&mut auction, &mut history, &sink, &clock, &bidder, amount).await;
                    if outcome.is_ok() {
                        state.send_replace(auction.clone());
                    }
                    let _ = reply.send(outcome);
                }
            },
        }
    }
}

/// Check, store, apply, broadcast: the bid is accepted once stored, and broadcast before the
/// next command is taken.
async fn bid<S: Sink>(
    auction: &mut Auction,
    history: &mut Vec<Bid>,
    sink: &S,
    clock: &Clock,
    bidder: &Bidder,
    amount: i64,
) -> Result<Bid, ApiError> {
    let now = clock.now_ms();
    auction.check(&bidder.user_id, amount, now).map_err(refused)?;
    let record = auction.record(bidder, amount, now);
    let seq = sink.append(&auction.id, &record).await?;
    auction.apply(seq, &record);
    let bid = Bid { auction_id: auction.id.clone(), seq, record };
    history.push(bid.clone());
    sink.bid(auction, &bid).await;
    Ok(bid)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::lot::tests::{auction, bidder};
    use super::*;

    /// Records what the owner did, in order.
    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<Vec<String>>>);

    impl Record {
        fn push(&self, line: String) {
            self.0.lock().unwrap().push(line);
        }
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    impl Sink for Record {
        async fn append(&self, _auction: &str, bid: &BidRecord) -> Result<i64, ApiError> {
            let seq = self.lines().iter().filter(|l| l.starts_with("append")).count() + 1;
            self.push(format!("append {} {}", bid.user_id, bid.amount));
            Ok(i64::try_from(seq).unwrap())
        }
        async fn save(&self, auction: &Auction) -> Result<(), ApiError> {
            self.push(format!("save ended={}", auction.ended));
            Ok(())
        }
        async fn bid(&self, _auction: &Auction, bid: &Bid) {
            self.push(format!("bid {} {} {}", bid.seq, bid.record.user_id, bid.record.amount));
        }
        async fn ended(&self, auction: &Auction) {
            self.push(format!("ended {} {}", auction.price, auction.ends_at));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ends_on_time_and_a_late_bid_moves_the_end() {
        let sink = Record::default();
        let clock = Clock::starting_at(0);
        let owner = Owner::spawn(
            auction(10_000, 3_000),
            Vec::new(),
            sink.clone(),
            clock,
            std::future::pending(),
        );
        tokio::time::sleep(Duration::from_millis(8_000)).await;
        let bid = owner.bid(bidder("ann"), 1000).await.unwrap();
        assert_eq!((bid.seq, bid.record.ends_at), (1, 11_000));
        tokio::time::sleep(Duration::from_millis(2_500)).await; // t = 10.5 s
        assert!(!owner.snapshot().ended, "extended past the first end");
        let err = owner.bid(bidder("bob"), 1050).await.unwrap_err();
        assert_eq!((err.code, &err.extra["minimum"]), ("bid_too_low", &serde_json::json!(1100)));
        tokio::time::sleep(Duration::from_millis(600)).await; // t = 11.1 s
        let state = owner.snapshot();
        assert!(state.ended);
        assert_eq!(sink.lines().last().unwrap(), "ended 1000 11000");
        assert_eq!(owner.bid(bidder("bob"), 5000).await.unwrap_err().code, "auction_closed");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_bids_are_stored_and_broadcast_in_one_order() {
        let sink = Record::default();
        let owner = Owner::spawn(
            auction(60_000, 0),
            Vec::new(),
            sink.clone(),
            Clock::starting_at(0),
            std::future::pending(),
        );
        let mut tasks = Vec::new();
        for i in 0..50i64 {
            let owner = owner.clone();
            tasks.push(tokio::spawn(async move {
                owner.bid(bidder(&format!("u{i}")), 1000 + 100 * (i % 7) + i).await
            }));
        }
        let mut accepted = Vec::new();
        for task in tasks {
            if let Ok(bid) = task.await.unwrap() {
                accepted.push(bid);
            }
        }
        accepted.sort_by_key(|b| b.seq);
        assert!(!accepted.is_empty());
        // Every accepted bid was appended then broadcast, right after one another, in seq
        // order, each above the one before.
        let lines = sink.lines();
        let expected: Vec<String> = accepted
            .iter()
            .flat_map(|b| {
                [
                    format!("append {} {}", b.record.user_id, b.record.amount),
                    format!("bid {} {} {}", b.seq, b.record.user_id, b.record.amount),
                ]
            })
            .collect();
        assert_eq!(lines, expected);
        assert!(accepted.windows(2).all(|w| w[1].record.amount > w[0].record.amount));
        let history = owner.look(|_, h| h.to_vec()).await.unwrap();
        assert_eq!(history, accepted);
        assert_eq!(owner.snapshot().price, accepted.last().unwrap().record.amount);
    }
}

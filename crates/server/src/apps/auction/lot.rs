//! One auction's rules: the minimum next bid, when it is open, and the anti-sniping
//! extension. Plain data with times as milliseconds since the epoch; the owner task
//! (`owner.rs`) applies them one command at a time.

use serde::{Deserialize, Serialize};

/// A user as the auction shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Bidder {
    pub(crate) user_id: String,
    pub(crate) username: String,
}

/// An auction: its stored form (without the bids, which are a log of their own) and the
/// `auction` of `auction:state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Auction {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) seller: Bidder,
    /// The lowest first bid, in cents.
    pub(crate) start_price: i64,
    /// How much a bid must exceed the current price by, in cents.
    pub(crate) increment: i64,
    pub(crate) created_at: i64,
    /// When bidding stops (moved later by late bids).
    pub(crate) ends_at: i64,
    /// A bid this close to the end moves the end to this long after the bid (0: never).
    pub(crate) extend_ms: i64,
    /// The highest bid so far, or the start price.
    pub(crate) price: i64,
    /// Who holds the highest bid.
    pub(crate) leader: Option<Bidder>,
    /// Bids accepted.
    pub(crate) bids: u64,
    /// The sequence number of the last accepted bid (0: none).
    pub(crate) last_seq: i64,
    pub(crate) ended: bool,
}

/// A bid as stored in the auction's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BidRecord {
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) amount: i64,
    pub(crate) at: i64,
    /// The end of the auction once this bid was accepted.
    pub(crate) ends_at: i64,
}

/// An accepted bid: the `auction:bid` payload and an entry of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Bid {
    pub(crate) auction_id: String,
    /// Its place in the auction's total order of accepted bids.
    pub(crate) seq: i64,
    #[serde(flatten)]
    pub(crate) record: BidRecord,
}

/// Why a bid is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The auction ended (or its end passed and the timer is about to say so).
    Closed,
    /// Below the minimum (carried).
    TooLow(i64),
    /// Sellers do not bid on their own lot.
    OwnAuction,
    /// Not a positive amount.
    InvalidAmount,
}

impl Auction {
    /// Whether bids are taken at `now`.
    pub(crate) fn is_open(&self, now: i64) -> bool {
        !self.ended && now < self.ends_at
    }

    /// The lowest acceptable next bid.
    pub(crate) fn minimum(&self) -> i64 {
        match self.leader {
            None => self.start_price,
            Some(_) => self.price.saturating_add(self.increment),
        }
    }

    /// Checks a bid of `amount` by `user_id` at `now`.
    pub(crate) fn check(&self, user_id: &str, amount: i64, now: i64) -> Result<(), Refusal> {
        if amount <= 0 {
            return Err(Refusal::InvalidAmount);
        }
        if !self.is_open(now) {
            return Err(Refusal::Closed);
        }
        if self.seller.user_id == user_id {
            return Err(Refusal::OwnAuction);
        }
        let minimum = self.minimum();
        if amount < minimum {
            return Err(Refusal::TooLow(minimum));
        }
        Ok(())
    }

    /// The record of a checked bid, with the end it leaves the auction with: a bid less than
    /// `extend_ms` before the end moves the end to `extend_ms` after the bid.
    pub(crate) fn record(&self, bidder: &Bidder, amount: i64, now: i64) -> BidRecord {
        let extended = now.saturating_add(self.extend_ms);
        let ends_at =
            if self.extend_ms > 0 && extended > self.ends_at { extended } else { self.ends_at };
        BidRecord {
            user_id: bidder.user_id.clone(),
            username: bidder.username.clone(),
            amount,
            at: now,
            ends_at,
        }
    }

    /// Takes a stored bid: the price, the leader and the end follow it.
    pub(crate) fn apply(&mut self, seq: i64, record: &BidRecord) {
        self.price = record.amount;
        self.leader =
            Some(Bidder { user_id: record.user_id.clone(), username: record.username.clone() });
        self.ends_at = self.ends_at.max(record.ends_at);
        self.bids += 1;
        self.last_seq = seq;
    }

    /// Ends the auction if its end has come; whether it ended now.
    pub(crate) fn close(&mut self, now: i64) -> bool {
        if self.ended || now < self.ends_at {
            return false;
        }
        self.ended = true;
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn bidder(name: &str) -> Bidder {
        Bidder { user_id: name.to_owned(), username: name.to_owned() }
    }

    /// An auction of `seller` from 0 to `ends_at`, start 1000, increment 100.
    pub(crate) fn auction(ends_at: i64, extend_ms: i64) -> Auction {
        Auction {
            id: "a1".to_owned(),
            title: "Bike".to_owned(),
            seller: bidder("sam"),
            start_price: 1000,
            increment: 100,
            created_at: 0,
            ends_at,
            extend_ms,
            price: 1000,
            leader: None,
            bids: 0,
            last_seq: 0,
            ended: false,
        }
    }

    #[test]
    fn the_first_bid_meets_the_start_price_later_ones_the_increment() {
        let mut a = auction(60_000, 0);
        assert_eq!(a.check("ann", 999, 10), Err(Refusal::TooLow(1000)));
        assert_eq!(a.check("ann", 0, 10), Err(Refusal::InvalidAmount));
        assert_eq!(a.check("sam", 5000, 10), Err(Refusal::OwnAuction));
        a.check("ann", 1000, 10).unwrap();
        let r = a.record(&bidder("ann"), 1000, 10);
        a.apply(1, &r);
        assert_eq!((a.price, a.bids, a.last_seq), (1000, 1, 1));
        assert_eq!(a.check("bob", 1099, 11), Err(Refusal::TooLow(1100)));
        a.check("bob", 1100, 11).unwrap();
        assert_eq!(a.leader, Some(bidder("ann")));
    }

    #[test]
    fn closed_at_the_end() {
        let mut a = auction(60_000, 0);
        assert!(a.is_open(59_999));
        assert_eq!(a.check("ann", 2000, 60_000), Err(Refusal::Closed));
        assert!(!a.close(59_999));
        assert!(a.close(60_000));
        assert!(!a.close(60_001), "ends once");
        assert_eq!(a.check("ann", 2000, 1), Err(Refusal::Closed));
    }

    #[test]
    fn a_late_bid_extends_the_end_an_early_one_does_not() {
        let mut a = auction(60_000, 10_000);
        let early = a.record(&bidder("ann"), 1000, 40_000);
        assert_eq!(early.ends_at, 60_000);
        a.apply(1, &early);
        let late = a.record(&bidder("bob"), 1100, 55_000);
        assert_eq!(late.ends_at, 65_000);
        a.apply(2, &late);
        assert_eq!(a.ends_at, 65_000);
        assert!(a.is_open(64_000));
        let off = auction(60_000, 0).record(&bidder("bob"), 1100, 59_999);
        assert_eq!(off.ends_at, 60_000);
    }
}

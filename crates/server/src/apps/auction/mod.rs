//! Timed auctions on namespace `/auction`. Bids are checked on the server (open, at least
//! the current price plus the increment, rate limited) by the auction's owner task
//! (`owner.rs`), which stores each accepted bid in the auction's log and broadcasts it before
//! taking the next: the log's order is the order every client sees. A bid in the last
//! seconds moves the end (anti-sniping, `--auction-extend-ms`). Auctions and bids are stored
//! and come back after a restart.
//!
//! Client → server (each answers `{ ok: true, ... }` or `{ ok: false, error }`):
//! `auction:create { title, startPrice, increment, durationMs? }`, `auction:list`,
//! `auction:join { auctionId }`, `auction:leave { auctionId }`, `bid { auctionId, amount }`.
//! Server → client: `auction:state { auction, bids }` (on join), `auction:bid` (to the
//! auction's room), `auction:created` and `auction:ended` (to everyone).

mod lot;
mod owner;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{Data, Namespace, Socket};
use tokio::sync::Mutex;

use self::lot::{Auction, Bid, BidRecord, Bidder};
use self::owner::{Clock, Owner, Sink};
use crate::apps::{
    ApiError, App, AppContext, AppStore, Asset, Outcome, authenticate, fields, page_routes, parse,
};
use crate::auth::User;
use crate::store::new_id;

const NAME: &str = "auction";
/// The store collection of the auctions.
const AUCTIONS: &str = "auctions";
/// The most bids one auction takes (its history is kept in memory by its owner).
const MAX_BIDS: usize = 10_000;
/// The longest auction.
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The highest price, in cents (a billion).
const MAX_PRICE: i64 = 100_000_000_000;

/// Event names of `/auction`.
pub(crate) mod events {
    /// Client → server: start an auction.
    pub(crate) const CREATE: &str = "auction:create";
    /// Client → server: the auctions.
    pub(crate) const LIST: &str = "auction:list";
    /// Client → server: watch an auction (its state and history, then its bids).
    pub(crate) const JOIN: &str = "auction:join";
    /// Client → server: stop watching.
    pub(crate) const LEAVE: &str = "auction:leave";
    /// Client → server: `{ auctionId, amount }` in cents.
    pub(crate) const BID: &str = "bid";
    /// Server → client: an auction and its bids.
    pub(crate) const STATE: &str = "auction:state";
    /// Server → client: an accepted bid.
    pub(crate) const BID_ACCEPTED: &str = "auction:bid";
    /// Server → client: a new auction.
    pub(crate) const CREATED: &str = "auction:created";
    /// Server → client: an auction ended.
    pub(crate) const ENDED: &str = "auction:ended";
}

/// The auction app.
pub(crate) struct Auctions;

impl App for Auctions {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Auctions"
    }

    fn summary(&self) -> &'static str {
        "Timed auctions with live bids, checked on the server, extended by late bids."
    }

    fn single_node(&self) -> bool {
        true
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        let ns = cx.io.of("/auction");
        let house = Arc::new(House {
            sink: Broadcast { ns: ns.clone(), store: cx.store_of(NAME) },
            cx: cx.clone(),
            default_duration: cx.config.auction_duration,
            extend: cx.config.auction_extend,
            clock: Clock::starting_at(crate::store::now_ms()),
            owners: Mutex::new(None),
        });
        authenticate(&ns);
        ns.on_connection(move |socket: Socket| {
            let house = house.clone();
            async move { house.register(&socket) }
        });
        Ok(())
    }

    fn routes(&self, _cx: &AppContext) -> Router {
        page::routes()
    }
}

/// The app's state.
struct House {
    sink: Broadcast,
    /// The rate limiter and the shutdown signal.
    cx: AppContext,
    default_duration: Duration,
    extend: Duration,
    clock: Clock,
    // The owners of every auction, started from the store on first use; the lock is held
    // only to find or add an owner (never across a bid).
    owners: Mutex<Option<HashMap<String, Owner>>>,
}

/// The owners' effects: the app's store slice and the namespace.
#[derive(Clone)]
struct Broadcast {
    ns: Namespace,
    store: AppStore,
}

fn log_of(auction_id: &str) -> String {
    format!("bids:{auction_id}")
}

fn room(auction_id: &str) -> String {
    format!("auction:{auction_id}")
}

impl Sink for Broadcast {
    async fn append(&self, auction: &str, bid: &BidRecord) -> Result<i64, ApiError> {
        Ok(self.store.append(&log_of(auction), bid).await?)
    }

    async fn save(&self, auction: &Auction) -> Result<(), ApiError> {
        Ok(self.store.put(AUCTIONS, &auction.id, auction).await?)
    }

    async fn bid(&self, auction: &Auction, bid: &Bid) {
        let event = json!({ "bid": bid, "price": auction.price, "endsAt": auction.ends_at });
        if let Err(error) = self.ns.to(room(&auction.id)).emit(events::BID_ACCEPTED, &event).await {
            tracing::debug!(%error, "bid not broadcast");
        }
    }

    async fn ended(&self, auction: &Auction) {
        let event = json!({ "auction": auction });
        if let Err(error) = self.ns.emit(events::ENDED, &event).await {
            tracing::debug!(%error, "auction end not broadcast");
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Create {
    title: String,
    start_price: i64,
    increment: i64,
    duration_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuctionRef {
    auction_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaceBid {
    auction_id: String,
    amount: i64,
}

fn not_found() -> ApiError {
    ApiError::new("auction_not_found", "no such auction")
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl House {
    fn register(self: &Arc<Self>, socket: &Socket) -> Result<(), switchboard::ReservedEventName> {
        let h = self.clone();
        socket.on(events::CREATE, move |user: User, Data(data): Data<Value>| {
            let h = h.clone();
            async move { h.create(user, data).await }
        })?;
        let h = self.clone();
        socket.on(events::LIST, move || {
            let h = h.clone();
            async move { h.list().await }
        })?;
        let h = self.clone();
        socket.on(events::JOIN, move |socket: Socket, Data(data): Data<Value>| {
            let h = h.clone();
            async move { h.join(socket, data).await }
        })?;
        socket.on(events::LEAVE, |socket: Socket, Data(data): Data<Value>| async move {
            let req: AuctionRef = parse(data)?;
            socket.leave(room(&req.auction_id));
            Outcome::Ok(fields(json!({})))
        })?;
        let h = self.clone();
        socket.on(events::BID, move |user: User, Data(data): Data<Value>| {
            let h = h.clone();
            async move { h.bid(user, data).await }
        })?;
        Ok(())
    }

    /// Resolves when the server stops: the owners end then.
    fn stop(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shutdown = self.cx.shutdown.clone();
        async move { shutdown.fired().await }
    }

    /// Every owner, started from the store at the first call.
    async fn owners(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<HashMap<String, Owner>>>, ApiError> {
        let mut owners = self.owners.lock().await;
        if owners.is_none() {
            let mut started = HashMap::new();
            for (id, mut auction) in self.sink.store.list::<Auction>(AUCTIONS).await? {
                let history = self.history(&mut auction).await?;
                let owner =
                    Owner::spawn(auction, history, self.sink.clone(), self.clock, self.stop());
                started.insert(id, owner);
            }
            *owners = Some(started);
        }
        Ok(owners)
    }

    /// Reads an auction's log and brings the auction up to its last bid.
    async fn history(&self, auction: &mut Auction) -> Result<Vec<Bid>, ApiError> {
        let log = log_of(&auction.id);
        let mut history = Vec::new();
        let mut after = 0;
        loop {
            let page = self.sink.store.range::<BidRecord>(&log, after, 1000).await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (seq, record) in page {
                if seq > auction.last_seq {
                    auction.apply(seq, &record);
                }
                history.push(Bid { auction_id: auction.id.clone(), seq, record });
            }
        }
        Ok(history)
    }

    async fn owner(&self, id: &str) -> Result<Owner, ApiError> {
        let owners = self.owners().await?;
        owners.as_ref().and_then(|o| o.get(id)).cloned().ok_or_else(not_found)
    }

    async fn create(&self, user: User, data: Value) -> Outcome {
        let req: Create = parse(data)?;
        let title = req.title.trim();
        if !(1..=80).contains(&title.chars().count()) || title.chars().any(char::is_control) {
            return Err(ApiError::new("invalid_auction", "title must be 1 to 80 characters"));
        }
        if !(0..=MAX_PRICE).contains(&req.start_price) || !(1..=MAX_PRICE).contains(&req.increment)
        {
            return Err(ApiError::new(
                "invalid_auction",
                "startPrice must be 0 or more and increment 1 or more, in cents",
            ));
        }
        let duration = req.duration_ms.map_or(self.default_duration, Duration::from_millis);
        if duration < Duration::from_secs(1) || duration > MAX_DURATION {
            return Err(ApiError::new("invalid_auction", "durationMs must be 1 s to 7 days"));
        }
        // Each auction keeps a task and its bids in memory: creating them is rate limited.
        self.cx.limiter.check(&user.id)?;
        let now = self.clock.now_ms();
        let auction = Auction {
            id: new_id(),
            title: title.to_owned(),
            seller: Bidder { user_id: user.id.clone(), username: user.username.clone() },
            start_price: req.start_price,
            increment: req.increment,
            created_at: now,
            ends_at: now.saturating_add(millis(duration)),
            extend_ms: millis(self.extend),
            price: req.start_price,
            leader: None,
            bids: 0,
            last_seq: 0,
            ended: false,
        };
        let mut owners = self.owners().await?;
        self.sink.save(&auction).await?;
        let owner =
            Owner::spawn(auction.clone(), Vec::new(), self.sink.clone(), self.clock, self.stop());
        if let Some(owners) = owners.as_mut() {
            owners.insert(auction.id.clone(), owner);
        }
        drop(owners);
        if let Err(error) = self.sink.ns.emit(events::CREATED, &json!({ "auction": auction })).await
        {
            tracing::debug!(%error, "new auction not announced");
        }
        Ok(fields(json!({ "auction": auction })))
    }

    async fn list(&self) -> Outcome {
        let owners = self.owners().await?;
        let mut auctions: Vec<Auction> =
            owners.iter().flat_map(HashMap::values).map(Owner::snapshot).collect();
        drop(owners);
        // Open ones first, ending soonest first; then the ended ones, latest first.
        auctions.sort_by_key(|a| (a.ended, if a.ended { -a.ends_at } else { a.ends_at }));
        Ok(fields(json!({ "auctions": auctions, "now": self.clock.now_ms() })))
    }

    /// Joins the auction's room and answers its state and history, both inside the owner:
    /// no bid falls between the history and the live bids, none comes twice.
    async fn join(&self, socket: Socket, data: Value) -> Outcome {
        let req: AuctionRef = parse(data)?;
        let owner = self.owner(&req.auction_id).await?;
        let now = self.clock.now_ms();
        let state = owner
            .look(move |auction, history| {
                socket.join(room(&auction.id));
                let state = json!({ "auction": auction, "bids": history, "now": now });
                if let Err(error) = socket.emit(events::STATE, &state) {
                    tracing::debug!(%error, "auction state not sent");
                }
                state
            })
            .await?;
        Ok(fields(state))
    }

    async fn bid(&self, user: User, data: Value) -> Outcome {
        let req: PlaceBid = parse(data)?;
        self.cx.limiter.check(&user.id)?;
        let owner = self.owner(&req.auction_id).await?;
        if owner.snapshot().bids >= MAX_BIDS as u64 {
            return Err(ApiError::new("auction_full", "this auction takes no more bids"));
        }
        let bidder = Bidder { user_id: user.id, username: user.username };
        let bid = owner.bid(bidder, req.amount).await?;
        Ok(fields(json!({ "bid": bid })))
    }
}

/// The page: hand-written HTML, JS and CSS compiled in.
mod page {
    use super::{Asset, NAME, page_routes};

    pub(super) fn routes() -> axum::Router {
        page_routes(
            NAME,
            include_str!("page/index.html"),
            &[
                Asset { file: "auction.js", body: include_str!("page/auction.js") },
                Asset { file: "auction.css", body: include_str!("page/auction.css") },
            ],
        )
    }
}

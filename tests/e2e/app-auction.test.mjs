// Auctions of the `switchboard` binary (namespace /auction) with the official client: bids
// checked on the server and their error acks, the rate limit, anti-sniping and the end, 50
// bidders bursting at once (one order of accepted bids, seen identically by everyone and
// equal to the stored history), and auctions that survive kill -9 and a restart.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, connect, request, startApp, tempDataDir, waitFor } from "./lib/app.mjs";

const dirs = [];
const sockets = [];
after(() => {
  for (const s of sockets) s.close();
  for (const d of dirs) cleanup(d);
});

async function start(args = [], dataDir = tempDataDir()) {
  if (!dirs.includes(dataDir)) dirs.push(dataDir);
  return startApp({ dataDir, args });
}

async function user(app, username) {
  const socket = await connect(app.url, "/auction", { username });
  sockets.push(socket);
  return socket;
}

async function refusedWith(promise, code) {
  const r = await promise;
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.error.code, code, JSON.stringify(r));
  return r.error;
}

const bid = (s, auctionId, amount) => request(s, "bid", { auctionId, amount });

test("create, join, bids and their error acks, the rate limit", async () => {
  const app = await start(["--rate-limit", "1", "--rate-burst", "3"]);
  const sam = await user(app, "sam");
  const bob = await user(app, "bob");
  const carol = await user(app, "carol");
  await refusedWith(request(sam, "auction:create", { title: " ", startPrice: 100, increment: 10 }), "invalid_auction");
  await refusedWith(request(sam, "auction:create", { title: "x", startPrice: 100, increment: 0 }), "invalid_auction");
  await refusedWith(request(sam, "auction:create", { title: "x", startPrice: 100, increment: 1, durationMs: 10 }), "invalid_auction");
  await refusedWith(request(sam, "auction:create", { title: "x" }), "invalid_payload");
  const announced = waitFor(bob, "auction:created");
  const created = await request(sam, "auction:create", { title: "Road bike", startPrice: 10000, increment: 500, durationMs: 60000 });
  assert.equal(created.ok, true);
  const a = created.auction;
  assert.deepEqual([a.title, a.price, a.bids, a.ended, a.seller.userId], ["Road bike", 10000, 0, false, "sam"]);
  assert.equal((await announced).auction.id, a.id);
  const list = await request(bob, "auction:list", {});
  assert.deepEqual(list.auctions.map((x) => x.id), [a.id]);

  const stateEvent = waitFor(bob, "auction:state");
  const joined = await request(bob, "auction:join", { auctionId: a.id });
  assert.deepEqual([joined.auction.id, joined.bids], [a.id, []]);
  assert.equal((await stateEvent).auction.id, a.id);
  await request(carol, "auction:join", { auctionId: a.id });
  await refusedWith(request(bob, "auction:join", { auctionId: "nope" }), "auction_not_found");

  assert.equal((await refusedWith(bid(bob, a.id, 9999), "bid_too_low")).minimum, 10000);
  await refusedWith(bid(sam, a.id, 20000), "own_auction");
  await refusedWith(bid(carol, a.id, 0), "invalid_amount");
  await refusedWith(bid(carol, "nope", 20000), "auction_not_found");
  await refusedWith(request(carol, "bid", { auctionId: a.id, amount: "lots" }), "invalid_payload");

  const carolSees = waitFor(carol, "auction:bid");
  const first = await bid(bob, a.id, 10000);
  assert.equal(first.ok, true);
  assert.deepEqual([first.bid.amount, first.bid.userId], [10000, "bob"]);
  const seen = await carolSees;
  assert.deepEqual([seen.bid.seq, seen.price], [first.bid.seq, 10000]);
  // Carol's allowance (burst 3) went on the two refusals above; one more, then the limit.
  assert.equal((await refusedWith(bid(carol, a.id, 10400), "bid_too_low")).minimum, 10500);
  const limited = await refusedWith(bid(carol, a.id, 10500), "rate_limited");
  assert.ok(limited.retryAfterMs > 0);
  const second = await bid(bob, a.id, 11000);
  assert.ok(second.bid.seq > first.bid.seq);
  await app.stop();
});

test("a late bid extends the end; the end is announced and later bids are refused", async () => {
  const app = await start(["--auction-extend-ms", "1500"]);
  const sam = await user(app, "sam");
  const bob = await user(app, "bob");
  const { auction } = await request(sam, "auction:create", { title: "Lamp", startPrice: 500, increment: 100, durationMs: 1000 });
  await request(bob, "auction:join", { auctionId: auction.id });
  const ended = waitFor(sam, "auction:ended", () => true, 10_000);
  const r = await bid(bob, auction.id, 500);
  assert.equal(r.ok, true);
  assert.ok(r.bid.endsAt > auction.endsAt, "the end moved");
  assert.equal(r.bid.endsAt, r.bid.at + 1500);
  const { auction: over } = await ended;
  assert.deepEqual([over.ended, over.price, over.leader.userId, over.endsAt], [true, 500, "bob", r.bid.endsAt]);
  assert.ok(Date.now() >= over.endsAt - 50, "not announced before its end");
  await refusedWith(bid(bob, auction.id, 1000), "auction_closed");
  await app.stop();
});

test("50 bidders bursting: one order of accepted bids, seen identically by all, equal to the history", async (t) => {
  const app = await start(["--auction-extend-ms", "500"]);
  const sam = await user(app, "sam");
  const { auction } = await request(sam, "auction:create", { title: "Painting", startPrice: 100, increment: 1, durationMs: 6000 });
  const bidders = await Promise.all(Array.from({ length: 50 }, (_, i) => user(app, `bidder${i}`)));
  const seen = bidders.map(() => []);
  bidders.forEach((s, i) => s.on("auction:bid", (e) => seen[i].push(e.bid)));
  const ended = bidders.map((s) => waitFor(s, "auction:ended", (e) => e.auction.id === auction.id, 30_000));
  await Promise.all(bidders.map((s) => request(s, "auction:join", { auctionId: auction.id })));

  // Every bidder fires four bids at once, without waiting for any answer.
  const answers = await Promise.all(
    bidders.flatMap((s, i) => [0, 1, 2, 3].map((k) => bid(s, auction.id, 100 + k * 50 + i))),
  );
  const accepted = answers.filter((r) => r.ok).map((r) => r.bid);
  const refused = answers.filter((r) => !r.ok);
  assert.ok(accepted.length >= 2, `only ${accepted.length} accepted`);
  assert.equal(accepted.length + refused.length, 200);
  t.diagnostic(`${accepted.length} of 200 bids accepted`);
  for (const r of refused) assert.ok(["bid_too_low", "auction_closed"].includes(r.error.code), r.error.code);
  accepted.sort((x, y) => x.seq - y.seq);
  for (let i = 1; i < accepted.length; i++) {
    assert.ok(accepted[i].seq > accepted[i - 1].seq, "one seq each");
    assert.ok(accepted[i].amount >= accepted[i - 1].amount + 1, "each above the one before by the increment");
  }
  // After a round trip every bidder has received every broadcast sent before it.
  await Promise.all(bidders.map((s) => request(s, "auction:list", {})));
  const order = accepted.map((b) => `${b.seq}:${b.userId}:${b.amount}`);
  for (const list of seen) assert.deepEqual(list.map((b) => `${b.seq}:${b.userId}:${b.amount}`), order);
  // The stored history is the same list.
  const history = await request(sam, "auction:join", { auctionId: auction.id });
  assert.deepEqual(history.bids.map((b) => `${b.seq}:${b.userId}:${b.amount}`), order);
  // Everyone sees the same final price and winner.
  const last = accepted.at(-1);
  for (const e of await Promise.all(ended)) {
    assert.deepEqual([e.auction.price, e.auction.leader.userId, e.auction.bids], [last.amount, last.userId, accepted.length]);
  }
  await app.stop();
});

test("auctions and their bids survive kill -9 and a restart; one that ended meanwhile is closed", async () => {
  const dataDir = tempDataDir();
  // No anti-sniping here: the short auction must end at its first end.
  const args = ["--auction-extend-ms", "0"];
  let app = await start(args, dataDir);
  const sam = await user(app, "sam");
  const bob = await user(app, "bob");
  const { auction: long } = await request(sam, "auction:create", { title: "Chair", startPrice: 1000, increment: 100, durationMs: 600000 });
  const { auction: short } = await request(sam, "auction:create", { title: "Mug", startPrice: 100, increment: 10, durationMs: 1500 });
  const bids = [];
  for (const amount of [1000, 1200, 1500]) bids.push((await bid(bob, long.id, amount)).bid);
  assert.equal((await bid(bob, short.id, 100)).ok, true);
  const [, signal] = await app.kill9();
  assert.equal(signal, "SIGKILL");
  sam.close();
  bob.close();

  app = await start(args, dataDir);
  const carol = await user(app, "carol");
  const ended = waitFor(carol, "auction:ended", (e) => e.auction.id === short.id, 10_000);
  const state = await request(carol, "auction:join", { auctionId: long.id });
  assert.deepEqual(state.bids.map((b) => [b.seq, b.amount]), bids.map((b) => [b.seq, b.amount]));
  assert.deepEqual([state.auction.price, state.auction.leader.userId, state.auction.bids], [1500, "bob", 3]);
  assert.equal((await refusedWith(bid(carol, long.id, 1500), "bid_too_low")).minimum, 1600);
  const next = await bid(carol, long.id, 1600);
  assert.ok(next.bid.seq > bids.at(-1).seq);
  const mug = await request(carol, "auction:join", { auctionId: short.id });
  if (!mug.auction.ended) await ended;
  await refusedWith(bid(carol, short.id, 500), "auction_closed");
  const list = await request(carol, "auction:list", {});
  const closed = list.auctions.find((a) => a.id === short.id);
  assert.deepEqual([closed.ended, closed.price, closed.leader.userId], [true, 100, "bob"]);
  await app.stop();
});

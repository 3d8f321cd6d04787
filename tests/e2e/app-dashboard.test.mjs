// The live dashboard of the `switchboard` binary (/dashboard): samples pushed once a second to
// subscribers only, numbers that move by exactly what the test did (N connections, M
// messages), and no sampling while nobody watches.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, connect, request, startApp, waitFor } from "./lib/app.mjs";

let app;

before(async () => {
  app = await startApp();
});
after(async () => {
  await app.stop();
  cleanup(app.dataDir);
});

async function subscriber(name) {
  const s = await connect(app.url, "/dashboard", { username: name });
  const res = await request(s, "dashboard:subscribe", {});
  assert.equal(res.ok, true, JSON.stringify(res));
  return { s, first: res.sample, intervalMs: res.intervalMs };
}

/** The next pushed sample that satisfies `accept` (within a few seconds). */
function sample(s, accept = () => true, ms = 8000) {
  return waitFor(s, "dashboard:sample", accept, ms);
}

const ns = (smp, name) => smp.namespaces.find((n) => n.name === name) ?? { sockets: 0, rooms: 0 };

test("a subscriber gets the current numbers at once, then a sample every second", async () => {
  const { s, first, intervalMs } = await subscriber("watcher");
  try {
    assert.equal(intervalMs, 1000);
    assert.equal(first.connections.total, 1);
    assert.equal(ns(first, "/dashboard").sockets, 1);
    assert.equal(first.messages.inPerSec, null, "no rate without a previous reading");
    assert.ok(first.memory.rssBytes > 1 << 20, `rss ${first.memory.rssBytes}`);
    assert.ok(first.cpu.seconds >= 0);
    assert.equal(first.store.backend, "sqlite");
    assert.equal(first.store.ok, true);
    assert.equal(first.adapter.kind, "memory");
    const a = await sample(s);
    const b = await sample(s);
    assert.equal(b.ticks, a.ticks + 1);
    const gap = b.ts - a.ts;
    // One a second: each reading's own time (a store round trip) moves its timestamp a little.
    assert.ok(gap >= 500 && gap <= 5000, `samples ${gap} ms apart`);
    assert.equal(typeof b.messages.inPerSec, "number");
    assert.equal(typeof b.cpu.percent, "number");
    assert.ok(b.rooms >= 1, "the subscribers' room");
  } finally {
    s.close();
  }
});

test("the numbers move by exactly the N connections and M messages the test made", async () => {
  const N = 4, M = 37;
  const { s, first } = await subscriber("counter");
  const others = [];
  try {
    const base = await sample(s);
    assert.equal(base.messages.inTotal, first.messages.inTotal, "nothing else was received");
    for (let i = 0; i < N; i++) {
      others.push(await connect(app.url, "/notifications", { username: `n${i}` }, { transports: ["websocket"] }));
    }
    const connected = await sample(s, (x) => x.connections.total === base.connections.total + N);
    assert.equal(ns(connected, "/notifications").sockets - ns(base, "/notifications").sockets, N);
    assert.equal(connected.connections.websocket - base.connections.websocket, N);
    assert.equal(connected.connections.polling, base.connections.polling);
    for (let m = 0; m < M; m++) others[m % N].emit("dash:ping", { m });
    const counted = await sample(s, (x) => x.messages.inTotal >= base.messages.inTotal + M);
    assert.equal(counted.messages.inTotal - base.messages.inTotal, M);
    // And nothing more afterwards.
    const later = await sample(s);
    assert.equal(later.messages.inTotal - base.messages.inTotal, M);
    assert.equal(later.messages.inPerSec, 0);
    // Out: one sample a second to the one subscriber, nothing else.
    assert.equal(later.messages.outTotal - counted.messages.outTotal, 1);
    for (const o of others) o.close();
    const gone = await sample(s, (x) => x.connections.total === base.connections.total);
    assert.equal(ns(gone, "/notifications").sockets, ns(base, "/notifications").sockets);
  } finally {
    for (const o of others) o.close();
    s.close();
  }
});

test("no samples are taken while nobody is subscribed", async () => {
  const { s } = await subscriber("idle");
  const seen = await sample(s);
  const left = await request(s, "dashboard:unsubscribe", {});
  assert.equal(left.ok, true);
  assert.ok(left.ticks === seen.ticks || left.ticks === seen.ticks + 1, `${left.ticks} vs ${seen.ticks}`);
  // An unsubscribed socket gets nothing; the ticks stand still for 2.5 s.
  const stray = [];
  s.on("dashboard:sample", (x) => stray.push(x));
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.deepEqual(stray, []);
  const back = await request(s, "dashboard:subscribe", {});
  assert.equal(back.sample.ticks, left.ticks, "no sample was taken unwatched");
  // A disconnect ends the subscription too.
  s.close();
  const other = await connect(app.url, "/dashboard", { username: "later" });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const again = await request(other, "dashboard:subscribe", {});
  assert.ok(again.sample.ticks <= left.ticks + 1, `${again.sample.ticks} vs ${left.ticks}`);
  other.close();
});

test("the dashboard needs a sign-in like every app", async () => {
  const { io } = await import("socket.io-client");
  const s = io(app.url + "/dashboard", { forceNew: true, reconnection: false });
  const err = await new Promise((resolve) => s.once("connect_error", resolve));
  assert.equal(err.data.code, "missing_username");
  s.close();
});

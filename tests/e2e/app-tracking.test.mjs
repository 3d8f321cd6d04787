// Order tracking of the `switchboard` binary: `track` on /tracking, statuses from
// POST /api/orders/:id/status (API key), a simulated courier, and the state after a restart.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, connect, request, startApp, tempDataDir, waitFor } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";

const KEY = "tracking-test-key";
const dataDir = tempDataDir();
let app;
const sockets = [];

before(async () => {
  app = await startApp({ dataDir, args: ["--api-key", KEY] });
});
after(async () => {
  for (const s of sockets) s.close();
  await app.stop();
  cleanup(dataDir);
});

function post(path, body, { key = KEY, base = app.url } = {}) {
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  return fetch(base + path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

async function tracker(username) {
  const socket = await connect(app.url, "/tracking", { username });
  sockets.push(socket);
  return socket;
}

test("track answers the state of an order; a bad order id is an error ack", async () => {
  const socket = await tracker("tina");
  const fresh = await request(socket, "track", { orderId: "T-fresh" });
  assert.equal(fresh.ok, true, JSON.stringify(fresh));
  assert.deepEqual(fresh.order, { id: "T-fresh", status: null, history: [], delivery: null });
  for (const bad of [{ orderId: "" }, { orderId: "a b" }, { orderId: "x".repeat(65) }, { orderId: "order:1" }]) {
    const ack = await request(socket, "track", bad);
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, "invalid_order", JSON.stringify(ack));
  }
  const missing = await request(socket, "track", {});
  assert.deepEqual([missing.ok, missing.error.code], [false, "invalid_payload"]);
  const untracked = await request(socket, "untrack", { orderId: "T-fresh" });
  assert.equal(untracked.ok, true);
});

test("the HTTP API needs the key, checks the status and pushes it to the order's room", async () => {
  assert.equal((await post("/api/orders/T1/status", { status: "placed" }, { key: null })).status, 401);
  const wrong = await post("/api/orders/T1/status", { status: "placed" }, { key: "nope" });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error.code, "unauthorized");
  const badStatus = await post("/api/orders/T1/status", { status: "teleported" });
  assert.equal(badStatus.status, 400);
  assert.equal((await badStatus.json()).error.code, "invalid_status");
  const badJson = await post("/api/orders/T1/status", "{nope");
  assert.equal(badJson.status, 400);
  assert.equal((await badJson.json()).error.code, "invalid_payload");
  const badId = await post("/api/orders/bad%20id/status", { status: "placed" });
  assert.equal(badId.status, 400);
  assert.equal((await badId.json()).error.code, "invalid_order");

  const socket = await tracker("tom");
  const other = await tracker("olga");
  assert.equal((await request(socket, "track", { orderId: "T1" })).ok, true);
  assert.equal((await request(other, "track", { orderId: "T2" })).ok, true);
  let leaked = 0;
  other.on("order:status", () => leaked++);
  const pushed = waitFor(socket, "order:status");
  const res = await post("/api/orders/T1/status", { status: "placed", note: "<b>two pizzas</b>" });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.ok, true);
  const entry = await pushed;
  assert.deepEqual(entry, body.entry);
  assert.deepEqual(
    { orderId: entry.orderId, status: entry.status, note: entry.note, source: entry.source },
    { orderId: "T1", status: "placed", note: "<b>two pizzas</b>", source: "api" },
  );
  assert.equal(typeof entry.seq, "number");
  const confirmed = waitFor(socket, "order:status", (e) => e.status === "confirmed");
  assert.equal((await post("/api/orders/T1/status", { status: "confirmed" })).status, 200);
  await confirmed;
  const state = await request(other, "track", { orderId: "T1" });
  assert.deepEqual(state.order.history.map((e) => e.status), ["placed", "confirmed"]);
  assert.equal(state.order.status, "confirmed");
  assert.equal(leaked, 0, "an order's updates stay in its room");
});

test("a courier moves along the route, one position per step, then the order is delivered", async () => {
  const socket = await tracker("carl");
  assert.equal((await request(socket, "track", { orderId: "C1" })).ok, true);
  const positions = [];
  socket.on("order:position", (p) => positions.push(p));
  const delivered = waitFor(socket, "order:status", (e) => e.status === "delivered", 10_000);
  const res = await post("/api/orders/C1/courier", { speed: 4000, intervalMs: 50 });
  assert.equal(res.status, 202);
  const { delivery } = await res.json();
  assert.ok(delivery.route.length >= 2 && delivery.active);
  const again = await post("/api/orders/C1/courier", { speed: 4000, intervalMs: 50 });
  assert.equal(again.status, 409, "one courier per order");
  assert.equal((await post("/api/orders/C1/courier", { speed: -1 })).status, 400);
  await delivered;
  assert.ok(positions.length >= 2, `positions: ${positions.length}`);
  for (let i = 1; i < positions.length; i++) assert.ok(positions[i].progress > positions[i - 1].progress);
  const last = positions.at(-1);
  const end = delivery.route.at(-1);
  assert.deepEqual([last.x, last.y, last.progress], [end[0], end[1], 1]);
  const state = await request(socket, "track", { orderId: "C1" });
  assert.deepEqual(state.order.history.map((e) => e.status), ["out_for_delivery", "delivered"]);
  assert.equal(state.order.delivery.active, false);
  assert.deepEqual(state.order.delivery.position, { x: end[0], y: end[1], progress: 1 });
});

test("dev mode: courier:start sends the demo courier from the page", async () => {
  const socket = await tracker("dora");
  assert.equal((await request(socket, "track", { orderId: "D1" })).ok, true);
  const moved = waitFor(socket, "order:position");
  const ack = await request(socket, "courier:start", { orderId: "D1", speed: 50, intervalMs: 50 });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  const p = await moved;
  assert.equal(p.orderId, "D1");
  const bad = await request(socket, "courier:start", { orderId: "D 1" });
  assert.equal(bad.error.code, "invalid_order");
});

test("after kill -9 and a restart, a reconnecting client gets the history and the last position, and the courier goes on", async () => {
  // As the page does: track again on every (re)connection.
  const socket = await connect(app.url, "/tracking", { username: "rita" }, {
    reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 200, randomizationFactor: 0,
  });
  sockets.push(socket);
  const states = [];
  const tracked = [];
  socket.on("connect", () => tracked.push(request(socket, "track", { orderId: "R1" }).then((s) => states.push(s))));
  assert.equal((await request(socket, "track", { orderId: "R1" })).ok, true);
  assert.equal((await post("/api/orders/R1/status", { status: "preparing" })).status, 200);
  // A slow courier: a few steps, then the server is killed on its way.
  const steps = [];
  socket.on("order:position", (p) => steps.push(p));
  const twoSteps = waitFor(socket, "order:position", () => steps.length >= 2);
  assert.equal((await post("/api/orders/R1/courier", { speed: 20, intervalMs: 50 })).status, 202);
  await twoSteps;
  const gone = waitFor(socket, "disconnect");
  await app.kill9();
  await gone;
  const before = steps.at(-1).progress;
  const back = waitFor(socket, "connect", () => true, 15_000);
  app = await startApp({ dataDir, port: app.port, args: ["--api-key", KEY] });
  await back;
  await tracked.at(-1);
  const state = states.at(-1);
  assert.equal(state.ok, true, JSON.stringify(state));
  assert.deepEqual(state.order.history.map((e) => e.status), ["preparing", "out_for_delivery"]);
  assert.ok(state.order.delivery.position.progress >= before, "the last position is kept");
  assert.equal(state.order.delivery.active, true);
  // The courier resumed on the new server: it keeps moving from where it was.
  const next = await waitFor(socket, "order:position", (p) => p.orderId === "R1" && p.progress > before);
  assert.ok(next.progress > before, `${next.progress} > ${before}`);
  // A new client gets the same.
  const other = await tracker("ruth");
  const again = await request(other, "track", { orderId: "R1" });
  assert.deepEqual(again.order.history.map((e) => e.status), ["preparing", "out_for_delivery"]);
});

describe("on PostgreSQL", () => {
  let pg;
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.stop();
  });

  test("the history and a courier on its way survive kill -9", async () => {
    const url = pg.database();
    const args = ["--database", url, "--api-key", KEY];
    let node = await startApp({ args });
    const base = { base: node.url };
    try {
      assert.equal((await post("/api/orders/P1/status", { status: "confirmed" }, base)).status, 200);
      const s = await connect(node.url, "/tracking", { username: "pia" });
      sockets.push(s);
      assert.equal((await request(s, "track", { orderId: "P1" })).ok, true);
      const stepped = waitFor(s, "order:position");
      assert.equal((await post("/api/orders/P1/courier", { speed: 20, intervalMs: 50 }, base)).status, 202);
      const first = await stepped;
      await node.kill9();
      cleanup(node.dataDir);
      node = await startApp({ args });
      const back = await connect(node.url, "/tracking", { username: "pia" });
      sockets.push(back);
      const state = await request(back, "track", { orderId: "P1" });
      assert.deepEqual(state.order.history.map((e) => e.status), ["confirmed", "out_for_delivery"]);
      assert.ok(state.order.delivery.position.progress >= first.progress);
      const next = await waitFor(back, "order:position", (p) => p.progress > first.progress);
      assert.equal(next.orderId, "P1");
    } finally {
      await node.stop();
      cleanup(node.dataDir);
    }
  });
});

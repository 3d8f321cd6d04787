// Connection state recovery with the official socket.io-client v4 against the
// `recovery_e2e` example (crates/switchboard/examples/recovery_e2e.rs): the client's transport
// is cut for 1 to 10 s while the server keeps emitting to it, to its room and to everyone;
// after reconnection it is recovered and got every non-volatile packet exactly once, in order.
// Past maxDisconnectionDuration it gets a new session. Client retries are deduplicated.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { within } from "./lib/eio.mjs";
import { startRelay } from "./lib/relay.mjs";
import { exampleBin, startExample } from "./lib/socketio-app.mjs";

const BIN = () => exampleBin("recovery_e2e", "SWITCHBOARD_RECOVERY_E2E_BIN");
const once = (emitter, event, ms = 5000) =>
  within(ms, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), event);

describe("connection state recovery", () => {
  let server;
  let short;
  const cleanup = [];

  before(async () => {
    [server, short] = await Promise.all([
      startExample(BIN()),
      startExample(BIN(), { args: ["--max-disconnection-ms", "1000"] }),
    ]);
  });

  after(async () => {
    for (const f of cleanup.reverse()) await f();
    await Promise.all([server?.stop(), short?.stop()]);
  });

  /** A client through a relay that reconnects `cutMs` after its transport is cut. */
  async function target(app, cutMs, transports = ["websocket"]) {
    const relay = await startRelay(app.port);
    const socket = io(relay.url, {
      transports,
      forceNew: true,
      reconnectionDelay: cutMs,
      reconnectionDelayMax: cutMs,
      randomizationFactor: 0,
    });
    cleanup.push(async () => {
      socket.disconnect();
      await relay.close();
    });
    const received = [];
    socket.on("m", (msg) => received.push(msg));
    const [hello] = await once(socket, "hello");
    return { socket, relay, received, hello };
  }

  async function controller(app) {
    const socket = io(app.url, { transports: ["websocket"], forceNew: true, reconnection: false });
    cleanup.push(async () => socket.disconnect());
    await once(socket, "connect");
    return socket;
  }

  /** Sends fanouts one after the other until `stop()` resolves; returns what was sent. */
  function fanouts(ctl, id, startN, run) {
    const targets = ["all", "room1", `sid:${id}`, `self:${id}`, "volatile", "sid:nobody"];
    const sent = [];
    let n = startN;
    let running = true;
    const loop = (async () => {
      while (running) {
        const to = targets[n % targets.length];
        await ctl.timeout(5000).emitWithAck("fanout", { n, to, run });
        sent.push({ n, to });
        n += 1;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    return {
      sent,
      async stop() {
        running = false;
        await loop;
        return n;
      },
    };
  }

  const forTarget = (sent) => sent.filter((m) => m.to !== "volatile" && m.to !== "sid:nobody");

  async function cutAndRecover(cutMs, transports) {
    const ctl = await controller(server);
    const t = await target(server, cutMs, transports);
    assert.equal(t.hello.recovered, false);
    const id = t.socket.id;
    const run = fanouts(ctl, id, 0, cutMs);
    await within(5000, (async () => { while (run.sent.length < 30) await new Promise((r) => setTimeout(r, 10)); })(), "warm-up");
    const disconnected = once(t.socket, "disconnect");
    const reconnected = once(t.socket, "connect", cutMs + 10_000);
    const hello = once(t.socket, "hello", cutMs + 10_000);
    t.relay.drop();
    await disconnected;
    const cutAt = run.sent.length;
    await reconnected;
    assert.equal(t.socket.recovered, true, "recovered");
    assert.equal(t.socket.id, id, "same id");
    const [again] = await hello;
    assert.equal(again.recovered, true);
    assert.deepEqual(again.data, t.hello.data, "data restored");
    assert.deepEqual(again.rooms, t.hello.rooms, "rooms restored");
    assert.ok(run.sent.length - cutAt >= Math.floor(cutMs / 100), "the server kept emitting during the cut");
    const stopAt = run.sent.length + 20;
    await within(10_000, (async () => { while (run.sent.length < stopAt) await new Promise((r) => setTimeout(r, 10)); })(), "after");
    const last = await run.stop();
    await ctl.timeout(5000).emitWithAck("fanout", { n: last, to: "all", run: cutMs });
    const mine = () => t.received.filter((m) => m.run === cutMs);
    await within(10_000, (async () => { while (!mine().some((m) => m.n === last)) await new Promise((r) => setTimeout(r, 10)); })(), "final");
    const expected = [...forTarget(run.sent).map((m) => m.n), last];
    const got = mine().filter((m) => m.to !== "volatile").map((m) => m.n);
    const all = mine().map((m) => m.n);
    assert.equal(new Set(all).size, all.length, "no packet twice");
    assert.deepEqual(got, expected, "every non-volatile packet exactly once, in order");
    return { cutMs, missedDuringCut: run.sent.length - cutAt, received: got.length };
  }

  test("a 1 s, a 4 s and a 10 s cut are recovered with every packet once, in order", async () => {
    const results = await Promise.all([1000, 4000, 10_000].map((ms) => cutAndRecover(ms)));
    for (const r of results) assert.ok(r.received > 0);
  });

  test("over long-polling a 2 s cut is recovered: the server still holds the old session and hands it over", async () => {
    // A polling client that vanishes leaves its session open on the server until the ping
    // timeout (45 s): the reconnection takes it over.
    const r = await cutAndRecover(2000, ["polling"]);
    assert.ok(r.received > 0);
  });

  test("past maxDisconnectionDuration the client gets a new session and works normally", async () => {
    const ctl = await controller(short);
    const t = await target(short, 2000);
    const id = t.socket.id;
    await ctl.timeout(5000).emitWithAck("fanout", { n: 1, to: "all" });
    await within(5000, (async () => { while (!t.received.some((m) => m.n === 1)) await new Promise((r) => setTimeout(r, 10)); })(), "n 1");
    const disconnected = once(t.socket, "disconnect");
    const reconnected = once(t.socket, "connect", 10_000);
    const hello = once(t.socket, "hello", 10_000);
    t.relay.drop();
    await disconnected;
    await ctl.timeout(5000).emitWithAck("fanout", { n: 2, to: "all" });
    await reconnected;
    assert.equal(t.socket.recovered, false);
    assert.notEqual(t.socket.id, id, "a new id");
    const [again] = await hello;
    assert.equal(again.recovered, false);
    assert.notDeepEqual(again.data, t.hello.data, "fresh data");
    await ctl.timeout(5000).emitWithAck("fanout", { n: 3, to: "room1" });
    await within(5000, (async () => { while (!t.received.some((m) => m.n === 3)) await new Promise((r) => setTimeout(r, 10)); })(), "n 3");
    assert.deepEqual(t.received.map((m) => m.n), [1, 3], "the packet sent while away is lost");
  });

  test("client retries with a deduplicating handler store each message once", async () => {
    const socket = io(server.url, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      retries: 3,
      ackTimeout: 300,
    });
    cleanup.push(async () => socket.disconnect());
    await once(socket, "connect");
    const N = 30;
    const acks = await within(
      20_000,
      Promise.all(
        Array.from({ length: N }, (_, i) =>
          socket.emitWithAck("store", { client: "c1", seq: i + 1, text: `m${i + 1}` }),
        ),
      ),
      "acks",
    );
    assert.equal(acks.length, N);
    const { stored, deliveries } = await socket.timeout(5000).emitWithAck("stored");
    const mine = stored.filter((s) => s.client === "c1");
    assert.deepEqual(mine.map((s) => s.seq), Array.from({ length: N }, (_, i) => i + 1), "each once, in order");
    assert.ok(deliveries >= N + N / 3, `the lost acks were retried (${deliveries} deliveries)`);
    // Every third message was delivered twice; its second ack says it was already stored.
    assert.ok(acks.filter((a) => a.stored === false).length >= N / 3);
  });
});

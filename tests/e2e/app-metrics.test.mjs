// `/metrics` of the `switchboard` binary: after scripted traffic from the official client, each
// counter moved by exactly what the traffic did.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { cleanup, connect, request, startApp, waitFor } from "./lib/app.mjs";

let app;

before(async () => {
  // Recovery off: with it on, a packet to one socket goes through the adapter (as in Node)
  // and counts as a broadcast delivery too.
  // Only the two apps whose traffic the counts below expect: every app's namespace adds to
  // the adapter calls of a scrape.
  const apps = ["--apps", "chat,notifications"];
  app = await startApp({ args: [...apps, "--api-key", "metrics-key", "--max-disconnection-duration-ms", "0"] });
});
after(async () => {
  const [code] = await app.stop();
  assert.equal(code, 0);
  cleanup(app.dataDir);
});

/** Every sample of the Prometheus text, by `name{labels}` as printed. */
async function scrape() {
  const res = await fetch(`${app.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const samples = new Map();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** What each sample moved by from `before` to `after` (a sample first seen counts from 0). */
function delta(before, after, key) {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

/** The scrape once `done(samples)` holds: the server counts a disconnect once it handled it. */
async function scrapeWhen(done) {
  for (let i = 0; i < 100; i++) {
    const s = await scrape();
    if (done(s)) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  return scrape();
}

const rx = (type) => `switchboard_packets_received_total{type="${type}"}`;
const tx = (type) => `switchboard_packets_sent_total{type="${type}"}`;
const WS = `switchboard_connections{transport="websocket"}`;

test("the counters move by exactly what the traffic did", async () => {
  const m0 = await scrape();

  // One WebSocket connection to /notifications: CONNECT in; its answer,
  // `notification:session` and `notification:unread` out.
  const socket = io(app.url + "/notifications", {
    auth: { username: "metrics-a" },
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
  });
  await waitFor(socket, "notification:unread");
  const m1 = await scrape();
  assert.equal(delta(m0, m1, `switchboard_handshakes_total{transport="websocket"}`), 1);
  assert.equal(delta(m0, m1, WS), 1);
  assert.equal(delta(m0, m1, rx("connect")), 1);
  assert.equal(delta(m0, m1, tx("connect")), 1);
  assert.equal(delta(m0, m1, tx("event")), 2);
  assert.ok(delta(m0, m1, "switchboard_bytes_received_total") > 0);
  assert.ok(delta(m0, m1, "switchboard_bytes_sent_total") > 0);
  assert.equal(delta(m0, m1, "switchboard_connect_seconds_count"), 1);
  // The connection read its unread count from the store.
  assert.ok(delta(m0, m1, `switchboard_store_seconds_count{outcome="ok"}`) >= 1);
  assert.equal(m1.get("switchboard_sockets"), 1);
  assert.equal(m1.get("switchboard_rooms"), 1); // the user's room

  // An event with an ack: one event in, one ack out.
  await request(socket, "notification:list", { limit: 5 });
  // A notification by HTTP: two broadcasts (`notification:new`, `notification:unread`) to the
  // user's room, each reaching this one socket.
  const unread = waitFor(socket, "notification:unread");
  const res = await fetch(`${app.url}/api/notify`, {
    method: "POST",
    headers: { authorization: "Bearer metrics-key", "content-type": "application/json" },
    body: JSON.stringify({ userId: "metrics-a", title: "hi", body: "there" }),
  });
  assert.equal(res.status, 200);
  await unread;
  const m2 = await scrape();
  assert.equal(delta(m1, m2, rx("event")), 1);
  assert.equal(delta(m1, m2, tx("ack")), 1);
  assert.equal(delta(m1, m2, "switchboard_broadcasts_total"), 2);
  assert.equal(delta(m1, m2, "switchboard_broadcast_recipients_total"), 2);
  assert.equal(delta(m1, m2, tx("event")), 2);
  assert.equal(delta(m1, m2, rx("connect")), 0);
  assert.equal(delta(m1, m2, "switchboard_acks_pending"), 0);
  // The adapter: the two broadcasts, the `fetch_sockets` that counts who got the notification,
  // and the rooms of the three namespaces listed for the scrape of `m2` itself.
  const op = (name) => `switchboard_adapter_requests_total{op="${name}"}`;
  assert.equal(delta(m1, m2, op("broadcast")), 2);
  assert.equal(delta(m1, m2, op("fetch_sockets")), 1);
  assert.equal(delta(m1, m2, op("rooms")), 3);
  assert.equal(delta(m1, m2, `switchboard_adapter_seconds_count{op="fetch_sockets"}`), 1);
  assert.equal(delta(m0, m2, `switchboard_adapter_errors_total{op="broadcast"}`), 0);

  // The client leaves: DISCONNECT in, one `client namespace disconnect`, the connection gone.
  socket.disconnect();
  const m3 = await scrapeWhen((s) => delta(m2, s, WS) === -1);
  assert.equal(delta(m2, m3, rx("disconnect")), 1);
  assert.equal(delta(m2, m3, `switchboard_disconnects_total{reason="client namespace disconnect"}`), 1);
  assert.equal(delta(m0, m3, WS), 0);
  assert.equal(delta(m2, m3, tx("event")), 0);
  assert.equal(m3.get("switchboard_sockets"), 0);
  assert.equal(delta(m0, m3, "switchboard_upgrades_total"), 0);
  assert.equal(delta(m0, m3, "switchboard_recovery_attempts_total"), 0);

  // A client that starts on polling and upgrades: the connection moves between transports.
  const upgrading = await connect(app.url, "/notifications", { username: "metrics-b" });
  if (upgrading.io.engine.transport.name !== "websocket") await waitFor(upgrading.io.engine, "upgrade");
  const m4 = await scrapeWhen((s) => delta(m3, s, "switchboard_upgrades_total") === 1);
  assert.equal(delta(m3, m4, `switchboard_handshakes_total{transport="polling"}`), 1);
  assert.equal(delta(m3, m4, `switchboard_connections{transport="polling"}`), 0);
  assert.equal(delta(m3, m4, WS), 1);
  assert.equal(delta(m3, m4, "switchboard_connect_seconds_count"), 1);
  upgrading.disconnect();
  const m5 = await scrapeWhen((s) => delta(m4, s, WS) === -1);
  assert.equal(delta(m3, m5, `switchboard_connections{transport="polling"}`), 0);
});

test("cluster mode: the Redis outage queue grows by exactly the broadcasts made while Redis is down, then empties", async () => {
  const { startRedis } = await import("./lib/redis.mjs");
  const { startPostgres } = await import("./lib/postgres.mjs");
  const { chatClient } = await import("./lib/app.mjs");
  const redis = await startRedis();
  const pg = await startPostgres();
  // A long presence TTL: no presence heartbeat is published during the test.
  const args = ["--database", pg.database(), "--redis", redis.url, "--presence-ttl-ms", "600000", "--max-disconnection-duration-ms", "0"];
  const node = await startApp({ args });
  const scrapeNode = async () => {
    const res = await fetch(`${node.url}/metrics`);
    const samples = new Map();
    for (const line of (await res.text()).split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const at = line.lastIndexOf(" ");
      samples.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return samples;
  };
  const until = async (done, what) => {
    for (let i = 0; i < 300; i++) {
      const s = await scrapeNode();
      if (done(s)) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`not within 15 s: ${what}`);
  };
  const Q = "switchboard_redis_queue";
  const DROPPED = "switchboard_redis_queue_dropped_total";
  const UP = "switchboard_redis_connected";
  let ann;
  try {
    ({ socket: ann } = await chatClient(node.url, "metrics-redis", { transports: ["websocket"] }));
    await request(ann, "room:join", { roomId: "outage" });
    const m0 = await until((s) => s.get(UP) === 1 && s.get(Q) === 0, "connected, nothing queued");
    assert.equal(m0.get("switchboard_redis_connections_total"), 1);
    assert.equal(m0.get(DROPPED), 0);

    // Redis goes away: each `message:new` broadcast to the room is one publish, held.
    await redis.kill();
    const m1 = await until((s) => s.get(UP) === 0, "the node sees Redis gone");
    assert.equal(m1.get(Q), 0);
    for (const text of ["q1", "q2", "q3"]) {
      const ack = await request(ann, "message:send", { roomId: "outage", text, clientId: text });
      assert.equal(ack.ok, true, JSON.stringify(ack));
    }
    const m2 = await scrapeNode();
    assert.equal(delta(m1, m2, Q), 3);
    assert.equal(delta(m1, m2, "switchboard_broadcasts_total"), 3);
    assert.equal(delta(m1, m2, DROPPED), 0);

    // Back: the held publishes are sent, the queue empties, nothing was dropped.
    await redis.restart();
    const m3 = await until((s) => s.get(UP) === 1 && s.get(Q) === 0, "reconnected, queue sent");
    assert.equal(m3.get("switchboard_redis_connections_total"), 2);
    assert.equal(m3.get(DROPPED), 0);
  } finally {
    ann?.close();
    await node.stop();
    cleanup(node.dataDir);
    await pg.stop();
    await redis.stop();
  }
});

test("an SSE stream counts in switchboard_sse_streams while it is open", async () => {
  const { openSse } = await import("./lib/sse.mjs");
  const STREAMS = "switchboard_sse_streams";
  const m0 = await scrape();
  const s = await openSse(`${app.url}/sse?namespace=/chat&rooms=metrics-sse&username=metrics-sse`);
  assert.deepEqual(await s.next(), { comment: "subscribed" });
  const m1 = await scrape();
  assert.equal(delta(m0, m1, STREAMS), 1);
  s.close();
  const m2 = await scrapeWhen((x) => delta(m0, x, STREAMS) === 0);
  assert.equal(delta(m0, m2, STREAMS), 0);
  assert.equal(delta(m0, m2, "switchboard_sse_overflows_total"), 0);
});

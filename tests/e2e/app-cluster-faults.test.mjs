// Faults under a cluster of two `switchboard` nodes: PostgreSQL or Redis going away at run time
// crashes no node; requests that need the database are answered `unavailable` while it is
// away; the nodes recover by themselves once it is back.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { chatClient, cleanup, request, startApp, waitFor } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";
import { startRedis, subscribed } from "./lib/redis.mjs";

const KEY = "faults-key";

/** Retries `attempt` every 100 ms until `ok(result)`; the result; fails after `ms`. */
async function retry(attempt, ok, what, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const result = await attempt().catch((e) => e);
    if (ok(result)) return result;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what} (last: ${JSON.stringify(result?.message ?? result)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("cluster faults (pub/sub adapter)", () => {
  let redis;
  let pg;
  const nodes = [];
  const sockets = [];

  before(async () => {
    redis = await startRedis();
    pg = await startPostgres();
    const args = ["--database", pg.database(), "--redis", redis.url, "--presence-ttl-ms", "2000", "--api-key", KEY];
    nodes.push(...(await Promise.all([startApp({ args }), startApp({ args })])));
  });
  after(async () => {
    for (const s of sockets) s.close();
    for (const node of nodes) {
      await node.stop();
      cleanup(node.dataDir);
    }
    await pg?.stop();
    await redis?.stop();
  });

  const alive = async () => {
    for (const node of nodes) {
      assert.equal(node.child.exitCode, null, `node exited: ${node.stderr()}`);
      assert.equal(await (await fetch(`${node.url}/healthz`)).text(), "ok");
    }
  };

  test("the database goes away: unavailable answers, no crash, recovery by itself", async () => {
    const [n0, n1] = nodes;
    const ann = await chatClient(n0.url, "ann-db", { transports: ["websocket"] });
    const bob = await chatClient(n1.url, "bob-db", { transports: ["websocket"] });
    sockets.push(ann.socket, bob.socket);
    await request(ann.socket, "room:join", { roomId: "db" });
    await request(bob.socket, "room:join", { roomId: "db" });

    await pg.pause();
    const refused = await request(ann.socket, "message:send", { roomId: "db", text: "lost?", clientId: "d1" });
    assert.equal(refused.ok, false);
    assert.equal(refused.error.code, "unavailable");
    const history = await request(bob.socket, "messages:history", { roomId: "db" });
    assert.deepEqual([history.ok, history.error?.code], [false, "unavailable"]);
    const notify = await fetch(`${n0.url}/api/notify`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userId: "bob-db", title: "t", body: "b" }),
    });
    assert.equal(notify.status, 503);
    assert.equal((await notify.json()).error.code, "unavailable");
    // A connection made meanwhile stays up and waits for its session.
    const carl = io(n1.url + "/chat", { auth: { username: "carl-db" }, forceNew: true, reconnection: false, transports: ["websocket"] });
    sockets.push(carl);
    const session = waitFor(carl, "session", () => true, 20_000);
    await alive();

    await pg.resume();
    // The same send, retried by the client, goes through once the database is back.
    const sent = await retry(
      () => request(ann.socket, "message:send", { roomId: "db", text: "lost?", clientId: "d1" }),
      (r) => r?.ok === true,
      "a send after the database is back",
    );
    assert.equal(sent.seq, 1);
    const joined = await request(bob.socket, "room:join", { roomId: "db" });
    assert.deepEqual(joined.history.map((m) => m.text), ["lost?"]);
    assert.equal((await session).userId, "carl-db");
    await alive();
  });

  test("Redis goes away: messages are stored and acknowledged, and the nodes are back together once it is", async () => {
    const [n0, n1] = nodes;
    const ann = await chatClient(n0.url, "ann-r", { transports: ["websocket"] });
    const bob = await chatClient(n1.url, "bob-r", { transports: ["websocket"] });
    sockets.push(ann.socket, bob.socket);
    await request(ann.socket, "room:join", { roomId: "r" });
    await request(bob.socket, "room:join", { roomId: "r" });
    await retry(
      () => request(ann.socket, "users:online"),
      (r) => r?.users?.some((u) => u.userId === "bob-r"),
      "bob online at node 0",
    );

    await redis.kill();
    // Listening before the send: the message may cross as soon as Redis is back. (The
    // outage comes about a second after the nodes started, before one node's periodic
    // subscriber count may have seen the other: the hold after a reconnection covers that.)
    const live = waitFor(bob.socket, "message:new", (m) => m.text === "during the outage", 30_000);
    live.catch(() => {}); // awaited below; no unhandled rejection if an earlier step fails
    const sent = await request(ann.socket, "message:send", { roomId: "r", text: "during the outage" });
    assert.equal(sent.ok, true);
    // Longer than the presence TTL: neither node forgets the other's users while it cannot
    // hear them.
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok((await request(ann.socket, "users:online")).users.some((u) => u.userId === "bob-r"));
    await alive();

    await redis.restart();
    // Both nodes subscribe again by themselves (the request channel of `/` counts them).
    await subscribed(redis.url, 2);
    // What was acknowledged during the outage is there for the other node, and is delivered
    // to it live once Redis is back (the adapter publishes what it could not send meanwhile).
    const history = await request(bob.socket, "messages:history", { roomId: "r" });
    assert.ok(history.messages.some((m) => m.id === sent.id && m.text === "during the outage"));
    assert.equal((await live).id, sent.id);
    // Live messages cross again, both ways.
    const atAnn = waitFor(ann.socket, "message:new", (m) => m.text === "after the outage", 10_000);
    assert.equal((await request(bob.socket, "message:send", { roomId: "r", text: "after the outage" })).ok, true);
    await atAnn;
    const atBob = waitFor(bob.socket, "message:new", (m) => m.text === "and back", 10_000);
    assert.equal((await request(ann.socket, "message:send", { roomId: "r", text: "and back" })).ok, true);
    await atBob;
    assert.ok((await request(bob.socket, "users:online")).users.some((u) => u.userId === "ann-r"));
    await alive();
  });
});

// A cluster that needs no sticky sessions: three `switchboard` nodes (one Redis, one
// PostgreSQL) behind nginx in plain round-robin (no ip_hash, no sticky cookie). Official
// clients in polling-only mode and in the default mode (polling, then the upgrade) talk
// through it: every request of a session may reach any node, which forwards it to the
// session's owner. No `Session ID unknown`, every broadcast delivered, acks answered; a node
// killed mid-test has its clients reconnect through nginx and carry on; forged forwarded
// requests are refused.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { io } from "socket.io-client";

import { cleanup, request, startApp, waitFor } from "./lib/app.mjs";
import { freePort, startNginx } from "./lib/nginx.mjs";
import { startPostgres } from "./lib/postgres.mjs";
import { startRedis } from "./lib/redis.mjs";

const TOKEN = "e2e-cluster-token-0123456789";
const EIO = "/socket.io/?EIO=4&transport=polling";

/** Resolves once `pred()` holds, checked every 20 ms; fails after `ms` with `what`. */
async function eventually(pred, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A polling handshake straight on `url`: the session id. */
async function handshake(url) {
  const res = await fetch(url + EIO);
  assert.equal(res.status, 200);
  const text = await res.text();
  return JSON.parse(text.slice(1)).sid;
}

describe("three nodes behind nginx round-robin, no sticky sessions", () => {
  let redis;
  let pg;
  let nginx;
  const nodes = [];
  /** The session-id tag (first 4 characters) of each node. */
  const tags = [];
  const sockets = [];

  before(async () => {
    redis = await startRedis();
    pg = await startPostgres();
    const url = pg.database();
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const started = await Promise.all(
      ports.map((port) =>
        startApp({
          port,
          args: ["--database", url, "--redis", redis.url, "--cluster-advertise", `127.0.0.1:${port}`],
          env: { SWITCHBOARD_CLUSTER_TOKEN: TOKEN },
        }),
      ),
    );
    nodes.push(...started);
    for (const node of nodes) tags.push((await handshake(node.url)).slice(0, 4));
    assert.equal(new Set(tags).size, 3, "each node has its own tag");
    nginx = await startNginx(ports);
  });
  after(async () => {
    for (const s of sockets) s.close();
    await nginx?.stop();
    for (const node of nodes) {
      await node.stop();
      cleanup(node.dataDir);
    }
    await pg?.stop();
    await redis?.stop();
  });

  /** A chat client through nginx that joins `room` on every (re)connection. */
  const client = async (name, room, opts) => {
    const socket = io(nginx.url + "/chat", {
      auth: { username: name },
      forceNew: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      ...opts,
    });
    sockets.push(socket);
    const errors = [];
    socket.on("connect_error", (e) => errors.push(e));
    const joined = { count: 0 };
    socket.on("session", async () => {
      const res = await request(socket, "room:join", { roomId: room });
      assert.equal(res.ok, true);
      joined.count += 1;
    });
    const seen = [];
    socket.on("message:new", (m) => seen.push(m.text));
    await eventually(() => joined.count === 1, `${name} joined`);
    return { name, socket, errors, seen, joined, owner: () => socket.io.engine?.id?.slice(0, 4) };
  };

  const polling = { transports: ["polling"] };

  test("polling-only and default clients: broadcasts delivered, acks answered, no Session ID unknown", async () => {
    const clients = [];
    for (let i = 0; i < 8; i++) {
      if (i < 4) clients.push(await client(`poll${i}`, "lobby", polling));
      clients.push(await client(`dflt${i}`, "lobby", {}));
    }
    // The default-mode clients upgrade, whichever node their upgrade request reaches.
    for (const c of clients.filter((c) => c.name.startsWith("dflt"))) {
      await eventually(() => c.socket.io.engine.transport.name === "websocket", `${c.name} upgraded`);
    }
    // Every client sends; every client (the sender too) gets every message.
    const texts = [];
    for (const c of clients) {
      const text = `from ${c.name}`;
      texts.push(text);
      const sent = await request(c.socket, "message:send", { roomId: "lobby", text, clientId: text });
      assert.equal(sent.ok, true, `${c.name}'s ack`);
    }
    for (const c of clients) {
      await eventually(() => texts.every((t) => c.seen.includes(t)), `${c.name} got every message`);
    }
    // Sessions are spread over the nodes, and requests of one session reached several nodes.
    const owners = new Set(clients.map((c) => c.owner()));
    assert.ok(owners.size >= 2, `sessions on ${owners.size} node(s)`);
    const log = nginx.accessLog();
    const upstreamsOf = new Map();
    for (const line of log) {
      const sid = /[?&]sid=([^&]+)/.exec(line.uri)?.[1];
      if (!sid) continue;
      if (!upstreamsOf.has(sid)) upstreamsOf.set(sid, new Set());
      upstreamsOf.get(sid).add(line.upstream);
    }
    const crossed = [...upstreamsOf.values()].filter((set) => set.size >= 2).length;
    assert.ok(crossed >= clients.length / 2, `${crossed} sessions had requests on several nodes`);
    const bad = log.filter((l) => l.status >= 400);
    assert.deepEqual(bad, [], "no error answer through nginx (no Session ID unknown)");
    for (const c of clients) assert.deepEqual(c.errors, [], `${c.name} had no connect_error`);
    for (const c of clients) c.socket.close();
    // nginx logs an upgraded connection when it closes. With round-robin, upgrades reached
    // nodes that do not own the session (proxied to the owner) and worked all the same.
    const upgrades = () => nginx.accessLog().filter((l) => l.uri.includes("transport=websocket"));
    await eventually(() => upgrades().length === 8, "every upgrade logged");
    const tagAt = new Map(nodes.map((n, i) => [`127.0.0.1:${n.port}`, tags[i]]));
    const proxied = upgrades().filter((l) => /[?&]sid=([^&]+)/.exec(l.uri)[1].slice(0, 4) !== tagAt.get(l.upstream));
    assert.ok(proxied.length >= 1, "some upgrades reached another node than the owner");
    assert.deepEqual(upgrades().filter((l) => l.status !== 101), [], "every upgrade answered 101");
  });

  test("forged forwarded requests are refused; the token is accepted and never forwarded again", async () => {
    const [n0, n1] = nodes;
    const sid = await handshake(n0.url);
    const target = `${n0.url}${EIO}&sid=${sid}`;
    const post = (url, headers) =>
      fetch(url, { method: "POST", body: "40", headers: { "content-type": "text/plain", ...headers } });
    for (const headers of [
      { "x-switchboard-forwarded": "1" },
      { "x-switchboard-forwarded": "1", "x-switchboard-cluster-token": "wrong" },
      { "x-switchboard-forwarded": "1", "x-switchboard-cluster-token": TOKEN.slice(0, -1) + "X" },
    ]) {
      const res = await post(target, headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.deepEqual(await res.json(), { code: 4, message: "Bad cluster token" });
    }
    const ok = await post(target, { "x-switchboard-forwarded": "1", "x-switchboard-cluster-token": TOKEN });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "ok");
    // Node 1 does not hold the session: marked as forwarded, it answers without forwarding.
    const again = await post(`${n1.url}${EIO}&sid=${sid}`, {
      "x-switchboard-forwarded": "1",
      "x-switchboard-cluster-token": TOKEN,
    });
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { code: 1, message: "Session ID unknown" });
    // Unmarked, node 1 forwards it to node 0.
    const forwarded = await post(`${n1.url}${EIO}&sid=${sid}`, {});
    assert.equal(forwarded.status, 200);
  });

  test("a node killed mid-test: its clients reconnect through nginx and carry on", async () => {
    const victim = 2;
    const clients = [];
    // Enough clients that some live on the node to kill (round-robin spreads them).
    for (let i = 0; i < 30 && clients.filter((c) => c.owner() === tags[victim]).length < 2; i++) {
      clients.push(await client(`k${i}`, "after", i % 2 ? polling : {}));
    }
    const onVictim = clients.filter((c) => c.owner() === tags[victim]);
    assert.ok(onVictim.length >= 2, "clients on the node to kill");
    const before = new Map(clients.map((c) => [c.name, c.joined.count]));
    await nodes[victim].kill9();
    // Each of the victim's clients comes back on another node and joins again.
    for (const c of onVictim) {
      await eventually(
        () => c.socket.connected && c.joined.count > before.get(c.name) && c.owner() !== tags[victim],
        `${c.name} back on a live node`,
        20_000,
      );
    }
    // Every client is connected; a message from each (acked) reaches every other.
    for (const c of clients) await eventually(() => c.socket.connected, `${c.name} connected`, 20_000);
    const texts = [];
    for (const c of clients) {
      const text = `after ${c.name}`;
      texts.push(text);
      const sent = await request(c.socket, "message:send", { roomId: "after", text, clientId: text });
      assert.equal(sent.ok, true, `${c.name}'s ack`);
    }
    for (const c of clients) {
      await eventually(() => texts.every((t) => c.seen.includes(t)), `${c.name} got every message`, 15_000);
    }
    for (const c of clients) c.socket.close();
  });
});

// The `switchboard` binary as a cluster: three nodes on one Redis and one PostgreSQL database,
// official clients spread over them. Room messages, history, private messages, presence,
// typing, receipts and notifications cross nodes; a node killed with SIGKILL takes its users
// offline on the others within the presence TTL, and they come back on another node with
// nothing acknowledged lost. Run on the pub/sub, the sharded and the Streams adapter. Bad configurations
// stop the start with one clear line.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { io } from "socket.io-client";

import { chatClient, cleanup, collect, connect, request, startApp, waitFor } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";
import { startRedis } from "./lib/redis.mjs";
import { startRelay } from "./lib/relay.mjs";

const KEY = "cluster-key";
/** The presence TTL of the nodes: a killed node's users are offline elsewhere within it
 * (plus one heartbeat, a third of it, and the time to announce). */
const TTL_MS = 2000;

/** Resolves once `pred()` holds, checked every 20 ms; fails after `ms` with `what`. */
async function eventually(pred, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const presenceOf = (user, status) => (u) => u.userId === user && u.status === status;

for (const adapter of ["redis", "sharded", "streams"]) {
  describe(`cluster of three nodes (${adapter} adapter)`, () => {
    let redis;
    let pg;
    let url;
    const nodes = [];
    const sockets = [];

    before(async () => {
      redis = await startRedis();
      pg = await startPostgres();
      url = pg.database();
      const args = ["--database", url, "--redis", redis.url, "--adapter", adapter];
      args.push("--presence-ttl-ms", String(TTL_MS), "--api-key", KEY);
      // Together: migrations under the advisory lock, presence learnt from one another.
      nodes.push(...(await Promise.all([0, 1, 2].map(() => startApp({ args })))));
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

    const client = async (node, name) => {
      const c = await chatClient(node.url, name, { transports: ["websocket"] });
      sockets.push(c.socket);
      return c;
    };

    test("messages, history, private messages, presence, typing, receipts and notifications cross nodes", async () => {
      const [n0, n1, n2] = nodes;
      const ann = await client(n0, "ann");
      const bob = await client(n1, "bob");
      const cat = await client(n2, "cat");
      for (const c of [ann, bob, cat]) {
        assert.equal((await request(c.socket, "room:join", { roomId: "lobby" })).ok, true);
      }
      // Every node lists the users of the others.
      for (const c of [ann, bob, cat]) {
        await eventually(async () => {
          const { users } = await request(c.socket, "users:online");
          return ["ann", "bob", "cat"].every((id) => users.some((u) => u.userId === id));
        }, "users:online lists every node's users");
      }

      // A room message reaches the members on every node, and every node reads it back.
      const gotBob = waitFor(bob.socket, "message:new", (m) => m.text === "hello cluster");
      const gotCat = waitFor(cat.socket, "message:new", (m) => m.text === "hello cluster");
      const sent = await request(ann.socket, "message:send", { roomId: "lobby", text: "hello cluster", clientId: "c1" });
      assert.equal(sent.ok, true);
      const [atBob, atCat] = await Promise.all([gotBob, gotCat]);
      assert.equal(atBob.id, sent.id);
      assert.equal(atCat.seq, sent.seq);
      const history = await request(cat.socket, "messages:history", { roomId: "lobby" });
      assert.deepEqual(history.messages.map((m) => m.text), ["hello cluster"]);

      // Typing from node 1 shows on nodes 0 and 2.
      const typingAnn = waitFor(ann.socket, "typing:update", (t) => t.userId === "bob" && t.isTyping);
      const typingCat = waitFor(cat.socket, "typing:update", (t) => t.userId === "bob" && t.isTyping);
      assert.equal((await request(bob.socket, "typing:update", { roomId: "lobby", isTyping: true })).ok, true);
      await Promise.all([typingAnn, typingCat]);

      // A read receipt on node 2 reaches the author on node 0.
      const status = waitFor(ann.socket, "message:status", (s) => s.messageId === sent.id && s.status === "read");
      assert.equal((await request(cat.socket, "message:read", { messageId: sent.id })).ok, true);
      assert.equal((await status).userId, "cat");

      // A private message from node 1 to a user on node 2, acknowledged there.
      const privateNew = waitFor(cat.socket, "private:new", (m) => m.text === "psst");
      const priv = await request(bob.socket, "private:send", { toUserId: "cat", text: "psst", clientId: "p1" });
      assert.equal(priv.ok, true);
      const [message, ack] = await privateNew;
      assert.equal(message.id, priv.id);
      ack({ ok: true });

      // Presence: dan comes online on node 2 and leaves; ann (node 0) and bob (node 1) hear
      // each change exactly once.
      const heard = (status) =>
        Promise.all([ann, bob].map((c) => waitFor(c.socket, "presence:update", presenceOf("dan", status))));
      const dan = await client(n2, "dan");
      await request(dan.socket, "room:join", { roomId: "lobby" });
      const gone = heard("offline");
      dan.socket.close();
      await gone;
      const seenAnn = collect(ann.socket, "presence:update");
      const seenBob = collect(bob.socket, "presence:update");
      const online = heard("online");
      const again = await client(n2, "dan");
      await online;
      const offline = heard("offline");
      again.socket.close();
      await offline;
      // Once more: each node announces what node 2 says in order, so anything announced
      // twice would come before this third change.
      const third = heard("online");
      const last = await client(n2, "dan");
      await third;
      for (const seen of [seenAnn, seenBob]) {
        assert.deepEqual(
          seen.filter((u) => u.userId === "dan").map((u) => u.status),
          ["online", "offline", "online"],
        );
      }
      last.socket.close();

      // A notification created on node 0 reaches cat's inbox on node 2.
      const inbox = await connect(n2.url, "/notifications", { username: "cat" }, { transports: ["websocket"] });
      sockets.push(inbox);
      const pushed = waitFor(inbox, "notification:new", (n) => n.title === "cross");
      const res = await fetch(`${n0.url}/api/notify`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: "cat", title: "cross", body: "from node 0" }),
      });
      const body = await res.json();
      assert.equal(res.status, 200);
      assert.equal(body.delivered, 1);
      assert.equal((await pushed).id, body.id);
      for (const c of [ann, bob, cat]) c.socket.close();
    });

    if (adapter === "streams") {
      test("a client cut from one node is recovered on another with every message it missed", async () => {
        const [n0, n1, n2] = nodes;
        const relay = await startRelay(n0.port);
        const bob = await client(n2, "bob-r");
        await request(bob.socket, "room:join", { roomId: "recover" });
        const ann = io(relay.url + "/chat", {
          auth: { username: "ann-r" },
          forceNew: true,
          transports: ["websocket"],
          reconnectionDelay: 1000,
          reconnectionDelayMax: 1000,
          randomizationFactor: 0,
        });
        sockets.push(ann);
        try {
          await waitFor(ann, "session");
          assert.equal((await request(ann, "room:join", { roomId: "recover" })).ok, true);
          const seen = collect(ann, "message:new");
          const first = await request(bob.socket, "message:send", { roomId: "recover", text: "m0", clientId: "r0" });
          assert.equal(first.ok, true);
          await eventually(() => seen.length === 1, "the first message");
          const id = ann.id;
          // Cut from node 0; the reconnection lands on node 1.
          relay.retarget(n1.port);
          const back = new Promise((resolve) => ann.once("connect", resolve));
          relay.drop();
          for (const text of ["m1", "m2", "m3"]) {
            assert.equal((await request(bob.socket, "message:send", { roomId: "recover", text, clientId: text })).ok, true);
          }
          await back;
          assert.equal(ann.recovered, true, "recovered on node 1");
          assert.equal(ann.id, id, "same id");
          await eventually(() => seen.length === 4, "every missed message");
          assert.deepEqual(seen.map((m) => m.text), ["m0", "m1", "m2", "m3"], "once each, in order");
          // The room is live on the new node.
          await request(bob.socket, "message:send", { roomId: "recover", text: "m4", clientId: "r4" });
          await eventually(() => seen.length === 5, "a later message");
          assert.equal(seen[4].text, "m4");
        } finally {
          ann.close();
          await relay.close();
        }
      });
    }

    test("a node killed with SIGKILL: its users go offline elsewhere, come back on another node, nothing acknowledged is lost", async () => {
      const [n0, n1, n2] = nodes;
      const ann = await client(n0, "ann-k");
      const eve = await client(n2, "eve-k");
      await request(ann.socket, "room:join", { roomId: "crash" });
      await request(eve.socket, "room:join", { roomId: "crash" });
      await eventually(async () => (await request(ann.socket, "users:online")).users.some((u) => u.userId === "eve-k"), "eve online at node 0");
      const before = await request(eve.socket, "message:send", { roomId: "crash", text: "acknowledged before the crash", clientId: "e1" });
      assert.equal(before.ok, true);

      const offline = waitFor(ann.socket, "presence:update", presenceOf("eve-k", "offline"), TTL_MS * 4);
      const killedAt = Date.now();
      await n2.kill9();
      nodes.splice(2, 1);
      cleanup(n2.dataDir);
      await offline;
      const took = Date.now() - killedAt;
      // The bound: the TTL after the last heartbeat (at most a third of the TTL before the
      // kill), plus a heartbeat of the observer, plus a margin for a loaded machine.
      assert.ok(took <= TTL_MS + TTL_MS / 3 + TTL_MS / 3 + 1500, `offline after ${took} ms`);
      const { users } = await request(ann.socket, "users:online");
      assert.ok(!users.some((u) => u.userId === "eve-k"), "eve is gone from users:online");

      // While she is away, ann writes to her privately and in the room.
      const priv = await request(ann.socket, "private:send", { toUserId: "eve-k", text: "while you were away", clientId: "a1" });
      assert.equal(priv.ok, true);
      const during = await request(ann.socket, "message:send", { roomId: "crash", text: "during the outage", clientId: "a2" });
      assert.equal(during.ok, true);

      // Eve reconnects to node 1: online again for ann, her history and her private message.
      const online = waitFor(ann.socket, "presence:update", presenceOf("eve-k", "online"));
      const eveSocket = io(n1.url + "/chat", {
        auth: { username: "eve-k" },
        forceNew: true,
        reconnection: false,
        transports: ["websocket"],
      });
      sockets.push(eveSocket);
      const pending = waitFor(eveSocket, "private:new", (m) => m.id === priv.id);
      await waitFor(eveSocket, "session");
      await online;
      const [message, ack] = await pending;
      assert.equal(message.text, "while you were away");
      ack({ ok: true });
      const joined = await request(eveSocket, "room:join", { roomId: "crash" });
      assert.deepEqual(
        joined.history.map((m) => [m.id, m.text]),
        [
          [before.id, "acknowledged before the crash"],
          [during.id, "during the outage"],
        ],
      );
      // Her retry of the acknowledged send is answered from the store, not stored twice.
      const retry = await request(eveSocket, "message:send", { roomId: "crash", text: "acknowledged before the crash", clientId: "e1" });
      assert.equal(retry.id, before.id);
      assert.equal(retry.duplicate, true);
      ann.socket.close();
      eveSocket.close();
    });
  });
}

describe("cluster configuration refused at start", () => {
  let redis;
  let pg;
  before(async () => {
    redis = await startRedis();
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.stop();
    await redis?.stop();
  });

  test("a database of a newer schema, a wrong password, an unreachable database", async () => {
    const url = pg.database();
    const node = await startApp({ args: ["--database", url, "--redis", redis.url] });
    await node.stop();
    cleanup(node.dataDir);
    pg.sql(url, "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)");
    await assert.rejects(
      startApp({ args: ["--database", url, "--redis", redis.url] }),
      /switchboard: error: cannot open the database postgres:\/\/127\.0\.0\.1:\d+\/\w+: the database has schema version 99, this binary knows \d+: upgrade the binary/,
    );

    pg.requirePassword("sb_node", "right");
    const wrong = url.replace("postgres://postgres@", "postgres://sb_node:wrong@");
    await assert.rejects(
      startApp({ args: ["--database", wrong, "--redis", redis.url] }),
      /switchboard: error: cannot open the database postgres:\/\/127\.0\.0\.1:\d+\/\w+: database error: .*password authentication failed for user "sb_node"/,
    );
    assert.ok(!wrong.includes("right"));

    await assert.rejects(
      startApp({ args: ["--database", "postgres://postgres@127.0.0.1:1/none", "--redis", redis.url] }),
      /switchboard: error: cannot open the database postgres:\/\/127\.0\.0\.1:1\/none: database error/,
    );
  });
});

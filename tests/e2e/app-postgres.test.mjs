// The `switchboard` binary on PostgreSQL (`--database postgres://...`): two nodes started
// together on one database (migrations run once, under an advisory lock) share history; a node
// killed with SIGKILL comes back with everything acknowledged before.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { cleanup, request, sessionClient, startApp } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";

describe("PostgreSQL store", () => {
  let pg;
  let url;
  const apps = [];
  before(async () => {
    pg = await startPostgres();
    url = pg.database();
  });
  after(async () => {
    for (const app of apps) {
      await app.stop();
      cleanup(app.dataDir);
    }
    await pg?.stop();
  });

  const start = async () => {
    const app = await startApp({ args: ["--database", url] });
    apps.push(app);
    return app;
  };

  test("two nodes on one database share history and message numbers", async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const ann = await sessionClient(a.url, { username: "ann-pg" });
    const bob = await sessionClient(b.url, { username: "bob-pg" });
    try {
      await request(ann.socket, "room:join", { roomId: "pg-room" });
      await request(bob.socket, "room:join", { roomId: "pg-room" });
      const acks = [];
      for (let i = 0; i < 10; i++) {
        const from = i % 2 === 0 ? ann : bob;
        acks.push(await request(from.socket, "message:send", { roomId: "pg-room", text: `m${i}`, clientId: `pg-${i}` }));
      }
      assert.deepEqual(acks.map((ack) => ack.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      // Each node reads what the other one stored.
      for (const socket of [ann.socket, bob.socket]) {
        const joined = await request(socket, "room:join", { roomId: "pg-room" });
        assert.deepEqual(joined.history.map((m) => m.text), ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
      }
    } finally {
      ann.socket.close();
      bob.socket.close();
    }
  });

  test("a node killed with SIGKILL keeps every acknowledged message", async () => {
    const node = await start();
    const ann = await sessionClient(node.url, { username: "ann-pg-kill" });
    await request(ann.socket, "room:join", { roomId: "pg-kill" });
    const ack = await request(ann.socket, "message:send", { roomId: "pg-kill", text: "before the crash", clientId: "k1" });
    assert.equal(ack.ok, true);
    ann.socket.close();
    await node.kill9();
    const again = await start();
    const back = await sessionClient(again.url, { username: "ann-pg-kill" });
    try {
      const joined = await request(back.socket, "room:join", { roomId: "pg-kill" });
      assert.deepEqual(joined.history.map((m) => [m.seq, m.text]), [[1, "before the crash"]]);
      // A retry of the same send is answered from the store, not stored twice.
      const retry = await request(back.socket, "message:send", { roomId: "pg-kill", text: "before the crash", clientId: "k1" });
      assert.equal(retry.id, ack.id);
    } finally {
      back.socket.close();
    }
  });

  test("an unreachable database stops the start with one clear line", async () => {
    await assert.rejects(
      startApp({ args: ["--database", "postgres://postgres@127.0.0.1:1/none"] }),
      /cannot open the database postgres:\/\/127\.0\.0\.1:1\/none/,
    );
  });
});

// Redis SIGKILLed and restarted while broadcasts flow through a cluster of two Switchboard
// nodes and one Node node (official adapter): no node crashes or drops its clients; the
// broadcasts the Switchboard nodes sent during the outage reach every client once Redis is
// back, once each and in order; later broadcasts from every node arrive. Then Redis stalls
// (SIGSTOP, SIGCONT): the nodes wait for it instead of reconnecting, nothing is lost or
// doubled. With the classic pub/sub adapter and the sharded one (default dynamic mode).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { delay, within } from "./lib/eio.mjs";
import { client, record, startNodeNode, startRedis, startSwitchboardNode, subscribed, until } from "./lib/redis.mjs";

/** Which broadcasts each client lacks, by sender. */
function missing(got, count) {
  return [...got]
    .map(([c, list]) =>
      ["sb1", "sb2"].map((from) => {
        const seqs = new Set(list.filter((m) => m.from === from).map((m) => m.seq));
        return `${c.label} from ${from}: [${[...Array(count).keys()].filter((i) => !seqs.has(i))}]`;
      }),
    )
    .flat()
    .join(", ");
}

for (const adapter of ["redis", "sharded"]) {
  const sharded = adapter === "sharded";
  describe(`${adapter} adapter`, () => {
    let redis;
    let nodes = [];
    let clients = [];


    before(async () => {
      redis = await startRedis();
      nodes = await Promise.all([
        startSwitchboardNode(redis.url, "sb1", { adapter }),
        startSwitchboardNode(redis.url, "sb2", { adapter }),
        startNodeNode(redis.url, "node", { adapter }),
      ]);
      await subscribed(redis.url, nodes.length, { sharded });
      for (const node of nodes) clients.push(await client(node, `${node.name}-0`));
    });

    after(async () => {
      for (const c of clients) c.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis?.stop();
    });

    const ask = (socket, event, data) => socket.timeout(8000).emitWithAck(event, data);
    // A node's status once its queue is empty: a publish leaves the queue when Redis's reply
    // to it is read, which can come after the subscribers got the message.
    const drained = (socket) =>
      within(
        5000,
        (async () => {
          for (;;) {
            const status = await ask(socket, "status", null);
            if (status.queued === 0) return status;
            await delay(20);
          }
        })(),
        "an empty queue",
      );

    test("broadcasts sent while Redis is down arrive once it is back, once each and in order", async () => {
      const [sb1, sb2, nd] = clients;
      const got = new Map(clients.map((c) => [c, record(c, "flow")]));
      // After an outage a Switchboard node holds its queue until Redis counts as many
      // subscribers as it last saw; a cluster request (or its periodic check) reads them.
      for (const s of [sb1, sb2]) {
        assert.equal((await ask(s, "fetch", null)).length, clients.length);
        assert.equal((await ask(s, "status", null)).state, "connected");
      }
      let seq = 0;
      const send = async (n) => {
        for (let i = 0; i < n; i++, seq++) {
          await Promise.all([sb1, sb2].map((s, k) => ask(s, "emit", { event: "flow", data: { from: `sb${k + 1}`, seq } })));
        }
      };
      await send(10);
      // Delivered before the kill: a publish Redis has answered can still die with it, unsent
      // to the subscribers (it writes to the publisher first), which no client can repair.
      await until(clients, "flow", () => [...got.values()].every((g) => g.length >= 2 * seq), "the first broadcasts");
      await redis.kill();
      await send(10);
      const down = await ask(sb1, "status", null);
      assert.ok(down.queued > 0 || down.state === "reconnecting", JSON.stringify(down));
      await redis.restart();
      await send(10);
      const total = 2 * seq;
      await until(clients, "flow", () => [...got.values()].every((g) => g.length >= total), "every broadcast", 30_000).catch((err) => {
        throw new Error(`${err.message}; missing: ${missing(got, seq)}`);
      });
      for (const [c, list] of got) {
        assert.equal(list.length, total, `${c.label}: each once`);
        for (const from of ["sb1", "sb2"]) {
          const seqs = list.filter((m) => m.from === from).map((m) => m.seq);
          assert.deepEqual(seqs, [...Array(seq).keys()], `${c.label}: from ${from}, in order`);
        }
      }
      for (const s of [sb1, sb2]) {
        const status = await drained(s);
        assert.equal(status.state, "connected");
        assert.equal(status.overflowed, 0);
        assert.ok(status.connections >= 2, JSON.stringify(status));
      }

      // Every node, the Node one included, is back: later broadcasts from each reach everyone.
      await subscribed(redis.url, nodes.length, { sharded });
      const after = new Map(clients.map((c) => [c, record(c, "after")]));
      for (const [k, s] of clients.entries()) {
        assert.equal(await ask(s, "emit", { event: "after", data: nodes[k].name }), true);
      }
      await until(clients, "after", () => [...after.values()].every((g) => g.length === nodes.length), "later broadcasts");
      for (const [c, list] of after) assert.deepEqual([...list].sort(), ["node", "sb1", "sb2"], c.label);
      for (const c of clients) assert.ok(c.connected, `${c.label} kept its connection`);
      for (const n of nodes) assert.equal(n.child.exitCode, null, `${n.name} still runs`);
    });

    test("a stalled Redis is waited for, not taken for an outage: nothing lost, nothing twice", async () => {
      const [sb1, sb2] = clients;
      const before = await Promise.all([sb1, sb2].map((s) => ask(s, "status", null)));
      const got = new Map(clients.map((c) => [c, record(c, "stall")]));
      let seq = 0;
      const send = async (n) => {
        for (let i = 0; i < n; i++, seq++) {
          await Promise.all([sb1, sb2].map((s, k) => ask(s, "emit", { event: "stall", data: { from: `sb${k + 1}`, seq } })));
        }
      };
      await send(5);
      redis.pause();
      try {
        await send(10);
        // Longer than redis-rs's default command timeout (500 ms), which took a stall for an
        // outage and reconnected, dropping subscriptions meanwhile and sending batches twice.
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        redis.resume();
      }
      await send(5);
      const total = 2 * seq;
      await until(clients, "stall", () => [...got.values()].every((g) => g.length >= total), "every broadcast", 30_000).catch((err) => {
        throw new Error(`${err.message}; missing: ${missing(got, seq)}`);
      });
      for (const [c, list] of got) {
        assert.equal(list.length, total, `${c.label}: each once`);
        for (const from of ["sb1", "sb2"]) {
          const seqs = list.filter((m) => m.from === from).map((m) => m.seq);
          assert.deepEqual(seqs, [...Array(seq).keys()], `${c.label}: from ${from}, in order`);
        }
      }
      for (const [k, s] of [sb1, sb2].entries()) {
        const status = await drained(s);
        assert.equal(status.connections, before[k].connections, `sb${k + 1} did not reconnect`);
      }
    });
  });
}

// One cluster on one real redis-server: three Switchboard nodes (the `node` example of
// switchboard-redis) and one Node socket.io 4.x node with the official
// `@socket.io/redis-adapter`, official clients on all four; once with the classic pub/sub
// adapter (`createAdapter`), once with the sharded one (`createShardedAdapter`, default
// dynamic mode: one channel per public room), once with Redis Streams
// (`@socket.io/redis-streams-adapter` 0.2, heartbeats). Broadcasts to all / rooms /
// except arrive exactly once and in order, acks come back across nodes, fetchSockets sees
// remote sockets, server-side emits go both ways.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { client, known, record, startNodeNode, startRedis, startSwitchboardNode, subscribed, until } from "./lib/redis.mjs";

for (const adapter of ["redis", "sharded", "streams"]) {
  const sharded = adapter === "sharded";
  const streams = adapter === "streams";
  describe(`${adapter} adapter`, () => {
    let redis;
    let nodes = [];
    const clients = [];

    before(async () => {
      redis = await startRedis();
      nodes = await Promise.all([
        startSwitchboardNode(redis.url, "sb1", { adapter }),
        startSwitchboardNode(redis.url, "sb2", { adapter }),
        startSwitchboardNode(redis.url, "sb3", { adapter }),
        startNodeNode(redis.url, "node", { adapter }),
      ]);
      // Every node subscribes when it starts, asynchronously: wait until Redis counts all four.
      // Streams: no subscriptions; the nodes know each other from their heartbeats.
      if (!streams) await subscribed(redis.url, nodes.length, { sharded });
      for (const node of nodes) {
        for (const i of [0, 1]) clients.push(await client(node, `${node.name}-${i}`));
      }
      if (streams) await known(senders(), clients.map((c) => c.id));
    });

    after(async () => {
      for (const c of clients) c.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis?.stop();
    });

    const senders = () => nodes.map((n) => clients.find((c) => c.label === `${n.name}-0`));
    const ask = (socket, event, data) => socket.timeout(8000).emitWithAck(event, data);

    /** Checks that `got` holds, from each node, `count` messages numbered 0.. in order. */
    function inOrderFromEach(got, count, who) {
      for (const node of nodes) {
        const seqs = got.filter((m) => m.from === node.name).map((m) => m.seq);
        assert.deepEqual(seqs, [...Array(count).keys()], `${who}: from ${node.name}`);
      }
    }

    test("broadcasts to all, to rooms and except rooms arrive once each, in order, on every node", async () => {
      const all = new Map(clients.map((c) => [c, record(c, "all")]));
      const N = 20;
      await Promise.all(
        senders().map(async (s, k) => {
          for (let seq = 0; seq < N; seq++) {
            assert.equal(await ask(s, "emit", { event: "all", data: { from: nodes[k].name, seq } }), true);
          }
        }),
      );
      const total = N * nodes.length;
      await until(clients, "all", () => [...all.values()].every((g) => g.length >= total), "every broadcast");
      for (const [c, got] of all) {
        assert.equal(got.length, total, `${c.label} got each broadcast once`);
        inOrderFromEach(got, N, c.label);
      }

      const blue = clients.filter((c) => ["sb1-0", "sb3-1", "node-1"].includes(c.label));
      for (const c of blue) assert.equal(await ask(c, "join", "blue"), true);
      // Sharded, dynamic mode: each node subscribes the room's own channel when the room
      // appears there; wait until the three nodes with members did.
      if (sharded) await subscribed(redis.url, 3, { sharded, channel: "socket.io#/#blue#" });
      const got = new Map(clients.map((c) => [c, { blue: record(c, "blue"), not: record(c, "notblue"), fence: record(c, "fence") }]));
      const M = 5;
      await Promise.all(
        senders().map(async (s, k) => {
          const from = nodes[k].name;
          for (let seq = 0; seq < M; seq++) {
            await ask(s, "emit", { rooms: ["blue"], event: "blue", data: { from, seq } });
            await ask(s, "emit", { except: ["blue"], event: "notblue", data: { from, seq } });
          }
          await ask(s, "emit", { event: "fence", data: from });
        }),
      );
      // Each sender's fence comes after its room broadcasts: once every client has every
      // fence, everything that was going to arrive has arrived.
      await until(clients, "fence", () => [...got.values()].every((g) => g.fence.length === nodes.length), "fences");
      for (const [c, g] of got) {
        if (blue.includes(c)) {
          assert.equal(g.not.length, 0, `${c.label} is in blue`);
          inOrderFromEach(g.blue, M, c.label);
        } else {
          assert.equal(g.blue.length, 0, `${c.label} is not in blue`);
          inOrderFromEach(g.not, M, c.label);
        }
      }
    });

    test("a broadcast with acks from any node collects the answer of every client of the cluster", async () => {
      const labels = clients.map((c) => c.label).sort();
      for (const s of senders()) {
        const reply = await ask(s, "ask", "question");
        assert.equal(reply.err, undefined, `${s.label}: ${reply.err}`);
        assert.deepEqual([...reply.answers].sort(), labels, `acks collected by ${s.label}'s node`);
      }
    });

    test("fetchSockets on any node sees the sockets of every node, with their rooms", async () => {
      const ids = clients.map((c) => c.id).sort();
      for (const s of senders()) {
        const all = await ask(s, "fetch", null);
        assert.ok(Array.isArray(all), `${s.label}: ${JSON.stringify(all)}`);
        assert.deepEqual(all.map((x) => x.id).sort(), ids, `fetch from ${s.label}`);
        for (const x of all) assert.ok(x.rooms.includes(x.id) && x.rooms.includes("room1"), JSON.stringify(x));
      }
      const blueIds = clients.filter((c) => ["sb1-0", "sb3-1", "node-1"].includes(c.label)).map((c) => c.id).sort();
      for (const s of senders()) {
        const inBlue = await ask(s, "fetch", "blue");
        assert.deepEqual(inBlue.map((x) => x.id).sort(), blueIds, `fetch blue from ${s.label}`);
      }
    });

    test("server-side emits go from Switchboard to Node and back, with acks", async () => {
      const got = new Map(clients.map((c) => [c, record(c, "sse-got")]));
      for (const [k, s] of senders().entries()) {
        const from = nodes[k].name;
        assert.equal(await ask(s, "sse", { from }), true);
        const others = clients.filter((c) => !c.label.startsWith(`${from}-`));
        await until(others, "sse-got", () => others.every((c) => got.get(c).some((m) => m.data.from === from)), `hello from ${from}`);
        const reply = await ask(s, "sse-ack", { from });
        assert.equal(reply.err, undefined, `${from}: ${reply.err}`);
        const expected = nodes.filter((n) => n.name !== from).map((n) => `pong from ${n.name}`).sort();
        assert.deepEqual([...reply.answers].sort(), expected, `answers to ${from}`);
      }
      for (const [c, list] of got) {
        const node = c.label.split("-")[0];
        assert.ok(list.every((m) => m.from === node), `${c.label}: the local emit of its own node`);
        assert.deepEqual(list.map((m) => m.data.from).sort(), nodes.map((n) => n.name).filter((n) => n !== node).sort(), `${c.label}: one hello from every other node, none from its own`);
      }
    });
  });
}

// Redis SIGKILLed and restarted under a cluster on Redis Streams: two Switchboard nodes and
// one Node node (official `@socket.io/redis-streams-adapter` 0.2). No node crashes or drops
// its clients; while Redis is down a broadcast still reaches the sender's own clients; once
// Redis is back every node writes and reads the stream again and later broadcasts from each
// reach every client, once each and in order.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { client, known, record, startNodeNode, startRedis, startSwitchboardNode, until } from "./lib/redis.mjs";

let redis;
let nodes = [];
let clients = [];

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all([
    startSwitchboardNode(redis.url, "sb1", { adapter: "streams" }),
    startSwitchboardNode(redis.url, "sb2", { adapter: "streams" }),
    startNodeNode(redis.url, "node", { adapter: "streams" }),
  ]);
  clients = await Promise.all(nodes.map((n) => client(n, `${n.name}-0`)));
  await known(clients, clients.map((c) => c.id));
});

after(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

const ask = (socket, event, data) => socket.timeout(8000).emitWithAck(event, data);

/** Checks that every client got, from each node, `seqs` in order and nothing else. */
function fromEach(got, seqs) {
  for (const [c, list] of got) {
    for (const n of nodes) {
      const mine = list.filter((m) => m.from === n.name).map((m) => m.seq);
      assert.deepEqual(mine, seqs, `${c.label}: from ${n.name}, once each, in order`);
    }
    assert.equal(list.length, seqs.length * nodes.length, `${c.label}: nothing else`);
  }
}

test("a Redis restart crashes no node, and later broadcasts from every node reach everyone", async () => {
  const got = new Map(clients.map((c) => [c, record(c, "flow")]));
  const send = async (event, seqs) => {
    for (const seq of seqs) {
      await Promise.all(clients.map((c, k) => ask(c, "emit", { event, data: { from: nodes[k].name, seq } })));
    }
  };
  await send("flow", [0, 1, 2]);
  await until(clients, "flow", () => [...got.values()].every((g) => g.length >= 9), "the first broadcasts");
  fromEach(got, [0, 1, 2]);

  await redis.kill();
  // While Redis is gone: the sender's own clients still get its broadcasts (the Switchboard
  // nodes answer false: the cluster did not get it).
  const down = new Map(clients.map((c) => [c, record(c, "down")]));
  for (const [k, c] of clients.entries()) {
    const answer = await ask(c, "emit", { event: "down", data: nodes[k].name });
    assert.equal(answer, nodes[k].name === "node", `${nodes[k].name}: acked ${answer}`);
  }
  const sb = clients.slice(0, 2);
  await until(sb, "down", () => sb.every((c) => down.get(c).length >= 1), "local broadcasts while down");
  for (const c of sb) assert.deepEqual(down.get(c), [c.label.split("-")[0]], `${c.label}: its own node's only`);
  for (const c of sb) assert.equal((await ask(c, "status", null)).state, "reconnecting");

  await redis.restart();
  await known(clients, clients.map((c) => c.id), 30_000);
  const later = new Map(clients.map((c) => [c, record(c, "later")]));
  await send("later", [0, 1, 2, 3, 4]);
  await until(clients, "later", () => [...later.values()].every((g) => g.length >= 15), "later broadcasts", 15_000);
  fromEach(later, [0, 1, 2, 3, 4]);
  for (const c of clients) assert.ok(c.connected, `${c.label} kept its connection`);
  for (const n of nodes) assert.equal(n.child.exitCode, null, `${n.name} still runs`);
  for (const c of sb) {
    const status = await ask(c, "status", null);
    assert.equal(status.state, "connected");
    assert.equal(status.ignored, 0);
    assert.ok(status.connections >= 2, JSON.stringify(status));
  }
});

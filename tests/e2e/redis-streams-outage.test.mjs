// Redis SIGKILLed and restarted under a cluster on Redis Streams: two Switchboard nodes and
// one Node node (official `@socket.io/redis-streams-adapter` 0.2). No node crashes or drops
// its clients; while Redis is down a broadcast reaches the sender's own clients at once, and
// the Switchboard nodes keep their entries in order and add them once Redis is back, so every
// client (on every node, the Node one included) gets every Switchboard broadcast of the outage
// once, in order. What Node's adapter does with its own writes of the outage is its business:
// the test reports it without asserting it. Later broadcasts from each node reach every
// client, once each and in order.
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

test("a Redis restart crashes no node, loses no Switchboard broadcast of the outage, and later broadcasts from every node reach everyone", async (t) => {
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
  // While Redis is gone: every node takes its broadcasts (the Switchboard nodes queue their
  // entries), and the sender's own clients get them at once.
  const down = new Map(clients.map((c) => [c, record(c, "down")]));
  const SEQS = [0, 1, 2, 3, 4];
  for (const seq of SEQS) {
    for (const [k, c] of clients.entries()) {
      const answer = await ask(c, "emit", { event: "down", data: { from: nodes[k].name, seq } });
      assert.equal(answer, true, `${nodes[k].name}: acked ${answer}`);
    }
  }
  const sb = clients.slice(0, 2);
  const sbNames = ["sb1", "sb2"];
  const fromNode = (c, from) => down.get(c).filter((m) => m.from === from).map((m) => m.seq);
  for (const c of sb) {
    const own = c.label.split("-")[0];
    assert.deepEqual(fromNode(c, own), SEQS, `${c.label}: its own node's at once`);
    assert.equal(down.get(c).length, SEQS.length, `${c.label}: nothing from elsewhere while down`);
    const status = await ask(c, "status", null);
    assert.equal(status.state, "reconnecting");
    assert.ok(status.queued >= SEQS.length, `${c.label}: the entries wait: ${JSON.stringify(status)}`);
    assert.equal(status.overflowed, 0);
  }

  const nodeClient = clients[2];
  const nodeWhileDown = fromNode(nodeClient, "node");
  await redis.restart();
  // Every client gets every Switchboard broadcast of the outage, once and in order.
  const sbDone = () => clients.every((c) => sbNames.every((n) => fromNode(c, n).length >= SEQS.length));
  await until(clients, "down", sbDone, "the Switchboard broadcasts of the outage", 20_000);
  await known(clients, clients.map((c) => c.id), 30_000);
  const later = new Map(clients.map((c) => [c, record(c, "later")]));
  await send("later", [0, 1, 2, 3, 4]);
  await until(clients, "later", () => [...later.values()].every((g) => g.length >= 15), "later broadcasts", 15_000);
  fromEach(later, [0, 1, 2, 3, 4]);
  // Still once each after the later round: nothing of the outage came twice.
  for (const c of clients) {
    for (const n of sbNames) assert.deepEqual(fromNode(c, n), SEQS, `${c.label}: from ${n}, once each, in order`);
  }
  const nodeSaw = clients.map((c) => `${c.label}: [${fromNode(c, "node").join(",")}]`).join("; ");
  t.diagnostic(`the Node node's own broadcasts of the outage reached its own client while down: [${nodeWhileDown.join(",")}]`);
  t.diagnostic(`the Node node's own broadcasts of the outage, as each client saw them: ${nodeSaw}`);
  for (const c of clients) assert.ok(c.connected, `${c.label} kept its connection`);
  for (const n of nodes) assert.equal(n.child.exitCode, null, `${n.name} still runs`);
  for (const c of sb) {
    const status = await ask(c, "status", null);
    assert.equal(status.state, "connected");
    assert.equal(status.ignored, 0);
    assert.ok(status.connections >= 2, JSON.stringify(status));
  }
});

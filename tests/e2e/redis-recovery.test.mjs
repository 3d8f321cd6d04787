// Connection state recovery with the Redis pub/sub adapter: a client cut from a Switchboard
// node and back on the same node is recovered, and gets the broadcasts that other nodes (a
// Switchboard one and a Node one on the official adapter) made meanwhile, once each, in order.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { io } from "socket.io-client";

import { within } from "./lib/eio.mjs";
import { startRelay } from "./lib/relay.mjs";
import { client, startNodeNode, startRedis, startSwitchboardNode, subscribed } from "./lib/redis.mjs";

let redis;
let nodes = [];
const cleanup = [];

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all([
    startSwitchboardNode(redis.url, "sb1", { args: ["--recovery"] }),
    startSwitchboardNode(redis.url, "sb2"),
    startNodeNode(redis.url, "node"),
  ]);
  await subscribed(redis.url, nodes.length);
});

after(async () => {
  for (const f of cleanup.reverse()) await f();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

test("a client back on its node is recovered with the remote broadcasts it missed", async () => {
  const relay = await startRelay(nodes[0].port);
  // The reconnection delay leaves room for the broadcasts below to be made while the client
  // is away; the checks hold whenever they are made.
  const target = io(relay.url, { transports: ["websocket"], forceNew: true, reconnectionDelay: 3000, reconnectionDelayMax: 3000, randomizationFactor: 0 });
  cleanup.push(async () => {
    target.disconnect();
    await relay.close();
  });
  const got = [];
  target.on("all", (data) => got.push(data));
  await within(5000, once(target, "connect"), "connect");
  const senders = [await client(nodes[1], "sb2-0"), await client(nodes[2], "node-0")];
  cleanup.push(async () => senders.forEach((s) => s.disconnect()));
  const send = (seqs) =>
    Promise.all(
      senders.map(async (s, k) => {
        for (const seq of seqs) {
          assert.equal(await s.timeout(5000).emitWithAck("emit", { event: "all", data: { from: k, seq } }), true);
        }
      }),
    );
  await send([0]);
  await within(5000, (async () => {
    while (got.length < 2) await once(target, "all");
  })(), "the first broadcasts");

  const back = once(target, "connect");
  relay.drop();
  await send([1, 2, 3, 4, 5]);
  await within(10_000, back, "reconnect");
  assert.equal(target.recovered, true, "recovered");
  await within(5000, (async () => {
    while (got.length < 12) await once(target, "all");
  })(), "every broadcast");
  for (const k of [0, 1]) {
    assert.deepEqual(got.filter((m) => m.from === k).map((m) => m.seq), [0, 1, 2, 3, 4, 5], `from sender ${k}: once each, in order`);
  }
  assert.equal(got.length, 12);
});

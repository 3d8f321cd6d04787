// Emitters on one real redis-server, with a Switchboard node and a Node socket.io node
// (official `@socket.io/redis-adapter`) sharing it: the official `@socket.io/redis-emitter`
// reaches the clients of both, and so does the Rust emitter of switchboard-redis (run as the
// `emit` example): to / except, socketsJoin, serverSideEmit, disconnectSockets.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { promisify } from "node:util";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";

import { within } from "./lib/eio.mjs";
import { exampleBin } from "./lib/socketio-app.mjs";
import { client, record, startNodeNode, startRedis, startSwitchboardNode, subscribed, until } from "./lib/redis.mjs";

let redis;
let nodes = [];

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all([startSwitchboardNode(redis.url, "sb1"), startNodeNode(redis.url, "node")]);
  await subscribed(redis.url, nodes.length);
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

/** Two clients per node; the second of each joins "green". */
async function clients() {
  const list = [];
  for (const node of nodes) for (const i of [0, 1]) list.push(await client(node, `${node.name}-${i}`));
  for (const c of list.filter((c) => c.label.endsWith("-1"))) {
    assert.equal(await c.timeout(5000).emitWithAck("join", "green"), true);
  }
  return list;
}

/** Drives an emitter through the same steps and checks what every client got. */
async function scenario(run) {
  const list = await clients();
  const green = list.filter((c) => c.label.endsWith("-1"));
  const got = new Map(list.map((c) => [c, Object.fromEntries(["e1", "e2", "e3", "e4", "fence", "sse-got"].map((e) => [e, record(c, e)]))]));
  await run([
    { op: "emit", event: "e1", data: 1 },
    { op: "emit", to: ["green"], event: "e2", data: 2 },
    { op: "emit", except: ["green"], event: "e3", data: 3 },
    { op: "join", to: ["green"], rooms: ["violet"] },
    { op: "emit", to: ["violet"], event: "e4", data: 4 },
    { op: "sse", event: "hello", data: "from the emitter" },
    { op: "emit", event: "fence", data: 5 },
  ]);
  await until(list, "fence", () => [...got.values()].every((g) => g.fence.length === 1), "fence");
  // The server-side emit becomes a local emit on each node, not ordered with the fence.
  await until(list, "sse-got", () => [...got.values()].every((g) => g["sse-got"].length === 1), "sse-got");
  for (const [c, g] of got) {
    const inGreen = green.includes(c);
    assert.deepEqual(g.e1, [1], c.label);
    assert.deepEqual(g.e2, inGreen ? [2] : [], `${c.label} e2`);
    assert.deepEqual(g.e3, inGreen ? [] : [3], `${c.label} e3`);
    assert.deepEqual(g.e4, inGreen ? [4] : [], `${c.label} e4 (joined violet)`);
    assert.deepEqual(g["sse-got"], [{ from: c.label.split("-")[0], data: "from the emitter" }], `${c.label} sse`);
  }
  const gone = green.map((c) => once(c, "disconnect"));
  await run([{ op: "disconnect", to: ["green"], close: true }]);
  await within(5000, Promise.all(gone), "green clients disconnected");
  for (const c of list) {
    assert.equal(c.connected, !green.includes(c), `${c.label} connected`);
    c.disconnect();
  }
}

test("the Node @socket.io/redis-emitter reaches Switchboard and Node clients", async () => {
  const pub = new Redis(redis.url);
  try {
    const emitter = new Emitter(pub);
    await scenario(async (commands) => {
      for (const c of commands) {
        let e = emitter;
        for (const r of c.to ?? []) e = e.to(r);
        for (const r of c.except ?? []) e = e.except(r);
        if (c.op === "emit") e.emit(c.event, c.data);
        else if (c.op === "join") e.socketsJoin(c.rooms);
        else if (c.op === "sse") e.serverSideEmit(c.event, c.data);
        else if (c.op === "disconnect") e.disconnectSockets(c.close);
      }
    });
  } finally {
    pub.disconnect();
  }
});

test("the Rust emitter reaches Node and Switchboard clients", async () => {
  const bin = exampleBin("emit", "SWITCHBOARD_REDIS_EMIT_BIN");
  await scenario(async (commands) => {
    const { stdout } = await promisify(execFile)(bin, ["--redis", redis.url, JSON.stringify(commands)], { timeout: 15_000 });
    assert.equal(stdout.trim(), `sent ${commands.length}`);
  });
});

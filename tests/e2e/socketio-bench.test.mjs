// The benchmark server (crates/switchboard/examples/bench.rs) behaves as the load generator
// expects: every socket is in `room1`, `bc` fans out `m` to the room, `bcbin` fans out `mb`
// with a 4 KiB attachment, `echo` acks its argument; and the generator's JSON scenarios of the
// second performance round (default-mode storm, idle polling, polling, binary broadcast) run
// against it and against the official Node server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { gen, startNodeBench } from "./lib/bench.mjs";
import { within } from "./lib/eio.mjs";
import { exampleBin, startExample } from "./lib/socketio-app.mjs";

/** The second round's scenarios, briefly; each must have measured what it says. */
async function roundTwo(port, pid) {
  const storm = await gen(port, pid, ["storm-default", "--conns", "40", "--inflight", "8"]);
  assert.equal(storm.scenario, "storm_default");
  assert.equal(storm.ready, 40, JSON.stringify(storm));
  assert.equal(storm.connected.count, 40);
  assert.equal(storm.upgraded.count, 40);
  assert.ok(storm.upgraded.p50_us >= storm.connected.p50_us, JSON.stringify(storm));
  const idle = await gen(port, pid, ["idle-polling", "--pid", String(pid), "--levels", "10,30", "--settle-ms", "100"]);
  assert.equal(idle.scenario, "idle_polling");
  assert.deepEqual(idle.levels.map((l) => l.conns), [10, 30]);
  assert.ok(idle.levels.every((l) => l.rss_kib > 0), JSON.stringify(idle));
  const polling = await gen(port, pid, ["polling", "--clients", "80", "--duration-ms", "300"]);
  assert.equal(polling.clients, 80);
  assert.ok(polling.acks_per_sec > 0, JSON.stringify(polling));
  const bin = await gen(port, pid, ["broadcast", "--conns", "20", "--inflight", "2", "--duration-ms", "300", "--binary"]);
  assert.equal(bin.binary, true);
  assert.ok(bin.completed > 0 && bin.deliveries_per_sec > 0, JSON.stringify(bin));
}

let server;
let url;
const sockets = [];

before(async () => {
  server = await startExample(exampleBin("bench", "SWITCHBOARD_BENCH_BIN"));
  url = server.url;
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await server?.stop();
});

async function client(transports) {
  const s = io(url, { transports, forceNew: true, reconnection: false });
  sockets.push(s);
  await within(3000, new Promise((resolve) => s.once("connect", resolve)), "connect");
  return s;
}

test("bc reaches every socket in room1, echo acks, pingInterval is 25 s", async () => {
  const a = await client(["websocket"]);
  const b = await client(["polling"]);
  assert.equal(a.io.engine._pingInterval ?? a.io.engine.pingInterval, 25000);
  const got = Promise.all(
    [a, b].map((s) => within(3000, new Promise((resolve) => s.once("m", resolve)), "m")),
  );
  a.emit("bc", 123456);
  assert.deepEqual(await got, [123456, 123456]);
  assert.equal(await a.timeout(2000).emitWithAck("echo", "t1"), "t1");
  assert.equal(await b.timeout(2000).emitWithAck("echo", 7), 7);
});

/** The bytes of a received binary argument (a Buffer or an ArrayBuffer). */
const bytesOf = (b) => [...new Uint8Array(b)];

test("echo answers and bc relays binary arguments with their bytes", async () => {
  const a = await client(["websocket"]);
  const b = await client(["polling"]);
  const bytes = Uint8Array.from([1, 2, 3, 250]);
  const got = within(3000, new Promise((resolve) => b.once("m", resolve)), "m");
  a.emit("bc", { name: "f", file: bytes, parts: [Uint8Array.from([9])] });
  const m = await got;
  assert.equal(m.name, "f");
  assert.deepEqual(bytesOf(m.file), [1, 2, 3, 250]);
  assert.deepEqual(bytesOf(m.parts[0]), [9]);
  const echoed = await a.timeout(2000).emitWithAck("echo", bytes);
  assert.deepEqual(bytesOf(echoed), [1, 2, 3, 250]);
  const nested = await b.timeout(2000).emitWithAck("echo", { x: [Uint8Array.from([7, 8])] });
  assert.deepEqual(bytesOf(nested.x[0]), [7, 8]);
});

test("bcbin fans out mb with the number and a 4 KiB attachment", async () => {
  const a = await client(["websocket"]);
  const b = await client(["polling"]);
  const got = Promise.all(
    [a, b].map((s) => within(3000, new Promise((resolve) => s.once("mb", (...args) => resolve(args))), "mb")),
  );
  a.emit("bcbin", 42);
  for (const [n, blob] of await got) {
    assert.equal(n, 42);
    const bytes = bytesOf(blob);
    assert.equal(bytes.length, 4096);
    assert.ok(bytes.every((x) => x === 7));
  }
});

test("the load generator's second-round scenarios run against it", async () => {
  await roundTwo(server.port, server.pid);
});

describe("the official Node bench server", () => {
  let node;

  before(async () => {
    node = await startNodeBench();
  });

  after(async () => {
    await node?.stop();
  });

  test("the load generator's second-round scenarios run against it", async () => {
    await roundTwo(node.port, node.pid);
  });
});

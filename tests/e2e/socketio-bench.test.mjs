// The benchmark server (crates/switchboard/examples/bench.rs) behaves as the load generator
// expects: every socket is in `room1`, `bc` fans out `m` to the room, `echo` acks its argument.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { within } from "./lib/eio.mjs";
import { exampleBin, startExample } from "./lib/socketio-app.mjs";

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

// The benchmark server (crates/switchboard/examples/bench.rs) behaves as the load generator
// expects: every socket is in `room1`, `bc` fans out `m` to the room, `echo` acks its argument.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

import { within } from "./lib/eio.mjs";

function benchBin() {
  if (process.env.SWITCHBOARD_BENCH_BIN) return process.env.SWITCHBOARD_BENCH_BIN;
  const conformance = process.env.SWITCHBOARD_CONFORMANCE_BIN;
  if (!conformance) throw new Error("set SWITCHBOARD_BENCH_BIN or SWITCHBOARD_CONFORMANCE_BIN");
  return join(dirname(conformance), "bench");
}

let child;
let url;
const sockets = [];

before(async () => {
  child = spawn(benchBin(), ["--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await within(
    10_000,
    new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`bench exited with ${code}`)));
    }),
    "bench start",
  );
  url = `http://127.0.0.1:${port}`;
});

after(async () => {
  for (const s of sockets) s.disconnect();
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill();
    await once(child, "exit");
  }
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

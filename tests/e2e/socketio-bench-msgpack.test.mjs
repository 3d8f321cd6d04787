// `--parser msgpack` of the benchmark: the bench example speaks socket.io-msgpack-parser with
// the official client, and the load generator's msgpack scenarios (WebSocket and polling) run
// against it and against the official Node server with the same parser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import msgpackParser from "socket.io-msgpack-parser";
import { io } from "socket.io-client";

import { within } from "./lib/eio.mjs";
import { exampleBin, startExample } from "./lib/socketio-app.mjs";

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The load generator, next to the examples' directory (`target/<profile>/switchboard-bench`). */
function generator() {
  return join(dirname(dirname(exampleBin("bench", "SWITCHBOARD_BENCH_BIN"))), "switchboard-bench");
}

/** Runs `switchboard-bench gen --parser msgpack <scenario...>` against `port`; its outcome. */
async function gen(port, pid, scenario) {
  const args = ["gen", "--addr", `127.0.0.1:${port}`, "--server-pid", String(pid), "--parser", "msgpack", ...scenario];
  const { stdout } = await within(30_000, run(generator(), args), scenario[0]);
  return JSON.parse(stdout.trim());
}

/** The three scenarios, briefly; each must have moved packets. */
async function scenarios(port, pid) {
  const bc = await gen(port, pid, ["broadcast", "--conns", "20", "--inflight", "2", "--duration-ms", "300"]);
  assert.equal(bc.scenario, "broadcast");
  assert.ok(bc.completed > 0 && bc.deliveries_per_sec > 0, JSON.stringify(bc));
  const echo = await gen(port, pid, ["echo-max", "--conns", "10", "--window", "2", "--duration-ms", "300"]);
  assert.equal(echo.scenario, "echo");
  assert.ok(echo.acks_per_sec > 0, JSON.stringify(echo));
  const polling = await gen(port, pid, ["polling", "--clients", "5", "--duration-ms", "300"]);
  assert.equal(polling.scenario, "polling");
  assert.ok(polling.acks_per_sec > 0, JSON.stringify(polling));
  const storm = await gen(port, pid, ["storm", "--conns", "50", "--inflight", "8"]);
  assert.equal(storm.ready, 50, JSON.stringify(storm));
}

describe("the bench example with --parser msgpack", () => {
  let server;
  const sockets = [];

  before(async () => {
    server = await startExample(exampleBin("bench", "SWITCHBOARD_BENCH_BIN"), { args: ["--parser", "msgpack"] });
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    await server?.stop();
  });

  async function client(transports) {
    const s = io(server.url, { transports, forceNew: true, reconnection: false, parser: msgpackParser });
    sockets.push(s);
    await within(3000, new Promise((resolve) => s.once("connect", resolve)), "connect");
    return s;
  }

  test("bc reaches every socket in room1, echo acks, binary included", async () => {
    const a = await client(["websocket"]);
    const b = await client(["polling"]);
    const got = Promise.all([a, b].map((s) => within(3000, new Promise((resolve) => s.once("m", resolve)), "m")));
    a.emit("bc", { n: 123456, file: Buffer.from([1, 2, 250]) });
    assert.deepEqual(await got, Array(2).fill({ n: 123456, file: Buffer.from([1, 2, 250]) }));
    assert.equal(await a.timeout(2000).emitWithAck("echo", "t1"), "t1");
    assert.deepEqual(await b.timeout(2000).emitWithAck("echo", Buffer.from([7, 8])), Buffer.from([7, 8]));
  });

  test("the load generator's msgpack scenarios run against it", async () => {
    await scenarios(server.port, server.pid);
  });
});

describe("the official Node bench server with --parser msgpack", () => {
  let child;
  let port;

  before(async () => {
    const script = join(ROOT, "bench", "servers", "node-bench.mjs");
    child = spawn("node", [script, "--port", "0", "--parser", "msgpack"], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = once(child, "exit").then(([code]) => {
      throw new Error(`the Node bench server exited with ${code}`);
    });
    // Also settles when `after` stops the server: handled here, raced below.
    exited.catch(() => {});
    const listening = new Promise((resolve) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
        if (m) resolve(Number(m[1]));
      });
    });
    port = await within(10_000, Promise.race([listening, exited]), "Node bench server start");
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exit = once(child, "exit");
      child.kill();
      await exit;
    }
  });

  test("the load generator's msgpack scenarios run against it", async () => {
    await scenarios(port, child.pid);
  });
});

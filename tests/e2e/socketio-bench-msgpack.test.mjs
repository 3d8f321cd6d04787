// `--parser msgpack` of the benchmark: the bench example speaks socket.io-msgpack-parser with
// the official client, and the load generator's msgpack scenarios (WebSocket and polling) run
// against it and against the official Node server with the same parser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import msgpackParser from "socket.io-msgpack-parser";
import { io } from "socket.io-client";

import { gen as genWith, startNodeBench } from "./lib/bench.mjs";
import { within } from "./lib/eio.mjs";
import { exampleBin, startExample } from "./lib/socketio-app.mjs";

/** Runs `switchboard-bench gen --parser msgpack <scenario...>` against `port`; its outcome. */
const gen = (port, pid, scenario) => genWith(port, pid, scenario, { parser: "msgpack" });

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
  let node;

  before(async () => {
    node = await startNodeBench(["--parser", "msgpack"]);
  });

  after(async () => {
    await node?.stop();
  });

  test("the load generator's msgpack scenarios run against it", async () => {
    await scenarios(node.port, node.pid);
  });
});

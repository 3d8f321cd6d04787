// The official Engine.IO client (engine.io-client v6) against the conformance example's
// `/engine.io/` echo endpoint.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Socket } from "engine.io-client";

import { startServer } from "./lib/server.mjs";
import { Endpoint, delay, within } from "./lib/eio.mjs";

const TRANSPORTS = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: {},
};

function opened(socket) {
  return within(
    3000,
    new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    }),
    "open",
  );
}

const message = (socket, ms = 3000) =>
  within(ms, new Promise((resolve) => socket.once("message", resolve)), "message");

const closed = (socket, ms = 3000) =>
  within(ms, new Promise((resolve) => socket.once("close", (reason) => resolve(reason))), "close");

async function connect(url, options) {
  const socket = new Socket(url, options);
  await opened(socket);
  if (options === TRANSPORTS.upgrade) {
    if (socket.transport.name !== "websocket") {
      await within(3000, new Promise((resolve) => socket.once("upgrade", resolve)), "upgrade");
    }
  }
  return socket;
}

/** Polls until a GET with `sid` gets 400 (the server dropped the session). */
async function sessionGone(url, sid) {
  const ep = new Endpoint(`${url}/engine.io/`);
  for (let i = 0; i < 40; i++) {
    if ((await ep.get(sid)).status === 400) return;
    await delay(25);
  }
  assert.fail(`session ${sid} still open`);
}

describe("engine.io-client against /engine.io/", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  for (const [name, options] of Object.entries(TRANSPORTS)) {
    describe(name, () => {
      test("connects and echoes text", async () => {
        const socket = await connect(server.url, options);
        assert.equal(socket.transport.name, name === "polling" ? "polling" : "websocket");
        socket.send("hello");
        assert.equal(await message(socket), "hello");
        socket.send("é€ unicode");
        assert.equal(await message(socket), "é€ unicode");
        socket.close();
      });

      test("binary both ways", async () => {
        const socket = await connect(server.url, options);
        socket.send(Uint8Array.from([1, 2, 3, 4]));
        const data = await message(socket);
        assert.equal(typeof data, "object", "binary stays binary");
        assert.deepEqual([...new Uint8Array(data)], [1, 2, 3, 4]);
        socket.close();
      });

      test("messages up to maxPayload pass; a larger one ends the session", async () => {
        const socket = await connect(server.url, options);
        const big = "x".repeat(999_000);
        socket.send(big);
        assert.equal((await message(socket, 5000)).length, big.length);
        const reason = closed(socket, 5000);
        socket.send("y".repeat(1_000_001));
        assert.match(await reason, /transport (close|error)/);
      });

      test("heartbeat keeps the session alive across pings", async () => {
        const socket = await connect(server.url, options);
        let pings = 0;
        socket.on("ping", () => pings++);
        await delay(1100);
        assert.ok(pings >= 3, `${pings} pings`);
        assert.equal(socket.readyState, "open");
        socket.send("still here");
        assert.equal(await message(socket), "still here");
        socket.close();
      });

      test("a client that stops answering pings is closed by the server", async () => {
        const socket = await connect(server.url, options);
        const send = socket._sendPacket.bind(socket);
        socket._sendPacket = (type, ...rest) => (type === "pong" ? undefined : send(type, ...rest));
        const start = Date.now();
        const reason = await closed(socket, 3000);
        const elapsed = Date.now() - start;
        // The server closes at ping + 200 ms (≤ 500 ms); the client's own timer would fire
        // only at ping + 500 ms, with the reason "ping timeout".
        assert.notEqual(reason, "ping timeout");
        assert.ok(elapsed < 750, `closed after ${elapsed} ms`);
      });

      test("close ends the session on the server", async () => {
        const socket = await connect(server.url, options);
        const sid = socket.id;
        const reason = closed(socket);
        socket.close();
        assert.equal(await reason, "forced close");
        await sessionGone(server.url, sid);
      });
    });
  }
});

describe("engine.io-client and a server restart", () => {
  test("the client sees the close and connects again to the restarted server", async () => {
    let server = await startServer();
    try {
      const socket = await connect(server.url, TRANSPORTS.upgrade);
      const reason = closed(socket, 5000);
      const port = server.port;
      await server.stop();
      assert.match(await reason, /transport (close|error)|ping timeout/);
      server = await startServer({ port });
      const again = await connect(server.url, TRANSPORTS.upgrade);
      again.send("back");
      assert.equal(await message(again), "back");
      again.close();
    } finally {
      await server.stop();
    }
  });
});

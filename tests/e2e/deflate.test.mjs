// WebSocket compression (permessage-deflate, RFC 7692) with the official clients: the `ws`
// package and socket.io-client in Node, and headless Chromium. The servers take the switch
// `--per-message-deflate` (the `conformance` and `bench` examples, the `switchboard` binary);
// without it nothing is negotiated, as in Node. Compression is seen in the answer's
// `Sec-WebSocket-Extensions` and in the bytes that actually cross the connection.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import WebSocket from "ws";
import { io } from "socket.io-client";

import { within } from "./lib/eio.mjs";
import { launch } from "./lib/app-browser.mjs";
import { chatClient, cleanup, request, startApp as startBinary, tempDataDir } from "./lib/app.mjs";
import { CLIENT_DIST, exampleBin, startExample, wait } from "./lib/socketio-app.mjs";

const conformanceBin = () => exampleBin("conformance", "SWITCHBOARD_CONFORMANCE_BIN");
const benchBin = () => exampleBin("bench", "SWITCHBOARD_BENCH_BIN");

/** Text that compresses well: 120,000 bytes of a short repeated sentence with a counter. */
const BIG = Array.from({ length: 4000 }, (_, i) => `line ${i % 100} of the text; `).join("").slice(0, 120_000);

/**
 * A raw `ws` connection to the engine endpoint (`ws` offers permessage-deflate by default);
 * resolves with the socket, the answer's headers and a reader of the next message.
 */
async function rawEngine(url) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/engine.io/?EIO=4&transport=websocket`);
  const queue = [];
  const waiting = [];
  ws.on("message", (data, isBinary) => {
    const message = isBinary ? data : data.toString();
    // Engine.IO pings are answered and skipped.
    if (message === "2") return ws.send("3");
    const next = waiting.shift();
    if (next) next(message);
    else queue.push(message);
  });
  // Both events come in the same tick: listen for both before waiting.
  const opened = once(ws, "open");
  const [res] = await within(5000, once(ws, "upgrade"), "upgrade");
  await within(5000, opened, "open");
  const next = () =>
    within(5000, queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)), "message");
  return { ws, headers: res.headers, next };
}

/** Compares long texts without printing them. */
function sameText(actual, expected, what) {
  assert.ok(actual === expected, `${what}: ${String(actual).length} bytes, expected ${expected.length}`);
}

/** Bytes read from and written to the TCP connection under a `ws` socket. */
const counters = (ws) => ({ read: ws._socket.bytesRead, written: ws._socket.bytesWritten });

describe("conformance --per-message-deflate", () => {
  let server;
  const open = [];

  before(async () => {
    server = await startExample(conformanceBin(), { args: ["--per-message-deflate"] });
  });

  after(async () => {
    for (const s of open) s.close();
    await server?.stop();
  });

  test("ws negotiates it, and large messages cross the wire compressed both ways", async () => {
    const { ws, headers, next } = await rawEngine(server.url);
    open.push(ws);
    // `ws` offers `permessage-deflate; client_max_window_bits`: accepted with Node's settings.
    assert.equal(headers["sec-websocket-extensions"], "permessage-deflate");
    assert.equal(ws.extensions, "permessage-deflate");
    assert.match(await next(), /^0\{"sid"/);

    const before = counters(ws);
    ws.send(`4${BIG}`);
    sameText(await next(), `4${BIG}`, "echo");
    const after = counters(ws);
    assert.ok(after.written - before.written < 20_000, `sent ${after.written - before.written} bytes`);
    assert.ok(after.read - before.read < 20_000, `read ${after.read - before.read} bytes`);

    // Binary and small messages too (under the threshold the server sends them plain).
    const binary = Buffer.alloc(200_000, 7);
    ws.send(binary);
    assert.deepEqual(await next(), binary);
    ws.send("4hi");
    assert.equal(await next(), "4hi");
  });

  for (const [mode, opts] of [
    ["websocket", { transports: ["websocket"] }],
    ["upgrade", {}],
  ]) {
    test(`socket.io-client (${mode}) round-trips events over a compressed WebSocket`, async () => {
      const socket = io(server.url, { ...opts, forceNew: true, reconnection: false });
      open.push(socket);
      await wait(socket, "auth", 5000);
      if (socket.io.engine.transport.name !== "websocket") await wait(socket.io.engine, "upgrade", 5000);
      const ws = socket.io.engine.transport.ws;
      assert.equal(ws.extensions, "permessage-deflate");

      const before = counters(ws);
      socket.emit("message", BIG, { n: 1 });
      const [text, object] = await wait(socket, "message-back", 5000);
      sameText(text, BIG, "message-back");
      assert.deepEqual(object, { n: 1 });
      const answer = await socket.timeout(5000).emitWithAck("message-with-ack", BIG);
      sameText(answer, BIG, "ack");
      const after = counters(ws);
      // Two 120 kB messages each way, on the wire in far less.
      assert.ok(after.read - before.read < 40_000, `read ${after.read - before.read} bytes`);
      assert.ok(after.written - before.written < 40_000, `sent ${after.written - before.written} bytes`);
      socket.disconnect();
    });
  }
});

describe("without the switch", () => {
  test("the conformance server negotiates nothing, as Node by default", async () => {
    const server = await startExample(conformanceBin());
    try {
      const { ws, headers, next } = await rawEngine(server.url);
      assert.equal(headers["sec-websocket-extensions"], undefined);
      assert.equal(ws.extensions, "");
      assert.match(await next(), /^0\{"sid"/);
      ws.send(`4${BIG}`);
      sameText(await next(), `4${BIG}`, "echo");
      ws.close();
    } finally {
      await server.stop();
    }
  });
});

describe("bench", () => {
  for (const deflate of [true, false]) {
    test(`echo with an ack, ${deflate ? "with" : "without"} --per-message-deflate`, async () => {
      const server = await startExample(benchBin(), { args: deflate ? ["--per-message-deflate"] : [] });
      const socket = io(server.url, { transports: ["websocket"], forceNew: true, reconnection: false });
      try {
        await wait(socket, "connect", 5000);
        const ws = socket.io.engine.transport.ws;
        assert.equal(ws.extensions, deflate ? "permessage-deflate" : "");
        const before = counters(ws);
        sameText(await socket.timeout(5000).emitWithAck("echo", BIG), BIG, "echo");
        const read = counters(ws).read - before.read;
        if (deflate) assert.ok(read < 20_000, `read ${read} bytes`);
        else assert.ok(read > BIG.length, `read ${read} bytes`);
      } finally {
        socket.disconnect();
        await server.stop();
      }
    });
  }
});

describe("the switchboard binary --per-message-deflate", () => {
  let app;
  let dataDir;

  before(async () => {
    dataDir = tempDataDir();
    app = await startBinary({ dataDir, args: ["--per-message-deflate"] });
  });

  after(async () => {
    await app?.stop();
    cleanup(dataDir);
  });

  test("the chat works over a compressed WebSocket", async () => {
    const { socket, session } = await chatClient(app.url, "dora", { transports: ["websocket"] });
    try {
      assert.equal(session.username, "dora");
      assert.equal(socket.io.engine.transport.ws.extensions, "permessage-deflate");
      const joined = await request(socket, "room:join", { roomId: "deflate" });
      assert.equal(joined.ok, true);
    } finally {
      socket.close();
    }
  });
});

describe("headless Chromium", () => {
  let server;
  let pages;
  let browser;

  before(async () => {
    server = await startExample(conformanceBin(), { args: ["--per-message-deflate"] });
    // The page and the official browser bundle, from another origin (the conformance server
    // allows any).
    const bundle = readFileSync(join(CLIENT_DIST, "socket.io.min.js"));
    pages = http.createServer((req, res) => {
      if (req.url === "/socket.io.min.js") {
        res.writeHead(200, { "content-type": "text/javascript" });
        return res.end(bundle);
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><meta charset="utf-8"><title>deflate</title>
<p id="result">pending</p>
<script src="/socket.io.min.js"></script>
<script>
  const big = Array.from({ length: 4000 }, (_, i) => "line " + (i % 100) + " of the text; ").join("").slice(0, 120000);
  const socket = io(${JSON.stringify(server.url)}, { transports: ["websocket"], reconnection: false });
  const result = document.getElementById("result");
  socket.on("connect_error", (e) => { result.textContent = "error: " + e.message; });
  socket.on("auth", () => socket.emit("message", big));
  socket.on("message-back", (text) => {
    result.textContent = text === big ? "echoed " + text.length : "mismatch " + text.length;
  });
</script>`);
    });
    await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    pages?.close();
    await server?.stop();
  });

  test("Chromium offers it, the server accepts, and a 120 kB event comes back", async () => {
    const page = await browser.context.newPage();
    try {
      const cdp = await browser.context.newCDPSession(page);
      await cdp.send("Network.enable");
      const handshakes = [];
      cdp.on("Network.webSocketHandshakeResponseReceived", (e) => handshakes.push(e.response));
      await page.goto(`http://127.0.0.1:${pages.address().port}/`);
      const result = page.locator("#result");
      await result.filter({ hasNotText: "pending" }).waitFor({ timeout: 10_000 });
      assert.equal(await result.textContent(), `echoed ${BIG.length}`);
      assert.equal(handshakes.length, 1);
      const header = (headers, name) =>
        Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
      const [response] = handshakes;
      assert.match(header(response.requestHeaders, "sec-websocket-extensions") ?? "", /permessage-deflate/);
      assert.equal(header(response.headers, "sec-websocket-extensions"), "permessage-deflate");
    } finally {
      await page.close();
    }
  });
});

// socket.io-client v2 in headless Chromium against the protocol test server with
// `--allow-eio3`: in a browser the v2 client has XHR2, so over polling it posts and receives
// binary data as Engine.IO v3 binary payloads (`application/octet-stream`), not as base64 as
// in Node; over WebSocket it sends type-prefixed binary frames.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { launch } from "./lib/app-browser.mjs";
import { exampleBin, startExample } from "./lib/socketio-app.mjs";

const CLIENT_V2 = readFileSync(
  join(dirname(fileURLToPath(import.meta.url)), "node_modules/socket.io-client-v2/dist/socket.io.js"),
);

let server;
let site;
let browser;
// The content types of the page's polling POSTs and of the server's polling answers.
const posts = [];
const answers = [];

/** A page that echoes binary through `target` over `transport` and reports in `#result`. */
function page(target, transport) {
  return `<!doctype html><meta charset="utf-8"><title>v2</title>
<p id="result">pending</p>
<script src="/socket.io-v2.js"></script>
<script>
  const result = document.getElementById("result");
  // The v2 client sends credentials by default; the test server allows any origin without.
  const socket = io("${target}", {
    transports: ["${transport}"], reconnection: false, withCredentials: false,
  });
  socket.on("connect_error", (e) => { result.textContent = "refused: " + e; });
  socket.on("message-back", (bytes, obj) => {
    const a = Array.from(new Uint8Array(bytes));
    const b = Array.from(new Uint8Array(obj.nested));
    socket.emit("message-with-ack", new Uint8Array([9, 8]).buffer, (back) => {
      const c = Array.from(new Uint8Array(back));
      result.textContent = JSON.stringify({ a, b, c, transport: socket.io.engine.transport.name });
    });
  });
  socket.on("connect", () => {
    socket.emit("message", new Uint8Array([1, 2, 255]).buffer, { nested: new Uint8Array([0, 7]).buffer });
  });
</script>`;
}

before(async () => {
  // The site serves the page and the v2 client; the page talks to the server directly.
  site = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/socket.io-v2.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(CLIENT_V2);
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page(url.searchParams.get("target"), url.searchParams.get("transport")));
  });
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  server = await startExample(exampleBin("conformance", "SWITCHBOARD_CONFORMANCE_BIN"), {
    args: ["--allow-eio3"],
  });
  browser = await launch();
  browser.context.on("request", (req) => {
    if (req.method() === "POST" && req.url().includes("EIO=3")) {
      posts.push(req.headers()["content-type"] ?? "");
    }
  });
  browser.context.on("response", (res) => {
    if (res.request().method() === "GET" && res.url().includes("EIO=3")) {
      answers.push(res.headers()["content-type"] ?? "");
    }
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  site?.close();
});

async function run(transport) {
  const p = await browser.context.newPage();
  try {
    const query = new URLSearchParams({ target: server.url, transport });
    await p.goto(`http://127.0.0.1:${site.address().port}/?${query}`);
    const result = p.locator("#result");
    await result.filter({ hasNotText: "pending" }).waitFor({ timeout: 10_000 });
    const text = await result.textContent();
    assert.doesNotMatch(text, /^refused/);
    return JSON.parse(text);
  } finally {
    await p.close();
  }
}

test("binary events and acks over polling travel as v3 binary payloads", async () => {
  posts.length = 0;
  answers.length = 0;
  const got = await run("polling");
  assert.deepEqual(got, { a: [1, 2, 255], b: [0, 7], c: [9, 8], transport: "polling" });
  const binary = (types) => types.some((t) => t.startsWith("application/octet-stream"));
  assert.ok(binary(posts), `no binary POST among ${JSON.stringify(posts)}`);
  assert.ok(binary(answers), `no binary answer among ${JSON.stringify(answers)}`);
});

test("binary events and acks over WebSocket", async () => {
  const got = await run("websocket");
  assert.deepEqual(got, { a: [1, 2, 255], b: [0, 7], c: [9, 8], transport: "websocket" });
});

// The `switchboard` binary with `--parser msgpack`: the official socket.io-client with
// socket.io-msgpack-parser uses the chat; a JSON client cannot; the pages get the official
// msgpack bundle as their client.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import msgpackParser from "socket.io-msgpack-parser";
import { io } from "socket.io-client";

import { chatClient, cleanup, request, startApp, waitFor } from "./lib/app.mjs";
import { CLIENT_DIST } from "./lib/socketio-app.mjs";

let app;
const sockets = [];

before(async () => {
  app = await startApp({ args: ["--parser", "msgpack", "--client-dist", CLIENT_DIST] });
});
after(async () => {
  for (const s of sockets) s.close();
  const [code] = await app.stop();
  assert.equal(code, 0);
  cleanup(app.dataDir);
});

async function user(name, transports) {
  const c = await chatClient(app.url, name, { parser: msgpackParser, transports });
  sockets.push(c.socket);
  return c;
}

test("msgpack clients join a room and exchange messages, on both transports", async () => {
  const ann = await user("ann-msgpack", ["websocket"]);
  const bob = await user("bob-msgpack", ["polling"]);
  assert.deepEqual(ann.session, { userId: "ann-msgpack", username: "ann-msgpack", rooms: [] });
  for (const c of [ann, bob]) {
    const joined = await request(c.socket, "room:join", { roomId: "msgpack-room" });
    assert.equal(joined.ok, true);
  }
  const got = waitFor(ann.socket, "message:new");
  const sent = await request(bob.socket, "message:send", { roomId: "msgpack-room", text: "hé 👋", clientId: "m1" });
  assert.equal(sent.ok, true);
  const message = await got;
  assert.equal(message.text, "hé 👋");
  assert.equal(message.roomId, "msgpack-room");
});

test("a file sent in chunks over msgpack (binary values) arrives byte-identical", async () => {
  const { createHash, randomBytes } = await import("node:crypto");
  const cat = await user("cat-msgpack", ["websocket"]);
  await request(cat.socket, "room:join", { roomId: "msgpack-files" });
  const bytes = randomBytes(700 * 1024);
  const begin = await request(cat.socket, "file:begin", { roomId: "msgpack-files", name: "blob.zip", type: "application/zip", size: bytes.length });
  assert.equal(begin.ok, true, JSON.stringify(begin));
  for (let offset = 0; offset < bytes.length; offset += begin.chunkSize) {
    const data = bytes.subarray(offset, offset + begin.chunkSize);
    const ack = await request(cat.socket, "file:chunk", { uploadId: begin.uploadId, offset, data });
    assert.equal(ack.ok, true, JSON.stringify(ack));
  }
  const end = await request(cat.socket, "file:end", { uploadId: begin.uploadId });
  assert.equal(end.ok, true, JSON.stringify(end));
  const res = await fetch(`${app.url}/files/${end.file.id}`, { headers: { "x-switchboard-user": "cat-msgpack" } });
  const got = Buffer.from(await res.arrayBuffer());
  const sha = (b) => createHash("sha256").update(b).digest("hex");
  assert.equal(sha(got), sha(bytes));
});

test("a JSON client is not let in", async () => {
  const socket = io(`${app.url}/chat`, { auth: { username: "json" }, forceNew: true, reconnection: false, transports: ["websocket"] });
  sockets.push(socket);
  const [reason] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no disconnect within 5 s")), 5000);
    socket.once("connect", () => reject(new Error("a JSON client connected to a msgpack server")));
    socket.io.once("close", (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
  assert.equal(reason, "transport close");
});

test("the pages load the official msgpack bundle", async () => {
  const res = await fetch(`${app.url}/socket.io/socket.io.js`);
  assert.equal(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.equals(readFileSync(join(CLIENT_DIST, "socket.io.msgpack.min.js"))), "the msgpack bundle");
});

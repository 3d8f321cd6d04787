// The msgpack parser: the rows of the protocol test server specification (§1.3), which the
// official suite has for JSON only, written with the npm `socket.io-msgpack-parser` over a raw
// WebSocket and raw long-polling; then the official socket.io-client using that parser, on
// every transport. The server is the conformance example with `--parser msgpack`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import msgpackParser from "socket.io-msgpack-parser";
import { io } from "socket.io-client";

import { Endpoint, SEP, within } from "./lib/eio.mjs";
import { startServer } from "./lib/server.mjs";
import { MODES, wait } from "./lib/socketio-app.mjs";

const EVENT = 2;
const ACK = 3;

let server;
let ep;

before(async () => {
  server = await startServer({ args: ["--parser", "msgpack"] });
  ep = new Endpoint(`${server.url}/socket.io/`);
});

after(async () => {
  await server?.stop();
});

/** One packet as the official encoder writes it. */
const encode = (packet) => new msgpackParser.Encoder().encode(packet)[0];

/** One message decoded (and checked) by the official decoder. */
function decode(buffer) {
  assert.ok(Buffer.isBuffer(buffer), `a binary frame, not ${JSON.stringify(buffer)}`);
  const decoder = new msgpackParser.Decoder();
  let packet;
  decoder.on("decoded", (p) => (packet = p));
  decoder.add(buffer);
  return packet;
}

/** A WebSocket session past the Engine.IO handshake. */
async function ws() {
  const c = await ep.ws();
  JSON.parse((await c.next()).slice(1));
  return c;
}

const next = async (c) => decode(await c.nextData());

async function connected(c, packet = { type: 0, nsp: "/" }) {
  c.send(encode(packet));
  const ok = await next(c);
  assert.equal(ok.type, 0);
  assert.equal(ok.nsp, packet.nsp);
  assert.deepEqual(Object.keys(ok.data), ["sid"]);
  assert.equal(typeof ok.data.sid, "string");
  return next(c);
}

/** Waits for the server to close `c` while answering its pings (so a ping timeout cannot be
 * what closes it). */
const closedWithin = (c, ms = 2000) =>
  within(
    ms,
    (async () => {
      for (;;) {
        const f = await Promise.race([c.next(ms), c.closed.then(() => null)]);
        if (f === null) return;
        if (f === "2") c.send("3");
      }
    })(),
    "close",
  );

describe("§1.3 with the msgpack parser over WebSocket", () => {
  for (const [packet, auth] of [
    [{ type: 0, nsp: "/" }, {}],
    [{ type: 0, data: undefined, nsp: "/" }, {}],
    [{ type: 0, data: { token: "123" }, nsp: "/" }, { token: "123" }],
    [{ type: 0, nsp: "/custom" }, {}],
    [{ type: 0, data: { token: "abc" }, nsp: "/custom" }, { token: "abc" }],
  ]) {
    test(`CONNECT ${JSON.stringify(packet)} → CONNECT with sid, then auth`, async () => {
      const c = await ws();
      const first = await connected(c, packet);
      assert.deepEqual(first, { type: EVENT, nsp: packet.nsp, data: ["auth", auth] });
      c.close();
    });
  }

  test("CONNECT /random → CONNECT_ERROR Invalid namespace", async () => {
    const c = await ws();
    c.send(encode({ type: 0, nsp: "/random" }));
    assert.deepEqual(await next(c), { type: 4, nsp: "/random", data: { message: "Invalid namespace" } });
    c.close();
  });

  const deep = Buffer.concat([
    encode({ type: EVENT, nsp: "/", data: ["message", 0] }).subarray(0, -1),
    Buffer.alloc(100_000, 0x91),
    Buffer.from([0x90]),
  ]);
  for (const [name, bad] of [
    ["a JSON text packet", '42["message"]'],
    ["a binary event type", encode({ type: 5, nsp: "/", data: ["message"] })],
    ["an event that is not an array", encode({ type: EVENT, nsp: "/", data: {} })],
    ["a reserved event name", encode({ type: EVENT, nsp: "/", data: ["connect"] })],
    ["a number as event name", encode({ type: EVENT, nsp: "/", data: [1] })],
    ["an ack without id", encode({ type: ACK, nsp: "/", data: [] })],
    ["a negative id", encode({ type: EVENT, nsp: "/", data: ["message"], id: -1 })],
    ["a packet without namespace", encode({ type: EVENT, data: ["message"] })],
    ["an array instead of a map", encode([EVENT, "/", ["message"]])],
    ["a truncated packet", encode({ type: EVENT, nsp: "/", data: ["message", "abc"] }).subarray(0, -2)],
    ["arrays nested 100,000 deep", deep],
  ]) {
    test(`${name} closes the connection`, async () => {
      const c = await ws();
      await connected(c);
      c.send(bad);
      await closedWithin(c);
    });
  }

  test("a DISCONNECT leaves / and the session stays: the next frame is a ping", async () => {
    const c = await ws();
    await connected(c);
    c.send(encode({ type: 1, nsp: "/" }));
    assert.equal(await c.next(1000), "2");
    c.close();
  });

  test("a DISCONNECT of /custom leaves /custom only", async () => {
    const c = await ws();
    await connected(c);
    await connected(c, { type: 0, nsp: "/custom" });
    c.send(encode({ type: 1, nsp: "/custom" }));
    c.send(encode({ type: EVENT, nsp: "/", data: ["message", "message to main namespace"] }));
    assert.deepEqual(await next(c), { type: EVENT, nsp: "/", data: ["message-back", "message to main namespace"] });
    c.close();
  });

  test("events, acks and binary come back exactly, binary in place", async () => {
    const c = await ws();
    await connected(c);
    c.send(encode({ type: EVENT, nsp: "/", data: ["message", 1, "2", { 3: [true] }, -4.5, 2 ** 40, null] }));
    assert.deepEqual(await next(c), { type: EVENT, nsp: "/", data: ["message-back", 1, "2", { 3: [true] }, -4.5, 2 ** 40, null] });

    const files = [Buffer.from([1, 2, 3]), { name: "b", bytes: Buffer.from([4, 5, 6]) }];
    c.send(encode({ type: EVENT, nsp: "/", data: ["message", ...files] }));
    assert.deepEqual(await next(c), { type: EVENT, nsp: "/", data: ["message-back", ...files] });

    c.send(encode({ type: EVENT, nsp: "/", data: ["message-with-ack", 1, "2", { 3: [false] }], id: 456 }));
    assert.deepEqual(await next(c), { type: ACK, nsp: "/", data: [1, "2", { 3: [false] }], id: 456 });

    c.send(encode({ type: EVENT, nsp: "/", data: ["message-with-ack", ...files], id: 789 }));
    assert.deepEqual(await next(c), { type: ACK, nsp: "/", data: files, id: 789 });

    // What the client sends besides: `options` (ignored), a browser's ArrayBuffer (binary),
    // `undefined` (null in an array, left out of an object) and a Date (its ISO string), as
    // the JSON parser would see them.
    const arrayBuffer = new Uint8Array([9, 8, 7]).buffer;
    c.send(encode({ type: EVENT, nsp: "/", options: { compress: true }, data: ["message", arrayBuffer, undefined, { u: undefined, d: new Date(0) }] }));
    assert.deepEqual(await next(c), {
      type: EVENT,
      nsp: "/",
      data: ["message-back", Buffer.from([9, 8, 7]), null, { d: "1970-01-01T00:00:00.000Z" }],
    });
    c.close();
  });

  test("emit-with-ack: the server asks for an ack, then emits its arguments", async () => {
    const c = await ws();
    await connected(c);
    c.send(encode({ type: EVENT, nsp: "/", data: ["emit-with-ack", 1, "2", { 3: [true] }] }));
    const ask = await next(c);
    assert.deepEqual(ask.data, ["emit-with-ack", 1, "2", { 3: [true] }]);
    assert.ok(Number.isInteger(ask.id), JSON.stringify(ask));
    c.send(encode({ type: ACK, nsp: "/", data: ["answer", { ok: true }, Buffer.from([0xff])], id: ask.id }));
    assert.deepEqual(await next(c), { type: EVENT, nsp: "/", data: ["emit-with-ack", "answer", { ok: true }, Buffer.from([0xff])] });
    c.close();
  });
});

describe("§1.3 with the msgpack parser over long-polling", () => {
  /** `b` + base64: a binary Engine.IO message in a polling payload. */
  const b64 = (packet) => `b${encode(packet).toString("base64")}`;

  /** Polls until data packets (not pings) arrive; pings are answered. */
  async function poll(sid) {
    for (let i = 0; i < 20; i++) {
      const res = await ep.get(sid);
      assert.equal(res.status, 200);
      const all = res.body.split(SEP);
      if (all.includes("2")) await ep.post(sid, "3");
      const packets = all.filter((p) => p !== "2");
      if (packets.length) {
        for (const p of packets) assert.equal(p[0], "b", `binary messages only: ${p}`);
        return packets.map((p) => decode(Buffer.from(p.slice(1), "base64")));
      }
    }
    throw new Error("no data");
  }

  test("connect, auth, echo, ack and binary", async () => {
    const { sid } = await ep.handshake();
    assert.equal((await ep.post(sid, b64({ type: 0, data: { token: "123" }, nsp: "/" }))).body, "ok");
    const all = [];
    while (all.length < 2) all.push(...(await poll(sid)));
    assert.equal(all[0].type, 0);
    assert.deepEqual(all[1], { type: EVENT, nsp: "/", data: ["auth", { token: "123" }] });
    const body = [
      b64({ type: EVENT, nsp: "/", data: ["message-with-ack", 1, "2", { 3: [false] }], id: 456 }),
      b64({ type: EVENT, nsp: "/", data: ["message", Buffer.from([1, 2, 3])] }),
    ].join(SEP);
    await ep.post(sid, body);
    const replies = [];
    while (replies.length < 2) replies.push(...(await poll(sid)));
    assert.deepEqual(replies, [
      { type: ACK, nsp: "/", data: [1, "2", { 3: [false] }], id: 456 },
      { type: EVENT, nsp: "/", data: ["message-back", Buffer.from([1, 2, 3])] },
    ]);
  });

  test("a text packet closes the session", async () => {
    const { sid } = await ep.handshake();
    await ep.post(sid, b64({ type: 0, nsp: "/" }));
    await poll(sid);
    await ep.post(sid, "40");
    // Pings are answered meanwhile, so a ping timeout cannot be what closes it.
    for (let i = 0; i < 8; i++) {
      const res = await ep.get(sid);
      if (res.status === 400 || res.body.split(SEP).includes("1")) return;
      if (res.body.split(SEP).includes("2")) await ep.post(sid, "3");
    }
    assert.fail("session still open");
  });
});

describe("socket.io-client with socket.io-msgpack-parser", () => {
  const open = [];

  after(() => {
    for (const s of open) s.disconnect();
  });

  async function connect(mode, path = "/", opts = {}) {
    const socket = io(`${server.url}${path}`, { ...MODES[mode], forceNew: true, reconnection: false, parser: msgpackParser, ...opts });
    open.push(socket);
    const [auth] = await wait(socket, "auth");
    if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
      await wait(socket.io.engine, "upgrade");
    }
    return { socket, auth };
  }

  for (const mode of Object.keys(MODES)) {
    describe(mode, () => {
      test("auth, events, acks and binary in place", async () => {
        const { socket, auth } = await connect(mode, "/", { auth: { token: "t1" } });
        assert.deepEqual(auth, { token: "t1" });
        assert.equal(socket.io.engine.transport.name, mode === "polling" ? "polling" : "websocket");

        const args = [1, "two", { three: [3, null, true], big: 2 ** 53 - 1, f: 0.1 }, Buffer.from([0, 1, 2, 255]), { nested: Buffer.alloc(70_000, 7) }];
        socket.emit("message", ...args);
        assert.deepEqual(await wait(socket, "message-back"), args);

        const answer = await new Promise((resolve, reject) => {
          socket.timeout(3000).emit("message-with-ack", "a", Buffer.from([9]), (err, ...res) => (err ? reject(err) : resolve(res)));
        });
        assert.deepEqual(answer, ["a", Buffer.from([9])]);

        // The server asks for an ack (the event ends with a callback), then emits the answer.
        const back = new Promise((resolve) => {
          socket.on("emit-with-ack", (...received) => {
            if (typeof received.at(-1) !== "function") return resolve(received);
            const callback = received.pop();
            assert.deepEqual(received, ["q", Buffer.from([5])]);
            callback("answer", Buffer.from([6]));
          });
        });
        socket.emit("emit-with-ack", "q", Buffer.from([5]));
        assert.deepEqual(await within(3000, back, "emit-with-ack"), ["answer", Buffer.from([6])]);
        socket.disconnect();
      });

      test("a custom namespace and a refused one", async () => {
        const { socket, auth } = await connect(mode, "/custom", { auth: { k: "v" } });
        assert.deepEqual(auth, { k: "v" });
        socket.disconnect();
        const refused = io(`${server.url}/random`, { ...MODES[mode], forceNew: true, reconnection: false, parser: msgpackParser });
        open.push(refused);
        const [err] = await wait(refused, "connect_error");
        assert.equal(err.message, "Invalid namespace");
        refused.disconnect();
      });
    });
  }
});

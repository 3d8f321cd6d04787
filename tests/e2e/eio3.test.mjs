// Engine.IO v3 / Socket.IO protocol v4 (`--allow-eio3`, Node's `allowEIO3`): the official
// socket.io-client v2 against the protocol test server and the benchmark server, over
// polling only, WebSocket only and polling upgraded to WebSocket; the raw v3 framing over
// polling; and the refusal of EIO=3 when the switch is off.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import ioV2 from "socket.io-client-v2";
import { io as ioV4 } from "socket.io-client";

import { within } from "./lib/eio.mjs";
import { exampleBin, startExample } from "./lib/socketio-app.mjs";

let conformance; // --allow-eio3
let plain; // the switch off
let bench; // --allow-eio3
const sockets = [];

before(async () => {
  const conformanceBin = exampleBin("conformance", "SWITCHBOARD_CONFORMANCE_BIN");
  conformance = await startExample(conformanceBin, { args: ["--allow-eio3"] });
  plain = await startExample(conformanceBin);
  bench = await startExample(exampleBin("bench", "SWITCHBOARD_BENCH_BIN"), {
    args: ["--allow-eio3"],
  });
});

after(async () => {
  for (const s of sockets) s.close();
  await Promise.all([conformance?.stop(), plain?.stop(), bench?.stop()]);
});

const MODES = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
};

/** Resolves with the arguments of `emitter`'s next `event`; fails after `ms`. */
const next = (emitter, event, ms = 3000) =>
  within(ms, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), event);

/** A v2 client socket at `url`; resolves once connected, with the first `auth` event. */
async function v2(url, mode, { expectAuth = true } = {}) {
  const s = ioV2(url, { ...MODES[mode], forceNew: true, reconnection: false });
  sockets.push(s);
  const auth = expectAuth ? next(s, "auth") : null;
  await next(s, "connect");
  return { s, auth: await auth };
}

/** Waits until the session runs over WebSocket (the upgrade mode starts on polling). */
async function onTransport(s, mode) {
  const engine = s.io.engine;
  if (mode === "upgrade" && engine.transport.name !== "websocket") {
    await next(engine, "upgrade");
  }
  assert.equal(engine.transport.name, mode === "polling" ? "polling" : "websocket");
}

const bytesOf = (b) => [...new Uint8Array(b)];

for (const mode of Object.keys(MODES)) {
  describe(`socket.io-client v2 over ${mode}`, () => {
    test("connects to / without asking, with the Engine.IO id as socket id", async () => {
      const { s, auth } = await v2(conformance.url, mode);
      assert.deepEqual(auth, [{}]);
      assert.equal(s.id, s.io.engine.id);
      assert.equal(s.io.engine.transport.query.EIO, 3);
      await onTransport(s, mode);
      s.close();
    });

    test("events both ways, with binary arguments", async () => {
      const { s } = await v2(conformance.url, mode);
      await onTransport(s, mode);
      const back = next(s, "message-back");
      s.emit("message", 1, "two", { three: [3] });
      assert.deepEqual(await back, [1, "two", { three: [3] }]);
      const binary = next(s, "message-back");
      s.emit("message", Buffer.from([1, 2, 3, 255]), { nested: Buffer.from([0, 9]) }, "é😀");
      const [bytes, obj, text] = await binary;
      assert.deepEqual(bytesOf(bytes), [1, 2, 3, 255]);
      assert.deepEqual(bytesOf(obj.nested), [0, 9]);
      assert.equal(text, "é😀");
      s.close();
    });

    test("acks both ways, with binary arguments", async () => {
      const { s } = await v2(conformance.url, mode);
      await onTransport(s, mode);
      // Client → server: the server acks with the arguments.
      const acked = await within(
        3000,
        new Promise((resolve) => s.emit("message-with-ack", "a", 2, Buffer.from([7]), (...a) => resolve(a))),
        "ack",
      );
      assert.equal(acked[0], "a");
      assert.equal(acked[1], 2);
      assert.deepEqual(bytesOf(acked[2]), [7]);
      // Server → client: the server asks for an ack and sends back what the client answered.
      const answered = new Promise((resolve) => {
        s.on("emit-with-ack", (...args) => {
          const last = args[args.length - 1];
          if (typeof last === "function") last("answer", Buffer.from([4, 2]));
          else resolve(args);
        });
      });
      s.emit("emit-with-ack", "question");
      const [word, bytes] = await within(3000, answered, "emit-with-ack answer");
      assert.equal(word, "answer");
      assert.deepEqual(bytesOf(bytes), [4, 2]);
      s.close();
    });

    test("a namespace with a query gets it as auth; an unknown one is refused", async () => {
      const { s, auth } = await v2(`${conformance.url}/custom?token=abc`, mode);
      assert.deepEqual(auth, [{ token: "abc" }]);
      assert.equal(s.id, `/custom#${s.io.engine.id}`);
      s.close();
      const other = ioV2(`${conformance.url}/other`, { ...MODES[mode], forceNew: true, reconnection: false });
      sockets.push(other);
      const [err] = await next(other, "error");
      assert.deepEqual(err, { message: "Invalid namespace" });
      other.close();
    });

    test("the client's pings are answered", async () => {
      const { s } = await v2(conformance.url, mode);
      // pingInterval 300 ms, pingTimeout 200 ms: without pongs the client gives up at 500 ms.
      for (let i = 0; i < 3; i++) await next(s, "pong", 2000);
      assert.equal(s.connected, true);
      s.close();
    });

    test("room broadcasts reach v2 and v4 clients alike, binary included", async () => {
      const opts = { ...MODES[mode], forceNew: true, reconnection: false };
      const a = (await v2(bench.url, mode, { expectAuth: false })).s;
      const b = (await v2(bench.url, mode === "polling" ? "websocket" : "polling", { expectAuth: false })).s;
      const c = ioV4(bench.url, opts);
      sockets.push(c);
      await next(c, "connect");
      await onTransport(a, mode);
      const got = Promise.all([a, b, c].map((s) => next(s, "m")));
      a.emit("bc", { n: 1, file: Buffer.from([5, 6, 7]) });
      for (const [m] of await got) {
        assert.equal(m.n, 1);
        assert.deepEqual(bytesOf(m.file), [5, 6, 7]);
      }
      const echoed = await within(
        3000,
        new Promise((resolve) => b.emit("echo", "t1", resolve)),
        "echo ack",
      );
      assert.equal(echoed, "t1");
      for (const s of [a, b, c]) s.close();
    });
  });
}

/** The packets of a v3 text payload (lengths count UTF-16 code units, as `String.length`). */
function packets(body) {
  const out = [];
  let rest = body;
  while (rest.length > 0) {
    const colon = rest.indexOf(":");
    assert.ok(colon > 0, `no length prefix in ${JSON.stringify(rest)}`);
    const n = Number(rest.slice(0, colon));
    out.push(rest.slice(colon + 1, colon + 1 + n));
    rest = rest.slice(colon + 1 + n);
  }
  return out;
}

describe("Engine.IO v3 framing over raw polling", () => {
  const base = () => `${conformance.url}/engine.io/?EIO=3&transport=polling`;

  async function open(extra = "&b64=1") {
    const res = await fetch(`${base()}${extra}`);
    assert.equal(res.status, 200);
    const body = await res.text();
    const m = /^(\d+):(0.*)$/.exec(body);
    assert.ok(m, body);
    assert.equal(Number(m[1]), m[2].length);
    const hs = JSON.parse(m[2].slice(1));
    assert.equal(hs.pingInterval, 300);
    assert.equal(hs.pingTimeout, 200);
    return hs.sid;
  }

  test("length-prefixed text and b4 base64 binary are echoed as such", async () => {
    const sid = await open();
    // "€😀" is three UTF-16 code units, so the packet "4€😀" counts 4.
    const post = await fetch(`${base()}&sid=${sid}`, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: "4:4€😀10:b4AQIDBA==1:2",
    });
    assert.equal(post.status, 200);
    const res = await fetch(`${base()}&sid=${sid}`);
    // The echoes and the pong, in some order.
    assert.deepEqual(packets(await res.text()).sort(), ["3", "4€😀", "b4AQIDBA=="]);
  });

  test("XHR2 binary payloads without b64", async () => {
    const sid = await open("");
    const post = await fetch(`${base()}&sid=${sid}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: Uint8Array.from([0, 3, 255, 0x34, 0x68, 0x69, 1, 5, 255, 4, 1, 2, 3, 4]),
    });
    assert.equal(post.status, 200);
    const res = await fetch(`${base()}&sid=${sid}`);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.deepEqual(bytesOf(await res.arrayBuffer()), [0, 3, 255, 0x34, 0x68, 0x69, 1, 5, 255, 4, 1, 2, 3, 4]);
  });

  test("JSONP polling is refused", async () => {
    const res = await fetch(`${base()}&j=0`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 3, message: "Bad request" });
  });

  test("a malformed length closes the session", async () => {
    const sid = await open();
    const post = await fetch(`${base()}&sid=${sid}`, { method: "POST", body: "9:4hi" });
    assert.equal(post.status, 400);
    const res = await fetch(`${base()}&sid=${sid}`);
    assert.equal(res.status, 400);
  });
});

describe("without --allow-eio3", () => {
  test("an EIO=3 handshake is refused as Node refuses it", async () => {
    for (const path of ["/socket.io/", "/engine.io/"]) {
      const res = await fetch(`${plain.url}${path}?EIO=3&transport=polling`);
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), { code: 5, message: "Unsupported protocol version" });
    }
    const s = ioV2(plain.url, { transports: ["polling"], forceNew: true, reconnection: false });
    sockets.push(s);
    await next(s, "connect_error");
    assert.equal(s.connected, false);
    s.close();
  });
});

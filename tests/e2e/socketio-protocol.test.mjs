// The Socket.IO rows of the protocol test server specification (§1.3), over a raw WebSocket
// and over raw long-polling, against the protocol test server's Socket.IO application
// (`socketio_e2e --conformance`, the same `switchboard::conformance::app()` the conformance
// example mounts at /socket.io/).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { Endpoint, SEP, delay, within } from "./lib/eio.mjs";
import { startApp } from "./lib/socketio-app.mjs";

let app;
let ep;

before(async () => {
  app = await startApp({ args: ["--conformance"] });
  ep = new Endpoint(`${app.url}/socket.io/`);
});

after(async () => {
  await app?.stop();
});

/** A WebSocket session past the Engine.IO handshake. */
async function ws() {
  const c = await ep.ws();
  const open = JSON.parse((await c.next()).slice(1));
  assert.deepEqual(open.upgrades, []);
  return c;
}

/** The next frame, which must be `expected` (a string, or a RegExp for text frames). */
async function expectFrame(c, expected) {
  const f = await c.nextData();
  if (expected instanceof RegExp) assert.match(f, expected);
  else assert.deepEqual(f, expected);
  return f;
}

function sidOf(frame, prefix) {
  const v = JSON.parse(frame.slice(prefix.length));
  assert.deepEqual(Object.keys(v), ["sid"]);
  assert.equal(typeof v.sid, "string");
}

async function connected(c, send = "40") {
  c.send(send);
  sidOf(await c.nextData(), "40");
  await expectFrame(c, '42["auth",{}]');
}

const closedWithin = (c, ms = 2000) => within(ms, c.closed, "close");

describe("§1.3 over WebSocket", () => {
  for (const [send, prefix, auth] of [
    ["40", "40", '42["auth",{}]'],
    ['40{"token":"123"}', "40", '42["auth",{"token":"123"}]'],
    ["40/custom,", "40/custom,", '42/custom,["auth",{}]'],
    ['40/custom,{"token":"abc"}', "40/custom,", '42/custom,["auth",{"token":"abc"}]'],
    ["40/custom", "40/custom,", '42/custom,["auth",{}]'],
  ]) {
    test(`${send} → CONNECT with sid, then auth`, async () => {
      const c = await ws();
      c.send(send);
      sidOf(await c.nextData(), prefix);
      await expectFrame(c, auth);
      c.close();
    });
  }

  test("40/random → CONNECT_ERROR Invalid namespace", async () => {
    const c = await ws();
    c.send("40/random");
    await expectFrame(c, '44/random,{"message":"Invalid namespace"}');
    c.close();
  });

  for (const bad of ["4abc", "42{}", '42abc["message-with-ack",1]', '42222222222222222222["message"]', '42["connect"]', "42[1]"]) {
    test(`${bad} closes the connection`, async () => {
      const c = await ws();
      await connected(c);
      c.send(bad);
      await closedWithin(c);
    });
  }

  test("41 leaves / and the session stays: the next frame is a ping", async () => {
    const c = await ws();
    await connected(c);
    c.send("41");
    assert.equal(await c.next(1000), "2");
    c.close();
  });

  test("41/custom leaves /custom only", async () => {
    const c = await ws();
    await connected(c);
    c.send("40/custom,");
    sidOf(await c.nextData(), "40/custom,");
    await expectFrame(c, '42/custom,["auth",{}]');
    c.send("41/custom");
    c.send('42["message","message to main namespace"]');
    await expectFrame(c, '42["message-back","message to main namespace"]');
    c.close();
  });

  test("events, acks and binary come back exactly", async () => {
    const c = await ws();
    await connected(c);
    c.send('42["message",1,"2",{"3":[true]}]');
    await expectFrame(c, '42["message-back",1,"2",{"3":[true]}]');
    c.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    c.send(Buffer.from([1, 2, 3]));
    c.send(Buffer.from([4, 5, 6]));
    await expectFrame(c, '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    await expectFrame(c, Buffer.from([1, 2, 3]));
    await expectFrame(c, Buffer.from([4, 5, 6]));
    c.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    await expectFrame(c, '43456[1,"2",{"3":[false]}]');
    c.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    c.send(Buffer.from([1, 2, 3]));
    c.send(Buffer.from([4, 5, 6]));
    await expectFrame(c, '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    await expectFrame(c, Buffer.from([1, 2, 3]));
    await expectFrame(c, Buffer.from([4, 5, 6]));
    c.close();
  });

  test("emit-with-ack: the server asks for an ack, then emits its arguments", async () => {
    const c = await ws();
    await connected(c);
    c.send('42["emit-with-ack",1,"2",{"3":[true]}]');
    const ask = await expectFrame(c, /^42\d+\["emit-with-ack",1,"2",\{"3":\[true\]\}\]$/);
    const id = /^42(\d+)/.exec(ask)[1];
    c.send(`43${id}["answer",{"ok":true}]`);
    await expectFrame(c, '42["emit-with-ack","answer",{"ok":true}]');
    c.close();
  });

  test("a client that answers pings but never connects is closed after connectTimeout", async () => {
    const c = await ws();
    const started = Date.now();
    for (;;) {
      const f = await within(3000, Promise.race([c.next(3000), c.closed.then(() => null)]), "frame");
      if (f === null) break;
      if (f === "2") c.send("3");
    }
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 950, `closed after ${elapsed} ms`);
    assert.ok(elapsed < 2000, `closed after ${elapsed} ms`);
  });

  test("a client that does nothing is closed", async () => {
    const c = await ws();
    await closedWithin(c, 3000);
  });
});

describe("§1.3 over long-polling", () => {
  /** Polls until a data packet (not a ping) arrives; pings are answered. */
  async function poll(sid) {
    for (let i = 0; i < 20; i++) {
      const res = await ep.get(sid);
      assert.equal(res.status, 200);
      const packets = res.body.split(SEP).filter((p) => p !== "2");
      if (res.body.split(SEP).includes("2")) await ep.post(sid, "3");
      if (packets.length) return packets;
    }
    throw new Error("no data");
  }

  test("connect, auth, echo, ack and binary", async () => {
    const { sid } = await ep.handshake();
    assert.equal((await ep.post(sid, '40{"token":"123"}')).body, "ok");
    const first = await poll(sid);
    const all = first.length === 2 ? first : [...first, ...(await poll(sid))];
    sidOf(all[0], "40");
    assert.equal(all[1], '42["auth",{"token":"123"}]');
    await ep.post(sid, `42456["message-with-ack",1,"2",{"3":[false]}]${SEP}451-["message",{"_placeholder":true,"num":0}]${SEP}bAQID`);
    const replies = [];
    while (replies.length < 3) replies.push(...(await poll(sid)));
    assert.deepEqual(replies, [
      '43456[1,"2",{"3":[false]}]',
      '451-["message-back",{"_placeholder":true,"num":0}]',
      "bAQID",
    ]);
  });

  test("a bad packet closes the session", async () => {
    const { sid } = await ep.handshake();
    await ep.post(sid, "40");
    await poll(sid);
    await ep.post(sid, "42{}");
    for (let i = 0; i < 40; i++) {
      if ((await ep.get(sid)).status === 400) return;
      await delay(25);
    }
    assert.fail("session still open");
  });
});

// Every Engine.IO behaviour of the protocol test server specification (§1.2), with raw HTTP
// (fetch) and raw WebSocket (`ws`), on both endpoints of the conformance example.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { startServer } from "./lib/server.mjs";
import { Endpoint, Frames, SEP, delay, within } from "./lib/eio.mjs";

// `/socket.io/` answers the Engine.IO tests too. The message echo only exists on `/socket.io/`
// while that endpoint is an Engine.IO echo; set `echo: false` once it runs the Socket.IO server.
const ENDPOINTS = [
  { path: "/engine.io/", echo: true },
  { path: "/socket.io/", echo: false },
];

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const { path, echo } of ENDPOINTS) {
  const ep = () => new Endpoint(`${server.url}${path}`);
  const echoTest = echo ? test : test.skip;

  describe(`${path} handshake`, () => {
    test("polling handshake has exactly the five keys", async () => {
      const res = await fetch(ep().pollingUrl());
      assert.equal(res.status, 200);
      const body = await res.text();
      assert.equal(body[0], "0");
      const open = JSON.parse(body.slice(1));
      assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
      assert.equal(typeof open.sid, "string");
      assert.deepEqual(open.upgrades, ["websocket"]);
      assert.equal(open.pingInterval, 300);
      assert.equal(open.pingTimeout, 200);
      assert.equal(open.maxPayload, 1000000);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
    });

    test("WebSocket handshake sends the open packet first, with no upgrades", async () => {
      const ws = await ep().ws();
      const first = await ws.next();
      assert.equal(first[0], "0");
      const open = JSON.parse(first.slice(1));
      assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
      assert.deepEqual(open.upgrades, []);
      assert.equal(open.pingInterval, 300);
      assert.equal(open.pingTimeout, 200);
      assert.equal(open.maxPayload, 1000000);
      ws.close();
    });

    test("bad query parameters get 400 with the Node error body", async () => {
      const base = `${server.url}${path}`;
      const cases = [
        ["?transport=polling", 5],
        ["?EIO=abc&transport=polling", 5],
        ["?EIO=4", 0],
        ["?EIO=4&transport=abc", 0],
      ];
      for (const [query, code] of cases) {
        const res = await fetch(`${base}${query}`);
        assert.equal(res.status, 400, query);
        assert.equal((await res.json()).code, code, query);
      }
    });

    test("a WebSocket with bad query parameters is rejected", async () => {
      const wsBase = `${server.url.replace("http", "ws")}${path}`;
      for (const query of ["?transport=websocket", "?EIO=abc&transport=websocket", "?EIO=4", "?EIO=4&transport=abc"]) {
        const frames = new Frames(new WebSocket(`${wsBase}${query}`));
        await assert.rejects(within(2000, frames.opened), /HTTP 400/, query);
      }
    });

    test("a handshake must be a GET", async () => {
      for (const method of ["POST", "PUT"]) {
        const res = await fetch(ep().pollingUrl(), { method, body: "4hello" });
        assert.equal(res.status, 400, method);
        assert.deepEqual(await res.json(), { code: 2, message: "Bad handshake method" });
      }
    });

    test("an unknown sid gets 400 on every method and transport", async () => {
      const e = ep();
      for (const res of [await e.get("nope"), await e.post("nope", "4x")]) {
        assert.equal(res.status, 400);
        assert.deepEqual(JSON.parse(res.body), { code: 1, message: "Session ID unknown" });
      }
      const frames = new Frames(new WebSocket(e.wsUrl("nope")));
      await assert.rejects(within(2000, frames.opened), /HTTP 400/);
    });

    test("CORS preflight is answered", async () => {
      const res = await fetch(ep().pollingUrl(), {
        method: "OPTIONS",
        headers: { origin: "https://example.com", "access-control-request-headers": "content-type" },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(res.headers.get("access-control-allow-headers"), "content-type");
    });
  });

  describe(`${path} polling data path`, () => {
    echoTest("POST 4hello → ok, next GET → 4hello", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      const post = await e.post(sid, "4hello");
      assert.equal(post.status, 200);
      assert.equal(post.body, "ok");
      assert.match(post.headers.get("content-type"), /^text\/plain/);
      const get = await e.get(sid);
      assert.equal(get.status, 200);
      assert.equal(get.body, "4hello");
      assert.match(get.headers.get("content-type"), /^text\/plain/);
    });

    echoTest("several packets come back in one payload, in order", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      const payload = ["4test1", "4test2", "4test3"].join(SEP);
      assert.equal((await e.post(sid, payload)).body, "ok");
      assert.equal((await e.get(sid)).body, payload);
    });

    echoTest("binary packets are b + base64 both ways", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      const payload = `4hello${SEP}bAQIDBA==`;
      assert.equal((await e.post(sid, payload)).body, "ok");
      assert.equal((await e.get(sid)).body, payload);
    });

    for (const bad of ["abc", "bAQ!!", `4ok${SEP}`, "\xff"]) {
      test(`an invalid payload ${JSON.stringify(bad)} → 400 and the session is closed`, async () => {
        const e = ep();
        const { sid } = await e.handshake();
        const res = await e.post(sid, bad);
        assert.equal(res.status, 400);
        assert.equal((await e.get(sid)).status, 400);
      });
    }

    test("two concurrent GETs: the pending one gets 1, the second 400, the session closes", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      // Whichever the server sees first is the pending one; the other is the duplicate.
      const replies = await Promise.all([e.get(sid), e.get(sid)]);
      const duplicate = replies.find((r) => r.status === 400);
      const pending = replies.find((r) => r !== duplicate);
      assert.ok(duplicate, JSON.stringify(replies.map((r) => r.status)));
      assert.equal(pending.status, 200);
      assert.equal(pending.body, "1");
      assert.equal((await e.get(sid)).status, 400);
    });

    test("a body over maxPayload gets 413", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      const res = await e.post(sid, "4" + "x".repeat(1_000_000), 5000);
      assert.equal(res.status, 413);
    });
  });

  describe(`${path} WebSocket data path`, () => {
    echoTest("text frame 4hello is echoed", async () => {
      const ws = await ep().ws();
      await ws.next();
      ws.send("4hello");
      assert.equal(await ws.nextData(), "4hello");
      ws.close();
    });

    echoTest("a binary frame is echoed as raw binary", async () => {
      const ws = await ep().ws();
      await ws.next();
      ws.send(Buffer.from([1, 2, 3, 4]));
      assert.deepEqual(await ws.nextData(), Buffer.from([1, 2, 3, 4]));
      ws.close();
    });

    test("an invalid packet closes the WebSocket", async () => {
      const ws = await ep().ws();
      await ws.next();
      ws.send("abc");
      await within(2000, ws.closed, "close");
    });

    test("a message over maxPayload closes the WebSocket", async () => {
      const ws = await ep().ws();
      await ws.next();
      ws.send("4" + "x".repeat(1_000_000));
      await within(2000, ws.closed, "close");
    });
  });

  describe(`${path} heartbeat`, () => {
    test("polling: a held GET returns the ping at ~300 ms, three rounds", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      let last = Date.now();
      for (let round = 0; round < 3; round++) {
        const get = await e.get(sid);
        const elapsed = Date.now() - last;
        assert.equal(get.status, 200);
        assert.equal(get.body, "2");
        assert.ok(elapsed >= 250 && elapsed < 450, `ping after ${elapsed} ms`);
        assert.equal((await e.post(sid, "3")).body, "ok");
        last = Date.now();
      }
    });

    test("polling: without a pong the session is gone at handshake + 500 ms", async () => {
      const e = ep();
      const { sid, at } = await e.handshake();
      await delay(500 - (Date.now() - at));
      assert.equal((await e.get(sid)).status, 400);
    });

    test("WebSocket: a ping every 300 ms, three rounds", async () => {
      const ws = await ep().ws();
      await ws.next();
      let last = Date.now();
      for (let round = 0; round < 3; round++) {
        assert.equal(await ws.next(), "2");
        const elapsed = Date.now() - last;
        assert.ok(elapsed >= 250 && elapsed < 450, `ping after ${elapsed} ms`);
        ws.send("3");
        last = Date.now();
      }
      ws.close();
    });

    test("WebSocket: a client that never answers is closed at ~500 ms", async () => {
      const start = Date.now();
      const ws = await ep().ws();
      await ws.next();
      await within(2000, ws.closed, "close");
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= 450 && elapsed < 800, `closed after ${elapsed} ms`);
    });
  });

  describe(`${path} close`, () => {
    test("polling: POST 1 answers the pending GET with 6 and ends the session", async () => {
      const e = ep();
      // Nothing tells a client that its GET is parked: send both at once, and start over in
      // the rare run where the POST overtakes the GET (the GET then finds no session).
      for (let attempt = 0; ; attempt++) {
        const { sid } = await e.handshake();
        const pending = e.get(sid);
        assert.equal((await e.post(sid, "1")).status, 200);
        const get = await pending;
        if (get.status === 400 && attempt < 20) continue;
        assert.equal(get.status, 200);
        assert.equal(get.body, "6");
        assert.equal((await e.get(sid)).status, 400);
        break;
      }
    });

    test("WebSocket: a close packet closes the WebSocket promptly", async () => {
      const ws = await ep().ws();
      await ws.next();
      ws.send("1");
      await within(2000, ws.closed, "close");
    });
  });

  describe(`${path} upgrade`, () => {
    test("probe, noop for the pending and a new GET, upgrade, then data over WebSocket", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      // The GET gets a noop whether it is parked before or after the probe.
      const pending = e.get(sid);
      const ws = await e.ws(sid);
      ws.send("2probe");
      assert.equal(await ws.next(), "3probe");
      const started = Date.now();
      const first = await pending;
      assert.equal(first.status, 200);
      assert.equal(first.body, "6");
      const again = await e.get(sid);
      assert.equal(again.body, "6");
      assert.ok(Date.now() - started < 200, "noops are prompt");
      ws.send("5");
      if (echo) {
        ws.send("4hello");
        assert.equal(await ws.nextData(), "4hello");
      } else {
        // A Socket.IO round trip proves the upgrade is complete before polling again.
        ws.send("40");
        assert.match(await ws.nextData(), /^40\{"sid":/);
      }
      assert.equal((await e.get(sid)).status, 400);
      ws.close();
    });

    test("2probe and 5 back to back; no noop over the WebSocket", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      const ws = await e.ws(sid);
      ws.send("2probe");
      ws.send("5");
      assert.equal(await ws.next(), "3probe");
      if (echo) {
        ws.send("4after");
        assert.equal(await ws.nextData(), "4after");
      }
      assert.ok(!ws.queue.includes("6"), "no noop over the WebSocket");
      ws.close();
    });

    test("after the upgrade a second WebSocket gets 101, then is closed; the first stays usable", async () => {
      const e = ep();
      const { sid } = await e.handshake();
      const ws = await e.ws(sid);
      ws.send("2probe");
      assert.equal(await ws.next(), "3probe");
      ws.send("5");
      const second = await e.ws(sid);
      await within(2000, second.closed, "second WebSocket closed");
      if (echo) {
        ws.send("4still");
        assert.equal(await ws.nextData(), "4still");
      } else {
        ws.send("3");
      }
      assert.equal(ws.ws.readyState, WebSocket.OPEN);
      ws.close();
    });
  });
}

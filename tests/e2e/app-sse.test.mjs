// `GET /sse` of the `switchboard` binary, read with a plain HTTP client (`fetch`): a room's
// `message:new` broadcasts, sent by an official socket.io-client user, arrive as events with the
// recovery offset as id; after a cut the stream resumes from Last-Event-ID with nothing lost;
// an id outside the log gets `sse.missed`; auth is the socket's (dev name, JWT), with 4xx errors.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import { chatClient, cleanup, request, sessionClient, startApp } from "./lib/app.mjs";
import { openSse } from "./lib/sse.mjs";

const closers = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function send(socket, roomId, texts) {
  for (const text of texts) {
    const ack = await request(socket, "message:send", { roomId, text, clientId: `${text}-id` });
    assert.equal(ack.ok, true, JSON.stringify(ack));
  }
}

async function stream(url, headers) {
  const s = await openSse(url, headers);
  closers.push(async () => s.close());
  return s;
}

/** The next `message:new` events of `s`, `n` of them, as `{ id, text }`. */
async function messages(s, n) {
  const out = [];
  while (out.length < n) {
    const e = await s.nextEvent();
    assert.ok(e, "the stream ended early");
    if (e.event !== "message:new") continue;
    const args = JSON.parse(e.data);
    assert.ok(Array.isArray(args) && args.length === 1, e.data);
    out.push({ id: e.id, text: args[0].text });
  }
  return out;
}

describe("/sse in dev mode", () => {
  let app;
  before(async () => {
    app = await startApp();
    closers.push(async () => {
      await app.stop();
      cleanup(app.dataDir);
    });
  });

  test("broadcasts arrive in order, and a cut stream resumes from Last-Event-ID with nothing lost", async () => {
    const room = "sse-room";
    const { socket: ann } = await chatClient(app.url, "ann-sse");
    closers.push(async () => ann.close());
    await request(ann, "room:join", { roomId: room });
    const url = `${app.url}/sse?namespace=/chat&rooms=${room}&username=reader`;
    const s = await stream(url);
    assert.equal(s.status, 200);
    assert.equal(s.headers.get("content-type"), "text/event-stream");
    assert.deepEqual(await s.next(), { comment: "subscribed" });
    await send(ann, room, ["m1", "m2", "m3"]);
    const first = await messages(s, 3);
    assert.deepEqual(first.map((m) => m.text), ["m1", "m2", "m3"]);
    assert.ok(first.every((m) => typeof m.id === "string" && m.id.length > 0), JSON.stringify(first));
    // The cut, by the client; the room goes on talking.
    s.close();
    await send(ann, room, ["m4", "m5", "m6"]);
    const resumed = await stream(url, { "last-event-id": first.at(-1).id });
    assert.deepEqual(await resumed.next(), { comment: "subscribed" });
    await send(ann, room, ["m7"]);
    const rest = await messages(resumed, 4);
    assert.deepEqual(rest.map((m) => m.text), ["m4", "m5", "m6", "m7"]);
    const ids = [...first, ...rest].map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, "every id once");
    // The query parameter does the same, for clients that cannot set headers.
    const byQuery = await stream(`${url}&lastEventId=${encodeURIComponent(first.at(-1).id)}`);
    assert.deepEqual((await messages(byQuery, 4)).map((m) => m.text), ["m4", "m5", "m6", "m7"]);
    byQuery.close();
    resumed.close();
  });

  test("an id the log does not hold gets sse.missed with an empty id, then live events", async () => {
    const room = "sse-missed";
    const { socket: bob } = await chatClient(app.url, "bob-sse");
    closers.push(async () => bob.close());
    await request(bob, "room:join", { roomId: room });
    const s = await stream(`${app.url}/sse?namespace=/chat&rooms=${room}&username=reader`, {
      "last-event-id": "not-an-offset",
    });
    assert.deepEqual(await s.next(), { comment: "subscribed" });
    assert.deepEqual(await s.next(), {
      id: "",
      event: "sse.missed",
      data: JSON.stringify({ lastEventId: "not-an-offset" }),
    });
    await send(bob, room, ["live"]);
    assert.deepEqual((await messages(s, 1)).map((m) => m.text), ["live"]);
    s.close();
  });

  test("bad requests get 400, 401, 404 with a JSON error", async () => {
    const cases = [
      [`/sse?namespace=/chat&rooms=a`, 401, "unauthorized"],
      [`/sse?namespace=/chat&rooms=a&username=`, 401, "unauthorized"],
      [`/sse?namespace=/nope&rooms=a&username=ann`, 404, "unknown_namespace"],
      [`/sse?namespace=/notifications&rooms=a&username=ann`, 404, "unknown_namespace"],
      [`/sse?namespace=/chat&username=ann`, 400, "bad_request"],
      [`/sse?namespace=/chat&rooms=a,,b&username=ann`, 400, "bad_request"],
      [`/sse?namespace=/chat&rooms=${"x".repeat(65)}&username=ann`, 400, "bad_request"],
    ];
    for (const [path, status, code] of cases) {
      const response = await fetch(app.url + path);
      const body = await response.json();
      assert.deepEqual([response.status, body.ok, body.error?.code], [status, false, code], path);
    }
  });
});

describe("/sse at shutdown", () => {
  test("SIGTERM sends server:shutdown, then ends every stream with sse.close; the process exits 0", async () => {
    const app = await startApp();
    try {
      const s = await openSse(`${app.url}/sse?namespace=/chat&rooms=bye&username=reader`);
      assert.deepEqual(await s.next(), { comment: "subscribed" });
      const stopped = app.stop();
      // What every /chat socket gets first (a namespace-wide broadcast reaches streams too).
      assert.equal((await s.nextEvent(15_000))?.event, "server:shutdown");
      assert.equal((await s.nextEvent(15_000))?.event, "sse.close");
      assert.equal(await s.next(15_000), null, "the stream ends");
      const [code] = await stopped;
      assert.equal(code, 0);
    } finally {
      await app.stop();
      cleanup(app.dataDir);
    }
  });
});

describe("/sse with JWT", () => {
  let app;
  const secret = "a-long-sse-test-secret";
  const token = (claims) => {
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const head = b64({ alg: "HS256", typ: "JWT" }) + "." + b64(claims);
    return head + "." + createHmac("sha256", secret).update(head).digest("base64url");
  };
  const exp = () => Math.floor(Date.now() / 1000) + 60;
  before(async () => {
    app = await startApp({ env: { SWITCHBOARD_JWT_SECRET: secret } });
    closers.push(async () => {
      await app.stop();
      cleanup(app.dataDir);
    });
  });

  test("a token in Authorization: Bearer or ?token= opens the stream; none or a bad one is a 401", async () => {
    const room = "sse-jwt";
    const { socket } = await sessionClient(app.url, { token: token({ sub: "u-1", exp: exp() }) });
    closers.push(async () => socket.close());
    await request(socket, "room:join", { roomId: room });
    const url = `${app.url}/sse?namespace=/chat&rooms=${room}`;
    const good = token({ sub: "reader", exp: exp() });
    const byHeader = await stream(url, { authorization: `Bearer ${good}` });
    const byQuery = await stream(`${url}&token=${good}`);
    assert.deepEqual([byHeader.status, byQuery.status], [200, 200]);
    await byHeader.next();
    await byQuery.next();
    await send(socket, room, ["jwt-1"]);
    assert.deepEqual((await messages(byHeader, 1)).map((m) => m.text), ["jwt-1"]);
    assert.deepEqual((await messages(byQuery, 1)).map((m) => m.text), ["jwt-1"]);
    byHeader.close();
    byQuery.close();
    for (const headers of [{}, { authorization: "Bearer not.a.jwt" }, { authorization: `Bearer ${token({ sub: "x", exp: 1 })}` }]) {
      const response = await fetch(url + "&username=ann", { headers });
      const body = await response.json();
      assert.deepEqual([response.status, body.error.code], [401, "unauthorized"], JSON.stringify(headers));
    }
  });
});

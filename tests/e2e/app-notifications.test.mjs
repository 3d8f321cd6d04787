// Notifications of the `switchboard` binary: POST /api/notify (API key), /notifications with
// notification:list, notification:read and the pushed unread count.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, connect, request, startApp, waitFor } from "./lib/app.mjs";

const KEY = "test-api-key";
let app;
let noKey;
const sockets = [];

before(async () => {
  app = await startApp({ args: ["--api-key", KEY] });
  noKey = await startApp();
});
after(async () => {
  for (const s of sockets) s.close();
  await app.stop();
  await noKey.stop();
  cleanup(app.dataDir);
  cleanup(noKey.dataDir);
});

function notify(body, { key = KEY, base = app.url } = {}) {
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  return fetch(base + "/api/notify", { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

async function inbox(username) {
  const { io } = await import("socket.io-client");
  const socket = io(app.url + "/notifications", { auth: { username }, forceNew: true, reconnection: false });
  sockets.push(socket);
  const unread = await waitFor(socket, "notification:unread");
  return { socket, unread };
}

test("the API needs the key; a bad body is a 400", async () => {
  const missing = await notify({ userId: "ann", title: "t", body: "b" }, { key: null });
  assert.equal(missing.status, 401);
  assert.equal((await missing.json()).error.code, "unauthorized");
  assert.equal((await notify({ userId: "ann", title: "t", body: "b" }, { key: "wrong" })).status, 401);
  const bad = await notify("{not json");
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, "invalid_payload");
  assert.equal((await notify({ userId: "", title: "t", body: "b" })).status, 400);
  const off = await notify({ userId: "ann", title: "t", body: "b" }, { base: noKey.url });
  assert.equal(off.status, 503);
  const offBody = await off.json();
  assert.equal(offBody.error.code, "disabled");
  assert.match(offBody.error.message, /--api-key KEY/, "the error says what to do");
});

test("dev mode: notification:session says the server takes notification:test, which notifies oneself", async () => {
  const { io } = await import("socket.io-client");
  const socket = io(app.url + "/notifications", { auth: { username: "tess" }, forceNew: true, reconnection: false });
  sockets.push(socket);
  const session = await waitFor(socket, "notification:session");
  assert.deepEqual(session, { userId: "tess", username: "tess", testable: true });
  const pushed = waitFor(socket, "notification:new");
  const ack = await request(socket, "notification:test", {});
  assert.equal(ack.ok, true, JSON.stringify(ack));
  const n = await pushed;
  assert.equal(n.id, ack.id);
  assert.equal(n.userId, "tess");
  assert.equal(n.title, "Test notification");
  assert.equal(typeof n.ts, "number");
});

test("an online user gets notification:new and the new unread count at once", async () => {
  const { socket, unread } = await inbox("ann-online");
  assert.deepEqual(unread, { count: 0 });
  const pushed = waitFor(socket, "notification:new");
  const count = waitFor(socket, "notification:unread", (u) => u.count === 1);
  const res = await notify({ userId: "ann-online", title: "Hello", body: "<b>bold?</b>" });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual({ ok: body.ok, delivered: body.delivered }, { ok: true, delivered: 1 });
  const n = await pushed;
  assert.deepEqual(
    { id: n.id, userId: n.userId, title: n.title, body: n.body, read: n.read },
    { id: body.id, userId: "ann-online", title: "Hello", body: "<b>bold?</b>", read: false },
  );
  await count;
});

test("an offline user finds stored notifications on connect; read updates the count everywhere", async () => {
  for (const title of ["one", "two", "three"]) {
    const res = await notify({ userId: "bob-offline", title, body: "b" });
    assert.equal((await res.json()).delivered, 0);
  }
  const tab1 = await inbox("bob-offline");
  assert.deepEqual(tab1.unread, { count: 3 });
  const tab2 = await inbox("bob-offline");
  const list = await request(tab1.socket, "notification:list", {});
  assert.equal(list.ok, true);
  assert.equal(list.unread, 3);
  assert.deepEqual(list.notifications.map((n) => n.title), ["three", "two", "one"]);

  const other = waitFor(tab2.socket, "notification:unread", (u) => u.count === 2);
  const read = await request(tab1.socket, "notification:read", { id: list.notifications[0].id });
  assert.deepEqual(read, { ok: true, unread: 2 });
  await other;
  const limited = await request(tab1.socket, "notification:list", { limit: 1 });
  assert.deepEqual(limited.notifications.map((n) => [n.title, n.read]), [["three", true]]);
  const all = await request(tab2.socket, "notification:read", {});
  assert.deepEqual(all, { ok: true, unread: 0 });
});

test("/notifications refuses connections without a valid user", async () => {
  await assert.rejects(connect(app.url, "/notifications", {}), (err) => err.data?.code === "missing_username");
});

test("dev mode with a key: the server logs a curl line that works as printed", async () => {
  const dev = await startApp({ args: ["--api-key", "dev-key"], env: { RUST_LOG: "info" } });
  try {
    // The line follows the "listening" line on stdout: wait for it on stderr (bounded).
    const find = () => dev.stderr().split("\n").find((l) => l.includes("send a notification: curl"));
    const line = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no curl line within 5 s: ${dev.stderr()}`)), 5000);
      const check = () => {
        const found = find();
        if (!found) return;
        clearTimeout(timer);
        dev.child.stderr.off("data", check);
        resolve(found);
      };
      dev.child.stderr.on("data", check);
      check();
    });
    const m = /curl -X POST (\S+) -H 'authorization: Bearer ([^']+)' -H 'content-type: application\/json' -d '([^']+)'/.exec(line);
    assert.ok(m, line);
    assert.equal(m[1], dev.url + "/api/notify");
    const res = await fetch(m[1], { method: "POST", headers: { authorization: `Bearer ${m[2]}`, "content-type": "application/json" }, body: m[3] });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).ok, true);
  } finally {
    await dev.stop();
    cleanup(dev.dataDir);
  }
});

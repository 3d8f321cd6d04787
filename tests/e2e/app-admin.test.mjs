// The Admin UI's server side (`--admin-ui`) driven as the official UI drives it, with the
// official socket.io-client: auth with a `$2y$` bcrypt hash, the session, `config`,
// `server_stats` with the reference's field types, `all_sockets`, live socket/room/event
// events, the `_disconnect`/`join`/`leave` commands, read-only mode, refused logins, the
// static files at /admin/, and nothing sent before the CONNECT answer.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { chatClient, cleanup, refused, request, startApp, waitFor } from "./lib/app.mjs";

// `crypt("secret", "$2y$04$951P/jPC8iuabTofwYcnlu")` by libxcrypt (another bcrypt
// implementation than the server's): a `$2y$` hash as htpasswd and PHP make them.
const HASH = "$2y$04$951P/jPC8iuabTofwYcnluobpoqnTkkzhg7zjQgO6JAEvGtF/LPyW";
const ALL_FEATURES = [
  "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS",
];

let app;
let readonly;
const sockets = [];

before(async () => {
  app = await startApp({
    args: ["--admin-ui", "--admin-username", "admin"],
    env: { SWITCHBOARD_ADMIN_PASSWORD_HASH: HASH },
  });
  readonly = await startApp({ args: ["--admin-ui", "--admin-readonly"] });
});
after(async () => {
  for (const s of sockets) s.close();
  for (const a of [app, readonly]) {
    if (!a) continue;
    const [code] = await a.stop();
    assert.equal(code, 0);
    cleanup(a.dataDir);
  }
});

/** An admin connection as the UI opens it; every event it gets is recorded from the start. */
function admin(url, auth, opts = {}) {
  const socket = io(url + "/admin", {
    auth, forceNew: true, reconnection: false, withCredentials: true, ...opts,
  });
  sockets.push(socket);
  const seen = [];
  socket.onAny((event, ...args) => seen.push([event, ...args]));
  return { socket, seen };
}

/** The first recorded `event` (waiting for it) whose arguments satisfy `accept`. */
async function seenEvent({ socket, seen }, event, accept = () => true, ms = 5000) {
  const find = () => seen.find(([e, ...args]) => e === event && accept(args));
  const found = find();
  if (found) return found.slice(1);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.offAny(listener);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const listener = () => {
      const hit = find();
      if (!hit) return;
      clearTimeout(timer);
      socket.offAny(listener);
      resolve(hit.slice(1));
    };
    socket.onAny(listener);
  });
}

const isIso = (t) => typeof t === "string" && new Date(t).toISOString() === t;

test("a credentials login gets a session, config, all_sockets and server_stats", async () => {
  const ann = await chatClient(app.url, "ann-admin");
  sockets.push(ann.socket);
  const ui = admin(app.url, { username: "admin", password: "secret" });
  const [sessionId] = await seenEvent(ui, "session");
  assert.match(sessionId, /^[0-9a-f]{16}$/);
  const [config] = await seenEvent(ui, "config");
  assert.deepEqual(config, { supportedFeatures: ALL_FEATURES });
  const [all] = await seenEvent(ui, "all_sockets");
  const order = ui.seen.map(([e]) => e).filter((e) => ["session", "config", "all_sockets"].includes(e));
  assert.deepEqual(order, ["session", "config", "all_sockets"]);

  const mine = all.find((s) => s.id === ann.socket.id);
  assert.ok(mine, "the chat socket is listed");
  assert.equal(mine.nsp, "/chat");
  assert.equal(typeof mine.clientId, "string");
  assert.equal(mine.clientId.length, 12);
  assert.ok(["polling", "websocket"].includes(mine.transport));
  assert.equal(typeof mine.handshake.issued, "number");
  assert.equal(typeof mine.handshake.headers, "object");
  assert.equal(typeof mine.handshake.query, "object");
  assert.equal(mine.handshake.query.EIO, "4");
  assert.equal(typeof mine.handshake.time, "string");
  assert.equal(mine.handshake.auth, undefined, "auth is never sent to the UI");
  assert.ok(mine.rooms.includes(ann.socket.id));
  assert.equal(typeof mine.data, "object");
  // The admin connection itself is listed too, in its namespace.
  assert.ok(all.some((s) => s.nsp === "/admin" && s.id === ui.socket.id));

  const [stats] = await seenEvent(ui, "server_stats");
  assert.equal(typeof stats.serverId, "string");
  assert.equal(typeof stats.hostname, "string");
  assert.ok(Number.isInteger(stats.pid));
  assert.equal(stats.serverId, `${stats.hostname}#${stats.pid}`);
  assert.equal(typeof stats.uptime, "number");
  assert.ok(Number.isInteger(stats.clientsCount) && stats.clientsCount >= 2);
  assert.ok(Number.isInteger(stats.pollingClientsCount));
  assert.ok(Array.isArray(stats.aggregatedEvents));
  for (const e of stats.aggregatedEvents) {
    assert.ok(Number.isInteger(e.timestamp) && e.timestamp % 1000 === 0, JSON.stringify(e));
    assert.equal(typeof e.type, "string");
    assert.ok(Number.isInteger(e.count) && e.count > 0);
    if ("subType" in e) assert.equal(typeof e.subType, "string");
  }
  const chat = stats.namespaces.find((n) => n.name === "/chat");
  assert.deepEqual(Object.keys(chat).sort(), ["name", "socketsCount"]);
  assert.ok(chat.socketsCount >= 1);
  assert.ok(stats.namespaces.some((n) => n.name === "/admin" && n.socketsCount >= 1));

  // The session id logs in without credentials (the UI's page reload).
  const again = admin(app.url, { sessionId });
  const [config2] = await seenEvent(again, "config");
  assert.deepEqual(config2, { supportedFeatures: ALL_FEATURES });
  assert.ok(!again.seen.some(([e]) => e === "session"), "no new session for a session login");
  again.socket.close();
});

test("live events, and the join, leave and _disconnect commands", async () => {
  const ui = admin(app.url, { username: "admin", password: "secret" });
  await seenEvent(ui, "all_sockets");
  const bob = await chatClient(app.url, "bob-admin");
  sockets.push(bob.socket);
  const id = bob.socket.id;

  const [socket, at] = await seenEvent(ui, "socket_connected", ([s]) => s.id === id);
  assert.equal(socket.nsp, "/chat");
  assert.ok(isIso(at), at);
  const [nsp, room, who, t] = await seenEvent(ui, "room_joined", ([n, r]) => n === "/chat" && r === id);
  assert.deepEqual([nsp, room, who], ["/chat", id, id]);
  assert.ok(isIso(t));

  // An event from the client: event_received with [name, ...args].
  await request(bob.socket, "users:online");
  const [rnsp, rid, args, rt] = await seenEvent(ui, "event_received", ([n, i]) => n === "/chat" && i === id);
  assert.deepEqual([rnsp, rid, args[0]], ["/chat", id, "users:online"]);
  assert.ok(isIso(rt));
  // The server's `session` event to bob: event_sent.
  const [, , sent] = await seenEvent(ui, "event_sent", ([n, i]) => n === "/chat" && i === id);
  assert.equal(typeof sent[0], "string");

  // join and leave with a socket id as filter (the Socket page's form and leave button).
  ui.socket.emit("join", "/chat", "vip-admin", id);
  await seenEvent(ui, "room_joined", ([, r, i]) => r === "vip-admin" && i === id);
  ui.socket.emit("leave", "/chat", "vip-admin", id);
  await seenEvent(ui, "room_left", ([, r, i]) => r === "vip-admin" && i === id);
  // A command for a namespace that does not exist is ignored and creates nothing.
  ui.socket.emit("join", "/nowhere", "x", id);

  // _disconnect (the disconnect button): the client is told, the UI gets
  // socket_disconnected and then room_left for each of its rooms.
  const gone = waitFor(bob.socket, "disconnect");
  const before = ui.seen.length;
  ui.socket.emit("_disconnect", "/chat", false, id);
  assert.equal(await gone, "io server disconnect");
  const [dnsp, did, reason, dt] = await seenEvent(ui, "socket_disconnected", ([, i]) => i === id);
  assert.deepEqual([dnsp, did, reason], ["/chat", id, "server namespace disconnect"]);
  assert.ok(isIso(dt));
  await seenEvent(ui, "room_left", ([, r, i]) => r === id && i === id);
  const after = ui.seen.slice(before).map(([e, , a, b]) => [e, e === "socket_disconnected" ? a : b]);
  const first = after.findIndex(([e, i]) => e === "socket_disconnected" && i === id);
  const left = after.findIndex(([e, i]) => e === "room_left" && i === id);
  assert.ok(first >= 0 && left > first, "socket_disconnected comes before room_left");

  const [stats] = await seenEvent(ui, "server_stats", ([s]) => s.namespaces.length > 0);
  assert.ok(!stats.namespaces.some((n) => n.name === "/nowhere"));
});

test("a wrong password, a wrong username and no credentials are refused", async () => {
  for (const auth of [
    { username: "admin", password: "wrong" },
    { username: "root", password: "secret" },
    {},
    { username: "admin" },
    { sessionId: "0123456789abcdef" },
  ]) {
    const err = await refused(app.url, "/admin", auth);
    assert.equal(err.message, "invalid credentials", JSON.stringify(auth));
  }
});

test("nothing is sent before the CONNECT answer", async () => {
  const base = `${app.url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1));
  const url = `${base}&sid=${sid}`;
  const post = await fetch(url, {
    method: "POST",
    body: '40/admin,{"username":"admin","password":"secret"}',
  });
  assert.equal(post.status, 200);
  const packets = [];
  while (!packets.some((p) => p.startsWith('42/admin,["config"'))) {
    const body = await (await fetch(url)).text();
    packets.push(...body.split("\x1e").filter((p) => p.startsWith("4")));
  }
  assert.match(packets[0], /^40\/admin,\{"sid":"[^"]+"(,"pid":"[^"]+")?\}$/, packets.join(" | "));
  // Then session and config, in that order (a server_stats or socket event may come between).
  const named = packets.slice(1).filter((p) => /^42\/admin,\["(session|config)"/.test(p));
  // (With connection state recovery on, the binary's default, an offset follows.)
  assert.match(named[0], /^42\/admin,\["session","[0-9a-f]{16}"(,"[^"]+")?\]$/);
  assert.match(named[1], /^42\/admin,\["config",/);
  await fetch(url, { method: "POST", body: "1" });
});

test("read-only: fewer features, commands ignored; without credentials only loopback", async () => {
  assert.match(readonly.stderr(), /only clients on 127\.0\.0\.1 and ::1 may connect to \/admin/);
  const cid = await chatClient(readonly.url, "cid-admin");
  sockets.push(cid.socket);
  const ui = admin(readonly.url, {}); // 127.0.0.1: admitted without credentials
  const [config] = await seenEvent(ui, "config");
  assert.deepEqual(config, { supportedFeatures: ["AGGREGATED_EVENTS", "ALL_EVENTS"] });
  const [all] = await seenEvent(ui, "all_sockets");
  assert.ok(all.some((s) => s.id === cid.socket.id));
  ui.socket.emit("_disconnect", "/chat", false, cid.socket.id);
  ui.socket.emit("join", "/chat", "ro-room", cid.socket.id);
  // Two stats ticks later the socket is still there, in no new room.
  const ticks = ui.seen.filter(([e]) => e === "server_stats").length;
  await seenEvent(ui, "server_stats", () => ui.seen.filter(([e]) => e === "server_stats").length > ticks + 1, 7000);
  assert.ok(cid.socket.connected);
  assert.ok(!ui.seen.some(([e, , r]) => e === "room_joined" && r === "ro-room"));
  await request(cid.socket, "users:online");
});

test("the UI's files are served at /admin/", async () => {
  const redirect = await fetch(app.url + "/admin", { redirect: "manual" });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get("location"), "/admin/");
  const index = await fetch(app.url + "/admin/");
  assert.equal(index.status, 200);
  assert.match(index.headers.get("content-type"), /^text\/html/);
  const html = await index.text();
  const script = /src="?\.?\/?(js\/app\.[0-9a-f]+\.js)/.exec(html);
  assert.ok(script, html);
  const js = await fetch(`${app.url}/admin/${script[1]}`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type"), /^text\/javascript/);
  assert.equal((await fetch(app.url + "/admin/js/nothing.js")).status, 404);
  assert.equal((await fetch(app.url + "/admin/..%2F..%2FCargo.toml")).status, 404);
});

test("without the UI's files /admin/ says how to install them; CORS for a hosted UI; a bad hash stops the start", async () => {
  const bare = await startApp({
    args: ["--admin-ui", "--admin-ui-dist", "/nonexistent/admin-ui", "--cors-origin", "https://admin.socket.io"],
  });
  try {
    const res = await fetch(bare.url + "/admin/");
    assert.equal(res.status, 404);
    assert.match(await res.text(), /npm ci/);
    // The hosted UI polls with credentials: its exact origin and credentials are allowed.
    const open = await fetch(bare.url + "/socket.io/?EIO=4&transport=polling", {
      headers: { origin: "https://admin.socket.io" },
    });
    assert.equal(open.status, 200);
    assert.equal(open.headers.get("access-control-allow-origin"), "https://admin.socket.io");
    assert.equal(open.headers.get("access-control-allow-credentials"), "true");
  } finally {
    await bare.stop();
    cleanup(bare.dataDir);
  }
  await assert.rejects(
    startApp({ args: ["--admin-ui", "--admin-username", "a", "--admin-password-hash", "secret"] }),
    /--admin-password-hash: the admin password hash is not a bcrypt hash/,
  );
});

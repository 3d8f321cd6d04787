// Persistence and shutdown of the `switchboard` binary: kill -9 then restart on the same
// data directory, graceful SIGTERM, and the default 5 s typing auto-stop.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { chatClient, cleanup, request, startApp, tempDataDir, waitFor } from "./lib/app.mjs";

const dirs = [];
const sockets = [];
after(() => {
  for (const s of sockets) s.close();
  for (const d of dirs) cleanup(d);
});

async function user(app, name) {
  const c = await chatClient(app.url, name);
  sockets.push(c.socket);
  return c;
}

test("kill -9 then restart: history, memberships, clientIds and pending private messages survive", async () => {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  let app = await startApp({ dataDir });
  const ann = await user(app, "ann");
  const bob = await user(app, "bob");
  await request(ann.socket, "room:join", { roomId: "durable" });
  await request(bob.socket, "room:join", { roomId: "durable" });
  const acks = [];
  for (let i = 1; i <= 15; i++) {
    const r = await request(ann.socket, "message:send", { roomId: "durable", text: `msg ${i}`, clientId: `d${i}` });
    assert.equal(r.ok, true);
    acks.push(r);
  }
  assert.equal((await request(bob.socket, "message:read", { messageId: acks[0].id })).ok, true);
  assert.equal((await request(bob.socket, "message:delivered", { messageId: acks[1].id })).ok, true);
  const pm = await request(ann.socket, "private:send", { toUserId: "carol", text: "for later", clientId: "pm1" });
  assert.equal(pm.ok, true);

  // Every acknowledged write is committed: kill without any chance to flush.
  const [, signal] = await app.kill9();
  assert.equal(signal, "SIGKILL");
  ann.socket.close();
  bob.socket.close();

  app = await startApp({ dataDir });
  const again = await user(app, "ann");
  assert.deepEqual(again.session.rooms, ["durable"]);
  const history = await request(again.socket, "messages:history", { roomId: "durable" });
  assert.deepEqual(history.messages.map((m) => m.id), acks.map((a) => a.id));
  assert.deepEqual(history.messages.map((m) => m.seq), acks.map((a) => a.seq));
  // Read state is stored: the history carries the furthest receipt of each message.
  assert.deepEqual(history.messages.slice(0, 3).map((m) => m.status), ["read", "delivered", undefined]);
  // The clientId dedupe is stored too.
  const retry = await request(again.socket, "message:send", { roomId: "durable", text: "msg 15", clientId: "d15" });
  assert.equal(retry.id, acks[14].id);
  const next = await request(again.socket, "message:send", { roomId: "durable", text: "after restart", clientId: "d16" });
  assert.equal(next.seq, 16);
  const join = await request(again.socket, "room:join", { roomId: "durable" });
  assert.deepEqual(join.members.map((m) => m.userId), ["ann", "bob"]);

  // The private message sent to an offline user is delivered after the restart.
  const carol = io(app.url + "/chat", { auth: { username: "carol" }, forceNew: true, reconnection: false });
  sockets.push(carol);
  const [m, ack] = await waitFor(carol, "private:new");
  assert.deepEqual([m.id, m.text, m.fromUserId], [pm.id, "for later", "ann"]);
  ack({ ok: true });
  const [code] = await app.stop();
  assert.equal(code, 0);
});

test("SIGTERM: clients are told `server shutting down`, the store is flushed, exit 0", async () => {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  let app = await startApp({ dataDir });
  const ann = await user(app, "ann");
  await request(ann.socket, "room:join", { roomId: "bye" });
  const sent = await request(ann.socket, "message:send", { roomId: "bye", text: "last words", clientId: "lw" });
  const notice = waitFor(ann.socket, "server:shutdown");
  const disconnected = waitFor(ann.socket, "disconnect");
  const started = Date.now();
  const stopped = app.stop();
  assert.deepEqual(await notice, { message: "server shutting down" });
  const [reason] = [await disconnected].flat();
  assert.ok(["transport close", "io server disconnect"].includes(reason), reason);
  const [code, signal] = await stopped;
  assert.deepEqual([code, signal], [0, null]);
  assert.ok(Date.now() - started < 10_000, "shutdown took too long");

  app = await startApp({ dataDir });
  const again = await user(app, "ann");
  const history = await request(again.socket, "messages:history", { roomId: "bye" });
  assert.deepEqual(history.messages.map((m) => m.id), [sent.id]);
  await app.stop();
});

test("typing stops by itself after 5 s by default", async () => {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  const app = await startApp({ dataDir });
  const ann = await user(app, "ann");
  const bob = await user(app, "bob");
  await request(ann.socket, "room:join", { roomId: "t" });
  await request(bob.socket, "room:join", { roomId: "t" });
  const start = waitFor(bob.socket, "typing:update", (t) => t.isTyping);
  const stop = waitFor(bob.socket, "typing:update", (t) => !t.isTyping, 8000);
  await request(ann.socket, "typing:update", { roomId: "t", isTyping: true });
  await start;
  const began = Date.now();
  await stop;
  const waited = Date.now() - began;
  assert.ok(waited >= 4500 && waited < 7000, `stopped after ${waited} ms`);
  await app.stop();
});

test("notifications: kill -9 then restart keeps stored notifications, their read state and the unread count", async () => {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  const key = "restart-key";
  let app = await startApp({ dataDir, args: ["--api-key", key] });
  const post = (title) =>
    fetch(app.url + "/api/notify", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ userId: "nora", title, body: "b" }),
    }).then((r) => r.json());
  const first = await post("first");
  const second = await post("second");
  assert.equal(first.ok && second.ok, true);
  const inbox = io(app.url + "/notifications", { auth: { username: "nora" }, forceNew: true, reconnection: false });
  sockets.push(inbox);
  await waitFor(inbox, "notification:unread");
  assert.equal((await request(inbox, "notification:read", { id: first.id })).unread, 1);
  await app.kill9();
  inbox.close();

  app = await startApp({ dataDir, args: ["--api-key", key] });
  const again = io(app.url + "/notifications", { auth: { username: "nora" }, forceNew: true, reconnection: false });
  sockets.push(again);
  assert.deepEqual(await waitFor(again, "notification:unread"), { count: 1 });
  const list = await request(again, "notification:list", {});
  assert.deepEqual(list.notifications.map((n) => [n.title, n.read]), [["second", false], ["first", true]]);
  await app.stop();
});

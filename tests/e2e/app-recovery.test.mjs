// Connection state recovery on /chat of the `switchboard` binary, with the official
// socket.io-client: a client whose transport is cut for a few seconds (through a relay) comes
// back recovered, with every missed `message:new` exactly once and in order, its presence never
// flapping to offline; past the window it gets a new session and its rooms back from the store.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { chatClient, cleanup, collect, request, roundTrip, startApp, waitFor } from "./lib/app.mjs";
import { startRelay } from "./lib/relay.mjs";

let app;
let short;
const closers = [];

before(async () => {
  [app, short] = await Promise.all([
    startApp(),
    // The window and the grace from the environment and the command line.
    startApp({
      args: ["--presence-grace-ms", "300"],
      env: { SWITCHBOARD_MAX_DISCONNECTION_DURATION_MS: "1000" },
    }),
  ]);
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await Promise.all([app?.stop(), short?.stop()]);
  cleanup(app.dataDir);
  cleanup(short.dataDir);
});

async function user(server, name) {
  const c = await chatClient(server.url, name);
  closers.push(async () => c.socket.close());
  return c;
}

/** A chat client through a relay; it reconnects `cutMs` after its transport is cut. */
async function cutUser(server, name, cutMs) {
  const relay = await startRelay(server.port);
  const socket = io(relay.url + "/chat", {
    auth: { username: name },
    transports: ["websocket"],
    forceNew: true,
    reconnectionDelay: cutMs,
    reconnectionDelayMax: cutMs,
    randomizationFactor: 0,
  });
  closers.push(async () => {
    socket.close();
    await relay.close();
  });
  const session = await waitFor(socket, "session");
  return { socket, relay, session };
}

/** Cuts the relay's connections; resolves once the client saw the disconnection. */
async function cut(client) {
  const gone = waitFor(client.socket, "disconnect");
  client.relay.drop();
  return gone;
}

/** `n` messages from `sender` to `roomId`, one after the other, acked. */
async function send(sender, roomId, texts) {
  const acks = [];
  for (const text of texts) {
    const ack = await request(sender.socket, "message:send", { roomId, text, clientId: `${text}-id` });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    acks.push(ack);
  }
  return acks;
}

describe("connection state recovery on /chat", () => {
  test("a client cut for 3 s is recovered with every missed message:new once, in order, without an offline flap", async () => {
    const room = "recovery-room";
    const watcher = await user(app, "watcher-rec");
    await request(watcher.socket, "room:join", { roomId: room });
    const bob = await cutUser(app, "bob-rec", 3000);
    assert.equal((await request(bob.socket, "room:join", { roomId: room })).ok, true);
    const ann = await user(app, "ann-rec");
    await request(ann.socket, "room:join", { roomId: room });
    const got = collect(bob.socket, "message:new");
    const presence = collect(watcher.socket, "presence:update");
    const sessions = collect(bob.socket, "session");

    const arrived = waitFor(bob.socket, "message:new", (m) => m.text === "before the cut");
    await send(ann, room, ["before the cut"]);
    await arrived;
    const id = bob.socket.id;
    await cut(bob);

    const reconnected = waitFor(bob.socket, "connect", () => true, 15_000);
    const missed = await send(ann, room, ["m1", "m2", "m3", "m4", "m5"]);
    // While cut, bob is still online for the others.
    const online = await request(watcher.socket, "users:online");
    assert.ok(online.users.some((u) => u.userId === "bob-rec"), "online during the cut");
    await reconnected;
    assert.equal(bob.socket.recovered, true);
    assert.equal(bob.socket.id, id, "same socket id");
    await roundTrip(bob.socket);
    assert.deepEqual(got.map((m) => m.text), ["before the cut", "m1", "m2", "m3", "m4", "m5"]);
    assert.deepEqual(got.slice(1).map((m) => m.id), missed.map((a) => a.id));
    assert.deepEqual(got.map((m) => m.seq), [...got.map((m) => m.seq)].sort((a, b) => a - b));

    // The recovered socket is still authenticated, in the room, and gets live messages once.
    assert.deepEqual(sessions.map((s) => s.rooms.includes(room)), [true], "a fresh session event");
    const live = waitFor(bob.socket, "message:new", (m) => m.text === "after");
    await send(ann, room, ["after"]);
    await live;
    const echoed = waitFor(watcher.socket, "message:new", (m) => m.text === "back");
    const mine = await request(bob.socket, "message:send", { roomId: room, text: "back", clientId: "bob-back" });
    assert.equal(mine.ok, true, JSON.stringify(mine));
    await echoed;
    await roundTrip(bob.socket);
    assert.deepEqual(got.map((m) => m.text), ["before the cut", "m1", "m2", "m3", "m4", "m5", "after", "back"]);
    await roundTrip(watcher.socket);
    assert.deepEqual(presence.filter((u) => u.userId === "bob-rec"), [], "no offline/online flap");
  });

  test("acknowledged private messages are not re-sent to a recovered socket; one sent during the cut arrives once", async () => {
    const ann = await user(app, "ann-rec-pm");
    const bob = await cutUser(app, "bob-rec-pm", 2000);
    const got = [];
    bob.socket.on("private:new", (m, ack) => {
      got.push(m.text);
      ack({ ok: true });
    });
    const p1 = waitFor(bob.socket, "private:new", (m) => m.text === "p1");
    const before = await request(ann.socket, "private:send", { toUserId: "bob-rec-pm", text: "p1", clientId: "p1" });
    assert.equal(before.ok, true);
    await p1;
    // The ack is stored: poll (bounded) until another connection of bob no longer gets p1.
    let stored = false;
    for (let i = 0; i < 50 && !stored; i++) {
      const probe = await chatClient(app.url, "bob-rec-pm");
      const again = collect(probe.socket, "private:new");
      await roundTrip(probe.socket);
      probe.socket.close();
      stored = again.length === 0;
      if (!stored) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(stored, "p1 acknowledged");

    await cut(bob);
    const reconnected = waitFor(bob.socket, "connect", () => true, 15_000);
    const p2 = waitFor(bob.socket, "private:new", (m) => m.text === "p2", 15_000);
    const during = await request(ann.socket, "private:send", { toUserId: "bob-rec-pm", text: "p2", clientId: "p2" });
    assert.equal(during.ok, true);
    await reconnected;
    assert.equal(bob.socket.recovered, true);
    assert.equal((await p2)[0].id, during.id);
    await roundTrip(bob.socket);
    assert.deepEqual(got, ["p1", "p2"]);
  });

  test("past the window the client gets a new session with its rooms from the store; the grace ended so presence went offline and online", async () => {
    const room = "expired-room";
    const watcher = await user(short, "watcher-exp");
    await request(watcher.socket, "room:join", { roomId: room });
    const bob = await cutUser(short, "bob-exp", 2500);
    await request(bob.socket, "room:join", { roomId: room });
    const ann = await user(short, "ann-exp");
    await request(ann.socket, "room:join", { roomId: room });
    const got = collect(bob.socket, "message:new");
    const arrived = waitFor(bob.socket, "message:new", (m) => m.text === "before");
    await send(ann, room, ["before"]);
    await arrived;
    const id = bob.socket.id;

    const offline = waitFor(watcher.socket, "presence:update", (u) => u.userId === "bob-exp" && u.status === "offline");
    await cut(bob);
    await offline;
    await send(ann, room, ["missed"]);
    const online = waitFor(watcher.socket, "presence:update", (u) => u.userId === "bob-exp" && u.status === "online", 15_000);
    const session = await waitFor(bob.socket, "session", () => true, 15_000);
    await online;
    assert.equal(bob.socket.recovered, false);
    assert.notEqual(bob.socket.id, id);
    assert.deepEqual(session.rooms, [room]);
    // Not replayed (the app resynchronises with messages:history), and live messages flow.
    const history = await request(bob.socket, "messages:history", { roomId: room });
    assert.deepEqual(history.messages.map((m) => m.text), ["before", "missed"]);
    const live = waitFor(bob.socket, "message:new", (m) => m.text === "live");
    await send(ann, room, ["live"]);
    await live;
    assert.deepEqual(got.map((m) => m.text), ["before", "live"]);
  });
});

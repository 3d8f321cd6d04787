// The operations endpoints of the `switchboard` binary after scripted traffic from the official
// client: `/api/stats` counts exactly the clients, sockets and rooms the traffic made.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chatClient, cleanup, connect, request, startApp } from "./lib/app.mjs";

let app;
const sockets = [];

before(async () => {
  app = await startApp();
});
after(async () => {
  for (const s of sockets) s.close();
  const [code] = await app.stop();
  assert.equal(code, 0);
  cleanup(app.dataDir);
});

async function stats() {
  const res = await fetch(`${app.url}/api/stats`);
  assert.equal(res.status, 200);
  return res.json();
}

/** The stats once `done(stats)` holds: a disconnect is counted once the server handled it. */
async function statsWhen(done) {
  for (let i = 0; i < 100; i++) {
    const s = await stats();
    if (done(s)) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  return stats();
}

const chatOf = (s) => s.namespaces.find((n) => n.name === "/chat");
const notificationsOf = (s) => s.namespaces.find((n) => n.name === "/notifications");

test("/api/stats counts what the traffic did", async () => {
  const before = await stats();
  assert.equal(before.version, "0.1.0");
  assert.equal(typeof before.uptimeSeconds, "number");
  assert.equal(before.ready, true);
  assert.equal(before.clients, 0);
  assert.equal(before.sockets, 0);
  assert.equal(before.rooms, 0);
  assert.deepEqual(chatOf(before), { name: "/chat", sockets: 0, rooms: 0 });

  // Two chat users (each joins its own `user:` room), one of them in one chat room.
  const ann = await chatClient(app.url, "ann-stats");
  const bob = await chatClient(app.url, "bob-stats", { transports: ["polling"] });
  sockets.push(ann.socket, bob.socket);
  await request(ann.socket, "room:join", { roomId: "stats-room" });
  // One notifications connection for ann, on a connection of its own.
  const inbox = await connect(app.url, "/notifications", { username: "ann-stats" });
  sockets.push(inbox);

  const during = await stats();
  assert.equal(during.clients, 3);
  assert.equal(during.sockets, 3);
  assert.deepEqual(chatOf(during), { name: "/chat", sockets: 2, rooms: 3 });
  assert.equal(notificationsOf(during).sockets, 1);
  assert.equal(during.rooms, 3 + notificationsOf(during).rooms);

  // bob leaves: his socket, his connection and his `user:` room go.
  bob.socket.close();
  const afterLeave = await statsWhen((s) => s.clients === 2);
  assert.equal(afterLeave.sockets, 2);
  assert.deepEqual(chatOf(afterLeave), { name: "/chat", sockets: 1, rooms: 2 });
});

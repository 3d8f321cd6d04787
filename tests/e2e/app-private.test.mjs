// Private messages, presence across tabs and the rate limit of the `switchboard` binary.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chatClient, cleanup, collect, request, roundTrip, startApp, waitFor } from "./lib/app.mjs";

let app;
const sockets = [];

before(async () => {
  app = await startApp();
});
after(async () => {
  for (const s of sockets) s.close();
  await app.stop();
  cleanup(app.dataDir);
});

async function user(name) {
  const c = await chatClient(app.url, name);
  sockets.push(c.socket);
  return c;
}

/** A client that acknowledges every private:new and records it. */
function acking(socket) {
  const got = [];
  socket.on("private:new", (m, ack) => {
    got.push(m);
    ack({ ok: true });
  });
  return got;
}

describe("private messages", () => {
  test("private:send reaches every connection of the recipient as private:new", async () => {
    const ann = await user("ann-pm");
    const bob1 = await user("bob-pm");
    const bob2 = await user("bob-pm");
    const got1 = waitFor(bob1.socket, "private:new");
    const got2 = waitFor(bob2.socket, "private:new");
    const ack = await request(ann.socket, "private:send", { toUserId: "bob-pm", text: "psst", clientId: "p1" });
    assert.equal(ack.ok, true);
    assert.match(ack.id, /^[0-9a-f]{32}$/);
    assert.equal(typeof ack.seq, "number");
    assert.equal(typeof ack.ts, "number");
    assert.equal(ack.recipientSeen, true);
    const [m1, ackFn] = await got1;
    assert.deepEqual(
      { id: m1.id, fromUserId: m1.fromUserId, fromUsername: m1.fromUsername, toUserId: m1.toUserId, text: m1.text, ts: m1.ts },
      { id: ack.id, fromUserId: "ann-pm", fromUsername: "ann-pm", toUserId: "bob-pm", text: "psst", ts: ack.ts },
    );
    ackFn({ ok: true });
    const [m2, ack2] = await got2;
    assert.equal(m2.id, ack.id);
    ack2({ ok: true });
  });

  test("an offline recipient gets the message when they connect, and again until a client acks", async () => {
    const ann = await user("ann-offline");
    const ack = await request(ann.socket, "private:send", { toUserId: "bob-offline", text: "while you were away", clientId: "o1" });
    assert.equal(ack.ok, true);
    // Never signed in: kept for them, and the sender is told so (not accepted silently).
    assert.equal(ack.recipientSeen, false);

    // First connection: receives it but does not acknowledge.
    const silent = await import("socket.io-client").then(({ io }) =>
      io(app.url + "/chat", { auth: { username: "bob-offline" }, forceNew: true, reconnection: false }),
    );
    sockets.push(silent);
    const [first] = await waitFor(silent, "private:new");
    assert.equal(first.text, "while you were away");
    silent.close();

    // Second connection: gets it again, acknowledges it.
    const { io } = await import("socket.io-client");
    const bob = io(app.url + "/chat", { auth: { username: "bob-offline" }, forceNew: true, reconnection: false });
    sockets.push(bob);
    const got = acking(bob);
    const delivered = waitFor(bob, "private:new");
    await waitFor(bob, "session");
    await delivered;
    await roundTrip(bob);
    assert.deepEqual(got.map((m) => m.id), [ack.id]);
    // The ack is stored: poll until a third connection no longer gets it.
    let again = [];
    for (let i = 0; i < 50; i++) {
      const third = await user("bob-offline");
      again = collect(third.socket, "private:new");
      await roundTrip(third.socket);
      third.socket.close();
      if (again.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(again, []);
    bob.close();
  });

  test("a repeated clientId returns the original ack and delivers once", async () => {
    const ann = await user("ann-pmdup");
    const bob = await user("bob-pmdup");
    const got = acking(bob.socket);
    const delivered = waitFor(bob.socket, "private:new");
    const first = await request(ann.socket, "private:send", { toUserId: "bob-pmdup", text: "once", clientId: "same" });
    const retry = await request(ann.socket, "private:send", { toUserId: "bob-pmdup", text: "once", clientId: "same" });
    assert.equal(retry.id, first.id);
    assert.equal(retry.seq, first.seq);
    await delivered;
    await roundTrip(ann.socket);
    await roundTrip(bob.socket);
    assert.deepEqual(got.map((m) => m.id), [first.id]);
  });

  test("validation of private:send", async () => {
    const ann = await user("ann-pmval");
    const r1 = await request(ann.socket, "private:send", { toUserId: "", text: "x" });
    assert.equal(r1.error.code, "invalid_user");
    const r2 = await request(ann.socket, "private:send", { toUserId: "bob", text: "  " });
    assert.equal(r2.error.code, "invalid_text");
    const r3 = await request(ann.socket, "private:send", { text: "x" });
    assert.equal(r3.error.code, "invalid_payload");
  });
});

describe("presence", () => {
  test("a user with two tabs is online until both close; then the rooms get offline", async () => {
    const watcher = await user("watcher-presence");
    await request(watcher.socket, "room:join", { roomId: "presence-room" });
    const tab1 = await user("ann-presence");
    const joined = waitFor(watcher.socket, "presence:update", (u) => u.status === "online");
    await request(tab1.socket, "room:join", { roomId: "presence-room" });
    await joined;
    const tab2 = await user("ann-presence");
    const updates = collect(watcher.socket, "presence:update");

    tab1.socket.close();
    let online = await request(watcher.socket, "users:online");
    // The close is seen by the server shortly; poll users:online, bounded.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      online = await request(watcher.socket, "users:online");
    }
    assert.ok(online.users.some((u) => u.userId === "ann-presence"), "still online with one tab");
    assert.deepEqual(updates, []);
    const members = await request(watcher.socket, "room:join", { roomId: "presence-room" });
    assert.equal(members.members.find((m) => m.userId === "ann-presence").online, true);

    const offline = waitFor(watcher.socket, "presence:update", (u) => u.status === "offline");
    tab2.socket.close();
    assert.deepEqual(await offline, { roomId: "presence-room", userId: "ann-presence", username: "ann-presence", status: "offline" });
    online = await request(watcher.socket, "users:online");
    assert.ok(!online.users.some((u) => u.userId === "ann-presence"));
    const after = await request(watcher.socket, "room:join", { roomId: "presence-room" });
    assert.equal(after.members.find((m) => m.userId === "ann-presence").online, false);

    const back = waitFor(watcher.socket, "presence:update", (u) => u.status === "online");
    await user("ann-presence");
    assert.equal((await back).userId, "ann-presence");
  });
});

describe("rate limit", () => {
  test("past the burst (20), sends are refused with rate_limited and retryAfterMs", async () => {
    const ann = await user("ann-rate");
    await request(ann.socket, "room:join", { roomId: "rate-room" });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(ann.socket, "message:send", { roomId: "rate-room", text: `m${i}`, clientId: `r${i}` }),
      ),
    );
    const ok = results.filter((r) => r.ok).length;
    const limited = results.filter((r) => !r.ok);
    assert.ok(ok >= 20 && ok <= 22, `accepted ${ok}`);
    assert.ok(limited.length >= 8);
    for (const r of limited) {
      assert.equal(r.error.code, "rate_limited");
      assert.equal(typeof r.error.message, "string");
      assert.ok(r.error.retryAfterMs > 0 && r.error.retryAfterMs <= 1000, JSON.stringify(r));
    }
    // Private sends count too; another user is not affected.
    const pm = await request(ann.socket, "private:send", { toUserId: "bob", text: "x", clientId: "rp" });
    assert.equal(pm.error.code, "rate_limited");
    const bob = await user("bob-rate");
    await request(bob.socket, "room:join", { roomId: "rate-room" });
    const fine = await request(bob.socket, "message:send", { roomId: "rate-room", text: "hi", clientId: "b" });
    assert.equal(fine.ok, true);
    // After retryAfterMs the user may send again.
    await new Promise((r) => setTimeout(r, limited[0].error.retryAfterMs + 150));
    const later = await request(ann.socket, "message:send", { roomId: "rate-room", text: "later", clientId: "later" });
    assert.equal(later.ok, true, JSON.stringify(later));
  });
});

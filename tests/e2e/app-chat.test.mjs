// The /chat namespace of the `switchboard` binary, driven by the official socket.io-client:
// rooms, messages, receipts, typing, history, validation, users:online.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chatClient, cleanup, collect, request, roundTrip, startApp, waitFor } from "./lib/app.mjs";

let app;
const sockets = [];

before(async () => {
  // A high rate limit: the history test sends 120 messages (the limit has its own test).
  app = await startApp({ args: ["--typing-timeout-ms", "300", "--rate-limit", "1000", "--rate-burst", "1000"] });
});
after(async () => {
  for (const s of sockets) s.close();
  const [code] = await app.stop();
  assert.equal(code, 0);
  cleanup(app.dataDir);
});

async function user(name) {
  const c = await chatClient(app.url, name);
  sockets.push(c.socket);
  return c;
}

describe("rooms", () => {
  test("room:join answers history and members; the others get presence:update online", async () => {
    const ann = await user("ann-join");
    const bob = await user("bob-join");
    const first = await request(ann.socket, "room:join", { roomId: "join-room" });
    assert.deepEqual(first, {
      ok: true,
      roomId: "join-room",
      history: [],
      members: [{ userId: "ann-join", username: "ann-join", online: true }],
    });
    const seen = waitFor(ann.socket, "presence:update");
    const bobSees = collect(bob.socket, "presence:update");
    const second = await request(bob.socket, "room:join", { roomId: "join-room" });
    assert.equal(second.ok, true);
    assert.deepEqual(
      second.members.map((m) => [m.userId, m.online]),
      [["ann-join", true], ["bob-join", true]],
    );
    assert.deepEqual(await seen, { roomId: "join-room", userId: "bob-join", username: "bob-join", status: "online" });
    await roundTrip(bob.socket);
    assert.deepEqual(bobSees, [], "the joiner does not get its own presence update");
  });

  test("room:leave acks, the others get presence:update left, sending is then refused", async () => {
    const ann = await user("ann-leave");
    const bob = await user("bob-leave");
    await request(ann.socket, "room:join", { roomId: "leave-room" });
    await request(bob.socket, "room:join", { roomId: "leave-room" });
    const left = waitFor(ann.socket, "presence:update", (u) => u.status === "left");
    assert.deepEqual(await request(bob.socket, "room:leave", { roomId: "leave-room" }), { ok: true, roomId: "leave-room" });
    assert.equal((await left).userId, "bob-leave");
    const refused = await request(bob.socket, "message:send", { roomId: "leave-room", text: "hi", clientId: "x" });
    assert.equal(refused.ok, false);
    assert.equal(refused.error.code, "not_member");
    const again = await request(bob.socket, "room:leave", { roomId: "leave-room" });
    assert.equal(again.error.code, "not_member");
  });

  test("membership is per user: a new connection is put back into the user's rooms", async () => {
    const ann = await user("ann-member");
    await request(ann.socket, "room:join", { roomId: "member-a" });
    await request(ann.socket, "room:join", { roomId: "member-b" });
    ann.socket.close();
    const again = await user("ann-member");
    assert.deepEqual(again.session, { userId: "ann-member", username: "ann-member", rooms: ["member-a", "member-b"] });
    const bob = await user("bob-member");
    await request(bob.socket, "room:join", { roomId: "member-b" });
    const got = waitFor(again.socket, "message:new");
    await request(bob.socket, "message:send", { roomId: "member-b", text: "welcome back", clientId: "wb" });
    assert.equal((await got).text, "welcome back");
  });

  test("a join from one tab puts every tab of the user in the room", async () => {
    const tab1 = await user("ann-tabs-join");
    const tab2 = await user("ann-tabs-join");
    const bob = await user("bob-tabs-join");
    await request(bob.socket, "room:join", { roomId: "tabs-join" });
    await request(tab1.socket, "room:join", { roomId: "tabs-join" });
    const got = waitFor(tab2.socket, "message:new");
    await request(bob.socket, "message:send", { roomId: "tabs-join", text: "both tabs", clientId: "bt" });
    assert.equal((await got).text, "both tabs");
  });
});

describe("messages", () => {
  test("message:send stores and broadcasts message:new with id, seq and ts; HTML is kept as sent", async () => {
    const ann = await user("ann-send");
    const bob = await user("bob-send");
    await request(ann.socket, "room:join", { roomId: "send-room" });
    await request(bob.socket, "room:join", { roomId: "send-room" });
    const bobGets = waitFor(bob.socket, "message:new");
    const annGets = waitFor(ann.socket, "message:new");
    const text = "  <img src=x onerror=alert(1)> hi  ";
    const ack = await request(ann.socket, "message:send", { roomId: "send-room", text, clientId: "c-1" });
    assert.equal(ack.ok, true);
    assert.match(ack.id, /^[0-9a-f]{32}$/);
    assert.equal(ack.seq, 1);
    assert.ok(Math.abs(ack.ts - Date.now()) < 60_000);
    const expected = { id: ack.id, roomId: "send-room", seq: 1, userId: "ann-send", username: "ann-send", text, ts: ack.ts, clientId: "c-1" };
    assert.deepEqual(await bobGets, expected);
    assert.deepEqual(await annGets, expected);
    const second = await request(bob.socket, "message:send", { roomId: "send-room", text: "two", clientId: "c-2" });
    assert.equal(second.seq, 2);
  });

  test("a repeated clientId returns the original ack, stored and broadcast once", async () => {
    const ann = await user("ann-dup");
    const bob = await user("bob-dup");
    await request(ann.socket, "room:join", { roomId: "dup-room" });
    await request(bob.socket, "room:join", { roomId: "dup-room" });
    const news = collect(bob.socket, "message:new");
    const first = await request(ann.socket, "message:send", { roomId: "dup-room", text: "once", clientId: "same" });
    const retry = await request(ann.socket, "message:send", { roomId: "dup-room", text: "once", clientId: "same" });
    assert.deepEqual(
      { id: retry.id, seq: retry.seq, ts: retry.ts },
      { id: first.id, seq: first.seq, ts: first.ts },
    );
    // Another user may use the same clientId: ids are per user.
    const other = await request(bob.socket, "message:send", { roomId: "dup-room", text: "mine", clientId: "same" });
    assert.notEqual(other.id, first.id);
    await roundTrip(bob.socket);
    assert.deepEqual(news.map((m) => m.text), ["once", "mine"]);
    const history = await request(ann.socket, "messages:history", { roomId: "dup-room" });
    assert.deepEqual(history.messages.map((m) => m.text), ["once", "mine"]);
  });

  test("validation: empty, blank and too long texts, bad payloads, non-members", async () => {
    const ann = await user("ann-valid");
    await request(ann.socket, "room:join", { roomId: "valid-room" });
    const send = (payload) => request(ann.socket, "message:send", payload);
    for (const text of ["", "   \n\t ", "x".repeat(2001)]) {
      const r = await send({ roomId: "valid-room", text, clientId: "v" });
      assert.equal(r.ok, false);
      assert.equal(r.error.code, "invalid_text", JSON.stringify(r));
      assert.equal(typeof r.error.message, "string");
    }
    const long = await send({ roomId: "valid-room", text: "é".repeat(2000), clientId: "long" });
    assert.equal(long.ok, true, "2000 characters are allowed, counted as Unicode characters");
    assert.equal((await send({ roomId: "valid-room" })).error.code, "invalid_payload");
    assert.equal((await send("just a string")).error.code, "invalid_payload");
    assert.equal((await send({ roomId: "", text: "x" })).error.code, "invalid_room");
    assert.equal((await send({ roomId: "elsewhere", text: "x" })).error.code, "not_member");
    const history = await request(ann.socket, "messages:history", { roomId: "elsewhere" });
    assert.equal(history.error.code, "not_member");
    const typing = await request(ann.socket, "typing:update", { roomId: "elsewhere", isTyping: true });
    assert.equal(typing.error.code, "not_member");
    const join = await request(ann.socket, "room:join", {});
    assert.equal(join.error.code, "invalid_payload");
    // Without an ack, the error comes as a request:error event.
    const reported = waitFor(ann.socket, "request:error");
    ann.socket.emit("message:send", { roomId: "valid-room", text: "" });
    assert.deepEqual(await reported, {
      event: "message:send",
      error: { code: "invalid_text", message: "the text is empty" },
    });
  });

  test("messages:history pages with beforeSeq and limit, capped at 100, ascending", async () => {
    const ann = await user("ann-history");
    await request(ann.socket, "room:join", { roomId: "history-room" });
    for (let i = 1; i <= 120; i++) {
      const r = await request(ann.socket, "message:send", { roomId: "history-room", text: `m${i}`, clientId: `h${i}` });
      assert.equal(r.ok, true, JSON.stringify(r));
    }
    const seqs = (r) => r.messages.map((m) => m.seq);
    const all = await request(ann.socket, "messages:history", { roomId: "history-room" });
    assert.deepEqual(seqs(all), Array.from({ length: 50 }, (_, i) => 71 + i));
    const page = await request(ann.socket, "messages:history", { roomId: "history-room", beforeSeq: 71, limit: 10 });
    assert.deepEqual(seqs(page), Array.from({ length: 10 }, (_, i) => 61 + i));
    const capped = await request(ann.socket, "messages:history", { roomId: "history-room", limit: 1000 });
    assert.equal(capped.messages.length, 100);
    assert.equal(capped.messages[0].seq, 21);
    const start = await request(ann.socket, "messages:history", { roomId: "history-room", beforeSeq: 3 });
    assert.deepEqual(seqs(start), [1, 2]);
    const join = await request(ann.socket, "room:join", { roomId: "history-room" });
    assert.deepEqual(seqs({ messages: join.history }), Array.from({ length: 50 }, (_, i) => 71 + i));
  });
});

describe("receipts", () => {
  test("message:delivered and message:read reach the author as message:status", async () => {
    const ann = await user("ann-receipt");
    const bob = await user("bob-receipt");
    await request(ann.socket, "room:join", { roomId: "receipt-room" });
    await request(bob.socket, "room:join", { roomId: "receipt-room" });
    const sent = await request(ann.socket, "message:send", { roomId: "receipt-room", text: "did you get it?", clientId: "r1" });
    const delivered = waitFor(ann.socket, "message:status", (s) => s.status === "delivered");
    assert.deepEqual(await request(bob.socket, "message:delivered", { messageId: sent.id }), { ok: true, messageId: sent.id, status: "delivered" });
    assert.deepEqual(await delivered, { messageId: sent.id, roomId: "receipt-room", userId: "bob-receipt", username: "bob-receipt", status: "delivered" });
    const read = waitFor(ann.socket, "message:status", (s) => s.status === "read");
    assert.equal((await request(bob.socket, "message:read", { messageId: sent.id })).ok, true);
    assert.equal((await read).userId, "bob-receipt");
    const missing = await request(bob.socket, "message:read", { messageId: "nope" });
    assert.equal(missing.error.code, "not_found");
    const stranger = await user("eve-receipt");
    const denied = await request(stranger.socket, "message:read", { messageId: sent.id });
    assert.equal(denied.error.code, "not_member");
  });
});

describe("typing", () => {
  test("typing:update reaches the other members, not the sender, and stops by itself", async () => {
    const ann = await user("ann-typing");
    const bob = await user("bob-typing");
    await request(ann.socket, "room:join", { roomId: "typing-room" });
    await request(bob.socket, "room:join", { roomId: "typing-room" });
    const annSees = collect(ann.socket, "typing:update");
    const started = waitFor(bob.socket, "typing:update", (t) => t.isTyping);
    const stopped = waitFor(bob.socket, "typing:update", (t) => !t.isTyping, 3000);
    const began = Date.now();
    assert.equal((await request(ann.socket, "typing:update", { roomId: "typing-room", isTyping: true })).ok, true);
    assert.deepEqual(await started, { roomId: "typing-room", userId: "ann-typing", username: "ann-typing", isTyping: true });
    // This server runs with --typing-timeout-ms 300; the default (5 s) is in app-restart.
    assert.equal((await stopped).userId, "ann-typing");
    assert.ok(Date.now() - began >= 250, "stopped too early");
    assert.deepEqual(annSees, []);
  });

  test("an explicit isTyping: false is relayed at once", async () => {
    const ann = await user("ann-typing2");
    const bob = await user("bob-typing2");
    await request(ann.socket, "room:join", { roomId: "typing-room2" });
    await request(bob.socket, "room:join", { roomId: "typing-room2" });
    const events = collect(bob.socket, "typing:update");
    await request(ann.socket, "typing:update", { roomId: "typing-room2", isTyping: true });
    await request(ann.socket, "typing:update", { roomId: "typing-room2", isTyping: false });
    await roundTrip(bob.socket);
    await new Promise((r) => setTimeout(r, 500)); // past the auto-stop: nothing more comes
    assert.deepEqual(events.map((e) => e.isTyping), [true, false]);
  });
});

describe("users:online", () => {
  test("lists every connected user once", async () => {
    const ann = await user("ann-online");
    await user("ann-online");
    const r = await request(ann.socket, "users:online");
    assert.equal(r.ok, true);
    const mine = r.users.filter((u) => u.userId === "ann-online");
    assert.deepEqual(mine, [{ userId: "ann-online", username: "ann-online" }]);
  });
});

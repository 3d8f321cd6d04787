// The arena of the `switchboard` binary: arena:join, packed binary snapshots (volatile, 30 a
// second), validated and rate-limited inputs, the 100-player cap, the tick stats.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, connect, request, startApp, waitFor } from "./lib/app.mjs";

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

async function player(username) {
  const socket = await connect(app.url, "/arena", { username });
  sockets.push(socket);
  return socket;
}

function decode(buf) {
  const b = Buffer.from(buf);
  const players = new Map();
  const count = b.readUInt16LE(4);
  for (let i = 0; i < count; i++) {
    const o = 6 + 7 * i;
    players.set(b.readUInt16LE(o), { x: b.readInt16LE(o + 2), y: b.readInt16LE(o + 4), flags: b.readUInt8(o + 6) });
  }
  return { tick: b.readUInt32LE(0), count, length: b.length, players };
}

/** The next snapshot that satisfies `accept`. */
async function snapshot(socket, accept = () => true) {
  return decode(await waitFor(socket, "arena:state", (buf) => accept(decode(buf))));
}

test("two players join, get packed snapshots and see each other move", async () => {
  const ann = await player("ann");
  const bob = await player("bob");
  const joinedA = await request(ann, "arena:join", { arena: "a1" });
  assert.equal(joinedA.ok, true, JSON.stringify(joinedA));
  assert.equal(joinedA.tickHz, 30);
  assert.equal(typeof joinedA.you, "number");
  const seen = waitFor(ann, "arena:joined", (p) => p.name === "bob");
  const joinedB = await request(bob, "arena:join", { arena: "a1" });
  assert.deepEqual(joinedB.players.map((p) => p.name).sort(), ["ann", "bob"]);
  assert.equal((await seen).id, joinedB.you);

  const first = await snapshot(ann, (s) => s.count === 2);
  assert.equal(first.length, 6 + 7 * 2, "7 bytes a player after a 6-byte header");
  const start = first.players.get(joinedB.you);
  const ack = await request(bob, "arena:input", { dx: 1, dy: 0 });
  assert.deepEqual(ack, { ok: true });
  // ann sees bob moving right (flag bit 0) and further right than he was.
  const later = await snapshot(ann, (s) => {
    const p = s.players.get(joinedB.you);
    return p && p.flags & 1 && p.x > start.x + 20;
  });
  assert.ok(later.tick > first.tick);
  assert.equal(later.players.get(joinedA.you).flags & 1, 0, "ann holds no direction");
});

test("each tick sends a snapshot, in tick order", async () => {
  const s = await player("sam");
  assert.equal((await request(s, "arena:join", { arena: "rate" })).ok, true);
  const ticks = [];
  await new Promise((resolve) => {
    s.on("arena:state", (buf) => {
      ticks.push(decode(buf).tick);
      if (ticks.length === 31) resolve();
    });
  });
  s.off("arena:state");
  // In order; a volatile snapshot may be dropped when the connection is busy, so a few gaps
  // are allowed (their timing is measured by the bench, not here).
  for (let i = 1; i < ticks.length; i++) assert.ok(ticks[i] > ticks[i - 1], JSON.stringify(ticks));
  assert.ok(ticks.at(-1) - ticks[0] <= 33, JSON.stringify(ticks));
});

test("bad inputs: an error ack when asked, else dropped silently and counted", async () => {
  const eve = await player("eve");
  const notJoined = await request(eve, "arena:input", { dx: 1, dy: 0 });
  assert.equal(notJoined.error.code, "not_joined");
  assert.equal((await request(eve, "arena:join", { arena: "bad name!" })).error.code, "invalid_arena");
  assert.equal((await request(eve, "arena:join", { arena: "a2" })).ok, true);
  for (const bad of [{ dx: 2, dy: 0 }, { dx: 1 }, { dx: 0.5, dy: 0 }, { dx: 0, dy: 0, fly: true }, "left"]) {
    const ack = await request(eve, "arena:input", bad);
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, "invalid_input", JSON.stringify(bad));
  }
  const stats = async () => (await fetch(app.url + "/api/arena/stats")).json();
  const before = (await stats()).inputsDropped;
  let answered = 0;
  eve.on("request:error", () => answered++);
  eve.emit("arena:input", { dx: 9, dy: 9 });
  eve.emit("arena:input", "nonsense");
  // An ack'd request after them: they were handled before it.
  assert.equal((await request(eve, "arena:input", { dx: 0, dy: 0 })).ok, true);
  const after = await stats();
  assert.equal(after.inputsDropped, before + 2);
  assert.equal(answered, 0, "no answer to an input sent without an ack");
  assert.ok(after.ticks > 0 && after.arenas >= 1 && after.players >= 1, JSON.stringify(after));
  assert.equal(after.tickHz, 30);
});

test("inputs are rate limited", async () => {
  const rex = await player("rex");
  assert.equal((await request(rex, "arena:join", { arena: "a3" })).ok, true);
  const acks = await Promise.all(Array.from({ length: 80 }, () => request(rex, "arena:input", { dx: 0, dy: 1 })));
  const limited = acks.filter((a) => !a.ok);
  assert.ok(limited.length > 0, "80 inputs at once go past the burst");
  assert.equal(limited[0].error.code, "rate_limited");
  assert.equal(typeof limited[0].error.retryAfterMs, "number");
});

test("an arena takes 100 players; the 101st is refused, and leaving frees a place", async () => {
  const crowd = [];
  for (let i = 0; i < 100; i++) crowd.push(player(`p${i}`));
  const all = await Promise.all(crowd);
  const acks = await Promise.all(all.map((s) => request(s, "arena:join", { arena: "full" })));
  assert.ok(acks.every((a) => a.ok), "100 players join");
  assert.equal(new Set(acks.map((a) => a.you)).size, 100, "ids are distinct");
  const late = await player("late");
  const refused = await request(late, "arena:join", { arena: "full" });
  assert.equal(refused.error.code, "arena_full");
  const snap = await snapshot(all[0], (s) => s.count === 100);
  assert.equal(snap.length, 6 + 700);
  assert.equal((await request(all[0], "arena:leave")).ok, true);
  assert.equal((await request(late, "arena:join", { arena: "full" })).ok, true);
  all[1].close();
  const left = await waitFor(late, "arena:left", (p) => p.id === acks[1].you);
  assert.equal(left.id, acks[1].you);
});

// The whiteboard of the `switchboard` binary (namespace /whiteboard) with the official
// client: strokes relayed to the others, late joiners get the board, undo of one's own last
// stroke, clear, error acks, throttled volatile cursors, and boards that survive kill -9.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, collect, connect, request, startApp, tempDataDir, waitFor } from "./lib/app.mjs";

const dirs = [];
const sockets = [];
after(() => {
  for (const s of sockets) s.close();
  for (const d of dirs) cleanup(d);
});

async function start(args = [], dataDir = tempDataDir()) {
  if (!dirs.includes(dataDir)) dirs.push(dataDir);
  return startApp({ dataDir, args });
}

async function user(app, username) {
  const socket = await connect(app.url, "/whiteboard", { username });
  sockets.push(socket);
  return socket;
}

const line = (id, color = "#1f5fbf") => ({ id, color, width: 5, points: [[0.1, 0.1], [0.5, 0.4], [0.9, 0.2]] });
const join = (s, boardId) => request(s, "board:join", { boardId });

async function refusedWith(promise, code) {
  const r = await promise;
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.error.code, code, JSON.stringify(r));
}

test("strokes, late joiners, undo, clear and error acks", async () => {
  const app = await start();
  const ann = await user(app, "ann");
  const bob = await user(app, "bob");
  assert.deepEqual(await join(ann, "plans"), { ok: true, boardId: "plans", strokes: [] });
  await join(bob, "plans");
  const annGets = collect(ann, "stroke");
  const bobSees = waitFor(bob, "stroke");
  const first = await request(ann, "stroke", { boardId: "plans", ...line("a1") });
  assert.equal(first.ok, true);
  const relayed = await bobSees;
  assert.deepEqual(
    [relayed.boardId, relayed.seq, relayed.id, relayed.userId, relayed.username, relayed.color, relayed.width],
    ["plans", first.seq, "a1", "ann", "ann", "#1f5fbf", 5],
  );
  assert.deepEqual(relayed.points, line("a1").points);

  await refusedWith(request(ann, "stroke", { boardId: "plans", ...line("x", "blue") }), "invalid_stroke");
  await refusedWith(request(ann, "stroke", { boardId: "plans", ...line("x"), width: 100 }), "invalid_stroke");
  await refusedWith(request(ann, "stroke", { boardId: "plans", ...line("x"), points: [[1.5, 0]] }), "invalid_stroke");
  await refusedWith(request(ann, "stroke", { boardId: "plans", id: "x", color: "#000000", width: 2 }), "invalid_payload");
  await refusedWith(request(ann, "stroke", { boardId: "", ...line("x") }), "invalid_board");
  await refusedWith(join(ann, "\u0007"), "invalid_board");

  const second = await request(bob, "stroke", { boardId: "plans", ...line("b1", "#d93025") });
  assert.ok(second.seq > first.seq);
  // A late joiner gets the board, in order.
  const carol = await user(app, "carol");
  const board = await join(carol, "plans");
  assert.deepEqual(board.strokes.map((s) => [s.seq, s.id, s.userId]), [[first.seq, "a1", "ann"], [second.seq, "b1", "bob"]]);
  await refusedWith(request(carol, "undo", { boardId: "plans" }), "nothing_to_undo");

  // Undo takes ann's own last stroke, though bob's is newer.
  const removedForBob = waitFor(bob, "stroke:removed");
  const removedForCarol = waitFor(carol, "stroke:removed");
  assert.deepEqual(await request(ann, "undo", { boardId: "plans" }), { ok: true, seq: first.seq, id: "a1" });
  assert.deepEqual(await removedForBob, { boardId: "plans", seq: first.seq, id: "a1" });
  await removedForCarol;
  await refusedWith(request(ann, "undo", { boardId: "plans" }), "nothing_to_undo");
  assert.deepEqual((await join(carol, "plans")).strokes.map((s) => s.id), ["b1"]);

  const cleared = waitFor(ann, "board:cleared");
  assert.deepEqual(await request(bob, "clear", { boardId: "plans" }), { ok: true, removed: 1 });
  assert.deepEqual(await cleared, { boardId: "plans", userId: "bob", username: "bob" });
  assert.deepEqual((await join(carol, "plans")).strokes, []);
  // The sender is not sent its own stroke back.
  assert.deepEqual(annGets.filter((s) => s.id === "a1"), []);
  await app.stop();
});

test("cursors go to the others of the board only, throttled, and vanish with their user", async () => {
  const app = await start();
  const ann = await user(app, "ann");
  const bob = await user(app, "bob");
  const eve = await user(app, "eve");
  await join(ann, "b");
  await join(bob, "b");
  await join(eve, "elsewhere");
  const bobSees = collect(bob, "cursor");
  const eveSees = collect(eve, "cursor");
  const annSees = collect(ann, "cursor");
  const first = waitFor(bob, "cursor");
  // A burst of 30 updates within a few milliseconds: at most one per 40 ms goes through.
  for (let i = 0; i < 30; i++) ann.volatile.emit("cursor", { boardId: "b", x: i / 30, y: 0.5 });
  const c = await first;
  assert.deepEqual([c.boardId, c.userId, c.username, c.y], ["b", "ann", "ann", 0.5]);
  // Not on the board: dropped.
  eve.emit("cursor", { boardId: "b", x: 0.5, y: 0.5 });
  ann.emit("cursor", { boardId: "b", x: 7, y: 0.5 });
  await Promise.all([join(bob, "b"), join(eve, "elsewhere"), join(ann, "b")]);
  assert.ok(bobSees.length >= 1 && bobSees.length < 30, `throttled: ${bobSees.length} of 30`);
  assert.ok(bobSees.every((p) => p.userId === "ann" && p.x <= 1), JSON.stringify(bobSees));
  assert.deepEqual([eveSees, annSees], [[], []]);
  const gone = waitFor(bob, "cursor:gone");
  ann.close();
  assert.deepEqual(await gone, { boardId: "b", userId: "ann" });
  await app.stop();
});

test("a board survives kill -9 and a restart, undo included", async () => {
  const dataDir = tempDataDir();
  let app = await start([], dataDir);
  const ann = await user(app, "ann");
  await join(ann, "keep");
  const seqs = [];
  for (const id of ["k1", "k2", "k3"]) seqs.push((await request(ann, "stroke", { boardId: "keep", ...line(id) })).seq);
  assert.equal((await request(ann, "undo", { boardId: "keep" })).id, "k3");
  const [, signal] = await app.kill9();
  assert.equal(signal, "SIGKILL");
  ann.close();

  app = await start([], dataDir);
  const bob = await user(app, "bob");
  const board = await join(bob, "keep");
  assert.deepEqual(board.strokes.map((s) => [s.seq, s.id, s.userId]), [[seqs[0], "k1", "ann"], [seqs[1], "k2", "ann"]]);
  assert.deepEqual(board.strokes[0].points, line("k1").points);
  const next = await request(bob, "stroke", { boardId: "keep", ...line("n1") });
  assert.ok(next.seq > seqs[2], "numbers are not reused");
  const annAgain = await user(app, "ann");
  assert.equal((await request(annAgain, "undo", { boardId: "keep" })).id, "k2");
  await app.stop();
});

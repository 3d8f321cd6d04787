// Tic-tac-toe of the `switchboard` binary (namespace /tictactoe) with the official client:
// matchmaking, server-checked moves and their error acks, win, draw, rematch, the forfeit
// after the grace period, and a game that survives kill -9 and a restart.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { cleanup, connect, request, startApp, tempDataDir, waitFor } from "./lib/app.mjs";

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

async function player(app, username) {
  const socket = await connect(app.url, "/tictactoe", { username });
  sockets.push(socket);
  return socket;
}

/** Pairs two players; resolves with the game as both saw it. */
async function pair(ann, bob) {
  const first = await request(ann, "game:find", {});
  assert.deepEqual(first, { ok: true, waiting: true });
  const annSees = waitFor(ann, "game:state");
  const found = await request(bob, "game:find", {});
  assert.equal(found.ok, true);
  const game = await annSees;
  assert.equal(game.id, found.game.id);
  return game;
}

const move = (s, gameId, cell) => request(s, "game:move", { gameId, cell });

test("matchmaking, moves, error acks, a win, a rematch and a draw", async () => {
  const app = await start();
  const ann = await player(app, "ann");
  const bob = await player(app, "bob");
  const game = await pair(ann, bob);
  // The one who waited plays X and moves first.
  assert.equal(game.x.userId, "ann");
  assert.equal(game.o.userId, "bob");
  assert.equal(game.status, "playing");
  assert.deepEqual(game.board, Array(9).fill(null));
  // A second find returns the running game.
  const again = await request(bob, "game:find", {});
  assert.equal(again.game.id, game.id);

  const error = async (p, code) => {
    const r = await p;
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal(r.error.code, code);
  };
  await error(move(bob, game.id, 0), "not_your_turn");
  const bobSees = waitFor(bob, "game:state", (g) => g.moves === 1);
  assert.equal((await move(ann, game.id, 0)).game.board[0], "X");
  assert.equal((await bobSees).turn, "O");
  await error(move(ann, game.id, 1), "not_your_turn");
  await error(move(bob, game.id, 0), "cell_taken");
  await error(move(bob, game.id, 9), "invalid_cell");
  await error(move(bob, "nope", 1), "game_not_found");
  await error(request(bob, "game:move", { gameId: game.id }), "invalid_payload");
  const carol = await player(app, "carol");
  await error(move(carol, game.id, 1), "not_a_player");

  await move(bob, game.id, 3);
  await move(ann, game.id, 1);
  await move(bob, game.id, 4);
  const won = waitFor(bob, "game:state", (g) => g.status === "won");
  const last = await move(ann, game.id, 2);
  assert.equal(last.game.status, "won");
  const seen = await won;
  assert.deepEqual([seen.winner, seen.line], ["X", [0, 1, 2]]);
  await error(move(bob, game.id, 5), "game_over");

  // Rematch: both must ask; the marks swap.
  assert.deepEqual(await request(ann, "game:rematch", { gameId: game.id }), { ok: true, waiting: true });
  const annGetsNew = waitFor(ann, "game:state", (g) => g.id !== game.id);
  const rematch = await request(bob, "game:rematch", { gameId: game.id });
  assert.equal(rematch.ok, true);
  const next = rematch.game;
  assert.equal((await annGetsNew).id, next.id);
  assert.deepEqual([next.x.userId, next.o.userId], ["bob", "ann"]);
  await error(request(ann, "game:rematch", { gameId: next.id }), "game_not_over");

  // X O X / X O O / O X X: a draw.
  const plays = [[bob, 0], [ann, 1], [bob, 2], [ann, 4], [bob, 3], [ann, 5], [bob, 7], [ann, 6]];
  for (const [p, cell] of plays) assert.equal((await move(p, next.id, cell)).ok, true);
  const draw = await move(bob, next.id, 8);
  assert.deepEqual([draw.game.status, draw.game.winner, draw.game.moves], ["draw", null, 9]);
  await app.stop();
});

test("a player who leaves forfeits after the grace period; one who comes back in time does not", async () => {
  const app = await start(["--tictactoe-grace-ms", "400"]);
  const ann = await player(app, "ann");
  const bob = await player(app, "bob");
  const game = await pair(ann, bob);
  const away = waitFor(ann, "game:state", (g) => g.away.length === 1);
  const forfeit = waitFor(ann, "game:state", (g) => g.status === "forfeit", 5000);
  bob.close();
  const seen = await away;
  assert.equal(seen.away[0].userId, "bob");
  assert.ok(seen.away[0].forfeitAt > Date.now() - 1000);
  const over = await forfeit;
  assert.deepEqual([over.id, over.winner], [game.id, "X"]);
  await app.stop();

  const slow = await start(["--tictactoe-grace-ms", "20000"]);
  const carol = await player(slow, "carol");
  let dave = await player(slow, "dave");
  const g2 = await pair(carol, dave);
  const gone = waitFor(carol, "game:state", (g) => g.away.length === 1);
  dave.close();
  await gone;
  const back = waitFor(carol, "game:state", (g) => g.away.length === 0);
  const daveStates = [];
  dave = io(slow.url + "/tictactoe", { auth: { username: "dave" }, forceNew: true, reconnection: false });
  sockets.push(dave);
  dave.on("game:state", (g) => daveStates.push(g));
  const resumed = await back;
  assert.deepEqual([resumed.id, resumed.status], [g2.id, "playing"]);
  assert.equal((await move(carol, g2.id, 4)).ok, true);
  assert.equal((await move(dave, g2.id, 0)).ok, true);
  assert.ok(daveStates.some((g) => g.id === g2.id), "the returning player gets the game");
  await slow.stop();
});

test("a running game survives kill -9 and a restart", async () => {
  const dataDir = tempDataDir();
  let app = await start([], dataDir);
  const ann = await player(app, "ann");
  const bob = await player(app, "bob");
  const game = await pair(ann, bob);
  await move(ann, game.id, 4);
  await move(bob, game.id, 0);
  const [, signal] = await app.kill9();
  assert.equal(signal, "SIGKILL");
  ann.close();
  bob.close();

  app = await start([], dataDir);
  const annAgain = io(app.url + "/tictactoe", { auth: { username: "ann" }, forceNew: true, reconnection: false });
  sockets.push(annAgain);
  const restored = await waitFor(annAgain, "game:state");
  assert.deepEqual([restored.id, restored.moves, restored.turn], [game.id, 2, "X"]);
  assert.deepEqual(restored.board.slice(0, 5), ["O", null, null, null, "X"]);
  // bob is not back yet: his forfeit clock runs.
  assert.equal(restored.away[0]?.userId, "bob");
  const bobAgain = await player(app, "bob");
  assert.equal((await move(annAgain, game.id, 8)).ok, true);
  const r = await move(bobAgain, game.id, 8);
  assert.equal(r.error.code, "cell_taken");
  await app.stop();
});

// Tic-tac-toe, auctions and the whiteboard of the `switchboard` binary on PostgreSQL
// (`--database postgres://...`): what each app stored comes back after kill -9 and a restart.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { cleanup, connect, request, startApp, waitFor } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";

let pg;
let url;
const dirs = [];
const sockets = [];
before(async () => {
  pg = await startPostgres();
  url = pg.database();
});
after(async () => {
  for (const s of sockets) s.close();
  for (const d of dirs) cleanup(d);
  await pg?.stop();
});

async function start() {
  const app = await startApp({ args: ["--database", url, "--auction-extend-ms", "0"] });
  dirs.push(app.dataDir);
  return app;
}

async function user(app, ns, username) {
  const socket = await connect(app.url, ns, { username });
  sockets.push(socket);
  return socket;
}

test("games, auctions and boards survive kill -9 on PostgreSQL", async () => {
  let app = await start();
  // Tic-tac-toe: a game two moves in.
  const ann = await user(app, "/tictactoe", "ann");
  const bob = await user(app, "/tictactoe", "bob");
  await request(ann, "game:find", {});
  const { game } = await request(bob, "game:find", {});
  assert.equal((await request(ann, "game:move", { gameId: game.id, cell: 4 })).ok, true);
  assert.equal((await request(bob, "game:move", { gameId: game.id, cell: 0 })).ok, true);
  // An auction with two bids.
  const sam = await user(app, "/auction", "sam");
  const carol = await user(app, "/auction", "carol");
  const { auction } = await request(sam, "auction:create", { title: "Desk", startPrice: 1000, increment: 50, durationMs: 600000 });
  const b1 = await request(carol, "bid", { auctionId: auction.id, amount: 1000 });
  const b2 = await request(carol, "bid", { auctionId: auction.id, amount: 1200 });
  assert.deepEqual([b1.ok, b2.ok], [true, true]);
  // A board with two strokes, one undone.
  const dan = await user(app, "/whiteboard", "dan");
  const line = (id) => ({ boardId: "pg", id, color: "#000000", width: 3, points: [[0, 0], [1, 1]] });
  const s1 = await request(dan, "stroke", line("s1"));
  await request(dan, "stroke", line("s2"));
  assert.equal((await request(dan, "undo", { boardId: "pg" })).id, "s2");

  await app.kill9();
  for (const s of [ann, bob, sam, carol, dan]) s.close();
  app = await start();

  const annAgain = io(app.url + "/tictactoe", { auth: { username: "ann" }, forceNew: true, reconnection: false });
  sockets.push(annAgain);
  const restored = await waitFor(annAgain, "game:state");
  assert.deepEqual([restored.id, restored.moves, restored.board[4], restored.board[0]], [game.id, 2, "X", "O"]);
  const watcher = await user(app, "/auction", "erin");
  const state = await request(watcher, "auction:join", { auctionId: auction.id });
  assert.deepEqual(state.bids.map((b) => [b.seq, b.amount]), [[b1.bid.seq, 1000], [b2.bid.seq, 1200]]);
  assert.equal((await request(watcher, "bid", { auctionId: auction.id, amount: 1200 })).error.code, "bid_too_low");
  const viewer = await user(app, "/whiteboard", "fay");
  const board = await request(viewer, "board:join", { boardId: "pg" });
  assert.deepEqual(board.strokes.map((s) => [s.seq, s.id]), [[s1.seq, "s1"]]);
  await app.stop();
});

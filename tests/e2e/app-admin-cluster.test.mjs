// The Admin UI's namespace on a cluster of two `switchboard` nodes on one Redis (and one
// PostgreSQL chat store, which cluster mode needs): a UI
// connected to one node sees both servers' stats, lists and follows the other node's
// sockets, and its commands act on them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { chatClient, cleanup, startApp, waitFor } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";
import { startRedis } from "./lib/redis.mjs";

let redis;
let pg;
const nodes = [];
const sockets = [];

before(async () => {
  redis = await startRedis();
  pg = await startPostgres();
  const args = ["--database", pg.database(), "--redis", redis.url, "--admin-ui"];
  nodes.push(...(await Promise.all([0, 1].map(() => startApp({ args })))));
});
after(async () => {
  for (const s of sockets) s.close();
  for (const node of nodes) {
    await node.stop();
    cleanup(node.dataDir);
  }
  await pg?.stop();
  await redis?.stop();
});

/** An admin connection (loopback, no credentials) recording every event from the start. */
function admin(url) {
  const socket = io(url + "/admin", { forceNew: true, reconnection: false, transports: ["websocket"] });
  sockets.push(socket);
  const seen = [];
  socket.onAny((event, ...args) => seen.push([event, ...args]));
  return { socket, seen };
}

/** Resolves once `pred()` holds, checked every 20 ms. */
async function eventually(pred, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a UI on one node sees and acts on the other node", async () => {
  const [a, b] = nodes;
  const early = await chatClient(b.url, "early-admin", { transports: ["websocket"] });
  sockets.push(early.socket);
  const ui = admin(a.url);

  // all_sockets asks the cluster: node b's socket is listed.
  await eventually(() => ui.seen.some(([e]) => e === "all_sockets"), "all_sockets");
  const [, all] = ui.seen.find(([e]) => e === "all_sockets");
  const listed = all.find((s) => s.id === early.socket.id);
  assert.ok(listed, "the other node's socket is listed");
  assert.equal(listed.nsp, "/chat");
  assert.equal(typeof listed.handshake.issued, "number");
  assert.ok(listed.rooms.includes("user:early-admin"));

  // Both servers' stats reach the UI, each with its own id.
  await eventually(() => {
    const ids = new Set(ui.seen.filter(([e]) => e === "server_stats").map(([, s]) => s.serverId));
    return ids.size === 2;
  }, "server_stats of both nodes");

  // A socket connecting on node b is reported to the UI on node a.
  const late = await chatClient(b.url, "late-admin", { transports: ["websocket"] });
  sockets.push(late.socket);
  await eventually(
    () => ui.seen.some(([e, s]) => e === "socket_connected" && s.id === late.socket.id),
    "socket_connected from the other node",
  );

  // _disconnect from node a's UI reaches node b's socket; b reports it.
  const lateId = late.socket.id; // the client forgets it once disconnected
  const gone = waitFor(late.socket, "disconnect");
  ui.socket.emit("_disconnect", "/chat", false, lateId);
  assert.equal(await gone, "io server disconnect");
  await eventually(
    () => ui.seen.some(([e, , id]) => e === "socket_disconnected" && id === lateId),
    "socket_disconnected from the other node",
  );

  // join through the cluster: node b's socket joins; node b applies it inside its adapter,
  // so the UI gets a fresh all_sockets at the next stats tick.
  ui.socket.emit("join", "/chat", "cluster-vip", early.socket.id);
  await eventually(
    () => ui.seen.some(([e, list]) => e === "all_sockets" &&
      list.some((s) => s.id === early.socket.id && s.rooms.includes("cluster-vip"))),
    "a resync lists the remote socket in the room",
  );
});

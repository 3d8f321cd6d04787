// A Node socket.io 4.x cluster node on the official `@socket.io/redis-adapter` or
// `@socket.io/redis-streams-adapter` (ioredis), with the same handlers as the Switchboard
// `node` example of switchboard-redis.
//
// Usage: node node-redis.mjs --redis redis://127.0.0.1:PORT [--name NAME] [--port N]
//        [--adapter redis|sharded|streams]  (createAdapter, createShardedAdapter in its default
//        mode, or the streams adapter's createAdapter) [--recovery]  (connectionStateRecovery)
//        or --redis-cluster HOST:PORT,HOST:PORT,...  (an ioredis Cluster, sharded subscribers on)
// Prints `listening on http://127.0.0.1:PORT` once bound. Namespace "/", every socket joins
// "room1". Events:
//   "bc" t                 io.to("room1").emit("m", t)
//   "echo" t, cb           cb(t)
//   "set-data" data, cb    socket.data = data, cb(true)
//   "whoami" _, cb         cb({id, rooms, data, recovered})
//   "join" room, cb        joins room, cb(true)
//   "emit" {rooms, except, event, data}, cb   broadcasts, cb(true)
//   "ask" data, cb         io.timeout(3000).emit("q", data, acks) -> cb({answers} | {err})
//   "fetch" room|null, cb  fetchSockets() -> cb([{id, rooms}] | {err})
//   "sse" data, cb         io.serverSideEmit("hello", data), cb(true)
//   "sse-ack" data, cb     io.serverSideEmitWithAck("ping", data) -> cb({answers} | {err})
// From other servers: "hello" data -> io.local.emit("sse-got", {from, data});
// "ping" data, cb -> cb("pong from NAME").
import http from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { Cluster, Redis } from "ioredis";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    redis: { type: "string" },
    "redis-cluster": { type: "string" },
    name: { type: "string", default: "node" },
    adapter: { type: "string", default: "redis" },
    recovery: { type: "boolean", default: false },
  },
});

const cluster = values["redis-cluster"]?.split(",").map((node) => {
  const [host, port] = node.split(":");
  return { host, port: Number(port) };
});
const pub = cluster ? new Cluster(cluster, { shardedSubscribers: true }) : new Redis(values.redis);
const sub = pub.duplicate();
for (const client of [pub, sub]) {
  client.on("error", (err) => console.error(`redis: ${err.message}`));
}

const httpServer = http.createServer();
const adapters = {
  redis: () => createAdapter(pub, sub),
  sharded: () => createShardedAdapter(pub, sub),
  streams: () => createStreamsAdapter(pub),
};
const adapter = adapters[values.adapter]();
const options = { adapter };
if (values.recovery) options.connectionStateRecovery = {};
const io = new Server(httpServer, options);
const name = values.name;

io.on("hello", (data) => io.local.emit("sse-got", { from: name, data }));
io.on("ping", (_data, cb) => cb(`pong from ${name}`));

io.on("connection", (socket) => {
  socket.join("room1");
  socket.on("bc", (t) => io.to("room1").emit("m", t));
  socket.on("echo", (t, cb) => cb(t));
  socket.on("set-data", (data, cb) => {
    socket.data = data;
    cb(true);
  });
  socket.on("whoami", (_data, cb) => cb({ id: socket.id, rooms: [...socket.rooms], data: socket.data ?? null, recovered: socket.recovered }));
  socket.on("join", (room, cb) => {
    socket.join(room);
    cb(true);
  });
  socket.on("emit", ({ rooms = [], except = [], event = "m", data = null }, cb) => {
    let op = io.to(rooms);
    if (except.length) op = op.except(except);
    op.emit(event, data);
    cb(true);
  });
  socket.on("ask", (data, cb) => {
    io.timeout(3000).emit("q", data, (err, answers) =>
      cb(err ? { err: err.message } : { answers }),
    );
  });
  socket.on("fetch", async (room, cb) => {
    try {
      const sockets = await (room ? io.in(room) : io).fetchSockets();
      cb(sockets.map((s) => ({ id: s.id, rooms: [...s.rooms] })));
    } catch (err) {
      cb({ err: err.message });
    }
  });
  socket.on("sse", (data, cb) => {
    io.serverSideEmit("hello", data);
    cb(true);
  });
  socket.on("sse-ack", async (data, cb) => {
    try {
      cb({ answers: await io.serverSideEmitWithAck("ping", data) });
    } catch (err) {
      cb({ err: err.message });
    }
  });
});

httpServer.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

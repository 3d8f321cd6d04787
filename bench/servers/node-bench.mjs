// The bench behaviour on the official Node socket.io v4 server (default `ws` engine):
// namespace `/`, every socket joins `room1`; `bc` t -> emit `m` t to room1; `bcbin` t -> emit `mb` t and a 4 KiB
// Buffer to room1; `echo` t with ack
// -> ack t. pingInterval 25 s (the default). Prints `listening on http://127.0.0.1:PORT`.
//
// With `--redis URL` the server is a cluster node on the official Redis adapter of
// `--adapter` (`redis`: @socket.io/redis-adapter, classic pub/sub; `sharded`: its
// createShardedAdapter, Redis 7 sharded pub/sub; `streams`: @socket.io/redis-streams-adapter),
// for the cross-node broadcast scenario. With `--parser msgpack` it speaks
// socket.io-msgpack-parser instead of the default JSON parser.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    redis: { type: "string" },
    adapter: { type: "string", default: "redis" },
    parser: { type: "string", default: "json" },
  },
});

async function clusterAdapter(url, kind) {
  const { Redis } = await import("ioredis");
  const client = new Redis(url);
  client.on("error", (err) => console.error(`redis: ${err.message}`));
  if (kind === "redis" || kind === "sharded") {
    const { createAdapter, createShardedAdapter } = await import("@socket.io/redis-adapter");
    const sub = client.duplicate();
    sub.on("error", (err) => console.error(`redis: ${err.message}`));
    return kind === "redis" ? createAdapter(client, sub) : createShardedAdapter(client, sub);
  }
  if (kind === "streams") {
    const { createAdapter } = await import("@socket.io/redis-streams-adapter");
    return createAdapter(client);
  }
  throw new Error(`unknown adapter ${kind} (redis, sharded, streams)`);
}

// The attachment of `bcbin` broadcasts: 4 KiB, allocated once.
const BLOB = Buffer.alloc(4096, 7);

const httpServer = createServer();
const options = { perMessageDeflate: false, pingInterval: 25000 };
if (values.redis) {
  options.adapter = await clusterAdapter(values.redis, values.adapter);
}
if (values.parser === "msgpack") {
  options.parser = (await import("socket.io-msgpack-parser")).default;
} else if (values.parser !== "json") {
  throw new Error(`unknown parser ${values.parser} (json, msgpack)`);
}
const io = new Server(httpServer, options);

io.on("connection", (socket) => {
  socket.join("room1");
  socket.on("bc", (t) => {
    io.to("room1").emit("m", t);
  });
  socket.on("bcbin", (t) => {
    io.to("room1").emit("mb", t, BLOB);
  });
  socket.on("echo", (t, ack) => {
    if (typeof ack === "function") ack(t);
  });
});

httpServer.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

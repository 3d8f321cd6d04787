// A Socket.IO v4 server built on the official `socket.io` package, for the Rust client tests.
//
// Usage: node node-socketio.mjs [--port N] [--ping-interval MS] [--ping-timeout MS] [--stall-upgrade]
//        [--parser json|msgpack]
// Prints `listening on http://127.0.0.1:PORT` once bound (port 0 by default: an ephemeral port),
// then `connect <ns> <id> <recovered>` and `disconnect <ns> <id> <reason>` lines.
//
// Namespaces: "/" and "/admin" accept everyone; "/private" requires `auth.token === "secret"`
// and otherwise refuses with message "unauthorized" and data `{ "reason": "no token" }`.
// Connection state recovery is on. Events, on every namespace:
//   "echo" ...args         emits "echo" ...args back (binary stays binary)
//   "ack" ...args, cb      calls cb(...args)
//   "ask-me" question      emits "question" question with an ack, then "answer" with the reply
//   "whoami" cb            calls cb({ id, ns, transport, auth, query, header })
//   "join" room            joins `room`, then broadcasts "joined" room to it
//   "broadcast" room, msg  broadcasts "news" msg to `room`
//   "disconnect-me"        disconnects the socket from the server side
//   "stop-pinging"         stops the heartbeat of the connection (the client's watchdog fires)
//   "cut" room, msg        closes the connection, then broadcasts "news" msg to `room`
//   "flaky" key, cb        ignores the first "flaky" event of each key, acks the next ones
//                          with the number of times the key was seen
//
// With --stall-upgrade, the upgrade to WebSocket never completes: the server answers the probe
// (and prints `upgrading <engine id>`), but does not send the noop packets that end the pending
// polling request, so a client stays paused mid-upgrade.
import http from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "ping-interval": { type: "string", default: "25000" },
    "ping-timeout": { type: "string", default: "20000" },
    "stall-upgrade": { type: "boolean", default: false },
    parser: { type: "string", default: "json" },
  },
});

// `--parser msgpack`: socket.io-msgpack-parser instead of the default JSON parser.
const parser = values.parser === "msgpack" ? (await import("socket.io-msgpack-parser")).default : undefined;

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: Number(values["ping-interval"]),
  pingTimeout: Number(values["ping-timeout"]),
  connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: true },
  ...(parser ? { parser } : {}),
});

io.of("/private").use((socket, next) => {
  if (socket.handshake.auth?.token === "secret") return next();
  const err = new Error("unauthorized");
  err.data = { reason: "no token" };
  next(err);
});

if (values["stall-upgrade"]) {
  io.engine.on("connection", (conn) => {
    conn.on("upgrading", () => console.log(`upgrading ${conn.id}`));
    const transport = conn.transport;
    const send = transport.send.bind(transport);
    transport.send = (packets) => {
      if (conn.upgrading && packets.every((p) => p.type === "noop")) return;
      send(packets);
    };
  });
}

const flaky = new Map();

function setup(nsp) {
  nsp.on("connection", (socket) => {
    console.log(`connect ${nsp.name} ${socket.id} ${socket.recovered}`);
    socket.on("echo", (...args) => socket.emit("echo", ...args));
    socket.on("ack", (...args) => {
      const cb = args.pop();
      cb(...args);
    });
    socket.on("ask-me", async (question) => {
      const reply = await socket.timeout(5000).emitWithAck("question", question);
      socket.emit("answer", reply);
    });
    socket.on("whoami", (cb) =>
      cb({
        id: socket.id,
        engine: socket.conn.id,
        ns: nsp.name,
        transport: socket.conn.transport.name,
        auth: socket.handshake.auth,
        query: socket.handshake.query,
        header: socket.handshake.headers["x-test"] ?? null,
      }),
    );
    socket.on("join", (room) => {
      socket.join(room);
      nsp.to(room).emit("joined", room);
    });
    socket.on("broadcast", (room, msg) => nsp.to(room).emit("news", msg));
    socket.on("disconnect-me", () => socket.disconnect());
    socket.on("stop-pinging", () => {
      const conn = socket.conn;
      clearTimeout(conn.pingIntervalTimer);
      clearTimeout(conn.pingTimeoutTimer);
      conn.pingIntervalTimer = null;
      conn.pingTimeoutTimer = null;
      conn.schedulePing = () => {};
      conn.resetPingTimeout = () => {};
    });
    socket.on("cut", (room, msg) => {
      socket.once("disconnect", () => nsp.to(room).emit("news", msg));
      socket.conn.close();
    });
    socket.on("flaky", (key, cb) => {
      const seen = (flaky.get(key) ?? 0) + 1;
      flaky.set(key, seen);
      if (seen > 1) cb(seen);
    });
    socket.on("disconnect", (reason) => console.log(`disconnect ${nsp.name} ${socket.id} ${reason}`));
  });
}
for (const name of ["/", "/admin", "/private"]) setup(io.of(name));

httpServer.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

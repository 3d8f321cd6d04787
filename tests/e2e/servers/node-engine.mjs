// An Engine.IO v4 echo server built on the official `engine.io` package, for the Rust client tests.
//
// Usage: node node-engine.mjs [--port N] [--ping-interval MS] [--ping-timeout MS] [--transports polling,websocket]
// Prints `listening on http://127.0.0.1:PORT` once bound (port 0 by default: an ephemeral port), then one line per
// server-side event (`close <sid> <reason>`), so tests can observe the server's view.
//
// Every message is echoed back as is (text as text, binary as binary), except these commands:
//   "transport?"    answers "transport <name>"
//   "request?"      answers "request {json}": the handshake query and the `x-test` header
//   "report-pongs"  answers "pong <n>" each time a heartbeat pong arrives
//   "stop-pinging"  stops the server heartbeat (to trigger the client's watchdog)
//   "close-me"      closes the connection from the server side
import http from "node:http";
import { parseArgs } from "node:util";
import { Server } from "engine.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "ping-interval": { type: "string", default: "25000" },
    "ping-timeout": { type: "string", default: "20000" },
    transports: { type: "string", default: "polling,websocket" },
  },
});

const engine = new Server({
  pingInterval: Number(values["ping-interval"]),
  pingTimeout: Number(values["ping-timeout"]),
  transports: values.transports.split(","),
});
const httpServer = http.createServer();
engine.attach(httpServer);

engine.on("connection", (socket) => {
  let pongs = 0;
  socket.on("message", (data) => {
    if (data === "transport?") {
      socket.send(`transport ${socket.transport.name}`);
    } else if (data === "request?") {
      const { _query: query, headers } = socket.request;
      socket.send(`request ${JSON.stringify({ query, header: headers["x-test"] ?? null })}`);
    } else if (data === "report-pongs") {
      socket.on("packet", (packet) => {
        if (packet.type === "pong") socket.send(`pong ${++pongs}`);
      });
    } else if (data === "stop-pinging") {
      clearTimeout(socket.pingIntervalTimer);
      clearTimeout(socket.pingTimeoutTimer);
      socket.pingIntervalTimer = null;
      socket.pingTimeoutTimer = null;
      socket.schedulePing = () => {};
      socket.resetPingTimeout = () => {};
      socket.send("stopped");
    } else if (data === "close-me") {
      socket.close();
    } else {
      socket.send(data);
    }
  });
  socket.on("close", (reason) => console.log(`close ${socket.id} ${reason}`));
});

httpServer.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

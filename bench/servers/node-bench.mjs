// The bench behaviour on the official Node socket.io v4 server (default `ws` engine):
// namespace `/`, every socket joins `room1`; `bc` t -> emit `m` t to room1; `echo` t with ack
// -> ack t. pingInterval 25 s (the default). Prints `listening on http://127.0.0.1:PORT`.
import { createServer } from "node:http";
import { Server } from "socket.io";

const argv = process.argv.slice(2);
const at = argv.indexOf("--port");
const port = at >= 0 ? Number(argv[at + 1]) : 3000;

const httpServer = createServer();
const io = new Server(httpServer, {
  perMessageDeflate: false,
  pingInterval: 25000,
});

io.on("connection", (socket) => {
  socket.join("room1");
  socket.on("bc", (t) => {
    io.to("room1").emit("m", t);
  });
  socket.on("echo", (t, ack) => {
    if (typeof ack === "function") ack(t);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

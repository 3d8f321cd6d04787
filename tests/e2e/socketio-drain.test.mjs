// close() drains: many official clients (WebSocket, polling only and the upgrade) get every
// packet emitted before the call, in order, then their connection closes (`transport close`).
// The server is the `socketio_e2e` example (crates/switchboard/examples/socketio_e2e.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { MODES, startApp, wait } from "./lib/socketio-app.mjs";

const PER_MODE = 12;
const PACKETS = 300;

test("close() right after a burst of emits: every client gets every packet, then the close", async () => {
  // A longer heartbeat than the other tests': on a busy machine the burst to every client
  // must not outlast the clients' ping timeout.
  const app = await startApp({ args: ["--heartbeat-ms", "5000"] });
  const sockets = [];
  try {
    const clients = [];
    for (const mode of Object.keys(MODES)) {
      for (let i = 0; i < PER_MODE; i++) {
        const socket = io(app.url, { ...MODES[mode], forceNew: true, reconnection: false });
        sockets.push(socket);
        const got = [];
        socket.on("flood", (n) => got.push(n));
        const hello = wait(socket, "hello", 5000);
        await hello;
        if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
          await wait(socket.io.engine, "upgrade", 5000);
        }
        clients.push({ mode, got, gone: wait(socket, "disconnect", 20000) });
      }
    }
    sockets[0].emit("flood-then-close", PACKETS);
    const expected = Array.from({ length: PACKETS }, (_, i) => i);
    for (const { mode, got, gone } of clients) {
      const [reason] = await gone;
      assert.equal(reason, "transport close", mode);
      assert.deepEqual(got, expected, `${mode}: ${got.length} of ${PACKETS}`);
    }
    await app.printed("closed complete=true", 20000);
  } finally {
    for (const s of sockets) s.disconnect();
    await app.stop();
  }
});

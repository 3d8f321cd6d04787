// The official socket.io-client v4 against the rest of the server API: per-packet middleware,
// listeners (once/off/onAny/prependAny/onAnyOutgoing), `disconnecting`, dynamic namespaces by
// predicate, volatile packets, `ping timeout` and `parse error` reasons, RemoteSocket handles
// and close(); over WebSocket, polling only and the upgrade. The server is the `socketio_e2e`
// example (crates/switchboard/examples/socketio_e2e.rs).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { delay } from "./lib/eio.mjs";
import { MODES, startApp, wait } from "./lib/socketio-app.mjs";

describe("socket.io-client and the server API", () => {
  let app;
  // The same application on one thread, as Node runs: see the volatile burst below.
  let singleThread;
  const open = [];

  before(async () => {
    app = await startApp();
    singleThread = await startApp({ args: ["--single-thread"] });
  });

  after(async () => {
    for (const s of open) s.disconnect();
    await app?.stop();
    await singleThread?.stop();
  });

  async function connect(mode, path = "/", opts = {}, url = app.url) {
    const socket = io(`${url}${path}`, { ...MODES[mode], forceNew: true, reconnection: false, ...opts });
    open.push(socket);
    const [hello] = await wait(socket, path === "/" ? "hello" : "ns");
    if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
      await wait(socket.io.engine, "upgrade");
    }
    return { socket, hello };
  }

  /** The server's log entries about socket `id`, once `done(entries)` holds (polled). */
  async function logOf(mode, id, done) {
    const probe = io(`${app.url}/reasons`, { ...MODES[mode], forceNew: true, reconnection: false });
    open.push(probe);
    await wait(probe, "connect");
    try {
      for (let i = 0; i < 80; i++) {
        const found = (await probe.timeout(2000).emitWithAck("get")).filter((r) => r.id === id);
        if (done(found)) return found;
        await delay(25);
      }
      return [];
    } finally {
      probe.disconnect();
    }
  }
  const reasonsOf = async (mode, id) =>
    (await logOf(mode, id, (f) => f.some((r) => r.reason))).filter((r) => r.reason).map((r) => r.reason);

  for (const mode of Object.keys(MODES)) {
    describe(mode, () => {
      test("socket.use rejects a packet: ack error, or an error event", async () => {
        const { socket } = await connect(mode);
        const err = await socket.timeout(2000).emitWithAck("forbidden", 1);
        assert.deepEqual(err, { message: "forbidden event", data: { event: "forbidden" } });
        const event = wait(socket, "error");
        socket.emit("forbidden", 2);
        assert.deepEqual(await event, [{ message: "forbidden event", data: { event: "forbidden" } }]);
        // Other events still go through.
        assert.equal(await socket.timeout(2000).emitWithAck("echo", "ok"), "ok");
        socket.disconnect();
      });

      test("once, off, onAny, prependAny and onAnyOutgoing", async () => {
        const { socket } = await connect(mode);
        assert.equal(await socket.timeout(2000).emitWithAck("once"), "once");
        await assert.rejects(socket.timeout(300).emitWithAck("once"), /timed out/);
        assert.equal(await socket.timeout(2000).emitWithAck("off-me"), "on");
        assert.equal(await socket.timeout(2000).emitWithAck("do-off"), true);
        await assert.rejects(socket.timeout(300).emitWithAck("off-me"), /timed out/);

        await socket.timeout(2000).emitWithAck("any-log"); // clears the log
        const outgoing = wait(socket, "out-test");
        socket.emit("ping-any", 1);
        const log = await socket.timeout(2000).emitWithAck("any-log");
        await outgoing;
        assert.deepEqual(log, ["first:ping-any", "any:ping-any", "first:any-log", "any:any-log", "out:out-test"]);
        socket.disconnect();
      });

      test("disconnecting sees the rooms before they are left", async () => {
        const { socket } = await connect(mode);
        const id = socket.id;
        await socket.timeout(2000).emitWithAck("join", "leaving-room");
        socket.disconnect();
        const entries = await logOf(mode, id, (f) => f.some((r) => r.reason));
        assert.deepEqual(
          entries.map((e) => e.disconnecting ?? e.reason),
          ["client namespace disconnect", "client namespace disconnect"],
        );
        assert.deepEqual(entries[0].rooms, [id, "leaving-room"].sort());
      });

      test("dynamic namespaces by predicate", async () => {
        const { socket, hello } = await connect(mode, "/fn-one", { auth: { ok: true } });
        assert.equal(hello, "/fn-one");
        const refused = io(`${app.url}/fn-two`, { ...MODES[mode], forceNew: true, reconnection: false, auth: { ok: false } });
        open.push(refused);
        const [err] = await wait(refused, "connect_error");
        assert.equal(err.message, "Invalid namespace");
        socket.disconnect();
      });

      test("volatile packets are dropped while the transport is busy", async () => {
        // "Busy" lasts until the session's task wrote the first packet. Node runs that write
        // after the handler returned; on a multi-threaded runtime it can run on another
        // thread between two of the handler's emits, so the test uses the single-threaded
        // server, where it cannot.
        const { socket } = await connect(mode, "/", {}, singleThread.url);
        let dropped = 0;
        socket.on("v-drop", () => dropped++);
        const first = wait(socket, "v-first");
        const end = wait(socket, "v-end");
        assert.equal(await socket.timeout(2000).emitWithAck("volatile-burst"), true);
        assert.deepEqual(await first, [1]);
        // Packets arrive in order: once `v-end` is here, no volatile one is still coming.
        assert.deepEqual(await end, [4]);
        assert.equal(dropped, 0);
        socket.disconnect();
      });

      test("ping timeout and parse error reasons", async () => {
        const a = (await connect(mode)).socket;
        const aId = a.id;
        const engine = a.io.engine;
        const send = engine._sendPacket.bind(engine);
        // Stop answering the server's pings.
        engine._sendPacket = (type, ...rest) => (type === "pong" ? undefined : send(type, ...rest));
        assert.deepEqual(await reasonsOf(mode, aId), ["ping timeout"]);
        a.disconnect();

        const b = (await connect(mode)).socket;
        const bId = b.id;
        b.io.engine.write('42["unterminated');
        assert.deepEqual(await reasonsOf(mode, bId), ["parse error"]);
        b.disconnect();
      });

      test("RemoteSocket emit, join and disconnect", async () => {
        const a = (await connect(mode)).socket;
        const b = (await connect(mode)).socket;
        const hello = wait(b, "remote-hello");
        assert.equal(await a.timeout(2000).emitWithAck("remote", { id: b.id, action: "emit", room: "hi" }), true);
        assert.deepEqual(await hello, ["hi"]);
        assert.equal(await a.timeout(2000).emitWithAck("remote", { id: b.id, action: "join", room: "remote-room" }), true);
        assert.ok((await b.timeout(2000).emitWithAck("rooms")).includes("remote-room"));
        const gone = wait(b, "disconnect");
        assert.equal(await a.timeout(2000).emitWithAck("remote", { id: b.id, action: "disconnect" }), true);
        assert.deepEqual(await gone, ["io server disconnect", undefined]);
        a.disconnect();
      });

      test("close() disconnects everyone with server shutting down, then stops accepting", async () => {
        const own = await startApp();
        try {
          const { socket } = await connect(mode, "/", {}, own.url);
          const id = socket.id;
          const gone = wait(socket, "disconnect", 5000);
          socket.emit("shutdown");
          const [reason] = await gone;
          assert.equal(reason, "transport close");
          // close() returned (the app prints `closed` then), after the disconnect handlers.
          await own.printed("closed");
          const line = own.output.indexOf(`disconnect ${id} server shutting down`);
          assert.ok(line >= 0 && line < own.output.indexOf("closed"), own.output.join("\n"));
          // serve() dropped the listener: nothing accepts connections anymore.
          await assert.rejects(fetch(`${own.url}/socket.io/?EIO=4&transport=polling`));
        } finally {
          await own.stop();
        }
      });
    });
  }
});

// The official socket.io-client v4 against Switchboard's Socket.IO server: every feature over
// WebSocket, over polling only, and across the upgrade. The server is the `socketio_e2e`
// example (crates/switchboard/examples/socketio_e2e.rs).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { io } from "socket.io-client";

import { Endpoint, delay, within } from "./lib/eio.mjs";
import { CLIENT_DIST, MODES, startApp, wait } from "./lib/socketio-app.mjs";

describe("socket.io-client", () => {
  let app;
  const open = [];

  before(async () => {
    app = await startApp();
  });

  after(async () => {
    for (const s of open) s.disconnect();
    await app?.stop();
  });

  /**
   * Connects and waits for the server's first event (`hello` on `/`, `ns` elsewhere); across
   * the upgrade, also for the upgrade.
   */
  async function connect(mode, path = "/", opts = {}) {
    const socket = io(`${app.url}${path}`, { ...MODES[mode], forceNew: true, reconnection: false, ...opts });
    open.push(socket);
    const [hello] = await wait(socket, path === "/" ? "hello" : "ns");
    if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
      await wait(socket.io.engine, "upgrade");
    }
    return { socket, hello };
  }

  for (const mode of Object.keys(MODES)) {
    describe(mode, () => {
      test("handshake data and transport", async () => {
        const { socket, hello } = await connect(mode, "/", { auth: { token: "t1" }, query: { room: "q" } });
        assert.equal(hello.id, socket.id);
        assert.deepEqual(hello.auth, { token: "t1" });
        assert.equal(hello.query.room, "q");
        assert.equal(socket.io.engine.transport.name, mode === "polling" ? "polling" : "websocket");
        socket.disconnect();
      });

      if (mode === "upgrade") {
        test("the socket sees the transport upgrade", async () => {
          const socket = io(app.url, { forceNew: true, reconnection: false });
          open.push(socket);
          const [transport] = await wait(socket, "upgraded");
          assert.equal(transport, "websocket");
          socket.disconnect();
        });
      }

      test("events and client acks keep argument and key order", async () => {
        const { socket } = await connect(mode);
        const args = [1, "2", { z: 1, a: [true, null], m: { y: 2, b: 3 } }];
        const back = await socket.timeout(2000).emitWithAck("echo", ...args);
        assert.equal(JSON.stringify(back), JSON.stringify(args[0]));
        const echoed = wait(socket, "echo");
        socket.emit("echo", ...args);
        assert.equal(JSON.stringify(await echoed), JSON.stringify(args));
        socket.disconnect();
      });

      test("binary both ways", async () => {
        const { socket } = await connect(mode);
        const back = await socket.timeout(2000).emitWithAck("echo", Buffer.from([1, 2, 3]));
        assert.deepEqual(Buffer.from(back), Buffer.from([1, 2, 3]));
        const received = wait(socket, "binary");
        const count = await socket.timeout(2000).emitWithAck("binary", Buffer.from([9]), { x: Buffer.from([8]) });
        assert.equal(count, 2);
        const [tag, bin, obj] = await received;
        assert.equal(tag, "from-server");
        assert.deepEqual(Buffer.from(bin), Buffer.from([1, 2, 3]));
        assert.deepEqual(Buffer.from(obj.nested), Buffer.from([4, 5]));
        socket.disconnect();
      });

      test("typed payloads: an unusable payload gets an ack error", async () => {
        const { socket } = await connect(mode);
        assert.deepEqual(await socket.timeout(2000).emitWithAck("typed", { a: 21 }), { doubled: 42 });
        const err = await socket.timeout(2000).emitWithAck("typed", "nope");
        assert.match(err.message, /invalid payload for event "typed"/);
        // Without an ack the mismatch still reaches the client: as an `error` event.
        const error = within(2000, new Promise((resolve) => socket.once("error", resolve)), "error");
        socket.emit("typed", "nope");
        assert.match((await error).message, /invalid payload for event "typed"/);
        socket.disconnect();
      });

      test("client ack timeout when the server does not answer", async () => {
        const { socket } = await connect(mode);
        await assert.rejects(socket.timeout(200).emitWithAck("no-such-event"), /operation has timed out/);
        socket.disconnect();
      });

      test("server acks with timeout", async () => {
        const { socket } = await connect(mode);
        socket.once("question", (n, cb) => cb("yes", n));
        assert.deepEqual(await socket.timeout(3000).emitWithAck("ask", 2000), { answer: ["yes", 42] });
        socket.once("question", () => {});
        assert.deepEqual(await socket.timeout(3000).emitWithAck("ask", 200), { error: "timeout" });
        socket.disconnect();
      });

      test("rooms and every operator", async () => {
        const a = (await connect(mode)).socket;
        const b = (await connect(mode)).socket;
        const c = (await connect(mode)).socket;
        const room = `room-${mode}`;
        assert.deepEqual(await a.emitWithAck("join", room), [a.id, room].sort());
        await b.emitWithAck("join", [room, "other"]);
        await c.emitWithAck("join", "other");

        // socket.to(room): members but not the sender.
        const gotB = wait(b, "news");
        let aGot = false;
        a.on("news", () => (aGot = true));
        assert.equal(await a.emitWithAck("to", { rooms: [room], event: "news", data: 1 }), true);
        assert.deepEqual(await gotB, [1]);

        // io.to(rooms).except(room): the union minus the excluded.
        const gotC = wait(c, "m");
        assert.equal(await a.emitWithAck("io-to", { rooms: [room, "other"], except: [room], event: "m", data: 2 }), true);
        assert.deepEqual(await gotC, [2]);

        // A socket's own id is a room.
        const direct = wait(c, "direct");
        await a.emitWithAck("io-to", { rooms: [c.id], event: "direct", data: 3 });
        assert.deepEqual(await direct, [3]);

        // socket.broadcast: everyone but the sender.
        const all = Promise.all([wait(b, "all"), wait(c, "all")]);
        await a.emitWithAck("to", { event: "all", data: 4 });
        await all;

        // Leave, then the room no longer reaches b.
        assert.deepEqual(await b.emitWithAck("leave", room), [b.id, "other"].sort());
        let bGot = false;
        b.on("late", () => (bGot = true));
        const self = wait(a, "late");
        await c.emitWithAck("io-to", { rooms: [room], event: "late", data: 5 });
        await self;
        // Packets to b arrive in order: once this marker is here, `late` is not coming.
        const marker = wait(b, "marker");
        await c.emitWithAck("io-to", { rooms: [b.id], event: "marker", data: 6 });
        await marker;
        assert.equal(bGot, false);
        assert.equal(aGot, false);
        for (const s of [a, b, c]) s.disconnect();
      });

      test("broadcast with ack collects one answer per client, with timeout", async () => {
        const a = (await connect(mode)).socket;
        const b = (await connect(mode)).socket;
        for (const s of [a, b]) s.emit("join", "ack-room");
        // Every connected socket of `/` answers here; wait for all but leave others silent.
        a.on("question-all", (n, cb) => cb("a", n));
        b.on("question-all", (n, cb) => cb("b", n));
        const others = open.filter((s) => s.connected && s !== a && s !== b);
        for (const s of others) s.on("question-all", (n, cb) => cb("x", n));
        const res = await a.timeout(3000).emitWithAck("ask-all", 2000);
        assert.ok(res.answers, JSON.stringify(res));
        const names = res.answers.map((x) => x[0]);
        assert.ok(names.includes("a") && names.includes("b"), JSON.stringify(res));
        b.off("question-all");
        b.on("question-all", () => {});
        const partial = await a.timeout(3000).emitWithAck("ask-all", 300);
        assert.equal(partial.error, "timeout");
        assert.equal(partial.expected, partial.received + 1);
        for (const s of others) s.off("question-all");
        a.disconnect();
        b.disconnect();
      });

      test("fetch_sockets and sockets_join", async () => {
        const a = (await connect(mode, "/", { auth: { who: "a" } })).socket;
        const b = (await connect(mode, "/", { auth: { who: "b" } })).socket;
        assert.equal(await a.emitWithAck("sockets-join", "everyone"), true);
        const list = await a.emitWithAck("fetch");
        const mine = list.filter((s) => s.id === a.id || s.id === b.id);
        assert.equal(mine.length, 2);
        for (const s of mine) assert.ok(s.rooms.includes("everyone"));
        assert.deepEqual(mine.find((s) => s.id === b.id).auth, { who: "b" });
        assert.equal(await a.emitWithAck("sockets-leave", "everyone"), true);
        assert.ok(!(await b.emitWithAck("rooms")).includes("everyone"));
        a.disconnect();
        b.disconnect();
      });

      test("dynamic namespaces", async () => {
        const { socket, hello: ns } = await connect(mode, "/dynamic-abc");
        assert.equal(ns, "/dynamic-abc");
        const bad = io(`${app.url}/dynamic-`, { ...MODES[mode], forceNew: true, reconnection: false });
        open.push(bad);
        const [err] = await wait(bad, "connect_error");
        assert.equal(err.message, "Invalid namespace");
        socket.disconnect();
      });

      test("middleware errors arrive as connect_error with data", async () => {
        const rejected = io(app.url, { ...MODES[mode], forceNew: true, reconnection: false, auth: { reject: "banned" } });
        open.push(rejected);
        const [err] = await wait(rejected, "connect_error");
        assert.equal(err.message, "rejected");
        assert.deepEqual(err.data, { reason: "banned" });

        const admin = io(`${app.url}/admin`, { ...MODES[mode], forceNew: true, reconnection: false });
        open.push(admin);
        const [err2] = await wait(admin, "connect_error");
        assert.equal(err2.message, "unauthorized");
        assert.deepEqual(err2.data, { code: 403 });

        const ok = io(`${app.url}/admin`, { ...MODES[mode], forceNew: true, reconnection: false, auth: { token: "secret" } });
        open.push(ok);
        assert.deepEqual(await wait(ok, "ns"), ["/admin"]);
        ok.disconnect();
      });

      test("namespaces share one connection, which outlives one of them", async () => {
        const main = io(app.url, { ...MODES[mode], forceNew: true, reconnection: false });
        open.push(main);
        await wait(main, "hello");
        const dyn = main.io.socket("/dynamic-x");
        dyn.connect();
        await wait(dyn, "ns");
        const engine = main.io.engine;
        dyn.disconnect();
        assert.equal(await main.timeout(2000).emitWithAck("echo", "still"), "still");
        assert.equal(main.io.engine, engine);
        main.disconnect();
      });

      test("disconnect reasons", async () => {
        const reasonsOf = async (id) => {
          const probe = io(`${app.url}/reasons`, { ...MODES[mode], forceNew: true, reconnection: false });
          open.push(probe);
          await wait(probe, "connect");
          for (let i = 0; i < 40; i++) {
            const found = (await probe.emitWithAck("get")).filter((r) => r.id === id && r.reason);
            if (found.length) {
              probe.disconnect();
              return found.map((r) => r.reason);
            }
            await delay(25);
          }
          probe.disconnect();
          return [];
        };
        const a = (await connect(mode)).socket;
        const aId = a.id;
        const gone = wait(a, "disconnect");
        a.emit("disconnect-me", false);
        assert.deepEqual(await gone, ["io server disconnect", undefined]);
        assert.deepEqual(await reasonsOf(aId), ["server namespace disconnect"]);

        const b = (await connect(mode)).socket;
        const bId = b.id;
        b.disconnect();
        assert.deepEqual(await reasonsOf(bId), ["client namespace disconnect"]);

        const c = (await connect(mode)).socket;
        const cId = c.id;
        const closed = wait(c, "disconnect");
        c.emit("disconnect-me", true);
        const [reason] = await closed;
        assert.ok(["io server disconnect", "transport close"].includes(reason), reason);
        assert.deepEqual(await reasonsOf(cId), ["server namespace disconnect"]);

        const d = (await connect(mode)).socket;
        const dId = d.id;
        d.io.engine.close();
        assert.deepEqual(await reasonsOf(dId), ["transport close"]);
      });
    });
  }

  test("serves the browser client with ETag caching", async () => {
    const version = JSON.parse(readFileSync(join(CLIENT_DIST, "..", "package.json"), "utf8")).version;
    for (const file of ["socket.io.js", "socket.io.min.js", "socket.io.esm.min.js", "socket.io.js.map"]) {
      const res = await fetch(`${app.url}/socket.io/${file}`);
      assert.equal(res.status, 200, file);
      assert.equal(res.headers.get("etag"), `"${version}"`);
      assert.match(res.headers.get("content-type"), file.endsWith(".map") ? /application\/json/ : /application\/javascript/);
      assert.equal(await res.text(), readFileSync(join(CLIENT_DIST, file), "utf8"));
      const cached = await fetch(`${app.url}/socket.io/${file}`, { headers: { "if-none-match": `"${version}"` } });
      assert.equal(cached.status, 304);
    }
  });

  test("a bad packet closes only that client", async () => {
    const other = (await connect("websocket")).socket;
    const ep = new Endpoint(`${app.url}/socket.io/`);
    const raw = await ep.ws();
    await raw.nextData();
    raw.send("40");
    assert.match(await raw.nextData(), /^40\{"sid":/);
    await raw.nextData(); // hello
    raw.send('42["disconnect"]');
    await within(2000, raw.closed, "close");
    assert.equal(await other.timeout(2000).emitWithAck("echo", "ok"), "ok");
    other.disconnect();
  });
});

describe("reconnection", () => {
  for (const mode of Object.keys(MODES)) {
    test(`the official client reconnects after a server restart (${mode})`, async () => {
      let app = await startApp();
      const port = app.port;
      const socket = io(app.url, { ...MODES[mode], reconnectionDelay: 50, reconnectionDelayMax: 200 });
      try {
        await wait(socket, "hello");
        if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
          await wait(socket.io.engine, "upgrade");
        }
        const firstId = socket.id;
        const dropped = wait(socket, "disconnect", 5000);
        await app.stop();
        const [reason] = await dropped;
        assert.ok(["transport close", "transport error"].includes(reason), reason);
        app = await startApp({ port });
        const [hello] = await wait(socket, "hello", 10_000);
        assert.equal(hello.id, socket.id);
        assert.notEqual(socket.id, firstId);
        assert.equal(await socket.timeout(2000).emitWithAck("echo", "back"), "back");
      } finally {
        socket.disconnect();
        await app.stop();
      }
    });
  }
});

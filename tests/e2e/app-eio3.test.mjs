// The `switchboard` binary with `--allow-eio3`: a socket.io-client v2 user chats with a v4 user
// (its `/chat` auth travels as the namespace query), over polling and over WebSocket; without
// the switch a v2 client is refused.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import ioV2 from "socket.io-client-v2";

import { chatClient, cleanup, request, startApp, waitFor } from "./lib/app.mjs";
import { within } from "./lib/eio.mjs";

let app;
let plain;
const sockets = [];

before(async () => {
  app = await startApp({ args: ["--allow-eio3", "--rate-limit", "1000", "--rate-burst", "1000"] });
  plain = await startApp();
});

after(async () => {
  for (const s of sockets) s.close();
  for (const a of [app, plain]) {
    if (!a) continue;
    const [code] = await a.stop();
    assert.equal(code, 0);
    cleanup(a.dataDir);
  }
});

/** A v2 user on `/chat`, with its `session` event. */
async function v2User(url, username, transports) {
  const socket = ioV2(`${url}/chat?username=${encodeURIComponent(username)}`, {
    transports,
    forceNew: true,
    reconnection: false,
  });
  sockets.push(socket);
  const session = await waitFor(socket, "session");
  return { socket, session };
}

/** An emit with an ack callback (the v2 client has no `emitWithAck`). */
const ask = (socket, event, arg) =>
  within(5000, new Promise((resolve) => socket.emit(event, arg, resolve)), `${event} ack`);

for (const transports of [["polling"], ["websocket"]]) {
  describe(`a socket.io-client v2 user over ${transports[0]}`, () => {
    test("joins a room and chats with a v4 user both ways", async () => {
      const name = `v2-${transports[0]}`;
      const room = `eio3-${transports[0]}`;
      const old = await v2User(app.url, name, transports);
      assert.equal(old.session.userId, name);
      const bob = await chatClient(app.url, `bob-${transports[0]}`);
      sockets.push(bob.socket);
      assert.equal((await ask(old.socket, "room:join", { roomId: room })).ok, true);
      assert.equal((await request(bob.socket, "room:join", { roomId: room })).ok, true);

      const oldGets = waitFor(old.socket, "message:new");
      const sent = await request(bob.socket, "message:send", { roomId: room, text: "hi v2", clientId: "b1" });
      assert.equal(sent.ok, true);
      assert.equal((await oldGets).text, "hi v2");

      const bobGets = waitFor(bob.socket, "message:new");
      const back = await ask(old.socket, "message:send", { roomId: room, text: "hi v4 é😀", clientId: "o1" });
      assert.equal(back.ok, true);
      const got = await bobGets;
      assert.equal(got.text, "hi v4 é😀");
      assert.equal(got.username, name);
    });
  });
}

test("without --allow-eio3 a v2 client is refused", async () => {
  const socket = ioV2(`${plain.url}/chat?username=nope`, { transports: ["polling"], forceNew: true, reconnection: false });
  sockets.push(socket);
  await waitFor(socket, "connect_error");
  assert.equal(socket.connected, false);
});

// `/sse` read by the browser's own `EventSource` in headless Chromium: a chat room's
// `message:new`, sent by an official socket.io-client user, arrives as events; when the
// connection is cut (through a relay) the browser reconnects by itself with `Last-Event-ID`,
// and what the room got meanwhile is replayed from the recovery log, nothing lost or doubled.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { launch } from "./lib/app-browser.mjs";
import { chatClient, cleanup, request, startApp } from "./lib/app.mjs";
import { startRelay } from "./lib/relay.mjs";

let app;
let browser;
let relay;
let ann;

before(async () => {
  app = await startApp();
  relay = await startRelay(app.port);
  browser = await launch();
});
after(async () => {
  ann?.close();
  await browser?.close();
  await relay?.close();
  await app?.stop();
  cleanup(app.dataDir);
});

/** A port nothing listens on (bound, then released). */
async function deadPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function send(texts, room) {
  for (const text of texts) {
    const ack = await request(ann, "message:send", { roomId: room, text, clientId: `${text}-id` });
    assert.equal(ack.ok, true, JSON.stringify(ack));
  }
}

test("EventSource gets room broadcasts and, after a cut, resumes from its last id with nothing lost", async () => {
  const room = "browser-sse";
  ({ socket: ann } = await chatClient(app.url, "ann-browser-sse"));
  await request(ann, "room:join", { roomId: room });

  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  // Same origin as the stream, through the relay.
  await page.goto(relay.url + "/healthz");
  await page.evaluate((room) => {
    window.got = [];
    window.opens = 0;
    window.missed = 0;
    const es = new EventSource(`/sse?namespace=/chat&rooms=${room}&username=viewer`);
    window.es = es;
    es.onopen = () => window.opens++;
    es.addEventListener("message:new", (e) => {
      const [message] = JSON.parse(e.data);
      window.got.push({ id: e.lastEventId, text: message.text });
    });
    es.addEventListener("sse.missed", () => window.missed++);
  }, room);
  await page.waitForFunction(() => window.opens === 1 && window.es.readyState === 1, null, { timeout: 10_000 });

  await send(["b1", "b2", "b3"], room);
  await page.waitForFunction(() => window.got.length === 3, null, { timeout: 10_000 });

  // The cut: every connection through the relay is closed, and reconnections fail until the
  // relay points at the server again; the room goes on meanwhile.
  relay.retarget(await deadPort());
  relay.drop();
  await page.waitForFunction(() => window.es.readyState === 0, null, { timeout: 10_000 });
  await send(["b4", "b5", "b6"], room);
  relay.retarget(app.port);
  await page.waitForFunction(() => window.opens >= 2 && window.es.readyState === 1, null, { timeout: 20_000 });
  await send(["b7"], room);
  await page.waitForFunction(() => window.got.length >= 7, null, { timeout: 10_000 });

  const got = await page.evaluate(() => window.got);
  assert.deepEqual(got.map((m) => m.text), ["b1", "b2", "b3", "b4", "b5", "b6", "b7"]);
  const ids = got.map((m) => m.id);
  assert.ok(ids.every((id) => id.length > 0), JSON.stringify(ids));
  assert.equal(new Set(ids).size, ids.length, "every id once");
  assert.equal(await page.evaluate(() => window.missed), 0);
  await page.evaluate(() => window.es.close());
  assert.deepEqual(errors, []);
});

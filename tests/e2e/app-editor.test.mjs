// The collaborative editor of the `switchboard` binary (/editor): the Yjs sync protocol with
// real Y.Docs over the official socket.io-client, error acks and limits, awareness, a late
// joiner, a restart (the document survives, compacted or not), and convergence of 5 clients
// making random concurrent edits across disconnects, for many seeds.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, connect, request, startApp, tempDataDir, waitFor } from "./lib/app.mjs";
import { SYNC, Y, YClient, awarenessMessage, readAwareness, readSync, syncMessage } from "./lib/yclient.mjs";

let app;
const clients = [];

before(async () => {
  app = await startApp();
});
after(async () => {
  for (const c of clients) c.close();
  await app.stop();
  cleanup(app.dataDir);
});

async function client(docId, name, url = app.url) {
  const c = new YClient(url, docId, name);
  clients.push(c);
  return c.start();
}

test("join answers with the limits; bad requests get clear error acks", async () => {
  const s = await connect(app.url, "/editor", { username: "errs" });
  try {
    const joined = request(s, "editor:join", { docId: "limits" });
    const step1 = await waitFor(s, "editor:sync");
    assert.equal(step1.docId, "limits");
    assert.equal(readSync(step1.data).type, SYNC.STEP1, "the server opens with its state vector");
    const res = await joined;
    assert.equal(res.ok, true);
    assert.deepEqual(res.limits, { maxMessageBytes: 65536, maxDocumentBytes: 524288 });

    const code = async (event, payload) => {
      const r = await request(s, event, payload);
      assert.equal(r.ok, false, JSON.stringify(r));
      return r.error.code;
    };
    assert.equal(await code("editor:join", { docId: "has space" }), "invalid_document");
    assert.equal(await code("editor:join", {}), "invalid_payload");
    const update = syncMessage(SYNC.UPDATE, new Uint8Array([0, 0]));
    assert.equal(await code("editor:sync", { docId: "other", data: update }), "not_joined");
    assert.equal(await code("editor:sync", { docId: "limits", data: "text" }), "invalid_payload");
    assert.equal(await code("editor:sync", { docId: "limits", data: new Uint8Array([9, 9, 9]) }), "invalid_message");
    assert.equal(await code("editor:sync", { docId: "limits", data: syncMessage(SYNC.UPDATE, new Uint8Array([1, 2, 3])) }), "invalid_update");
    const big = await request(s, "editor:sync", { docId: "limits", data: new Uint8Array(65537) });
    assert.equal(big.error.code, "payload_too_large");
    assert.equal(big.error.maxBytes, 65536);
    assert.match(big.error.message, /at most 65536 bytes/);
    assert.equal(await code("editor:awareness", { docId: "limits", data: syncMessage(SYNC.UPDATE, new Uint8Array([0, 0])) }), "invalid_message");
    assert.equal(await code("editor:leave", { docId: "nowhere" }), "not_joined");
  } finally {
    s.close();
  }
});

test("a document grows to its limit, then edits are refused with document_too_large", async () => {
  const a = await client("big", "ann");
  const chunk = "x".repeat(60_000);
  let refused = null;
  for (let i = 0; i < 12 && !refused; i++) {
    a.text.insert(a.text.length, chunk);
    await a.settle();
    refused = a.errors.find((e) => e.code === "document_too_large") ?? null;
  }
  assert.ok(refused, "the limit was reached");
  assert.equal(refused.maxBytes, 524288);
  assert.match(refused.message, /limit of 524288 bytes/);
  // What was accepted is what a late joiner gets.
  const late = await client("big", "late");
  assert.ok(late.toString().length >= 480_000 && late.toString().length < 524_288, `${late.toString().length}`);
  assert.equal(late.toString().length % 60_000, 0);
});

test("edits reach the other members; a late joiner gets the state; awareness is relayed and removed on leave", async () => {
  const a = await client("shared", "ann");
  const b = await client("shared", "bob");
  const seen = new Promise((resolve) => b.text.observe(() => { if (b.toString() === "hello world") resolve(); }));
  a.text.insert(0, "hello world");
  await seen;

  const late = await client("shared", "cat");
  assert.equal(late.toString(), "hello world");

  // Awareness: relayed to the others, given to a later joiner, removed when its socket goes.
  const relayed = waitFor(b.socket, "editor:awareness");
  const state = { user: { name: "ann", color: "#1f5fbf" }, cursor: null };
  a.socket.emit("editor:awareness", { docId: "shared", data: awarenessMessage([[a.doc.clientID, 1, state]]) });
  const got = await relayed;
  assert.deepEqual(readAwareness(got.data), [[a.doc.clientID, 1, state]]);
  const s = await connect(app.url, "/editor", { username: "dan" });
  const states = waitFor(s, "editor:awareness");
  await request(s, "editor:join", { docId: "shared" });
  assert.deepEqual(readAwareness((await states).data), [[a.doc.clientID, 1, state]]);
  const removed = waitFor(b.socket, "editor:awareness");
  a.close();
  assert.deepEqual(readAwareness((await removed).data), [[a.doc.clientID, 2, null]]);
  s.close();
});

test("restart: the document survives (compacted snapshot plus logged updates)", async () => {
  const dataDir = tempDataDir();
  let server = await startApp({ dataDir });
  try {
    const a = await client("durable", "ann", server.url);
    // Past the compaction threshold (100 logged updates), then a few more in the log.
    for (let i = 0; i < 130; i++) {
      a.text.insert(a.text.length, `${i},`);
      await a.settle();
    }
    a.text.delete(0, 2);
    await a.settle();
    assert.deepEqual(a.errors, []);
    const expected = a.toString();
    a.close();
    await server.kill9();
    server = await startApp({ dataDir });
    const b = await client("durable", "bob", server.url);
    assert.equal(b.toString(), expected);
    // And it goes on from there.
    b.text.insert(0, "again ");
    await b.settle();
    b.close();
    await server.stop();
    server = await startApp({ dataDir });
    const c = await client("durable", "cat", server.url);
    assert.equal(c.toString(), "again " + expected);
    c.close();
  } finally {
    await server.stop();
    cleanup(dataDir);
  }
});

test("offline edits merge on reconnect", async () => {
  const a = await client("offline", "ann");
  const b = await client("offline", "bob");
  a.text.insert(0, "base");
  await a.settle();
  await b.pull();
  assert.equal(b.toString(), "base");
  b.disconnect();
  b.text.insert(4, " from bob offline");
  a.text.insert(0, "ann: ");
  await a.settle();
  await b.reconnect();
  await a.pull();
  assert.equal(a.toString(), b.toString());
  assert.equal(a.toString(), "ann: base from bob offline");
});

/** A seeded PRNG (mulberry32). */
function prng(seed) {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = 20;

test(`5 clients making random concurrent edits across reconnects converge (${SEEDS} seeds)`, { timeout: 240_000 }, async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rand = prng(seed);
    const int = (n) => Math.floor(rand() * n);
    const docId = `converge-${seed}`;
    const group = [];
    for (let i = 0; i < 5; i++) group.push(await client(docId, `u${i}`));
    const reconnects = [];
    for (let round = 0; round < 25; round++) {
      for (const c of group) {
        const len = c.text.length;
        if (len > 0 && rand() < 0.35) {
          const at = int(len);
          c.text.delete(at, 1 + int(Math.min(5, len - at)));
        } else {
          const word = String.fromCharCode(97 + int(26)).repeat(1 + int(4));
          c.text.insert(int(len + 1), word);
        }
        // Now and then a client drops and comes back a few rounds later, editing meanwhile.
        if (c.socket.connected && rand() < 0.04) {
          c.disconnect();
          const back = round + 1 + int(4);
          reconnects.push({ c, back });
        }
      }
      for (const r of reconnects.filter((r) => r.back === round)) await r.c.reconnect();
      // Let the network interleave the rounds a little.
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const c of group) if (!c.socket.connected) await c.reconnect();
    for (const c of group) await c.settle();
    for (const c of group) await c.pull();
    const texts = group.map((c) => c.toString());
    for (const [i, t] of texts.entries()) assert.equal(t, texts[0], `seed ${seed}: client ${i} differs`);
    const late = await client(docId, "late");
    assert.equal(late.toString(), texts[0], `seed ${seed}: a late joiner differs`);
    // The server's state is a Yjs document equal to the clients'.
    const check = new Y.Doc();
    Y.applyUpdate(check, Y.encodeStateAsUpdate(late.doc));
    assert.equal(check.getText("text").toString(), texts[0]);
    for (const c of [...group, late]) c.close();
  }
});

test("with --parser msgpack the Yjs messages travel as msgpack binary and documents still sync", async () => {
  const { default: msgpackParser } = await import("socket.io-msgpack-parser");
  const packed = await startApp({ args: ["--parser", "msgpack"] });
  try {
    const opts = { parser: msgpackParser };
    const a = new YClient(packed.url, "packed", "ann", opts);
    const b = new YClient(packed.url, "packed", "bob", opts);
    clients.push(a, b);
    await a.start();
    await b.start();
    const seen = new Promise((resolve) => b.text.observe(() => { if (b.toString() === "packed text") resolve(); }));
    a.text.insert(0, "packed text");
    await seen;
    await a.settle();
    assert.deepEqual(a.errors, []);
    a.close();
    b.close();
  } finally {
    await packed.stop();
    cleanup(packed.dataDir);
  }
});

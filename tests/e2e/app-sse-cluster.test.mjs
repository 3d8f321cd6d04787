// `/sse` in a cluster of two `switchboard` nodes on the Redis Streams adapter: a stream on one
// node gets the room messages sent through the other, and after a cut it resumes on the *other*
// node from its Last-Event-ID (the log is the Redis stream), nothing lost or doubled.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { chatClient, cleanup, request, startApp } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";
import { startRedis } from "./lib/redis.mjs";
import { openSse } from "./lib/sse.mjs";

let redis;
let pg;
const nodes = [];
const closers = [];

before(async () => {
  redis = await startRedis();
  pg = await startPostgres();
  const url = pg.database();
  const args = ["--database", url, "--redis", redis.url, "--adapter", "streams"];
  nodes.push(...(await Promise.all([startApp({ args }), startApp({ args })])));
});
after(async () => {
  for (const close of closers.reverse()) await close();
  for (const node of nodes) {
    await node.stop();
    cleanup(node.dataDir);
  }
  await pg?.stop();
  await redis?.stop();
});

test("a stream gets the other node's room messages and resumes on the other node after a cut", async () => {
  const [n0, n1] = nodes;
  const room = "sse-cluster";
  const { socket: ann } = await chatClient(n0.url, "ann-sse-cluster", { transports: ["websocket"] });
  closers.push(async () => ann.close());
  await request(ann, "room:join", { roomId: room });
  const send = async (text) => {
    const ack = await request(ann, "message:send", { roomId: room, text, clientId: text });
    assert.equal(ack.ok, true, JSON.stringify(ack));
  };
  const path = `/sse?namespace=/chat&rooms=${room}&username=reader`;
  // The next `message:new` (presence updates may come in between).
  const nextMessage = async (s, ms) => {
    for (;;) {
      const e = await s.nextEvent(ms);
      assert.ok(e, "the stream ended early");
      if (e.event === "message:new") return e;
    }
  };
  const s1 = await openSse(n1.url + path);
  closers.push(async () => s1.close());
  assert.deepEqual(await s1.next(), { comment: "subscribed" });
  // Node 1 reads the stream from where it was when its reader started: warm-up messages until
  // one arrives, then up to the last one sent.
  let warm = 0;
  let seen = null;
  while (seen === null) {
    assert.ok(warm < 50, "node 1 never got node 0's messages");
    await send(`warm-${++warm}`);
    try {
      seen = await nextMessage(s1, 200);
    } catch {
      // Nothing yet: another one.
    }
  }
  const text = (e) => JSON.parse(e.data)[0].text;
  while (text(seen) !== `warm-${warm}`) seen = await nextMessage(s1);
  await send("c1");
  await send("c2");
  const got = [await nextMessage(s1), await nextMessage(s1)];
  assert.deepEqual(got.map(text), ["c1", "c2"]);
  const last = got[1].id;
  assert.match(last, /^\d+-\d+$/, "a Redis stream id");
  s1.close();
  await send("c3");
  await send("c4");
  const s0 = await openSse(n0.url + path, { "last-event-id": last });
  closers.push(async () => s0.close());
  assert.deepEqual(await s0.next(), { comment: "subscribed" });
  await send("c5");
  const rest = [await nextMessage(s0), await nextMessage(s0), await nextMessage(s0)];
  assert.deepEqual(rest.map(text), ["c3", "c4", "c5"]);
  assert.equal(new Set([...got, ...rest].map((e) => e.id)).size, 5, "every id once");
  s0.close();
});

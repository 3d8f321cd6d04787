// The editor across two nodes of a cluster (one Redis, one PostgreSQL): users of one document
// on different nodes see each other's edits, a later joiner on either node gets everything
// stored, and both nodes compacting the document lose nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, startApp } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";
import { startRedis } from "./lib/redis.mjs";
import { YClient } from "./lib/yclient.mjs";

let redis;
let pg;
const nodes = [];
const clients = [];

before(async () => {
  redis = await startRedis();
  pg = await startPostgres();
  const args = ["--database", pg.database(), "--redis", redis.url, "--adapter", "redis"];
  nodes.push(...(await Promise.all([0, 1].map(() => startApp({ args })))));
});
after(async () => {
  for (const c of clients) c.close();
  for (const n of nodes) {
    await n.stop();
    cleanup(n.dataDir);
  }
  await pg?.stop();
  await redis?.stop();
});

async function client(node, name, docId = "cluster-doc") {
  const c = new YClient(node.url, docId, name);
  clients.push(c);
  return c.start();
}

async function eventually(pred, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("two nodes: live edits cross, later joiners get everything, compaction on both loses nothing", async () => {
  const [one, two] = nodes;
  const a = await client(one, "ann");
  const b = await client(two, "bob");
  a.text.insert(0, "from one. ");
  await a.settle();
  await eventually(() => b.toString() === "from one. ", "bob sees ann's edit across nodes");
  b.text.insert(b.text.length, "from two.");
  await b.settle();
  await eventually(() => a.toString() === "from one. from two.", "ann sees bob's edit across nodes");

  // A later joiner on each node gets what the other node stored.
  const c = await client(two, "cat");
  assert.equal(c.toString(), "from one. from two.");
  const d = await client(one, "dan");
  assert.equal(d.toString(), "from one. from two.");

  // Past the compaction threshold (100 logged updates) on both nodes, in turns.
  for (let i = 0; i < 250; i++) {
    const [who, tag] = i % 2 ? [b, "b"] : [a, "a"];
    who.text.insert(who.text.length, `${tag}${i} `);
    await who.settle();
  }
  await a.pull();
  await b.pull();
  assert.equal(a.toString(), b.toString());
  const expected = a.toString();
  for (const x of [a, b, d]) x.close();

  // A joiner on a node that kept the document in memory (cat is still there) gets what the
  // other node compacted away from the log, through its snapshot.
  const e = await client(two, "eve");
  assert.equal(e.toString(), expected);
  e.close();
  c.close();
  // And a fresh load on the other node.
  const f = await client(one, "fay");
  assert.equal(f.toString(), expected);
  f.close();
});

test("the dashboard of a cluster node shows PostgreSQL and the Redis adapter's link", async () => {
  const { connect, request } = await import("./lib/app.mjs");
  const s = await connect(nodes[0].url, "/dashboard", { username: "ops" });
  try {
    const res = await request(s, "dashboard:subscribe", {});
    assert.equal(res.ok, true);
    assert.deepEqual(res.sample.store.backend, "postgres");
    assert.equal(res.sample.store.ok, true);
    assert.deepEqual({ kind: res.sample.adapter.kind, link: res.sample.adapter.link }, { kind: "redis", link: "connected" });
    assert.equal(typeof res.sample.adapter.queued, "number");
  } finally {
    s.close();
  }
});

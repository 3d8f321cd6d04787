// The jitter test: 200 official clients in one room, each one's connection cut for ~2 s at
// random about every 15 s over a minute while the server broadcasts 20 ticks/s: every tick
// arrives, none twice, in order, and every reconnection is recovered.
import { test } from "node:test";
import assert from "node:assert/strict";

import { runJitter } from "./lib/jitter.mjs";

test("jitter: 200 clients, ~2 s cuts every ~15 s, 20 msg/s for 60 s: 100 %, none twice, in order", { timeout: 150_000 }, async (t) => {
  const r = await runJitter({ halfOpen: false });
  const { peers, ...summary } = r;
  t.diagnostic(`jitter ${JSON.stringify(summary)}`);
  assert.equal(r.duplicates, 0, "duplicates");
  assert.equal(r.outOfOrder, 0, "out of order");
  assert.equal(r.delivered, r.expected, "delivery");
  assert.equal(r.complete, r.clients);
  assert.ok(r.cuts >= r.clients * 3, `cuts ${r.cuts}`);
  assert.equal(r.reconnections, r.cuts, "one reconnection per cut");
  assert.equal(r.recovered, r.reconnections, "every reconnection recovered");
});

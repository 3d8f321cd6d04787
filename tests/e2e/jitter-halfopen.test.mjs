// The jitter test with half-open drops: the relay freezes a client's connection for ~2 s (no
// FIN or RST reaches the server), then the client reconnects while the server still holds the
// old connection. The new connection takes the session over: every tick arrives once, in
// order, and every reconnection is recovered.
import { test } from "node:test";
import assert from "node:assert/strict";

import { runJitter } from "./lib/jitter.mjs";

test("jitter with half-open drops: 100 %, none twice, in order, every reconnection recovered", { timeout: 150_000 }, async (t) => {
  const r = await runJitter({ halfOpen: true, seed: 7 });
  const { peers, ...summary } = r;
  t.diagnostic(`jitter-halfopen ${JSON.stringify(summary)}`);
  assert.equal(r.duplicates, 0, "duplicates");
  assert.equal(r.outOfOrder, 0, "out of order");
  assert.equal(r.delivered, r.expected, "delivery");
  assert.equal(r.complete, r.clients);
  assert.ok(r.cuts >= r.clients * 3, `cuts ${r.cuts}`);
  assert.equal(r.reconnections, r.cuts, "one reconnection per cut");
  assert.equal(r.recovered, r.reconnections, "every reconnection recovered");
});

// The jitter tests: 200 official clients in one room of the `jitter` example, each one's
// connection cut for ~2 s at random about every 15 s over a minute while the server broadcasts
// 20 ticks/s: every tick arrives, none twice, in order, and every reconnection is recovered.
// Two variants run side by side (each against its own server): cuts the server sees at once
// (both sides closed), and half-open drops (the relay freezes the connection, no FIN or RST
// reaches the server, then the client reconnects while the server still holds the old
// connection, which the new one takes over).
import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { runJitter } from "./lib/jitter.mjs";

function check(r) {
  assert.equal(r.duplicates, 0, "duplicates");
  assert.equal(r.outOfOrder, 0, "out of order");
  assert.equal(r.delivered, r.expected, "delivery");
  assert.equal(r.complete, r.clients);
  assert.ok(r.cuts >= r.clients * 3, `cuts ${r.cuts}`);
  assert.equal(r.reconnections, r.cuts, "one reconnection per cut");
  assert.equal(r.recovered, r.reconnections, "every reconnection recovered");
}

describe("jitter", { concurrency: true }, () => {
  test("200 clients, ~2 s cuts every ~15 s, 20 msg/s for 60 s: 100 %, none twice, in order", { timeout: 150_000 }, async (t) => {
    const { peers, ...r } = await runJitter({ halfOpen: false });
    t.diagnostic(`jitter ${JSON.stringify(r)}`);
    check(r);
  });

  test("the same with half-open drops: every reconnection takes its session over", { timeout: 150_000 }, async (t) => {
    const { peers, ...r } = await runJitter({ halfOpen: true, seed: 7 });
    t.diagnostic(`jitter-halfopen ${JSON.stringify(r)}`);
    check(r);
  });
});

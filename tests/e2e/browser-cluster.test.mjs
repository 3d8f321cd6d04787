// The chat page in headless Chromium on a cluster: two `switchboard` nodes on one Redis and
// one PostgreSQL database, one tab on each node. The online list, the typing line, messages
// and read ticks all cross nodes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { artifactsDir, launch, openChat } from "./lib/app-browser.mjs";
import { cleanup, startApp } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";
import { startRedis } from "./lib/redis.mjs";

const texts = (page) => page.locator("#messages li .text").allTextContents();

describe("chat page on two nodes of a cluster", () => {
  let redis;
  let pg;
  let browser;
  const nodes = [];

  before(async () => {
    redis = await startRedis();
    pg = await startPostgres();
    const args = ["--database", pg.database(), "--redis", redis.url, "--presence-ttl-ms", "2000", "--presence-grace-ms", "500"];
    nodes.push(...(await Promise.all([startApp({ args }), startApp({ args })])));
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    for (const node of nodes) {
      await node.stop();
      cleanup(node.dataDir);
    }
    await pg?.stop();
    await redis?.stop();
  });

  test("a tab on each node: online list, typing line, messages and read ticks", async () => {
    const [n0, n1] = nodes;
    const alice = await openChat(browser.context, n0.url, "alice");
    const bob = await openChat(browser.context, n1.url, "bob");
    const a = alice.page;
    const b = bob.page;

    // Each tab lists the user of the other node.
    await a.locator("#online li", { hasText: "bob" }).waitFor();
    await b.locator("#online li", { hasText: "alice" }).waitFor();

    await a.locator("#text").pressSequentially("Hello from node 0", { delay: 5 });
    await b.locator("#typing", { hasText: "alice is typing…" }).waitFor();
    await a.getByRole("button", { name: "Send", exact: true }).click();
    await b.locator("#messages li .text", { hasText: "Hello from node 0" }).waitFor();
    await b.locator("#typing").filter({ hasText: /^$/ }).waitFor();
    // Bob's tab reads it on node 1: the read tick shows in Alice's tab on node 0.
    await a.locator('#messages li.mine .ticks[data-status="read"]').waitFor();

    await b.locator("#text").fill("Hi from node 1");
    await b.locator("#text").press("Enter");
    await a.locator("#messages li .text", { hasText: "Hi from node 1" }).waitFor();
    await b.locator('#messages li.mine .ticks[data-status="read"]').waitFor();

    const expected = ["Hello from node 0", "Hi from node 1"];
    for (const page of [a, b]) {
      await page.locator("#messages li[data-client-id]:not([data-message-id])").waitFor({ state: "detached" });
      assert.deepEqual(await texts(page), expected);
    }
    await a.screenshot({ path: join(artifactsDir(), "chat-cluster.png"), fullPage: true });

    // Bob closes his tab: Alice's online list drops him.
    await b.close();
    await a.locator("#online li", { hasText: "bob" }).waitFor({ state: "detached" });
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

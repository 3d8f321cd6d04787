// The auction page of the `switchboard` binary in headless Chromium: a seller starts an
// auction, two bidders outbid each other live, a too-low bid shows its error, the page shows
// the reconnection across a server restart and keeps the history, and the end shows the
// winner. Screenshots go to target/e2e-artifacts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch } from "./lib/app-browser.mjs";
import { cleanup, startApp, tempDataDir } from "./lib/app.mjs";

let app;
let browser;
let dataDir;
const args = ["--auction-extend-ms", "0"];

before(async () => {
  dataDir = tempDataDir();
  app = await startApp({ dataDir, args });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await app?.stop();
  cleanup(dataDir);
});

async function enter(name) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(app.url + "/auction");
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Enter" }).click();
  await page.locator("#connection", { hasText: "Connected" }).waitFor();
  return { page, errors };
}

async function placeBid(page, dollars) {
  await page.locator("#bid-amount").fill(String(dollars));
  await page.getByRole("button", { name: "Place bid" }).click();
}

test("two bidders outbid each other live, across a restart, until the end", async () => {
  const alice = await enter("alice");
  const bob = await enter("bob");
  const a = alice.page;
  const b = bob.page;
  // Alice sells: the auction runs 40 s, long enough for the restart below.
  await a.locator("#new-auction summary").click();
  await a.getByLabel("What are you selling?").fill("Vintage road bike");
  await a.getByLabel("Starting price ($)").fill("120");
  await a.getByLabel("Increment ($)").fill("5");
  await a.getByLabel("Runs for (minutes)").fill("0.5");
  await a.getByRole("button", { name: "Start the auction" }).click();
  await a.locator("#lot-name", { hasText: "Vintage road bike" }).waitFor();
  await a.locator("#minimum", { hasText: "This is your auction." }).waitFor();

  // Bob sees it appear and opens it.
  await b.locator("#auctions button", { hasText: "Vintage road bike" }).click();
  await b.locator("#minimum", { hasText: "Minimum bid: $120.00" }).waitFor();
  await placeBid(b, 120);
  await a.locator("#price", { hasText: "$120.00" }).waitFor();
  await a.locator("#leader", { hasText: "Highest bid by bob" }).waitFor();
  await b.locator("#leader", { hasText: "bob (you)" }).waitFor();

  // A third user bids from another tab.
  const carol = await enter("carol");
  const c = carol.page;
  await c.locator("#auctions button", { hasText: "Vintage road bike" }).click();
  await c.locator("#minimum", { hasText: "$125.00" }).waitFor();
  await placeBid(c, 124);
  await c.locator("#bid-error", { hasText: "$125.00" }).waitFor();
  await placeBid(c, 130);
  await b.locator("#price", { hasText: "$130.00" }).waitFor();
  await b.locator("#bids li").first().filter({ hasText: "carol" }).waitFor();
  await placeBid(b, 140);
  await c.locator("#price", { hasText: "$140.00" }).waitFor();
  await b.screenshot({ path: join(artifactsDir(), "auction.png") });

  // Restart: the pages show the reconnection, then the same history.
  await app.stop();
  await b.locator("#connection", { hasText: "Reconnecting" }).waitFor();
  app = await startApp({ port: app.port, dataDir, args });
  await b.locator("#connection", { hasText: "Connected" }).waitFor({ timeout: 20_000 });
  await c.locator("#connection", { hasText: "Connected" }).waitFor({ timeout: 20_000 });
  await c.locator("#bids li").nth(2).waitFor();
  assert.deepEqual(
    await c.locator("#bids li .amount").allTextContents(),
    ["$140.00", "$130.00", "$120.00"],
  );
  await placeBid(c, 150);
  await b.locator("#price", { hasText: "$150.00" }).waitFor();

  // The end: everyone sees the winner.
  await a.locator("#leader", { hasText: "Won by carol" }).waitFor({ timeout: 45_000 });
  await b.locator("#leader", { hasText: "Won by carol" }).waitFor({ timeout: 5_000 });
  await c.locator("#minimum", { hasText: "This auction has ended." }).waitFor();
  assert.equal(await c.locator("#countdown").textContent(), "Ended");

  await c.setViewportSize({ width: 390, height: 800 });
  await c.screenshot({ path: join(artifactsDir(), "auction-phone.png"), fullPage: true });
  const width = await c.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scroll on a phone (${width}px)`);
  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
});

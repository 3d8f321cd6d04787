// The dashboard page of the `switchboard` binary in headless Chromium: the tiles and the
// hand-drawn charts update from the pushed samples, the numbers follow what other clients do,
// the page shows its connection state and fits a phone-sized screen.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch } from "./lib/app-browser.mjs";
import { cleanup, connect, startApp } from "./lib/app.mjs";

let app;
let browser;

before(async () => {
  app = await startApp();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await app?.stop();
  cleanup(app.dataDir);
});

async function openDashboard(viewport) {
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(app.url + "/dashboard");
  await page.getByLabel("Your name").fill("ops");
  await page.getByRole("button", { name: "Open the dashboard" }).click();
  await page.locator("#board").waitFor({ state: "visible" });
  await page.locator('#connection[data-state="connected"]').waitFor();
  return { page, errors };
}

/** How many pixels of `canvas` are drawn (not transparent). */
const inked = (page, id) =>
  page.locator(`#${id}`).evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });

/** The number of samples the page has drawn. */
const drawn = (page) => page.evaluate(() => window.dashboardSamples.length);

test("the charts and tiles update from the pushed samples and follow other clients", async () => {
  const { page, errors } = await openDashboard();
  await page.waitForFunction(() => window.dashboardSamples.length >= 3, null, { timeout: 10_000 });
  const before = await page.evaluate(() => window.dashboardSamples.at(-1));
  const inkBefore = await inked(page, "c-messages");
  assert.ok(inkBefore > 0, "the messages chart is drawn");

  // Other clients connect and talk: the tiles show them.
  const others = [];
  for (let i = 0; i < 3; i++) others.push(await connect(app.url, "/notifications", { username: `b${i}` }, { transports: ["websocket"] }));
  for (let m = 0; m < 30; m++) others[m % 3].emit("dash:ping", m);
  const want = before.connections.total + 3;
  await page.locator("#v-connections", { hasText: new RegExp(`^${want}$`) }).waitFor({ timeout: 10_000 });
  await page.waitForFunction((total) => window.dashboardSamples.at(-1).messages.inTotal >= total, before.messages.inTotal + 30, { timeout: 10_000 });
  const after = await page.evaluate(() => window.dashboardSamples.at(-1));
  assert.equal(after.messages.inTotal - before.messages.inTotal, 30);
  assert.match(await page.locator("#v-in-total").textContent(), new RegExp(`^${after.messages.inTotal} in total$`));
  await page.locator("#namespaces tr", { hasText: "/notifications" }).waitFor();
  assert.match(await page.locator("#v-store").textContent(), /^sqlite · ok$/);
  assert.match(await page.locator("#v-rss").textContent(), /MB$/);
  // Some more traffic, a few samples later: the lines move.
  for (let m = 0; m < 12; m++) others[m % 3].emit("dash:ping", m);
  const n = await drawn(page);
  await page.waitForFunction((k) => window.dashboardSamples.length > k + 3, n, { timeout: 10_000 });
  assert.notEqual(await inked(page, "c-connections"), 0);
  await page.screenshot({ path: join(artifactsDir(), "dashboard.png"), fullPage: true });
  for (const o of others) o.close();

  // A phone-sized screen: nothing overflows sideways, the charts are drawn.
  const phone = await openDashboard({ width: 390, height: 800 });
  await phone.page.waitForFunction(() => window.dashboardSamples.length >= 2, null, { timeout: 10_000 });
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page wider than the screen by ${overflow}px`);
  assert.ok((await inked(phone.page, "c-cpu")) > 0);
  await phone.page.screenshot({ path: join(artifactsDir(), "dashboard-phone.png"), fullPage: true });
  assert.deepEqual([...errors, ...phone.errors].map(String), []);
});

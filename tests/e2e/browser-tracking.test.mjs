// The order tracking page in headless Chromium: a status posted over HTTP appears on the
// timeline, and a courier's marker moves on the map; the same on a phone-sized screen.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch } from "./lib/app-browser.mjs";
import { cleanup, startApp } from "./lib/app.mjs";

const KEY = "browser-tracking-key";
let app;
let browser;

before(async () => {
  app = await startApp({ args: ["--api-key", KEY] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await app?.stop();
  cleanup(app.dataDir);
});

function post(path, body) {
  return fetch(app.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
}

async function openOrder(orderId, viewport) {
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(app.url + "/tracking");
  await page.getByLabel("Your name").fill("paula");
  await page.getByLabel("Order number").fill(orderId);
  await page.getByRole("button", { name: "Track" }).click();
  await page.locator("#order-view").waitFor({ state: "visible" });
  await page.locator("#connection[data-state='connected']").waitFor();
  return { page, errors };
}

test("a status from the HTTP API appears on the timeline and the courier's marker moves", async () => {
  assert.equal((await post("/api/orders/B100/status", { status: "placed", note: "2 × margherita" })).status, 200);
  const { page, errors } = await openOrder("B100");
  await page.locator("#timeline li[data-status='placed']").waitFor();
  assert.equal(await page.locator("#status").textContent(), "Order placed");

  assert.equal((await post("/api/orders/B100/status", { status: "confirmed", note: "<b>ready in 10 min</b>" })).status, 200);
  await page.locator("#timeline li[data-status='confirmed']", { hasText: "<b>ready in 10 min</b>" }).waitFor();
  await page.locator("#status", { hasText: "Confirmed by the shop" }).waitFor();
  assert.equal(await page.locator("#timeline b").count(), 0, "HTML must not be interpreted");

  // A slow courier: its marker appears and moves on the map.
  assert.equal((await post("/api/orders/B100/courier", { speed: 200, intervalMs: 100 })).status, 202);
  await page.locator("#timeline li[data-status='out_for_delivery']").waitFor();
  const marker = page.locator("#courier");
  await marker.waitFor({ state: "visible" });
  const where = async () => marker.evaluate((m) => `${m.dataset.x},${m.dataset.y}`);
  const first = await where();
  await page.waitForFunction((was) => {
    const m = document.getElementById("courier");
    return `${m.dataset.x},${m.dataset.y}` !== was;
  }, first);
  assert.notEqual(await where(), first);
  // The drawn marker follows (it glides between the steps).
  const drawnAt = await marker.getAttribute("transform");
  await page.waitForFunction((was) => document.getElementById("courier").getAttribute("transform") !== was, drawnAt);
  assert.notEqual(await page.locator("#route").getAttribute("points"), "");
  // Part of the way along for the screenshot.
  await page.waitForFunction(() => parseFloat(document.getElementById("progress").style.width) >= 35);
  await page.screenshot({ path: join(artifactsDir(), "tracking.png") });
  assert.deepEqual(errors, []);
  await page.close();
});

test("on a phone-sized screen the map and the timeline stack and the state is the latest", async () => {
  const { page, errors } = await openOrder("B100", { width: 390, height: 844 });
  await page.locator("#timeline li[data-status='out_for_delivery']").waitFor();
  const [map, timeline] = await Promise.all([
    page.locator(".map-card").boundingBox(),
    page.locator(".timeline-card").boundingBox(),
  ]);
  assert.ok(timeline.y >= map.y + map.height - 1, "the timeline goes under the map");
  assert.ok(map.width <= 390, `map width ${map.width}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scroll (${overflow}px)`);
  await page.screenshot({ path: join(artifactsDir(), "tracking-phone.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

// The notifications inbox page in headless Chromium: a notification posted over HTTP shows
// up live, the unread badge follows, and marking it read clears it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch } from "./lib/app-browser.mjs";
import { cleanup, startApp } from "./lib/app.mjs";

const KEY = "browser-key";
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

function notify(userId, title, body) {
  return fetch(app.url + "/api/notify", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ userId, title, body }),
  });
}

test("the inbox shows stored and live notifications and marks them read", async () => {
  assert.equal((await notify("nina", "Stored earlier", "waiting for you")).status, 200);
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(app.url + "/notifications");
  await page.getByLabel("Name").fill("nina");
  await page.getByRole("button", { name: "Open inbox" }).click();
  await page.locator("#items li", { hasText: "Stored earlier" }).waitFor();
  await page.locator("#unread", { hasText: /^1$/ }).waitFor();

  assert.equal((await notify("nina", "Live <i>one</i>", "just now")).status, 200);
  await page.locator("#items li strong", { hasText: "Live <i>one</i>" }).waitFor();
  await page.locator("#unread", { hasText: /^2$/ }).waitFor();
  assert.equal(await page.locator("#items i").count(), 0, "HTML must not be interpreted");
  await page.screenshot({ path: join(artifactsDir(), "notifications.png"), fullPage: true });

  await page.getByRole("button", { name: "Mark all read" }).click();
  await page.locator("#unread", { hasText: /^0$/ }).waitFor();
  await page.locator("#items li.unread").first().waitFor({ state: "detached" });
  assert.deepEqual(errors, []);
});

test("dev mode out of the box (no API key): two users, the test button, timestamps", async () => {
  const dev = await startApp();
  try {
    const open = async (name) => {
      const page = await browser.context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e));
      await page.goto(dev.url + "/notifications");
      await page.getByLabel("Name").fill(name);
      await page.getByRole("button", { name: "Open inbox" }).click();
      await page.locator('#connection[data-state="connected"]').waitFor();
      return { page, errors };
    };
    const olga = await open("olga");
    const piet = await open("piet");
    await olga.page.locator("#empty", { hasText: "No notifications yet" }).waitFor();
    await olga.page.getByRole("button", { name: "Send a test notification" }).click();
    const item = olga.page.locator("#items li", { hasText: "Test notification" });
    await item.waitFor();
    await olga.page.locator("#unread", { hasText: /^1$/ }).waitFor();
    const stamp = await item.locator("time").getAttribute("datetime");
    assert.ok(Math.abs(Date.parse(stamp) - Date.now()) < 60_000, stamp);
    assert.match(await item.locator("time").textContent(), /\d/);
    assert.equal(await olga.page.locator("#empty").isVisible(), false);
    await olga.page.screenshot({ path: join(artifactsDir(), "notifications-dev.png") });
    // A phone-sized screen: nothing wider than the screen, the buttons in view.
    await olga.page.setViewportSize({ width: 390, height: 760 });
    const fits = await olga.page.evaluate(() => document.scrollingElement.scrollWidth <= window.innerWidth);
    assert.equal(fits, true, "no horizontal scrolling on a phone");
    assert.ok(await olga.page.getByRole("button", { name: "Mark all read" }).isVisible());
    assert.ok(await olga.page.locator("#unread").isVisible(), "the unread count stays on a phone");
    await olga.page.screenshot({ path: join(artifactsDir(), "notifications-phone.png") });
    // Only the sender gets it.
    assert.equal(await piet.page.locator("#items li").count(), 0);
    assert.equal(await piet.page.locator("#unread").textContent(), "0");
    assert.deepEqual([...olga.errors, ...piet.errors], []);
  } finally {
    await dev.stop();
    cleanup(dev.dataDir);
  }
});

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

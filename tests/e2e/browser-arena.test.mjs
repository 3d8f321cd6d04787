// The arena page in headless Chromium: two players in two tabs see each other move.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch } from "./lib/app-browser.mjs";
import { cleanup, startApp } from "./lib/app.mjs";

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

async function play(name, viewport) {
  // A context of its own: the sign-in is kept per tab in sessionStorage.
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(app.url + "/arena");
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Arena", { exact: true }).fill("duel");
  await page.getByRole("button", { name: "Play" }).click();
  await page.locator("#connection[data-state='connected']").waitFor();
  await page.waitForFunction(() => window.arena.me !== null);
  return { page, errors };
}

/** The position `page` draws for player `id` (interpolated), or null. */
function drawn(page, id) {
  return page.evaluate((id) => {
    const p = window.arena.positions().get(id);
    return p ? { x: p.x, y: p.y } : null;
  }, id);
}

test("two players see each other, and each sees the other move", async () => {
  const a = await play("alma");
  const b = await play("ben", { width: 390, height: 844 });
  const idA = await a.page.evaluate(() => window.arena.me);
  const idB = await b.page.evaluate(() => window.arena.me);
  await a.page.locator("#players li", { hasText: "ben" }).waitFor();
  await b.page.locator("#players li", { hasText: "alma" }).waitFor();
  await a.page.waitForFunction((id) => window.arena.positions().has(id), idB);
  await b.page.waitForFunction((id) => window.arena.positions().has(id), idA);

  // ben holds "right" (the on-screen pad of the phone layout); alma sees him move right.
  const startB = await drawn(a.page, idB);
  await b.page.getByRole("button", { name: "Right" }).dispatchEvent("pointerdown");
  await a.page.waitForFunction(([id, x]) => {
    const p = window.arena.positions().get(id);
    return p && p.x > x + 40;
  }, [idB, startB.x]);
  await b.page.getByRole("button", { name: "Right" }).dispatchEvent("pointerup");

  // alma holds the down arrow; ben sees her move down.
  const startA = await drawn(b.page, idA);
  await a.page.locator("#field").click();
  await a.page.keyboard.down("ArrowDown");
  await b.page.waitForFunction(([id, y]) => {
    const p = window.arena.positions().get(id);
    return p && p.y > y + 40;
  }, [idA, startA.y]);
  await a.page.keyboard.up("ArrowDown");
  await a.page.screenshot({ path: join(artifactsDir(), "arena.png") });
  await b.page.screenshot({ path: join(artifactsDir(), "arena-phone.png"), fullPage: true });
  // The phone layout: the pad is there and nothing scrolls sideways.
  assert.ok(await b.page.getByRole("button", { name: "Up" }).isVisible());
  const overflow = await b.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scroll (${overflow}px)`);
  const rate = await a.page.locator("#hud-rate").textContent();
  assert.match(rate, /snapshots\/s/);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

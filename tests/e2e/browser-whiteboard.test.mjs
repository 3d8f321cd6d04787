// The whiteboard page of the `switchboard` binary in headless Chromium: two users draw on
// one board and see each other's strokes and cursors, undo, a restart keeps the board, a
// late joiner gets it, and clear empties it for everyone. Screenshots go to
// target/e2e-artifacts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch } from "./lib/app-browser.mjs";
import { cleanup, startApp, tempDataDir } from "./lib/app.mjs";

let app;
let browser;
let dataDir;

before(async () => {
  dataDir = tempDataDir();
  app = await startApp({ dataDir });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await app?.stop();
  cleanup(dataDir);
});

async function openBoard(name, board) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.on("dialog", (d) => d.accept());
  await page.goto(app.url + "/whiteboard");
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Board", { exact: true }).fill(board);
  await page.getByRole("button", { name: "Open the board" }).click();
  await page.locator("#connection", { hasText: "Connected" }).waitFor();
  await page.locator("#board-title", { hasText: board }).waitFor();
  return { page, errors };
}

/** Drags the mouse along `points` (fractions of the board). */
async function draw(page, points) {
  const box = await page.locator("#board").boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 8 });
  await page.mouse.up();
}

const strokes = (page, n) => page.locator(`#board[data-strokes="${n}"]`).waitFor();

test("two users draw together, see cursors, undo, keep the board across a restart, and clear it", async () => {
  const alice = await openBoard("alice", "design");
  const bob = await openBoard("bob", "design");
  const a = alice.page;
  const b = bob.page;

  await a.getByRole("radio", { name: "Red" }).click();
  await a.getByRole("radio", { name: "Thick" }).click();
  await draw(a, [[0.1, 0.2], [0.3, 0.6], [0.5, 0.3], [0.7, 0.7]]);
  await strokes(b, 1);
  await b.getByRole("radio", { name: "Blue" }).click();
  await draw(b, [[0.2, 0.8], [0.5, 0.85], [0.8, 0.75]]);
  await draw(b, [[0.75, 0.15], [0.9, 0.3]]);
  await strokes(a, 3);

  // Bob's pointer shows on Alice's board with his name.
  const box = await b.locator("#board").boundingBox();
  await b.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5, { steps: 5 });
  await a.locator('.cursor[data-user="bob"]', { hasText: "bob" }).waitFor();
  await a.screenshot({ path: join(artifactsDir(), "whiteboard.png") });

  // Undo takes Bob's own last stroke, on both pages.
  await b.getByRole("button", { name: "Undo" }).click();
  await strokes(b, 2);
  await strokes(a, 2);

  // Restart: the pages show the reconnection, then the same board.
  await app.stop();
  await a.locator("#connection", { hasText: "Reconnecting" }).waitFor();
  app = await startApp({ port: app.port, dataDir });
  await a.locator("#connection", { hasText: "Connected" }).waitFor({ timeout: 20_000 });
  await b.locator("#connection", { hasText: "Connected" }).waitFor({ timeout: 20_000 });
  await strokes(a, 2);
  await draw(a, [[0.4, 0.4], [0.45, 0.5]]);
  await strokes(b, 3);

  // A late joiner gets the whole board.
  const carol = await openBoard("carol", "design");
  const c = carol.page;
  await strokes(c, 3);
  await c.setViewportSize({ width: 390, height: 700 });
  await c.screenshot({ path: join(artifactsDir(), "whiteboard-phone.png") });
  const width = await c.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scroll on a phone (${width}px)`);

  // Clear empties it for everyone.
  await c.getByRole("button", { name: "Clear" }).click();
  await strokes(a, 0);
  await strokes(b, 0);
  await a.locator("#notice", { hasText: "carol cleared the board." }).waitFor();
  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
});

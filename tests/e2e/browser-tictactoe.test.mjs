// The tic-tac-toe page of the `switchboard` binary in headless Chromium: two players are
// paired, play a game to a win, and their game survives a server restart (the badge shows
// the reconnection). Screenshots go to target/e2e-artifacts.
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

async function openGame(name) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(app.url + "/tictactoe");
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Play" }).click();
  await page.locator("#connection", { hasText: "Connected" }).waitFor();
  return { page, errors };
}

const cell = (page, i) => page.locator(`#board button[data-cell="${i}"]`);

test("two players are paired, play to a win, and keep their game across a restart", async () => {
  const alice = await openGame("alice");
  const bob = await openGame("bob");
  const a = alice.page;
  const b = bob.page;
  await a.getByRole("button", { name: "Find an opponent" }).click();
  await a.locator("#lobby-text", { hasText: "Looking for an opponent" }).waitFor();
  await b.getByRole("button", { name: "Find an opponent" }).click();
  await a.locator("#status", { hasText: "Your turn" }).waitFor();
  await b.locator("#status", { hasText: "alice's turn" }).waitFor();
  assert.equal(await a.locator("#name-x").textContent(), "alice (you)");
  // Not bob's turn: his cells are disabled.
  assert.equal(await cell(b, 0).isDisabled(), true);

  await cell(a, 4).click();
  await cell(b, 4).filter({ hasText: "X" }).waitFor();
  await cell(b, 0).click();
  await cell(a, 0).filter({ hasText: "O" }).waitFor();
  await cell(a, 2).click();
  await cell(b, 2).filter({ hasText: "X" }).waitFor();
  await a.screenshot({ path: join(artifactsDir(), "tictactoe.png") });

  // Restart the server mid-game: both pages show the reconnection, then the same game.
  await app.stop();
  await a.locator("#connection", { hasText: "Reconnecting" }).waitFor();
  await b.locator("#connection", { hasText: "Reconnecting" }).waitFor();
  app = await startApp({ port: app.port, dataDir });
  await a.locator("#connection", { hasText: "Connected" }).waitFor({ timeout: 20_000 });
  await b.locator("#connection", { hasText: "Connected" }).waitFor({ timeout: 20_000 });
  await b.locator("#status", { hasText: "Your turn" }).waitFor();
  await cell(b, 8).click();
  await cell(a, 8).filter({ hasText: "O" }).waitFor();
  await cell(a, 6).click();
  await a.locator("#status", { hasText: "You won" }).waitFor();
  await b.locator("#status", { hasText: "alice won" }).waitFor();
  assert.deepEqual(
    await a.locator("#board button.win").evaluateAll((els) => els.map((e) => e.dataset.cell)),
    ["2", "4", "6"],
  );
  await b.locator("#rematch", { hasText: "Rematch" }).waitFor();
  await a.screenshot({ path: join(artifactsDir(), "tictactoe-won.png") });

  // Rematch: bob asks, alice accepts; bob plays X now.
  await b.getByRole("button", { name: "Rematch" }).click();
  await a.getByRole("button", { name: "Accept rematch" }).click();
  await b.locator("#status", { hasText: "Your turn" }).waitFor();
  await a.locator("#name-o", { hasText: "alice (you)" }).waitFor();

  // A phone-sized screen.
  await b.setViewportSize({ width: 390, height: 760 });
  await b.screenshot({ path: join(artifactsDir(), "tictactoe-phone.png") });
  const width = await b.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scroll on a phone (${width}px)`);
  assert.deepEqual([...alice.errors, ...bob.errors], []);
});

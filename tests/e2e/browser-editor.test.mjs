// The editor page of the `switchboard` binary in headless Chromium: two users type in the same
// document and see each other's text and cursor (with its name); the page loads yjs from the
// binary (no CDN), shows the connection state, works on a phone-sized screen, and keeps the
// text across a server restart.
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

async function openEditor(url, name, doc, viewport) {
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await page.goto(`${url}/editor?doc=${doc}`);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Open" }).click();
  await page.locator("#editor-view").waitFor({ state: "visible" });
  await page.locator('#connection[data-state="connected"]').waitFor();
  await page.locator("#doc-size", { hasText: "of 512.0 KB" }).waitFor();
  return { page, errors, external };
}

const value = (page) => page.locator("#text").inputValue();

async function until(fn, what, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("two users type in one document and see each other's text and cursor", async () => {
  const alice = await openEditor(app.url, "alice", "plans");
  const bob = await openEditor(app.url, "bob", "plans");
  const a = alice.page, b = bob.page;

  await a.locator("#text").click();
  await a.locator("#text").pressSequentially("Hello from Alice.", { delay: 5 });
  await until(async () => (await value(b)) === "Hello from Alice.", "bob sees alice's text");

  await b.locator("#text").click();
  await b.locator("#text").press("End");
  await b.locator("#text").pressSequentially(" Hi, Bob here.", { delay: 5 });
  await until(async () => (await value(a)) === "Hello from Alice. Hi, Bob here.", "alice sees bob's text");

  // Alice selects "Alice": Bob sees her named caret and the selection.
  await a.locator("#text").evaluate((ta) => { ta.focus(); ta.setSelectionRange(11, 16); ta.dispatchEvent(new Event("select")); });
  const caret = b.locator("#backdrop .caret", { hasText: "alice" });
  await caret.waitFor();
  assert.equal(await b.locator("#backdrop mark").first().textContent(), "Alice");
  await a.locator("#backdrop .caret", { hasText: "bob" }).waitFor();
  // Both see both names in the people list.
  await a.locator("#people li", { hasText: "bob" }).waitFor();
  await b.locator("#people li", { hasText: "alice" }).waitFor();

  // Concurrent typing at both ends converges.
  await Promise.all([
    a.locator("#text").evaluate((ta) => { ta.focus(); ta.setSelectionRange(0, 0); }).then(() => a.keyboard.type(">> ", { delay: 5 })),
    b.locator("#text").evaluate((ta) => { ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); }).then(() => b.keyboard.type(" <<", { delay: 5 })),
  ]);
  await until(async () => (await value(a)) === (await value(b)) && (await value(a)).length === 37, "both converge");
  assert.equal(await value(a), ">> Hello from Alice. Hi, Bob here. <<");

  await a.screenshot({ path: join(artifactsDir(), "editor.png") });

  // A phone-sized screen: the late joiner gets the text, nothing overflows sideways.
  const phone = await openEditor(app.url, "carol", "plans", { width: 390, height: 760 });
  await until(async () => (await value(phone.page)) === ">> Hello from Alice. Hi, Bob here. <<", "late joiner");
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page wider than the screen by ${overflow}px`);
  await phone.page.screenshot({ path: join(artifactsDir(), "editor-phone.png") });
  await phone.page.close();

  // A restart: the badge shows the state, the text is still there after it, edits go on.
  await app.stop();
  await a.locator('#connection[data-state="reconnecting"]').waitFor();
  app = await startApp({ port: app.port, dataDir });
  await a.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
  await b.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
  await b.locator("#text").evaluate((ta) => { ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); });
  await b.keyboard.type("!", { delay: 5 });
  await until(async () => (await value(a)) === ">> Hello from Alice. Hi, Bob here. <<!", "edits after the restart");

  for (const u of [alice, bob]) {
    assert.deepEqual(u.errors.map(String), []);
    assert.deepEqual(u.external, [], "everything comes from the binary");
  }
});

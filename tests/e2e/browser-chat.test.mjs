// The chat page of the `switchboard` binary in headless Chromium: two tabs chat, the typing
// line shows, read ticks appear, and the page survives a server restart without duplicates.
// Run with the official socket.io-client bundle and with the server's built-in client.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch, openChat } from "./lib/app-browser.mjs";
import { cleanup, startApp, tempDataDir } from "./lib/app.mjs";

const texts = (page) => page.locator("#messages li .text").allTextContents();

for (const [client, args, suffix] of [
  ["the official socket.io-client", [], ""],
  ["the built-in client", ["--builtin-client"], "-builtin"],
]) {
  describe(`chat page with ${client}`, () => {
    let app;
    let browser;
    let dataDir;

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

    test("two tabs chat: messages, typing line, read ticks, restart without duplicates", async () => {
      const bundle = await (await fetch(app.url + "/socket.io/socket.io.js")).text();
      assert.equal(bundle.includes("A small Socket.IO v5 client"), args.includes("--builtin-client"));
      const alice = await openChat(browser.context, app.url, "alice");
      const bob = await openChat(browser.context, app.url, "bob");
      const a = alice.page;
      const b = bob.page;

      // The online list shows both.
      await a.locator("#online li", { hasText: "bob" }).waitFor();

      // Typing shows in the other tab.
      await a.locator("#text").pressSequentially("Hello <b>Bob</b>", { delay: 5 });
      await b.locator("#typing", { hasText: "alice is typing…" }).waitFor();

      // Sending: the other tab shows the text as text (no HTML interpreted).
      await a.getByRole("button", { name: "Send", exact: true }).click();
      await b.locator("#messages li .text", { hasText: "Hello <b>Bob</b>" }).waitFor();
      assert.equal(await b.locator("#messages b").count(), 0, "HTML must not be interpreted");
      await b.locator("#typing").filter({ hasText: /^$/ }).waitFor();

      // Bob's tab has the room open, so it reads the message: Alice sees the read ticks.
      const tick = a.locator("#messages li.mine .ticks");
      await a.locator('#messages li.mine .ticks[data-status="read"]').waitFor();
      assert.equal(await tick.getAttribute("aria-label"), "read");

      await b.locator("#text").fill("Hi Alice!");
      await b.locator("#text").press("Enter");
      await a.locator("#messages li .text", { hasText: "Hi Alice!" }).waitFor();

      const shot = join(artifactsDir(), `chat${suffix}.png`);
      await a.screenshot({ path: shot, fullPage: true });

      // Restart the server on the same port and data directory.
      await app.stop();
      await a.locator("#banner", { hasText: "Reconnecting" }).waitFor();
      // A message written while the server is down is sent once it is back (retried safely).
      await a.locator("#text").fill("sent while offline");
      await a.locator("#text").press("Enter");
      app = await startApp({ port: app.port, dataDir, args });
      await a.locator("#banner").waitFor({ state: "hidden", timeout: 20_000 });
      await b.locator("#banner").waitFor({ state: "hidden", timeout: 20_000 });
      await b.locator("#messages li .text", { hasText: "sent while offline" }).waitFor({ timeout: 20_000 });

      await b.locator("#text").fill("after the restart");
      await b.locator("#text").press("Enter");
      await a.locator("#messages li .text", { hasText: "after the restart" }).waitFor();
      const expected = ["Hello <b>Bob</b>", "Hi Alice!", "sent while offline", "after the restart"];
      for (const page of [a, b]) {
        await page.locator("#messages li[data-client-id]:not([data-message-id])").waitFor({ state: "detached" });
        assert.deepEqual(await texts(page), expected, "no duplicates, in order");
      }
      await a.screenshot({ path: join(artifactsDir(), `chat-after-restart${suffix}.png`), fullPage: true });
      // A reload signs in again (per-tab session) and restores the stored read ticks.
      await a.reload();
      await a.locator("#messages li .text", { hasText: "after the restart" }).waitFor();
      assert.deepEqual(await texts(a), expected);
      const ticks = a.locator("#messages li.mine .ticks");
      assert.deepEqual(await ticks.evaluateAll((els) => els.map((e) => e.dataset.status)), ["read", "read"]);
      assert.deepEqual([...alice.errors, ...bob.errors], []);
    });
  });
}

describe("chat page layout and what a new user runs into", () => {
  let app;
  let browser;

  before(async () => {
    app = await startApp({ args: ["--rate-limit", "1000", "--rate-burst", "1000"] });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
    if (app) cleanup(app.dataDir);
  });

  /** Geometry of the page: whether the document scrolls, the list scrolls, the box is in view. */
  const layout = (page) =>
    page.evaluate(() => {
      const list = document.getElementById("messages");
      const box = document.getElementById("text").getBoundingClientRect();
      const last = list.lastElementChild.getBoundingClientRect();
      const pane = list.getBoundingClientRect();
      return {
        pageScrolls: document.scrollingElement.scrollHeight > window.innerHeight,
        listScrolls: list.scrollHeight > list.clientHeight,
        boxInView: box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0,
        lastInView: last.bottom <= pane.bottom + 1 && last.top >= pane.top - 1,
      };
    });

  test("40 messages in a 760 px window: the list scrolls, the page does not, the box stays visible", async () => {
    const { page, errors } = await openChat(browser.context, app.url, "carla");
    await page.setViewportSize({ width: 1100, height: 760 });
    await page.locator('#connection[data-state="connected"]').waitFor();
    const { sessionClient, request } = await import("./lib/app.mjs");
    const { socket } = await sessionClient(app.url, { username: "dmitri" });
    try {
      await request(socket, "room:join", { roomId: "general" });
      for (let i = 1; i <= 40; i++) {
        const ack = await request(socket, "message:send", { roomId: "general", text: `message number ${i}` });
        assert.equal(ack.ok, true, JSON.stringify(ack));
      }
      await page.locator("#messages li .text", { hasText: "message number 40" }).waitFor();
      assert.deepEqual(await layout(page), { pageScrolls: false, listScrolls: true, boxInView: true, lastInView: true });
      await page.locator("#text").fill("still here");
      await page.locator("#text").press("Enter");
      await page.locator("#messages li.mine[data-message-id] .text", { hasText: "still here" }).waitFor();
      assert.equal(await page.locator("#messages li.mine .text", { hasText: "still here" }).count(), 1, "shown once");
      assert.deepEqual(await layout(page), { pageScrolls: false, listScrolls: true, boxInView: true, lastInView: true });
      await page.screenshot({ path: join(artifactsDir(), "chat-760.png") });

      // A phone-sized screen: the same holds.
      await page.setViewportSize({ width: 390, height: 760 });
      await page.evaluate(() => { const l = document.getElementById("messages"); l.scrollTop = l.scrollHeight; });
      const phone = await layout(page);
      assert.deepEqual(phone, { pageScrolls: false, listScrolls: true, boxInView: true, lastInView: true });
      await page.screenshot({ path: join(artifactsDir(), "chat-phone.png") });
    } finally {
      socket.close();
    }
    assert.deepEqual(errors, []);
  });

  test("an empty room says so; a direct message to a stranger is flagged", async () => {
    const { page, errors } = await openChat(browser.context, app.url, "erin");
    await page.locator("#room-name").fill("quiet-corner");
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await page.locator("#room-title", { hasText: "# quiet-corner" }).waitFor();
    await page.locator("#empty-room", { hasText: "No messages in this room yet" }).waitFor();
    await page.locator("#text").fill("first!");
    await page.locator("#text").press("Enter");
    await page.locator("#messages li .text", { hasText: "first!" }).waitFor();
    assert.equal(await page.locator("#empty-room").isVisible(), false);

    await page.locator("#dm-to").fill("nobody-ever");
    await page.locator("#dm-text").fill("are you there?");
    await page.getByRole("button", { name: "Send privately" }).click();
    await page.locator("#dm-note", { hasText: "nobody-ever has never signed in here" }).waitFor();
    await page.locator("#dm-to").fill("carla");
    await page.locator("#dm-text").fill("hi carla");
    await page.getByRole("button", { name: "Send privately" }).click();
    await page.locator("#dms li", { hasText: "to carla: hi carla" }).waitFor();
    assert.equal(await page.locator("#dm-note").textContent(), "");
    assert.deepEqual(errors, []);
  });

  test("the index lists the apps and leads to their pages; every page has an icon", async () => {
    const page = await browser.context.newPage();
    await page.goto(app.url + "/");
    const cards = page.locator(".app-card strong");
    assert.deepEqual(await cards.allTextContents(), [
      "Chat", "Notifications", "Tic-tac-toe", "Auctions", "Whiteboard", "Editor", "Dashboard", "Order tracking", "Arena",
    ]);
    await page.screenshot({ path: join(artifactsDir(), "index.png") });
    await page.getByRole("link", { name: /Chat/ }).click();
    await page.getByRole("button", { name: "Enter the chat" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/chat");
    const icon = await fetch(app.url + "/favicon.ico");
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get("content-type"), "image/svg+xml");
    await page.close();
  });

  test("a name and a token together are refused on the page; a token in dev mode is named as the problem", async () => {
    const page = await browser.context.newPage();
    await page.goto(app.url + "/chat");
    await page.getByLabel("Name").fill("frank");
    await page.locator("summary").click();
    await page.getByLabel("JWT").fill("a.b.c");
    await page.getByRole("button", { name: "Enter the chat" }).click();
    await page.locator("#login-error", { hasText: "Give a name or a token, not both" }).waitFor();
    await page.getByLabel("Name").fill("");
    await page.getByRole("button", { name: "Enter the chat" }).click();
    await page.locator("#login-error", { hasText: "this server runs in dev mode: sign in with a name, not a token" }).waitFor();
    await page.close();
  });
});

describe("sharing files on the chat page", () => {
  let app;
  let browser;

  before(async () => {
    app = await startApp();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
    if (app) cleanup(app.dataDir);
  });

  test("an image shows inline with its thumbnail in the other tab; a file downloads byte-identical", async () => {
    const alice = await openChat(browser.context, app.url, "alice");
    const bob = await openChat(browser.context, app.url, "bob");
    const a = alice.page;
    const b = bob.page;
    await a.locator("#online li", { hasText: "bob" }).waitFor();
    await a.locator("#text").fill("Look at this:");
    await a.locator("#text").press("Enter");
    // A real PNG: a screenshot of the page itself.
    const image = await a.screenshot({ clip: { x: 0, y: 0, width: 640, height: 400 } });
    await a.locator("#file-input").setInputFiles({ name: "screen.png", mimeType: "image/png", buffer: image });
    const thumb = b.locator("#messages li .file img.thumb");
    await thumb.waitFor();
    await b.waitForFunction(() => {
      const img = document.querySelector("#messages li .file img.thumb");
      return img && img.complete && img.naturalWidth > 0;
    });
    assert.ok((await thumb.evaluate((img) => img.naturalWidth)) <= 320, "the page's thumbnail, not the full image");
    await b.locator("#messages li .file-link", { hasText: "screen.png" }).waitFor();
    await a.locator("#upload").waitFor({ state: "hidden" });

    const notes = Buffer.from("shopping list:\n- milk\n- bread\n".repeat(2000));
    await a.locator("#file-input").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: notes });
    const link = b.locator("#messages li .file-link", { hasText: "notes.txt" });
    await link.waitFor();
    assert.match(await b.locator("#messages li .file-size").last().textContent(), /KB$/);
    const [download] = await Promise.all([b.waitForEvent("download"), link.click()]);
    assert.equal(download.suggestedFilename(), "notes.txt");
    const { readFileSync } = await import("node:fs");
    assert.ok(readFileSync(await download.path()).equals(notes), "byte-identical");

    // A type the server refuses is reported on the page, and nothing is posted.
    await a.locator("#file-input").setInputFiles({ name: "page.html", mimeType: "text/html", buffer: Buffer.from("<p>hi</p>") });
    await a.locator("#send-error", { hasText: 'files of type "text/html" cannot be shared here' }).waitFor();
    assert.equal(await b.locator("#messages li .file-link", { hasText: "page.html" }).count(), 0);
    await b.screenshot({ path: join(artifactsDir(), "chat-files.png") });
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

describe("an upload from the page across a server restart", () => {
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

  test("kill -9 mid-upload: the page resumes from the server's offset once it is back", async () => {
    const { createHash, randomBytes } = await import("node:crypto");
    const { page, errors } = await openChat(browser.context, app.url, "rita");
    const bytes = randomBytes(10_000_000);
    // A slow link (DevTools network emulation: 40 ms each way, 4 MB/s up), so the upload
    // takes seconds.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 40, downloadThroughput: 4e6, uploadThroughput: 4e6 });
    await page.locator("#file-input").setInputFiles({ name: "big.zip", mimeType: "application/zip", buffer: bytes });
    // Kill the server once part of the file is there, not all of it.
    await page.waitForFunction(() => {
      const p = document.getElementById("upload-progress");
      return p.value > 0;
    });
    await app.kill9();
    const atKill = await page.evaluate(() => document.getElementById("upload-progress").value);
    assert.ok(atKill < bytes.length, `the upload was still running (${atKill} of ${bytes.length})`);
    app = await startApp({ port: app.port, dataDir });
    const link = page.locator("#messages li .file-link", { hasText: "big.zip" });
    await link.waitFor({ timeout: 60_000 });
    const id = await page.locator("#messages li .file").last().getAttribute("data-file-id");
    const res = await fetch(`${app.url}/files/${id}`, { headers: { "x-switchboard-user": "rita" } });
    const got = Buffer.from(await res.arrayBuffer());
    const sha = (b) => createHash("sha256").update(b).digest("hex");
    assert.equal(sha(got), sha(bytes), "byte-identical after the resume");
    assert.deepEqual(errors, []);
  });
});

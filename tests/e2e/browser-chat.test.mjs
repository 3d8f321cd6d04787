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

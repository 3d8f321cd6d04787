// The official Admin UI (npm `@socket.io/admin-ui`, served by the binary at /admin/ with
// `--admin-ui`) in headless Chromium: it logs in with a `$2y$` bcrypt hash, lists a chat
// client's socket, rooms and events, makes it join a room, and its disconnect button
// disconnects that client.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifactsDir, launch } from "./lib/app-browser.mjs";
import { chatClient, cleanup, request, startApp, waitFor } from "./lib/app.mjs";

// `crypt("secret", "$2y$04$951P/jPC8iuabTofwYcnlu")` by libxcrypt.
const HASH = "$2y$04$951P/jPC8iuabTofwYcnluobpoqnTkkzhg7zjQgO6JAEvGtF/LPyW";

let app;
let browser;
let ann;

before(async () => {
  app = await startApp({
    args: ["--admin-ui"],
    env: { SWITCHBOARD_ADMIN_USERNAME: "admin", SWITCHBOARD_ADMIN_PASSWORD_HASH: HASH },
  });
  browser = await launch();
});
after(async () => {
  ann?.socket.close();
  await browser?.close();
  await app?.stop();
  cleanup(app.dataDir);
});

/** Opens a page of the UI's navigation and picks namespace `nsp` in its selector. */
async function openPage(page, href, nsp) {
  await page.locator(`a[href='${href}']:visible`).first().click();
  await page.locator(".selector:visible").click();
  await page.getByRole("option", { name: nsp, exact: true }).click();
}

test("the official Admin UI logs in, shows sockets and rooms, and disconnects a client", async () => {
  ann = await chatClient(app.url, "ann-browser");
  const id = ann.socket.id;
  const page = await browser.context.newPage();
  // Wide enough for the UI to show its navigation drawer.
  await page.setViewportSize({ width: 1400, height: 900 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(app.url + "/admin/");

  // The login form: the server's URL (no path) and the credentials.
  await page.getByLabel("Server URL").fill(app.url);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("secret");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.locator(".v-chip:visible", { hasText: /^\s*connected\s*$/i }).first().waitFor();

  // Sockets: the chat client's socket, on its transport.
  await openPage(page, "#/sockets", "/chat");
  const row = page.locator("tbody tr", { hasText: id });
  await row.waitFor();
  assert.match(await row.textContent(), /WebSocket|HTTP long-polling/);
  await page.screenshot({ path: join(artifactsDir(), "admin-sockets.png"), fullPage: true });

  // Rooms: the chat's per-user room (the UI leaves each socket's own room out).
  await openPage(page, "#/rooms", "/chat");
  await page.locator("tbody tr", { hasText: "user:ann-browser" }).waitFor();
  await page.screenshot({ path: join(artifactsDir(), "admin-rooms.png"), fullPage: true });

  // Clients: the connection, grouped by its id.
  await page.locator("a[href='#/clients']:visible").first().click();
  await page.locator("tbody tr").first().waitFor();

  // Events: what the client sent.
  await request(ann.socket, "users:online");
  await openPage(page, "#/events", "/chat");
  await page.locator("tbody tr", { hasText: "users:online" }).first().waitFor();
  await page.screenshot({ path: join(artifactsDir(), "admin-events.png"), fullPage: true });

  // Join a room from the socket's page: the server reports the membership back.
  await openPage(page, "#/sockets", "/chat");
  await page.locator("tbody tr", { hasText: id }).locator("td").first().click();
  await page.getByLabel("Join a room").fill("vip-ui");
  await page.locator("button:visible:has(i.mdi-tag-plus-outline)").click();
  await page.locator("tbody tr", { hasText: "vip-ui" }).waitFor();

  // Disconnect from the UI: the client is told by the server, the row goes.
  await openPage(page, "#/sockets", "/chat");
  const disconnected = waitFor(ann.socket, "disconnect");
  await page.locator("tbody tr", { hasText: id }).locator("button:has(i.mdi-logout)").click();
  assert.equal(await disconnected, "io server disconnect");
  // The click also opened the socket's details, which now say so.
  await page.locator(".v-chip:visible", { hasText: /^\s*disconnected\s*$/i }).first().waitFor();
  await page.screenshot({ path: join(artifactsDir(), "admin-disconnected.png"), fullPage: true });
  // And the list no longer has it.
  await openPage(page, "#/sockets", "/chat");
  await page.locator("tbody tr", { hasText: id }).first().waitFor({ state: "detached" });
  assert.equal(await page.locator("tbody tr", { hasText: id }).count(), 0);
  assert.deepEqual(errors, []);
});

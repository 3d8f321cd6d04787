// Cross-site WebSocket hijacking, tried from headless Chromium: a page served from another
// origin opens a Socket.IO connection to the `switchboard` binary, which allows one foreign
// origin (`--cors-origin`). The page from the allowed origin connects; the page from any other
// origin is refused on both transports (the browser sends its real `Origin`, which no page
// script can change); the binary's own pages, same-origin, keep working.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { launch, openChat } from "./lib/app-browser.mjs";
import { cleanup, startApp, tempDataDir } from "./lib/app.mjs";

let app;
let browser;
let dataDir;
let foreign;

/** A page that tries to join the chat of `target` over `transport`; it reports in `#result`. */
function page(target, transport) {
  return `<!doctype html><meta charset="utf-8"><title>elsewhere</title>
<p id="result">pending</p>
<script src="${target}/socket.io/socket.io.js"></script>
<script>
  const socket = io("${target}/chat", {
    transports: ["${transport}"], reconnection: false, auth: { username: "mallory" },
  });
  const result = document.getElementById("result");
  socket.on("connect", () => { result.textContent = "connected"; });
  socket.on("connect_error", (e) => { result.textContent = "refused: " + e.message; });
</script>`;
}

before(async () => {
  // The foreign site: any path serves the page for the transport in its query.
  foreign = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page(url.searchParams.get("target"), url.searchParams.get("transport")));
  });
  await new Promise((resolve) => foreign.listen(0, "127.0.0.1", resolve));
  const port = foreign.address().port;
  dataDir = tempDataDir();
  // `localhost:PORT` is allowed; `127.0.0.1:PORT` is the same server under another origin.
  app = await startApp({ dataDir, args: ["--cors-origin", `http://localhost:${port}`] });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await app?.stop();
  foreign?.close();
  cleanup(dataDir);
});

async function tryFrom(origin, transport) {
  const p = await browser.context.newPage();
  try {
    const query = new URLSearchParams({ target: app.url, transport });
    await p.goto(`${origin}/?${query}`);
    const result = p.locator("#result");
    await result.filter({ hasNotText: "pending" }).waitFor({ timeout: 10_000 });
    return await result.textContent();
  } finally {
    await p.close();
  }
}

test("a page from an origin outside the list cannot open a session on either transport", async () => {
  const port = foreign.address().port;
  for (const transport of ["websocket", "polling"]) {
    assert.match(await tryFrom(`http://127.0.0.1:${port}`, transport), /^refused: /, transport);
    assert.equal(await tryFrom(`http://localhost:${port}`, transport), "connected", transport);
  }
});

test("the binary's own page, same-origin, still connects", async () => {
  const { page, errors } = await openChat(browser.context, app.url, "alice");
  await page.locator("#online li", { hasText: "alice" }).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

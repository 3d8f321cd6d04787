// Memory per idle WebSocket connection with and without permessage-deflate, measured on the
// engine's echo server (`crates/engine/examples/ws_echo.rs`): N clients of the `ws` package
// connect, optionally exchange one compressible 4 KiB message each (which creates the
// compression state of both directions), and go idle; the server's RSS (`VmRSS`) above what
// it had before they came, divided by N, is printed for each mode.
//
//   cargo build --release -p switchboard-engine --example ws_echo
//   node bench/deflate-memory.mjs target/release/examples/ws_echo [N]
//
// `ws` comes from tests/e2e/node_modules (`cd tests/e2e && npm ci`).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

import WebSocket from "../tests/e2e/node_modules/ws/wrapper.mjs";

const [bin, count = "1000"] = process.argv.slice(2);
if (!bin) {
  console.error("usage: node bench/deflate-memory.mjs WS_ECHO_BIN [N]");
  process.exit(2);
}
const N = Number(count);

const MESSAGE = Array.from({ length: 200 }, (_, i) => `item ${i % 37} of the list, `).join("").slice(0, 4096);

const MODES = [
  { name: "off", server: [], client: false, message: true },
  { name: "on, never used (idle since the handshake)", server: ["--per-message-deflate"], client: {}, message: false },
  { name: "on, context takeover (Node's default), after one message", server: ["--per-message-deflate"], client: {}, message: true },
  {
    name: "on, context takeover, 10 window bits both ways, after one message",
    server: ["--per-message-deflate"],
    client: { serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
    message: true,
  },
  {
    name: "on, no context takeover either way, after one message",
    server: ["--per-message-deflate"],
    client: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    message: true,
  },
];

function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
}

async function start(args) {
  const child = spawn(bin, ["--port", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const [line] = await once(lines, "line");
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)[1]);
  return { child, port };
}

async function connect(port, client, message) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: client });
  await once(ws, "open");
  if (message) {
    ws.send(MESSAGE);
    const [data] = await once(ws, "message");
    if (data.toString() !== MESSAGE) throw new Error("bad echo");
  }
  return ws;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));

for (const mode of MODES) {
  const { child, port } = await start(mode.server);
  // One connection first, so that the runtime's own allocations are in the base.
  const warm = await connect(port, mode.client, mode.message);
  await settle();
  const base = rssKiB(child.pid);
  const clients = [];
  for (let i = 0; i < N; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 100); j++) batch.push(connect(port, mode.client, mode.message));
    clients.push(...(await Promise.all(batch)));
  }
  await settle();
  const extensions = clients[0].extensions || "none";
  const rss = rssKiB(child.pid);
  console.log(
    `${mode.name}: ${((rss - base) / N).toFixed(1)} KiB per connection ` +
      `(RSS ${base} → ${rss} KiB for ${N}; extension: ${extensions})`,
  );
  for (const ws of [warm, ...clients]) ws.terminate();
  child.kill();
  await once(child, "exit");
}

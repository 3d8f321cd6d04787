// The load generator (`switchboard-bench gen`) and the official Node bench server
// (bench/servers/node-bench.mjs), for the tests that run the benchmark's scenarios.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { within } from "./eio.mjs";
import { exampleBin } from "./socketio-app.mjs";

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** The load generator, next to the examples' directory (`target/<profile>/switchboard-bench`). */
function generator() {
  return join(dirname(dirname(exampleBin("bench", "SWITCHBOARD_BENCH_BIN"))), "switchboard-bench");
}

/** Runs `switchboard-bench gen [--parser P] <scenario...>` against `port`; its outcome. */
export async function gen(port, pid, scenario, { parser = "json" } = {}) {
  const args = ["gen", "--addr", `127.0.0.1:${port}`, "--server-pid", String(pid), "--parser", parser, ...scenario];
  const { stdout } = await within(60_000, run(generator(), args), scenario[0]);
  return JSON.parse(stdout.trim());
}

/**
 * Starts the official Node bench server with `args`; resolves with `{ port, pid, stop }` once
 * it printed `listening on http://127.0.0.1:PORT`.
 */
export async function startNodeBench(args = []) {
  const script = join(ROOT, "bench", "servers", "node-bench.mjs");
  const child = spawn("node", [script, "--port", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`the Node bench server exited with ${code}`);
  });
  // Also settles when `stop` ends the server: handled here, raced below.
  exited.catch(() => {});
  const listening = new Promise((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  const port = await within(10_000, Promise.race([listening, exited]), "Node bench server start");
  return {
    port,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exit = once(child, "exit");
        child.kill();
        await exit;
      }
    },
  };
}

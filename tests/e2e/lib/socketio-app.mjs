// Starts the example servers of the Socket.IO end-to-end tests.
import { spawn } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { within } from "./eio.mjs";

/** The browser client the server serves: the npm package installed for these tests. */
export const CLIENT_DIST = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "node_modules",
  "socket.io-client",
  "dist",
);

/**
 * The path of an example binary: `$<envVar>`, or the example `name` next to the conformance
 * example (`cargo build -p switchboard --examples` builds them all).
 */
export function exampleBin(name, envVar) {
  if (process.env[envVar]) return process.env[envVar];
  const conformance = process.env.SWITCHBOARD_CONFORMANCE_BIN;
  if (!conformance) throw new Error(`set ${envVar} or SWITCHBOARD_CONFORMANCE_BIN`);
  return join(dirname(conformance), name);
}

/**
 * Starts `bin --port <port> ...args` and resolves once it printed
 * `listening on http://127.0.0.1:PORT`.
 */
export async function startExample(bin, { port = 0, args = [] } = {}) {
  const env = { ...process.env, SWITCHBOARD_CLIENT_DIST: CLIENT_DIST };
  const child = spawn(bin, ["--port", String(port), ...args], { stdio: ["ignore", "pipe", "inherit"], env });
  // Every stdout line, for tests that check what the server printed.
  const output = [];
  const lines = new EventEmitter();
  const bound = await within(
    10_000,
    new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        output.push(line);
        lines.emit("line", line);
        const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`${bin} exited with ${code}`)));
    }),
    "server start",
  );
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    pid: child.pid,
    output,
    /** Resolves once the server printed `line` (at once if it already did). */
    printed(line, ms = 5000) {
      if (output.includes(line)) return Promise.resolve();
      return within(
        ms,
        new Promise((resolve) => {
          const on = (l) => {
            if (l === line) {
              lines.off("line", on);
              resolve();
            }
          };
          lines.on("line", on);
        }),
        `output ${line}`,
      );
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill();
        await once(child, "exit");
      }
    },
  };
}

/** The `socketio_e2e` example: the application of the feature tests, or with `--conformance`
 * the protocol test server's Socket.IO application. */
export const startApp = (opts) =>
  startExample(exampleBin("socketio_e2e", "SWITCHBOARD_SOCKETIO_E2E_BIN"), opts);

/** The client options of the three ways the tests connect: WebSocket only, polling only, the upgrade. */
export const MODES = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: {},
};

/** Resolves with the arguments of `emitter`'s next `event`; fails after `ms`. */
export const wait = (emitter, event, ms = 3000) =>
  within(ms, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), event);

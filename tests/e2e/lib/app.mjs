// Starts the `switchboard` server binary for a test file, and small helpers around the
// official socket.io-client.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

/** A fresh data directory; removed by `cleanup()`. */
export function tempDataDir() {
  return mkdtempSync(join(tmpdir(), "switchboard-e2e-"));
}

/** Removes a directory made by `tempDataDir`. */
export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Starts `$SWITCHBOARD_SERVER_BIN --port <port> --data-dir <dir> ...args` and resolves once it
 * printed `Switchboard listening on http://127.0.0.1:PORT` (or `https://` with `--tls-cert`).
 */
export async function startApp({ port = 0, dataDir, args = [], env = {} } = {}) {
  const bin = process.env.SWITCHBOARD_SERVER_BIN;
  if (!bin) throw new Error("SWITCHBOARD_SERVER_BIN must point to the built switchboard binary");
  const dir = dataDir ?? tempDataDir();
  const child = spawn(bin, ["--port", String(port), "--data-dir", dir, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
    if (process.env.SWITCHBOARD_E2E_LOG) process.stderr.write(d);
  });
  const exited = once(child, "exit");
  const bound = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 15 s: ${stderr}`)), 15_000);
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const m = /^Switchboard listening on (https?):\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ scheme: m[1], port: Number(m[2]) });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening: ${stderr}`));
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    port: bound.port,
    url: `${bound.scheme}://127.0.0.1:${bound.port}`,
    dataDir: dir,
    child,
    stderr: () => stderr,
    /** SIGTERM, then waits; resolves to [code, signal]. */
    async stop() {
      if (running()) child.kill("SIGTERM");
      return exited;
    },
    /** SIGKILL (kill -9), then waits. */
    async kill9() {
      if (running()) child.kill("SIGKILL");
      return exited;
    },
  };
}

/** Connects to `ns` with `auth`; resolves with the socket once connected. */
export async function connect(url, ns, auth, opts = {}) {
  const socket = io(url + ns, { auth, forceNew: true, reconnection: false, ...opts });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timed out")), 5000);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return socket;
}

/** Connects and also waits for the server's `session` event; resolves with both. */
export async function chatClient(url, username, opts = {}) {
  return sessionClient(url, { username }, opts);
}

/**
 * Connects to /chat with any `auth` and waits for the server's `session` event, listening for
 * it before the connection starts: the event may arrive in the same payload as the CONNECT
 * answer, before code awaiting `connect` could add a listener.
 */
export async function sessionClient(url, auth, opts = {}) {
  const socket = io(url + "/chat", { auth, forceNew: true, reconnection: false, ...opts });
  const session = await waitFor(socket, "session");
  return { socket, session };
}

/** The connect_error of a connection attempt that must be refused. */
export async function refused(url, ns, auth) {
  const socket = io(url + ns, { auth, forceNew: true, reconnection: false });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no connect_error within 5 s")), 5000);
      socket.once("connect", () => reject(new Error("connected, but a refusal was expected")));
      socket.once("connect_error", (err) => {
        clearTimeout(timer);
        resolve(err);
      });
    });
  } finally {
    socket.close();
  }
}

/** Emits with an ack, failing after 5 s. */
export function request(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

/**
 * The next `event` on `socket` whose first argument satisfies `accept`: its first argument, or
 * `[...args, ack]` when the server asked for an ack.
 */
export function waitFor(socket, event, accept = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const listener = (...args) => {
      if (!accept(args[0])) return;
      clearTimeout(timer);
      socket.off(event, listener);
      // `[data, ack]` for an event with an ack; else the data alone (with connection state
      // recovery on, the official client hands the offset over as an extra last argument).
      resolve(typeof args.at(-1) === "function" ? args : args[0]);
    };
    socket.on(event, listener);
  });
}

/** Collects every `event` on `socket` into an array. */
export function collect(socket, event) {
  const seen = [];
  socket.on(event, (arg) => seen.push(arg));
  return seen;
}

/** Resolves after every packet already sent to `socket` was handled (a round trip). */
export async function roundTrip(socket) {
  await request(socket, "users:online");
}

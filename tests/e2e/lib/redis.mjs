// Redis for the cluster tests: a redis-server on a free port of 127.0.0.1 (its own
// directory, no persistence, stopped by PID), and the cluster nodes: Switchboard's `node`
// example of switchboard-redis and the Node socket.io server of servers/node-redis.mjs.
import { spawn } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { io as connectClient } from "socket.io-client";

import { within } from "./eio.mjs";
import { exampleBin } from "./socketio-app.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));

/** A free TCP port of 127.0.0.1. */
async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** Spawns `cmd args` and resolves with the child once a stdout line matches `ready`. */
async function spawnUntil(cmd, args, ready, what) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
  const lines = new EventEmitter();
  const match = await within(
    20_000,
    new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        lines.emit("line", line);
        const m = ready.exec(line);
        if (m) resolve(m);
      });
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`${what} exited with ${code}`)));
    }),
    `${what} start`,
  );
  return { child, match, lines };
}

async function kill(child, signal = "SIGTERM") {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal);
    await once(child, "exit");
  }
}

/** Starts a redis-server; `kill()` SIGKILLs it, `restart()` starts it again on the same port,
 * `pause()`/`resume()` stop and continue it (SIGSTOP/SIGCONT). */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "sb-redis-"));
  const bin = process.env.SWITCHBOARD_REDIS_SERVER ?? "redis-server";
  let child;
  const start = async () => {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    ({ child } = await spawnUntil(bin, args, /Ready to accept connections/, "redis-server"));
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    restart: start,
    // A stall: the process stops answering but keeps its connections open.
    pause: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
    kill: () => kill(child, "SIGKILL"),
    async stop() {
      await kill(child, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startNode(cmd, args, name) {
  const { child, match } = await spawnUntil(cmd, args, /^listening on http:\/\/127\.0\.0\.1:(\d+)$/, name);
  const port = Number(match[1]);
  return { name, port, url: `http://127.0.0.1:${port}`, child, stop: () => kill(child) };
}

/** A Switchboard node (`node` example) on `redisUrl`. */
export function startSwitchboardNode(redisUrl, name, { adapter = "redis", args = [] } = {}) {
  const bin = exampleBin("node", "SWITCHBOARD_REDIS_NODE_BIN");
  return startNode(bin, ["--port", "0", "--redis", redisUrl, "--name", name, "--adapter", adapter, ...args], name);
}

/** A Node socket.io node with the official Redis adapter (`redis`, `sharded` or `streams`)
 * on `redisUrl`. */
export function startNodeNode(redisUrl, name, { adapter = "redis", args = [] } = {}) {
  const script = join(HERE, "..", "servers", "node-redis.mjs");
  return startNode(process.execPath, [script, "--port", "0", "--redis", redisUrl, "--name", name, "--adapter", adapter, ...args], name);
}

/** Resolves once `fetch` from every one of `senders` lists exactly `ids` (heartbeat-based
 * adapters know the other nodes only after a round of messages, and announce nothing: this
 * polls); fails after `ms`, saying what it last saw. */
export async function known(senders, ids, ms = 15_000) {
  const want = JSON.stringify([...ids].sort());
  let last = "nothing";
  let done = false;
  const poll = (async () => {
    for (const s of senders) {
      while (!done) {
        const got = await s.timeout(8000).emitWithAck("fetch", null).catch((e) => ({ err: e.message }));
        last = `${s.label}: ${JSON.stringify(Array.isArray(got) ? got.map((x) => x.id).sort() : got)}`;
        if (Array.isArray(got) && JSON.stringify(got.map((x) => x.id).sort()) === want) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  try {
    await within(ms, poll, "every node knows every socket");
  } catch (err) {
    throw new Error(`${err.message}; last seen ${last}`);
  } finally {
    done = true;
  }
}

/** An official client on `node`, connected over WebSocket; it answers "q" with its label. */
export async function client(node, label) {
  const socket = connectClient(node.url, { transports: ["websocket"], forceNew: true, reconnection: false });
  socket.label = label;
  socket.on("q", (_data, cb) => cb(label));
  await within(5000, once(socket, "connect"), `connect ${label}`);
  return socket;
}

/** Collects every `event` a socket gets. */
export function record(socket, event) {
  const got = [];
  socket.on(event, (data) => got.push(data));
  return got;
}

/** Resolves once `pred()` holds, checking on every `event` of `sockets`; fails after `ms`. */
export function until(sockets, event, pred, what, ms = 10_000) {
  return within(
    ms,
    new Promise((resolve) => {
      const check = () => {
        if (pred()) {
          for (const s of sockets) s.off(event, check);
          resolve();
        }
      };
      for (const s of sockets) s.on(event, check);
      check();
    }),
    what,
  );
}

/** Resolves once Redis counts `count` subscribers on the request channel of `/` (with
 * `sharded`, on the sharded `channel`; Redis announces no subscription, so this polls);
 * fails after `ms`, saying what it last saw. */
export async function subscribed(url, count, { sharded = false, channel = "socket.io#/#", ms = 15_000 } = {}) {
  const { Redis } = await import("ioredis");
  const probe = new Redis(url, { maxRetriesPerRequest: 1 });
  probe.on("error", () => {});
  let last = "nothing";
  let done = false;
  const poll = (async () => {
    while (!done) {
      try {
        const [, n] = sharded
          ? await probe.pubsub("SHARDNUMSUB", channel)
          : await probe.pubsub("NUMSUB", "socket.io-request#/#");
        last = n;
        if (Number(n) === count) return;
      } catch (err) {
        last = err.message;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await within(ms, poll, `${count} nodes subscribed (last NUMSUB: ${last})`);
  } catch (err) {
    let channels = "";
    if (sharded) {
      const list = await probe.pubsub("SHARDCHANNELS").catch(() => []);
      const counts = list.length ? await probe.pubsub("SHARDNUMSUB", ...list).catch(() => []) : [];
      channels = `; sharded channels: ${JSON.stringify(counts)}`;
    }
    throw new Error(`${err.message}; last NUMSUB answer: ${last}${channels}`);
  } finally {
    done = true;
    probe.disconnect();
  }
}

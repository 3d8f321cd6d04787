// The jitter scenario: many official clients in room `stream` of the `jitter` example, each
// one's connection cut for ~2 s at random about every 15 s while the server broadcasts ticks;
// every client must get every tick once, in order. Cuts go through one relay per client.
import { io } from "socket.io-client";

import { within } from "./eio.mjs";
import { startRelay } from "./relay.mjs";
import { exampleBin, startExample } from "./socketio-app.mjs";

/** A small seeded PRNG (mulberry32), so that a run's cut schedule is reproducible. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the scenario and returns its measurements.
 * - `halfOpen: false`: a cut closes both sides of the connection (the server sees it at once);
 *   the client reconnects 2 s later.
 * - `halfOpen: true`: a cut freezes the connection for 2 s (nothing crosses, no FIN/RST), then
 *   the client's side closes and it reconnects at once while the server still holds the old
 *   connection: the new one must take the session over.
 */
export async function runJitter({ clients = 200, rate = 20, duration = 60, every = 15, cut = 2, halfOpen = false, seed = 42 }) {
  const random = prng(seed);
  const server = await startExample(exampleBin("jitter", "SWITCHBOARD_JITTER_BIN"), {
    args: ["--rate", String(rate), "--duration", String(duration), "--recovery", "on"],
  });
  const started = Date.now();
  const timers = [];
  const peers = [];
  let controller;
  try {
    for (let i = 0; i < clients; i++) {
      const relay = await startRelay(server.port);
      const delay = halfOpen ? 50 : cut * 1000;
      const socket = io(relay.url, {
        transports: ["websocket"],
        forceNew: true,
        reconnectionDelay: delay,
        reconnectionDelayMax: delay,
        randomizationFactor: 0,
      });
      const peer = { socket, relay, ticks: [], connects: 0, recovered: 0, cuts: 0, done: null };
      peer.finished = new Promise((resolve) => socket.on("done", (d) => { peer.done = d; resolve(); }));
      socket.on("tick", (t) => peer.ticks.push(t.seq));
      socket.on("connect", () => {
        peer.connects += 1;
        if (socket.recovered) peer.recovered += 1;
      });
      peers.push(peer);
    }
    await within(30_000, Promise.all(peers.map((p) => (p.connects > 0 ? null : new Promise((r) => p.socket.once("connect", r))))), "connect all");
    controller = io(server.url, { transports: ["websocket"], forceNew: true, reconnection: false });
    await within(5000, new Promise((r) => controller.once("connect", r)), "controller");
    const answer = await controller.timeout(5000).emitWithAck("start");
    if (!answer.ok) throw new Error("start refused");
    const runStart = Date.now();
    // Cut schedule: first cut uniformly in the first period, then every period ±20 %, while the
    // whole outage ends at least 2 s before the last tick.
    for (const peer of peers) {
      let at = random() * every * 1000;
      while (at + cut * 1000 + 2000 < duration * 1000) {
        const when = at;
        timers.push(setTimeout(() => {
          peer.cuts += 1;
          if (halfOpen) {
            peer.relay.freeze();
            timers.push(setTimeout(() => peer.relay.vanish(), cut * 1000));
          } else {
            peer.relay.drop();
          }
        }, Math.max(0, runStart + when - Date.now())));
        at += every * 1000 * (0.8 + 0.4 * random());
      }
    }
    await within((duration + 30) * 1000, Promise.all(peers.map((p) => p.finished)), "done on every client");
    const last = answer.last;
    let delivered = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let complete = 0;
    for (const p of peers) {
      const seen = new Set();
      let prev = 0;
      for (const seq of p.ticks) {
        if (seen.has(seq)) duplicates += 1;
        seen.add(seq);
        if (seq <= prev) outOfOrder += 1;
        prev = seq;
      }
      delivered += seen.size;
      if (seen.size === last && p.ticks.length === last) complete += 1;
    }
    const reconnections = peers.reduce((n, p) => n + p.connects - 1, 0);
    return {
      clients,
      last,
      expected: clients * last,
      delivered,
      deliveryPercent: (100 * delivered) / (clients * last),
      duplicates,
      outOfOrder,
      complete,
      cuts: peers.reduce((n, p) => n + p.cuts, 0),
      reconnections,
      recovered: peers.reduce((n, p) => n + p.recovered, 0),
      wallSeconds: (Date.now() - started) / 1000,
      peers,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    controller?.disconnect();
    for (const p of peers) p.socket.disconnect();
    await Promise.all(peers.map((p) => p.relay.close()));
    await server.stop();
  }
}

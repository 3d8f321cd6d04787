// Raw Engine.IO helpers: polling over fetch, WebSocket over `ws`, with bounded waits.
import WebSocket from "ws";

export const SEP = "\x1e";

/** Resolves `promise` or rejects after `ms`. */
export function within(ms, promise, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** An Engine.IO endpoint at `base` (e.g. `http://127.0.0.1:3000/engine.io/`). */
export class Endpoint {
  constructor(base) {
    this.base = base;
  }

  pollingUrl(sid, extra = "") {
    return `${this.base}?EIO=4&transport=polling${sid ? `&sid=${sid}` : ""}${extra}`;
  }

  wsUrl(sid) {
    return `${this.base.replace(/^http/, "ws")}?EIO=4&transport=websocket${sid ? `&sid=${sid}` : ""}`;
  }

  /** A polling handshake; returns the parsed open packet and the time it arrived. */
  async handshake() {
    const res = await fetch(this.pollingUrl());
    const body = await res.text();
    if (res.status !== 200 || body[0] !== "0") {
      throw new Error(`handshake failed: ${res.status} ${body}`);
    }
    return { ...JSON.parse(body.slice(1)), at: Date.now(), raw: body };
  }

  async get(sid, ms = 2000) {
    const res = await within(ms, fetch(this.pollingUrl(sid)), "GET");
    return { status: res.status, body: await res.text(), headers: res.headers };
  }

  async post(sid, body, ms = 2000) {
    const res = await within(ms, fetch(this.pollingUrl(sid), { method: "POST", body }), "POST");
    return { status: res.status, body: await res.text(), headers: res.headers };
  }

  /** Opens a WebSocket and collects its frames. */
  async ws(sid) {
    const client = new Frames(new WebSocket(this.wsUrl(sid)));
    await within(2000, client.opened, "WebSocket open");
    return client;
  }
}

/** A WebSocket client with a queue of received frames. */
export class Frames {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
    ws.on("message", (data, isBinary) => {
      const frame = isBinary ? Buffer.from(data) : data.toString();
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.queue.push(frame);
    });
  }

  /** The next frame (text as string, binary as Buffer). */
  next(ms = 2000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return within(ms, new Promise((resolve) => this.waiters.push(resolve)), "WebSocket frame");
  }

  /** The next frame that is not a ping `2`; pings are answered. */
  async nextData(ms = 2000) {
    for (;;) {
      const f = await this.next(ms);
      if (f !== "2") return f;
      this.send("3");
    }
  }

  send(data) {
    this.ws.send(data);
  }

  close() {
    this.ws.close();
  }
}

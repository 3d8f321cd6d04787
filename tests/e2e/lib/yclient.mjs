// A Yjs client of the binary's /editor in Node: a real Y.Doc (the `yjs` the page loads, from
// web/node_modules) speaking the Yjs sync protocol over the official socket.io-client, as
// the page does: after editor:join the server sends sync step 1, answered with step 2 (what
// the server lacks, offline edits included) and our own step 1; local updates are sent as
// they happen while joined.
import { io } from "socket.io-client";
import * as Y from "../../../web/node_modules/yjs/dist/yjs.mjs";
import * as encoding from "../../../web/node_modules/lib0/encoding.js";
import * as decoding from "../../../web/node_modules/lib0/decoding.js";

export { Y };

const MSG_SYNC = 0, MSG_AWARENESS = 1, STEP1 = 0, STEP2 = 1, UPDATE = 2;

/** A y-protocols sync message. */
export function syncMessage(type, payload) {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MSG_SYNC);
  encoding.writeVarUint(e, type);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

export const SYNC = { STEP1, STEP2, UPDATE };

/** A y-protocols awareness message of `[clientId, clock, state]` entries. */
export function awarenessMessage(states) {
  const inner = encoding.createEncoder();
  encoding.writeVarUint(inner, states.length);
  for (const [id, clock, state] of states) {
    encoding.writeVarUint(inner, id);
    encoding.writeVarUint(inner, clock);
    encoding.writeVarString(inner, JSON.stringify(state));
  }
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MSG_AWARENESS);
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
  return encoding.toUint8Array(e);
}

/** The `[clientId, clock, state]` entries of an awareness message. */
export function readAwareness(data) {
  const d = decoding.createDecoder(new Uint8Array(data));
  if (decoding.readVarUint(d) !== MSG_AWARENESS) throw new Error("not an awareness message");
  const inner = decoding.createDecoder(decoding.readVarUint8Array(d));
  const n = decoding.readVarUint(inner);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push([decoding.readVarUint(inner), decoding.readVarUint(inner), JSON.parse(decoding.readVarString(inner))]);
  }
  return out;
}

/** Reads a sync message: `{ type, payload }`. */
export function readSync(data) {
  const d = decoding.createDecoder(new Uint8Array(data));
  if (decoding.readVarUint(d) !== MSG_SYNC) throw new Error("not a sync message");
  return { type: decoding.readVarUint(d), payload: decoding.readVarUint8Array(d) };
}

export class YClient {
  constructor(url, docId, username, opts = {}) {
    this.url = url;
    this.docId = docId;
    this.username = username;
    this.doc = new Y.Doc();
    this.text = this.doc.getText("text");
    this.joined = false;
    this.errors = [];
    // Sent messages whose ack has not come (dropped on a disconnect: the next join's step 2
    // carries their content again).
    this.pending = new Set();
    this.socket = io(url + "/editor", { auth: { username }, forceNew: true, reconnection: false, autoConnect: false, ...opts });
    this.socket.on("editor:sync", ({ docId, data }) => this.onSync(docId, data));
    this.socket.on("connect", () => this.join());
    this.socket.on("disconnect", () => {
      this.joined = false;
      for (const p of this.pending) p.drop();
      this.pending.clear();
    });
    this.doc.on("update", (update, origin) => {
      if (origin === "remote" || !this.joined || !this.socket.connected) return;
      this.send(syncMessage(UPDATE, update));
    });
  }

  /** Connects and joins; resolves once synced both ways. */
  async start() {
    const synced = this.nextSync();
    this.socket.connect();
    await synced;
    return this;
  }

  /** Resolves once the next join's exchange is acked. */
  nextSync() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.username}: not synced within 10 s`)), 10_000);
      this.onSynced = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  join() {
    this.socket.emit("editor:join", { docId: this.docId }, (res) => {
      if (!res.ok) this.errors.push(res.error);
    });
  }

  send(message) {
    let settle;
    const done = new Promise((resolve) => { settle = resolve; });
    const entry = { done, drop: () => settle(null) };
    this.pending.add(entry);
    this.socket.emit("editor:sync", { docId: this.docId, data: message }, (res) => {
      this.pending.delete(entry);
      if (!res.ok) this.errors.push(res.error);
      settle(res);
    });
    return done;
  }

  onSync(docId, data) {
    if (docId !== this.docId) return;
    const { type, payload } = readSync(data);
    if (type === STEP1) {
      this.joined = true;
      this.send(syncMessage(STEP2, Y.encodeStateAsUpdate(this.doc, payload)));
      // The server's step 2 comes (as an event) before this ack.
      this.send(syncMessage(STEP1, Y.encodeStateVector(this.doc))).then(() => {
        if (this.onSynced) this.onSynced();
        this.onSynced = null;
      });
    } else {
      Y.applyUpdate(this.doc, payload, "remote");
    }
  }

  /** Waits for every sent message's ack. */
  async settle() {
    while (this.pending.size > 0) {
      await Promise.all([...this.pending].map((p) => p.done));
    }
  }

  /** Asks the server for what this client lacks; resolves once applied. */
  async pull() {
    await this.send(syncMessage(STEP1, Y.encodeStateVector(this.doc)));
  }

  disconnect() {
    this.socket.disconnect();
  }

  /** Reconnects and resolves once synced again. */
  async reconnect() {
    const synced = this.nextSync();
    this.socket.connect();
    await synced;
  }

  toString() {
    return this.text.toString();
  }

  close() {
    this.socket.close();
  }
}

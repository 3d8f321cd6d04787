// A small Socket.IO v5 client over Engine.IO v4 WebSocket, served at /socket.io/socket.io.js
// only when the official socket.io-client bundle is not installed. It covers what the pages
// use: io(namespace, { auth }), on/off, emit with acks, timeout(ms).emit, connect,
// disconnect, connect_error, `active`, close(), and reconnection with backoff. Text packets
// only (no binary), one WebSocket per socket.
(() => {
  "use strict";
  const CONNECT = 0, DISCONNECT = 1, EVENT = 2, ACK = 3, CONNECT_ERROR = 4;

  class Socket {
    constructor(nsp, opts) {
      this.nsp = nsp;
      this.auth = opts.auth || {};
      this.listeners = new Map();
      this.acks = new Map();
      this.nextAck = 0;
      this.buffer = [];
      this.connected = false;
      this.active = true;
      this.attempts = 0;
      this.flags = {};
      this.open();
    }

    on(event, fn) {
      if (!this.listeners.has(event)) this.listeners.set(event, []);
      this.listeners.get(event).push(fn);
      return this;
    }

    off(event, fn) {
      const list = this.listeners.get(event) || [];
      this.listeners.set(event, fn ? list.filter((f) => f !== fn) : []);
      return this;
    }

    fire(event, ...args) {
      for (const fn of [...(this.listeners.get(event) || [])]) fn(...args);
    }

    timeout(ms) {
      const self = this;
      return { emit: (event, ...args) => self.emitWith(event, args, ms) };
    }

    emit(event, ...args) {
      return this.emitWith(event, args, undefined);
    }

    emitWith(event, args, timeoutMs) {
      const packet = { type: EVENT, data: [event, ...args] };
      if (typeof args[args.length - 1] === "function") {
        const cb = args.pop();
        packet.data = [event, ...args];
        const id = this.nextAck++;
        packet.id = id;
        if (timeoutMs === undefined) {
          this.acks.set(id, (...res) => cb(...res));
        } else {
          const timer = setTimeout(() => {
            this.acks.delete(id);
            this.buffer = this.buffer.filter((p) => p.id !== id);
            cb(new Error("operation has timed out"));
          }, timeoutMs);
          this.acks.set(id, (...res) => {
            clearTimeout(timer);
            cb(null, ...res);
          });
        }
      }
      if (this.connected) this.send(packet);
      else this.buffer.push(packet);
      return this;
    }

    send(packet) {
      const ns = this.nsp === "/" ? "" : this.nsp + ",";
      const id = packet.id === undefined ? "" : String(packet.id);
      const data = packet.data === undefined ? "" : JSON.stringify(packet.data);
      if (this.ws && this.ws.readyState === 1) this.ws.send("4" + packet.type + ns + id + data);
    }

    open() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${proto}//${location.host}/socket.io/?EIO=4&transport=websocket`);
      this.ws = ws;
      let opened = false;
      ws.onmessage = (e) => this.onEngine(String(e.data));
      ws.onopen = () => { opened = true; };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        clearTimeout(this.heartbeat);
        const was = this.connected;
        this.connected = false;
        if (was) this.fire("disconnect", "transport close");
        else if (!opened && this.active) this.fire("connect_error", new Error("websocket error"));
        if (this.active) this.reconnect();
      };
    }

    reconnect() {
      const delay = Math.min(5000, 1000 * 2 ** this.attempts) * (0.5 + Math.random());
      this.attempts++;
      this.timer = setTimeout(() => this.active && this.open(), delay);
    }

    alive(ms) {
      clearTimeout(this.heartbeat);
      this.heartbeat = setTimeout(() => this.ws && this.ws.close(), ms);
    }

    onEngine(text) {
      const type = text[0];
      if (type === "0") {
        const open = JSON.parse(text.slice(1));
        this.pingWindow = open.pingInterval + open.pingTimeout;
        this.alive(this.pingWindow);
        const ns = this.nsp === "/" ? "" : this.nsp + ",";
        this.ws.send("4" + CONNECT + ns + JSON.stringify(this.auth));
      } else if (type === "2") {
        this.alive(this.pingWindow);
        this.ws.send("3");
      } else if (type === "4") {
        this.onPacket(text.slice(1));
      } else if (type === "1") {
        this.ws.close();
      }
    }

    onPacket(text) {
      const type = Number(text[0]);
      let rest = text.slice(1);
      let nsp = "/";
      if (rest[0] === "/") {
        const comma = rest.indexOf(",");
        nsp = comma < 0 ? rest : rest.slice(0, comma);
        rest = comma < 0 ? "" : rest.slice(comma + 1);
      }
      if (nsp !== this.nsp) return;
      const m = /^(\d*)(.*)$/s.exec(rest);
      const id = m[1] === "" ? undefined : Number(m[1]);
      const data = m[2] ? JSON.parse(m[2]) : undefined;
      if (type === CONNECT) {
        this.connected = true;
        this.attempts = 0;
        this.id = data && data.sid;
        this.fire("connect");
        const queued = this.buffer;
        this.buffer = [];
        for (const p of queued) this.send(p);
      } else if (type === CONNECT_ERROR) {
        const err = new Error(data && data.message);
        err.data = data && data.data;
        this.active = false;
        this.fire("connect_error", err);
        this.ws.close();
      } else if (type === EVENT) {
        const [event, ...args] = data;
        if (id !== undefined) {
          let sent = false;
          args.push((...res) => {
            if (!sent) this.send({ type: ACK, id, data: res });
            sent = true;
          });
        }
        this.fire(event, ...args);
      } else if (type === ACK) {
        const cb = this.acks.get(id);
        this.acks.delete(id);
        if (cb) cb(...data);
      } else if (type === DISCONNECT) {
        this.connected = false;
        this.active = false;
        this.fire("disconnect", "io server disconnect");
        this.ws.close();
      }
    }

    close() {
      this.active = false;
      clearTimeout(this.timer);
      clearTimeout(this.heartbeat);
      if (this.connected) this.send({ type: DISCONNECT });
      const was = this.connected;
      this.connected = false;
      if (this.ws) this.ws.close();
      if (was) this.fire("disconnect", "io client disconnect");
      return this;
    }

    disconnect() {
      return this.close();
    }
  }

  window.io = (nsp, opts) => new Socket(nsp || "/", opts || {});
})();

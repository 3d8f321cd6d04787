// Shared by every page (hand-written, no build step): the connection-state badge, the
// sign-in kept for the tab, and small DOM helpers. Text from the network is always set with
// textContent, never as HTML.
window.Shell = (() => {
  "use strict";
  const KEY = "switchboard.auth";
  const labels = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    offline: "Offline",
  };

  /** The `#connection` badge of the page (created in the header if the page has none). */
  function badge() {
    let b = document.getElementById("connection");
    if (!b) {
      b = document.createElement("span");
      b.id = "connection";
      b.className = "connection";
      b.setAttribute("role", "status");
      b.setAttribute("aria-live", "polite");
      const top = document.querySelector("header.top") || document.body;
      top.append(b);
    }
    return b;
  }

  /** Shows the connection state: connecting, connected, reconnecting or offline. */
  function setState(state) {
    const b = badge();
    b.dataset.state = state;
    b.textContent = labels[state] || state;
    document.body.dataset.connection = state;
  }

  /** The sign-in saved for this tab (`{ username }` or `{ token }`), or null. */
  function savedAuth() {
    try {
      const auth = JSON.parse(sessionStorage.getItem(KEY) || "null");
      return auth && (auth.username || auth.token) ? auth : null;
    } catch (_) {
      return null;
    }
  }

  function saveAuth(auth) {
    sessionStorage.setItem(KEY, JSON.stringify(auth));
  }

  function clearAuth() {
    sessionStorage.removeItem(KEY);
  }

  /**
   * Connects to namespace `ns` with `auth` and keeps the badge up to date. `onRefused(message)`
   * runs when the server refuses the sign-in (the saved sign-in is then forgotten).
   */
  function connect(ns, auth, { onRefused } = {}) {
    if (typeof io !== "function") {
      setState("offline");
      throw new Error("The Socket.IO client (/socket.io/socket.io.js) is not available on this server.");
    }
    setState("connecting");
    const socket = io(ns, { auth });
    socket.on("connect", () => setState("connected"));
    socket.on("disconnect", (reason) => {
      setState(reason === "io client disconnect" ? "offline" : "reconnecting");
    });
    socket.on("connect_error", (err) => {
      if (socket.active) {
        setState("reconnecting");
        return;
      }
      setState("offline");
      clearAuth();
      const message = (err.data && err.data.message) || err.message;
      if (onRefused) onRefused(message, err.data && err.data.code);
    });
    socket.on("server:shutdown", () => setState("reconnecting"));
    return socket;
  }

  /** `el("li", { className: "x" }, "text", child)`: an element with properties and children. */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  /** A time of day (`14:05`) for today, else a short date and time. */
  function formatTime(ms) {
    const d = new Date(ms);
    const now = new Date();
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (d.toDateString() === now.toDateString()) return time;
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
  }

  /** A new client-side id (for retries). */
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  return { setState, savedAuth, saveAuth, clearAuth, connect, el, formatTime, newId };
})();

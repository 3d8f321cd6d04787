// The chat page. Hand-written, no build step. Every text from the network is rendered with
// textContent, never as HTML.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = {
    socket: null,
    me: null,
    rooms: [],
    active: null,
    messages: new Map(), // roomId -> Map(id -> message)
    pending: new Map(), // clientId -> { roomId, text }
    statuses: new Map(), // messageId -> "sent" | "delivered" | "read"
    typing: new Map(), // roomId -> Map(userId -> username)
    dms: new Set(),
    typingSent: false,
    typingTimer: null,
  };
  const rank = { sent: 1, delivered: 2, read: 3 };
  const tickText = { sent: "✓", delivered: "✓✓", read: "✓✓" };

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function banner(text) {
    const b = $("banner");
    b.textContent = text || "";
    b.hidden = !text;
  }

  // ---- login ----
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const username = $("username").value.trim();
    const token = $("token").value.trim();
    const auth = token ? { token } : { username };
    sessionStorage.setItem("switchboard.auth", JSON.stringify(auth));
    connect(auth);
  });

  function connect(auth) {
    if (typeof io !== "function") {
      $("login-error").textContent = "The Socket.IO client (/socket.io/socket.io.js) is not available on this server.";
      return;
    }
    $("login-error").textContent = "";
    if (state.socket) state.socket.close();
    const socket = io("/chat", { auth });
    state.socket = socket;
    socket.on("connect_error", (err) => {
      if (socket.active) {
        banner("Reconnecting…");
      } else {
        const message = (err.data && err.data.message) || err.message;
        $("login-error").textContent = "Cannot enter: " + message;
        sessionStorage.removeItem("switchboard.auth");
        showLogin();
      }
    });
    socket.on("connect", () => {
      banner("");
      document.body.dataset.connected = "true";
    });
    socket.on("disconnect", (reason) => {
      document.body.dataset.connected = "false";
      if (reason !== "io client disconnect") banner("Connection lost. Reconnecting…");
    });
    socket.on("server:shutdown", () => banner("The server is restarting. Reconnecting…"));
    socket.on("session", (session) => {
      state.me = session;
      $("whoami").textContent = "Signed in as " + session.username;
      $("whoami").hidden = false;
      $("login-view").hidden = true;
      $("chat-view").hidden = false;
      for (const r of session.rooms) addRoom(r);
      if (state.active) {
        selectRoom(state.active); // reload what we missed
      } else if (session.rooms.length) {
        selectRoom(session.rooms[0]);
      } else {
        joinRoom("general");
      }
      refreshOnline();
    });
    socket.on("message:new", onMessage);
    socket.on("message:status", (s) => setStatus(s.messageId, s.status));
    socket.on("typing:update", (t) => {
      const map = state.typing.get(t.roomId) || new Map();
      if (t.isTyping) map.set(t.userId, t.username || t.userId);
      else map.delete(t.userId);
      state.typing.set(t.roomId, map);
      renderTyping();
    });
    socket.on("presence:update", () => refreshOnline());
    socket.on("private:new", (m, ack) => {
      if (!state.dms.has(m.id)) {
        state.dms.add(m.id);
        const li = document.createElement("li");
        const who = document.createElement("strong");
        who.textContent = m.fromUsername + ": ";
        const text = document.createElement("span");
        text.textContent = m.text;
        li.append(who, text);
        $("dms").append(li);
      }
      if (typeof ack === "function") ack({ ok: true });
    });
  }

  function showLogin() {
    $("chat-view").hidden = true;
    $("login-view").hidden = false;
  }

  // ---- rooms ----
  function addRoom(roomId) {
    if (state.rooms.includes(roomId)) return;
    state.rooms.push(roomId);
    renderRooms();
  }

  function renderRooms() {
    const ul = $("rooms");
    ul.replaceChildren();
    for (const r of state.rooms) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "# " + r;
      b.dataset.room = r;
      if (r === state.active) b.setAttribute("aria-current", "true");
      b.addEventListener("click", () => selectRoom(r));
      li.append(b);
      ul.append(li);
    }
  }

  function joinRoom(roomId) {
    state.socket.emit("room:join", { roomId }, (res) => {
      if (!res.ok) return showError(res.error);
      addRoom(roomId);
      loadRoom(roomId, res.history);
    });
  }

  function selectRoom(roomId) {
    joinRoom(roomId);
  }

  function loadRoom(roomId, history) {
    state.active = roomId;
    $("room-title").textContent = "# " + roomId;
    $("leave").hidden = false;
    $("text").disabled = false;
    $("send").disabled = false;
    const map = state.messages.get(roomId) || new Map();
    state.messages.set(roomId, map);
    for (const m of history) {
      map.set(m.id, m);
      const old = state.statuses.get(m.id);
      if (m.status && (!old || rank[old] < rank[m.status])) state.statuses.set(m.id, m.status);
    }
    renderRooms();
    renderMessages();
    renderTyping();
    for (const m of history) acknowledge(m);
  }

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("room-name").value.trim();
    if (name) joinRoom(name);
    $("room-name").value = "";
  });

  $("leave").addEventListener("click", () => {
    const roomId = state.active;
    state.socket.emit("room:leave", { roomId }, (res) => {
      if (!res.ok) return showError(res.error);
      state.rooms = state.rooms.filter((r) => r !== roomId);
      state.active = null;
      $("room-title").textContent = "No room";
      $("messages").replaceChildren();
      $("text").disabled = true;
      $("send").disabled = true;
      $("leave").hidden = true;
      renderRooms();
    });
  });

  // ---- messages ----
  function onMessage(m) {
    const map = state.messages.get(m.roomId) || new Map();
    state.messages.set(m.roomId, map);
    map.set(m.id, m);
    if (m.roomId === state.active) renderMessages();
    acknowledge(m);
  }

  function acknowledge(m) {
    if (!state.me || m.userId === state.me.userId) return;
    state.socket.emit("message:delivered", { messageId: m.id });
    if (m.roomId === state.active) state.socket.emit("message:read", { messageId: m.id });
  }

  function setStatus(messageId, status) {
    const old = state.statuses.get(messageId);
    if (old && rank[old] >= rank[status]) return;
    state.statuses.set(messageId, status);
    const el = document.querySelector(`[data-message-id="${CSS.escape(messageId)}"] .ticks`);
    if (el) paintTicks(el, status);
  }

  function paintTicks(el, status) {
    el.dataset.status = status;
    el.textContent = tickText[status];
    el.setAttribute("aria-label", status);
    el.title = status;
  }

  function renderMessages() {
    const list = $("messages");
    const map = state.messages.get(state.active) || new Map();
    const sorted = [...map.values()].sort((a, b) => a.seq - b.seq);
    list.replaceChildren();
    for (const m of sorted) list.append(renderMessage(m));
    for (const [clientId, p] of state.pending) {
      if (p.roomId === state.active) list.append(renderMessage({ id: "", clientId, username: state.me.username, userId: state.me.userId, text: p.text, pending: true }));
    }
    list.scrollTop = list.scrollHeight; // newest at the bottom, in view
  }

  function renderMessage(m) {
    const li = document.createElement("li");
    const mine = state.me && m.userId === state.me.userId;
    if (mine) li.classList.add("mine");
    if (m.id) li.dataset.messageId = m.id;
    if (m.clientId) li.dataset.clientId = m.clientId;
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = m.username;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    li.append(author, text);
    if (m.ts) {
      const meta = document.createElement("time");
      meta.className = "meta";
      meta.dateTime = new Date(m.ts).toISOString();
      meta.textContent = new Date(m.ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      li.append(meta);
    }
    if (mine) {
      const ticks = document.createElement("span");
      ticks.className = "ticks";
      if (m.pending) {
        ticks.dataset.status = "pending";
        ticks.textContent = "…";
        ticks.setAttribute("aria-label", "sending");
      } else {
        paintTicks(ticks, state.statuses.get(m.id) || "sent");
      }
      li.append(ticks);
    }
    return li;
  }

  function send(roomId, text, clientId, attempt) {
    state.socket.timeout(5000).emit("message:send", { roomId, text, clientId }, (err, res) => {
      if (err) {
        // No answer: retry with the same clientId; the server stores it once.
        if (attempt < 20) setTimeout(() => send(roomId, text, clientId, attempt + 1), 1000);
        return;
      }
      state.pending.delete(clientId);
      if (!res.ok) {
        showError(res.error);
        renderMessages();
        return;
      }
      const map = state.messages.get(roomId) || new Map();
      state.messages.set(roomId, map);
      if (!map.has(res.id)) {
        map.set(res.id, { id: res.id, seq: res.seq, ts: res.ts, roomId, text, clientId, userId: state.me.userId, username: state.me.username });
      }
      if (!state.statuses.has(res.id)) state.statuses.set(res.id, "sent");
      if (roomId === state.active) renderMessages();
    });
  }

  $("send-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value;
    if (!text.trim() || !state.active) return;
    $("text").value = "";
    $("send-error").textContent = "";
    const clientId = newId();
    state.pending.set(clientId, { roomId: state.active, text });
    renderMessages();
    stopTyping();
    send(state.active, text, clientId, 0);
  });

  function showError(error) {
    let text = error ? error.message : "error";
    if (error && error.code === "rate_limited") text += ` (retry in ${Math.ceil(error.retryAfterMs / 1000)} s)`;
    $("send-error").textContent = text;
  }

  // ---- typing ----
  $("text").addEventListener("input", () => {
    if (!state.active) return;
    if (!state.typingSent) {
      state.typingSent = true;
      state.socket.emit("typing:update", { roomId: state.active, isTyping: true });
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, 3000);
  });

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingSent && state.active) {
      state.socket.emit("typing:update", { roomId: state.active, isTyping: false });
    }
    state.typingSent = false;
  }

  function renderTyping() {
    const names = [...(state.typing.get(state.active) || new Map()).values()];
    $("typing").textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  }

  // ---- online list and direct messages ----
  function refreshOnline() {
    state.socket.emit("users:online", (res) => {
      if (!res || !res.ok) return;
      const ul = $("online");
      ul.replaceChildren();
      for (const u of res.users) {
        const li = document.createElement("li");
        li.textContent = u.username;
        li.dataset.userId = u.userId;
        ul.append(li);
      }
    });
  }

  $("dm-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const toUserId = $("dm-to").value.trim();
    const text = $("dm-text").value;
    state.socket.emit("private:send", { toUserId, text, clientId: newId() }, (res) => {
      if (!res.ok) return showError(res.error);
      $("dm-text").value = "";
      const li = document.createElement("li");
      li.textContent = `to ${toUserId}: ${text}`;
      $("dms").append(li);
    });
  });

  const saved = sessionStorage.getItem("switchboard.auth");
  if (saved) {
    try { connect(JSON.parse(saved)); } catch (_) { sessionStorage.removeItem("switchboard.auth"); }
  }
})();

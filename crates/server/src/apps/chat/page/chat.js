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
    if (username && token) {
      $("login-error").textContent = "Give a name or a token, not both: clear one of them.";
      return;
    }
    if (!username && !token) {
      $("login-error").textContent = "Give a name (or a token).";
      return;
    }
    const auth = token ? { token } : { username };
    sessionStorage.setItem("switchboard.auth", JSON.stringify(auth));
    connect(auth);
  });

  function connect(auth) {
    state.auth = auth;
    if (typeof io !== "function") {
      $("login-error").textContent = "The Socket.IO client (/socket.io/socket.io.js) is not available on this server.";
      return;
    }
    $("login-error").textContent = "";
    if (state.socket) state.socket.close();
    const socket = io("/chat", { auth });
    state.socket = socket;
    Shell.setState("connecting");
    socket.on("connect_error", (err) => {
      if (socket.active) {
        Shell.setState("reconnecting");
        banner("Reconnecting…");
      } else {
        Shell.setState("offline");
        const message = (err.data && err.data.message) || err.message;
        $("login-error").textContent = "Cannot enter: " + message;
        sessionStorage.removeItem("switchboard.auth");
        showLogin();
      }
    });
    socket.on("connect", () => {
      Shell.setState("connected");
      banner("");
      document.body.dataset.connected = "true";
    });
    socket.on("disconnect", (reason) => {
      Shell.setState(reason === "io client disconnect" ? "offline" : "reconnecting");
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
    $("file-input").disabled = false;
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
      $("empty-room").hidden = true;
      $("text").disabled = true;
      $("send").disabled = true;
      $("leave").hidden = true;
      $("file-input").disabled = true;
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
    $("empty-room").hidden = sorted.length > 0 || [...state.pending.values()].some((p) => p.roomId === state.active);
    // A pending message whose broadcast already arrived (before its ack) is shown once.
    const arrived = new Set(sorted.map((m) => m.clientId).filter(Boolean));
    for (const [clientId, p] of state.pending) {
      if (p.roomId === state.active && !arrived.has(clientId)) list.append(renderMessage({ id: "", clientId, username: state.me.username, userId: state.me.userId, text: p.text, pending: true }));
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
    li.append(author);
    if (m.file) li.append(renderFile(m.file));
    else li.append(text);
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

  // ---- files ----
  // The official client sends binary attachments; the small built-in one does not.
  const canSendFiles = typeof io === "function" && typeof io.Manager === "function";
  $("attach").hidden = !canSendFiles;

  /** Headers that authenticate a download as the connection did. */
  function authHeaders() {
    const auth = state.auth || {};
    if (auth.token) return { authorization: "Bearer " + auth.token };
    return { "x-switchboard-user": encodeURIComponent(auth.username || "") };
  }

  const blobs = new Map(); // url -> Promise<object URL>
  function fetchBlob(url) {
    if (!blobs.has(url)) {
      blobs.set(url, fetch(url, { headers: authHeaders() }).then((res) => {
        if (!res.ok) throw new Error("download failed (" + res.status + ")");
        return res.blob();
      }).then((b) => URL.createObjectURL(b)).catch((e) => { blobs.delete(url); throw e; }));
    }
    return blobs.get(url);
  }

  function formatSize(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function renderFile(f) {
    const box = document.createElement("span");
    box.className = "file";
    box.dataset.fileId = f.id;
    if (f.thumbnail) {
      const img = document.createElement("img");
      img.className = "thumb";
      img.alt = f.name;
      img.width = 240;
      fetchBlob(`/files/${encodeURIComponent(f.id)}/thumbnail`).then((u) => { img.src = u; }, () => { img.alt = f.name + " (preview unavailable)"; });
      box.append(img);
    }
    const link = document.createElement("a");
    link.className = "file-link";
    link.href = "#";
    link.textContent = f.name;
    const size = document.createElement("span");
    size.className = "file-size";
    size.textContent = formatSize(f.size);
    link.addEventListener("click", (e) => {
      e.preventDefault();
      fetchBlob(`/files/${encodeURIComponent(f.id)}`).then((u) => {
        const a = document.createElement("a");
        a.href = u;
        a.download = f.name;
        document.body.append(a);
        a.click();
        a.remove();
      }, (err) => showError({ message: err.message }));
    });
    box.append(link, size);
    return box;
  }

  /** A thumbnail of an image file (JPEG, at most 320 px), or null. */
  async function thumbnailOf(file) {
    if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type) || typeof createImageBitmap !== "function") return null;
    try {
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(1, 320 / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
      if (!blob || blob.size > 64 * 1024) return null;
      return await blob.arrayBuffer();
    } catch (_) {
      return null;
    }
  }

  /** Emits with an ack; a timeout or a lost connection is `{ ok: false, error: { code: "timeout" } }`. */
  function ask(event, payload, ms = 15000) {
    return new Promise((resolve) => {
      state.socket.timeout(ms).emit(event, payload, (err, res) => {
        resolve(err ? { ok: false, error: { code: "timeout", message: "no answer from the server" } } : res);
      });
    });
  }

  function connected() {
    if (state.socket.connected) return Promise.resolve();
    return new Promise((resolve) => state.socket.once("connect", resolve));
  }

  function uploadStatus(name, done, total, text) {
    $("upload").hidden = false;
    $("upload-name").textContent = name;
    $("upload-progress").max = total;
    $("upload-progress").value = done;
    $("upload-text").textContent = text;
  }

  async function sendFile(file) {
    const roomId = state.active;
    const clientId = newId();
    uploadStatus(file.name, 0, file.size, "Starting…");
    const thumbnail = await thumbnailOf(file);
    const begin = { roomId, name: file.name, type: file.type || "application/octet-stream", size: file.size, clientId };
    if (thumbnail) begin.thumbnail = thumbnail;
    let res = await ask("file:begin", begin);
    while (!res.ok && res.error.code === "timeout") {
      await connected();
      res = await ask("file:begin", begin);
    }
    if (!res.ok) return failUpload(res.error);
    const { uploadId, chunkSize } = res;
    let offset = res.offset;
    while (offset < file.size) {
      const data = await file.slice(offset, offset + chunkSize).arrayBuffer();
      const ack = await ask("file:chunk", { uploadId, offset, data });
      if (ack.ok) {
        offset = ack.offset;
        uploadStatus(file.name, offset, file.size, `${formatSize(offset)} of ${formatSize(file.size)}`);
      } else if (ack.error.code === "timeout" || ack.error.code === "bad_offset") {
        // Connection lost, or the server has another offset: ask where to go on.
        uploadStatus(file.name, offset, file.size, "Reconnecting… the upload will resume");
        await connected();
        const st = await ask("file:status", { uploadId });
        if (!st.ok) return failUpload(st.error);
        offset = st.offset;
      } else {
        return failUpload(ack.error);
      }
    }
    let end = await ask("file:end", { uploadId });
    while (!end.ok && end.error.code === "timeout") {
      await connected();
      end = await ask("file:end", { uploadId });
    }
    if (!end.ok) return failUpload(end.error);
    $("upload").hidden = true;
    const map = state.messages.get(roomId) || new Map();
    state.messages.set(roomId, map);
    if (!map.has(end.id)) {
      map.set(end.id, { id: end.id, seq: end.seq, ts: end.ts, roomId, text: file.name, file: end.file, userId: state.me.userId, username: state.me.username });
    }
    if (!state.statuses.has(end.id)) state.statuses.set(end.id, "sent");
    if (roomId === state.active) renderMessages();
  }

  function failUpload(error) {
    $("upload").hidden = true;
    showError(error);
  }

  $("file-input").addEventListener("change", () => {
    const file = $("file-input").files[0];
    $("file-input").value = "";
    if (file && state.active) sendFile(file);
  });

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
      if (!res.ok) {
        $("dm-note").textContent = res.error.message;
        return;
      }
      $("dm-text").value = "";
      const li = document.createElement("li");
      li.textContent = `to ${toUserId}: ${text}`;
      $("dms").append(li);
      // Kept for a user the server has not seen yet, and said so.
      $("dm-note").textContent = res.recipientSeen
        ? ""
        : `${toUserId} has never signed in here: they will get it when they first do.`;
    });
  });

  const saved = sessionStorage.getItem("switchboard.auth");
  if (saved) {
    try { connect(JSON.parse(saved)); } catch (_) { sessionStorage.removeItem("switchboard.auth"); }
  }
})();

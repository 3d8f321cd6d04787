// The whiteboard page. Hand-written, no build step; names are rendered with textContent.
// Points travel normalised (0–1 of the board's width and height), widths in thousandths of
// its width, so every screen shows the same drawing.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const canvas = $("board");
  const ctx = canvas.getContext("2d");
  const state = {
    socket: null, me: null, board: null,
    strokes: [], // stored: { seq, id, color, width, points, userId, username }
    pending: new Map(), // id -> stroke sent, not yet answered
    current: null, color: "#1d1f23", width: 7, lastCursor: 0,
    cursors: new Map(), // userId -> { el, timer }
  };

  function setConn(kind, text) {
    $("connection").dataset.state = kind;
    $("connection").textContent = text;
    document.body.dataset.connection = kind;
  }

  function notice(text) {
    $("notice").textContent = text || "";
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // A colour per user for the cursors.
  function colorOf(userId) {
    let h = 0;
    for (const ch of userId) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${h % 360} 65% 42%)`;
  }

  // ---- drawing ----
  function resize() {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(r.width * dpr));
    canvas.height = Math.max(1, Math.round(r.height * dpr));
    redraw();
  }

  function drawStroke(s) {
    const w = canvas.width;
    const h = canvas.height;
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = Math.max(1, (s.width / 1000) * w);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    const [first, ...rest] = s.points;
    if (!rest.length) {
      ctx.beginPath();
      ctx.arc(first[0] * w, first[1] * h, ctx.lineWidth / 2, 0, Math.PI * 2);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(first[0] * w, first[1] * h);
    for (const [x, y] of rest) ctx.lineTo(x * w, y * h);
    ctx.stroke();
  }

  function redraw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const s of state.strokes) drawStroke(s);
    for (const s of state.pending.values()) drawStroke(s);
    if (state.current) drawStroke(state.current);
    canvas.dataset.strokes = String(state.strokes.length);
  }

  function addStored(s) {
    if (state.strokes.some((x) => x.seq === s.seq)) return;
    state.strokes.push(s);
    state.strokes.sort((a, b) => a.seq - b.seq);
    redraw();
  }

  function point(e) {
    const r = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (!state.board) return;
    canvas.setPointerCapture(e.pointerId);
    state.current = { id: newId(), color: state.color, width: state.width, points: [point(e)] };
    redraw();
  });
  canvas.addEventListener("pointermove", (e) => {
    const p = point(e);
    sendCursor(p);
    const s = state.current;
    if (!s) return;
    const last = s.points[s.points.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 0.002 || s.points.length >= 4000) return;
    s.points.push(p);
    redraw();
  });
  const finish = () => {
    const s = state.current;
    state.current = null;
    if (!s) return;
    state.pending.set(s.id, s);
    redraw();
    state.socket.emit("stroke", { boardId: state.board, ...s }, (res) => {
      state.pending.delete(s.id);
      if (res && res.ok) {
        addStored({ ...s, seq: res.seq, userId: state.me, username: state.me });
      } else {
        notice(res ? res.error.message : "The stroke was not saved.");
      }
      redraw();
    });
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  canvas.addEventListener("pointerleave", () => sendCursor(null));

  function sendCursor(p) {
    if (!state.socket || !state.socket.connected || !p) return;
    const now = Date.now();
    if (now - state.lastCursor < 50) return;
    state.lastCursor = now;
    state.socket.volatile.emit("cursor", { boardId: state.board, x: p[0], y: p[1] });
  }

  function showCursor({ userId, username, x, y }) {
    let c = state.cursors.get(userId);
    if (!c) {
      const el = document.createElement("div");
      el.className = "cursor";
      el.dataset.user = userId;
      el.style.setProperty("--c", colorOf(userId));
      const label = document.createElement("span");
      label.textContent = username;
      el.append(label);
      $("cursors").append(el);
      c = { el, timer: null };
      state.cursors.set(userId, c);
    }
    c.el.style.left = x * 100 + "%";
    c.el.style.top = y * 100 + "%";
    clearTimeout(c.timer);
    c.timer = setTimeout(() => removeCursor(userId), 5000);
  }

  function removeCursor(userId) {
    const c = state.cursors.get(userId);
    if (!c) return;
    clearTimeout(c.timer);
    c.el.remove();
    state.cursors.delete(userId);
  }

  // ---- connection ----
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const username = $("username").value.trim();
    const board = $("board-name").value.trim();
    if (!username || !board) return;
    sessionStorage.setItem("switchboard.auth", JSON.stringify({ username }));
    location.hash = "board=" + encodeURIComponent(board);
    connect({ username }, board);
  });

  function connect(auth, board) {
    if (typeof io !== "function") {
      $("login-error").textContent = "The Socket.IO client is not available on this server.";
      return;
    }
    if (state.socket) state.socket.close();
    state.me = auth.username;
    state.board = board;
    const socket = io("/whiteboard", { auth });
    state.socket = socket;
    setConn("reconnecting", "Connecting…");
    socket.on("connect", () => {
      setConn("connected", "Connected");
      $("login-view").hidden = true;
      $("board-view").hidden = false;
      $("board-title").textContent = "Board: " + board;
      resize();
      // (Re)open the board: after a cut or a restart it comes back whole.
      socket.emit("board:join", { boardId: board }, (res) => {
        if (!res || !res.ok) {
          notice(res ? res.error.message : "The board did not open.");
          return;
        }
        state.strokes = res.strokes;
        redraw();
      });
    });
    socket.on("disconnect", (reason) => {
      if (reason !== "io client disconnect") setConn("reconnecting", "Reconnecting…");
      for (const id of [...state.cursors.keys()]) removeCursor(id);
    });
    socket.on("connect_error", (err) => {
      if (socket.active) {
        setConn("reconnecting", "Reconnecting…");
      } else {
        setConn("offline", "Offline");
        $("login-error").textContent = "Cannot open: " + ((err.data && err.data.message) || err.message);
        sessionStorage.removeItem("switchboard.auth");
        $("login-view").hidden = false;
        $("board-view").hidden = true;
      }
    });
    socket.on("stroke", (s) => { if (s.boardId === state.board) addStored(s); });
    socket.on("stroke:removed", ({ boardId, seq }) => {
      if (boardId !== state.board) return;
      state.strokes = state.strokes.filter((s) => s.seq !== seq);
      redraw();
    });
    socket.on("board:cleared", ({ boardId, username }) => {
      if (boardId !== state.board) return;
      state.strokes = [];
      redraw();
      notice(username + " cleared the board.");
    });
    socket.on("cursor", (c) => { if (c.boardId === state.board) showCursor(c); });
    socket.on("cursor:gone", ({ userId }) => removeCursor(userId));
  }

  // ---- tools ----
  function pick(group, attr, button) {
    for (const b of document.querySelectorAll(group)) b.setAttribute("aria-checked", String(b === button));
    return button.dataset[attr];
  }
  for (const b of document.querySelectorAll(".swatch")) {
    b.style.background = b.dataset.color;
    b.addEventListener("click", () => { state.color = pick(".swatch", "color", b); });
  }
  for (const b of document.querySelectorAll(".width")) {
    b.addEventListener("click", () => { state.width = Number(pick(".width", "width", b)); });
  }
  $("undo").addEventListener("click", () => {
    state.socket.emit("undo", { boardId: state.board }, (res) => {
      if (res && res.ok) {
        state.strokes = state.strokes.filter((s) => s.seq !== res.seq);
        redraw();
        notice("");
      } else {
        notice(res && res.error.code === "nothing_to_undo" ? "Nothing of yours to undo." : res ? res.error.message : "");
      }
    });
  });
  $("clear").addEventListener("click", () => {
    if (!confirm("Clear the whole board for everyone?")) return;
    state.socket.emit("clear", { boardId: state.board }, (res) => {
      if (res && res.ok) {
        state.strokes = [];
        redraw();
        notice("You cleared the board.");
      } else if (res) {
        notice(res.error.message);
      }
    });
  });
  window.addEventListener("resize", resize);

  const fromHash = /board=([^&]+)/.exec(location.hash);
  if (fromHash) $("board-name").value = decodeURIComponent(fromHash[1]);
  const saved = sessionStorage.getItem("switchboard.auth");
  if (saved) {
    try {
      const auth = JSON.parse(saved);
      if (auth.username) {
        $("username").value = auth.username;
        if (fromHash) connect(auth, $("board-name").value);
      }
    } catch (_) { /* a bad entry: ask again */ }
  }
})();

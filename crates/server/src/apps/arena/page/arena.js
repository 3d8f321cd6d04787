// The arena: snapshots (a packed binary, 30 a second, volatile) drawn on a canvas 100 ms
// behind, interpolated between the two snapshots around that time. Text from the network is
// set with textContent only.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { el } = Shell;
  const DELAY = 100; // ms behind the newest snapshot, so there are two to interpolate between
  const canvas = $("field");
  const g = canvas.getContext("2d");
  let socket = null;
  let me = null;
  let world = { width: 1600, height: 1000 };
  const names = new Map(); // id → name
  const snaps = []; // { at, tick, players: Map(id → { x, y, flags }) }
  let received = 0;
  const input = { dx: 0, dy: 0, boost: false };
  window.arena = { snaps, names, get me() { return me; }, positions: () => lastDrawn };
  let lastDrawn = new Map();

  function decode(buf) {
    const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer || buf);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const tick = v.getUint32(0, true);
    const count = v.getUint16(4, true);
    const players = new Map();
    for (let i = 0, o = 6; i < count && o + 7 <= bytes.byteLength; i++, o += 7) {
      players.set(v.getUint16(o, true), { x: v.getInt16(o + 2, true), y: v.getInt16(o + 4, true), flags: v.getUint8(o + 6) });
    }
    return { tick, players };
  }

  function color(id) { return `hsl(${(id * 47) % 360} 75% 58%)`; }

  function roster() {
    const ul = $("players");
    ul.replaceChildren();
    for (const [id, name] of [...names].sort((a, b) => a[1].localeCompare(b[1]))) {
      ul.append(el("li", { className: id === me ? "me" : "", dataset: { id: String(id) } },
        el("span", { className: "dot", style: `background:${color(id)}` }), name + (id === me ? " (you)" : "")));
    }
    $("count").textContent = String(names.size);
  }

  // The positions at render time `t`, interpolated between the snapshots around it.
  function positionsAt(t) {
    if (snaps.length === 0) return new Map();
    let i = snaps.length - 1;
    while (i > 0 && snaps[i - 1].at > t) i--;
    const b = snaps[i], a = snaps[Math.max(0, i - 1)];
    if (a === b || b.at <= a.at) return b.players;
    const k = Math.min(1, Math.max(0, (t - a.at) / (b.at - a.at)));
    const out = new Map();
    for (const [id, pb] of b.players) {
      const pa = a.players.get(id) || pb;
      out.set(id, { x: pa.x + (pb.x - pa.x) * k, y: pa.y + (pb.y - pa.y) * k, flags: pb.flags });
    }
    return out;
  }

  function draw() {
    const sx = canvas.width / world.width, sy = canvas.height / world.height;
    g.fillStyle = "#15202b";
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.strokeStyle = "rgba(255,255,255,.06)";
    g.lineWidth = 1;
    for (let x = 0; x <= world.width; x += 100) { g.beginPath(); g.moveTo(x * sx, 0); g.lineTo(x * sx, canvas.height); g.stroke(); }
    for (let y = 0; y <= world.height; y += 100) { g.beginPath(); g.moveTo(0, y * sy); g.lineTo(canvas.width, y * sy); g.stroke(); }
    const now = performance.now();
    lastDrawn = positionsAt(now - DELAY);
    // Dots and names keep a readable size on a small screen (the canvas is scaled down).
    const scale = canvas.width / Math.max(1, canvas.clientWidth);
    const r = Math.max(18, 7 * scale);
    g.font = `${Math.round(Math.max(22, 11 * scale))}px system-ui, sans-serif`;
    g.textAlign = "center";
    for (const [id, p] of lastDrawn) {
      const x = p.x * sx, y = p.y * sy;
      if (p.flags & 2) { g.fillStyle = "rgba(255,200,80,.35)"; g.beginPath(); g.arc(x, y, r * 1.7, 0, Math.PI * 2); g.fill(); }
      g.fillStyle = color(id);
      g.beginPath(); g.arc(x, y, r, 0, Math.PI * 2); g.fill();
      if (id === me) { g.strokeStyle = "#fff"; g.lineWidth = 4; g.stroke(); }
      g.fillStyle = "rgba(255,255,255,.85)";
      g.fillText(names.get(id) || "#" + id, x, y - r - 8);
    }
    requestAnimationFrame(draw);
  }

  function send() {
    if (socket && socket.connected && me !== null) socket.volatile.emit("arena:input", { dx: input.dx, dy: input.dy, boost: input.boost });
    input.boost = false;
  }
  // A held direction is sent again now and then: a volatile input may be lost.
  setInterval(() => { if (input.dx || input.dy) send(); }, 250);

  function setDir(dx, dy) {
    if (dx === input.dx && dy === input.dy) return;
    input.dx = dx; input.dy = dy;
    send();
  }

  const keys = new Set();
  const KEYMAP = { ArrowLeft: [-1, 0], KeyA: [-1, 0], ArrowRight: [1, 0], KeyD: [1, 0], ArrowUp: [0, -1], KeyW: [0, -1], ArrowDown: [0, 1], KeyS: [0, 1] };
  function fromKeys() {
    let dx = 0, dy = 0;
    for (const k of keys) { const d = KEYMAP[k]; if (d) { dx += d[0]; dy += d[1]; } }
    setDir(Math.sign(dx), Math.sign(dy));
  }
  addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement) return;
    if (e.code === "Space") { input.boost = true; send(); e.preventDefault(); return; }
    if (KEYMAP[e.code]) { keys.add(e.code); fromKeys(); e.preventDefault(); }
  });
  addEventListener("keyup", (e) => { if (keys.delete(e.code)) fromKeys(); });
  addEventListener("blur", () => { keys.clear(); fromKeys(); });
  for (const b of document.querySelectorAll("#pad button")) {
    b.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      if (b.dataset.boost) { input.boost = true; send(); return; }
      const [dx, dy] = b.dataset.d.split(",").map(Number);
      setDir(dx, dy);
    });
    for (const end of ["pointerup", "pointerleave", "pointercancel"]) {
      b.addEventListener(end, () => { if (!b.dataset.boost) setDir(0, 0); });
    }
  }

  function join(arena) {
    socket.emit("arena:join", { arena }, (res) => {
      if (!res || !res.ok) {
        $("error").textContent = "Cannot join: " + ((res && res.error && res.error.message) || "no answer");
        return;
      }
      $("error").textContent = "";
      me = res.you;
      world = res.world;
      names.clear();
      for (const p of res.players) names.set(p.id, p.name);
      roster();
    });
  }

  function connect(auth, arena) {
    if (socket) socket.close();
    try {
      socket = Shell.connect("/arena", auth, { onRefused: (m) => { $("error").textContent = "Cannot sign in: " + m; } });
    } catch (e) { $("error").textContent = e.message; return; }
    socket.on("connect", () => { snaps.length = 0; join(arena); });
    socket.on("disconnect", () => { me = null; });
    socket.on("arena:joined", (p) => { names.set(p.id, p.name); roster(); });
    socket.on("arena:left", (p) => { names.delete(p.id); roster(); });
    socket.on("arena:state", (buf) => {
      const s = decode(buf);
      s.at = performance.now();
      snaps.push(s);
      if (snaps.length > 30) snaps.shift();
      received++;
      $("hud-tick").textContent = "tick " + s.tick;
    });
  }
  setInterval(() => { $("hud-rate").textContent = received + " snapshots/s"; received = 0; }, 1000);

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const username = $("username").value.trim();
    const arena = $("arena-name").value.trim();
    if (!username || !arena) return;
    Shell.saveAuth({ username });
    connect({ username }, arena);
  });
  const saved = Shell.savedAuth();
  if (saved && saved.username) $("username").value = saved.username;
  requestAnimationFrame(draw);
})();

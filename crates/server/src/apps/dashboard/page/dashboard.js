// The live dashboard: subscribes to /dashboard and draws the pushed samples on canvases by
// hand (no chart library). Text from the network is rendered with textContent only.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { el } = Shell;
  const KEEP = 120; // samples kept per chart: two minutes
  const series = { websocket: [], polling: [], msgIn: [], msgOut: [], rss: [], cpu: [] };
  let socket = null;
  // The samples seen, for tests and the curious (window.dashboardSamples).
  const samples = [];
  window.dashboardSamples = samples;

  function push(list, value) {
    list.push(value);
    if (list.length > KEEP) list.shift();
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "–";
    if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + " GB";
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MB";
    return (n / 1024).toFixed(0) + " KB";
  }

  function fmtRate(n) {
    if (n === null || n === undefined) return "–";
    return n >= 100 ? n.toFixed(0) : n.toFixed(1);
  }

  /** Draws lines of `lists` (same length) with a grid and the max on the left. */
  function draw(canvas, lists, colors) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const values = lists.flat().filter((v) => typeof v === "number");
    // The window grows with the samples, from 30 s to two minutes.
    const span = Math.max(30, Math.min(KEEP, Math.max(...lists.map((l) => l.length))));
    const top = Math.max(1, ...values) * 1.15;
    const left = 36, bottom = h - 14;
    g.strokeStyle = "#e6e9ee";
    g.fillStyle = "#5b6270";
    g.font = "11px system-ui, sans-serif";
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = 6 + ((bottom - 6) * i) / 4;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(w, y);
      g.stroke();
      const v = top * (1 - i / 4);
      g.fillText(v >= 10 ? v.toFixed(0) : v.toFixed(1), 2, y + 4);
    }
    g.fillText(span + " s ago", left, h - 2);
    g.fillText("now", w - 22, h - 2);
    lists.forEach((list, k) => {
      g.strokeStyle = colors[k];
      g.lineWidth = 2;
      g.beginPath();
      let started = false;
      list.forEach((v, i) => {
        if (typeof v !== "number") return;
        const x = left + ((w - left) * (i + span - list.length)) / (span - 1);
        const y = bottom - ((bottom - 6) * v) / top;
        if (started) g.lineTo(x, y);
        else { g.moveTo(x, y); started = true; }
      });
      g.stroke();
    });
  }

  function redraw() {
    const blue = "#1f5fbf", orange = "#c2410c";
    draw($("c-connections"), [series.websocket, series.polling], [blue, orange]);
    draw($("c-messages"), [series.msgIn, series.msgOut], [blue, orange]);
    draw($("c-memory"), [series.rss], [blue]);
    draw($("c-cpu"), [series.cpu], [blue]);
  }

  function show(s, live) {
    samples.push(s);
    if (samples.length > KEEP) samples.shift();
    $("v-connections").textContent = String(s.connections.total);
    $("v-transports").textContent = s.connections.websocket + " websocket · " + s.connections.polling + " polling";
    $("v-in").textContent = fmtRate(s.messages.inPerSec);
    $("v-out").textContent = fmtRate(s.messages.outPerSec);
    $("v-in-total").textContent = s.messages.inTotal + " in total";
    $("v-out-total").textContent = s.messages.outTotal + " in total";
    $("v-rooms").textContent = String(s.rooms);
    $("v-namespaces").textContent = s.namespaces.length + " namespaces";
    $("v-rss").textContent = fmtBytes(s.memory.rssBytes);
    $("v-cpu").textContent = s.cpu.percent === null || s.cpu.percent === undefined ? "–" : s.cpu.percent.toFixed(1) + " %";
    $("v-cpu-total").textContent = s.cpu.seconds === null ? "" : s.cpu.seconds.toFixed(1) + " s in total";
    const body = $("namespaces");
    body.replaceChildren(...s.namespaces.map((n) => el("tr", {}, el("td", {}, n.name), el("td", {}, String(n.sockets)), el("td", {}, String(n.rooms)))));
    const store = $("v-store");
    store.textContent = s.store.backend + (s.store.ok ? " · ok" : " · unreachable");
    store.className = s.store.ok ? "ok" : "bad";
    $("v-store-ms").textContent = s.store.roundTripMs.toFixed(2) + " ms";
    const a = s.adapter;
    $("v-adapter").textContent = a.kind + (a.link ? " · " + a.link + (a.queued ? " · " + a.queued + " queued" : "") : " (one node)");
    $("v-updated").textContent = new Date(s.ts).toLocaleTimeString();
    if (!live) return;
    push(series.websocket, s.connections.websocket);
    push(series.polling, s.connections.polling);
    push(series.msgIn, s.messages.inPerSec);
    push(series.msgOut, s.messages.outPerSec);
    push(series.rss, s.memory.rssBytes === null ? null : s.memory.rssBytes / (1 << 20));
    push(series.cpu, s.cpu.percent);
    redraw();
  }

  function connect(auth) {
    $("error").textContent = "";
    try {
      socket = Shell.connect("/dashboard", auth, {
        onRefused: (message) => {
          $("error").textContent = "Cannot open the dashboard: " + message;
          $("board").hidden = true;
          $("login").hidden = false;
        },
      });
    } catch (e) {
      $("error").textContent = e.message;
      return;
    }
    $("whoami").textContent = auth.username || "";
    socket.on("connect", () => {
      $("login").hidden = true;
      $("board").hidden = false;
      socket.emit("dashboard:subscribe", {}, (res) => {
        if (res && res.ok) show(res.sample, false);
        else $("error").textContent = (res && res.error && res.error.message) || "not subscribed";
      });
    });
    socket.on("dashboard:sample", (s) => show(s, true));
  }

  window.addEventListener("resize", redraw);
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const auth = { username: $("username").value.trim() };
    Shell.saveAuth(auth);
    connect(auth);
  });
  const saved = Shell.savedAuth();
  if (saved && saved.username) {
    $("username").value = saved.username;
    connect(saved);
  }
})();

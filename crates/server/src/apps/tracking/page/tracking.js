// Order tracking: a status timeline and the courier on a map drawn here (SVG streets, no
// tiles). Text from the network is set with textContent only.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { el } = Shell;
  const SVG = "http://www.w3.org/2000/svg";
  const SIZE = 1000, GAP = 100;
  const LABELS = {
    placed: "Order placed", confirmed: "Confirmed by the shop", preparing: "Being prepared",
    picked_up: "Picked up by the courier", out_for_delivery: "Out for delivery",
    delivered: "Delivered", cancelled: "Cancelled",
  };
  let socket = null;
  let orderId = null;
  const entries = new Map(); // seq → entry: an update seen twice is shown once

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }

  // The town: blocks between the streets (the server routes along the same grid), a park
  // and a river for looks.
  function drawTown() {
    const town = $("town");
    town.replaceChildren(svg("rect", { x: 0, y: 0, width: SIZE, height: SIZE, class: "block" }));
    town.append(svg("rect", { x: 360, y: 160, width: 180, height: 180, class: "park", rx: 10 }));
    town.append(svg("path", { d: "M0 760 C 250 700, 420 820, 620 770 S 900 700, 1000 740 L1000 790 C 880 760, 760 830, 600 820 S 260 760, 0 810 Z", class: "water" }));
    for (let at = GAP / 2; at < SIZE; at += GAP) {
      town.append(svg("line", { x1: at, y1: 0, x2: at, y2: SIZE, class: "street" }));
      town.append(svg("line", { x1: 0, y1: at, x2: SIZE, y2: at, class: "street" }));
    }
  }

  function drawRoute(delivery) {
    const ends = $("ends");
    ends.replaceChildren();
    if (!delivery || !delivery.route || delivery.route.length < 2) {
      $("route").setAttribute("points", "");
      $("courier").setAttribute("hidden", "");
      route = null;
      return;
    }
    const pts = delivery.route;
    setRoute(pts);
    $("route").setAttribute("points", pts.map((p) => p.join(",")).join(" "));
    const [sx, sy] = pts[0], [ex, ey] = pts[pts.length - 1];
    ends.append(svg("rect", { x: sx - 20, y: sy - 20, width: 40, height: 40, rx: 8, class: "shop" }));
    ends.append(svg("circle", { cx: ex, cy: ey, r: 22, class: "home" }));
    if (delivery.position) move(delivery.position, delivery.active);
  }

  // The marker glides along the route (never across a block) from the progress it shows to
  // the new one, over the time between the last two positions (at most a second).
  let route = null; // { pts, legs, total }
  let shown = null; // progress drawn now
  let glide = null; // { from, to, start, ms }
  let lastAt = 0;
  function setRoute(pts) {
    const legs = [];
    for (let i = 1; i < pts.length; i++) legs.push(Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]));
    route = { pts, legs, total: legs.reduce((a, b) => a + b, 0) };
    shown = null;
  }
  function pointAt(progress) {
    let left = Math.max(0, Math.min(1, progress)) * route.total;
    for (let i = 0; i < route.legs.length; i++) {
      const l = route.legs[i];
      if (left <= l && l > 0) {
        const [a, b] = [route.pts[i], route.pts[i + 1]];
        return { x: a[0] + (b[0] - a[0]) * (left / l), y: a[1] + (b[1] - a[1]) * (left / l) };
      }
      left -= l;
    }
    const end = route.pts[route.pts.length - 1];
    return { x: end[0], y: end[1] };
  }
  function place(progress) {
    shown = progress;
    const { x, y } = pointAt(progress);
    $("courier").setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
  }
  function frame(now) {
    if (!glide) return;
    const k = Math.min(1, (now - glide.start) / glide.ms);
    place(glide.from + (glide.to - glide.from) * k);
    if (k < 1) requestAnimationFrame(frame);
    else glide = null;
  }

  function move(p, active) {
    if (!route) return;
    const c = $("courier");
    c.removeAttribute("hidden"); // an SVG element has no `hidden` property
    c.dataset.x = p.x.toFixed(0);
    c.dataset.y = p.y.toFixed(0);
    const now = performance.now();
    const gap = lastAt ? Math.min(1000, Math.max(50, now - lastAt)) : 1000;
    lastAt = now;
    if (shown === null || document.hidden || p.progress < shown) {
      glide = null;
      place(p.progress);
    } else {
      const first = !glide;
      glide = { from: shown, to: p.progress, start: now, ms: gap };
      if (first) requestAnimationFrame(frame);
    }
    const pct = Math.round(p.progress * 100);
    $("progress").style.width = pct + "%";
    $("eta").textContent = p.progress >= 1 ? "The courier has arrived." :
      (active === false ? "The courier stopped." : `The courier is on the way: ${pct}% of the route done.`);
  }

  function showStatus() {
    const sorted = [...entries.values()].sort((a, b) => a.seq - b.seq);
    const list = $("timeline");
    list.replaceChildren();
    for (const e of sorted) {
      const when = new Date(e.ts);
      list.append(el("li", { dataset: { status: e.status, seq: String(e.seq) } },
        el("strong", {}, LABELS[e.status] || e.status),
        el("time", { dateTime: when.toISOString(), title: when.toLocaleString() }, Shell.formatTime(e.ts)),
        el("span", { className: "src" }, e.source === "courier" ? " · courier" : ""),
        e.note ? el("p", { className: "note" }, e.note) : null));
    }
    $("no-history").hidden = sorted.length > 0;
    const last = sorted[sorted.length - 1];
    const pill = $("status");
    pill.dataset.status = last ? last.status : "waiting";
    pill.textContent = last ? (LABELS[last.status] || last.status) : "Waiting for the shop";
  }

  function load(order) {
    entries.clear();
    for (const e of order.history) entries.set(e.seq, e);
    showStatus();
    drawRoute(order.delivery);
  }

  function track(id) {
    $("error").textContent = "";
    socket.emit("track", { orderId: id }, (res) => {
      if (!res || !res.ok) {
        $("error").textContent = "Cannot track this order: " + ((res && res.error && res.error.message) || "no answer");
        return;
      }
      orderId = id;
      $("order-title").textContent = "Order " + id;
      $("order-view").hidden = false;
      load(res.order);
    });
  }

  function connect(auth, id) {
    if (socket) socket.close();
    try {
      socket = Shell.connect("/tracking", auth, {
        onRefused: (message) => { $("error").textContent = "Cannot sign in: " + message; },
      });
    } catch (e) {
      $("error").textContent = e.message;
      return;
    }
    // On every (re)connection: track again, which answers the latest state (missed updates
    // included).
    socket.on("connect", () => track(orderId || id));
    socket.on("tracking:session", (s) => { $("demo").hidden = !s.dev; });
    socket.on("order:status", (e) => {
      if (e.orderId !== orderId) return;
      entries.set(e.seq, e);
      showStatus();
      if (e.status === "out_for_delivery") track(orderId); // the new route
    });
    socket.on("order:position", (p) => { if (p.orderId === orderId) move(p, true); });
  }

  $("track-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const username = $("username").value.trim();
    const id = $("order-id").value.trim();
    if (!username || !id) return;
    Shell.saveAuth({ username });
    const url = new URL(location.href);
    url.searchParams.set("order", id);
    window.history.replaceState(null, "", url);
    orderId = null;
    if (socket && socket.connected && socket.auth && socket.auth.username === username) track(id);
    else connect({ username }, id);
  });
  $("demo").addEventListener("click", () => {
    socket.emit("courier:start", { orderId }, (res) => {
      $("error").textContent = res && res.ok ? "" : "No courier: " + ((res && res.error && res.error.message) || "no answer");
    });
  });

  drawTown();
  const params = new URLSearchParams(location.search);
  if (params.get("order")) $("order-id").value = params.get("order");
  const saved = Shell.savedAuth();
  if (saved && saved.username) $("username").value = saved.username;
})();

// The auction page. Hand-written, no build step; every text from the network is rendered
// with textContent. Amounts travel in cents.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = {
    socket: null, me: null, auctions: new Map(), current: null, bids: [], skew: 0, ticker: null,
  };
  const money = (cents) => "$" + (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const now = () => Date.now() + state.skew;

  function setConn(kind, text) {
    $("connection").dataset.state = kind;
    $("connection").textContent = text;
    document.body.dataset.connection = kind;
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const username = $("username").value.trim();
    if (!username) return;
    sessionStorage.setItem("switchboard.auth", JSON.stringify({ username }));
    connect({ username });
  });

  function connect(auth) {
    if (typeof io !== "function") {
      $("login-error").textContent = "The Socket.IO client is not available on this server.";
      return;
    }
    if (state.socket) state.socket.close();
    state.me = auth.username;
    const socket = io("/auction", { auth });
    state.socket = socket;
    setConn("reconnecting", "Connecting…");
    socket.on("connect", () => {
      setConn("connected", "Connected");
      $("login-view").hidden = true;
      $("house-view").hidden = false;
      refresh();
      // Back after a cut or a restart: watch the open auction again (its state comes anew).
      if (state.current) open(state.current);
    });
    socket.on("disconnect", (reason) => {
      if (reason !== "io client disconnect") setConn("reconnecting", "Reconnecting…");
    });
    socket.on("connect_error", (err) => {
      if (socket.active) {
        setConn("reconnecting", "Reconnecting…");
      } else {
        setConn("offline", "Offline");
        $("login-error").textContent = "Cannot enter: " + ((err.data && err.data.message) || err.message);
        sessionStorage.removeItem("switchboard.auth");
        $("login-view").hidden = false;
        $("house-view").hidden = true;
      }
    });
    socket.on("auction:created", ({ auction }) => { state.auctions.set(auction.id, auction); renderList(); });
    socket.on("auction:ended", ({ auction }) => {
      state.auctions.set(auction.id, auction);
      renderList();
      if (auction.id === state.current) renderLot();
    });
    socket.on("auction:state", onState);
    socket.on("auction:bid", ({ bid, price, endsAt }) => {
      const a = state.auctions.get(bid.auctionId);
      if (a) {
        const extended = endsAt > a.endsAt;
        Object.assign(a, { price, endsAt, leader: { userId: bid.userId, username: bid.username }, bids: a.bids + 1, lastSeq: bid.seq });
        if (extended && bid.auctionId === state.current) $("extended").hidden = false;
      }
      if (bid.auctionId === state.current && !state.bids.some((b) => b.seq === bid.seq)) {
        state.bids.push(bid);
        renderLot();
      }
      renderList();
    });
  }

  function refresh() {
    state.socket.emit("auction:list", {}, (res) => {
      if (!res || !res.ok) return;
      state.skew = res.now - Date.now();
      state.auctions = new Map(res.auctions.map((a) => [a.id, a]));
      renderList();
      if (!state.current && res.auctions.length) open(res.auctions[0].id);
    });
  }

  function onState({ auction, bids, now: serverNow }) {
    state.skew = serverNow - Date.now();
    state.auctions.set(auction.id, auction);
    if (auction.id !== state.current) return;
    state.bids = bids;
    renderList();
    renderLot();
  }

  function open(id) {
    if (state.current && state.current !== id) state.socket.emit("auction:leave", { auctionId: state.current });
    state.current = id;
    state.bids = [];
    $("extended").hidden = true;
    $("bid-error").textContent = "";
    state.socket.emit("auction:join", { auctionId: id }, (res) => {
      if (!res || !res.ok) $("bid-error").textContent = res ? res.error.message : "No answer";
    });
    renderList();
  }

  function timeLeft(a) {
    const ms = a.endsAt - now();
    if (a.ended || ms <= 0) return "Ended";
    const s = Math.ceil(ms / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
  }

  function renderList() {
    const ul = $("auctions");
    ul.replaceChildren();
    const list = [...state.auctions.values()].sort((x, y) => (x.ended - y.ended) || (x.ended ? y.endsAt - x.endsAt : x.endsAt - y.endsAt));
    $("no-auctions").hidden = list.length > 0;
    for (const a of list) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = a.ended ? "ended" : "";
      b.setAttribute("aria-current", String(a.id === state.current));
      const t = document.createElement("span");
      t.className = "t";
      t.textContent = a.title;
      const p = document.createElement("span");
      p.className = "p";
      p.textContent = money(a.price);
      const s = document.createElement("span");
      s.className = "s";
      s.textContent = (a.ended ? "Ended" : timeLeft(a) + " left") + " · " + a.bids + (a.bids === 1 ? " bid" : " bids");
      b.append(t, p, s);
      b.addEventListener("click", () => open(a.id));
      li.append(b);
      ul.append(li);
    }
  }

  function minimum(a) {
    return a.leader ? a.price + a.increment : a.startPrice;
  }

  function renderLot() {
    const a = state.auctions.get(state.current);
    $("lot").hidden = !a;
    if (!a) return;
    const open = !a.ended && a.endsAt > now();
    $("lot").classList.toggle("ended", !open);
    $("lot-name").textContent = a.title;
    $("lot-seller").textContent = "Sold by " + a.seller.username + " · starts at " + money(a.startPrice) + " · +" + money(a.increment) + " steps";
    $("price-label").textContent = !a.leader ? "Starting price" : open ? "Current price" : "Final price";
    $("price").textContent = money(a.price);
    $("leader").textContent = a.leader
      ? (a.ended ? "Won by " : "Highest bid by ") + a.leader.username + (a.leader.userId === state.me ? " (you)" : "")
      : a.ended ? "No bids" : "No bids yet";
    $("countdown").textContent = timeLeft(a);
    $("countdown").classList.toggle("soon", open && a.endsAt - now() < 15000);
    const own = a.seller.userId === state.me;
    $("bid-form").hidden = !open || own;
    $("minimum").textContent = !open ? "This auction has ended." : own ? "This is your auction." : "Minimum bid: " + money(minimum(a));
    const input = $("bid-amount");
    const min = minimum(a) / 100;
    if (document.activeElement !== input && (!input.value || Number(input.value) < min)) input.value = min.toFixed(2);
    const ol = $("bids");
    ol.replaceChildren();
    for (const b of [...state.bids].sort((x, y) => y.seq - x.seq)) {
      const li = document.createElement("li");
      li.dataset.seq = String(b.seq);
      if (b.userId === state.me) li.classList.add("mine");
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = b.username;
      const amount = document.createElement("span");
      amount.className = "amount";
      amount.textContent = money(b.amount);
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = new Date(b.at).toLocaleTimeString();
      li.append(who, when, amount);
      ol.append(li);
    }
  }

  $("bid-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const amount = Math.round(Number($("bid-amount").value) * 100);
    $("bid-error").textContent = "";
    state.socket.emit("bid", { auctionId: state.current, amount }, (res) => {
      if (!res) return;
      if (!res.ok) {
        $("bid-error").textContent = res.error.code === "bid_too_low"
          ? "Someone bid first: the minimum is now " + money(res.error.minimum) + "."
          : res.error.message;
      }
    });
  });

  $("create-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const req = {
      title: $("lot-title").value.trim(),
      startPrice: Math.round(Number($("lot-start").value) * 100),
      increment: Math.round(Number($("lot-increment").value) * 100),
      durationMs: Math.round(Number($("lot-minutes").value) * 60000),
    };
    state.socket.emit("auction:create", req, (res) => {
      if (!res || !res.ok) {
        $("create-error").textContent = res ? res.error.message : "No answer";
        return;
      }
      $("create-error").textContent = "";
      $("lot-title").value = "";
      $("new-auction").open = false;
      state.auctions.set(res.auction.id, res.auction);
      open(res.auction.id);
    });
  });

  state.ticker = setInterval(() => {
    if (!state.socket) return;
    const a = state.auctions.get(state.current);
    if (a) {
      $("countdown").textContent = timeLeft(a);
      $("countdown").classList.toggle("soon", !a.ended && a.endsAt - now() > 0 && a.endsAt - now() < 15000);
    }
  }, 250);

  const saved = sessionStorage.getItem("switchboard.auth");
  if (saved) {
    try {
      const auth = JSON.parse(saved);
      if (auth.username) {
        $("username").value = auth.username;
        connect(auth);
      }
    } catch (_) { /* a bad entry: ask again */ }
  }
})();

// The notifications inbox. Text is rendered with textContent only.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let socket = null;

  function render(items) {
    const ul = $("items");
    ul.replaceChildren();
    for (const n of items) {
      const li = document.createElement("li");
      if (!n.read) li.classList.add("unread");
      const title = document.createElement("strong");
      title.textContent = n.title;
      const body = document.createElement("p");
      body.textContent = n.body;
      li.append(title, body);
      if (!n.read) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = "Mark read";
        b.addEventListener("click", () => socket.emit("notification:read", { id: n.id }, refresh));
        li.append(b);
      }
      ul.append(li);
    }
  }

  function refresh() {
    socket.emit("notification:list", { limit: 50 }, (res) => {
      if (res && res.ok) render(res.notifications);
    });
  }

  function connect(auth) {
    if (typeof io !== "function") {
      $("error").textContent = "The Socket.IO client is not available on this server.";
      return;
    }
    socket = io("/notifications", { auth });
    socket.on("connect", () => {
      $("banner").hidden = true;
      $("read-all").hidden = false;
      refresh();
    });
    socket.on("disconnect", () => {
      $("banner").textContent = "Reconnecting…";
      $("banner").hidden = false;
    });
    socket.on("connect_error", (err) => {
      if (!socket.active) $("error").textContent = (err.data && err.data.message) || err.message;
    });
    socket.on("notification:unread", (u) => { $("unread").textContent = String(u.count); });
    socket.on("notification:new", refresh);
  }

  $("read-all").addEventListener("click", () => socket.emit("notification:read", {}, refresh));
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const auth = { username: $("username").value.trim() };
    sessionStorage.setItem("switchboard.auth", JSON.stringify(auth));
    connect(auth);
  });
  const saved = sessionStorage.getItem("switchboard.auth");
  if (saved) {
    try {
      const auth = JSON.parse(saved);
      if (auth.username) $("username").value = auth.username;
      connect(auth);
    } catch (_) { /* ignore */ }
  }
})();

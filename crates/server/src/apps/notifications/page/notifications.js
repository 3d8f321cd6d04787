// The notifications inbox. Text from the network is rendered with textContent only.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { el } = Shell;
  let socket = null;

  function render(items) {
    const ul = $("items");
    ul.replaceChildren();
    $("empty").hidden = items.length > 0;
    for (const n of items) {
      const time = el("time", { dateTime: new Date(n.ts).toISOString(), title: new Date(n.ts).toLocaleString() }, Shell.formatTime(n.ts));
      const li = el("li", { className: n.read ? "" : "unread", dataset: { id: n.id } }, el("strong", {}, n.title), time, el("p", {}, n.body));
      if (!n.read) {
        const b = el("button", { type: "button" }, "Mark read");
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
    $("error").textContent = "";
    try {
      socket = Shell.connect("/notifications", auth, {
        onRefused: (message) => {
          $("error").textContent = "Cannot open the inbox: " + message;
          $("inbox-view").hidden = true;
          $("login-form").hidden = false;
        },
      });
    } catch (e) {
      $("error").textContent = e.message;
      return;
    }
    socket.on("connect", () => {
      $("login-form").hidden = true;
      $("inbox-view").hidden = false;
      refresh();
    });
    socket.on("notification:session", (s) => {
      $("inbox-title").textContent = "Inbox of " + s.username;
      $("send-test").hidden = !s.testable;
    });
    socket.on("notification:unread", (u) => { $("unread").textContent = String(u.count); });
    socket.on("notification:new", refresh);
  }

  $("read-all").addEventListener("click", () => socket.emit("notification:read", {}, refresh));
  $("send-test").addEventListener("click", () => {
    socket.emit("notification:test", {}, (res) => {
      $("error").textContent = res && res.ok ? "" : (res && res.error && res.error.message) || "not sent";
    });
  });
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

// The tic-tac-toe page. Hand-written, no build step; names are rendered with textContent.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { socket: null, me: null, games: new Map(), current: null, waiting: false, ticker: null };

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
    const socket = io("/tictactoe", { auth });
    state.socket = socket;
    setConn("reconnecting", "Connecting…");
    socket.on("connect", () => {
      setConn("connected", "Connected");
      $("login-view").hidden = true;
      $("game-view").hidden = false;
      $("whoami").textContent = "Playing as " + auth.username;
      // Looking for an opponent again after a reconnection (the queue is not kept).
      if (state.waiting) find();
    });
    socket.on("disconnect", (reason) => {
      if (reason !== "io client disconnect") setConn("reconnecting", "Reconnecting…");
    });
    socket.on("connect_error", (err) => {
      if (socket.active) {
        setConn("reconnecting", "Reconnecting…");
      } else {
        setConn("offline", "Offline");
        $("login-error").textContent = "Cannot play: " + ((err.data && err.data.message) || err.message);
        sessionStorage.removeItem("switchboard.auth");
        $("login-view").hidden = false;
        $("game-view").hidden = true;
      }
    });
    socket.on("game:state", onState);
  }

  function mine(game) {
    return game.x.userId === state.me || game.o.userId === state.me;
  }

  function onState(game) {
    if (!mine(game)) return;
    state.games.set(game.id, game);
    if (game.status === "playing" || !state.current || state.current === game.id) {
      state.current = game.id;
      state.waiting = false;
    }
    render();
  }

  function myMark(game) {
    return game.x.userId === state.me ? "X" : "O";
  }

  function statusText(game) {
    const me = myMark(game);
    const other = me === "X" ? game.o.username : game.x.username;
    switch (game.status) {
      case "playing":
        return game.turn === me ? "Your turn" : other + "'s turn";
      case "won":
        return game.winner === me ? "You won!" : other + " won";
      case "draw":
        return "It's a draw";
      case "forfeit":
        return game.winner === me ? "You won: " + other + " forfeited" : "You forfeited";
      default:
        return "";
    }
  }

  function render() {
    const game = state.games.get(state.current);
    // The lobby shows before the first game and while looking for an opponent.
    $("lobby").hidden = Boolean(game) && !state.waiting;
    $("find").hidden = state.waiting;
    $("cancel").hidden = !state.waiting;
    $("lobby-text").textContent = state.waiting
      ? "Looking for an opponent…"
      : "We pair you with the next player who is looking.";
    $("match").hidden = !game;
    if (!game) return;
    const me = myMark(game);
    const playing = game.status === "playing";
    $("name-x").textContent = game.x.username + (me === "X" ? " (you)" : "");
    $("name-o").textContent = game.o.username + (me === "O" ? " (you)" : "");
    for (const el of document.querySelectorAll(".player")) {
      el.classList.toggle("turn", playing && el.dataset.mark === game.turn);
    }
    $("status").textContent = statusText(game);
    $("status").dataset.status = game.status;
    const board = $("board");
    if (board.children.length !== 9) {
      board.replaceChildren();
      for (let i = 0; i < 9; i++) {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.cell = String(i);
        b.addEventListener("click", () => move(i));
        board.append(b);
      }
    }
    game.board.forEach((mark, i) => {
      const b = board.children[i];
      b.textContent = mark || "";
      b.dataset.mark = mark || "";
      b.classList.toggle("win", Boolean(game.line && game.line.includes(i)));
      b.disabled = !playing || Boolean(mark) || game.turn !== me;
      b.setAttribute("aria-label", "Cell " + (i + 1) + ", " + (mark || "empty"));
    });
    $("resign").hidden = !playing;
    const asked = game.rematch.includes(state.me);
    $("rematch").hidden = playing || Boolean(game.nextId);
    $("rematch").disabled = asked;
    $("rematch").textContent = asked ? "Waiting for a rematch…" : game.rematch.length ? "Accept rematch" : "Rematch";
    $("new-game").hidden = playing;
    renderAway(game);
  }

  function renderAway(game) {
    clearInterval(state.ticker);
    const away = (game.away || []).filter((a) => a.userId !== state.me);
    if (game.status !== "playing" || !away.length) {
      $("away").hidden = true;
      return;
    }
    const who = away[0];
    const name = who.userId === game.x.userId ? game.x.username : game.o.username;
    const tick = () => {
      const s = Math.max(0, Math.ceil((who.forfeitAt - Date.now()) / 1000));
      $("away").textContent = name + " left the game. They forfeit in " + s + " s unless they come back.";
    };
    tick();
    $("away").hidden = false;
    state.ticker = setInterval(tick, 1000);
  }

  function showError(res) {
    $("move-error").textContent = res && res.ok === false ? res.error.message : "";
  }

  function find() {
    state.waiting = true;
    render();
    state.socket.emit("game:find", {}, (res) => {
      if (!res || !res.ok) {
        state.waiting = false;
        showError(res);
      } else if (res.game) {
        onState(res.game);
      }
      render();
    });
  }

  function move(cell) {
    const game = state.games.get(state.current);
    if (!game) return;
    state.socket.emit("game:move", { gameId: game.id, cell }, (res) => {
      showError(res);
      if (res && res.ok) onState(res.game);
    });
  }

  $("find").addEventListener("click", find);
  $("new-game").addEventListener("click", () => {
    state.current = null;
    find();
  });
  $("cancel").addEventListener("click", () => {
    state.waiting = false;
    state.socket.emit("game:cancel", {}, () => render());
    render();
  });
  $("resign").addEventListener("click", () => {
    const game = state.games.get(state.current);
    if (game && confirm("Give this game up?")) {
      state.socket.emit("game:resign", { gameId: game.id }, showError);
    }
  });
  $("rematch").addEventListener("click", () => {
    const game = state.games.get(state.current);
    if (!game) return;
    state.socket.emit("game:rematch", { gameId: game.id }, (res) => {
      showError(res);
      if (res && res.ok && res.game) onState(res.game);
    });
  });

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

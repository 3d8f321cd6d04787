// The collaborative editor: a Y.Doc (the npm `yjs`, served by the binary) bound to a textarea,
// synced with the server by the Yjs sync protocol over Socket.IO (y-protocols messages as
// binary attachments), with awareness (names, colours, cursors, selections) drawn on a
// backdrop behind the text. Text from the network is rendered with textContent only.
import * as Y from "yjs";
import * as encoding from "lib0/encoding";
import * as decoding from "lib0/decoding";

const $ = (id) => document.getElementById(id);
const { el } = Shell;
const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7c3aed", "#be185d", "#0f766e", "#a16207", "#4338ca"];
const MSG_SYNC = 0, MSG_AWARENESS = 1, STEP1 = 0, STEP2 = 1, UPDATE = 2;

let socket = null;
let docId = null;
let joined = false;
let me = null;
const ydoc = new Y.Doc();
const ytext = ydoc.getText("text");
const remote = new Map(); // clientID → { clock, state }
let clock = 0;
let lastValue = "";
let maxBytes = 0;

function colorOf(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return COLORS[h % COLORS.length];
}

function syncMessage(type, payload) {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MSG_SYNC);
  encoding.writeVarUint(e, type);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

function awarenessMessage(states) {
  const inner = encoding.createEncoder();
  encoding.writeVarUint(inner, states.length);
  for (const [id, c, state] of states) {
    encoding.writeVarUint(inner, id);
    encoding.writeVarUint(inner, c);
    encoding.writeVarString(inner, JSON.stringify(state));
  }
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MSG_AWARENESS);
  encoding.writeVarUint8Array(e, encoding.toUint8Array(inner));
  return encoding.toUint8Array(e);
}

function showError(res) {
  if (res && res.ok) {
    if (typeof res.bytes === "number") showSize(res.bytes);
    $("doc-error").textContent = "";
    return;
  }
  const error = (res && res.error) || { message: "no answer" };
  $("doc-error").textContent = "Not saved: " + error.message;
}

function showSize(bytes) {
  const kb = (n) => (n / 1024).toFixed(1) + " KB";
  $("doc-size").textContent = maxBytes ? kb(bytes) + " of " + kb(maxBytes) : kb(bytes);
}

function sendSync(message) {
  socket.emit("editor:sync", { docId, data: message }, showError);
}

// Local edits: sent once the server's sync step 1 arrived (offline edits go in the step 2).
ydoc.on("update", (update, origin) => {
  if (origin === "remote" || !joined || !socket || !socket.connected) return;
  sendSync(syncMessage(UPDATE, update));
});

function onSync({ docId: id, data }) {
  if (id !== docId) return;
  const d = decoding.createDecoder(new Uint8Array(data));
  if (decoding.readVarUint(d) !== MSG_SYNC) return;
  const type = decoding.readVarUint(d);
  const payload = decoding.readVarUint8Array(d);
  if (type === STEP1) {
    joined = true;
    sendSync(syncMessage(STEP2, Y.encodeStateAsUpdate(ydoc, payload)));
    sendSync(syncMessage(STEP1, Y.encodeStateVector(ydoc)));
    publishCursor();
  } else {
    Y.applyUpdate(ydoc, payload, "remote");
  }
}

function onAwareness({ docId: id, data }) {
  if (id !== docId) return;
  const d = decoding.createDecoder(new Uint8Array(data));
  if (decoding.readVarUint(d) !== MSG_AWARENESS) return;
  const inner = decoding.createDecoder(decoding.readVarUint8Array(d));
  const count = decoding.readVarUint(inner);
  for (let i = 0; i < count; i++) {
    const client = decoding.readVarUint(inner);
    const c = decoding.readVarUint(inner);
    const state = JSON.parse(decoding.readVarString(inner));
    if (client === ydoc.clientID) continue;
    const known = remote.get(client);
    if (known && known.clock > c) continue;
    if (state === null) remote.delete(client);
    else remote.set(client, { clock: c, state });
  }
  renderPeople();
  renderCursors();
}

// The textarea → Y.Text: the changed span between the common prefix and suffix.
$("text").addEventListener("input", () => {
  const value = $("text").value;
  const old = lastValue;
  let start = 0;
  while (start < old.length && start < value.length && old[start] === value[start]) start++;
  let endOld = old.length, endNew = value.length;
  while (endOld > start && endNew > start && old[endOld - 1] === value[endNew - 1]) { endOld--; endNew--; }
  lastValue = value;
  ydoc.transact(() => {
    if (endOld > start) ytext.delete(start, endOld - start);
    if (endNew > start) ytext.insert(start, value.slice(start, endNew));
  }, "local");
  publishCursor();
});

// Y.Text → the textarea, keeping the local selection where the remote change moved it.
ytext.observe((event, tr) => {
  if (tr.origin === "local") return;
  const ta = $("text");
  let s = ta.selectionStart, e = ta.selectionEnd, at = 0;
  for (const op of event.delta) {
    if (op.retain) at += op.retain;
    else if (op.insert) {
      const n = typeof op.insert === "string" ? op.insert.length : 1;
      if (at < s) s += n;
      if (at < e) e += n;
      at += n;
    } else if (op.delete) {
      if (at < s) s -= Math.min(op.delete, s - at);
      if (at < e) e -= Math.min(op.delete, e - at);
    }
  }
  lastValue = ytext.toString();
  ta.value = lastValue;
  if (document.activeElement === ta) ta.setSelectionRange(s, e);
  renderCursors();
});

let cursorTimer = null;
function publishCursor() {
  if (cursorTimer) return;
  cursorTimer = setTimeout(() => {
    cursorTimer = null;
    if (!joined || !socket || !socket.connected) return;
    const ta = $("text");
    const rel = (i) => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, i));
    const state = { user: me, cursor: { anchor: rel(ta.selectionStart), head: rel(ta.selectionEnd) } };
    clock++;
    socket.volatile.emit("editor:awareness", { docId, data: awarenessMessage([[ydoc.clientID, clock, state]]) });
  }, 40);
}
for (const ev of ["select", "keyup", "mouseup", "focus"]) $("text").addEventListener(ev, publishCursor);
document.addEventListener("selectionchange", () => { if (document.activeElement === $("text")) publishCursor(); });
$("text").addEventListener("scroll", () => { $("backdrop").scrollTop = $("text").scrollTop; });

function absolute(json) {
  try {
    const pos = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), ydoc);
    return pos ? pos.index : null;
  } catch (_) {
    return null;
  }
}

function renderCursors() {
  const text = ytext.toString();
  const marks = [];
  for (const [client, { state }] of remote) {
    if (!state || !state.cursor || !state.user) continue;
    const a = absolute(state.cursor.anchor), h = absolute(state.cursor.head);
    if (a === null || h === null) continue;
    marks.push({ client, from: Math.min(a, h), to: Math.max(a, h), head: h, user: state.user });
  }
  const cuts = new Set([0, text.length]);
  for (const m of marks) { cuts.add(m.from); cuts.add(m.to); cuts.add(m.head); }
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((x, y) => x - y);
  const back = $("backdrop");
  back.replaceChildren();
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    for (const m of marks) {
      if (m.head === p) {
        const color = /^#[0-9a-f]{6}$/i.test(m.user.color) ? m.user.color : "#555";
        const caret = el("span", { className: "caret", dataset: { client: String(m.client) } }, el("span", { className: "name" }, String(m.user.name || "someone")));
        caret.style.borderColor = color;
        caret.lastChild.style.background = color;
        back.append(caret);
      }
    }
    if (i + 1 < points.length) {
      const slice = text.slice(p, points[i + 1]);
      const covering = marks.find((m) => m.from <= p && points[i + 1] <= m.to && m.from !== m.to);
      if (covering) {
        const mark = el("mark", {}, slice);
        mark.style.background = (/^#[0-9a-f]{6}$/i.test(covering.user.color) ? covering.user.color : "#555555") + "33";
        back.append(mark);
      } else {
        back.append(document.createTextNode(slice));
      }
    }
  }
  back.append(document.createTextNode("\n"));
  back.scrollTop = $("text").scrollTop;
}

function renderPeople() {
  const ul = $("people");
  ul.replaceChildren();
  const people = [me, ...[...remote.values()].map((r) => r.state && r.state.user).filter(Boolean)];
  const seen = new Set();
  for (const p of people) {
    const key = p.name + p.color;
    if (seen.has(key)) continue;
    seen.add(key);
    const li = el("li", { title: p === me ? "you" : p.name }, p === me ? p.name + " (you)" : String(p.name));
    li.style.background = /^#[0-9a-f]{6}$/i.test(p.color) ? p.color : "#555";
    ul.append(li);
  }
}

function open(auth, name) {
  docId = name;
  me = { name: auth.username || "me", color: colorOf(auth.username || String(ydoc.clientID)) };
  $("error").textContent = "";
  try {
    socket = Shell.connect("/editor", auth, {
      onRefused: (message) => {
        $("error").textContent = "Cannot open the editor: " + message;
        $("editor-view").hidden = true;
        $("login").hidden = false;
      },
    });
  } catch (e) {
    $("error").textContent = e.message;
    return;
  }
  $("whoami").textContent = me.name;
  $("doc-title").textContent = name;
  history.replaceState(null, "", "/editor?doc=" + encodeURIComponent(name));
  socket.on("editor:sync", onSync);
  socket.on("editor:awareness", onAwareness);
  socket.on("connect", () => {
    $("login").hidden = true;
    $("editor-view").hidden = false;
    socket.emit("editor:join", { docId }, (res) => {
      if (!res || !res.ok) {
        $("doc-error").textContent = "Cannot open the document: " + ((res && res.error && res.error.message) || "no answer");
        return;
      }
      maxBytes = res.limits.maxDocumentBytes;
      showSize(res.bytes);
    });
  });
  socket.on("disconnect", () => {
    joined = false;
    remote.clear();
    renderPeople();
    renderCursors();
  });
  renderPeople();
}

$("copy-link").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(location.href);
    $("copy-link").textContent = "Link copied";
  } catch (_) {
    $("copy-link").textContent = location.href;
  }
  setTimeout(() => { $("copy-link").textContent = "Copy link"; }, 2000);
});

const wanted = new URLSearchParams(location.search).get("doc");
if (wanted) $("doc-name").value = wanted;
$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const auth = { username: $("username").value.trim() };
  Shell.saveAuth(auth);
  open(auth, $("doc-name").value.trim());
});
const saved = Shell.savedAuth();
if (saved && saved.username && wanted) {
  $("username").value = saved.username;
  open(saved, wanted);
} else if (saved && saved.username) {
  $("username").value = saved.username;
}

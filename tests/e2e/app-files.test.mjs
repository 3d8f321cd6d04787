// File sharing in the chat of the `switchboard` binary, with the official socket.io-client:
// chunked uploads as binary attachments over polling and WebSocket arrive byte-identical,
// resume after a reconnect and after a restart, limits give clear errors and store nothing,
// downloads need the same auth, and on PostgreSQL another node serves the bytes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { cleanup, request, sessionClient, startApp, tempDataDir, waitFor } from "./lib/app.mjs";
import { startPostgres } from "./lib/postgres.mjs";

const sha = (buf) => createHash("sha256").update(buf).digest("hex");
const MB5 = 5 * 1024 * 1024;

/** A PNG signature followed by `n` random bytes (the server checks the first bytes). */
const png = (n) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(n)]);

/** Sends `bytes` from `offset` in the server's chunk size; the last ack. */
async function sendChunks(socket, uploadId, bytes, offset, chunkSize, stopAt = bytes.length) {
  let ack = { offset };
  while (offset < stopAt) {
    const data = bytes.subarray(offset, Math.min(offset + chunkSize, stopAt));
    ack = await request(socket, "file:chunk", { uploadId, offset, data });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.offset, offset + data.length);
    offset = ack.offset;
  }
  return ack;
}

/** Uploads `bytes` as `name`/`type` into `roomId`; the `file:end` ack. */
async function upload(socket, roomId, name, type, bytes, extra = {}) {
  const begin = await request(socket, "file:begin", { roomId, name, type, size: bytes.length, ...extra });
  assert.equal(begin.ok, true, JSON.stringify(begin));
  await sendChunks(socket, begin.uploadId, bytes, 0, begin.chunkSize);
  return request(socket, "file:end", { uploadId: begin.uploadId });
}

async function download(url, path, username) {
  const headers = username === undefined ? {} : { "x-switchboard-user": encodeURIComponent(username) };
  const res = await fetch(url + path, { headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Every file under `dir/files`, recursively. */
function storedFiles(dir) {
  const root = join(dir, "files");
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

describe("file sharing in rooms", () => {
  let app;
  const sockets = [];
  before(async () => {
    app = await startApp({ args: ["--max-file-size", String(6 * 1024 * 1024), "--rate-limit", "1000", "--rate-burst", "1000"] });
  });
  after(async () => {
    for (const s of sockets) s.close();
    await app.stop();
    cleanup(app.dataDir);
  });

  const user = async (name, opts) => {
    const c = await sessionClient(app.url, { username: name }, opts);
    sockets.push(c.socket);
    return c.socket;
  };

  for (const [transport, opts] of [
    ["long-polling", { transports: ["polling"], upgrade: false }],
    ["WebSocket", { transports: ["websocket"] }],
  ]) {
    test(`a 5 MB file over ${transport} arrives byte-identical, announced with message:new`, async () => {
      const room = `files-${transport}`;
      const ann = await user(`ann-${transport}`, opts);
      const bob = await user(`bob-${transport}`);
      assert.equal((await request(ann, "room:join", { roomId: room })).ok, true);
      assert.equal((await request(bob, "room:join", { roomId: room })).ok, true);
      const bytes = randomBytes(MB5);
      const announced = waitFor(bob, "message:new", (m) => m.roomId === room, 30_000);
      const end = await upload(ann, room, "archive.zip", "application/zip", bytes);
      assert.equal(end.ok, true, JSON.stringify(end));
      assert.deepEqual(end.file, { id: end.file.id, name: "archive.zip", type: "application/zip", size: MB5, thumbnail: false });
      const m = await announced;
      assert.equal(m.id, end.id);
      assert.equal(m.text, "archive.zip");
      assert.deepEqual(m.file, end.file);
      const got = await download(app.url, `/files/${m.file.id}`, `bob-${transport}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.length, MB5);
      assert.equal(sha(got.body), sha(bytes));
      assert.match(got.headers.get("content-disposition"), /^attachment; filename="archive.zip"/);
      assert.equal(got.headers.get("x-content-type-options"), "nosniff");
      // History carries the file too.
      const history = await request(bob, "messages:history", { roomId: room });
      assert.deepEqual(history.messages.at(-1).file, end.file);
    });
  }

  test("an upload resumes after a reconnect from the offset the server has", async () => {
    const room = "files-resume";
    const first = await user("cleo");
    await request(first, "room:join", { roomId: room });
    const bytes = randomBytes(1024 * 1024 + 123);
    const begin = await request(first, "file:begin", { roomId: room, name: "notes.txt", type: "text/plain", size: bytes.length });
    await sendChunks(first, begin.uploadId, bytes, 0, begin.chunkSize, 600 * 1024);
    first.close();
    const second = await user("cleo");
    const status = await request(second, "file:status", { uploadId: begin.uploadId });
    assert.deepEqual(status, { ok: true, uploadId: begin.uploadId, offset: 600 * 1024, size: bytes.length });
    // A chunk at the wrong offset says where to go on.
    const wrong = await request(second, "file:chunk", { uploadId: begin.uploadId, offset: 0, data: bytes.subarray(0, 10) });
    assert.equal(wrong.ok, false);
    assert.equal(wrong.error.code, "bad_offset");
    assert.equal(wrong.error.offset, 600 * 1024);
    // Ending early is refused with the offset too.
    const early = await request(second, "file:end", { uploadId: begin.uploadId });
    assert.equal(early.error.code, "incomplete");
    await sendChunks(second, begin.uploadId, bytes, status.offset, begin.chunkSize);
    const end = await request(second, "file:end", { uploadId: begin.uploadId });
    assert.equal(end.ok, true, JSON.stringify(end));
    // A retried end gets the same answer.
    const again = await request(second, "file:end", { uploadId: begin.uploadId });
    assert.equal(again.duplicate, true);
    assert.equal(again.id, end.id);
    const got = await download(app.url, `/files/${end.file.id}`, "cleo");
    assert.equal(sha(got.body), sha(bytes));
    // Another user cannot see or continue someone else's upload.
    const other = await request(await user("dora"), "file:status", { uploadId: begin.uploadId });
    assert.equal(other.error.code, "unknown_upload");
  });

  test("images: a thumbnail from the page is kept and served; an image whose bytes are not that image is refused", async () => {
    const room = "files-images";
    const eve = await user("eve");
    await request(eve, "room:join", { roomId: room });
    const image = png(200_000);
    const thumbnail = png(2_000);
    const end = await upload(eve, room, "photo.png", "image/png", image, { thumbnail });
    assert.equal(end.ok, true, JSON.stringify(end));
    assert.equal(end.file.thumbnail, true);
    const thumb = await download(app.url, `/files/${end.file.id}/thumbnail`, "eve");
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get("content-type"), "image/png");
    assert.equal(sha(thumb.body), sha(thumbnail));
    const full = await download(app.url, `/files/${end.file.id}`, "eve");
    assert.equal(full.headers.get("content-type"), "image/png");
    assert.match(full.headers.get("content-disposition"), /^inline/);
    assert.equal(sha(full.body), sha(image));

    const before = storedFiles(app.dataDir).length;
    const fake = await upload(eve, room, "fake.png", "image/png", randomBytes(100_000));
    assert.equal(fake.ok, false);
    assert.equal(fake.error.code, "type_mismatch");
    const badThumb = await request(eve, "file:begin", { roomId: room, name: "x.png", type: "image/png", size: 10, thumbnail: Buffer.from("<svg></svg>") });
    assert.equal(badThumb.error.code, "invalid_thumbnail");
    assert.equal(storedFiles(app.dataDir).length, before, "nothing stored");
  });

  test("an oversized or forbidden file gets a clear error and nothing is stored", async () => {
    const dir = tempDataDir();
    const small = await startApp({ dataDir: dir, args: ["--max-file-size", "1000"] });
    try {
      const { socket } = await sessionClient(small.url, { username: "fred" });
      try {
        await request(socket, "room:join", { roomId: "limits" });
        const big = await request(socket, "file:begin", { roomId: "limits", name: "big.zip", type: "application/zip", size: 1001 });
        assert.equal(big.ok, false);
        assert.equal(big.error.code, "file_too_large");
        assert.equal(big.error.maxBytes, 1000);
        assert.match(big.error.message, /larger than the limit of 1000 bytes/);
        const exe = await request(socket, "file:begin", { roomId: "limits", name: "setup.exe", type: "application/x-msdownload", size: 10 });
        assert.equal(exe.error.code, "file_type_not_allowed");
        assert.ok(exe.error.allowed.includes("image/png"));
        const html = await request(socket, "file:begin", { roomId: "limits", name: "page.html", type: "text/html", size: 10 });
        assert.equal(html.error.code, "file_type_not_allowed");
        // A chunk past the size given at the start is refused too.
        const ok = await request(socket, "file:begin", { roomId: "limits", name: "a.txt", type: "text/plain", size: 5 });
        const past = await request(socket, "file:chunk", { uploadId: ok.uploadId, offset: 0, data: Buffer.alloc(6) });
        assert.equal(past.error.code, "beyond_size");
        const notMember = await request(socket, "file:begin", { roomId: "elsewhere", name: "a.txt", type: "text/plain", size: 5 });
        assert.equal(notMember.error.code, "not_member");
        const history = await request(socket, "messages:history", { roomId: "limits" });
        assert.deepEqual(history.messages, []);
        assert.deepEqual(storedFiles(dir).filter((f) => !f.endsWith(".part")), [], "no file stored");
      } finally {
        socket.close();
      }
    } finally {
      await small.stop();
      cleanup(dir);
    }
  });

  test("downloads need the same auth and membership of the room", async () => {
    const room = "files-private";
    const gus = await user("gus");
    await request(gus, "room:join", { roomId: room });
    const end = await upload(gus, room, "secret.txt", "text/plain", Buffer.from("top secret"));
    assert.equal((await download(app.url, `/files/${end.file.id}`)).status, 401);
    assert.equal((await download(app.url, `/files/${end.file.id}`, "")).status, 401);
    const stranger = await download(app.url, `/files/${end.file.id}`, "hank");
    assert.equal(stranger.status, 404);
    assert.equal((await download(app.url, "/files/nope", "gus")).status, 404);
    const own = await download(app.url, `/files/${end.file.id}`, "gus");
    assert.equal(own.body.toString(), "top secret");
  });
});

describe("file uploads across a restart", () => {
  test("kill -9 mid-upload, restart: file:status gives the offset on disk and the upload completes", async () => {
    const dataDir = tempDataDir();
    let app = await startApp({ dataDir });
    try {
      const ivy = await sessionClient(app.url, { username: "ivy" }, { reconnection: false });
      await request(ivy.socket, "room:join", { roomId: "restart-files" });
      const bytes = randomBytes(900 * 1024);
      const begin = await request(ivy.socket, "file:begin", { roomId: "restart-files", name: "big.pdf", type: "application/pdf", size: bytes.length });
      await sendChunks(ivy.socket, begin.uploadId, bytes, 0, begin.chunkSize, 512 * 1024);
      ivy.socket.close();
      await app.kill9();
      app = await startApp({ dataDir, port: app.port });
      const again = await sessionClient(app.url, { username: "ivy" });
      try {
        const status = await request(again.socket, "file:status", { uploadId: begin.uploadId });
        assert.equal(status.offset, 512 * 1024);
        await sendChunks(again.socket, begin.uploadId, bytes, status.offset, begin.chunkSize);
        const end = await request(again.socket, "file:end", { uploadId: begin.uploadId });
        assert.equal(end.ok, true, JSON.stringify(end));
        const got = await download(app.url, `/files/${end.file.id}`, "ivy");
        assert.equal(sha(got.body), sha(bytes));
      } finally {
        again.socket.close();
      }
    } finally {
      await app.stop();
      cleanup(dataDir);
    }
  });
});

describe("files on PostgreSQL (cluster mode)", () => {
  let pg;
  const apps = [];
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    for (const app of apps) {
      await app.stop();
      cleanup(app.dataDir);
    }
    await pg?.stop();
  });

  test("a file uploaded to one node is served by another (its bytes are in the database)", async () => {
    const url = pg.database();
    const a = await startApp({ args: ["--database", url] });
    apps.push(a);
    const b = await startApp({ args: ["--database", url] });
    apps.push(b);
    const jon = await sessionClient(a.url, { username: "jon" });
    try {
      await request(jon.socket, "room:join", { roomId: "pg-files" });
      const bytes = randomBytes(MB5);
      const end = await upload(jon.socket, "pg-files", "data.zip", "application/zip", bytes);
      assert.equal(end.ok, true, JSON.stringify(end));
      const got = await download(b.url, `/files/${end.file.id}`, "jon");
      assert.equal(got.status, 200);
      assert.equal(sha(got.body), sha(bytes));
      assert.deepEqual(storedFiles(a.dataDir).filter((f) => !f.endsWith(".part")), [], "no bytes on the node's disk");
    } finally {
      jon.socket.close();
    }
  });
});

describe("file downloads with JWT auth", () => {
  test("the uploader's token downloads; a bad or missing token is refused", async () => {
    const { createHmac } = await import("node:crypto");
    const secret = "files-secret";
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const token = (sub) => {
      const head = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ sub, name: sub, exp: Math.floor(Date.now() / 1000) + 60 });
      return head + "." + createHmac("sha256", secret).update(head).digest("base64url");
    };
    const app = await startApp({ env: { SWITCHBOARD_JWT_SECRET: secret } });
    const kim = await sessionClient(app.url, { token: token("kim") });
    try {
      await request(kim.socket, "room:join", { roomId: "jwt-files" });
      const end = await upload(kim.socket, "jwt-files", "k.txt", "text/plain", Buffer.from("for kim"));
      assert.equal(end.ok, true, JSON.stringify(end));
      const get = (headers) => fetch(`${app.url}/files/${end.file.id}`, { headers });
      const ok = await get({ authorization: `Bearer ${token("kim")}` });
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), "for kim");
      assert.equal((await get({ authorization: "Bearer not.a.token" })).status, 401);
      // A dev-mode name is no sign-in on a JWT server.
      assert.equal((await get({ "x-switchboard-user": "kim" })).status, 401);
      assert.equal((await get({ authorization: `Bearer ${token("lee")}` })).status, 404, "not a member");
    } finally {
      kim.socket.close();
      await app.stop();
      cleanup(app.dataDir);
    }
  });
});

// The `switchboard` binary serving HTTPS and WSS itself (`--tls-cert`, `--tls-key`): the
// official client connects with the test's own CA, over its default path (polling, then the
// upgrade to WebSocket) and over WebSocket alone; bad TLS configuration stops the start with one
// clear line.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, request, sessionClient, startApp, tempDataDir, waitFor } from "./lib/app.mjs";

/** A self-signed certificate for 127.0.0.1 and localhost, made by openssl in `dir`. */
function selfSigned(dir) {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=switchboard-test",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  return { cert, key, pem: readFileSync(cert) };
}

describe("TLS", () => {
  let app;
  let certDir;
  let tls;
  before(async () => {
    certDir = tempDataDir();
    tls = selfSigned(certDir);
    app = await startApp({ args: ["--tls-cert", tls.cert, "--tls-key", tls.key] });
  });
  after(async () => {
    await app?.stop();
    if (app) cleanup(app.dataDir);
    cleanup(certDir);
  });

  test("the server says https and serves its page over TLS", async () => {
    assert.match(app.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    // Node's fetch has no per-call CA: check the page through the same TLS stack the client uses.
    const { get } = await import("node:https");
    const body = await new Promise((resolve, reject) => {
      const req = get(app.url + "/", { ca: tls.pem }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      });
      req.on("error", reject);
      req.setTimeout(5000, () => req.destroy(new Error("no answer within 5 s")));
    });
    assert.equal(body.status, 200);
    assert.match(body.text, /<html/i);
  });

  test("the official client connects over polling, upgrades to WSS, and chats", async () => {
    const ann = await sessionClient(app.url, { username: "ann-tls" }, { ca: tls.pem });
    const bob = await sessionClient(app.url, { username: "bob-tls" }, { ca: tls.pem, transports: ["websocket"] });
    try {
      const engine = ann.socket.io.engine;
      if (engine.transport.name !== "websocket") {
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("no upgrade within 5 s")), 5000);
          engine.once("upgrade", () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      assert.equal(engine.transport.name, "websocket");
      assert.equal(bob.socket.io.engine.transport.name, "websocket");
      await request(ann.socket, "room:join", { roomId: "tls-room" });
      await request(bob.socket, "room:join", { roomId: "tls-room" });
      const got = waitFor(bob.socket, "message:new");
      const ack = await request(ann.socket, "message:send", { roomId: "tls-room", text: "over tls", clientId: "t1" });
      assert.equal(ack.ok, true);
      assert.equal((await got).text, "over tls");
    } finally {
      ann.socket.close();
      bob.socket.close();
    }
  });

  test("a client that does not trust the certificate is refused, the server keeps serving", async () => {
    const { io } = await import("socket.io-client");
    const socket = io(app.url + "/chat", { auth: { username: "eve-tls" }, forceNew: true, reconnection: false });
    try {
      const err = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no connect_error within 5 s")), 5000);
        socket.once("connect", () => reject(new Error("connected without trusting the certificate")));
        socket.once("connect_error", (e) => {
          clearTimeout(timer);
          resolve(e);
        });
      });
      assert.ok(err instanceof Error);
    } finally {
      socket.close();
    }
    const again = await sessionClient(app.url, { username: "ann-tls-2" }, { ca: tls.pem });
    again.socket.close();
  });
});

describe("TLS configuration errors", () => {
  const bin = process.env.SWITCHBOARD_SERVER_BIN;
  const run = (args) => {
    const dir = tempDataDir();
    try {
      return spawnSync(bin, ["--port", "0", "--data-dir", dir, ...args], { encoding: "utf8", timeout: 15_000 });
    } finally {
      cleanup(dir);
    }
  };

  test("--tls-cert without --tls-key is refused with one clear line", () => {
    const out = run(["--tls-cert", "/nonexistent/cert.pem"]);
    assert.notEqual(out.status, 0);
    assert.match(out.stderr, /--tls-key/);
    assert.equal(out.stdout, "");
  });

  test("an unreadable certificate is refused before listening", () => {
    const out = run(["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"]);
    assert.notEqual(out.status, 0);
    assert.match(out.stderr, /cannot read the TLS certificate \/nonexistent\/cert\.pem/);
    assert.equal(out.stdout, "");
  });
});

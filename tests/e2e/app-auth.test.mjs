// Auth of the `switchboard` binary: dev usernames, and JWT (HS256 secret, RS256 public key)
// with exp/nbf/aud/iss checks and a pinned algorithm. Refusals are connect_error with
// data { code, message }.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, connect, refused, request, sessionClient, startApp, tempDataDir } from "./lib/app.mjs";

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims, secret, alg = "HS256") {
  const head = b64({ alg, typ: "JWT" }) + "." + b64(claims);
  const hash = { HS256: "sha256", HS384: "sha384" }[alg];
  return head + "." + createHmac(hash, secret).update(head).digest("base64url");
}

function rs256(claims, privateKey) {
  const head = b64({ alg: "RS256", typ: "JWT" }) + "." + b64(claims);
  return head + "." + sign("sha256", Buffer.from(head), privateKey).toString("base64url");
}

function assertRefused(err, code) {
  assert.equal(err.data?.code, code, JSON.stringify({ message: err.message, data: err.data }));
  assert.equal(typeof err.data.message, "string");
  assert.equal(err.message, err.data.message);
}

describe("dev mode", () => {
  let app;
  before(async () => {
    app = await startApp();
  });
  after(async () => {
    await app.stop();
    cleanup(app.dataDir);
  });

  test("a valid username connects to /chat and /notifications; the user id is the name", async () => {
    const s = await connect(app.url, "/chat", { username: "Zoë 🙂" });
    const online = await request(s, "users:online");
    assert.ok(online.users.some((u) => u.userId === "Zoë 🙂" && u.username === "Zoë 🙂"));
    s.close();
    const n = await connect(app.url, "/notifications", { username: "Zoë 🙂" });
    n.close();
  });

  test("bad usernames are refused with connect_error { code, message }", async () => {
    assertRefused(await refused(app.url, "/chat", {}), "missing_username");
    for (const username of ["", "x".repeat(33), "a\u0000b", "tab\there", 42, "   "]) {
      assertRefused(await refused(app.url, "/chat", { username }), "invalid_username");
    }
    assertRefused(await refused(app.url, "/notifications", { username: "" }), "invalid_username");
  });

  test("a token in dev mode is refused as a token, with or without a name (never blamed on the name)", async () => {
    for (const auth of [{ token: "a.b.c" }, { username: "ann", token: "a.b.c" }]) {
      const err = await refused(app.url, "/chat", auth);
      assertRefused(err, "token_not_accepted");
      assert.match(err.message, /dev mode/);
    }
  });
});

describe("JWT with an HS256 secret", () => {
  let app;
  const secret = "a-long-test-secret";
  const good = () => ({ sub: "u-1", name: "Ann", aud: "switchboard", iss: "tests", exp: now() + 60 });
  before(async () => {
    app = await startApp({
      args: ["--jwt-audience", "switchboard", "--jwt-issuer", "tests"],
      env: { SWITCHBOARD_JWT_SECRET: secret },
    });
  });
  after(async () => {
    await app.stop();
    cleanup(app.dataDir);
  });

  test("a valid token connects; the user id is sub, the username is name", async () => {
    const { socket: s, session } = await sessionClient(app.url, { token: hs256(good(), secret) });
    assert.deepEqual(session, { userId: "u-1", username: "Ann", rooms: [] });
    s.close();
  });

  test("a name alone is refused with what is missing; test notifications are for dev mode only", async () => {
    const err = await refused(app.url, "/chat", { username: "ann" });
    assertRefused(err, "missing_token");
    assert.match(err.message, /needs a token/);
    const n = await connect(app.url, "/notifications", { token: hs256(good(), secret) });
    try {
      const res = await request(n, "notification:test", {});
      assert.equal(res.ok, false);
      assert.equal(res.error.code, "forbidden");
    } finally {
      n.close();
    }
  });

  test("expired, not yet valid, wrong audience, wrong issuer, bad signature, other algorithms are refused", async () => {
    const cases = [
      [{ ...good(), exp: now() - 10 }, secret, "HS256", "token_expired"],
      [{ ...good(), nbf: now() + 600 }, secret, "HS256", "token_not_yet_valid"],
      [{ ...good(), aud: "other" }, secret, "HS256", "invalid_audience"],
      [{ ...good(), iss: "mallory" }, secret, "HS256", "invalid_issuer"],
      [good(), "wrong-secret", "HS256", "invalid_signature"],
      [good(), secret, "HS384", "invalid_algorithm"],
    ];
    for (const [claims, key, alg, code] of cases) {
      assertRefused(await refused(app.url, "/chat", { token: hs256(claims, key, alg) }), code);
    }
    const { exp: _, ...noExp } = good();
    assertRefused(await refused(app.url, "/chat", { token: hs256(noExp, secret) }), "invalid_token");
    const unsigned = b64({ alg: "none", typ: "JWT" }) + "." + b64(good()) + ".";
    const err = await refused(app.url, "/chat", { token: unsigned });
    assert.ok(["invalid_algorithm", "invalid_token"].includes(err.data.code), err.data.code);
    assertRefused(await refused(app.url, "/chat", { token: "not.a.jwt" }), "invalid_token");
    assertRefused(await refused(app.url, "/chat", {}), "missing_token");
    assertRefused(await refused(app.url, "/chat", { username: "ann" }), "missing_token");
  });
});

describe("JWT with an RS256 public key", () => {
  let app;
  let dir;
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
  before(async () => {
    dir = tempDataDir();
    const pem = join(dir, "public.pem");
    writeFileSync(pem, publicKey.export({ type: "spki", format: "pem" }));
    app = await startApp({ args: ["--jwt-public-key", pem] });
  });
  after(async () => {
    await app.stop();
    cleanup(app.dataDir);
    cleanup(dir);
  });

  test("a token signed with the matching private key connects; others are refused", async () => {
    const claims = { sub: "rsa-user", exp: now() + 60 };
    const { socket: s, session } = await sessionClient(app.url, { token: rs256(claims, privateKey) });
    assert.deepEqual(session, { userId: "rsa-user", username: "rsa-user", rooms: [] });
    s.close();
    // A UUID subject (36 characters) is a valid user id; the name defaults to its first 32.
    const uuid = "6f1c2a4e-8d3b-4c7a-9e2f-0a1b2c3d4e5f";
    const { socket: u, session: uma } = await sessionClient(app.url, {
      token: rs256({ sub: uuid, username: "Uma", exp: now() + 60 }, privateKey),
    });
    assert.deepEqual(uma, { userId: uuid, username: "Uma", rooms: [] });
    u.close();
    assertRefused(await refused(app.url, "/chat", { token: rs256(claims, other.privateKey) }), "invalid_signature");
    // An HS256 token "signed" with the public key text must not pass (algorithm confusion).
    const pemText = publicKey.export({ type: "spki", format: "pem" });
    assertRefused(await refused(app.url, "/chat", { token: hs256(claims, pemText) }), "invalid_algorithm");
  });
});

// PostgreSQL for the tests of the `switchboard` binary's shared store: Debian's `postgresql`
// package, a fresh cluster in a temporary directory on a free port of 127.0.0.1, stopped by
// PID. As root it runs as the `postgres` user (PostgreSQL refuses root).
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { within } from "./eio.mjs";

function binDir() {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "postgres"))).sort((a, b) => Number(a) - Number(b))
    : [];
  if (versions.length === 0) {
    throw new Error("PostgreSQL is not installed: run `cargo xtask ensure-apt postgresql`");
  }
  return join(root, versions.at(-1), "bin");
}

/** uid and gid of `postgres` when running as root, else undefined. */
function owner() {
  if (process.getuid() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("running as root, but there is no postgres user to run PostgreSQL as");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** What the server logs for a client connecting while it starts or stops. */
const CLIENT_FATAL = /FATAL:\s+the database system is (starting up|shutting down|not yet accepting connections)/;

/** Starts a PostgreSQL server; `database()` creates a database and gives its URL. */
export async function startPostgres() {
  const bin = binDir();
  const user = owner();
  const dir = mkdtempSync(join(tmpdir(), "sb-pg-"));
  chmodSync(dir, 0o700);
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(join(bin, "initdb"), ["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C", "-D", data], {
    stdio: "ignore",
    cwd: dir,
    ...as,
  });
  const port = await freePort();
  let child;
  const run = async () => {
    child = spawn(
      join(bin, "postgres"),
      ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
      { stdio: ["ignore", "ignore", "pipe"], cwd: dir, ...as },
    );
    await within(
      60_000,
      new Promise((resolve, reject) => {
        createInterface({ input: child.stderr }).on("line", (line) => {
          if (line.includes("ready to accept connections")) resolve();
          // Clients connecting during a restart get FATAL lines of their own: not a failure.
          if (line.includes("FATAL") && !CLIENT_FATAL.test(line)) reject(new Error(`PostgreSQL did not start: ${line}`));
        });
        child.once("exit", (code) => reject(new Error(`PostgreSQL exited with ${code}`)));
      }),
      "PostgreSQL start",
    );
  };
  const halt = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      await once(child, "exit");
    }
  };
  await run();
  let n = 0;
  return {
    /** A new empty database: its URL. */
    database() {
      const name = `e2e_${process.pid}_${n++}`;
      execFileSync(join(bin, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-qc", `CREATE DATABASE ${name}`], {
        stdio: "ignore",
      });
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    /** Runs `statement` on database `db` (a name, or a URL made by `database()`). */
    sql(db, statement) {
      const name = db.includes("/") ? db.slice(db.lastIndexOf("/") + 1) : db;
      return execFileSync(join(bin, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", name, "-qAtc", statement], {
        encoding: "utf8",
      });
    },
    /** Creates `role` with `password` and makes the server check it on TCP connections. */
    requirePassword(role, password) {
      this.sql("postgres", `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      const hba = join(data, "pg_hba.conf");
      writeFileSync(hba, `host all ${role} 127.0.0.1/32 scram-sha-256\n` + readFileSync(hba, "utf8"));
      this.sql("postgres", "SELECT pg_reload_conf()");
    },
    /** Stops the server (fast shutdown), keeping its files for `resume()`. */
    pause: halt,
    /** Starts the server again on the same port and files. */
    resume: run,
    /** Fast shutdown (SIGINT), then removes its files. */
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

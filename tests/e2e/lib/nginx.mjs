// nginx (the Debian package) as a plain round-robin load balancer in front of a few local
// servers: its own config file, pid, logs and temp paths in a temporary directory, run in
// the foreground as a child and stopped by PID. No `ip_hash`, no sticky cookie.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A free TCP port of 127.0.0.1. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; fails after `ms`. */
async function listening(port, ms, exited) {
  const end = Date.now() + ms;
  for (;;) {
    if (exited()) throw new Error("nginx exited during its start");
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nginx did not listen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts nginx on a free port, round-robin over `127.0.0.1:PORT` for each of `ports`, with
 * WebSocket upgrades passed through. `accessLog()` gives the lines `STATUS UPSTREAM URI`.
 */
export async function startNginx(ports) {
  const dir = mkdtempSync(join(tmpdir(), "sb-nginx-"));
  const port = await freePort();
  const servers = ports.map((p) => `    server 127.0.0.1:${p};`).join("\n");
  const asRoot = process.getuid?.() === 0 ? "user root;\n" : "";
  const conf = `${asRoot}daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  log_format lb '$status $upstream_addr "$request_uri"';
  access_log ${dir}/access.log lb;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream nodes {
${servers}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://nodes;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_read_timeout 120s;
    }
  }
}
`;
  const file = join(dir, "nginx.conf");
  writeFileSync(file, conf);
  const child = spawn("/usr/sbin/nginx", ["-p", dir, "-e", join(dir, "error.log"), "-c", file], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = once(child, "exit");
  const running = () => child.exitCode === null && child.signalCode === null;
  await listening(port, 10_000, () => !running());
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    /** The access log so far: `{ status, upstream, uri }` per request. */
    accessLog() {
      let text = "";
      try {
        text = readFileSync(join(dir, "access.log"), "utf8");
      } catch {
        return [];
      }
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const m = /^(\d+) (\S+) "(.*)"$/.exec(line);
          return m ? { status: Number(m[1]), upstream: m[2], uri: m[3] } : { status: 0, upstream: "", uri: line };
        });
    },
    async stop() {
      if (running()) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

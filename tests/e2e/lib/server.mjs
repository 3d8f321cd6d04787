// Starts the protocol test server (the `conformance` example) for a test file.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

/**
 * Starts `$SWITCHBOARD_CONFORMANCE_BIN --port <port> ...args` and resolves once it printed
 * `listening on http://127.0.0.1:PORT`.
 * @returns {Promise<{port: number, url: string, stop: () => Promise<void>}>}
 */
export async function startServer({ port = 0, args = [] } = {}) {
  const bin = process.env.SWITCHBOARD_CONFORMANCE_BIN;
  if (!bin) {
    throw new Error("SWITCHBOARD_CONFORMANCE_BIN must point to the built conformance example");
  }
  const child = spawn(bin, ["--port", String(port), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const bound = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start within 10 s")), 10_000);
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening`));
    });
  });
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill();
        await once(child, "exit");
      }
    },
  };
}

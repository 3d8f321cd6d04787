// What the metrics cost per echo with an ack, in instructions, measured under callgrind (which
// counts instructions, so a loaded machine does not disturb it): the `bench` example server runs
// under `valgrind --tool=callgrind`; one official client over WebSocket sends `echo` with an
// ack, DEPTH at a time; after a warm-up the counters are dumped (`callgrind_control -d`), then
// N more echoes are answered and the counters dumped again. The second dump holds exactly
// those N echoes (callgrind zeroes its counters at each dump), all threads together.
//
//   cargo build --release -p switchboard --example bench && cp target/release/examples/bench /tmp/bench-off
//   cargo build --release -p switchboard --example bench --features metrics
//   node bench/metrics-callgrind.mjs /tmp/bench-off target/release/examples/bench [N] [DEPTH] [REPEAT]
//
// Each mode runs REPEAT times (3), interleaved; the median, min and max are printed: the
// count moves a little from run to run with how the runtime's threads park and wake.
//
// Modes: `off` (built without the feature), `compiled` (with the feature, no recorder: what a
// library user who does not install one pays), `on` (`--metrics`: a Prometheus recorder).
// socket.io-client comes from tests/e2e/node_modules (`cd tests/e2e && npm ci`).
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const require = createRequire(new URL("../tests/e2e/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [off, withFeature, count = "2000", depthArg = "1", repeatArg = "3"] = process.argv.slice(2);
if (!off || !withFeature) {
  console.error("usage: node bench/metrics-callgrind.mjs BENCH_WITHOUT_FEATURE BENCH_WITH_FEATURE [N] [DEPTH]");
  process.exit(2);
}
const N = Number(count);
const DEPTH = Number(depthArg);
const REPEAT = Number(repeatArg);
const WARM = 300;

/** `n` echoes, `DEPTH` in flight. */
async function echoes(socket, n) {
  let sent = 0;
  const lane = async () => {
    while (sent < n) {
      sent++;
      const got = await socket.timeout(600_000).emitWithAck("echo", "payload-0123456789");
      if (got !== "payload-0123456789") throw new Error(`bad echo ${got}`);
    }
  };
  await Promise.all(Array.from({ length: DEPTH }, lane));
}

/** Instructions (Ir) of `file`'s totals line. */
function instructions(file) {
  const text = readFileSync(file, "utf8");
  const line = text.split("\n").find((l) => l.startsWith("totals:") || l.startsWith("summary:"));
  return Number(line.split(/\s+/)[1]);
}

async function measure(name, bin, args) {
  const dir = mkdtempSync(join(tmpdir(), "sb-callgrind-"));
  const child = spawn(
    "valgrind",
    ["--tool=callgrind", `--callgrind-out-file=${join(dir, "cg.out")}`, bin, "--port", "0", ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const port = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  const socket = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
  await once(socket, "connect");
  await echoes(socket, WARM);
  execFileSync("callgrind_control", ["-d", String(child.pid)], { stdio: "ignore" });
  const start = Date.now();
  await echoes(socket, N);
  execFileSync("callgrind_control", ["-d", String(child.pid)], { stdio: "ignore" });
  const seconds = (Date.now() - start) / 1000;
  socket.close();
  child.kill("SIGTERM");
  await once(child, "exit");
  const ir = instructions(join(dir, "cg.out.2"));
  // KEEP_DUMPS=1 keeps them, for `callgrind_annotate --inclusive=yes DIR/cg.out.2`.
  if (process.env.KEEP_DUMPS) console.error(`${name}: dumps kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return { name, perEcho: ir / N, seconds };
}

const modes = [
  ["off", off, []],
  ["compiled", withFeature, []],
  ["on", withFeature, ["--metrics"]],
];
const runs = new Map(modes.map(([name]) => [name, []]));
for (let i = 0; i < REPEAT; i++) {
  for (const [name, bin, args] of modes) {
    const r = await measure(name, bin, args);
    runs.get(name).push(r.perEcho);
    console.error(`run ${i + 1} ${name}: ${Math.round(r.perEcho)} (${r.seconds.toFixed(1)} s)`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString("en");
console.log(`${N} echoes per run, depth ${DEPTH}, ${REPEAT} runs per mode (instructions per echo)`);
const base = median(runs.get("off"));
for (const [name, xs] of runs) {
  const m = median(xs);
  const ratio = (m / base).toFixed(4);
  console.log(`${name.padEnd(9)} median ${fmt(m)}  min ${fmt(Math.min(...xs))}  max ${fmt(Math.max(...xs))}  ${name === "off" ? "" : `ratio to off ${ratio} (${m >= base ? "+" : ""}${fmt(m - base)})`}`);
}

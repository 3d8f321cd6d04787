// A TCP relay between a client and the server under test that can cut its connections:
// `drop()` closes both sides (the server sees the close at once), `freeze()` stops forwarding
// in both directions without a FIN or RST reaching the server (a half-open connection), and
// `vanish()` then closes the client's side only, leaving the server's side open and silent.
import net from "node:net";

/**
 * Starts a relay on 127.0.0.1 (port 0) to `127.0.0.1:targetPort`.
 * @returns {Promise<{port: number, url: string, retarget: (port: number) => void,
 *   drop: () => void, freeze: () => void, vanish: () => void, close: () => Promise<void>}>}
 */
export async function startRelay(targetPort) {
  let target = targetPort;
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, "127.0.0.1");
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("data", (chunk) => {
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!pair.frozen) client.write(chunk);
    });
    const end = () => {
      if (pair.frozen) return; // a frozen upstream stays open and silent
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  const frozen = [];
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    /** New connections go to `127.0.0.1:port` from now on (another node of a cluster). */
    retarget(port) {
      target = port;
    },
    /** Closes every current connection, both sides. */
    drop() {
      for (const p of [...pairs]) {
        p.client.destroy();
        p.upstream.destroy();
        pairs.delete(p);
      }
    },
    /** Stops forwarding on every current connection; nothing reaches either side. */
    freeze() {
      for (const p of pairs) p.frozen = true;
    },
    /** Closes the client's side of the frozen connections; the server's side stays open. */
    vanish() {
      for (const p of [...pairs]) {
        if (!p.frozen) continue;
        pairs.delete(p);
        frozen.push(p.upstream);
        p.client.destroy();
      }
    },
    async close() {
      for (const p of pairs) {
        p.frozen = true;
        p.client.destroy();
        p.upstream.destroy();
      }
      for (const u of frozen) u.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

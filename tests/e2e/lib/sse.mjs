// A Server-Sent Events reader over `fetch` (a plain HTTP client: no EventSource), for the
// `/sse` tests of the `switchboard` binary.

/**
 * Opens `url` with `headers`; resolves once the response headers arrived, with `{ status,
 * headers, next(ms), nextEvent(ms), close() }`. `next` resolves with the next block (an event
 * `{ id, event, data }` or a comment `{ comment }`), `nextEvent` skips comments.
 */
export async function openSse(url, headers = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let ended = false;
  // A read still pending when a `next` timed out: the next call takes it over, so that no
  // chunk is lost.
  let pending = null;
  async function next(ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        return parse(block);
      }
      if (ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE block within ${ms} ms; buffered ${JSON.stringify(buffer)}`);
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no SSE block within ${ms} ms`)), left);
      });
      if (pending === null) {
        pending = reader.read();
        // An abort (`close()`) rejects it; nobody may be waiting then.
        pending.catch(() => {});
      }
      try {
        const { value, done } = await Promise.race([pending, timeout]);
        pending = null;
        if (done) ended = true;
        else buffer += decoder.decode(value, { stream: true });
      } finally {
        clearTimeout(timer);
      }
    }
  }
  return {
    status: response.status,
    headers: response.headers,
    next,
    async nextEvent(ms = 5000) {
      for (;;) {
        const block = await next(ms);
        if (block === null || block.comment === undefined) return block;
      }
    },
    async text() {
      return response.status === 200 ? null : await response.text();
    },
    close() {
      controller.abort();
    },
  };
}

/** One SSE block: `{ comment }` or `{ id, event, data }` (`id` undefined when absent). */
function parse(block) {
  if (block.startsWith(":")) return { comment: block.slice(1).trim() };
  const out = { id: undefined, event: "message", data: "" };
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") out.id = value;
    else if (field === "event") out.event = value;
    else if (field === "data") out.data = out.data ? `${out.data}\n${value}` : value;
  }
  return out;
}

import type { MiddlewareHandler } from "hono";

/**
 * Most a request body is read past the point where its answer was decided (bytes and wall time). Under
 * `wrangler dev` an answer given while a large body is still arriving reaches the client as a 500
 * ("Network connection lost" in Miniflare's entry worker; cancelling the body does not help, reading it
 * to its end does: workerd#1741). So, like nginx's lingering close, the rest is read and discarded
 * within this budget before answering; a body larger than that is answered at once (on Cloudflare
 * an early answer is delivered as it is).
 */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
export const DRAIN_MAX_MS = 10_000;

/** Answers given without looking at the body: it is cancelled instead of drained. */
const REFUSED = new Set([401, 403, 405, 429, 503]);

/** Bytes asked of the body per read when draining (a ~4 KiB chunk per read would cost ~10x the time). */
const DRAIN_READ_BYTES = 256 * 1024;

/** Requests whose body was read to its end (`markBodyRead`): nothing is left to drain. */
const readToEnd = new WeakSet<Request>();

/** Tells the drain that `req`'s body was read to its end, so it skips the reader and timer of a drain that would find nothing. */
export function markBodyRead(req: Request): void {
  readToEnd.add(req);
}

/**
 * Mount early: after the response is decided, reads and discards what no handler read of the request
 * body (a rejected upload, a body a route ignores), within the budget above. A body that is locked
 * (still being streamed somewhere, e.g. to an upstream) is left alone; a failed read (the client went
 * away) ends the drain quietly.
 */
export function drainUnreadBody(budget: { maxBytes: number; maxMs: number } = { maxBytes: DRAIN_MAX_BYTES, maxMs: DRAIN_MAX_MS }): MiddlewareHandler {
  return async (c, next) => {
    // The request as it arrived: a middleware may replace c.req.raw with a buffered copy.
    const req = c.req.raw;
    await next();
    // A refused caller (no token, a method not allowed, shed load) is answered at once: its body is
    // cancelled, not read, so an anonymous or shed sender holds nothing of the worker for the drain's time.
    if (REFUSED.has(c.res.status)) return void (req.body?.locked ? undefined : req.body?.cancel().catch(() => undefined));
    if (!readToEnd.has(req)) await discardRest(req, budget.maxBytes, budget.maxMs);
  };
}

/** Reads and discards what is left of `req`'s body, up to `maxBytes` and `maxMs`; never throws. */
export async function discardRest(req: Request, maxBytes: number, maxMs: number): Promise<void> {
  const body = req.body;
  if (body === null || body.locked) return;
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) return; // more than the budget: not worth starting
  const reader = chunkReader(body);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), maxMs);
  });
  let total = 0;
  try {
    while (total <= maxBytes) {
      const read = await Promise.race([reader.read(), timedOut]);
      if (read === "timeout") {
        await reader.cancel().catch(() => undefined);
        return;
      }
      if (read === null) return;
      total += read;
    }
  } catch {
    // The client went away, or the stream was already cancelled: nothing left to read.
  } finally {
    clearTimeout(timer);
    reader.release();
  }
}

/** Reads of a body in large chunks where workerd can (a byte stream: readAtLeast), else as it comes. */
function chunkReader(body: ReadableStream<Uint8Array>): { read(): Promise<number | null>; cancel(): Promise<void>; release(): void } {
  const release = (r: { releaseLock(): void }) => () => {
    try {
      r.releaseLock();
    } catch {
      // a read still pending after a cancel: the lock goes with the request
    }
  };
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // not a byte stream (made in this isolate)
  }
  if (byob !== undefined) {
    const r = byob;
    let buffer = new Uint8Array(DRAIN_READ_BYTES);
    return {
      read: async () => {
        const { done, value } = await r.readAtLeast(DRAIN_READ_BYTES, buffer);
        if (value !== undefined) buffer = new Uint8Array(value.buffer);
        return done ? null : (value?.byteLength ?? 0);
      },
      cancel: () => r.cancel(),
      release: release(r),
    };
  }
  const r = body.getReader();
  return {
    read: async () => {
      const { done, value } = await r.read();
      return done ? null : value.byteLength;
    },
    cancel: () => r.cancel(),
    release: release(r),
  };
}

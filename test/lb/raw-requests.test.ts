// Requests no fetch() client can make, sent over a raw socket to the deploy bundle under Miniflare
// (issue 16 review): a GET with a body, and a body that never ends sent to a guarded route without a
// token. Neither may cost a 500 or hold the answer until the sender stops.
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type RunningWorker } from "../../bench/lib/worker";

let worker: RunningWorker;

beforeAll(async () => {
  worker = await startWorker({ ADMIN_TOKEN: "raw-admin", API_TOKEN: "raw-api" });
});
afterAll(async () => {
  await worker?.stop();
});

/** Opens a socket to the worker, writes `head` (and optionally more), resolves with the first answer line. */
function firstLine(head: string, keepOpen: (s: Socket) => void = () => undefined): Promise<{ line: string; socket: Socket }> {
  const { hostname, port } = new URL(worker.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(head);
      keepOpen(socket);
    });
    let got = "";
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      const end = got.indexOf("\r\n");
      if (end >= 0) resolve({ line: got.slice(0, end), socket });
    });
    socket.on("error", reject);
  });
}

describe("requests only a raw socket can send", () => {
  it.each(["/healthz", "/cache/stats", "/"])("a GET of %s with a JSON body is answered as a GET, never a 500", async (path) => {
    const body = '{"a":1}';
    const auth = path === "/cache/stats" ? "Authorization: Bearer raw-api\r\n" : "";
    const { line, socket } = await firstLine(`GET ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    socket.destroy();
    expect(line).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("a body that never ends, sent without a token, is answered 401 while it is still arriving (not drained first)", async () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    let chunks = 0;
    const { line, socket } = await firstLine("POST /kv/cas HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", (s) => {
      // One byte a second, for as long as the socket is open: the answer must not wait for its end.
      timer = setInterval(() => void (s.write("1\r\n \r\n"), chunks++), 1000);
    });
    clearInterval(timer);
    socket.destroy();
    expect(line).toMatch(/^HTTP\/1\.1 401 /);
    // The drain would have held it for its whole budget (10 s, a chunk a second); refused, it is answered
    // at once. Five chunks leave a wide margin for a slow machine.
    expect(chunks).toBeLessThan(5);
  });
});

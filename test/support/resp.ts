// A small RESP2 client over node:net (no dependency), for the differential test against real
// redis-server. Commands go out as arrays of bulk strings; replies are parsed incrementally, so a
// reply split across TCP reads (or many replies in one read) is handled.
import { connect, type Socket } from "node:net";

/**
 * A RESP2 reply: simple strings and bulk strings are strings, nil is null, errors are RespError;
 * integers are numbers, or bigints beyond 2^53 (a number would round them).
 */
export type RespReply = null | number | bigint | string | RespError | RespReply[];

export class RespError {
  constructor(readonly message: string) {}
}

/** Encodes one command as a RESP array of bulk strings (lengths in UTF-8 bytes). */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a, "utf8");
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

/** Thrown inside the parser when the buffer ends before the reply does. */
const INCOMPLETE = Symbol("incomplete");

/**
 * Parses one reply starting at `pos`; returns it with the position after it, or INCOMPLETE when the
 * buffer holds only part of it (the caller waits for more bytes and parses again from the start).
 */
export function parseReply(buf: Buffer, pos: number): { reply: RespReply; next: number } | typeof INCOMPLETE {
  const line = (from: number): { text: string; next: number } | typeof INCOMPLETE => {
    const end = buf.indexOf("\r\n", from);
    if (end < 0) return INCOMPLETE;
    return { text: buf.toString("utf8", from, end), next: end + 2 };
  };
  if (pos >= buf.length) return INCOMPLETE;
  const type = String.fromCharCode(buf[pos]!);
  const head = line(pos + 1);
  if (head === INCOMPLETE) return INCOMPLETE;
  switch (type) {
    case "+":
      return { reply: head.text, next: head.next };
    case "-":
      return { reply: new RespError(head.text), next: head.next };
    case ":": {
      const n = Number(head.text);
      return { reply: Number.isSafeInteger(n) ? n : BigInt(head.text), next: head.next };
    }
    case "$": {
      const n = Number(head.text);
      if (n < 0) return { reply: null, next: head.next };
      if (buf.length < head.next + n + 2) return INCOMPLETE;
      return { reply: buf.toString("utf8", head.next, head.next + n), next: head.next + n + 2 };
    }
    case "*": {
      const n = Number(head.text);
      if (n < 0) return { reply: null, next: head.next };
      const items: RespReply[] = [];
      let at = head.next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, at);
        if (r === INCOMPLETE) return INCOMPLETE;
        items.push(r.reply);
        at = r.next;
      }
      return { reply: items, next: at };
    }
    default:
      throw new Error(`RESP: unexpected type byte ${JSON.stringify(type)} at ${pos}`);
  }
}

export class RespClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: RespReply) => void; reject: (e: Error) => void }[] = [];
  private failed: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => this.onData(d));
    const fail = (e: Error) => {
      this.failed = e;
      for (const w of this.waiting.splice(0)) w.reject(e);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("RESP: connection closed")));
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        socket.setNoDelay(true);
        resolve(new RespClient(socket));
      });
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    while (this.waiting.length > 0) {
      const r = parseReply(this.buf, pos);
      if (r === INCOMPLETE) break;
      pos = r.next;
      this.waiting.shift()!.resolve(r.reply);
    }
    this.buf = this.buf.subarray(pos);
  }

  /** Sends one command; resolves with its reply (an error reply resolves as a RespError, it does not reject). */
  call(args: readonly string[]): Promise<RespReply> {
    return this.pipeline([args]).then((r) => r[0]!);
  }

  /** Sends the commands in one write; resolves with their replies in order. */
  pipeline(cmds: readonly (readonly string[])[]): Promise<RespReply[]> {
    if (this.failed) return Promise.reject(this.failed);
    const replies = cmds.map(() => new Promise<RespReply>((resolve, reject) => this.waiting.push({ resolve, reject })));
    this.socket.write(Buffer.concat(cmds.map(encodeCommand)));
    return Promise.all(replies);
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * What a reverse proxy does to headers on the way through (RFC 9110 §7.6): hop-by-hop fields describe
 * one connection and are not forwarded, the upstream learns who the client was from X-Forwarded-*, and
 * the client learns which upstream answered from X-Upstream / X-LB-Attempts. Credentials of this
 * origin (Authorization, Cookie) go upstream, and the upstream's Set-Cookie reaches the client, only
 * when the pool says so; what comes back is kept inert on this origin (content-safety.ts). Pure:
 * Headers in, new Headers out; the inputs are never modified.
 */
import { contentSafetyHeaders } from "./content-safety";

/**
 * Hop-by-hop header names, lowercase: Connection and the fields RFC 9110 §7.6.1 names as
 * connection-specific (Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade), plus the classic
 * list of RFC 2616 §13.5.1 that proxies still strip (Proxy-Authenticate, Proxy-Authorization, Trailer).
 * Stripping Upgrade means a WebSocket handshake is not forwarded by these functions: Workers proxy
 * WebSockets through a separate path (a fetch whose response carries `webSocket`). HTTP2-Settings is
 * connection-specific too (RFC 7540 §3.2.1: always listed in Connection). The list matters because a
 * Connection header is not always visible: workerd under Miniflare hands it to the Worker, but a
 * front proxy (wrangler dev's, Cloudflare's edge) may consume it first, and with it the names it
 * listed; those names cannot be known then, so only this fixed list is dropped.
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  "connection",
  "http2-settings",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** RFC 9110 §5.6.2 `token`: what a header name (and a cookie name, a Connection option) must be. */
export const HTTP_TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 9110 §9.2.2: methods whose intended effect is the same however many times they are sent, so a retry is safe. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** A path segment that URL parsers resolve as "." or ".." (WHATWG URL: "%2e" counts as a dot). */
const DOT_SEGMENT_RE = /^(?:\.|%2e){1,2}$/i;
/** Percent-decoding rounds looked through for dot segments (a double-encoded "%252e%252e" is caught at the second). */
const DECODE_ROUNDS = 3;

/** The header names listed in Connection (RFC 9110 §7.6.1 connection options), lowercase; non-tokens are skipped. */
export function connectionOptions(headers: Headers): string[] {
  const value = headers.get("connection");
  if (value === null) return [];
  return value
    .split(",")
    .map((option) => option.trim().toLowerCase())
    .filter((option) => HTTP_TOKEN_RE.test(option));
}

/** A copy of `headers` without the hop-by-hop fields and without every field the Connection header names. */
export function withoutHopByHop(headers: Headers): Headers {
  const out = new Headers(headers);
  for (const name of connectionOptions(headers)) out.delete(name);
  for (const name of HOP_BY_HOP_HEADERS) out.delete(name);
  return out;
}

export interface ForwardingInfo {
  /** The client's address (CF-Connecting-IP), null when unknown. */
  clientIp: string | null;
  /** The scheme the client used to reach the balancer. */
  proto: "http" | "https";
  /** The Host the client asked for. */
  host: string;
  /** Forward the client's Authorization (default: no, it is a credential for this service). */
  authorization?: boolean;
  /** Forward the client's Cookie (default: no, they are this origin's cookies). */
  cookie?: boolean;
  /**
   * The Accept-Encoding the client really sent, when the runtime rewrote the header (Cloudflare sets
   * it to "br, gzip" on every request and keeps the original in `request.cf.clientAcceptEncoding`,
   * "" when the client sent none). Undefined: the header is taken as it came.
   */
  clientAcceptEncoding?: string | undefined;
}

export interface ResponsePolicy {
  /** Let the upstream's Set-Cookie through (default: no, it would set cookies on this origin). */
  setCookie?: boolean;
}

/**
 * The headers to send upstream for a client request.
 *
 * - Hop-by-hop and Connection-listed fields go (RFC 9110 §7.6.1).
 * - Host goes: the fetch to the upstream sets the upstream's own; the client's is in X-Forwarded-Host.
 * - Content-Length stays: the body is forwarded as the same stream, and with its length the runtime
 *   sends it with a fixed length instead of chunked, which some upstreams refuse (411) and which would
 *   change the framing the client chose. The runtime checks the length against the bytes it sends.
 * - X-Forwarded-For gets the client's address appended to whatever the client sent (the de-facto
 *   convention, nginx's $proxy_add_x_forwarded_for): earlier entries are the client's claim, only the
 *   last one is ours.
 * - X-Forwarded-Proto and X-Forwarded-Host are overwritten, not appended: the balancer is the edge the
 *   client talked to, so an incoming value would be the client's own (unverifiable) claim, and these
 *   headers hold one value, not a list.
 * - Authorization and Cookie go only when `info` allows them (the pool's `forward` settings).
 * - Accept-Encoding is the client's own (see `clientAcceptEncoding`): none if it sent none, so the
 *   upstream does not compress for a client that cannot decompress.
 */
export function upstreamRequestHeaders(incoming: Headers, info: ForwardingInfo): Headers {
  if (info.proto !== "http" && info.proto !== "https") throw new RangeError(`proto must be "http" or "https", got ${String(info.proto)}`);
  if (info.host === "") throw new RangeError("host must not be empty");
  const out = withoutHopByHop(incoming);
  out.delete("host");
  if (info.authorization !== true) out.delete("authorization");
  if (info.cookie !== true) out.delete("cookie");
  if (info.clientAcceptEncoding !== undefined) {
    const ae = info.clientAcceptEncoding.trim();
    if (ae === "") out.delete("accept-encoding");
    else out.set("accept-encoding", ae);
  }
  const clientIp = info.clientIp?.trim() ?? "";
  if (clientIp !== "") {
    const prior = out.get("x-forwarded-for")?.trim() ?? "";
    out.set("x-forwarded-for", prior === "" ? clientIp : `${prior}, ${clientIp}`);
  }
  out.set("x-forwarded-proto", info.proto);
  out.set("x-forwarded-host", info.host);
  return out;
}

/**
 * The headers to send the client for an upstream's response: hop-by-hop fields stripped, Set-Cookie
 * only if `policy` allows, X-Content-Type-Options: nosniff and, for a type a browser renders as a
 * document, a `Content-Security-Policy: sandbox` added to the upstream's own policies (every CSP
 * header is enforced, so the upstream's stays in force), X-Upstream and X-LB-Attempts set.
 */
export function downstreamResponseHeaders(upstream: Headers, upstreamId: string, attempts: number, policy: ResponsePolicy = {}): Headers {
  if (upstreamId === "") throw new RangeError("upstreamId must not be empty");
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be an integer >= 1, got ${attempts}`);
  const out = withoutHopByHop(upstream);
  if (policy.setCookie !== true) out.delete("set-cookie");
  for (const [name, value] of Object.entries(contentSafetyHeaders(upstream.get("content-type")))) {
    if (name.toLowerCase() === "content-security-policy") out.append(name, value);
    else out.set(name, value);
  }
  out.set("x-upstream", upstreamId);
  out.set("x-lb-attempts", String(attempts));
  return out;
}

/** True for the idempotent methods of RFC 9110 §9.2.2. Methods are case-sensitive (§9.1); fetch uppercases the standard ones. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/**
 * The upstream URL for a proxied request: `base` (an upstream's URL, e.g. "http://h:1/api"), "/", the
 * rest of the client's path (still percent-encoded), and the client's query ("" or "?a=1"). Slashes
 * at the seam are collapsed, so "http://h:1/api" + "v1/x" + "?a=1" is "http://h:1/api/v1/x?a=1" and an
 * empty rest gives "http://h:1/api/". Throws RangeError when `rest` holds a dot segment, or a raw "?"
 * or "#". Dot segments are looked for after percent-decoding (up to DECODE_ROUNDS times) with a
 * backslash read as "/", as an upstream server may do: "..%2f", "%2e%2e/", "%5c..", "%252e%252e" are all refused,
 * since the URL parser or the upstream would resolve them and climb out of the base path. A "."
 * segment is refused too (it never climbs, but it is never needed either).
 */
export function upstreamUrl(base: string, rest: string, search: string): string {
  const root = base.replace(/\/+$/, "");
  const path = rest.replace(/^\/+/, "");
  if (/[?#]/.test(path)) throw new RangeError(`rest must be a path without "?" or "#", got ${JSON.stringify(rest)}`);
  if (hasDotSegment(path)) throw new RangeError(`rest must not contain "." or ".." segments (also percent-encoded or with backslashes), got ${JSON.stringify(rest)}`);
  if (search.includes("#")) throw new RangeError(`search must not contain "#", got ${JSON.stringify(search)}`);
  const query = search === "" || search === "?" ? "" : search.startsWith("?") ? search : `?${search}`;
  return `${root}/${path}${query}`;
}

/**
 * A segment an upstream could read as "." or "..": also with path parameters ("..;" and "..;x=1", which
 * Tomcat, Jetty and Spring read as ".."), in full-width or other compatibility forms (NFKC folds "．．"
 * to ".."), or holding a NUL (a server that stops at it sees what comes before).
 */
function isUnsafeSegment(segment: string): boolean {
  if (segment.includes("\0") || /%00/.test(segment)) return true;
  const bare = segment.normalize("NFKC").split(";")[0]!.split(/%3b/i)[0]!;
  return DOT_SEGMENT_RE.test(bare);
}

/** True when `path`, as sent or after up to DECODE_ROUNDS rounds of percent-decoding, has a "." or ".." segment ("/" or "\\" separated). */
export function hasDotSegment(path: string): boolean {
  let current = path;
  for (let round = 0; round <= DECODE_ROUNDS; round++) {
    if (current.split(/[/\\]/).some(isUnsafeSegment)) return true;
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      // A malformed escape: decode what is well-formed ("%2e%2e%zz" still hides a "..").
      decoded = current.replace(/%[0-9a-f]{2}/gi, (e) => String.fromCharCode(parseInt(e.slice(1), 16)));
    }
    if (decoded === current) return false;
    current = decoded;
  }
  return false;
}

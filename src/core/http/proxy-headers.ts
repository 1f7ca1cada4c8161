/**
 * What a reverse proxy does to headers on the way through (RFC 9110 §7.6): hop-by-hop fields describe
 * one connection and are not forwarded, the upstream learns who the client was from X-Forwarded-*, and
 * the client learns which upstream answered from X-Upstream / X-LB-Attempts. Pure: Headers in, new
 * Headers out; the inputs are never modified.
 */

/**
 * Hop-by-hop header names, lowercase: Connection and the fields RFC 9110 §7.6.1 names as
 * connection-specific (Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade), plus the classic
 * list of RFC 2616 §13.5.1 that proxies still strip (Proxy-Authenticate, Proxy-Authorization, Trailer).
 * Stripping Upgrade means a WebSocket handshake is not forwarded by these functions: Workers proxy
 * WebSockets through a separate path (a fetch whose response carries `webSocket`).
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  "connection",
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
 */
export function upstreamRequestHeaders(incoming: Headers, info: ForwardingInfo): Headers {
  if (info.proto !== "http" && info.proto !== "https") throw new RangeError(`proto must be "http" or "https", got ${String(info.proto)}`);
  if (info.host === "") throw new RangeError("host must not be empty");
  const out = withoutHopByHop(incoming);
  out.delete("host");
  const clientIp = info.clientIp?.trim() ?? "";
  if (clientIp !== "") {
    const prior = out.get("x-forwarded-for")?.trim() ?? "";
    out.set("x-forwarded-for", prior === "" ? clientIp : `${prior}, ${clientIp}`);
  }
  out.set("x-forwarded-proto", info.proto);
  out.set("x-forwarded-host", info.host);
  return out;
}

/** The headers to send the client for an upstream's response: hop-by-hop fields stripped, X-Upstream and X-LB-Attempts set. */
export function downstreamResponseHeaders(upstream: Headers, upstreamId: string, attempts: number): Headers {
  if (upstreamId === "") throw new RangeError("upstreamId must not be empty");
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be an integer >= 1, got ${attempts}`);
  const out = withoutHopByHop(upstream);
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
 * empty rest gives "http://h:1/api/". Throws RangeError when `rest` holds a dot segment ("..", "%2e%2e"),
 * which the URL parser would resolve and so climb out of the base path, or a raw "?" or "#".
 */
export function upstreamUrl(base: string, rest: string, search: string): string {
  const root = base.replace(/\/+$/, "");
  const path = rest.replace(/^\/+/, "");
  if (/[?#]/.test(path)) throw new RangeError(`rest must be a path without "?" or "#", got ${JSON.stringify(rest)}`);
  if (path.split("/").some((segment) => DOT_SEGMENT_RE.test(segment))) {
    throw new RangeError(`rest must not contain "." or ".." segments, got ${JSON.stringify(rest)}`);
  }
  if (search.includes("#")) throw new RangeError(`search must not contain "#", got ${JSON.stringify(search)}`);
  const query = search === "" || search === "?" ? "" : search.startsWith("?") ? search : `?${search}`;
  return `${root}/${path}${query}`;
}

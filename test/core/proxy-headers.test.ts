import { describe, expect, test } from "vitest";
import {
  connectionOptions,
  downstreamResponseHeaders,
  HOP_BY_HOP_HEADERS,
  HTTP_TOKEN_RE,
  isIdempotentMethod,
  upstreamRequestHeaders,
  upstreamUrl,
  withoutHopByHop,
} from "../../src/core/http/proxy-headers";

// [RFC9110] RFC 9110 "HTTP Semantics": §7.6.1 Connection, §9.2.2 idempotent methods, §5.6.2 tokens.
// [RFC2616] RFC 2616 §13.5.1, the classic list of hop-by-hop headers.

const INFO = { clientIp: "203.0.113.7", proto: "https", host: "lb.example.com" } as const;

function entries(headers: Headers): [string, string][] {
  return [...headers.entries()];
}

describe("hop-by-hop headers", () => {
  test("[RFC9110 §7.6.1, RFC2616 §13.5.1, RFC7540 §3.2.1] the list holds Connection, the classic eight and HTTP2-Settings, lowercase", () => {
    expect([...HOP_BY_HOP_HEADERS].sort()).toEqual(
      ["connection", "http2-settings", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"].sort(),
    );
  });

  test("issue 16: HTTP2-Settings is dropped even when no Connection header is visible (a front proxy consumed it)", () => {
    const out = upstreamRequestHeaders(new Headers({ "HTTP2-Settings": "AAMAAABkAAQAAP__", "X-Keep": "1" }), INFO);
    expect(out.has("http2-settings")).toBe(false);
    expect(out.get("x-keep")).toBe("1");
  });

  test("[RFC9110 §7.6.1] every hop-by-hop header is removed, whatever its case", () => {
    const incoming = new Headers({
      Connection: "keep-alive",
      "Keep-Alive": "timeout=5",
      "Proxy-Authenticate": "Basic",
      "Proxy-Authorization": "Basic abc",
      "Proxy-Connection": "keep-alive",
      TE: "trailers",
      Trailer: "Expires",
      "Transfer-Encoding": "chunked",
      Upgrade: "h2c",
      Accept: "text/plain",
    });
    expect(entries(withoutHopByHop(incoming))).toEqual([["accept", "text/plain"]]);
  });

  test("[RFC9110 §7.6.1] a header named in Connection is removed too, and the list is parsed case-insensitively with spaces", () => {
    const incoming = new Headers({ Connection: "close, X-Secret ,x-other", "X-Secret": "1", "X-Other": "2", "X-Kept": "3" });
    expect(connectionOptions(incoming)).toEqual(["close", "x-secret", "x-other"]);
    expect(entries(withoutHopByHop(incoming))).toEqual([["x-kept", "3"]]);
  });

  test("a Connection option that is not a header name is ignored instead of throwing", () => {
    const incoming = new Headers({ Connection: "bad name, , x-gone", "X-Gone": "1", Accept: "*/*" });
    expect(connectionOptions(incoming)).toEqual(["x-gone"]);
    expect(entries(withoutHopByHop(incoming))).toEqual([["accept", "*/*"]]);
  });

  test("the input Headers are not modified", () => {
    const incoming = new Headers({ Connection: "x-a", "X-A": "1" });
    withoutHopByHop(incoming);
    upstreamRequestHeaders(incoming, INFO);
    downstreamResponseHeaders(incoming, "u0", 1);
    expect(entries(incoming)).toEqual([["connection", "x-a"], ["x-a", "1"]]);
  });

  test("[RFC9110 §5.6.2] the token pattern accepts header names and refuses separators", () => {
    for (const ok of ["x-session-id", "Cookie", "a!#$%&'*+-.^_`|~9"]) expect(HTTP_TOKEN_RE.test(ok)).toBe(true);
    for (const bad of ["", "a b", "a:b", "a,b", "a;b", 'a"b', "a=b", "é"]) expect(HTTP_TOKEN_RE.test(bad)).toBe(false);
  });
});

describe("upstream request headers", () => {
  test("end-to-end headers are copied (content type, custom); auth and cookies when the pool forwards them", () => {
    const out = upstreamRequestHeaders(new Headers({ Authorization: "Bearer t", Cookie: "a=1", "Content-Type": "application/json", "X-Custom": "v" }), { ...INFO, authorization: true, cookie: true });
    expect(out.get("authorization")).toBe("Bearer t");
    expect(out.get("cookie")).toBe("a=1");
    expect(out.get("content-type")).toBe("application/json");
    expect(out.get("x-custom")).toBe("v");
  });

  test("issue 16: by default the client's Authorization and Cookie (credentials of this origin) are not forwarded", () => {
    const out = upstreamRequestHeaders(new Headers({ Authorization: "Bearer admin-token", Cookie: "session=1", "X-Custom": "v" }), INFO);
    expect(out.has("authorization")).toBe(false);
    expect(out.has("cookie")).toBe(false);
    expect(out.get("x-custom")).toBe("v");
  });

  test("issue 16: Accept-Encoding is the client's own: none when it sent none, its value when the runtime rewrote it", () => {
    const rewritten = new Headers({ "Accept-Encoding": "br, gzip" });
    expect(upstreamRequestHeaders(rewritten, { ...INFO, clientAcceptEncoding: "" }).has("accept-encoding")).toBe(false);
    expect(upstreamRequestHeaders(rewritten, { ...INFO, clientAcceptEncoding: "gzip" }).get("accept-encoding")).toBe("gzip");
    expect(upstreamRequestHeaders(rewritten, INFO).get("accept-encoding")).toBe("br, gzip"); // not rewritten: as it came
  });

  test("Host is removed (the upstream fetch sets its own) and Content-Length is kept (the body keeps its framing)", () => {
    const out = upstreamRequestHeaders(new Headers({ Host: "lb.example.com", "Content-Length": "42" }), INFO);
    expect(out.has("host")).toBe(false);
    expect(out.get("content-length")).toBe("42");
  });

  test("hop-by-hop and Connection-listed headers are not forwarded upstream", () => {
    const out = upstreamRequestHeaders(new Headers({ Connection: "x-hop", "X-Hop": "1", "Transfer-Encoding": "chunked", TE: "trailers" }), INFO);
    expect(out.has("x-hop")).toBe(false);
    expect(out.has("connection")).toBe(false);
    expect(out.has("transfer-encoding")).toBe(false);
    expect(out.has("te")).toBe(false);
  });

  test("X-Forwarded-For is set to the client's address when absent", () => {
    expect(upstreamRequestHeaders(new Headers(), INFO).get("x-forwarded-for")).toBe("203.0.113.7");
  });

  test("X-Forwarded-For gets the client's address appended to an incoming chain", () => {
    const out = upstreamRequestHeaders(new Headers({ "X-Forwarded-For": "198.51.100.1, 10.0.0.2" }), INFO);
    expect(out.get("x-forwarded-for")).toBe("198.51.100.1, 10.0.0.2, 203.0.113.7");
  });

  test("several X-Forwarded-For lines are joined into one chain before appending", () => {
    const incoming = new Headers();
    incoming.append("X-Forwarded-For", "198.51.100.1");
    incoming.append("X-Forwarded-For", "10.0.0.2");
    expect(upstreamRequestHeaders(incoming, INFO).get("x-forwarded-for")).toBe("198.51.100.1, 10.0.0.2, 203.0.113.7");
  });

  test("an empty incoming X-Forwarded-For does not leave a leading comma", () => {
    expect(upstreamRequestHeaders(new Headers({ "X-Forwarded-For": "" }), INFO).get("x-forwarded-for")).toBe("203.0.113.7");
  });

  test("an unknown client address leaves X-Forwarded-For as it came", () => {
    expect(upstreamRequestHeaders(new Headers({ "X-Forwarded-For": "198.51.100.1" }), { ...INFO, clientIp: null }).get("x-forwarded-for")).toBe("198.51.100.1");
    expect(upstreamRequestHeaders(new Headers(), { ...INFO, clientIp: null }).has("x-forwarded-for")).toBe(false);
    expect(upstreamRequestHeaders(new Headers(), { ...INFO, clientIp: "  " }).has("x-forwarded-for")).toBe(false);
  });

  test("an IPv6 client address is appended as is", () => {
    expect(upstreamRequestHeaders(new Headers(), { ...INFO, clientIp: "2001:db8::1" }).get("x-forwarded-for")).toBe("2001:db8::1");
  });

  test("X-Forwarded-Proto and X-Forwarded-Host are set from what the balancer saw, overwriting the client's claims", () => {
    const out = upstreamRequestHeaders(new Headers({ "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example" }), { ...INFO, proto: "http" });
    expect(out.get("x-forwarded-proto")).toBe("http");
    expect(out.get("x-forwarded-host")).toBe("lb.example.com");
  });

  test("X-Forwarded-Host keeps the port the client used", () => {
    expect(upstreamRequestHeaders(new Headers(), { ...INFO, host: "localhost:8787" }).get("x-forwarded-host")).toBe("localhost:8787");
  });

  test("a proto other than http/https or an empty host is a RangeError", () => {
    expect(() => upstreamRequestHeaders(new Headers(), { ...INFO, proto: "ftp" as "http" })).toThrow(RangeError);
    expect(() => upstreamRequestHeaders(new Headers(), { ...INFO, host: "" })).toThrow(RangeError);
  });
});

describe("downstream response headers", () => {
  test("X-Upstream and X-LB-Attempts say which upstream answered after how many tries", () => {
    const out = downstreamResponseHeaders(new Headers({ "Content-Type": "text/plain" }), "u1", 2);
    expect(out.get("x-upstream")).toBe("u1");
    expect(out.get("x-lb-attempts")).toBe("2");
    expect(out.get("content-type")).toBe("text/plain");
  });

  test("an upstream cannot forge X-Upstream or X-LB-Attempts", () => {
    const out = downstreamResponseHeaders(new Headers({ "X-Upstream": "fake", "X-LB-Attempts": "99" }), "u0", 1);
    expect(out.get("x-upstream")).toBe("u0");
    expect(out.get("x-lb-attempts")).toBe("1");
  });

  test("[RFC9110 §7.6.1] hop-by-hop and Connection-listed response headers are stripped", () => {
    const out = downstreamResponseHeaders(
      new Headers({ Connection: "close, x-internal", "X-Internal": "1", "Keep-Alive": "timeout=5", "Transfer-Encoding": "chunked", "Proxy-Authenticate": "Basic", ETag: '"v1"' }),
      "u0",
      1,
    );
    expect(entries(out).filter(([k]) => k !== "x-content-type-options" && k !== "content-security-policy")).toEqual([["etag", '"v1"'], ["x-lb-attempts", "1"], ["x-upstream", "u0"]]);
  });

  test("several Set-Cookie headers survive as separate cookies when the pool lets them through", () => {
    const upstream = new Headers();
    upstream.append("Set-Cookie", "a=1; Path=/");
    upstream.append("Set-Cookie", "b=2; Expires=Wed, 21 Oct 2099 07:28:00 GMT");
    expect(downstreamResponseHeaders(upstream, "u0", 1, { setCookie: true }).getSetCookie()).toEqual(["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2099 07:28:00 GMT"]);
  });

  test("issue 16: by default an upstream's Set-Cookie (which would land on this origin, Path=/) is dropped", () => {
    const upstream = new Headers({ "Set-Cookie": "sid=x; Path=/", "Content-Type": "application/json" });
    expect(downstreamResponseHeaders(upstream, "u0", 1).getSetCookie()).toEqual([]);
  });

  test("issue 16: every response gets nosniff; a document type also CSP sandbox, added to the upstream's own policy", () => {
    const json = downstreamResponseHeaders(new Headers({ "Content-Type": "application/json" }), "u0", 1);
    expect(json.get("x-content-type-options")).toBe("nosniff");
    expect(json.has("content-security-policy")).toBe(false);
    const html = downstreamResponseHeaders(new Headers({ "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "sniff-please" }), "u0", 1);
    expect(html.get("x-content-type-options")).toBe("nosniff");
    expect(html.get("content-security-policy")).toBe("default-src 'self', sandbox");
    expect(downstreamResponseHeaders(new Headers(), "u0", 1).get("content-security-policy")).toBe("sandbox"); // no type: it would be sniffed
  });

  test.each([[0], [1.5], [-1], [Number.NaN]])("attempts %s is a RangeError", (attempts) => {
    expect(() => downstreamResponseHeaders(new Headers(), "u0", attempts)).toThrow(RangeError);
  });

  test("an empty upstream id is a RangeError", () => {
    expect(() => downstreamResponseHeaders(new Headers(), "", 1)).toThrow(RangeError);
  });
});

describe("idempotent methods", () => {
  test.each(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"])("[RFC9110 §9.2.2] %s is idempotent", (method) => {
    expect(isIdempotentMethod(method)).toBe(true);
  });

  test.each(["POST", "PATCH", "CONNECT", "PROPFIND", ""])("[RFC9110 §9.2.2] %s is not idempotent", (method) => {
    expect(isIdempotentMethod(method)).toBe(false);
  });

  test("[RFC9110 §9.1] methods are case-sensitive: a lowercase method that fetch did not normalize is not assumed idempotent", () => {
    expect(isIdempotentMethod("get")).toBe(false);
    expect(new Request("http://x", { method: "get" }).method).toBe("GET");
  });
});

describe("upstream URL", () => {
  test.each([
    ["http://h:1/api", "v1/x", "?a=1", "http://h:1/api/v1/x?a=1"],
    ["http://h:1/api/", "v1/x", "?a=1", "http://h:1/api/v1/x?a=1"],
    ["http://h:1/api", "/v1/x", "", "http://h:1/api/v1/x"],
    ["http://h:1/api//", "//v1/x", "", "http://h:1/api/v1/x"],
    ["http://h:1", "v1/x", "", "http://h:1/v1/x"],
    ["http://h:1", "", "", "http://h:1/"],
    ["http://h:1/api", "", "", "http://h:1/api/"],
    ["http://h:1/api", "", "?a=1", "http://h:1/api/?a=1"],
    ["http://h:1/api", "dir/", "", "http://h:1/api/dir/"],
    ["http://h:1/api", "a//b", "", "http://h:1/api/a//b"],
    ["http://h:1/api", "x", "?", "http://h:1/api/x"],
    ["http://h:1/api", "x", "a=1&b=2", "http://h:1/api/x?a=1&b=2"],
    ["http://h:1/api", "caf%C3%A9/%2Fslash", "?q=%20", "http://h:1/api/caf%C3%A9/%2Fslash?q=%20"],
    ["http://h:1/api", "a.b/..c/.well-known", "", "http://h:1/api/a.b/..c/.well-known"],
  ])("%s + %s + %s is %s", (base, rest, search, expected) => {
    expect(upstreamUrl(base, rest, search)).toBe(expected);
  });

  test("the joined URL parses back to the same path and query (nothing is re-encoded)", () => {
    const url = new URL(upstreamUrl("https://h/api", "v1/caf%C3%A9", "?x=1&y=%2B"));
    expect(url.pathname).toBe("/api/v1/caf%C3%A9");
    expect(url.search).toBe("?x=1&y=%2B");
  });

  test.each([[".."], ["../admin"], ["a/../../admin"], ["."], ["a/./b"], ["%2e%2e/admin"], ["%2E%2E"], [".%2e/x"], ["%2e"], ["..%2fadmin"], ["a/..%2F..%2Fadmin"], ["%5c..%5cadmin"], ["a\\..\\..\\admin"], ["%2e%2e%5cadmin"], ["%252e%252e/admin"], ["..%2f%zz"]])(
    "issue 16: rest %s is refused: after percent-decoding (backslash as slash) it has a dot segment the URL parser or the upstream would resolve, climbing out of the base path",
    (rest) => {
      expect(() => upstreamUrl("http://h/api", rest, "")).toThrow(RangeError);
    },
  );

  test.each([["..;/admin"], ["..;x=1/admin"], [".;"], ["%2e%2e;x=1/admin"], ["%2e%2e%3b/admin"], ["..%00/admin"], ["%ef%bc%8e%ef%bc%8e/admin"], ["\uff0e\uff0e/admin"]])(
    "issue 16 (review): rest %s is refused: a path parameter, a NUL or a full-width form still hides a dot segment an upstream (Tomcat, Jetty, Spring; a NUL-truncating or NFKC-folding server) resolves",
    (rest) => {
      expect(() => upstreamUrl("http://h/api", rest, "")).toThrow(RangeError);
    },
  );

  test.each([["a;b=1/c"], ["..a/b"], ["a../b"], ["%ef%bc%8ea/x.y"]])("rest %s is kept: parameters and dots inside a name are not dot segments", (rest) => {
    expect(() => upstreamUrl("http://h/api", rest, "")).not.toThrow();
  });

  test.each([["a?b"], ["a#b"]])("rest %s is refused: a raw ? or # would change what the rest means", (rest) => {
    expect(() => upstreamUrl("http://h/api", rest, "")).toThrow(RangeError);
  });

  test("a search with a fragment is refused", () => {
    expect(() => upstreamUrl("http://h/api", "x", "?a#b")).toThrow(RangeError);
  });
});

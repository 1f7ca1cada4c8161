import type { MiddlewareHandler } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";

/**
 * Response headers that keep this origin's own pages (the dashboard, its fragments, /docs) from being
 * framed, sniffed or made to run anything but their own code. The admin token typed into the dashboard
 * lives in that page's memory: nothing else may run script on this origin.
 */

/**
 * The pages' policy: nothing by default; scripts and styles only when they carry the response's nonce
 * (the dashboard's one inline script and style, /docs' two files and initializer). Not 'self': this
 * origin also serves what others chose (a cache value stored as text/javascript, an upstream's script
 * through /lb), which a markup injection could load. Fetches to this origin; images from
 * here or `data:` (Swagger UI's icons, the page's empty favicon). No forms submit natively (the
 * dashboard's are handled by its script, so a token can never end up in a URL), no framing, no <base>.
 */
export const PAGE_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: [NONCE],
  styleSrc: [NONCE],
  imgSrc: ["'self'", "data:"],
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
};

/**
 * The pages' headers (Hono's secureHeaders): the CSP above with a fresh nonce per response (read it with
 * `c.get("secureHeadersNonce")`), X-Frame-Options DENY, nosniff, Referrer-Policy no-referrer and
 * Hono's other defaults. No Strict-Transport-Security: whether a host is HTTPS-only (and its
 * subdomains) is the operator's decision, not this worker's.
 */
export const pageSecurityHeaders: MiddlewareHandler = secureHeaders({
  contentSecurityPolicy: PAGE_CSP,
  xFrameOptions: "DENY",
  referrerPolicy: "no-referrer",
  strictTransportSecurity: false,
});

/**
 * `X-Content-Type-Options: nosniff` on every response that does not already say: a JSON error or a text
 * value is never sniffed into HTML. A response passed through from elsewhere (a fetch) has immutable
 * headers; it is copied once to add the header (not a WebSocket upgrade, which cannot be copied).
 */
export const nosniff: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.headers.has("X-Content-Type-Options") || c.res.status === 101) return;
  try {
    c.res.headers.set("X-Content-Type-Options", "nosniff");
  } catch {
    const copy = new Response(c.res.body, c.res);
    copy.headers.set("X-Content-Type-Options", "nosniff");
    c.res = undefined;
    c.res = copy;
  }
};

/**
 * Headers that keep stored or proxied content inert on this service's origin (the dashboard's origin):
 * never sniffed into another type, and never run as a document or script of the origin. OWASP's HTTP
 * headers cheat sheet is the model: `X-Content-Type-Options: nosniff` on everything, and for the types
 * a browser renders as a document (HTML, XML, SVG, PDF...) a `Content-Security-Policy: sandbox`, which
 * gives the document an opaque origin with scripts, forms and plugins off, so it can read nothing of ours.
 */

/** Media types a browser renders as a document (and so may run script in): these get the sandbox. */
const DOCUMENT_TYPES = new Set([
  "text/html",
  "application/xhtml+xml",
  "image/svg+xml",
  "text/xml",
  "application/xml",
  "application/xslt+xml",
  "application/rdf+xml",
  "application/mathml+xml",
  "text/xsl",
  "application/pdf",
  "multipart/x-mixed-replace",
  "text/vtt",
]);

/** The bare media type of a Content-Type value, lowercased (parameters dropped); "" when absent. */
export function mediaType(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * True when a browser could render or execute content of this type as a document: the listed types,
 * any `+xml` type, and anything it would have to sniff (no type, or one it cannot parse).
 */
export function rendersAsDocument(contentType: string | null | undefined): boolean {
  const type = mediaType(contentType);
  if (type === "" || !/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return true;
  return DOCUMENT_TYPES.has(type) || type.endsWith("+xml");
}

/** The sandbox policy for a document served from here: no scripts, no same origin, no forms. */
export const SANDBOX_CSP = "sandbox";

/** The safety headers for a response carrying stored or proxied content of the given type. */
export function contentSafetyHeaders(contentType: string | null | undefined): Record<string, string> {
  const headers: Record<string, string> = { "X-Content-Type-Options": "nosniff" };
  if (rendersAsDocument(contentType)) headers["Content-Security-Policy"] = SANDBOX_CSP;
  return headers;
}

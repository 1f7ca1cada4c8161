import { Hono } from "hono";
import { html } from "hono/html";
import swaggerCss from "swagger-ui-dist/swagger-ui.css";
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js";
import { murmur3_32 } from "../core/hash/murmur3";
import type { AppEnv } from "../http/app-env";
import { pageSecurityHeaders } from "../http/security-headers";

/**
 * GET /docs: Swagger UI over /openapi.json, served from the swagger-ui-dist package itself (imported as
 * text: the `[[rules]]` of wrangler.toml), so it works offline and runs no script from anywhere else.
 * The page carries the strict CSP of src/http/security-headers.ts; its one inline script, the
 * initializer, carries the response's nonce.
 */

/** A fingerprint of the files, in their URLs: they can be cached for a year and an upgrade still reaches every browser. */
let fingerprint: string | null = null;
const version = () => (fingerprint ??= (murmur3_32(swaggerBundle) ^ murmur3_32(swaggerCss)).toString(36).replace("-", "m"));

const ASSET_CACHE = "public, max-age=31536000, immutable";
const asset = (body: string, type: string) => () =>
  new Response(body, { headers: { "content-type": type, "cache-control": ASSET_CACHE, "x-content-type-options": "nosniff" } });

export const docsRoutes = new Hono<AppEnv>();

docsRoutes.get("/docs/swagger-ui-bundle.js", asset(swaggerBundle, "text/javascript; charset=utf-8"));
docsRoutes.get("/docs/swagger-ui.css", asset(swaggerCss, "text/css; charset=utf-8"));

docsRoutes.get("/docs", pageSecurityHeaders, (c) => {
  const nonce = c.get("secureHeadersNonce") ?? "";
  const v = version();
  // validatorUrl null: Swagger UI would otherwise load a badge image from validator.swagger.io.
  return c.html(html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>durable-cluster API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" nonce="${nonce}" href="/docs/swagger-ui.css?v=${v}">
</head>
<body>
<div id="swagger-ui"></div>
<script nonce="${nonce}" src="/docs/swagger-ui-bundle.js?v=${v}"></script>
<script nonce="${nonce}">window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null });</script>
</body>
</html>`);
});

import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/app-env";

export const healthRoutes = createRouter();

healthRoutes.openapi(
  createRoute({
    method: "get", path: "/healthz", tags: ["ops"], summary: "Liveness of the worker (no auth)", security: [],
    responses: { 200: { description: "Alive", content: { "application/json": { schema: z.object({ ok: z.boolean() }) } } } },
  }),
  (c) => c.json({ ok: true }, 200),
);

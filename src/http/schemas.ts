import { z } from "@hono/zod-openapi";

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "invalid_request" }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi("Error");

/** Standard error responses for route declarations. */
export function errorResponses(...statuses: number[]): Record<number, { description: string; content: { "application/json": { schema: typeof ErrorSchema } } }> {
  const description: Record<number, string> = {
    400: "Invalid input (the message names the failing field)",
    401: "Missing or invalid bearer token",
    403: "Route disabled (token not configured)",
    404: "Not found",
    413: "Body over the documented limit",
    503: "Quorum or replica unavailable; retry after Retry-After seconds",
  };
  return Object.fromEntries(
    statuses.map((s) => [s, { description: description[s] ?? "Error", content: { "application/json": { schema: ErrorSchema } } }]),
  );
}

/** A content type as it will be sent back in a header: printable ASCII only (no CR, LF or NUL), 1..256 characters. */
export const ContentTypeSchema = z
  .string()
  .regex(/^[\x20-\x7e]{1,256}$/, "must be 1..256 printable ASCII characters (it is sent back as a header)")
  .openapi({ example: "application/json" });

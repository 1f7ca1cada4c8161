import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { raftStub, type NodeStatus } from "../../durable-objects/raft-node";
import { getConfig } from "../config";
import { createRouter, type AppEnv } from "../http/app-env";
import { requireToken } from "../http/auth";
import { HttpError } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { onLeader } from "../services/raft-client";
import { withTimeout } from "../services/replica-call";

/** Raft group status, membership changes, leadership transfer, and fault injection. */
export const raftRoutes = createRouter();
raftRoutes.use("/raft/members", requireToken("ADMIN_TOKEN"));
raftRoutes.use("/raft/transfer-leadership", requireToken("ADMIN_TOKEN"));
raftRoutes.use("/admin/raft/*", requireToken("ADMIN_TOKEN"));

const security = [{ adminToken: [] }];
const STATUS_TIMEOUT_MS = 1000;
const NodeId = z.string().regex(/^[a-z0-9-]{1,32}$/);

interface MemberReport {
  node: string;
  reachable: boolean;
  status?: NodeStatus;
  error?: string;
}

async function statuses(c: Context<AppEnv>): Promise<MemberReport[]> {
  const config = getConfig(c.env).raft;
  const ask = (node: string): Promise<MemberReport> =>
    withTimeout(raftStub(c.env, config.group, node).status({ group: config.group, node }), STATUS_TIMEOUT_MS).then(
      (status) => ({ node, reachable: true, status }),
      (err: unknown) => ({ node, reachable: false, error: err instanceof Error ? err.message : String(err) }),
    );
  const first = await Promise.all(config.members.map(ask));
  // Members added at run time (learners, new voters) are known to the group, not to the config.
  const extra = new Set<string>();
  for (const s of first) for (const n of [...(s.status?.membership.voters ?? []), ...(s.status?.membership.learners ?? [])]) extra.add(n);
  for (const n of config.members) extra.delete(n);
  return [...first, ...(await Promise.all([...extra].map(ask)))];
}

raftRoutes.openapi(
  createRoute({
    method: "get", path: "/raft/status", tags: ["raft"], summary: "Every member: role, term, commit/applied index, log length, snapshot index, leader, last contact",
    responses: { 200: { description: "Status", content: { "application/json": { schema: z.object({ group: z.string(), leader: z.string().nullable(), members: z.array(z.object({ node: z.string(), reachable: z.boolean(), status: z.unknown().optional(), error: z.string().optional() })) }) } } } },
  }),
  async (c) => {
    const members = await statuses(c);
    const leaders = members.filter((m) => m.status?.role === "leader").sort((a, b) => (b.status?.term ?? 0) - (a.status?.term ?? 0));
    return c.json({ group: getConfig(c.env).raft.group, leader: leaders[0]?.node ?? null, members }, 200);
  },
);

raftRoutes.openapi(
  createRoute({
    method: "post", path: "/raft/members", tags: ["raft"], security, summary: "Change membership one server at a time: add a learner, promote it once caught up, remove a member",
    request: { body: { required: true, content: { "application/json": { schema: z.object({ action: z.enum(["addLearner", "promote", "remove"]), node: NodeId }) } } } },
    responses: { 200: { description: "Proposed (takes effect when appended)" }, 409: { description: "Refused (a change is pending, not caught up, ...)" }, ...errorResponses(400, 401, 403, 503) },
  }),
  async (c) => {
    const { action, node } = c.req.valid("json");
    const config = getConfig(c.env).raft;
    const { value } = await onLeader(config, c.env, async (stub, identity) => {
      const out = await stub.changeMembership(identity, { type: action, node });
      if (out.ok || (out.reason !== "not_leader" && out.reason !== "transferring")) return { ok: true, value: out };
      return { ok: false, reason: out.reason ?? "refused", leader: out.leader };
    });
    if (!value.ok) throw new HttpError(409, "membership_refused", `membership change refused: ${value.reason}`);
    return c.json({ action, node, index: value.index }, 200);
  },
);

raftRoutes.openapi(
  createRoute({
    method: "post", path: "/raft/transfer-leadership", tags: ["raft"], security, summary: "Hand leadership to another voter",
    request: { body: { required: true, content: { "application/json": { schema: z.object({ to: NodeId }) } } } },
    responses: { 200: { description: "Transfer started" }, 409: { description: "Refused" }, ...errorResponses(400, 401, 403, 503) },
  }),
  async (c) => {
    const { to } = c.req.valid("json");
    const config = getConfig(c.env).raft;
    const { value, node } = await onLeader(config, c.env, async (stub, identity) => {
      const out = await stub.transferLeadership(identity, to);
      if (out.ok || out.reason !== "not_leader") return { ok: true, value: out };
      return { ok: false, reason: out.reason, leader: out.leader };
    });
    // Handing leadership to the node that already has it is done already.
    if (!value.ok && value.reason === "self") return c.json({ from: node, to, alreadyLeader: true }, 200);
    if (!value.ok) throw new HttpError(409, "transfer_refused", `leadership transfer refused: ${value.reason}`);
    return c.json({ from: node, to }, 200);
  },
);

const NodeParam = z.object({ node: NodeId.openapi({ param: { name: "node", in: "path" }, example: "n1" }) });

raftRoutes.openapi(
  createRoute({
    method: "post", path: "/admin/raft/nodes/{node}/crash", tags: ["admin"], security, summary: "Crash a Raft member (ctx.abort(): memory lost, storage kept)",
    request: { params: NodeParam },
    responses: { 200: { description: "Crashed" }, ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { node } = c.req.valid("param");
    await raftStub(c.env, getConfig(c.env).raft.group, node).crash().catch(() => undefined);
    return c.json({ node, crashed: true }, 200);
  },
);

raftRoutes.openapi(
  createRoute({
    method: "post", path: "/admin/raft/partition", tags: ["admin"], security, summary: "Partition the group: nodes only talk within their own side (messages dropped both ways)",
    request: { body: { required: true, content: { "application/json": { schema: z.object({ sides: z.array(z.array(NodeId).min(1)).min(2), delayMs: z.number().int().min(0).max(10_000).default(0) }) } } } },
    responses: { 200: { description: "Applied" }, ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { sides, delayMs } = c.req.valid("json");
    const config = getConfig(c.env).raft;
    const all = sides.flat();
    if (new Set(all).size !== all.length) throw new HttpError(400, "invalid_request", "json.sides: a node appears on two sides");
    // Only members (configured or added at run time) can be partitioned; anything else would create a stray object.
    const known = new Set((await statuses(c)).flatMap((m) => [m.node, ...(m.status?.membership.voters ?? []), ...(m.status?.membership.learners ?? [])]));
    const unknown = all.filter((n) => !known.has(n));
    if (unknown.length > 0) throw new HttpError(400, "invalid_request", `json.sides: not members of the group: ${unknown.join(", ")}`);
    await Promise.all(sides.flatMap((side) => side.map((node) => raftStub(c.env, config.group, node).setFault({ group: config.group, node }, { blocked: all.filter((n) => !side.includes(n)), delayMs }))));
    return c.json({ sides, delayMs }, 200);
  },
);

raftRoutes.openapi(
  createRoute({
    method: "post", path: "/admin/raft/nodes/{node}/delay", tags: ["admin"], security, summary: "Delay every message a member sends (0 removes the delay; keeps its partition)",
    request: { params: NodeParam, body: { required: true, content: { "application/json": { schema: z.object({ delayMs: z.number().int().min(0).max(10_000) }) } } } },
    responses: { 200: { description: "Applied" }, ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const { node } = c.req.valid("param");
    const { delayMs } = c.req.valid("json");
    const config = getConfig(c.env).raft;
    const stub = raftStub(c.env, config.group, node);
    const identity = { group: config.group, node };
    const current = await withTimeout(stub.status(identity), STATUS_TIMEOUT_MS).catch(() => {
      throw new HttpError(503, "node_unavailable", `${node} did not answer`, undefined, { "Retry-After": "1" });
    });
    await withTimeout(stub.setFault(identity, { blocked: current.fault.blocked, delayMs }), STATUS_TIMEOUT_MS);
    return c.json({ node, delayMs }, 200);
  },
);

raftRoutes.openapi(
  createRoute({
    method: "post", path: "/admin/raft/heal", tags: ["admin"], security, summary: "Remove every partition and delay",
    responses: { 200: { description: "Healed" }, ...errorResponses(401, 403) },
  }),
  async (c) => {
    const members = await statuses(c);
    const config = getConfig(c.env).raft;
    await Promise.all(members.map((m) => raftStub(c.env, config.group, m.node).setFault({ group: config.group, node: m.node }, { blocked: [], delayMs: 0 }).catch(() => undefined)));
    return c.json({ healed: members.map((m) => m.node) }, 200);
  },
);

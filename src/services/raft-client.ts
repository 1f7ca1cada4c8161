import { raftStub, type RaftIdentity, type RaftNode } from "../../durable-objects/raft-node";
import { getConfig, type RaftConfig } from "../config";
import { HttpError } from "../http/errors";
import { overloadedError, ShedError } from "./admission";
import { guardedCall, raftGuardName } from "./do-guard";

/** Where this isolate last found each group's leader (a hint: wrong hints cost one redirect). */
const leaderHints = new Map<string, string>();

/** The longest one attempt may wait for a node before the next is tried. */
const ATTEMPT_TIMEOUT_MS = 1500;

type Attempt<T> = { ok: true; value: T } | { ok: false; reason: string; leader: string | null };

/**
 * Runs `attempt` on the group's leader: starts at the cached hint (else any member), follows
 * "not leader, try X" answers, and keeps trying across elections until the deadline. No leader in
 * time is a 503 with Retry-After, never a hang. Every attempt goes through the member's breaker: a
 * member that keeps failing or timing out is refused at once, and the next member is tried after the
 * short back-off instead of after the attempt timeout. Answers (`ok: false`, not leader, a timeout
 * the node reports itself) are the node speaking: they never count against it.
 */
export async function onLeader<T>(
  config: RaftConfig,
  env: Cloudflare.Env,
  attempt: (stub: DurableObjectStub<RaftNode>, identity: RaftIdentity, timeoutMs: number) => Promise<Attempt<T>>,
  /** false for calls any member may answer (stale reads): their answer says nothing about who leads. */
  learnsLeader = true,
): Promise<{ value: T; node: string }> {
  const deadline = Date.now() + config.deadlineMs;
  const guard = { breaker: getConfig(env).doBreaker, admission: getConfig(env).admission };
  let target = leaderHints.get(config.group) ?? pickMember(config, null);
  let lastReason = "no attempt";
  for (let round = 0; ; round++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const identity = { group: config.group, node: target };
    // One attempt may wait out an election in the member it reached (see awaitLeader in raft-node.ts).
    const timeout = Math.min(remaining, Math.max(ATTEMPT_TIMEOUT_MS, config.electionMaxMs + 500));
    let outcome: Attempt<T>;
    try {
      const stub = raftStub(env, config.group, target);
      outcome = await guardedCall(raftGuardName(config.group, target), timeout + 100, () => attempt(stub, identity, timeout), guard);
    } catch (err) {
      // Shed by this isolate's admission control: the member is busy with our calls, not sick; trying
      // another member would only move the load. The caller hears it at once.
      if (err instanceof ShedError) throw overloadedError(err);
      outcome = { ok: false, reason: err instanceof Error ? err.message : String(err), leader: null };
    }
    if (outcome.ok) {
      if (learnsLeader) leaderHints.set(config.group, target);
      return { value: outcome.value, node: target };
    }
    lastReason = outcome.reason;
    if (learnsLeader) leaderHints.delete(config.group);
    if (outcome.leader && outcome.leader !== target) {
      target = outcome.leader;
      continue;
    }
    // No leader known (an election is running) or the node failed: back off a little, try another member.
    target = pickMember(config, target);
    await new Promise((r) => setTimeout(r, Math.min(20 * (round + 1), 200, Math.max(0, deadline - Date.now()))));
  }
  throw new HttpError(503, "no_leader", `no Raft leader answered within ${config.deadlineMs} ms (last: ${lastReason})`, { group: config.group }, { "Retry-After": "1" });
}

function pickMember(config: RaftConfig, previous: string | null): string {
  const members = config.members;
  if (previous === null) return members[Math.floor(Math.random() * members.length)]!;
  return members[(members.indexOf(previous) + 1) % members.length]!;
}

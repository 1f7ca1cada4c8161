import { env, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import { raftStub, type RaftNode } from "../../durable-objects/raft-node";

interface ShellInternals {
  storeSnapshot(s: { index: number; term: number; membership: { voters: string[]; learners: string[] }; data: string }): void;
  loadSnapshot(): { data: string } | null;
}
const membership = { voters: ["n1"], learners: [] as string[] };

// A snapshot is the KV state as JSON.stringify text, which keeps non-ASCII characters (and emoji, as
// UTF-16 surrogate pairs) raw. storeSnapshot slices it every 1,048,576 UTF-16 code units.

it("a snapshot whose 1 MiB chunk boundary falls inside a surrogate pair (an emoji) reads back unchanged", async () => {
  const data = "a" + "\u{1F600}".repeat(600_000); // the boundary at 1,048,576 splits a pair
  await runInDurableObject(raftStub(env, "snap-a", "n1"), async (instance: RaftNode, state) => {
    const shell = instance as unknown as ShellInternals;
    state.storage.transactionSync(() => shell.storeSnapshot({ index: 1, term: 1, membership, data }));
    const back = shell.loadSnapshot()!.data;
    expect(back.length).toBe(data.length);
    expect(back === data).toBe(true);
  });
});

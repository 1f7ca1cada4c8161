import { describe, expect, it } from "vitest";
import { objectStub } from "../../src/services/objects";

// Placement in the one stub factory (issue 15, item 4): the id comes from the jurisdiction's namespace
// when DO_JURISDICTION is set, and the stub carries the object's location hint, if it has one.

interface FakeId {
  name: string;
  jurisdiction: string | undefined;
}

function fakeEnv(vars: Record<string, string>) {
  const calls: string[] = [];
  const namespace = (jurisdiction?: string) => ({
    jurisdiction: (j: string) => namespace(j),
    idFromName: (name: string): FakeId => ({ name, jurisdiction }),
    get: (id: FakeId, options?: { locationHint?: string }) => {
      calls.push(`${id.jurisdiction ?? "-"} ${id.name} ${options === undefined ? "no options" : (options.locationHint ?? "-")}`);
      return { id };
    },
  });
  const bindings = ["RAFT_NODE", "CACHE_SHARD", "TXN_COORDINATOR", "UPSTREAM_POOL", "JOB_COORDINATOR", "TASK_EXECUTOR", "WORK_REGISTRY"];
  const env = Object.fromEntries([...bindings.map((b) => [b, namespace()]), ...Object.entries(vars)]) as unknown as Cloudflare.Env;
  return { env, calls };
}

describe("objectStub places objects as configured", () => {
  it("without placement vars, the stub is made exactly as before: idFromName in the default namespace, no options", () => {
    const { env, calls } = fakeEnv({});
    objectStub(env, "raft", "main/n1");
    objectStub(env, "cache", "shard-0");
    expect(calls).toEqual(["- main/n1 no options", "- shard-0 no options"]);
  });

  it("members, shards and coordinators get their hints (cycled), everything in the jurisdiction; other objects no hint", () => {
    const { env, calls } = fakeEnv({ RAFT_LOCATIONS: "wnam,enam,weur", CACHE_LOCATIONS: "weur,eeur", TXN_LOCATIONS: "enam", DO_JURISDICTION: "eu" });
    for (const n of ["n1", "n2", "n3", "n4"]) objectStub(env, "raft", `main/${n}`);
    objectStub(env, "cache", "shard-3");
    objectStub(env, "txn", "txn-coordinator-2");
    objectStub(env, "pool", "web");
    expect(calls).toEqual(["eu main/n1 wnam", "eu main/n2 enam", "eu main/n3 weur", "eu main/n4 wnam", "eu shard-3 eeur", "eu txn-coordinator-2 enam", "eu web no options"]);
  });
});

import { describe, expect, it } from "vitest";
import { call, getKey, json, putKey } from "./helpers";

const post = (body: unknown, headers: Record<string, string> = {}) =>
  call("/txn", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

describe("POST /txn", () => {
  it("commits writes to keys on different shards and returns their revisions", async () => {
    const res = await post({ ops: [{ op: "set", key: "a1", value: "x" }, { op: "set", key: "b2", value: "y" }, { op: "incr", key: "c3", by: 5 }] });
    const body = await json<{ state: string; results: { key: string; revision: string; value?: string }[]; participants: { shard: string }[] }>(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.state).toBe("committed");
    expect(body.results.find((r) => r.key === "c3")?.value).toBe("5");
    expect(body.participants.length).toBeGreaterThan(3);
    expect(await (await getKey("a1")).text()).toBe("x");
    expect(await (await getKey("c3")).text()).toBe("5");
  });

  it("aborts when a condition fails and says which one", async () => {
    await putKey("acct", "10");
    const res = await post({ ops: [{ op: "set", key: "acct", value: "0" }], conditions: [{ key: "acct", equals: "11" }] });
    const body = await json<{ state: string; reason: { code: string; condition: number } }>(res);
    expect(res.status).toBe(409);
    expect(body.reason).toMatchObject({ code: "condition_failed", condition: 0 });
    expect(await (await getKey("acct")).text()).toBe("10");
  });
});

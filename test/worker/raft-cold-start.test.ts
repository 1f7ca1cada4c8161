import { expect, it } from "vitest";
import { call } from "./helpers";

// Storage is per test file, so this group has never run: no node has an alarm yet.
it("a first write to a group that has never run elects a leader and commits (any call arms a node's election clock)", async () => {
  const res = await call("/kv/first", { method: "PUT", body: "v" });
  expect(res.status).toBe(200);
  expect(await (await call("/kv/first")).text()).toBe("v");
}, 15_000);

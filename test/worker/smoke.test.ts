import { env, SELF } from "cloudflare:test";
import { expect, test } from "vitest";
test("worker project runs", async () => {
  const r = await SELF.fetch("http://x/");
  expect(await r.text()).toBe("ok");
  const stub = env.CACHE_SHARD.get(env.CACHE_SHARD.idFromName("a"));
  expect(await stub.ping()).toBe("pong");
});

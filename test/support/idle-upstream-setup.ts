// Global setup of the worker tests: one real HTTP upstream on 127.0.0.1 (test/support/upstream-farm.ts),
// which a test inside workerd cannot start itself; its URL is handed over with `inject("idleUpstream")`.
import type { TestProject } from "vitest/node";
import { startFarm } from "./upstream-farm";

declare module "vitest" {
  export interface ProvidedContext {
    idleUpstream: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const farm = await startFarm(["idle"]);
  project.provide("idleUpstream", farm.servers.idle.url);
  return () => farm.close();
}

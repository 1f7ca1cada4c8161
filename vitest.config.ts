import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { buildSync } from "esbuild";
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

// Timeouts are ceilings for a stuck test, not claims about speed: on a quiet machine the suite never
// comes near them, and on a loaded one (CI beside other jobs, two busy loops beside it) a slow but
// correct test must not fail. What a test proves about timing it checks itself, with conditions awaited
// up to a deadline. The uncaught guard fails the run on any unhandled promise rejection workerd logs.
const UNCAUGHT_GUARD = "./test/support/uncaught-guard.ts";

// fengari (the Lua VM of EVAL) requires Node's modules on paths a script never takes; wrangler.toml's
// [alias] points them at a shim when wrangler bundles the worker. Vitest's module runner would load
// fengari unbundled inside workerd, where they do not exist: the worker tests get the same bundle.
const FENGARI_BUNDLE = "dist/test/fengari.mjs";
buildSync({
  entryPoints: ["node_modules/fengari/src/fengari.js"],
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["main"],
  alias: Object.fromEntries(["fs", "path", "os", "tmp", "child_process", "readline-sync"].map((m) => [m, "./src/core/redis/lua-node-shim.ts"])),
  // As wrangler.toml's [define]: fengari reads it at load, outside its `typeof process` guards.
  define: { "process.env.FENGARICONF": "undefined" },
  outfile: FENGARI_BUNDLE,
  logLevel: "warning",
});

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: "core", include: ["test/core/**/*.test.ts"], environment: "node", testTimeout: 120_000 },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { ADMIN_TOKEN: "test-admin-token", LOG_REQUESTS: "false", PUBLIC_DATA_ROUTES: "true", CACHE_REPLICA_TIMEOUT_MS: "300", CACHE_SHARD_CAPACITY_BYTES: "2097152", RAFT_COMPACT_EVERY: "20", TXN_VOTE_TIMEOUT_MS: "1000", TXN_INQUIRY_AFTER_MS: "200", TXN_RESEND_MS: "50" },
            },
          }),
        ],
        resolve: { alias: { fengari: resolve(FENGARI_BUNDLE) } },
        // The idle test's real upstream on 127.0.0.1 is started here (a test inside workerd cannot listen).
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], testTimeout: 90_000, hookTimeout: 90_000, globalSetup: [UNCAUGHT_GUARD, "./test/support/idle-upstream-setup.ts"] },
      },
      {
        test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 120_000 },
      },
      {
        // The dashboard in Debian's Chromium (playwright-core) against `npm run dev`.
        test: { name: "browser", include: ["test/browser/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 180_000, fileParallelism: false },
      },
      {
        // The load balancer against real upstreams on 127.0.0.1, the worker under Miniflare. One file at
        // a time: the tests measure timing and load spread, which a second Miniflare on 2 cores would skew.
        test: { name: "lb", include: ["test/lb/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false, globalSetup: [UNCAUGHT_GUARD] },
      },
    ],
  },
});

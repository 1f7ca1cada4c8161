// The dashboard in a real browser: Debian's Chromium driven by playwright-core, against the worker
// started by the README's own `npm run dev` (wrangler dev), with a real failing upstream on 127.0.0.1
// for the breaker. Screenshots go to test-artifacts/screenshots/ (copies of them are in
// docs/screenshots/, linked from the README).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../e2e/dev-server";
import { summarize } from "../support/uncaught-guard";
import { startFarm, type Farm } from "../support/upstream-farm";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ADMIN_TOKEN = "dev-admin-token"; // .dev.vars.example, which `npm run dev` copies
const SHOTS = join("test-artifacts", "screenshots");

let server: DevServer;
let browser: Browser;
let farm: Farm<"bad">;
let page: Page;
const consoleErrors: string[] = [];
// Every Content-Security-Policy violation a page of ours reports (issue 16, item 4: the pages run under a
// strict CSP, and must still work under it). Chromium also logs each as a console error.
const cspViolations: string[] = [];
const CSP_LISTENER = `document.addEventListener("securitypolicyviolation", (e) => console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));`;
const watch = (p: Page) => {
  p.on("console", (m) => void (m.type() === "error" && /CSP violation|Content Security Policy/.test(m.text()) && cspViolations.push(`${p.url()}: ${m.text()}`)));
  return p.addInitScript(CSP_LISTENER);
};

const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const leaderOnPage = async () => (await page.locator("#raft-leader").getAttribute("data-leader")) ?? "";
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  [server, farm] = await Promise.all([startDevServer(), startFarm(["bad"] as const)]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (m) => void (m.type() === "error" && consoleErrors.push(m.text())));
  page.on("pageerror", (e) => void consoleErrors.push(String(e)));
  await watch(page);
});

afterAll(async () => {
  // The dev server's state persists in a temporary directory, but leave nothing pointing at a closed port.
  if (server) await api("/admin/lb/pools/browser", { method: "DELETE", headers: admin }).catch(() => undefined);
  await browser?.close();
  await farm?.close();
  await server?.stop();
});

// No call may end in an exception in the server, crashes and partitions included (test/support/uncaught-guard.ts).
afterEach(() => {
  const unexpected = server.newUnexpectedExceptions();
  expect(unexpected, summarize(unexpected)).toEqual([]);
});

describe("the dashboard in Chromium", () => {
  it("loads with no console errors and shows a leader, highlighted", async () => {
    await page.goto(server.url);
    await expect.poll(leaderOnPage, { timeout: 20_000, interval: 250 }).toMatch(/^n\d$/);
    const leader = await leaderOnPage();
    await expect.poll(async () => page.locator(`tr.leader[data-node="${leader}"]`).count(), { timeout: 5_000 }).toBe(1);
    await shot("dashboard-1280x800");
    expect(consoleErrors, consoleErrors.join("\n")).toEqual([]);
  });

  // An idle group is quiet (issue 15: no clocks, and the dashboard's status reads wake nobody): a crashed
  // leader is found by the next request, which pays one election. The restarted member's log is as long as
  // anyone's, so the leader of the new term may be the same node: the page must show the new term.
  const termOnPage = async () => Number(await page.locator("#raft-leader").getAttribute("data-term"));
  const wake = () => api("/kv/browser-wake", { method: "PUT", body: "1" }).then((r) => r.arrayBuffer(), () => undefined);

  it("crashing the leader from the page (with the admin token typed in) shows the leader of a new term within seconds of the next request", async () => {
    await page.fill("#admin-token", ADMIN_TOKEN);
    await page.click("#token-form button[type=submit]");
    await expect.poll(() => page.locator("body.is-admin").count()).toBe(1);
    // The token lives in the page's memory only: not in web storage (which any script of the origin can
    // read, and which outlives the page), not in the URL, not left in the field.
    const storage = String(await page.evaluate("JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])"));
    expect(storage).not.toContain(ADMIN_TOKEN);
    expect(storage).toBe("[[],[]]");
    expect(page.url()).not.toContain(ADMIN_TOKEN);
    expect(await page.inputValue("#admin-token")).toBe("");
    const before = await leaderOnPage();
    const termBefore = await termOnPage();
    await page.click(`button[data-action="crash-node"][data-node="${before}"]`);
    await expect.poll(async () => page.locator("#admin-result").textContent()).toMatch(/crash: 200/);
    const started = Date.now();
    const woken = wake();
    await expect.poll(async () => {
      const now = await leaderOnPage();
      return now !== "" && (await termOnPage()) > termBefore;
    }, { timeout: 10_000, interval: 200 }).toBe(true);
    await woken;
    const after = await leaderOnPage();
    expect(await page.locator(`tr.leader[data-node="${after}"]`).count()).toBe(1);
    console.log(`leader ${before} (term ${termBefore}) crashed from the page; ${after} (term ${await termOnPage()}) highlighted after ${Date.now() - started} ms`);
    expect(consoleErrors, consoleErrors.join("\n")).toEqual([]);
  });

  it("partitioning the leader from the page elects another among the majority; Heal takes the partition away", async () => {
    const before = await leaderOnPage();
    await page.click('button[data-action="partition"]');
    await expect.poll(async () => page.locator("#admin-result").textContent()).toMatch(/partition: 200/);
    // The next request wakes the quiet majority (the isolated leader cannot commit it; a member it then tries campaigns).
    const woken = wake();
    await expect.poll(async () => {
      const now = await leaderOnPage();
      return now !== "" && now !== before;
    }, { timeout: 10_000, interval: 200 }).toBe(true);
    await woken;
    await page.click('button[data-action="heal"]');
    await expect.poll(async () => page.locator("#admin-result").textContent(), { timeout: 5_000 }).toMatch(/: 200$/);
    // Every heal call answered 200 (Raft's and each shard's fault); the group is whole again for what follows.
    expect((await api("/raft/status").then((r) => r.json() as Promise<{ members: { reachable: boolean }[] }>)).members.every((m) => m.reachable)).toBe(true);
    expect(consoleErrors, consoleErrors.join("\n")).toEqual([]);
  });

  it("a cache write shows up in its shards' key counts", async () => {
    const key = `browser-${Date.now()}`;
    const { replicas } = (await (await api(`/dashboard/replicas?key=${key}`)).json()) as { replicas: string[] };
    const keysOf = async (shard: string) => Number(await page.locator(`tr[data-shard="${shard}"]`).getAttribute("data-keys"));
    const before = await Promise.all(replicas.map(keysOf));
    expect((await api(`/cache/${key}`, { method: "PUT", body: "hello" })).status).toBe(200);
    // Each refresh (one a second) reads one shard in turn: the three replicas are all read again within
    // one rotation of the ring's shards (8 here), so within ~10 s; 20 s is the ceiling.
    await expect.poll(async () => (await Promise.all(replicas.map(keysOf))).every((n, i) => n === before[i]! + 1), { timeout: 20_000, interval: 200 }).toBe(true);
    // The lookup form answers the same replicas.
    await page.fill("#lookup-key", key);
    await page.click("#key-form button[type=submit]");
    await expect.poll(async () => page.locator("#replicas").textContent()).toBe(`${key} → ${replicas.join(", ")}`);
  });

  it("a breaker opened by a failing upstream shows as open", async () => {
    // A gateway failure (503) on several distinct paths: the balancer blames an upstream only for
    // failures that are its own, not one path's (issue 16: a client-chosen URL cannot condemn it).
    await farm.servers.bad.set({ status: 503 });
    const pool = { upstreams: [{ url: farm.servers.bad.url, id: "bad" }], breaker: { consecutiveFailures: 3, openMs: 60_000 }, retry: { attempts: 1 } };
    expect((await api("/admin/lb/pools/browser", { method: "PUT", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify(pool) })).status).toBe(200);
    for (let i = 0; i < 6; i++) await (await api(`/lb/browser/x${i}`)).arrayBuffer();
    const breaker = page.locator('div[data-pool="browser"] tr[data-upstream="bad"]');
    await expect.poll(async () => breaker.getAttribute("data-breaker"), { timeout: 10_000, interval: 200 }).toBe("open");
    expect(await breaker.locator("td.breaker-open").textContent()).toBe("open");
    await page.locator("#lb").scrollIntoViewIfNeeded();
    await shot("dashboard-breaker-open");
  });

  it("is readable at phone width (no sideways scrolling of the page) and follows the system's dark mode", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    // Evaluated in the page (strings: this file is type-checked without the DOM library).
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await shot("dashboard-phone");
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "dark" });
    const bg = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    expect(bg).toBe("rgb(18, 18, 18)");
    await shot("dashboard-dark");
    expect(consoleErrors, consoleErrors.join("\n")).toEqual([]);
  });
});

// Issue 16, item 4: content is never active on the dashboard's origin.
describe("the dashboard's origin runs only its own code", () => {
  it("the dashboard ran every test above under its CSP without a single violation", () => {
    expect(cspViolations, cspViolations.join("\n")).toEqual([]);
  });

  it("/docs renders Swagger UI's operations with no request leaving this machine and no CSP violation", async () => {
    const docs = await browser.newPage();
    await watch(docs);
    const offHost: string[] = [];
    // Everything not served by the local worker is refused (and recorded): the page must not need it.
    await docs.route((url) => url.hostname !== "127.0.0.1" && url.hostname !== "localhost", (route) => {
      offHost.push(route.request().url());
      return route.abort();
    });
    try {
      await docs.goto(`${server.url}/docs`);
      await expect.poll(() => docs.locator(".opblock").count(), { timeout: 20_000, interval: 250 }).toBeGreaterThan(20);
      expect(await docs.locator(".opblock-summary-path", { hasText: "/cache/{key}" }).count()).toBeGreaterThan(0);
      await docs.screenshot({ path: join(SHOTS, "docs.png") });
      expect(offHost).toEqual([]);
      expect(cspViolations, cspViolations.join("\n")).toEqual([]);
    } finally {
      await docs.close();
    }
  });

  for (const [type, body] of [
    ["text/html", `<script>document.title = "ran:" + document.domain</script><p>stored html</p>`],
    ["image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg"><script>document.title = "ran:" + document.domain</script><text y="20">stored svg</text></svg>`],
  ] as const) {
    it(`a cache value stored as ${type} opens as an inert document: its script does not run on this origin`, async () => {
      const key = `browser-active-${type.replace(/\W/g, "-")}`;
      expect((await api(`/cache/${key}`, { method: "PUT", headers: { "content-type": type }, body })).status).toBe(200);
      const stored = await browser.newPage();
      const blocked: string[] = [];
      stored.on("console", (m) => void blocked.push(m.text()));
      try {
        const res = await stored.goto(`${server.url}/cache/${key}`);
        expect(res?.status()).toBe(200);
        await expect.poll(async () => (await stored.content()).includes("stored"), { timeout: 5_000 }).toBe(true);
        expect(await stored.title()).not.toMatch(/^ran:/);
        // The sandbox: the document's origin is opaque, so it could read none of ours even if a script ran.
        expect(String(await stored.evaluate("self.origin"))).toBe("null");
        expect(blocked.join("\n")).toMatch(/sandbox|Blocked script execution/);
      } finally {
        await stored.close();
      }
    });
  }
});

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { summarize } from "../support/uncaught-guard";
import { startDevServer, type DevServer } from "./dev-server";

const run = promisify(execFile);

/** Every `curl` command of the README's sh blocks, continuation lines joined, in order. */
function readmeCurls(): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  const commands: string[] = [];
  for (const block of blocks) {
    const joined = block.replace(/\\\n\s*/g, " ");
    for (const line of joined.split("\n")) if (line.trim().startsWith("curl ")) commands.push(line.trim());
  }
  return commands;
}

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer();
});
afterAll(async () => {
  await server?.stop();
});
// No call may end in an exception in the server (test/support/uncaught-guard.ts).
afterEach(() => {
  const unexpected = server.newUnexpectedExceptions();
  expect(unexpected, summarize(unexpected)).toEqual([]);
});

describe("the README, tried as a new user would", () => {
  const commands = readmeCurls();

  it("has curl examples to try", () => {
    expect(commands.length).toBeGreaterThan(10);
  });

  it("every curl example works as written against `npm run dev`", async () => {
    for (const command of commands) {
      const local = command.replaceAll("localhost:8787", `127.0.0.1:${server.port}`);
      const { stdout } = await run("bash", ["-c", `${local} -o /dev/null -w '%{http_code}'`]);
      const status = Number(stdout.trim().slice(-3));
      expect(status, command).toBeGreaterThanOrEqual(200);
      expect(status, command).toBeLessThan(300);
    }
  });

  it("a value written with curl reads back through the ring", async () => {
    const res = await fetch(`${server.url}/cache/user%3A42`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: "Ada" });
  });
});

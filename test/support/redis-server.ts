// Starts a throwaway redis-server (Debian's, installed by scripts/ensure-redis.sh) on a free port,
// without persistence, in its own process group so stop() ends it and anything it started.
import { spawn } from "node:child_process";
import { freePort } from "./free-port";
import { RespClient } from "./resp";

export interface RedisServer {
  port: number;
  /** A new connection to it (the caller closes it). */
  connect: () => Promise<RespClient>;
  stop: () => Promise<void>;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts redis-server and waits (up to a 60 s ceiling) until it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
  const bin = process.env.REDIS_SERVER_PATH || "/usr/bin/redis-server";
  const port = await freePort();
  const child = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (e) => reject(new Error(`cannot start ${bin} (run scripts/ensure-redis.sh): ${e.message}`)));
  });
  await spawned;
  // Should the test process end without calling stop() (a hook timed out), the server still goes.
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  process.once("exit", killGroup);
  const stop = async () => {
    process.off("exit", killGroup);
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      killGroup();
      await Promise.race([exited, sleep(5000)]);
    }
  };
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited early:\n${output}`);
    try {
      const c = await RespClient.connect(port);
      try {
        if ((await c.call(["PING"])) === "PONG") break;
      } finally {
        c.close();
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      await stop();
      throw new Error(`redis-server did not answer PING:\n${output}`);
    }
    await sleep(50);
  }
  return { port, connect: () => RespClient.connect(port), stop };
}

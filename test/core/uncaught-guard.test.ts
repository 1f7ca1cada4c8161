// The classifier the fault tests use on workerd's output (test/support/uncaught-guard.ts): an injected
// refusal of a down shard is allowed, anything else that ended a Durable Object call is reported.
import { describe, expect, it } from "vitest";
import { unexpectedExceptions } from "../support/uncaught-guard";

const injected = [
  "uncaught exception; source = Uncaught (in promise); stack = Error: shard is down (fault injected)",
  "    at Wrapper.guard (file:///work/main/.wrangler/tmp/dev-x/index.js:37247:43)",
  "    at Wrapper.get (file:///work/main/.wrangler/tmp/dev-x/index.js:37250:16)",
].join("\n");

describe("unexpectedExceptions", () => {
  it("allows a down shard's own refusal (the message and its guard frame), in wrangler's and the pool's shapes", () => {
    expect(unexpectedExceptions(injected)).toEqual([]);
    expect(unexpectedExceptions(`workerd/io/worker.c++:2528: info: ${injected.replace("Wrapper.guard", "CacheShard.guard")}`)).toEqual([]);
    expect(unexpectedExceptions(`\x1b[31m${injected}\x1b[0m`)).toEqual([]);
  });

  it("reports any other exception, asynchronous or not, and the injected message passed on by another frame", () => {
    const other = "uncaught exception; source = Uncaught (in promise); stack = TypeError: core.nextDeadline is not a function\n    at RaftNode.pump (x.js:1:1)";
    const sync = "uncaught exception; source = Uncaught; stack = Error: storage failed\n    at CacheShard.put (x.js:1:1)";
    const passedOn = "uncaught exception; source = Uncaught (in promise); stack = Error: shard is down (fault injected)\n    at TxnCoordinator.run (x.js:9:9)";
    expect(unexpectedExceptions([injected, other, sync, passedOn].join("\n"))).toEqual([
      "uncaught exception; source = Uncaught (in promise); stack = TypeError: core.nextDeadline is not a function | at RaftNode.pump (x.js:1:1)",
      "uncaught exception; source = Uncaught; stack = Error: storage failed | at CacheShard.put (x.js:1:1)",
      "uncaught exception; source = Uncaught (in promise); stack = Error: shard is down (fault injected) | at TxnCoordinator.run (x.js:9:9)",
    ]);
  });

  it("allows a failure planted by a test file, and a refused connection's report, but not a lost connection on its own", () => {
    const planted = "uncaught exception; source = Uncaught (in promise); stack = Error: transient failure\n    at storage.list (/work/main/test/worker/review-jobs.test.ts:192:17)";
    const refused = [
      "exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 111)",
      "stack: /work/main/node_modules/workerd@28a3c60",
      "uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.",
      "uncaught exception; exception = workerd/jsg/value.h:1535: disconnected: jsg.Error: Network connection lost.",
    ].join("\n");
    const lost = "some line\nuncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.";
    expect(unexpectedExceptions([planted, refused].join("\n"))).toEqual([]);
    expect(unexpectedExceptions(lost)).toEqual(["uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost."]);
    // A test that crashes objects may allow them, frameless only.
    expect(unexpectedExceptions(lost, { crashesInjected: true })).toEqual([]);
    expect(unexpectedExceptions(`${lost}\n    at CacheShard.put (x.js:1:1)`, { crashesInjected: true })).toHaveLength(1);
  });

  it("counts a report only where the runtime printed it, not where a failed test quotes it", () => {
    const quoted = [
      `AssertionError:   2 x uncaught exception; source = Uncaught (in promise); stack = Error: x`,
      `+   "uncaught exception; source = Uncaught (in promise); stack = Error: x",`,
    ].join("\n");
    expect(unexpectedExceptions(quoted)).toEqual([]);
  });

  it("ignores ctx.abort()'s report of a reset the test asked for", () => {
    expect(unexpectedExceptions("uncaught exception; exception = workerd/api/actor-state.c++:1249: failed: broken.outputGateBroken; jsg.Error: crash injected")).toEqual([]);
  });
});

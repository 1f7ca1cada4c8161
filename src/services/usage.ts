import { ActiveTime, keyCount, listRowCount, putRowCount } from "../core/metrics/usage";
import { metrics, usageActiveSeconds, usageAlarms, usageRowsRead, usageRowsWritten, usageRpcCalls } from "./metrics";
import type { ObjectKind } from "./objects";

// The billed events of Durable Objects, counted in this isolate (module memory): RPC calls on stubs,
// alarm invocations, SQLite rows read and written, and how long objects are active. Under Miniflare
// and workerd locally the worker and every object of the script share one isolate (verified: an
// object's module-level counter is the one the worker reads), so this registry sees the whole cluster;
// on Cloudflare every object runs in an isolate of its own and each isolate counts what it sees.
//
// Wiring: objectStub (src/services/objects.ts) wraps each stub with meteredStub; each object's
// constructor calls meterObject(this, ctx, kind) right after super(), which tags the object's env
// (so calls it makes are labelled with its kind), meters its storage and wraps its class's alarm().

/** Who made a call: the worker, the /metrics scrape, or an object of some kind (with its id, for activity). */
interface Caller {
  label: ObjectKind | "metrics";
  key: string | null;
}

/** Env objects handed to callers other than the worker. workerd gives every object the worker's own env object, so a copy is the tag. */
const callers = new WeakMap<object, Caller>();

const active = new ActiveTime();

/** The tagged copies of an env made without an object key, by label. */
const sharedCopies = new WeakMap<object, Map<Caller["label"], Cloudflare.Env>>();

/** A copy of `env` whose stub calls are labelled caller=`label` (and keep object `key` active while in flight). */
export function callerEnv(env: Cloudflare.Env, label: Caller["label"], key: string | null = null): Cloudflare.Env {
  // Copies without an object key (the scrape's) are made once per env: a fresh copy per request would
  // also make getConfig parse the configuration again for it (it caches by env object).
  const shared = key === null ? sharedCopies.get(env)?.get(label) : undefined;
  if (shared !== undefined) return shared;
  const tagged = { ...env };
  callers.set(tagged, { label, key });
  if (key === null) sharedCopies.set(env, (sharedCopies.get(env) ?? new Map()).set(label, tagged));
  return tagged;
}

type AnyFn = (...args: unknown[]) => unknown;

const isThenable = (v: unknown): v is PromiseLike<unknown> => (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as { then?: unknown }).then === "function";

/**
 * `stub` counting each method call (RPC methods and fetch alike: each is one billed request). The
 * call itself goes to the real stub unchanged and its RpcPromise is returned as is, so pipelining
 * (`stub.m().x`, `stub.m().n()`) keeps working; a Proxy around the method keeps its properties too.
 */
export function meteredStub<S extends object>(env: Cloudflare.Env, kind: ObjectKind, stub: S): S {
  const caller = callers.get(env);
  const labels = { kind, caller: caller?.label ?? "worker" };
  const callee = String((stub as { id?: unknown }).id);
  const methods = new Map<string, AnyFn>();
  return new Proxy(stub, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      // Symbol-keyed methods (Symbol.dispose for `using stub`) are not RPC calls: bound to the real stub.
      if (typeof prop !== "string" && typeof value === "function") return (value as AnyFn).bind(target);
      if (typeof prop !== "string" || prop === "then" || typeof value !== "function") return value;
      let m = methods.get(prop);
      if (m === undefined) {
        m = new Proxy(value as AnyFn, {
          apply(fn, _this, args: unknown[]) {
            usageRpcCalls.inc(labels);
            const started = Date.now();
            active.enter(kind, callee, started);
            if (caller?.key) active.enter(caller.label, caller.key, started);
            const done = () => {
              const ended = Date.now();
              active.leave(callee, ended);
              if (caller?.key) active.leave(caller.key, ended);
            };
            let result: unknown;
            try {
              result = Reflect.apply(fn, target, args);
            } catch (err) {
              done();
              throw err;
            }
            if (isThenable(result)) result.then(done, done);
            else done();
            return result;
          },
        });
        methods.set(prop, m);
      }
      return m;
    },
  });
}

const meteredStorage = new WeakSet<object>();
const meteredClasses = new WeakSet<object>();
const objectIds = new WeakMap<object, string>();

/**
 * Counts a Durable Object's billed events: call right after super(ctx, env) in its constructor.
 * Replaces the object's `env` with a tagged copy (its calls are labelled with its kind), meters its
 * storage, and wraps its class's alarm() once (an invocation counted, its run time kept active).
 */
export function meterObject(obj: object, ctx: DurableObjectState, kind: ObjectKind): void {
  const id = ctx.id.toString();
  objectIds.set(obj, id);
  // DurableObject keeps env in a protected field set by its constructor; the copy carries the tag.
  const holder = obj as { env: Cloudflare.Env };
  holder.env = callerEnv(holder.env, kind, id);
  meterStorage(ctx.storage, kind);
  meterAlarm(Object.getPrototypeOf(obj) as object, kind);
}

function meterAlarm(proto: object, kind: ObjectKind): void {
  if (meteredClasses.has(proto)) return;
  meteredClasses.add(proto);
  const holder = proto as { alarm?: AnyFn };
  const original = holder.alarm;
  if (typeof original !== "function") return;
  // The runtime looks alarm() up on the object each time it fires, so the prototype's is the one it runs.
  holder.alarm = async function (this: object, ...args: unknown[]): Promise<unknown> {
    usageAlarms.inc({ kind });
    const id = objectIds.get(this);
    if (id !== undefined) active.enter(kind, id, Date.now());
    try {
      return await original.apply(this, args);
    } finally {
      if (id !== undefined) active.leave(id, Date.now());
    }
  };
}

/** Replaces `storage[name]` with a version that reports its arguments (and result) first. */
function tap(storage: object, name: string, count: (args: unknown[], result: unknown) => void): void {
  const holder = storage as Record<string, unknown>;
  const original = holder[name];
  if (typeof original !== "function") return;
  const bound = (original as AnyFn).bind(storage);
  holder[name] = (...args: unknown[]): unknown => {
    const result = bound(...args);
    count(args, result);
    return result;
  };
}

/**
 * SQL: each cursor's own rowsRead/rowsWritten, read at the end of the synchronous turn that ran the
 * statement (every cursor here is consumed at once with toArray()/one(); one iterated across awaits
 * would be counted only up to that point). KV-style calls: one row per key, as the pricing page bills
 * them on the SQLite backend; a list() counts the entries it returned; deleteAll() counts one row
 * (the rows it really deletes are not reported).
 */
function meterStorage(storage: DurableObjectStorage, kind: ObjectKind): void {
  if (meteredStorage.has(storage)) return;
  meteredStorage.add(storage);
  const labels = { kind };
  let sql: SqlStorage | undefined;
  try {
    sql = storage.sql;
  } catch {
    sql = undefined; // a KV-backed class has no SQL API (none here: every class is SQLite-backed)
  }
  if (sql) {
    tap(sql, "exec", (_args, cursor) => {
      queueMicrotask(() => {
        const c = cursor as SqlStorageCursor<Record<string, SqlStorageValue>>;
        if (c.rowsRead > 0) usageRowsRead.inc(labels, c.rowsRead);
        if (c.rowsWritten > 0) usageRowsWritten.inc(labels, c.rowsWritten);
      });
    });
  }
  tap(storage, "get", (args) => usageRowsRead.inc(labels, keyCount(args[0])));
  tap(storage, "list", (_args, result) => {
    if (isThenable(result)) result.then((m) => usageRowsRead.inc(labels, listRowCount(m)), () => undefined);
  });
  tap(storage, "put", (args) => usageRowsWritten.inc(labels, putRowCount(args[0])));
  tap(storage, "delete", (args) => usageRowsWritten.inc(labels, keyCount(args[0])));
  tap(storage, "deleteAll", () => usageRowsWritten.inc(labels, 1));
  // The pricing page: "Each setAlarm() is billed as a single row written".
  tap(storage, "setAlarm", () => usageRowsWritten.inc(labels, 1));
}

/** Active seconds per kind up to now, intervals in flight included (read at scrape time). */
export function readActiveSeconds(now: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, ms] of Object.entries(active.totals(now))) out[kind] = ms / 1000;
  return out;
}

/** Objects with an event in flight now (tests). */
export function objectsActiveNow(): number {
  return active.activeObjects();
}

// At each scrape: the active time, open intervals included, as counters.
metrics.collect(() => {
  for (const [kind, seconds] of Object.entries(readActiveSeconds(Date.now()))) usageActiveSeconds.set({ kind }, seconds);
});

// Counts the Durable Object calls one request makes: the worker runs with an env whose namespaces hand
// out stubs that record each method called on them (the calls a Worker invocation makes to objects are
// its subrequests, and each is a billed request). Calls objects make to each other are not the caller's.

export interface CallLog {
  calls: string[];
  reset(): void;
}

const isNamespace = (v: unknown): v is DurableObjectNamespace =>
  typeof v === "object" && v !== null && typeof (v as { idFromName?: unknown }).idFromName === "function" && typeof (v as { get?: unknown }).get === "function";

function countingStub(binding: string, stub: object, log: string[]): object {
  return new Proxy(stub, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof prop !== "string" || prop === "then" || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        log.push(`${binding}.${prop}`);
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

/** `base` with every Durable Object namespace wrapped so that each method call on its stubs is logged. */
export function countingEnv(base: Cloudflare.Env): { env: Cloudflare.Env; log: CallLog } {
  const calls: string[] = [];
  const wrapped = new Map<string, DurableObjectNamespace>();
  const env = new Proxy(base, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof prop !== "string" || !isNamespace(value)) return value;
      let ns = wrapped.get(prop);
      if (ns === undefined) {
        ns = new Proxy(value, {
          get(t, p) {
            const v: unknown = Reflect.get(t, p);
            if (p === "get" || p === "getByName") return (...args: unknown[]) => countingStub(prop, Reflect.apply(v as (...a: unknown[]) => object, t, args), calls);
            return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
          },
        });
        wrapped.set(prop, ns);
      }
      return ns;
    },
  });
  return { env, log: { calls, reset: () => void calls.splice(0) } };
}

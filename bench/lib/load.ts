import autocannon from "autocannon";

export interface LoadResult {
  name: string;
  rps: number;
  mean: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export interface LoadSpec {
  name: string;
  url: string;
  method?: "GET" | "PUT" | "POST";
  headers?: Record<string, string>;
  /** Builds each request's path (and body) so keys and versions vary. */
  next: () => { path: string; body?: string };
  seconds: number;
  connections: number;
}

/** Drives one endpoint with autocannon (a second process would compete for the same 2 cores; in-process is fairer here). */
export async function load(spec: LoadSpec): Promise<LoadResult> {
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    requests: [
      {
        method: spec.method ?? "GET",
        headers: spec.headers ?? {},
        setupRequest: (req) => {
          const { path, body } = spec.next();
          return { ...req, path, ...(body === undefined ? {} : { body }) };
        },
      },
    ],
  });
  return {
    name: spec.name,
    rps: result.requests.average,
    mean: result.latency.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export function printTable(rows: Array<Record<string, string | number>>): void {
  console.table(rows);
}

/**
 * Versions order the writes of one key across replicas (last writer wins, as in Cassandra).
 *
 * A version is a fixed-width string `TTTTTTTTTTTT.CCCCCC.NNNNNNNN`: the writer's clock in ms
 * (12 hex digits), a per-writer counter (6 hex digits, so two writes in the same millisecond from
 * one isolate stay ordered) and a writer tag (8 hex digits, breaks ties between isolates).
 * Plain string comparison is version order, so SQLite and JavaScript agree on it.
 */
export type Version = string;

const VERSION_RE = /^[0-9a-f]{12}\.[0-9a-f]{6}\.[0-9a-f]{8}$/;

export function isVersion(v: string): boolean {
  return VERSION_RE.test(v);
}

/** Builds a version from the writer's clock, counter and tag. */
export function makeVersion(nowMs: number, counter: number, writerTag: number): Version {
  const t = Math.max(0, Math.floor(nowMs)).toString(16).padStart(12, "0");
  const c = (counter % 0x1000000).toString(16).padStart(6, "0");
  const w = (writerTag >>> 0).toString(16).padStart(8, "0");
  return `${t}.${c}.${w}`;
}

/** -1, 0 or 1; `null` (no version: never written, or forgotten) is older than any version. */
export function compareVersions(a: Version | null, b: Version | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/** The smallest version above `v` from the same writer (the next counter value), so a write can be ordered right after it. */
export function versionAfter(v: Version): Version {
  const t = versionTime(v);
  const c = parseInt(v.slice(13, 19), 16);
  const w = parseInt(v.slice(20), 16);
  return c < 0xffffff ? makeVersion(t, c + 1, w) : makeVersion(t + 1, 0, w);
}

/** The writer clock embedded in a version (ms). */
export function versionTime(v: Version): number {
  return parseInt(v.slice(0, 12), 16);
}

/**
 * Hands out strictly increasing versions for one writer. If the clock stands still or goes back
 * (Workers freeze Date.now() between I/O), the counter keeps versions increasing.
 */
export class VersionClock {
  private lastMs = 0;
  private counter = 0;
  private readonly writerTag: number;

  constructor(writerTag: number) {
    this.writerTag = writerTag;
  }

  /** Takes in a version seen elsewhere (hybrid-logical-clock style), so the next version is newer than it. */
  observe(v: Version): void {
    const t = versionTime(v);
    const c = parseInt(v.slice(13, 19), 16);
    if (t > this.lastMs || (t === this.lastMs && c > this.counter)) {
      this.lastMs = t;
      this.counter = c;
    }
  }

  next(nowMs: number): Version {
    if (nowMs > this.lastMs) {
      this.lastMs = nowMs;
      this.counter = 0;
    } else {
      this.counter += 1;
      if (this.counter >= 0x1000000) {
        this.lastMs += 1;
        this.counter = 0;
      }
    }
    return makeVersion(this.lastMs, this.counter, this.writerTag);
  }
}

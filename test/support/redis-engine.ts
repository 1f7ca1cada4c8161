/**
 * Table-driven tests of the pure Redis engine (src/core/redis): a Map-backed keyspace, and scripts of
 * [command, expected reply] steps run at a fixed clock that steps may advance.
 */
import { describe, expect, it } from "vitest";
import { executeCommand, parseCommand, type EngineOptions } from "../../src/core/redis/commands";
import { RedisError, type Command, type Entry, type Keyspace, type Reply } from "../../src/core/redis/types";

/** A Map-backed keyspace, as the storage service would hand the engine. */
export class MapKeyspace implements Keyspace {
  readonly entries = new Map<string, Entry>();
  get(key: string): Entry | null {
    return this.entries.get(key) ?? null;
  }
  set(key: string, entry: Entry | null): void {
    if (entry === null) this.entries.delete(key);
    else this.entries.set(key, entry);
  }
}

export const T0 = 1_700_000_000_000; // the "now" of every script, in unix ms

export type Word = string | number | boolean;
/** An expected error reply, by its exact text. */
export interface Err {
  error: string;
}
export const E = (error: string): Err => ({ error });
/** A script step: run a command and compare its reply, or let time pass. */
export type Step = [Word[], Reply | Err] | { advance: number };

export function cmd(words: Word[]): Command {
  const parsed = parseCommand(words);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.cmd;
}

/** One command's reply, or its error as an Err. */
export function run(ks: Keyspace, now: number, words: Word[], options: EngineOptions = {}): Reply | Err {
  try {
    return executeCommand(cmd(words), ks, now, options);
  } catch (e) {
    if (e instanceof RedisError) return E(e.message);
    throw e;
  }
}

export function script(steps: Step[], ks = new MapKeyspace(), options: EngineOptions = {}): MapKeyspace {
  let now = T0;
  for (const [i, step] of steps.entries()) {
    if (!Array.isArray(step)) {
      now += step.advance;
      continue;
    }
    const [words, expected] = step;
    expect(run(ks, now, words, options), `step ${i}: ${JSON.stringify(words)}`).toEqual(expected);
  }
  return ks;
}

/** describe.each-style table: [behaviour, steps]. */
export function table(title: string, cases: [string, Step[]][]): void {
  describe(title, () => {
    for (const [name, steps] of cases) it(name, () => void script(steps));
  });
}

export const WRONGTYPE = E("WRONGTYPE Operation against a key holding the wrong kind of value");
export const NOT_INT = E("ERR value is not an integer or out of range");
export const NOT_FLOAT = E("ERR value is not a valid float");
export const SYNTAX = E("ERR syntax error");
export const arity = (name: string) => E(`ERR wrong number of arguments for '${name}' command`);

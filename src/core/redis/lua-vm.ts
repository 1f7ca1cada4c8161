/**
 * The Lua side of EVAL: a fresh fengari state (Lua 5.3 in JavaScript, synchronous, so redis.call
 * runs a command and returns its reply inline) with the libraries Redis opens, the `redis` and
 * `cjson` tables, Redis's conversions between Lua values and replies, and a budget that stops a
 * runaway script. Pure: the caller passes the clock and the command runner.
 */
import fengari, { type LuaState } from "fengari";
import { bytesOf, stringOf } from "./bytes";
import { sha1Hex } from "./sha1";
import { RedisError, type Reply } from "./types";
import { INT64_MIN, intReply } from "./util";

const { lauxlib, lua, lualib } = fengari;

/**
 * A script still running after this long is stopped and nothing it wrote is applied (Redis's
 * busy-script-time only lets SCRIPT KILL stop it and answers BUSY meanwhile).
 */
export const SCRIPT_TIME_LIMIT_MS = 5_000;
/**
 * Lua VM instructions one script may run; past it the script is stopped. It also bounds what tables
 * a script can fill (5 million entries took 627 MB, past a Workers isolate's 128 MB); rate limiters
 * and locks run a few hundred.
 */
export const SCRIPT_INSTRUCTION_LIMIT = 250_000;
/** How often (in instructions) the budget is checked. */
const HOOK_EVERY = 1_000;
/**
 * Bytes of strings one script run may build in all (concatenation and library buffers; fengari is
 * patched at install to count them, scripts/patch-fengari.mjs). A Workers isolate has 128 MB.
 */
export const SCRIPT_STRING_BYTES = 32 * 1024 * 1024;

/** Nesting of a table returned by a script or encoded by cjson. */
const MAX_DEPTH = 1_000;
/**
 * Values one conversion (a script's reply, a cjson.encode) may visit. A table holding the same table
 * several times is expanded into every copy: `t={t,t,t,t}` ten times over is a million leaves and took
 * 6 s outside the script's budget (review); past this the conversion stops with an error.
 */
export const MAX_CONVERTED_VALUES = 500_000;
let converted = 0;
function countConverted(): void {
  if (++converted > MAX_CONVERTED_VALUES) throw new RedisError(`ERR the value holds more than ${MAX_CONVERTED_VALUES} elements (a table repeated inside itself?)`);
}

/**
 * Thrown by `LuaRun.call` to stop the script at once: the script cannot catch it (pcall included),
 * and runLua rethrows it once the VM has unwound, instead of answering. The caller decides what it
 * means (scripting.ts: a SCAN the service must fetch before the script can be replayed).
 */
export class ScriptInterrupt extends Error {}

/** A status reply (Redis's `+OK`): Lua sees it as {ok = "..."}. */
export interface StatusReply {
  ok: string;
}

export interface LuaRun {
  /** The script's body, shebang line already blanked. */
  body: string;
  sha: string;
  keys: string[];
  argv: string[];
  /** Runs one command of redis.call / redis.pcall; throws RedisError for an error reply. */
  call: (words: string[]) => Reply | StatusReply;
  /** Wall clock (ms) for the time budget. */
  clock: () => number;
  /** Largest string string.rep may build, in bytes. */
  maxStringBytes: number;
  instructionLimit?: number;
  timeLimitMs?: number;
  /**
   * Seed of math.random for this run, so that a replay of the script (after a ScriptInterrupt) draws
   * the same numbers; without it math.random draws from the generator's state as it is.
   */
  seed?: number;
  /** Only compile the body (SCRIPT LOAD): answers null or the compile error. */
  compileOnly?: boolean;
}

/** What a script run answers: its reply, or the error it ended with; `killed` when the budget stopped it. */
export type LuaOutcome = { reply: Reply } | { error: string; killed: boolean };

// Redis strings are bytes: a value's bytes go to Lua as they are and come back losslessly (bytes.ts).
const ls = (s: string) => bytesOf(s);
const js = (b: Uint8Array | null) => (b === null ? "" : stringOf(b));

const K_ERR = ls("err");
const K_OK = ls("ok");
const CHUNK_NAME = ls("@user_script");
const PRELUDE_NAME = ls("=prelude");
const KILLED = ls("script killed by its budget");

/** cjson.null: a light userdata, as lua-cjson has it. */
const JSON_NULL = Object.freeze({ cjsonNull: true });

/**
 * Run before the user's chunk: 5.1 names Redis scripts use, string.rep bounded, and the global
 * table made read-only with Redis 7's texts for reading an unset global or writing one.
 */
const PRELUDE = `
local limit = ...
local error, tostring, type, rep = error, tostring, type, string.rep
unpack = table.unpack
string.rep = function(s, n, sep)
  if type(n) == "number" and n > 0 and n * (#tostring(s) + #tostring(sep or "")) > limit then
    error("resulting string too large", 2)
  end
  return rep(s, n, sep)
end
setmetatable(_G, {
  __index = function(_, k) error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end,
  __newindex = function() error("Attempt to modify a readonly table", 2) end,
  __metatable = false,
})
`;

/** Lua 5.1's tostring of a number (`%.14g`), which Redis 7 applies to a number passed to redis.call. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const exp = Number(n.toExponential(13).split("e")[1]);
  const trim = (s: string) => (s.includes(".") ? s.replace(/\.?0+$/, "") : s);
  if (exp < -4 || exp >= 14) {
    const [mantissa, e] = n.toExponential(13).split("e") as [string, string];
    const sign = e.startsWith("-") ? "-" : "+";
    const digits = e.replace(/^[+-]/, "").padStart(2, "0");
    return `${trim(mantissa)}e${sign}${digits}`;
  }
  return trim(n.toFixed(Math.max(0, 13 - exp)));
}

/** Redis's conversion of a Lua number to an integer reply: a C cast (truncation; NaN and out of range give INT64_MIN). */
function luaNumberToInteger(n: number): number | string {
  if (!Number.isFinite(n) || n >= 2 ** 63 || n < -(2 ** 63)) return intReply(INT64_MIN);
  return intReply(BigInt(Math.trunc(n)));
}

/** An error reply the way redis.error_reply and Redis's own errors build it: "-CODE msg" keeps CODE, anything else gets ERR. */
export function errorReplyText(text: string): string {
  if (!text.startsWith("-")) return `ERR ${text}`.replace(/[\r\n]+$/, "");
  const body = text.slice(1);
  const space = body.indexOf(" ");
  const [code, msg] = space < 0 ? ["ERR", body] : [body.slice(0, space), body.slice(space + 1)];
  return `${code} ${msg.replace(/[\r\n]+$/, "")}`;
}

let patched: boolean | undefined;
/**
 * Whether fengari carries the string budget (scripts/patch-fengari.mjs, npm's postinstall): a state
 * whose budget is spent must refuse to concatenate. Without the patch a script could take the
 * isolate's memory, so scripts are refused instead (checked once per isolate).
 */
export function stringBudgetPatched(): boolean {
  if (patched === undefined) {
    const L = lauxlib.luaL_newstate();
    (L as unknown as { l_G: { stringBudget?: number } }).l_G.stringBudget = 0;
    const chunk = ls("local a, b = ... return a .. b");
    lauxlib.luaL_loadbuffer(L, chunk, chunk.length, ls("check"));
    lua.lua_pushstring(L, ls("a"));
    lua.lua_pushstring(L, ls("b"));
    patched = lua.lua_pcall(L, 2, 1, 0) !== lua.LUA_OK;
  }
  return patched;
}

/** Runs a script to its end. Never throws for anything the script does, except the ScriptInterrupt its `call` throws. */
export function runLua(run: LuaRun): LuaOutcome {
  if (!stringBudgetPatched()) {
    return { error: "ERR scripts are disabled: the Lua VM was installed without its memory budget (run `node scripts/patch-fengari.mjs`, npm's postinstall)", killed: false };
  }
  const L = lauxlib.luaL_newstate();
  // The bytes of strings the script may build (scripts/patch-fengari.mjs charges `..` and the buffers
  // of table.concat, string.format…): without it `s = s .. s` 28 times built 268 MB.
  const global = (L as unknown as { l_G: { stringBudget?: number; stringBudgetSpent?: boolean } }).l_G;
  global.stringBudget = SCRIPT_STRING_BYTES;
  const instructionLimit = run.instructionLimit ?? SCRIPT_INSTRUCTION_LIMIT;
  const timeLimitMs = run.timeLimitMs ?? SCRIPT_TIME_LIMIT_MS;
  let killed: string | null = null;
  let interrupt: ScriptInterrupt | null = null;
  // Errors redis.call raised: at the top they are answered as they are (no ERR added).
  const callErrors = new Set<string>();
  let errorLine: number | null = null;

  for (const [name, open] of [
    ["_G", lualib.luaopen_base],
    ["table", lualib.luaopen_table],
    ["string", lualib.luaopen_string],
    ["math", lualib.luaopen_math],
  ] as const) {
    lauxlib.luaL_requiref(L, ls(name), open, 1);
    lua.lua_pop(L, 1);
  }
  for (const name of ["dofile", "loadfile", "load", "loadstring", "print", "collectgarbage", "require"]) {
    lua.lua_pushnil(L);
    lua.lua_setglobal(L, ls(name));
  }

  const raise = (message: string): never => {
    lua.lua_pushstring(L, ls(message));
    return lua.lua_error(L);
  };
  /** A redis lib error ("ERR ..."): answered at the top as it is, like redis.call's errors. */
  const raiseReply = (message: string): never => {
    callErrors.add(message);
    return raise(message);
  };
  /** An error of a library function, with the position of the script's line that called it, as luaL_error gives. */
  const ar = new lua.lua_Debug();
  const raiseHere = (message: string): never => {
    let where = "";
    if (lua.lua_getstack(L, 1, ar)) {
      lua.lua_getinfo(L, ls("Sl"), ar);
      if (ar.currentline > 0) where = `${js(ar.short_src)}:${ar.currentline}: `;
    }
    return raise(where + message);
  };
  const stopIfKilled = () => {
    if (killed !== null || interrupt !== null) {
      lua.lua_pushstring(L, KILLED);
      lua.lua_error(L);
    }
  };

  // A JS exception inside the VM (a RangeError from a huge allocation, say) becomes a Lua error.
  lua.lua_atnativeerror(L, (L2) => {
    const e = lua.lua_touserdata(L2, -1);
    lua.lua_pushstring(L2, ls(e instanceof Error ? e.message : String(e)));
    return 1;
  });

  const start = run.clock();
  let steps = 0;
  const hook = (L2: LuaState) => {
    steps += HOOK_EVERY;
    if (killed === null) {
      if (global.stringBudgetSpent === true) killed = `built more than ${SCRIPT_STRING_BYTES} bytes of strings (SCRIPT_STRING_BYTES)`;
      else if (steps > instructionLimit) killed = `ran past its limit of ${instructionLimit} Lua instructions`;
      else if (run.clock() - start > timeLimitMs) killed = `ran past its limit of ${timeLimitMs} ms`;
    }
    if (killed !== null || interrupt !== null) {
      // From now on every instruction raises, so a pcall in the script cannot swallow the stop.
      lua.lua_sethook(L2, hook, lua.LUA_MASKCOUNT, 1);
      lua.lua_pushstring(L2, KILLED);
      lua.lua_error(L2);
    }
  };

  // --- redis.* ------------------------------------------------------------------------------
  const commandWords = (L2: LuaState): string[] => {
    const n = lua.lua_gettop(L2);
    if (n === 0) raiseReply("ERR Please specify at least one argument for this redis lib call");
    const words: string[] = [];
    for (let i = 1; i <= n; i++) {
      const t = lua.lua_type(L2, i);
      if (t === lua.LUA_TSTRING) words.push(js(lua.lua_tolstring(L2, i)));
      else if (t === lua.LUA_TNUMBER) words.push(lua.lua_isinteger(L2, i) ? String(lua.lua_tointeger(L2, i)) : formatNumber(lua.lua_tonumber(L2, i)));
      else raiseReply("ERR Lua redis lib command arguments must be strings or integers");
    }
    return words;
  };
  const redisCall = (protectedCall: boolean) => (L2: LuaState) => {
    stopIfKilled();
    const words = commandWords(L2);
    let reply: Reply | StatusReply;
    try {
      reply = run.call(words);
    } catch (err) {
      if (err instanceof ScriptInterrupt) {
        // As the budget's stop: every instruction from now on raises, so no pcall can swallow it.
        interrupt = err;
        lua.lua_sethook(L2, hook, lua.LUA_MASKCOUNT, 1);
        lua.lua_pushstring(L2, KILLED);
        return lua.lua_error(L2);
      }
      if (!(err instanceof RedisError)) throw err;
      if (protectedCall) {
        pushErrorTable(L2, err.message);
        return 1;
      }
      return raiseReply(err.message);
    }
    pushReply(L2, reply, 0);
    return 1;
  };
  const stringArg = (L2: LuaState, what: string): string => {
    if (lua.lua_gettop(L2) !== 1 || lua.lua_type(L2, 1) !== lua.LUA_TSTRING) return raise(what);
    return js(lua.lua_tolstring(L2, 1));
  };

  lua.lua_createtable(L, 0, 16);
  const fns: Record<string, (L2: LuaState) => number> = {
    call: redisCall(false),
    pcall: redisCall(true),
    error_reply: (L2) => {
      // Redis 7 puts a '-' before a text without one, then reads its first word as the error code:
      // error_reply('my error') answers "my error", error_reply('x') "ERR x".
      const text = stringArg(L2, "ERR wrong number or type of arguments");
      pushErrorTable(L2, errorReplyText(text.startsWith("-") ? text : `-${text}`));
      return 1;
    },
    status_reply: (L2) => {
      const text = stringArg(L2, "ERR wrong number or type of arguments");
      lua.lua_createtable(L2, 0, 1);
      lua.lua_pushstring(L2, ls(text));
      lua.lua_setfield(L2, -2, K_OK);
      return 1;
    },
    sha1hex: (L2) => {
      if (lua.lua_gettop(L2) !== 1) return raise("wrong number of arguments");
      lua.lua_pushstring(L2, ls(sha1Hex(lauxlib.luaL_tolstring(L2, 1))));
      return 1;
    },
    log: () => 0,
    setresp: (L2) => {
      if (lua.lua_tonumber(L2, 1) !== 2) raise("RESP version must be 2 here: the REST protocol answers RESP2 shapes");
      return 0;
    },
    set_repl: () => 0,
    replicate_commands: (L2) => {
      lua.lua_pushboolean(L2, true);
      return 1;
    },
  };
  for (const [name, fn] of Object.entries(fns)) {
    lua.lua_pushjsfunction(L, fn);
    lua.lua_setfield(L, -2, ls(name));
  }
  const constants: Record<string, number | string> = {
    LOG_DEBUG: 0,
    LOG_VERBOSE: 1,
    LOG_NOTICE: 2,
    LOG_WARNING: 3,
    REPL_NONE: 0,
    REPL_AOF: 1,
    REPL_SLAVE: 2,
    REPL_REPLICA: 2,
    REPL_ALL: 3,
    REDIS_VERSION: "7.0.15",
    REDIS_VERSION_NUM: 0x07000f,
  };
  for (const [name, value] of Object.entries(constants)) {
    if (typeof value === "number") lua.lua_pushinteger(L, value);
    else lua.lua_pushstring(L, ls(value));
    lua.lua_setfield(L, -2, ls(name));
  }
  lua.lua_setglobal(L, ls("redis"));

  // --- cjson ----------------------------------------------------------------------------------
  lua.lua_createtable(L, 0, 3);
  lua.lua_pushjsfunction(L, (L2) => {
    let text: string;
    try {
      text = JSON.stringify(luaToJson(L2, 1, 0));
    } catch (err) {
      return raiseHere(err instanceof Error ? err.message : String(err));
    }
    lua.lua_pushstring(L2, ls(text));
    return 1;
  });
  lua.lua_setfield(L, -2, ls("encode"));
  lua.lua_pushjsfunction(L, (L2) => {
    let value: unknown;
    try {
      value = JSON.parse(js(lauxlib.luaL_tolstring(L2, 1)));
    } catch {
      return raiseHere("Expected value but found invalid token at character 1");
    }
    pushJson(L2, value, 0);
    return 1;
  });
  lua.lua_setfield(L, -2, ls("decode"));
  lua.lua_pushlightuserdata(L, JSON_NULL);
  lua.lua_setfield(L, -2, ls("null"));
  lua.lua_setglobal(L, ls("cjson"));

  // --- KEYS, ARGV -----------------------------------------------------------------------------
  for (const [name, list] of [
    ["KEYS", run.keys],
    ["ARGV", run.argv],
  ] as const) {
    lua.lua_createtable(L, list.length, 0);
    list.forEach((v, i) => {
      lua.lua_pushstring(L, ls(v));
      lua.lua_rawseti(L, -2, i + 1);
    });
    lua.lua_setglobal(L, ls(name));
  }

  // The prelude makes the globals read-only, so it runs last.
  const prelude = ls(PRELUDE);
  if (lauxlib.luaL_loadbuffer(L, prelude, prelude.length, PRELUDE_NAME) !== lua.LUA_OK) throw new Error(js(lua.lua_tolstring(L, -1)));
  lua.lua_pushinteger(L, Math.min(run.maxStringBytes, 2 ** 31 - 1));
  if (lua.lua_pcall(L, 1, 0, 0) !== lua.LUA_OK) throw new Error(js(lua.lua_tolstring(L, -1)));

  // The message handler notes the line of the user's code the error came from ("on @user_script:N.").
  lua.lua_pushjsfunction(L, (L2) => {
    for (let level = 1; lua.lua_getstack(L2, level, ar); level++) {
      lua.lua_getinfo(L2, ls("Sl"), ar);
      if (ar.currentline > 0 && js(ar.short_src) === "user_script") {
        errorLine = ar.currentline;
        break;
      }
    }
    return 1;
  });
  const handler = lua.lua_gettop(L);

  const body = ls(run.body);
  if (lauxlib.luaL_loadbuffer(L, body, body.length, CHUNK_NAME) !== lua.LUA_OK) {
    return { error: `ERR Error compiling script (new function): ${js(lua.lua_tolstring(L, -1))}`, killed: false };
  }
  if (run.compileOnly === true) return { reply: null };
  if (run.seed !== undefined) {
    // fengari's generator is one per module; the runs are synchronous, so seeding here fixes this run's draws.
    lua.lua_getglobal(L, ls("math"));
    lua.lua_getfield(L, -1, ls("randomseed"));
    lua.lua_pushinteger(L, run.seed | 0);
    if (lua.lua_pcall(L, 1, 0, 0) !== lua.LUA_OK) throw new Error(js(lua.lua_tolstring(L, -1)));
    lua.lua_pop(L, 1);
  }
  lua.lua_sethook(L, hook, lua.LUA_MASKCOUNT, HOOK_EVERY);
  const status = lua.lua_pcall(L, 0, 1, handler);
  lua.lua_sethook(L, null, 0, 0);
  if (killed === null && global.stringBudgetSpent === true) killed = `built more than ${SCRIPT_STRING_BYTES} bytes of strings (SCRIPT_STRING_BYTES)`;
  if (interrupt !== null) throw interrupt;
  const where = ` script: ${run.sha}, on @user_script:${errorLine ?? "?"}.`;
  if (killed !== null) {
    return { error: `ERR Script ${killed}; nothing it wrote was applied${where}`, killed: true };
  }
  if (status !== lua.LUA_OK) return { error: errorText(L, callErrors) + where, killed: false };
  try {
    return { reply: luaToReply(L, -1, 0) };
  } catch (err) {
    if (err instanceof RedisError) return { error: err.message, killed: false };
    // fengari's own errors (a stack it could not grow…) are the script's reply failing, not the server's.
    return { error: `ERR the script's reply could not be converted: ${err instanceof Error ? err.message : String(err)}${where}`, killed: false };
  }
}

/** The error reply for a value a script raised: {err=...} as it is, a redis.call error as it is, anything else after ERR. */
function errorText(L: LuaState, callErrors: Set<string>): string {
  const t = lua.lua_type(L, -1);
  if (t === lua.LUA_TTABLE) {
    lua.lua_pushstring(L, K_ERR);
    lua.lua_rawget(L, -2);
    const err = lua.lua_type(L, -1) === lua.LUA_TSTRING ? js(lua.lua_tolstring(L, -1)) : null;
    lua.lua_pop(L, 1);
    if (err !== null) return err;
  }
  if (t === lua.LUA_TSTRING) {
    const text = js(lua.lua_tolstring(L, -1));
    return callErrors.has(text) ? text : `ERR ${text}`;
  }
  return `ERR ${js(lauxlib.luaL_tolstring(L, -1))}`;
}

function pushErrorTable(L: LuaState, message: string): void {
  lua.lua_createtable(L, 0, 1);
  lua.lua_pushstring(L, ls(message));
  lua.lua_setfield(L, -2, K_ERR);
}

/** Redis -> Lua: integer -> number, bulk -> string, nil -> false, array -> table, status -> {ok=...}. */
function pushReply(L: LuaState, reply: Reply | StatusReply | Uint8Array, depth: number): void {
  if (!lua.lua_checkstack(L, 4)) {
    lua.lua_pushstring(L, ls("reached lua stack limit"));
    lua.lua_error(L);
  }
  if (reply === null) lua.lua_pushboolean(L, false);
  else if (typeof reply === "number") {
    // fengari's integers are 32-bit: a larger integer reply becomes a float (exact up to 2^53).
    if (Number.isInteger(reply) && reply >= -(2 ** 31) && reply < 2 ** 31) lua.lua_pushinteger(L, reply);
    else lua.lua_pushnumber(L, reply);
  } else if (typeof reply === "string") lua.lua_pushstring(L, ls(reply));
  else if (reply instanceof Uint8Array) lua.lua_pushstring(L, reply);
  else if (Array.isArray(reply)) {
    lua.lua_createtable(L, reply.length, 0);
    reply.forEach((item, i) => {
      pushReply(L, item, depth + 1);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else {
    lua.lua_createtable(L, 0, 1);
    lua.lua_pushstring(L, ls(reply.ok));
    lua.lua_setfield(L, -2, K_OK);
  }
}

/**
 * Lua -> Redis: number -> integer (truncated), string -> bulk, true -> 1, false and nil -> nil,
 * {ok=s} -> status, {err=s} -> error, a table -> array up to its first nil.
 */
function luaToReply(L: LuaState, idx: number, depth: number): Reply {
  if (depth > MAX_DEPTH) throw new RedisError("ERR reached lua stack limit");
  if (depth === 0) converted = 0;
  countConverted();
  // Each level pushes values: grow the Lua stack first (without it, 18 levels overflowed it: a 500).
  if (!lua.lua_checkstack(L, 4)) throw new RedisError("ERR reached lua stack limit");
  const t = lua.lua_type(L, idx);
  if (t === lua.LUA_TNUMBER) return lua.lua_isinteger(L, idx) ? lua.lua_tointeger(L, idx) : luaNumberToInteger(lua.lua_tonumber(L, idx));
  if (t === lua.LUA_TSTRING) return js(lua.lua_tolstring(L, idx));
  if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, idx) ? 1 : null;
  if (t !== lua.LUA_TTABLE) return null;
  const abs = idx < 0 ? lua.lua_gettop(L) + idx + 1 : idx;
  for (const [field, isError] of [
    [K_ERR, true],
    [K_OK, false],
  ] as const) {
    lua.lua_pushstring(L, field);
    lua.lua_rawget(L, abs);
    if (lua.lua_type(L, -1) === lua.LUA_TSTRING) {
      const text = js(lua.lua_tolstring(L, -1));
      lua.lua_pop(L, 1);
      // An error inside an array has no place in a REST reply (no error element): its text stands in.
      if (isError && depth === 0) throw new RedisError(text);
      return text;
    }
    lua.lua_pop(L, 1);
  }
  const out: Reply[] = [];
  for (let i = 1; ; i++) {
    lua.lua_rawgeti(L, abs, i);
    if (lua.lua_type(L, -1) === lua.LUA_TNIL) {
      lua.lua_pop(L, 1);
      break;
    }
    out.push(luaToReply(L, -1, depth + 1));
    lua.lua_pop(L, 1);
  }
  return out;
}

/** cjson.encode's view of a Lua value. */
function luaToJson(L: LuaState, idx: number, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error(`Cannot serialise, excessive nesting (${depth})`);
  if (depth === 0) converted = 0;
  countConverted();
  if (!lua.lua_checkstack(L, 4)) throw new Error(`Cannot serialise, excessive nesting (${depth})`);
  const t = lua.lua_type(L, idx);
  if (t === lua.LUA_TNIL) return null;
  if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, idx);
  if (t === lua.LUA_TNUMBER) {
    const n = lua.lua_tonumber(L, idx);
    if (!Number.isFinite(n)) throw new Error("Cannot serialise number: must not be NaN or Inf");
    return n;
  }
  if (t === lua.LUA_TSTRING) return js(lua.lua_tolstring(L, idx));
  if (t === lua.LUA_TLIGHTUSERDATA && lua.lua_touserdata(L, idx) === JSON_NULL) return null;
  if (t !== lua.LUA_TTABLE) throw new Error(`Cannot serialise ${t === lua.LUA_TLIGHTUSERDATA ? "userdata" : "function"}: type not supported`);
  const abs = idx < 0 ? lua.lua_gettop(L) + idx + 1 : idx;
  // An array when its keys are exactly 1..n (n >= 1), as lua-cjson decides; otherwise an object.
  const entries: [unknown, unknown][] = [];
  let arrayLike = true;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, abs) !== 0) {
    const kt = lua.lua_type(L, -2);
    let key: unknown;
    if (kt === lua.LUA_TNUMBER) {
      key = lua.lua_tonumber(L, -2);
      if (!Number.isInteger(key as number) || (key as number) < 1) arrayLike = false;
    } else if (kt === lua.LUA_TSTRING) {
      key = js(lua.lua_tolstring(L, -2));
      arrayLike = false;
    } else throw new Error("Cannot serialise table: table key must be a number or string");
    entries.push([key, luaToJson(L, -1, depth + 1)]);
    lua.lua_pop(L, 1);
  }
  if (arrayLike && entries.length > 0) {
    const n = entries.length;
    if (entries.every(([k]) => (k as number) <= n)) {
      const arr: unknown[] = new Array(n).fill(null);
      for (const [k, v] of entries) arr[(k as number) - 1] = v;
      return arr;
    }
  }
  const obj: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of entries) obj[typeof k === "number" ? formatNumber(k) : (k as string)] = v;
  return obj;
}

/** cjson.decode's Lua value for parsed JSON: null -> cjson.null. */
function pushJson(L: LuaState, value: unknown, depth: number): void {
  if (!lua.lua_checkstack(L, 4)) {
    lua.lua_pushstring(L, ls(`Found too many nested data structures (${depth})`));
    lua.lua_error(L);
  }
  if (depth > MAX_DEPTH) {
    lua.lua_pushstring(L, ls(`Found too many nested data structures (${depth})`));
    lua.lua_error(L);
  }
  if (value === null) lua.lua_pushlightuserdata(L, JSON_NULL);
  else if (typeof value === "boolean") lua.lua_pushboolean(L, value);
  else if (typeof value === "number") {
    if (Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) lua.lua_pushinteger(L, value);
    else lua.lua_pushnumber(L, value);
  } else if (typeof value === "string") lua.lua_pushstring(L, ls(value));
  else if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0);
    value.forEach((item, i) => {
      pushJson(L, item, depth + 1);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else {
    const obj = value as Record<string, unknown>;
    lua.lua_createtable(L, 0, Object.keys(obj).length);
    for (const [k, v] of Object.entries(obj)) {
      pushJson(L, v, depth + 1);
      lua.lua_setfield(L, -2, ls(k));
    }
  }
}


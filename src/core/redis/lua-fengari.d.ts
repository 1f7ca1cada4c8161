/** The part of fengari (Lua 5.3 in JavaScript, untyped on npm) the script engine uses. */
declare module "fengari" {
  export type LuaState = { readonly __luaState: unique symbol };
  export type LuaString = Uint8Array;
  export type JsFunction = (L: LuaState) => number;
  export class lua_Debug {
    currentline: number;
    short_src: LuaString;
  }
  const lua: {
    LUA_OK: number;
    LUA_TNIL: number;
    LUA_TBOOLEAN: number;
    LUA_TLIGHTUSERDATA: number;
    LUA_TNUMBER: number;
    LUA_TSTRING: number;
    LUA_TTABLE: number;
    LUA_MASKCOUNT: number;
    LUA_REGISTRYINDEX: number;
    lua_Debug: typeof lua_Debug;
    lua_pushjsfunction(L: LuaState, f: JsFunction): void;
    lua_pushstring(L: LuaState, s: LuaString): void;
    lua_pushinteger(L: LuaState, n: number): void;
    lua_pushnumber(L: LuaState, n: number): void;
    lua_pushboolean(L: LuaState, b: boolean): void;
    lua_pushnil(L: LuaState): void;
    lua_pushlightuserdata(L: LuaState, p: object): void;
    lua_pushvalue(L: LuaState, idx: number): void;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_rawseti(L: LuaState, idx: number, n: number): void;
    lua_rawgeti(L: LuaState, idx: number, n: number): number;
    lua_rawget(L: LuaState, idx: number): number;
    lua_rawset(L: LuaState, idx: number): void;
    lua_setfield(L: LuaState, idx: number, k: LuaString): void;
    lua_getfield(L: LuaState, idx: number, k: LuaString): number;
    lua_setglobal(L: LuaState, name: LuaString): void;
    lua_getglobal(L: LuaState, name: LuaString): number;
    lua_next(L: LuaState, idx: number): number;
    lua_type(L: LuaState, idx: number): number;
    lua_gettop(L: LuaState): number;
    lua_settop(L: LuaState, idx: number): void;
    lua_pop(L: LuaState, n: number): void;
    lua_toboolean(L: LuaState, idx: number): boolean;
    lua_tonumber(L: LuaState, idx: number): number;
    lua_isinteger(L: LuaState, idx: number): boolean;
    lua_tointeger(L: LuaState, idx: number): number;
    lua_tolstring(L: LuaState, idx: number): LuaString | null;
    lua_touserdata(L: LuaState, idx: number): unknown;
    lua_error(L: LuaState): never;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_sethook(L: LuaState, f: ((L: LuaState, ar: lua_Debug) => void) | null, mask: number, count: number): void;
    lua_getstack(L: LuaState, level: number, ar: lua_Debug): number;
    lua_getinfo(L: LuaState, what: LuaString, ar: lua_Debug): number;
    lua_atnativeerror(L: LuaState, f: JsFunction): void;
    lua_checkstack(L: LuaState, n: number): boolean;
  };
  const lauxlib: {
    luaL_newstate(): LuaState;
    luaL_requiref(L: LuaState, name: LuaString, open: JsFunction, global: number): void;
    luaL_loadbuffer(L: LuaState, buff: LuaString, size: number, name: LuaString): number;
    luaL_tolstring(L: LuaState, idx: number): LuaString;
  };
  const lualib: {
    luaopen_base: JsFunction;
    luaopen_table: JsFunction;
    luaopen_string: JsFunction;
    luaopen_math: JsFunction;
  };
  /** Imported whole (the default export): fengari is CommonJS, and its ESM bundle for the worker tests has no named exports. */
  const fengari: { lua: typeof lua; lauxlib: typeof lauxlib; lualib: typeof lualib };
  export default fengari;
}

/**
 * What fengari's Node-only code paths get instead of Node's modules (wrangler.toml [alias], and the
 * worker tests' resolve.alias): fengari requires fs, path, os, tmp, child_process and readline-sync
 * when it sees a `process` global, for Lua's io/os/package libraries and loading files — none of which
 * a Redis script may use (lua-vm.ts opens only base, table, string and math). Only `os.platform()` is
 * called at load time (luaconf.js picks the path separator).
 */
export const platform = (): string => "linux";
/** ldblib.js configures readline-sync's prompt at load time when it sees `process` (the worker tests run with nodejs_compat). */
export const setDefaultOptions = (): void => undefined;
export default { platform, setDefaultOptions };

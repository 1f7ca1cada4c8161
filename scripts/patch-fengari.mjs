// fengari (the Lua VM of EVAL) has no allocation hook, and a script could grow a string past the
// isolate's memory in a few instructions (`s = s .. s`, 28 times: 268 MB). This gives every Lua state
// a budget of string bytes it may build (its global state's `stringBudget`, set by
// src/core/redis/lua-vm.ts) and charges the two places fengari builds a string of a size the script
// chooses: the `..` operator (lvm.js luaV_concat) and the growing buffer behind table.concat,
// string.format, string.gsub… (lauxlib.js luaL_prepbuffsize). Past the budget the script gets a Lua
// error and the state is marked spent (lua-vm.ts then stops the script, uncatchably, within its next
// hook); 4 KiB of slack lets the error message itself be formatted. Run by npm's postinstall;
// idempotent; fails loudly if fengari's code no longer matches.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const MARK = "durable-cluster: string budget";
const src = join(dirname(createRequire(import.meta.url).resolve("fengari/package.json")), "src");

const patches = [
  {
    file: "lvm.js",
    find: "            let buff = new Uint8Array(tl);\n",
    add: `            /* ${MARK} (scripts/patch-fengari.mjs) */\n            if (L.l_G.stringBudget !== undefined && (L.l_G.stringBudget -= tl) < 0) { L.l_G.stringBudget = 4096; L.l_G.stringBudgetSpent = true; ldebug.luaG_runerror(L, to_luastring("not enough memory: the script built more strings than it may")); }\n`,
  },
  {
    file: "lauxlib.js",
    find: "        let newbuff = new Uint8Array(newsize);  /* create larger buffer */\n",
    add: `        /* ${MARK} (scripts/patch-fengari.mjs) */\n        if (B.L.l_G.stringBudget !== undefined && (B.L.l_G.stringBudget -= newsize) < 0) { B.L.l_G.stringBudget = 4096; B.L.l_G.stringBudgetSpent = true; luaL_error(B.L, to_luastring("not enough memory: the script built more strings than it may")); }\n`,
  },
];

// Redis runs Lua 5.1, which prints an integral float without ".0" (tostring(3.0) is "3", and
// "a" .. 1733620000000.0 is "a1733620000000"); fengari's own switch for that is LUA_COMPAT_FLOATSTRING.
const FLOATSTRING = "const LUA_COMPAT_FLOATSTRING = conf.LUA_COMPAT_FLOATSTRING || false;\n";
patches.push({ file: "luaconf.js", find: FLOATSTRING, add: `/* ${MARK}: Lua 5.1's float strings (scripts/patch-fengari.mjs) */\n`, replace: FLOATSTRING.replace("|| false", "|| true") });

for (const { file, find, add, replace } of patches) {
  const path = join(src, file);
  const text = readFileSync(path, "utf8");
  if (text.includes(MARK)) continue;
  if (!text.includes(find)) throw new Error(`patch-fengari: ${file} no longer has the line to patch; review scripts/patch-fengari.mjs against this fengari version`);
  writeFileSync(path, text.replace(find, add + (replace ?? find)));
}

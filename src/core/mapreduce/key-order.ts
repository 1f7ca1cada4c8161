/**
 * The order of MapReduce keys: the byte order of their UTF-8 encodings (= Unicode code point order).
 *
 * Chosen over JS's default UTF-16 code-unit order because it is the order the shell's storage already
 * sorts in: SQLite's BINARY collation (memcmp of UTF-8) and Durable Object storage `list()` both put
 * "～" (U+FF5E) before "😀" (U+1F600), where `Array.prototype.sort` puts it after. With one order
 * everywhere, a reducer's output can be stored as is and paged with `ORDER BY key` / `WHERE key > ?`.
 */

/** Maps a UTF-16 code unit so that code-unit comparison becomes code point comparison (surrogates above U+FFFF). */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Compares two keys by the byte order of their UTF-8 encodings, without encoding them. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A key with a code unit at or above U+D800: only there do UTF-16 order and UTF-8 byte order differ. */
const ORDER_SENSITIVE = /[\ud800-\uffff]/;

/**
 * Sorts keys in place by compareKeys and returns them. Keys below U+D800 throughout (all of ASCII, Latin,
 * CJK ideographs) sort the same in both orders, so they take the native sort, several times faster.
 */
export function sortKeys(keys: string[]): string[] {
  return keys.some((k) => ORDER_SENSITIVE.test(k)) ? keys.sort(compareKeys) : keys.sort();
}

/** Sorts `[key, value]` entries in place by key (compareKeys) and returns them. */
export function sortByKey<T extends readonly [string, unknown]>(entries: T[]): T[] {
  return entries.sort((x, y) => compareKeys(x[0], y[0]));
}

/**
 * MurmurHash3 x86_32 (Austin Appleby, public domain) over the UTF-8 bytes of a key.
 *
 * Hand-written rather than taken from npm: murmurhash-js and murmurhash3js read
 * `charCodeAt(i) & 0xff`, i.e. hash UTF-16 code units truncated to a byte, which is not MurmurHash3 of
 * the key for non-ASCII text (and makes "\u0141" collide with "A"); `murmurhash` is correct but
 * allocates a TextEncoder buffer per key; the rest wrap native/WASM builds, and Workers forbid
 * compiling WASM at runtime. The string variant encodes UTF-8 inline, so short keys hash without garbage.
 *
 * Output is part of the ring's placement contract: never change it for existing inputs.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86_32 of `key` encoded as UTF-8 (lone surrogates as U+FFFD, like TextEncoder); unsigned 32-bit. */
export function murmur3_32(key: string, seed = 0): number {
  let h = seed | 0;
  let block = 0; // up to 4 pending bytes, little-endian
  let shift = 0; // bit offset of the next byte in `block`
  let length = 0; // UTF-8 byte count
  const n = key.length;

  for (let i = 0; i < n; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      block |= c << shift;
      shift += 8;
      length += 1;
      if (shift === 32) {
        let k = Math.imul(block, C1);
        k = (k << 15) | (k >>> 17);
        h ^= Math.imul(k, C2);
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        block = 0;
        shift = 0;
      }
      continue;
    }

    // Multi-byte sequence: pack its bytes little-endian into `encoded`, then feed them one by one.
    let encoded: number;
    let count: number;
    if (c < 0x800) {
      encoded = (0xc0 | (c >>> 6)) | ((0x80 | (c & 0x3f)) << 8);
      count = 2;
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? key.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else {
          c = 0xfffd; // lone surrogate
        }
      }
      if (c < 0x10000) {
        encoded = (0xe0 | (c >>> 12)) | ((0x80 | ((c >>> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
        count = 3;
      } else {
        encoded =
          (0xf0 | (c >>> 18)) |
          ((0x80 | ((c >>> 12) & 0x3f)) << 8) |
          ((0x80 | ((c >>> 6) & 0x3f)) << 16) |
          ((0x80 | (c & 0x3f)) << 24);
        count = 4;
      }
    }
    length += count;
    for (let b = 0; b < count; b++) {
      block |= (encoded & 0xff) << shift;
      encoded >>>= 8;
      shift += 8;
      if (shift === 32) {
        let k = Math.imul(block, C1);
        k = (k << 15) | (k >>> 17);
        h ^= Math.imul(k, C2);
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        block = 0;
        shift = 0;
      }
    }
  }

  return finish(h, block, shift, length);
}

/** MurmurHash3 x86_32 of raw bytes; unsigned 32-bit. */
export function murmur3_32_bytes(bytes: Uint8Array, seed = 0): number {
  let h = seed | 0;
  const n = bytes.length;
  const whole = n & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    const block =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    let k = Math.imul(block, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let block = 0;
  let shift = 0;
  for (; i < n; i++) {
    block |= (bytes[i] as number) << shift;
    shift += 8;
  }
  return finish(h, block, shift, n);
}

/** Mixes the 0–3 tail bytes, the length, and applies the fmix32 avalanche. */
function finish(h: number, tail: number, tailBits: number, length: number): number {
  if (tailBits > 0) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

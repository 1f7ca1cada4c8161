/**
 * MurmurHash64A (Austin Appleby's, public domain), as Redis's HyperLogLog uses it: 8-byte blocks
 * read little-endian, whatever the machine. Written here because the HLL registers must match
 * Redis's bit for bit, and the npm murmur packages hash differently (32-bit or x64 128-bit variants).
 * Pure.
 */
const M = 0xc6a4a7935bd1e995n;
const MASK = 0xffffffffffffffffn;

const mul = (a: bigint, b: bigint) => (a * b) & MASK;

/** MurmurHash64A of `data` with `seed`, as an unsigned 64-bit bigint. */
export function murmurHash64A(data: Uint8Array, seed: number): bigint {
  const len = data.length;
  let h = (BigInt(seed >>> 0) ^ mul(BigInt(len), M)) & MASK;
  const blocks = len - (len & 7);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < blocks; i += 8) {
    let k = view.getBigUint64(i, true);
    k = mul(k, M);
    k ^= k >> 47n;
    k = mul(k, M);
    h ^= k;
    h = mul(h, M);
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) h ^= BigInt(data[blocks + j] as number) << BigInt(8 * j);
    h = mul(h, M);
  }
  h ^= h >> 47n;
  h = mul(h, M);
  h ^= h >> 47n;
  return h;
}

/** The largest power of two strictly below `n` (n >= 2): where RFC 6962 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Whether `n` is a power of two (1, 2, 4, ...). */
export function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.floor(Math.log2(n)) === n;
}

/** Whether the lowest bit of `n` is set; safe beyond 32 bits, unlike `n & 1`. */
export function isOdd(n: number): boolean {
  return n % 2 === 1;
}

/** `n` shifted right by one bit; safe beyond 32 bits. */
export function half(n: number): number {
  return Math.floor(n / 2);
}

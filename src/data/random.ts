/**
 * mulberry32: a small, fast 32-bit PRNG with a good enough spread for initialisation and shuffles.
 * Returns a function giving uniform floats in [0, 1). The same seed gives the same sequence on every
 * platform, which is what makes "same seed → same weights" hold across backends.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of `0 … count-1` into `order` (reused across epochs: no allocation). */
export function shuffleInto(order: Uint32Array, random: () => number): Uint32Array {
  for (let i = 0; i < order.length; i++) order[i] = i;
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

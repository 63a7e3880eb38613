// AssemblyScript: the matrix products of the wasm CPU backend (compiled by scripts/build-wasm.ts).
//
// Every product computes the output rows [rowStart, rowEnd) only, so a worker pool can split one
// product by rows. Each output element is summed over k in the same order and by the same
// operations (see madd) whichever block, thread or edge path computes it, so results are
// bit-identical for every thread count.
//
// Pointers are byte offsets into the imported memory. Every buffer the host allocates is followed
// by 32 bytes of padding, so the partial vector loads at a row's end stay inside memory; the lanes
// they read past the row are computed and never stored.

/** Stores the first `count` (0–4) lanes of `value` at `ptr`. */
// @ts-ignore: decorator
@inline export function storeLanes(ptr: usize, value: v128, count: i32): void {
  if (count >= 4) {
    v128.store(ptr, value);
    return;
  }
  if (count > 0) store<f32>(ptr, f32x4.extract_lane(value, 0));
  if (count > 1) store<f32>(ptr, f32x4.extract_lane(value, 1), 4);
  if (count > 2) store<f32>(ptr, f32x4.extract_lane(value, 2), 8);
}

/** Rows of C from which copying a B panel pays: it is then read (rows / 4) times. */
const PACK_ROWS = 16;

/**
 * acc + a·b. The relaxed-SIMD build (where the platform has it) lets the engine fuse the two into one
 * FMA instruction on x86 and ARM, twice the multiply-adds per cycle; the other build never fuses.
 * Either way one build runs every thread, so the thread count never changes the bits.
 */
// @ts-ignore: decorator
@inline export function madd(acc: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

/**
 * C[i, j] = Σ_k A(i, k) · B[k, j] with A(i, k) at a + i·aRow + k·aStep bytes: A·B reads A row-major
 * (aRow = 4k, aStep = 4), Aᵀ·B reads a stored [k, m] matrix (aRow = 4, aStep = 4m). B is [k, n]
 * row-major, C is [m, n].
 *
 * A 4 × 8 block of C lives in eight f32x4 accumulators while k runs: each step loads two vectors of
 * B and splats four scalars of A into 32 multiply-adds, 14 of the 16 SIMD registers V8 gives wasm
 * on x64. The B panel (8 columns × k) stays in cache while the rows of A stream past it, hence the
 * panel loop outside the row loop. Edge blocks clamp their row pointers to the last row (computing
 * a duplicate) and store only the lanes that exist.
 *
 * With enough rows to reuse it, each panel is first copied into `panel` ([k][8], 32k bytes): read in
 * place, its rows lie n floats apart, and for n a multiple of 1024 every one of them falls in the
 * same L1 cache set, so the panel never stays cached (1024³ ran at a third of 1000³'s speed).
 */
export function matmul(a: usize, b: usize, c: usize, n: i32, k: i32, aRow: i32, aStep: i32,
  rowStart: i32, rowEnd: i32, panel: usize): void {
  const rowBytes = <usize>n << 2;
  const packed = rowEnd - rowStart >= PACK_ROWS;
  const bStep: usize = packed ? 32 : rowBytes;
  for (let j = 0; j < n; j += 8) {
    const width = n - j;
    let panelStart = b + (<usize>j << 2);
    if (packed) {
      let from = panelStart;
      for (let to = panel; to < panel + (<usize>k << 5); to += 32) {
        v128.store(to, v128.load(from));
        v128.store(to, v128.load(from, 16), 16);
        from += rowBytes;
      }
      panelStart = panel;
    }
    for (let i = rowStart; i < rowEnd; i += 4) {
      const last = rowEnd - 1;
      let pa0 = a + <usize>i * aRow;
      let pa1 = a + <usize>min(i + 1, last) * aRow;
      let pa2 = a + <usize>min(i + 2, last) * aRow;
      let pa3 = a + <usize>min(i + 3, last) * aRow;
      let pb = panelStart;
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      const pbEnd = pb + <usize>k * bStep;
      while (pb < pbEnd) {
        const b0 = v128.load(pb);
        const b1 = v128.load(pb, 16);
        const a0 = v128.load32_splat(pa0);
        c00 = madd(c00, a0, b0); c01 = madd(c01, a0, b1);
        const a1 = v128.load32_splat(pa1);
        c10 = madd(c10, a1, b0); c11 = madd(c11, a1, b1);
        const a2 = v128.load32_splat(pa2);
        c20 = madd(c20, a2, b0); c21 = madd(c21, a2, b1);
        const a3 = v128.load32_splat(pa3);
        c30 = madd(c30, a3, b0); c31 = madd(c31, a3, b1);
        pa0 += aStep; pa1 += aStep; pa2 += aStep; pa3 += aStep;
        pb += bStep;
      }
      const rows = min(4, rowEnd - i);
      const low = min(4, width);
      const high = min(4, width - 4);
      let pc = c + ((<usize>i * n + j) << 2);
      storeLanes(pc, c00, low); storeLanes(pc + 16, c01, high);
      if (rows > 1) { pc += rowBytes; storeLanes(pc, c10, low); storeLanes(pc + 16, c11, high); }
      if (rows > 2) { pc += rowBytes; storeLanes(pc, c20, low); storeLanes(pc + 16, c21, high); }
      if (rows > 3) { pc += rowBytes; storeLanes(pc, c30, low); storeLanes(pc + 16, c31, high); }
    }
  }
}

// @ts-ignore: decorator
@inline function horizontalSum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * C[i, j] = Σ_k A[i, k] · B[j, k]: A·Bᵀ with A [m, k] and B [n, k], both read along their rows, so
 * the transpose is never materialised. A 4 × 2 block of C keeps eight f32x4 partial sums (lane l
 * sums the k ≡ l mod 4 terms); each element then adds its lanes in a fixed order and its last
 * k mod 4 terms, the same way in every block and thread.
 */
export function matmulTransposedB(a: usize, b: usize, c: usize, n: i32, k: i32, rowStart: i32, rowEnd: i32): void {
  const k4 = k & ~3;
  const rowBytes = <usize>k << 2;
  for (let j = 0; j < n; j += 2) {
    const pb0 = b + <usize>j * rowBytes;
    const pb1 = b + <usize>min(j + 1, n - 1) * rowBytes;
    for (let i = rowStart; i < rowEnd; i += 4) {
      const last = rowEnd - 1;
      const pa0 = a + <usize>i * rowBytes;
      const pa1 = a + <usize>min(i + 1, last) * rowBytes;
      const pa2 = a + <usize>min(i + 2, last) * rowBytes;
      const pa3 = a + <usize>min(i + 3, last) * rowBytes;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
      let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s30 = f32x4.splat(0), s31 = f32x4.splat(0);
      for (let offset: usize = 0; offset < (<usize>k4 << 2); offset += 16) {
        const b0 = v128.load(pb0 + offset);
        const b1 = v128.load(pb1 + offset);
        const a0 = v128.load(pa0 + offset);
        s00 = madd(s00, a0, b0); s01 = madd(s01, a0, b1);
        const a1 = v128.load(pa1 + offset);
        s10 = madd(s10, a1, b0); s11 = madd(s11, a1, b1);
        const a2 = v128.load(pa2 + offset);
        s20 = madd(s20, a2, b0); s21 = madd(s21, a2, b1);
        const a3 = v128.load(pa3 + offset);
        s30 = madd(s30, a3, b0); s31 = madd(s31, a3, b1);
      }
      const rows = min(4, rowEnd - i);
      const pc = c + ((<usize>i * n + j) << 2);
      const rowOut = <usize>n << 2;
      const both = j + 1 < n;
      store<f32>(pc, finish(horizontalSum(s00), pa0, pb0, k4, k));
      if (both) store<f32>(pc, finish(horizontalSum(s01), pa0, pb1, k4, k), 4);
      if (rows > 1) {
        store<f32>(pc + rowOut, finish(horizontalSum(s10), pa1, pb0, k4, k));
        if (both) store<f32>(pc + rowOut, finish(horizontalSum(s11), pa1, pb1, k4, k), 4);
      }
      if (rows > 2) {
        store<f32>(pc + 2 * rowOut, finish(horizontalSum(s20), pa2, pb0, k4, k));
        if (both) store<f32>(pc + 2 * rowOut, finish(horizontalSum(s21), pa2, pb1, k4, k), 4);
      }
      if (rows > 3) {
        store<f32>(pc + 3 * rowOut, finish(horizontalSum(s30), pa3, pb0, k4, k));
        if (both) store<f32>(pc + 3 * rowOut, finish(horizontalSum(s31), pa3, pb1, k4, k), 4);
      }
    }
  }
}

/** Adds the terms k4 ≤ kk < k, in order, to a partial dot product. */
// @ts-ignore: decorator
@inline function finish(sum: f32, pa: usize, pb: usize, k4: i32, k: i32): f32 {
  for (let kk = k4; kk < k; kk++) sum += load<f32>(pa + (<usize>kk << 2)) * load<f32>(pb + (<usize>kk << 2));
  return sum;
}

/**
 * Columns [colStart, colEnd) of a [k, m] matrix, transposed: t[(i − colStart)·k + kk] = a[kk·m + i].
 * Aᵀ·B reads A down its columns, k rows of m floats apart, which thrashes the cache when m is a
 * multiple of 1024 (the same set for every row); once transposed, it is an A·B. 8 × 8 tiles keep
 * both the reads and the writes within a few cache lines.
 */
export function transposeColumns(a: usize, t: usize, m: i32, k: i32, colStart: i32, colEnd: i32): void {
  for (let k0 = 0; k0 < k; k0 += 8) {
    const k1 = min(k0 + 8, k);
    for (let i0 = colStart; i0 < colEnd; i0 += 8) {
      const i1 = min(i0 + 8, colEnd);
      for (let i = i0; i < i1; i++) {
        const to = t + ((<usize>(i - colStart) * k) << 2);
        for (let kk = k0; kk < k1; kk++) store<f32>(to + (<usize>kk << 2), load<f32>(a + ((<usize>kk * m + i) << 2)));
      }
    }
  }
}

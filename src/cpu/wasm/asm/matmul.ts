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
  if (rowEnd - rowStart < BLOCK_ROWS) {
    for (let i = rowStart; i < rowEnd; i++) matrixVector(a + <usize>i * aRow, aStep, b, c + <usize>i * rowBytes, n, k, n);
    return;
  }
  const packed = rowEnd - rowStart >= PACK_ROWS;
  for (let j = 0; j < n; j += 8) {
    let panelStart = b + (<usize>j << 2);
    if (packed) {
      copyPanel(panelStart, panel, rowBytes, k, 8);
      panelStart = panel;
    }
    panelRows(a, panelStart, packed ? 32 : rowBytes, c, n, k, aRow, aStep, rowStart, rowEnd, j);
  }
}

/**
 * A·B with A [m, k] row-major and B pre-packed by packPanels (`packed`: ⌈n/8⌉ panels of [k][8]),
 * the rows [rowStart, rowEnd) of C: the forward product of inference, where the weights stay the
 * same from call to call and are packed once for all of them. The same sums as matmul, so the same bits.
 */
export function matmulPacked(a: usize, packed: usize, c: usize, n: i32, k: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>n << 2;
  const aRow = k << 2;
  if (rowEnd - rowStart < BLOCK_ROWS) {
    for (let i = rowStart; i < rowEnd; i++) packedVector(a + <usize>i * aRow, packed, c + <usize>i * rowBytes, n, k, 0, (n + 7) >> 3);
    return;
  }
  const panelBytes = <usize>k << 5;
  for (let j = 0; j < n; j += 8) panelRows(a, packed + <usize>(j >> 3) * panelBytes, 32, c, n, k, aRow, 4, rowStart, rowEnd, j);
}

/**
 * Copies `width` (1–8) columns of k rows of B, rowBytes apart from `from`, into a [k][8] panel; the
 * lanes past `width` are 0. A whole panel moves as two vectors a row (every buffer is padded, so a
 * read past the last row's end stays in memory).
 */
// @ts-ignore: decorator
@inline function copyPanel(from: usize, to: usize, rowBytes: usize, k: i32, width: i32): void {
  const end = to + (<usize>k << 5);
  if (width == 8) {
    for (; to < end; to += 32) {
      v128.store(to, v128.load(from));
      v128.store(to, v128.load(from, 16), 16);
      from += rowBytes;
    }
    return;
  }
  for (; to < end; to += 32) {
    v128.store(to, f32x4.splat(0));
    v128.store(to, f32x4.splat(0), 16);
    for (let l = 0; l < width; l++) store<f32>(to + (<usize>l << 2), load<f32>(from + (<usize>l << 2)));
    from += rowBytes;
  }
}

/**
 * Packs the panels [panelStart, panelEnd) of B [k, n] for matmulPacked and packedVector: panel p
 * holds the columns 8p … 8p + 7 of every row, [k][8] at packed + 32·k·p bytes, 0 past column n.
 */
export function packPanels(b: usize, packed: usize, n: i32, k: i32, panelStart: i32, panelEnd: i32): void {
  const rowBytes = <usize>n << 2;
  for (let p = panelStart; p < panelEnd; p++) {
    copyPanel(b + (<usize>p << 5), packed + ((<usize>p * k) << 5), rowBytes, k, min(8, n - (p << 3)));
  }
}

/**
 * The 4 × 8 register blocks of the columns j … j + 7 of C over the rows [rowStart, rowEnd), the
 * panel of B at panelStart with its rows bStep bytes apart: matmul's inner loops (see it).
 */
// @ts-ignore: decorator
@inline function panelRows(a: usize, panelStart: usize, bStep: usize, c: usize, n: i32, k: i32, aRow: i32, aStep: i32,
  rowStart: i32, rowEnd: i32, j: i32): void {
  const rowBytes = <usize>n << 2;
  const width = n - j;
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

/**
 * Fewer rows of C than a register block: a block would compute its missing rows all the same (its
 * row pointers clamp to the last row), and read B down its columns, n floats apart.
 */
const BLOCK_ROWS = 4;

/**
 * `width` columns of one row of C: c[j] = Σ_k A(k) · B[k, j] for 0 ≤ j < width, A(k) at a + k·aStep
 * bytes, B's rows n floats apart (a matrix–vector product; b and c point at the first column). The
 * row of C is the accumulator, in memory: eight rows of B at a time stream past it whole, in order
 * (c ← c + Σ of 8 terms, one vector at a time), so B is read once, along its rows, with no copy —
 * the prefetcher's best case, where a 4-row block would read it down its columns. Each element is
 * still summed over k in order by madd from 0, as in matmul's blocks: the same bits.
 */
function matrixVector(a: usize, aStep: i32, b: usize, c: usize, n: i32, k: i32, width: i32): void {
  const rowBytes = <usize>n << 2;
  const vectors = (<usize>width << 2) & ~15;
  const lanes = width & 3;
  for (let j: usize = 0; j < vectors; j += 16) v128.store(c + j, f32x4.splat(0));
  if (lanes > 0) storeLanes(c + vectors, f32x4.splat(0), lanes);
  let kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    const pa = a + <usize>kk * aStep;
    const s = <usize>aStep;
    const a0 = v128.load32_splat(pa), a1 = v128.load32_splat(pa + s), a2 = v128.load32_splat(pa + 2 * s), a3 = v128.load32_splat(pa + 3 * s);
    const a4 = v128.load32_splat(pa + 4 * s), a5 = v128.load32_splat(pa + 5 * s), a6 = v128.load32_splat(pa + 6 * s), a7 = v128.load32_splat(pa + 7 * s);
    const pb = b + <usize>kk * rowBytes;
    for (let j: usize = 0; j < vectors; j += 16) {
      v128.store(c + j, eightTerms(v128.load(c + j), pb + j, rowBytes, a0, a1, a2, a3, a4, a5, a6, a7));
    }
    if (lanes > 0) storeLanes(c + vectors, eightTerms(v128.load(c + vectors), pb + vectors, rowBytes, a0, a1, a2, a3, a4, a5, a6, a7), lanes);
  }
  for (; kk < k; kk++) {
    const ak = v128.load32_splat(a + <usize>kk * aStep);
    const pb = b + <usize>kk * rowBytes;
    for (let j: usize = 0; j < vectors; j += 16) v128.store(c + j, madd(v128.load(c + j), ak, v128.load(pb + j)));
    if (lanes > 0) storeLanes(c + vectors, madd(v128.load(c + vectors), ak, v128.load(pb + vectors)), lanes);
  }
}

/**
 * The columns of the packed panels [panelStart, panelEnd) of one row of C (see packPanels), A
 * contiguous at `a`. Groups of four whole panels (32 columns of C) go to fourPanels; the panels
 * after the last whole group, one at a time. Each element is summed over k in order by madd from
 * 0: matmul's bits.
 */
export function packedVector(a: usize, packed: usize, c: usize, n: i32, k: i32, panelStart: i32, panelEnd: i32): void {
  const panelBytes = <usize>k << 5;
  const whole = min(panelEnd, n >> 3);
  let p = panelStart;
  for (; p + 4 <= whole; p += 4) {
    const pb = packed + <usize>p * panelBytes;
    const pc = c + (<usize>p << 5);
    fourPanels(a, pb, panelBytes, k >> 1, pc);
    if (k & 1) lastTerm(a + (<usize>(k - 1) << 2), pb + (<usize>(k - 1) << 5), panelBytes, pc);
  }
  for (; p < panelEnd; p++) {
    let pb = packed + <usize>p * panelBytes;
    let pa = a;
    const end = pb + panelBytes;
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
    while (pb < end) {
      const ak = v128.load32_splat(pa);
      c0 = madd(c0, ak, v128.load(pb)); c1 = madd(c1, ak, v128.load(pb, 16));
      pa += 4;
      pb += 32;
    }
    const j = p << 3;
    storePanel(c + (<usize>j << 2), c0, c1, n - j);
  }
}

/**
 * The first 2·pairs terms of 32 columns of C, four panels panelBytes apart from pb, into pc: eight
 * accumulators while k runs, each panel read straight through, two k a step. A function of its own,
 * hot loop and nothing else, so V8 keeps it all in registers (with the rest of packedVector around
 * it, or one k a step, its code ran at two thirds of the speed).
 */
function fourPanels(a: usize, pb: usize, panelBytes: usize, pairs: i32, pc: usize): void {
  let p0 = pb, p1 = p0 + panelBytes, p2 = p1 + panelBytes, p3 = p2 + panelBytes;
  let pa = a;
  const end = a + (<usize>pairs << 3);
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  while (pa < end) {
    let ak = v128.load32_splat(pa);
    c00 = madd(c00, ak, v128.load(p0)); c01 = madd(c01, ak, v128.load(p0, 16));
    c10 = madd(c10, ak, v128.load(p1)); c11 = madd(c11, ak, v128.load(p1, 16));
    c20 = madd(c20, ak, v128.load(p2)); c21 = madd(c21, ak, v128.load(p2, 16));
    c30 = madd(c30, ak, v128.load(p3)); c31 = madd(c31, ak, v128.load(p3, 16));
    ak = v128.load32_splat(pa, 4);
    c00 = madd(c00, ak, v128.load(p0, 32)); c01 = madd(c01, ak, v128.load(p0, 48));
    c10 = madd(c10, ak, v128.load(p1, 32)); c11 = madd(c11, ak, v128.load(p1, 48));
    c20 = madd(c20, ak, v128.load(p2, 32)); c21 = madd(c21, ak, v128.load(p2, 48));
    c30 = madd(c30, ak, v128.load(p3, 32)); c31 = madd(c31, ak, v128.load(p3, 48));
    pa += 8;
    p0 += 64; p1 += 64; p2 += 64; p3 += 64;
  }
  v128.store(pc, c00); v128.store(pc, c01, 16); v128.store(pc, c10, 32); v128.store(pc, c11, 48);
  v128.store(pc, c20, 64); v128.store(pc, c21, 80); v128.store(pc, c30, 96); v128.store(pc, c31, 112);
}

/** pc[0 … 31] += a · (row of the four panels at pb): the last term of an odd k, after fourPanels. */
function lastTerm(a: usize, pb: usize, panelBytes: usize, pc: usize): void {
  const ak = v128.load32_splat(a);
  for (let q: usize = 0; q < 4; q++) {
    const from = pb + q * panelBytes;
    const to = pc + (q << 5);
    v128.store(to, madd(v128.load(to), ak, v128.load(from)));
    v128.store(to, madd(v128.load(to, 16), ak, v128.load(from, 16)), 16);
  }
}

/** Stores the first `width` (at most 8; none if ≤ 0) of the eight lanes low, high at `ptr`. */
// @ts-ignore: decorator
@inline function storePanel(ptr: usize, low: v128, high: v128, width: i32): void {
  if (width <= 0) return;
  storeLanes(ptr, low, min(4, width));
  if (width > 4) storeLanes(ptr + 16, high, min(4, width - 4));
}

/** acc + a0·B[0] + … + a7·B[7], in that order, for the four columns at pb of eight rows of B rowBytes apart. */
// @ts-ignore: decorator
@inline function eightTerms(acc: v128, pb: usize, rowBytes: usize, a0: v128, a1: v128, a2: v128, a3: v128,
  a4: v128, a5: v128, a6: v128, a7: v128): v128 {
  acc = madd(acc, a0, v128.load(pb));
  acc = madd(acc, a1, v128.load(pb + rowBytes));
  acc = madd(acc, a2, v128.load(pb + 2 * rowBytes));
  acc = madd(acc, a3, v128.load(pb + 3 * rowBytes));
  acc = madd(acc, a4, v128.load(pb + 4 * rowBytes));
  acc = madd(acc, a5, v128.load(pb + 5 * rowBytes));
  acc = madd(acc, a6, v128.load(pb + 6 * rowBytes));
  return madd(acc, a7, v128.load(pb + 7 * rowBytes));
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

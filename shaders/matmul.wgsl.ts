import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ActivationName } from '../src/ops/index.js';
import { activationFunctions } from './activations.js';
import { UNIFORMS } from './common.js';
import { DROPOUT_MASK } from './dropout.wgsl.js';

/**
 * The three products backprop needs, read through index math (no transpose is materialised):
 * - forward      Z = A·B   with A = X [rows, in], B = W [in, out], epilogue bias + activation;
 * - signal       dX = A·Bᵀ with A = dZ [rows, out], B = W [in, out], epilogue × f'(previous output);
 * - gradient     dW = Aᵀ·B with A = X [rows, in], B = dZ [rows, out]: the sum over the batch is the K loop.
 */
export type MatmulEpilogue = 'none' | 'biasActivation' | 'derivative';

export interface MatmulKey {
  transposeA: boolean;
  transposeB: boolean;
  epilogue: MatmulEpilogue;
  /** The activation applied (biasActivation) or whose derivative gates the result (derivative). */
  activation: ActivationName;
  /**
   * biasActivation only: also store z = A·B + bias in `preActivation` (binding 6), for activations
   * whose derivative is taken from z (the op table's `backward: 'preActivation'`). Default false.
   */
  preActivation?: boolean;
  /**
   * A dropout layer (linear, Dims: scale, seed, layer, threshold) fused into the epilogue.
   * biasActivation: the activated output also goes, masked and scaled, to `dropped` (binding 7), the
   * dropout layer's output (in inference the same kernel runs with threshold 0 and scale 1, a copy).
   * derivative: the product is dL/d(dropout output); it is masked and scaled into dL/d(dropout input)
   * before the gate's derivative, so one pass replaces the dropout's backward and the derivative
   * below it. The order of the float operations is the unfused passes', so the bits are the same.
   * Default false.
   */
  dropout?: boolean;
  /**
   * Read and write whole vec4s (see vectorizable()): a quarter of the loads and bounds checks. On
   * SwiftShader this measured ~3× the scalar kernel's GFLOP/s on the MNIST shapes.
   */
  vec4: boolean;
  /**
   * vec4 only: lanes share A through subgroup broadcasts. Needs the 'subgroups' feature and
   * subgroups of exactly 4 lanes numbered in local-invocation order (true of SwiftShader); the
   * trainer enables it only on adapters where that is known. Default false.
   */
  subgroups?: boolean;
  /** vec4 only: each thread computes 8 columns (two vec4s) instead of 4. Default false. */
  wide?: boolean;
  /**
   * Workgroup-memory tiles (see matmulTiledShader): any shape, scalar loads, two barriers per 16 of
   * k. For adapters where barriers are cheap (hardware GPUs); not vec4, not subgroups. Default false.
   */
  tiled?: boolean;
}

/**
 * Whether a product can use the vec4 kernel: every vec4 it loads must lie inside one row of its
 * operand, so the dimension it runs along must be a multiple of 4 (A·B: k and n; A·Bᵀ: k and n;
 * Aᵀ·B: m and n). The batch's row count never needs to be, so the choice holds for every batch.
 */
export function vectorizable(transposeA: boolean, transposeB: boolean, m: number, n: number, k: number): boolean {
  if (transposeA && transposeB) return false;
  return n % 4 === 0 && (transposeA ? m % 4 === 0 : k % 4 === 0);
}

/**
 * The matmul kernel variants, one list that the kernel tests, the benchmark and the per-adapter
 * autotune all iterate. Each is a different trade of loads against registers:
 *   scalar          any shape; 8×4 outputs per thread, scalar loads.
 *   vec4            vec4 loads along the contiguous dimensions (shapes per vectorizable()).
 *   vec4-wide       vec4 with 8×8 outputs per thread: more reuse per load, more registers.
 *   …+subgroups     lanes of a 4-wide subgroup load different rows of A and broadcast them
 *                   (SwiftShader: ~1.5–2× faster, as a load whose address is the same in every lane is slow there).
 *   tiled           any shape; 64×64 outputs per workgroup staged through workgroup memory, 16 of k
 *                   at a time: each value loaded once per workgroup instead of once per thread, at the
 *                   cost of two barriers per tile (cheap on GPUs, ruinous on SwiftShader).
 */
export const MATMUL_VARIANTS = {
  scalar: { vec4: false, wide: false, subgroups: false, tiled: false },
  'scalar+subgroups': { vec4: false, wide: false, subgroups: true, tiled: false },
  tiled: { vec4: false, wide: false, subgroups: false, tiled: true },
  vec4: { vec4: true, wide: false, subgroups: false, tiled: false },
  'vec4-wide': { vec4: true, wide: true, subgroups: false, tiled: false },
  'vec4+subgroups': { vec4: true, wide: false, subgroups: true, tiled: false },
  'vec4-wide+subgroups': { vec4: true, wide: true, subgroups: true, tiled: false },
} as const satisfies Record<string, Pick<MatmulKey, 'vec4' | 'wide' | 'subgroups' | 'tiled'>>;

export type MatmulVariant = keyof typeof MATMUL_VARIANTS;

/**
 * The variants that can compute a product of this form and shape on a device: vec4 ones where the
 * shape allows (vectorizable), subgroup ones only where lanes may share (canShareBySubgroups) and
 * then instead of their plain twins, which they beat on every measured shape, and the tiled one on
 * hardware adapters (on SwiftShader its barriers make it several times slower: a known loss, not
 * worth a trial). The first is the guess a product runs until the autotune has measured them: the
 * wide one for Aᵀ·B, where its extra columns share each load of A, the narrow one elsewhere.
 */
export function matmulVariantsFor(transposeA: boolean, transposeB: boolean, m: number, n: number, k: number,
  device: { subgroups: boolean; hardware?: boolean }): MatmulVariant[] {
  const tiles: MatmulVariant[] = device.hardware ? ['tiled'] : [];
  if (!vectorizable(transposeA, transposeB, m, n, k)) return [device.subgroups ? 'scalar+subgroups' : 'scalar', ...tiles];
  const variants: MatmulVariant[] = device.subgroups ? ['vec4+subgroups', 'vec4-wide+subgroups'] : ['vec4', 'vec4-wide'];
  return [...(transposeA ? variants.reverse() : variants), ...tiles];
}

/** A workgroup is 8×8 threads. */
export const MATMUL_WORKGROUP = 8;
/** Each thread accumulates a block of ROWS × 4 outputs in registers. */
const ROWS = 8;

/**
 * What every matmul kernel declares: the subgroups extension where used, the uniforms, A, B and C,
 * the epilogue's input (the bias [n], or the gate: the output [m, n] of the layer whose
 * pre-activation gradient the product is), and the activation functions; `element` is the type the
 * kernel reads and writes them as.
 */
function declarations(key: MatmulKey, element: 'f32' | 'vec4f'): string {
  return wgsl`
#if ${key.subgroups === true}
enable subgroups;
#endif
${UNIFORMS}
@group(0) @binding(2) var<storage, read> a: array<${element}>;
@group(0) @binding(3) var<storage, read> b: array<${element}>;
@group(0) @binding(4) var<storage, read_write> c: array<${element}>;
#if ${key.epilogue === 'biasActivation'}
@group(0) @binding(5) var<storage, read> bias: array<${element}>;
#endif
#if ${key.preActivation === true}
@group(0) @binding(6) var<storage, read_write> preActivation: array<${element}>;
#endif
#if ${key.epilogue === 'derivative'}
@group(0) @binding(5) var<storage, read> gate: array<${element}>;
#endif
#if ${key.dropout === true && key.epilogue === 'biasActivation'}
@group(0) @binding(7) var<storage, read_write> dropped: array<${element}>;
#endif
${key.dropout === true ? DROPOUT_MASK : ''}
${activationFunctions(key.activation)}`;
}

/*
 * Register blocking, not workgroup-memory tiling: per k, each thread loads 4 values of B and 8 of A
 * and does 32 multiply-adds, so loads are reused without a barrier. Software adapters (SwiftShader)
 * pay heavily for barriers; there 8 rows per thread measured ~1.5× faster than 4 on the MNIST shapes.
 * Which variant runs where is measured per adapter (src/webgpu/autotune.ts).
 */
export function matmulShader(key: MatmulKey): string {
  if (key.tiled) return matmulTiledShader(key);
  if (key.vec4) return matmulVec4Shader(key);
  const { transposeA, transposeB, subgroups } = key;
  // With subgroups, lane j of each group of 4 loads rows row0 + j and row0 + 4 + j of A and the
  // others take them by broadcast (as in the vec4 kernel below); then no lane may return early.
  const loadRows = subgroups
    ? `    let shared0 = loadA(min(row0 + (lane & 3u), m - 1u), kk, m, k);
    let shared1 = loadA(min(row0 + 4u + (lane & 3u), m - 1u), kk, m, k);
${rows.map((i) => `    acc[${i}] += subgroupBroadcast(shared${Math.floor(i / 4)}, ${i % 4}u) * bv;`).join('\n')}`
    : `    for (var i = 0u; i < ${ROWS}u; i++) {
      acc[i] += loadA(min(row0 + i, m - 1u), kk, m, k) * bv;
    }`;
  return wgsl`
${declarations(key, 'f32')}

fn loadA(row: u32, kk: u32, m: u32, k: u32) -> f32 {
#if ${transposeA}
  return a[kk * m + row];
#else
  return a[row * k + kk];
#endif
}

fn loadB(kk: u32, col: u32, n: u32, k: u32) -> vec4f {
#if ${transposeB}
  return vec4f(b[col * k + kk], b[(col + 1u) * k + kk], b[(col + 2u) * k + kk], b[(col + 3u) * k + kk]);
#else
  let base = kk * n + col;
  return vec4f(b[base], b[base + 1u], b[base + 2u], b[base + 3u]);
#endif
}

@compute @workgroup_size(${MATMUL_WORKGROUP}, ${MATMUL_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) numGroups: vec3u${subgroups ? ', @builtin(subgroup_invocation_id) lane: u32' : ''}) {
  let size = sizes();
  let m = size.x;
  let n = size.y;
  let k = size.z;
  // Row blocks past maxComputeWorkgroupsPerDimension continue in z (foldGrid in src/webgpu/resources.ts).
  let row0 = (gid.z * numGroups.y * ${MATMUL_WORKGROUP}u + gid.y) * ${ROWS}u;
  let col0 = gid.x * 4u;
#if ${!subgroups}
  if (row0 >= m || col0 >= n) {
    return;
  }
#endif
  // Rows past the end are clamped for loads (their results are not stored); a block that would
  // cross the last column is shifted left so its four loads stay in range (n ≥ 4), or each
  // column is loaded on its own (n < 4).
  let colLoad = select(0u, min(col0, n - 4u), n >= 4u);
  var acc: array<vec4f, ${ROWS}>;
  for (var kk = 0u; kk < k; kk++) {
    var bv: vec4f;
    if (n >= 4u) {
      bv = loadB(kk, colLoad, n, k);
    } else {
      for (var j = 0u; j < 4u; j++) {
        let col = min(col0 + j, n - 1u);
#if ${transposeB}
        bv[j] = b[col * k + kk];
#else
        bv[j] = b[kk * n + col];
#endif
      }
    }
${loadRows}
  }
  let shift = col0 - colLoad;
  for (var i = 0u; i < ${ROWS}u; i++) {
    let row = row0 + i;
    if (row >= m) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= n) {
        break;
      }
      let index = row * n + col;
      var value = acc[i][j + shift];
      ${scalarEpilogue(key)}
      c[index] = value;
    }
  }
}
`;
}

/**
 * The scalar and tiled kernels' epilogue on `value`, output `index` in column `col`: + bias then the
 * activation (then the fused dropout's masked copy), or (the fused dropout's mask, then) × f'(gate).
 */
function scalarEpilogue({ epilogue, preActivation, dropout }: MatmulKey): string {
  const mask = (value: string) => `select(0.0, ${value} * dims.scale, dropoutKeep(index))`;
  switch (epilogue) {
    case 'biasActivation': return [
      preActivation ? 'value += bias[col];\n      preActivation[index] = value;\n      value = activate(value, dims.slope);' : 'value = activate(value + bias[col], dims.slope);',
      ...(dropout ? [`dropped[index] = ${mask('value')};`] : []),
    ].join('\n      ');
    case 'derivative': return `value = ${dropout ? mask('value') : 'value'} * activationDerivative(gate[index], dims.slope);`;
    case 'none': return '';
    default: return epilogue satisfies never;
  }
}

const range = (count: number) => Array.from({ length: count }, (_, i) => i);
const rows = range(ROWS);

/** Where a product's kernel writes: the outputs one workgroup covers, [rows, cols]. */
export function matmulTile(key: Pick<MatmulKey, 'vec4' | 'wide' | 'tiled'>): { rows: number; cols: number } {
  if (key.tiled) return { rows: TILE, cols: TILE };
  return { rows: MATMUL_WORKGROUP * ROWS, cols: MATMUL_WORKGROUP * 4 * (key.vec4 && key.wide ? 2 : 1) };
}

/** The tiled kernel: a TILE × TILE block of C per workgroup of TILE_THREADS², TILE_K of k per stage. */
const TILE = 64;
const TILE_THREADS = 16;
const TILE_K = 16;

/*
 * Workgroup-memory tiling, the classic GPU matmul: per stage the workgroup's 256 threads copy a
 * 64 × 16 block of A and a 16 × 64 block of B into workgroup memory (four values each, consecutive
 * threads reading consecutive addresses of whichever layout the operand has), wait, and each thread
 * adds 16 products into its 4 × 4 outputs: rows ty + 16i and columns tx + 16j, so that neighbouring
 * threads read neighbouring words of the tiles. Values past an edge are loaded as 0 and the last
 * stage stops at k, so every output is the sum of the same products in the same order (k ascending)
 * as the scalar kernel's: the two give identical bits. No thread returns early: all must reach the
 * barriers.
 */
function matmulTiledShader(key: MatmulKey): string {
  const { transposeA, transposeB } = key;
  const threads = TILE_THREADS * TILE_THREADS;
  const loads = (TILE * TILE_K) / threads;
  // Element e of a stage's block, as (kk, i): i is the row of A or the column of B within the tile.
  // The operand's contiguous axis takes e's low bits, so a warp's loads are consecutive words.
  const place = (contiguousIsK: boolean) => contiguousIsK
    ? `let kk = e % ${TILE_K}u;
      let i = e / ${TILE_K}u;`
    : `let i = e % ${TILE}u;
      let kk = e / ${TILE}u;`;
  // One operand's share of a stage: element e of its block, at row or column `start + i` of the
  // operand (below `limit`) and k0 + kk, read at `address`; 0 past either edge.
  const stage = (tile: string, operand: string, start: string, limit: string, contiguousIsK: boolean, address: string) => `      {
      ${place(contiguousIsK)}
      let at = ${start} + i;
      let kAt = k0 + kk;
      var value = 0.0;
      if (at < ${limit} && kAt < k) {
        value = ${operand}[${address}];
      }
      ${tile}[kk * ${TILE}u + i] = value;
      }`;
  return wgsl`
${declarations(key, 'f32')}

var<workgroup> tileA: array<f32, ${TILE_K * TILE}>;
var<workgroup> tileB: array<f32, ${TILE_K * TILE}>;

@compute @workgroup_size(${TILE_THREADS}, ${TILE_THREADS})
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_id) local: vec3u,
  @builtin(local_invocation_index) thread: u32, @builtin(num_workgroups) numGroups: vec3u) {
  let size = sizes();
  let m = size.x;
  let n = size.y;
  let k = size.z;
  // Row tiles past maxComputeWorkgroupsPerDimension continue in z (foldGrid in src/webgpu/resources.ts).
  let row0 = (group.z * numGroups.y + group.y) * ${TILE}u;
  let col0 = group.x * ${TILE}u;
${quad.flatMap((i) => quad.map((j) => `  var acc${i}${j} = 0.0;`)).join('\n')}
  for (var k0 = 0u; k0 < k; k0 += ${TILE_K}u) {
    for (var q = 0u; q < ${loads}u; q++) {
      let e = thread + q * ${threads}u;
${stage('tileA', 'a', 'row0', 'm', !transposeA, transposeA ? 'kAt * m + at' : 'at * k + kAt')}
${stage('tileB', 'b', 'col0', 'n', transposeB, transposeB ? 'at * k + kAt' : 'kAt * n + at')}
    }
    workgroupBarrier();
    let stageK = min(${TILE_K}u, k - k0);
    for (var kk = 0u; kk < stageK; kk++) {
${quad.map((i) => `      let a${i} = tileA[kk * ${TILE}u + local.y + ${i * TILE_THREADS}u];`).join('\n')}
${quad.map((j) => `      let b${j} = tileB[kk * ${TILE}u + local.x + ${j * TILE_THREADS}u];`).join('\n')}
${quad.flatMap((i) => quad.map((j) => `      acc${i}${j} += a${i} * b${j};`)).join('\n')}
    }
    workgroupBarrier();
  }
${quad.flatMap((i) => quad.map((j) => `  store(row0 + local.y + ${i * TILE_THREADS}u, col0 + local.x + ${j * TILE_THREADS}u, m, n, acc${i}${j});`)).join('\n')}
}

fn store(row: u32, col: u32, m: u32, n: u32, sum: f32) {
  if (row < m && col < n) {
    let index = row * n + col;
    var value = sum;
    ${scalarEpilogue(key)}
    c[index] = value;
  }
}
`;
}

const quad = range(4);

/*
 * The vec4 kernel: ROWS rows × (4 or 8) columns per thread, kept as vec4 accumulators acc{row}_{group},
 * with every operand read as vec4s along its contiguous dimension:
 *   A·B   a row of A along k, a row of B along n: acc_i += a_i.x·b_k + a_i.y·b_k+1 + …
 *   Aᵀ·B  A stored [k, m] read along m (four rows at once), B along n: acc_i += a[i]·b_k
 *   A·Bᵀ  A along k, B stored [n, k] read along k per column: acc_i += (a_i·b_j for j < 4)
 * Measured on SwiftShader (2-core Xeon): 8 columns per thread (`wide`) makes Aᵀ·B ~1.7× faster at
 * 784×256×256 but A·B and A·Bᵀ ~1.5× slower (too many accumulators for the registers), hence a key
 * field for the per-adapter autotune (src/webgpu/autotune.ts) rather than one fixed choice.
 */
function matmulVec4Shader(key: MatmulKey): string {
  const { transposeA, transposeB, epilogue, subgroups } = key;
  const groups = range(key.wide ? 2 : 1);
  // Every lane of a subgroup (4 lanes, consecutive columns) needs the same A values. With subgroups
  // each lane loads a different one and takes the others by broadcast from lane g, because
  // SwiftShader pays a full gather for a load whose address is the same in every lane (measured:
  // loads of A cost ~4× all the arithmetic; a broadcast from a constant lane beat a shuffle by 10–30%).
  const shareFromLane = (value: string, g: number) => `subgroupBroadcast(${value}, ${g}u)`;
  const loadRowA = (i: number) => subgroups
    ? shareFromLane(`shared${Math.floor(i / 4)}`, i % 4)
    : `a[min(row0 + ${i}u, m - 1u) * k4 + kk]`;
  const sharedRowsA = subgroups
    ? rows.filter((i) => i % 4 === 0).map((i) => `    let shared${i / 4} = a[min(row0 + ${i}u + (lane & 3u), m - 1u) * k4 + kk];`).join('\n')
    : '';
  // One line per accumulator, `acc{i}_{c} += …;` (the form the bench's loads-only probe rewrites).
  const accumulate = (expression: (i: number, c: number) => string) =>
    rows.flatMap((i) => groups.map((c) => `    acc${i}_${c} += ${expression(i, c)};`)).join('\n');
  let loop: string;
  if (transposeA) {
    const rowGroups = rows.filter((i) => i % 4 === 0).map((i) => i / 4);
    // k (the batch rows) is unrolled by 2: the loop's own cost is a large part of this thin body,
    // and unrolling by 4 measured slower (register spills).
    const body = (kk: string, q: number) => `
${groups.map((c) => `    let b${q}_${c} = b[(${kk}) * n4 + colLoad${c}];`).join('\n')}
${subgroups ? `    let mine${q} = a[(${kk}) * m4 + min(row0 / 4u + (lane & ${rowGroups.length - 1}u), m4 - 1u)];` : ''}
${rowGroups.map((g) => `    let a${g}_${q} = ${subgroups ? shareFromLane(`mine${q}`, g) : `a[(${kk}) * m4 + min(row0 / 4u + ${g}u, m4 - 1u)]`};`).join('\n')}
${accumulate((i, c) => `a${Math.floor(i / 4)}_${q}[${i % 4}] * b${q}_${c}`)}`;
    loop = `
  let m4 = m / 4u;
  let k2 = k & ~1u;
  for (var kk = 0u; kk < k2; kk += 2u) {${body('kk', 0)}${body('kk + 1u', 1)}
  }
  if (k2 < k) {
    let kk = k2;${body('kk', 0)}
  }`;
  } else if (transposeB) {
    loop = `
  let k4 = k / 4u;
  for (var kk = 0u; kk < k4; kk++) {
${groups.flatMap((c) => range(4).map((j) => `    let b${j}_${c} = b[(colLoad${c} * 4u + ${j}u) * k4 + kk];`)).join('\n')}
${sharedRowsA}
${rows.map((i) => `    let a${i} = ${loadRowA(i)};`).join('\n')}
${accumulate((i, c) => `vec4f(dot(a${i}, b0_${c}), dot(a${i}, b1_${c}), dot(a${i}, b2_${c}), dot(a${i}, b3_${c}))`)}
  }`;
  } else {
    loop = `
  let k4 = k / 4u;
  for (var kk = 0u; kk < k4; kk++) {
${groups.flatMap((c) => range(4).map((j) => `    let b${j}_${c} = b[(kk * 4u + ${j}u) * n4 + colLoad${c}];`)).join('\n')}
${sharedRowsA}
${rows.map((i) => `    let a${i} = ${loadRowA(i)};`).join('\n')}
${accumulate((i, c) => `a${i}.x * b0_${c} + a${i}.y * b1_${c} + a${i}.z * b2_${c} + a${i}.w * b3_${c}`)}
  }`;
  }
  return wgsl`
${declarations(key, 'vec4f')}

#if ${key.dropout === true}
// The fused dropout's mask of the four elements of vec4 number index, applied to value with its scale.
fn masked(value: vec4f, index: u32) -> vec4f {
  let e = index * 4u;
  let keep = vec4<bool>(dropoutKeep(e), dropoutKeep(e + 1u), dropoutKeep(e + 2u), dropoutKeep(e + 3u));
  return select(vec4f(0.0), value * dims.scale, keep);
}
#endif

fn epilogue(value: vec4f, index: u32, col: u32) -> vec4f {
#if ${epilogue === 'biasActivation'}
  let z = value + bias[col];
#if ${key.preActivation === true}
  preActivation[index] = z;
#endif
  let y = vec4f(activate(z.x, dims.slope), activate(z.y, dims.slope), activate(z.z, dims.slope), activate(z.w, dims.slope));
#if ${key.dropout === true}
  dropped[index] = masked(y, index);
#endif
  return y;
#elif ${epilogue === 'derivative'}
  let y = gate[index];
  return ${key.dropout === true ? 'masked(value, index)' : 'value'} * vec4f(activationDerivative(y.x, dims.slope), activationDerivative(y.y, dims.slope),
    activationDerivative(y.z, dims.slope), activationDerivative(y.w, dims.slope));
#else
  return value;
#endif
}

@compute @workgroup_size(${MATMUL_WORKGROUP}, ${MATMUL_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) numGroups: vec3u${subgroups ? ', @builtin(subgroup_invocation_id) lane: u32' : ''}) {
  let size = sizes();
  let m = size.x;
  let n4 = size.y / 4u;
  let k = size.z;
  // Row blocks past maxComputeWorkgroupsPerDimension continue in z (foldGrid in src/webgpu/resources.ts).
  let row0 = (gid.z * numGroups.y * ${MATMUL_WORKGROUP}u + gid.y) * ${ROWS}u;
  let col0 = gid.x * ${groups.length}u;
  // No early return: broadcasts need every lane of the subgroup. Threads past the edge load clamped
  // (valid) addresses and store nothing.
${groups.map((c) => `  let colLoad${c} = min(col0 + ${c}u, n4 - 1u);`).join('\n')}
${rows.flatMap((i) => groups.map((c) => `  var acc${i}_${c} = vec4f(0.0);`)).join('\n')}
${loop}
${groups.map((c) => `  if (col0 + ${c}u < n4) {
${rows.map((i) => `    if (row0 + ${i}u < m) {
      let index = (row0 + ${i}u) * n4 + col0 + ${c}u;
      c[index] = epilogue(acc${i}_${c}, index, col0 + ${c}u);
    }`).join('\n')}
  }`).join('\n')}
}
`;
}

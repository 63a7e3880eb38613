import { ACTIVATIONS, activationPair, derivativeInput, NAN_TESTS } from './activations.js';
import { LINEAR_INDEX, LINEAR_WORKGROUP, UNIFORMS } from './common.js';
import type { ActivationName } from '../src/ops/index.js';
import { FREQUENCY_ENCODING } from './frequency.wgsl.js';

/**
 * Fully fused small MLPs (after NVIDIA's tiny-cuda-nn): the whole stack of dense layers of a plan in
 * one kernel per stage, for networks whose every width is at most FUSED_MAX_WIDTH.
 *   forward   each thread walks its batch rows (rowsPerThread) through every layer: their activations stay in its
 *             registers (private arrays), each layer's weights are staged in workgroup memory, in
 *             chunks that fit the device's maxComputeWorkgroupStorageSize, shared by the workgroup's
 *             rows. It writes what backward reads: the hidden layers' outputs (and z where the
 *             derivative reads z) packed per row in `hidden`, and the last layer's output (and z).
 *   signal    one thread per row, from dL/dz of the last layer (the loss kernel's) down through
 *             every layer: dZ below = (dZ · Wᵀ) ⊙ f'(gate below), the weights staged as in forward;
 *             every hidden layer's dL/dz, packed per row in `zGrads`.
 *   gradient  every layer's weight and bias gradient in one dispatch: a thread per 4 × 4 block of
 *             one layer's [inputs + 1, units] (the bias as an input row of ones) sums over every
 *             row of the batch, in row order.
 * Each sum runs in the order of the unfused products' (matmul.wgsl.ts) on the variant the shape
 * allows there (vec4 where vectorizable, scalar otherwise): k ascending, in groups of four where the
 * vec4 kernel groups them, and the rows in order for the gradients. So on an adapter whose products
 * run those variants (SwiftShader) the fused step gives the unfused step's bits; on one whose
 * autotune picks `tiled` (scalar order) for a vectorizable product, they differ by rounding.
 */
export interface FusedMlpKey {
  stage: 'forward' | 'signal' | 'gradient';
  /** The dense layers, bottom up. */
  layers: FusedLayer[];
  /** Floats of workgroup memory a chunk of staged weights may take (maxComputeWorkgroupStorageSize / 4). */
  chunk: number;
  /**
   * Batch rows each thread of the forward and signal kernels carries: each vec4 of staged weights
   * it loads then feeds 4·rowsPerThread multiply-adds, for rowsPerThread times the registers.
   */
  rowsPerThread: number;
  /**
   * A frequencyEncoding of the network's `inputs` with `octaves` octaves before the first dense layer
   * (whose inputs are then inputs·2·octaves): computed from the input in the kernels themselves,
   * with the encoding layer's own functions (FREQUENCY_ENCODING), so its output never reaches memory.
   */
  encoding?: { inputs: number; octaves: number };
}

export interface FusedLayer {
  inputs: number;
  units: number;
  activation: ActivationName;
  /** The activation's parameter as float32 (leakyRelu's slope, elu's alpha, gelu's approximate). */
  slope: number;
  /** Offsets in floats of the layer's weights [inputs, units] and bias [units] in the parameter vector. */
  weights: number;
  bias: number;
  /** The forward also stores z (the derivative reads it): the last layer's in `outputZ`, the others' in `hidden`. */
  preActivation: boolean;
  /** Sums over k in the vec4 kernel's groups of four (vectorizable): forward, and the signal this layer sends down. */
  forwardVec4: boolean;
  signalVec4: boolean;
}

/** The widest layer (inputs included) the fused kernels take. */
export const FUSED_MAX_WIDTH = 128;

/** Per row of `hidden`: where each hidden layer's output y (and z, if stored) sit; and the floats per row. */
export function hiddenLayout(layers: FusedLayer[]): { y: number[]; z: (number | undefined)[]; width: number } {
  const y: number[] = [];
  const z: (number | undefined)[] = [];
  let width = 0;
  for (const layer of layers.slice(0, -1)) {
    y.push(width);
    width += layer.units;
    z.push(layer.preActivation ? width : undefined);
    if (layer.preActivation) width += layer.units;
  }
  return { y, z, width };
}

/** Per row of `zGrads`: where each hidden layer's dL/dz sits; and the floats per row. */
export function zGradLayout(layers: FusedLayer[]): { at: number[]; width: number } {
  const at: number[] = [];
  let width = 0;
  for (const layer of layers.slice(0, -1)) {
    at.push(width);
    width += layer.units;
  }
  return { at, width };
}

/** Threads of the gradient stage: one per 4 × 4 block of each layer's [inputs + 1, units]. */
export function gradientBlocks(layer: Pick<FusedLayer, 'inputs' | 'units'>): number {
  return Math.ceil((layer.inputs + 1) / 4) * Math.ceil(layer.units / 4);
}

const f32 = (value: number) => `f32(${Math.fround(value)})`;
const range = (count: number) => Array.from({ length: count }, (_, i) => i);

/** The activation pairs of every distinct activation of the network, suffixed by name, with their helpers once. */
function activations(layers: FusedLayer[]): string {
  const names = [...new Set(layers.map((layer) => layer.activation))];
  return `${NAN_TESTS}${names.map((name) => `${ACTIVATIONS[name].helpers ?? ''}${activationPair(name, `_${name}`)}`).join('')}`;
}

/** vec4s per staged row of a layer's weights: its units, padded with zeros to a multiple of 4. */
const quads = (units: number) => Math.ceil(units / 4);

/**
 * A layer's weights [rows, units] staged in chunks of whole (padded) rows of W: row counts a
 * multiple of four (so a chunk never splits a vec4 group of k), as many as `chunk` floats hold.
 */
function chunksOf(rows: number, units: number, chunk: number): { start: number; count: number }[] {
  const perChunk = Math.max(4, Math.floor(chunk / (4 * quads(units)) / 4) * 4);
  return range(Math.ceil(rows / perChunk)).map((c) => ({ start: c * perChunk, count: Math.min(perChunk, rows - c * perChunk) }));
}

/** vec4s of the workgroup array: the largest chunk any layer stages. */
function stagedQuads(key: FusedMlpKey): number {
  return Math.max(1, ...key.layers.flatMap((layer) => chunksOf(layer.inputs, layer.units, key.chunk).map((c) => c.count * quads(layer.units))));
}

/**
 * Statements copying `count` rows of a layer's weights from row `start` into workgroup memory,
 * each thread a share, fenced by barriers: before (the previous chunk's readers are done) unless
 * it is the first, and after.
 */
function stage(layer: FusedLayer, start: number, count: number, first: boolean): string {
  const { units } = layer;
  const q = quads(units);
  // Four columns of a row of W a vec4, so that one load of workgroup memory feeds four multiply-adds
  // (a load at the same address in every lane is costly on SwiftShader); columns past `units` are 0.
  const column = (c: number) => (units % 4 === 0 ? `params[at + ${c}u]` : `select(0.0, params[min(at + ${c}u, end)], c + ${c}u < ${units}u)`);
  return `${first ? '' : '  workgroupBarrier();\n'}  for (var e = lane; e < ${count * q}u; e += ${LINEAR_WORKGROUP}u) {
    let c = (e % ${q}u) * 4u;
    let at = ${layer.weights + start * units}u + (e / ${q}u) * ${units}u + c;
    let end = ${layer.weights + layer.inputs * units - 1}u;
    staged[e] = vec4f(${range(4).map(column).join(', ')});
  }
  workgroupBarrier();`;
}

/** The declarations and the entry point's prologue every stage shares: the row of this thread, clamped for loads. */
function prologue(key: FusedMlpKey, bindings: string, workgroup: boolean): string {
  return `${UNIFORMS}${LINEAR_INDEX}${bindings}
${workgroup ? `var<workgroup> staged: array<vec4f, ${stagedQuads(key)}>;` : ''}
${activations(key.layers)}
${key.encoding ? FREQUENCY_ENCODING : ''}`;
}

/**
 * WGSL expression of column `column` (a u32 expression) of row `row` of the first dense layer's
 * input: the network's input, or its frequency encoding, as the encoding layer's kernel computes it.
 */
function firstInput(key: FusedMlpKey, row: string, column: string): string {
  const { encoding } = key;
  if (!encoding) return `input[${row} * ${key.layers[0]!.inputs}u + ${column}]`;
  const { inputs, octaves } = encoding;
  return `encodedInput(input[${row} * ${inputs}u + (${column}) / ${2 * octaves}u], ${column}, ${octaves}u)`;
}

/** With an encoding: the feature of its input x at the encoded column (frequencyColumn's layout). */
const ENCODED_INPUT = `
fn encodedInput(x: f32, column: u32, octaves: u32) -> f32 {
  let at = frequencyColumn(column, octaves);
  return frequencyFeature(x, at.y, at.z == 1u);
}`;

/**
 * Each thread's rows: row{r} = (workgroup·rowsPerThread + r)·WORKGROUP + lane, so neighbouring lanes
 * take neighbouring rows; past the last row, a thread computes on the last row (valid loads) and
 * stores nothing: every thread must reach the barriers.
 */
function rowsOfThread(key: FusedMlpKey): string {
  return range(key.rowsPerThread).map((r) => `  let row${r} = (groupIndex(group, groups) * ${key.rowsPerThread}u + ${r}u) * ${LINEAR_WORKGROUP}u + lane;
  let valid${r} = row${r} < rows;
  let source${r} = min(row${r}, rows - 1u);`).join('\n');
}

const ENTRY = `@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lane: u32) {
  let rows = step.rows;`;

function forwardShader(key: FusedMlpKey): string {
  const { layers } = key;
  const last = layers.length - 1;
  const inputs = layers[0]!.inputs;
  const outputs = layers[last]!.units;
  const hidden = hiddenLayout(layers);
  const width = Math.max(...layers.flatMap((layer) => [layer.inputs, layer.units]));
  const threadRows = range(key.rowsPerThread);
  const each = (line: (r: number) => string, separator = '\n    ') => threadRows.map(line).join(separator);
  let first = true;
  const body = layers.map((layer, l) => {
    const { units } = layer;
    const q4 = quads(units);
    const chunks = chunksOf(layer.inputs, units, key.chunk).map(({ start, count }) => {
      // acc{r}[q] += x{r}[k] · W[k, 4q..4q+3] over the chunk's k, as the vec4 kernel groups them or
      // one at a time; each vec4 of W loaded once for the thread's rows.
      const group = (ks: number[]) => `{
      ${ks.map((kk, n) => `let w${n} = staged[${kk * q4}u + q];`).join(' ')}
      ${each((r) => `a${r} += ${ks.map((kk, n) => `x${r}[${start + kk}] * w${n}`).join(' + ')};`, '\n      ')}
    }`;
      const sum = layer.forwardVec4 ? range(count / 4).map((g) => group(range(4).map((n) => 4 * g + n))) : range(count).map((kk) => group([kk]));
      const code = `${stage(layer, start, count, first)}
  for (var q = 0u; q < ${q4}u; q++) {
    ${each((r) => `var a${r} = acc${r}[q];`, ' ')}
    ${sum.join('\n    ')}
    ${each((r) => `acc${r}[q] = a${r};`, ' ')}
  }`;
      first = false;
      return code;
    }).join('\n');
    const stores = (r: number) => (l === last
      ? `output[row${r} * ${outputs}u + j] = y;${layer.preActivation ? ` outputZ[row${r} * ${outputs}u + j] = z;` : ''}`
      : `hidden[row${r} * ${hidden.width}u + ${hidden.y[l]}u + j] = y;${layer.preActivation ? ` hidden[row${r} * ${hidden.width}u + ${hidden.z[l]}u + j] = z;` : ''}`);
    return `  // layer ${l + 1}: [${layer.inputs}] → [${units}], ${layer.activation}
  for (var q = 0u; q < ${q4}u; q++) {
    ${each((r) => `acc${r}[q] = vec4f(0.0);`, ' ')}
  }
${chunks}
${range(units).map((j) => `  {
    let j = ${j}u;
    let bias = params[${layer.bias}u + j];
${threadRows.map((r) => `    {
      let z = acc${r}[${j >> 2}][${j & 3}] + bias;
      let y = activate_${layer.activation}(z, ${f32(layer.slope)});
      x${r}[${j}] = y;
      if (valid${r}) { ${stores(r)} }
    }`).join('\n')}
  }`).join('\n')}`;
  }).join('\n');
  const encoding = key.encoding;
  const load = (r: number) => (encoding
    ? range(encoding.inputs * encoding.octaves).map((p) => `  {
    let sc = frequencySinCos(input[source${r} * ${encoding.inputs}u + ${Math.floor(p / encoding.octaves)}u], ${p % encoding.octaves}u);
    x${r}[${2 * p}] = sc.x;
    x${r}[${2 * p + 1}] = sc.y;
  }`).join('\n')
    : range(inputs).map((i) => `  x${r}[${i}] = input[source${r} * ${inputs}u + ${i}u];`).join('\n'));
  return `${prologue(key, `
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> hidden: array<f32>;
@group(0) @binding(5) var<storage, read_write> output: array<f32>;
${layers[last]!.preActivation ? '@group(0) @binding(6) var<storage, read_write> outputZ: array<f32>;' : ''}`, true)}

${ENTRY}
${rowsOfThread(key)}
${threadRows.map((r) => `  var x${r}: array<f32, ${width}>;
  var acc${r}: array<vec4f, ${quads(width)}>;
${load(r)}`).join('\n')}
${body}
}
`;
}

function signalShader(key: FusedMlpKey): string {
  const { layers } = key;
  const last = layers.length - 1;
  const hidden = hiddenLayout(layers);
  const zGrads = zGradLayout(layers);
  const width = Math.max(...layers.flatMap((layer) => [layer.inputs, layer.units]));
  const outputs = layers[last]!.units;
  const threadRows = range(key.rowsPerThread);
  const each = (line: (r: number) => string, separator = '\n      ') => threadRows.map(line).join(separator);
  let first = true;
  const body = range(last).map((i) => last - i).map((l) => {
    const layer = layers[l]!;
    const below = layers[l - 1]!;
    const { units } = layer;
    // s{r}[i] = Σ_u g{r}[u] · W[i, u], then × f'(the gate of the layer below), where the gate is its
    // output y or its z, as the op table says; each vec4 of W loaded once for the thread's rows.
    const gate = (r: number) => `hidden[source${r} * ${hidden.width}u + ${derivativeInput(below.activation) === 'z' ? hidden.z[l - 1] : hidden.y[l - 1]}u + i]`;
    const chunks = chunksOf(layer.inputs, units, key.chunk).map(({ start, count }) => {
      const sum = range(quads(units)).map((q) => {
        const lanes = range(Math.min(4, units - 4 * q));
        const terms = (r: number) => (layer.signalVec4
          ? [`a${r} += dot(vec4f(${lanes.map((n) => `g${r}[${4 * q + n}]`).join(', ')}), w);`]
          : lanes.map((n) => `a${r} += g${r}[${4 * q + n}] * w[${n}];`));
        return `{
        let w = staged[wRow + ${q}u];
        ${threadRows.flatMap(terms).join('\n        ')}
      }`;
      });
      const code = `${stage(layer, start, count, first)}
  for (var i = ${start}u; i < ${start + count}u; i++) {
      let wRow = (i - ${start}u) * ${quads(units)}u;
      ${each((r) => `var a${r} = 0.0;`, ' ')}
      ${sum.join('\n      ')}
      ${each((r) => `s${r}[i] = a${r} * activationDerivative_${below.activation}(${gate(r)}, ${f32(below.slope)});`)}
  }`;
      first = false;
      return code;
    }).join('\n');
    return `  // layer ${l + 1} [${layer.inputs}] ← [${units}]: dL/dz of layer ${l}
${chunks}
${threadRows.map((r) => `${range(layer.inputs).map((i) => `  g${r}[${i}] = s${r}[${i}];`).join('\n')}
  if (valid${r}) {
    for (var i = 0u; i < ${layer.inputs}u; i++) {
      zGrads[row${r} * ${zGrads.width}u + ${zGrads.at[l - 1]}u + i] = s${r}[i];
    }
  }`).join('\n')}`;
  }).join('\n');
  return `${prologue(key, `
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> hidden: array<f32>;
@group(0) @binding(4) var<storage, read> outputGrad: array<f32>;
@group(0) @binding(5) var<storage, read_write> zGrads: array<f32>;`, true)}

${ENTRY}
${rowsOfThread(key)}
  // g{r}: dL/dz of the layer being crossed, for row r of the thread; s{r}: of the layer below it.
${threadRows.map((r) => `  var g${r}: array<f32, ${width}>;
  var s${r}: array<f32, ${width}>;
${range(outputs).map((u) => `  g${r}[${u}] = outputGrad[source${r} * ${outputs}u + ${u}u];`).join('\n')}`).join('\n')}
${body}
}
`;
}

function gradientShader(key: FusedMlpKey): string {
  const { layers } = key;
  const last = layers.length - 1;
  const hidden = hiddenLayout(layers);
  const zGrads = zGradLayout(layers);
  const blocks = range(4);
  let end = 0;
  const branches = layers.map((layer, l) => {
    const { inputs, units } = layer;
    const begin = end;
    end += gradientBlocks(layer);
    const columns = Math.ceil(units / 4);
    // Row `row` of the layer's input (the network's input, or the output of the layer below), and of its dL/dz.
    const x = (i: string) => (l === 0 ? firstInput(key, 'row', i) : `hidden[row * ${hidden.width}u + ${hidden.y[l - 1]}u + ${i}]`);
    const dz = (u: string) => (l === last ? `outputGrad[row * ${units}u + ${u}]` : `zGrads[row * ${zGrads.width}u + ${zGrads.at[l]}u + ${u}]`);
    return `if (task < ${end}u) {
    // layer ${l + 1}: dW [${inputs}, ${units}] = inputᵀ · dZ, and db [${units}] = Σ_rows dZ as input row ${inputs} (ones).
    let block = task - ${begin}u;
    let iBase = (block / ${columns}u) * 4u;
    let uBase = (block % ${columns}u) * 4u;
${blocks.map((a) => `    let i${a} = min(iBase + ${a}u, ${inputs - 1}u);`).join('\n')}
${blocks.map((b) => `    let u${b} = min(uBase + ${b}u, ${units - 1}u);`).join('\n')}
    for (var row = 0u; row < rows; row++) {
${blocks.map((a) => `      let x${a} = select(${x(`i${a}`)}, 1.0, iBase + ${a}u >= ${inputs}u);`).join('\n')}
${blocks.map((b) => `      let d${b} = ${dz(`u${b}`)};`).join('\n')}
${blocks.flatMap((a) => blocks.map((b) => `      acc${a}${b} += x${a} * d${b};`)).join('\n')}
    }
${blocks.flatMap((a) => blocks.map((b) => `    store(iBase + ${a}u, uBase + ${b}u, acc${a}${b}, ${inputs}u, ${units}u, ${layer.weights}u, ${layer.bias}u);`)).join('\n')}
  }`;
  }).join(' else ');
  return `${prologue(key, `
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read> hidden: array<f32>;
@group(0) @binding(4) var<storage, read> outputGrad: array<f32>;
@group(0) @binding(5) var<storage, read> zGrads: array<f32>;
@group(0) @binding(6) var<storage, read_write> grads: array<f32>;`, false)}
${key.encoding ? ENCODED_INPUT : ''}

// Element (i, u) of a layer's [inputs + 1, units] gradient block: a weight below row 'inputs', the bias at it.
fn store(i: u32, u: u32, value: f32, inputs: u32, units: u32, weights: u32, bias: u32) {
  if (u >= units || i > inputs) {
    return;
  }
  if (i == inputs) {
    grads[bias + u] = value;
  } else {
    grads[weights + i * units + u] = value;
  }
}

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let rows = step.rows;
  let task = linearIndex(gid, groups);
${blocks.flatMap((a) => blocks.map((b) => `  var acc${a}${b} = 0.0;`)).join('\n')}
  ${branches}
}
`;
}

export function fusedMlpShader(key: FusedMlpKey): string {
  switch (key.stage) {
    case 'forward': return forwardShader(key);
    case 'signal': return signalShader(key);
    case 'gradient': return gradientShader(key);
    default: return key.stage satisfies never;
  }
}

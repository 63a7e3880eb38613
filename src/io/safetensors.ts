import type { Standardization } from '../data/standardize.js';
import { copyBytes } from '../data/user-input.js';
import { ModelFileError, SpecError } from '../errors.js';
import { describeValue, LAYERS, type ActivationName, type LayerKind, type SegmentEntry } from '../ops/index.js';
import { isDense, layerSegments, readView, type Activation, type LayerPlan, type Plan } from '../plan.js';
import { foldStandardization } from './tfjs.js';

/*
 * PyTorch state dicts as safetensors files: what `safetensors.torch.save_file(model.state_dict(), …)`
 * writes and `model.load_state_dict(safetensors.torch.load_file(…))` reads. Little-endian throughout:
 *
 *   headerSize  u64      bytes of the JSON header
 *   header      JSON     { "__metadata__"?: { string: string }, "<name>": { dtype, shape, data_offsets: [begin, end] }, … },
 *                        padded with spaces (safetensors' own writer pads to a multiple of 8)
 *   data        bytes    each tensor row-major at [begin, end) of this block; the tensors cover it
 *                        exactly, without gaps or overlaps
 *
 * A network maps onto the torch.nn.Sequential its layers describe, one module per layer and one per
 * activation after it, numbered as nn.Sequential numbers its children: [dense relu dropout dense]
 * is Sequential(Linear, ReLU, Dropout, Linear), whose tensors are 0.weight, 0.bias, 3.weight, 3.bias.
 * Linear's weight is [out, in] (our weights transposed); LayerNorm's weight and bias are our gamma
 * and beta; BatchNorm1d's are gamma, beta, running_mean, running_var (our moving statistics) and
 * num_batches_tracked, an int64 scalar. Activations and dropout have no tensors but take an index.
 */

/**
 * The layer kinds torch.nn has no module for, and why: a network holding one is refused with a
 * SpecError naming the layer, both ways. Every other kind needs an entry of TORCH_LAYERS.
 */
const TORCH_UNSUPPORTED = {
  frequencyEncoding: 'torch.nn has no module that takes the sine and cosine of its input',
} as const satisfies Partial<Record<LayerKind, string>>;

type TorchKind = Exclude<LayerKind, keyof typeof TORCH_UNSUPPORTED>;
type TorchLayer = Extract<LayerPlan, { kind: TorchKind }>;

/** Per layer kind, the torch module it is and each segment's state-dict name; typed by LAYERS' segments. */
const TORCH_LAYERS: { readonly [K in TorchKind]: {
  module: (layer: Extract<LayerPlan, { kind: K }>) => string;
  tensors: Readonly<Record<keyof (typeof LAYERS)[K]['segments'], string>>;
} } = {
  dense: { module: (l) => `Linear(${l.inputs}, ${l.units})`, tensors: { weights: 'weight', bias: 'bias' } },
  dropout: { module: (l) => `Dropout(p=${l.rate})`, tensors: {} },
  layerNormalization: { module: (l) => `LayerNorm(${l.units}, eps=${l.epsilon})`, tensors: { gamma: 'weight', beta: 'bias' } },
  batchNormalization: {
    // torch's momentum weighs the batch statistic, ours the moving one.
    module: (l) => `BatchNorm1d(${l.units}, eps=${l.epsilon}, momentum=${+(1 - l.momentum).toPrecision(15)})`,
    tensors: { gamma: 'weight', beta: 'bias', movingMean: 'running_mean', movingVariance: 'running_var' },
  },
};

/** BatchNorm1d's count of training batches: an int64 scalar torch keeps beside the running statistics. */
const BATCHES_TRACKED = 'num_batches_tracked';

/** The torch module of each activation (none for linear), its parameter as torch spells it. */
const TORCH_ACTIVATIONS: Readonly<Record<ActivationName, (slope: number) => string | undefined>> = {
  linear: () => undefined,
  sigmoid: () => 'Sigmoid()',
  relu: () => 'ReLU()',
  leakyRelu: (slope) => `LeakyReLU(negative_slope=${slope})`,
  tanh: () => 'Tanh()',
  elu: (alpha) => `ELU(alpha=${alpha})`,
  softplus: () => 'Softplus()',
  silu: () => 'SiLU()',
  gelu: (approximate) => (approximate ? 'GELU(approximate=\'tanh\')' : 'GELU()'),
};

const torchActivation = ({ name, slope }: Activation): string | undefined => TORCH_ACTIVATIONS[name](slope);

/** One module of the equivalent nn.Sequential: its index, its torch constructor, and the layer it belongs to. */
interface TorchModule {
  index: number;
  module: string;
  layer: TorchLayer;
  /** Whether this is the layer's own op (else its activation). */
  own: boolean;
}

/**
 * The nn.Sequential children of a plan, in order: each layer's module, then its activation's if not
 * linear. A layer torch.nn has no module for is a SpecError naming it.
 */
export function torchModules(plan: Plan): TorchModule[] {
  const modules: TorchModule[] = [];
  for (const layer of plan.layers) {
    if (Object.hasOwn(TORCH_UNSUPPORTED, layer.kind)) {
      throw new SpecError(`safetensors: layer ${layer.index} is a ${layer.kind}, and ` +
        `${TORCH_UNSUPPORTED[layer.kind as keyof typeof TORCH_UNSUPPORTED]}: no nn.Sequential state dict describes this network`);
    }
    const torchLayer = layer as TorchLayer;
    const own = (TORCH_LAYERS[torchLayer.kind].module as (l: TorchLayer) => string)(torchLayer);
    modules.push({ index: modules.length, module: own, layer: torchLayer, own: true });
    const activation = torchActivation(layer.activation);
    if (activation !== undefined) modules.push({ index: modules.length, module: activation, layer: torchLayer, own: false });
  }
  return modules;
}

/** `nn.Sequential(nn.Linear(…), …)` as Python: written into the file's metadata, so a reader knows what to build. */
export const torchSequential = (plan: Plan): string => `nn.Sequential(${torchModules(plan).map((m) => `nn.${m.module}`).join(', ')})`;

/** A tensor the plan expects: its state-dict name, its segment of the parameter vector, its torch shape. */
interface ExpectedTensor {
  name: string;
  layer: TorchLayer;
  segment: string;
  /** Linear's weight: our [inputs, units] stored as torch's [units, inputs]. */
  transposed: boolean;
  shape: number[];
}

/** Every float tensor of the plan's state dict, in state-dict order, and the names of its int64 counters. */
function expectedTensors(plan: Plan, prefix: string): { floats: ExpectedTensor[]; counters: string[] } {
  const floats: ExpectedTensor[] = [];
  const counters: string[] = [];
  for (const { index, layer } of torchModules(plan).filter((m) => m.own)) {
    const names = TORCH_LAYERS[layer.kind].tensors as Readonly<Record<string, string>>;
    for (const [segment, view] of Object.entries(layerSegments(layer))) {
      const transposed = isDense(layer) && segment === 'weights';
      floats.push({ name: `${prefix}${index}.${names[segment]!}`, layer, segment, transposed, shape: transposed ? [...view.shape].reverse() : [...view.shape] });
    }
    if (layer.kind === 'batchNormalization') counters.push(`${prefix}${index}.${BATCHES_TRACKED}`);
  }
  return { floats, counters };
}

/** Element sizes of the safetensors dtypes, for checking a tensor's bytes against its shape (only F32 and I64 are read). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};

/** Where the data block starts: header sizes padded to this, as safetensors' own writer does. */
const DATA_ALIGNMENT = 8;

/**
 * The plan's state dict as a safetensors file. Standardization has no module in torch, so a
 * standardizing network's statistics are folded into its first Linear (as the TF.js export does);
 * `batchesTracked` is written as every BatchNorm1d's num_batches_tracked. The int64 counters come
 * first in the data block, then the float tensors in state-dict order, so each starts aligned to
 * its size.
 */
export function encodeSafetensors(plan: Plan, parameters: Float32Array, standardization: Standardization | undefined,
  batchesTracked: number, prefix = ''): Uint8Array {
  const { floats, counters } = expectedTensors(plan, prefix);
  const values = floats.map((t) => readView(parameters, layerSegments(t.layer)[t.segment]!));
  const first = plan.layers[0]!;
  // The first layer of a network torch.nn can describe is dense (frequencyEncoding is the one other first layer).
  if (standardization && isDense(first)) foldStandardization(values[0]!, values[1]!, first.units, standardization);
  const header: Record<string, unknown> = {
    __metadata__: { format: 'pt', producer: 'webgpu-backprop', module: torchSequential(plan) },
  };
  let at = 0;
  for (const name of counters) {
    header[name] = { dtype: 'I64', shape: [], data_offsets: [at, at + 8] };
    at += 8;
  }
  floats.forEach((t, i) => {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [at, at + values[i]!.length * 4] };
    at += values[i]!.length * 4;
  });
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerSize = Math.ceil((8 + json.length) / DATA_ALIGNMENT) * DATA_ALIGNMENT - 8;
  const bytes = new Uint8Array(8 + headerSize + at);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(headerSize), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.length, 8 + headerSize);
  let offset = 8 + headerSize;
  for (let c = 0; c < counters.length; c++, offset += 8) view.setBigInt64(offset, BigInt(batchesTracked), true);
  floats.forEach((t, i) => {
    const source = values[i]!;
    const [rows, cols] = t.transposed ? [t.layer.inputs, t.layer.units] : [1, source.length];
    // Row r, column c of ours [rows, cols] is element c·rows + r of torch's [cols, rows].
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) view.setFloat32(offset + 4 * (t.transposed ? c * rows + r : c), source[r * cols + c]!, true);
    }
    offset += source.length * 4;
  });
  return bytes;
}

/** A tensor entry of a header, checked against the file: its dtype, shape and bytes in the file. */
interface TensorEntry {
  dtype: string;
  shape: number[];
  /** Byte range inside the whole file. */
  begin: number;
  end: number;
}

/** Past 1 MiB a header is not a state dict of a network this engine builds (each tensor takes under 100 bytes). */
export const MAX_SAFETENSORS_HEADER_BYTES = 1 << 20;

const fail = (message: string): never => {
  throw new ModelFileError(`safetensors: ${message}`);
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isOffset = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * The tensors of a safetensors file, checked before anything is allocated for them: the header's
 * length against the file's (and a cap), its JSON, each entry's dtype, shape and offsets (inside
 * the data block, their length what dtype and shape make), and that the tensors cover the data
 * block exactly, with no byte unaccounted for and none claimed twice.
 */
export function parseSafetensors(bytes: Uint8Array): { tensors: Map<string, TensorEntry>; view: DataView } {
  if (bytes.length < 8) fail(`the file is ${bytes.length} bytes; a safetensors file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getBigUint64(0, true);
  if (headerSize > BigInt(Math.min(MAX_SAFETENSORS_HEADER_BYTES, bytes.length - 8))) {
    fail(`the header claims ${headerSize} bytes but the file has ${bytes.length - 8} after the length ` +
      `(a header has at most ${MAX_SAFETENSORS_HEADER_BYTES}); the file is truncated or not safetensors`);
  }
  const dataStart = 8 + Number(headerSize);
  const dataLength = bytes.length - dataStart;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (cause) {
    return fail(`the header is not valid UTF-8 JSON (${(cause as Error).message})`);
  }
  if (!isRecord(header)) return fail(`the header must be a JSON object, got ${describeValue(header)}`);
  const tensors = new Map<string, TensorEntry>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(entry) || !Object.values(entry).every((v) => typeof v === 'string')) fail('__metadata__ must map strings to strings');
      continue;
    }
    if (!isRecord(entry)) return fail(`tensor ${name} must be { dtype, shape, data_offsets }, got ${describeValue(entry)}`);
    const { dtype, shape, data_offsets: offsets } = entry;
    const size = typeof dtype === 'string' && Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype]! : fail(
      `tensor ${name} has dtype ${describeValue(dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every(isOffset)) return fail(`tensor ${name} has shape ${JSON.stringify(shape)?.slice(0, 100)}; expected an array of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isOffset) || offsets[0] > offsets[1] || offsets[1] > dataLength) {
      return fail(`tensor ${name} has data_offsets ${JSON.stringify(offsets)?.slice(0, 100)}; expected [begin, end] with ` +
        `0 ≤ begin ≤ end ≤ ${dataLength} (the data block's length)`);
    }
    // Multiplied in floating point and compared to what the bytes hold: an absurd shape cannot wrap around.
    const elements = (shape as number[]).reduce((product, d) => product * d, 1);
    const [begin, end] = offsets as [number, number];
    if (elements * size !== end - begin) {
      fail(`tensor ${name} (${dtype} [${(shape as number[]).join(', ')}]) needs ${elements * size} bytes, but its data_offsets hold ${end - begin}`);
    }
    tensors.set(name, { dtype: dtype as string, shape: shape as number[], begin: dataStart + begin, end: dataStart + end });
  }
  // In offset order, each tensor begins where the one before ended and the last ends with the file.
  let covered = dataStart;
  for (const [name, { begin, end }] of [...tensors].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end)) {
    if (begin !== covered) {
      fail(begin < covered
        ? `tensor ${name} at data bytes [${begin - dataStart}, ${end - dataStart}) overlaps the tensor before it (which ends at ${covered - dataStart})`
        : `data bytes [${covered - dataStart}, ${begin - dataStart}) belong to no tensor (before ${name})`);
    }
    covered = end;
  }
  if (covered !== bytes.length) fail(`data bytes [${covered - dataStart}, ${dataLength}) belong to no tensor`);
  return { tensors, view };
}

/**
 * The plan's parameter vector from a safetensors state dict of the equivalent nn.Sequential (see
 * the top of this file), names under `prefix`. Every tensor the plan needs must be there as F32
 * with torch's shape and finite values (a variance ≥ 0); num_batches_tracked, if present, an I64
 * scalar ≥ 0 (not read: our moving statistics never need the count); any other tensor is refused,
 * since the network would then not be the model the file holds. Every problem is a ModelFileError.
 */
export function decodeSafetensors(input: unknown, plan: Plan, prefix = ''): Float32Array {
  // The spec first: a network torch.nn cannot describe is refused whatever the file holds.
  const { floats, counters } = expectedTensors(plan, prefix);
  const bytes = copyBytes(input, 'the safetensors file', ModelFileError);
  if (bytes === undefined) return fail(`a safetensors file must be a Uint8Array or ArrayBuffer, got ${describeValue(input)}`);
  const { tensors, view } = parseSafetensors(bytes);
  const expected = new Set([...floats.map((t) => t.name), ...counters]);
  const extra = [...tensors.keys()].filter((name) => !expected.has(name));
  if (extra.length > 0) {
    fail(`the file holds ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}, which ` +
      `${torchSequential(plan)} does not have${prefix === '' ? ' (a state dict of a model that nests the Sequential takes a prefix)' : ` under prefix '${prefix}'`}`);
  }
  for (const name of counters) {
    const entry = tensors.get(name);
    if (!entry) continue;
    if (entry.dtype !== 'I64' || entry.shape.length !== 0) fail(`${name} is ${entry.dtype} [${entry.shape.join(', ')}]; expected an I64 scalar []`);
    if (view.getBigInt64(entry.begin, true) < 0n) fail(`${name} is negative`);
  }
  const parameters = new Float32Array(plan.parameterCount);
  for (const t of floats) {
    const entry = tensors.get(t.name) ?? fail(`the file has no tensor ${t.name} (${torchModuleOf(plan, t)}); it holds ${[...tensors.keys()].slice(0, 8).join(', ') || 'none'}`);
    if (entry.dtype !== 'F32') fail(`${t.name} is ${entry.dtype}; only F32 is read (save the model after model.float())`);
    if (entry.shape.join() !== t.shape.join()) fail(`${t.name} has shape [${entry.shape.join(', ')}], expected [${t.shape.join(', ')}]`);
    const segment = layerSegments(t.layer)[t.segment]!;
    const { min } = (LAYERS[t.layer.kind].segments as Readonly<Record<string, SegmentEntry>>)[t.segment]!;
    const [rows, cols] = t.transposed ? [t.layer.inputs, t.layer.units] : [1, segment.length];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const element = t.transposed ? c * rows + r : c;
        const value = view.getFloat32(entry.begin + 4 * element, true);
        if (!Number.isFinite(value) || (min !== undefined && value < min)) {
          fail(`${t.name}[${element}] is ${value}; expected a finite number${min === undefined ? '' : ` ≥ ${min}`}`);
        }
        parameters[segment.offset + r * cols + c] = value;
      }
    }
  }
  return parameters;
}

/** `3 (Linear(8, 6))`: a tensor's module, for messages. */
const torchModuleOf = (plan: Plan, t: ExpectedTensor): string => {
  const module = torchModules(plan).find((m) => m.own && m.layer === t.layer)!;
  return `module ${module.index}, ${module.module}`;
};

/** A state-dict prefix: '' or names ending in '.', as a nested module's state dict has them ('net.', 'model.layers.'). */
export function checkPrefix(prefix: unknown, where: string): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string' || (prefix !== '' && !/^([A-Za-z0-9_]+\.)+$/.test(prefix))) {
    throw new SpecError(`${where}: prefix must be '' or module names each followed by a dot ('net.', 'model.layers.'), got ${describeValue(prefix)}`);
  }
  return prefix;
}

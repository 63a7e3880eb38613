import type { TrainingState } from '../backend.js';
import { momentCount, type LearningRate } from '../ops/index.js';
import type { Standardization } from '../data/standardize.js';
import { BackpropError, ModelFileError } from '../errors.js';
import { compilePlan, layerSegments, type Plan } from '../plan.js';
import { copyBytes } from '../data/user-input.js';
import { ACTIVATIONS, describeValue, LAYERS, LOSSES, type ParamTable } from '../ops/index.js';
import type { LayerSpec, NetworkSpec } from '../spec.js';

/*
 * The model file, version 3. Little-endian throughout:
 *
 *   magic      8 bytes   89 57 47 42 50 0D 0A 1A  ("\x89WGBP\r\n\x1a": binary, and line-ending damage shows)
 *   version    u32       3 (2: the same layout; its specs hold no frequencyEncoding layer, so a build that
 *                        reads only 1 and 2 refuses a file with one by its version, not by an unknown layer;
 *                        1: the same, of dense and activation layers only)
 *   headerSize u32       bytes of the JSON header
 *   header     JSON      { spec, standardization: boolean, training: { step, moments, shuffleDraws } | null }
 *   padding    0–3 zero bytes, so the floats start on a multiple of 4
 *   floats     f32 × n   per layer its segments in LAYERS[kind].segments order: dense weights [inputs, units]
 *                        row-major then bias [units]; layerNormalization gamma, beta [units];
 *                        batchNormalization gamma, beta, movingMean, movingVariance [units];
 *                        dropout and frequencyEncoding none;
 *                        then mean [inputSize] and std [inputSize] when standardization is true;
 *                        then each optimizer moment the settings use (momentSlots, in slot order), in the
 *                        same per-layer order, when training is given
 *   checksum   u32       CRC-32 of every byte before it
 *
 * n follows from the header alone, so the exact byte length is known before any float is read, and
 * nothing is allocated that the file's own length does not pay for.
 */

const MAGIC = Uint8Array.of(0x89, 0x57, 0x47, 0x42, 0x50, 0x0d, 0x0a, 0x1a);
export const MODEL_FILE_VERSION = 3;
/** The versions this build reads: version 1 and 2 files are version 3 files of fewer layer kinds. */
const READABLE_VERSIONS = [1, 2, 3];
const PREFIX_BYTES = MAGIC.length + 8;
const CHECKSUM_BYTES = 4;
/** A header describes a few dozen layers in a few kB; past 1 MiB it is not a header. */
const MAX_HEADER_BYTES = 1 << 20;
/** Each layer's segments are padded to 64 floats in memory, so the layer count is bounded too. */
const MAX_LAYERS = 1024;
/**
 * The batch buffers a loaded network allocates (batchSize × every layer's width) are not paid for by
 * the file, so a file may not ask for more than 2^26 floats (256 MiB) of them; loadNetwork's
 * batchSize option overrides the file's.
 */
const MAX_BATCH_FLOATS = 2 ** 26;

/** What a model file holds besides the plan's description. */
export interface ModelContents {
  state: TrainingState;
  standardization: Standardization | undefined;
  /** Present when the optimizer state was saved: how far the network's shuffle stream had gone. */
  training: { shuffleDraws: number } | undefined;
  /**
   * The learning rate in force (Network.setLearningRate's), written as the spec's: the plan's when
   * left out. The step the schedule has reached is the training state's.
   */
  learningRate?: LearningRate;
}

/** The spec that compiles to `plan` (without backend or device, which belong to the machine, not the model). */
export function specOf(plan: Plan, learningRate: LearningRate = plan.optimizer.learningRate): NetworkSpec {
  const layers: LayerSpec[] = [];
  for (const layer of plan.layers) {
    // Parameters only where they differ from the defaults, so a file of a plain network reads as it always has.
    const defaults = LAYERS[layer.kind].params as ParamTable;
    const values = layer as unknown as Record<string, number>;
    const params = Object.fromEntries(Object.keys(defaults).filter((name) => values[name] !== (defaults[name] as { default?: number }).default)
      .map((name) => [name, values[name]]));
    layers.push({ type: layer.kind, ...(layer.kind === 'dense' ? { units: layer.units } : {}), ...params } as LayerSpec);
    const { name, slope } = layer.activation;
    // The activation's one parameter, if it has one, under its table name (leakyRelu's slope).
    const [parameter] = Object.entries(ACTIVATIONS[name].params);
    const value = parameter?.[1].kind === 'boolean' ? slope !== 0 : slope;
    if (name !== 'linear') layers.push((parameter ? { type: name, [parameter[0]]: value } : { type: name }) as LayerSpec);
  }
  const { inputSize, loss, optimizer, batchSize, standardize, seed } = plan;
  // A loss without parameters by its name (as files before them), else { type, ...parameters }.
  const lossSpec = Object.keys(LOSSES[loss.type].params).length === 0 ? loss.type : { ...loss };
  return { inputSize, layers, loss: lossSpec, optimizer: { ...optimizer, learningRate }, batchSize, standardize, seed };
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (the zlib/PNG polynomial) of bytes[0, end). */
function crc32(bytes: Uint8Array, end: number): number {
  let crc = 0xffffffff;
  for (let i = 0; i < end; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The parameter-layout segments of a plan, in file order. */
function segments(plan: Plan): { offset: number; length: number; what: string }[] {
  return plan.layers.flatMap((l) => Object.entries(layerSegments(l)).map(([name, view]) => ({ ...view, what: `layer ${l.index} ${name}` })));
}

/** Floats one copy of the parameters takes in the file: the plan's segments, without their padding. */
const compactCount = (plan: Plan) => segments(plan).reduce((sum, s) => sum + s.length, 0);

export function encodeModelFile(plan: Plan, contents: ModelContents): Uint8Array {
  const { state, standardization, training, learningRate } = contents;
  const header = new TextEncoder().encode(JSON.stringify({
    spec: specOf(plan, learningRate),
    standardization: standardization !== undefined,
    training: training ? { step: state.step, moments: momentCount(plan.optimizer), shuffleDraws: training.shuffleDraws } : null,
  }));
  const floatsStart = Math.ceil((PREFIX_BYTES + header.length) / 4) * 4;
  const vectors = [state.parameters, ...(training ? momentsOf(plan, state) : [])];
  const floatCount = vectors.length * compactCount(plan) + (standardization ? 2 * plan.inputSize : 0);
  const bytes = new Uint8Array(floatsStart + floatCount * 4 + CHECKSUM_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(MAGIC.length, MODEL_FILE_VERSION, true);
  view.setUint32(MAGIC.length + 4, header.length, true);
  bytes.set(header, PREFIX_BYTES);
  let at = floatsStart;
  const write = (values: ArrayLike<number>, from: number, length: number) => {
    for (let i = 0; i < length; i++, at += 4) view.setFloat32(at, values[from + i]!, true);
  };
  const [parameters, ...moments] = vectors;
  for (const s of segments(plan)) write(parameters!, s.offset, s.length);
  if (standardization) {
    write(standardization.mean, 0, plan.inputSize);
    write(standardization.std, 0, plan.inputSize);
  }
  for (const moment of moments) for (const s of segments(plan)) write(moment, s.offset, s.length);
  view.setUint32(at, crc32(bytes, at), true);
  return bytes;
}

/** The state's moments, zeros where it holds none (a network that has not trained since its weights were set). */
function momentsOf(plan: Plan, state: TrainingState): Float32Array[] {
  return Array.from({ length: momentCount(plan.optimizer) }, (_, i) => state.moments[i] ?? new Float32Array(plan.parameterCount));
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 2 ** 53;

export interface DecodeOptions {
  /** Overrides the batchSize stored in the file. */
  batchSize?: number;
}

/**
 * Reads a model file from a copy of its bytes, checking everything before allocating: magic, version, the header's JSON and
 * network description, the exact byte length it implies, the checksum, and that every float is
 * finite (and every std positive). Every refusal is a ModelFileError saying what was expected.
 */
export function decodeModelFile(input: unknown, options: DecodeOptions = {}): { plan: Plan } & ModelContents {
  // Our own copy of the bytes, taken from the buffer itself: the checks and the decoding read only it.
  const bytes = copyBytes(input, 'the model file', ModelFileError);
  if (bytes === undefined) throw new ModelFileError(`a model file must be a Uint8Array or ArrayBuffer, got ${describeValue(input)}`);
  const minimum = PREFIX_BYTES + 2 + CHECKSUM_BYTES;
  if (bytes.length < minimum) throw new ModelFileError(`the model file is truncated: ${bytes.length} bytes, expected at least ${minimum}`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) {
    const head = Array.from(bytes.subarray(0, MAGIC.length), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ModelFileError(`not a webgpu-backprop model file: it starts with ${head}, expected 89 57 47 42 50 0d 0a 1a`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(MAGIC.length, true);
  if (!READABLE_VERSIONS.includes(version)) {
    throw new ModelFileError(`the model file has format version ${version}; this build reads versions ${READABLE_VERSIONS.slice(0, -1).join(', ')} ` +
      `and ${READABLE_VERSIONS.at(-1)}`);
  }
  const headerSize = view.getUint32(MAGIC.length + 4, true);
  if (headerSize > MAX_HEADER_BYTES || PREFIX_BYTES + headerSize + CHECKSUM_BYTES > bytes.length) {
    throw new ModelFileError(`the model file's header claims ${headerSize} bytes but the whole file is ${bytes.length} bytes ` +
      `(a header has at most ${MAX_HEADER_BYTES}); the file is truncated or damaged`);
  }
  const header = parseHeader(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerSize));
  const plan = planOf(header.spec, options);
  const training = header.training === null ? undefined : checkTraining(header.training, plan);
  const floatsStart = Math.ceil((PREFIX_BYTES + headerSize) / 4) * 4;
  const floatCount = (1 + (training?.moments ?? 0)) * compactCount(plan) + (header.standardization ? 2 * plan.inputSize : 0);
  const expected = floatsStart + floatCount * 4 + CHECKSUM_BYTES;
  if (bytes.length !== expected) {
    throw new ModelFileError(`the model file is ${bytes.length} bytes, but its header describes ${expected} ` +
      `(${floatCount} floats); the file is ${bytes.length < expected ? 'truncated' : 'damaged: it has extra bytes'}`);
  }
  const stored = view.getUint32(expected - CHECKSUM_BYTES, true);
  const actual = crc32(bytes, expected - CHECKSUM_BYTES);
  if (stored !== actual) {
    throw new ModelFileError(`the model file is damaged: its checksum is ${hex(stored)} but its contents give ${hex(actual)}`);
  }

  let at = floatsStart;
  const read = (target: Float32Array, offset: number, length: number, what: string, check: (v: number) => boolean = Number.isFinite) => {
    for (let i = 0; i < length; i++, at += 4) {
      const value = view.getFloat32(at, true);
      if (!check(value)) throw new ModelFileError(`the model file holds ${value} at ${what}[${i}]; expected a finite number`);
      target[offset + i] = value;
    }
  };
  const readVector = (kind: string) => {
    const vector = new Float32Array(plan.parameterCount);
    for (const s of segments(plan)) read(vector, s.offset, s.length, `${kind}: ${s.what}`);
    return vector;
  };
  const parameters = readVector('parameters');
  let standardization: Standardization | undefined;
  if (header.standardization) {
    standardization = { mean: new Float32Array(plan.inputSize), std: new Float32Array(plan.inputSize) };
    read(standardization.mean, 0, plan.inputSize, 'standardization mean');
    read(standardization.std, 0, plan.inputSize, 'standardization std (positive)', (v) => Number.isFinite(v) && v > 0);
  }
  const moments = Array.from({ length: training?.moments ?? 0 }, (_, i) => readVector(`optimizer moment ${i + 1}`));
  return {
    plan,
    state: { parameters, moments, step: training?.step ?? 0 },
    standardization,
    training: training && { shuffleDraws: training.shuffleDraws },
  };
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

function parseHeader(raw: Uint8Array): { spec: Record<string, unknown>; standardization: boolean; training: unknown } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (cause) {
    throw new ModelFileError(`the model file's header is not valid UTF-8 JSON (${(cause as Error).message})`);
  }
  if (!isRecord(header) || !isRecord(header.spec) || typeof header.standardization !== 'boolean' || !('training' in header)) {
    throw new ModelFileError('the model file\'s header must be an object with spec (an object), standardization (true/false) and training');
  }
  return { spec: header.spec, standardization: header.standardization, training: header.training };
}

/** Compiles the file's description (allocation-free) and bounds the batch buffers it would need. */
function planOf(spec: Record<string, unknown>, options: DecodeOptions): Plan {
  let plan: Plan;
  try {
    plan = compilePlan({
      ...(spec as unknown as NetworkSpec),
      batchSize: options.batchSize ?? (spec.batchSize as number),
    });
  } catch (cause) {
    if (!(cause instanceof BackpropError)) throw cause;
    throw new ModelFileError(`the model file describes an invalid network: ${cause.message}`);
  }
  if (plan.layers.length > MAX_LAYERS) {
    throw new ModelFileError(`the model file describes ${plan.layers.length} layers; at most ${MAX_LAYERS} are read`);
  }
  const batchFloats = plan.batchSize * (plan.inputSize + plan.layers.reduce((sum, l) => sum + l.units, 0));
  if (options.batchSize === undefined && batchFloats > MAX_BATCH_FLOATS) {
    throw new ModelFileError(`the model file asks for batchSize ${plan.batchSize}, whose buffers would take ${batchFloats} floats ` +
      `(at most ${MAX_BATCH_FLOATS} from a file); pass a smaller batchSize to loadNetwork`);
  }
  return plan;
}

function checkTraining(training: unknown, plan: Plan): { step: number; moments: number; shuffleDraws: number } {
  const moments = momentCount(plan.optimizer);
  if (!isRecord(training) || !isCount(training.step) || training.moments !== moments
    || !isCount(training.shuffleDraws) || training.shuffleDraws >= 2 ** 32) {
    throw new ModelFileError(`the model file's training state must be { step: a count, moments: ${moments} ` +
      `(for ${plan.optimizer.type}), shuffleDraws: a count below 2^32 }, got ${String(JSON.stringify(training)).slice(0, 200)}`);
  }
  return { step: training.step, moments, shuffleDraws: training.shuffleDraws };
}

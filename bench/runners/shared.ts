import { readFileSync } from 'node:fs';
import { createNetwork, type BackendName, type DenseWeights, type Network, type NetworkSpec } from '../../src/index.js';
import { availableCores, MAX_THREADS } from '../../src/cpu/choose.js';
import { requestAdapter } from '../../src/webgpu/device.js';
import {
  architectureOf, caseRows, denseSizes, matmulFlops, stepFlops, SEED, TRAINING, trainingData,
  type Architecture, type Case, type HiddenLayer, type OptimizerSetting, type PredictCase, type TrainingCase,
} from '../cases.js';
import type { Row } from '../results.js';
import { float64Loss } from './float64.js';
import { countDevices } from './gpu-memory.js';
import type { Log, Skip } from './runner.js';

/**
 * What every runner shares so that the race is fair: the same initial weights (ours, seeded
 * He-uniform before leakyRelu and Glorot-uniform otherwise, biases 0), the same data cut in the same
 * batches, the same first-step loss to check against, and the same rule for leaving a slow runner out.
 */

/**
 * Our spec of a training case's network. An architecture's layer and optimizer names are our API's,
 * including ones the engine may not have yet, which NetworkSpec's types leave out: createNetwork
 * validates at run time and refuses those with a SpecError.
 */
export type OurSpec = Omit<NetworkSpec, 'layers' | 'optimizer'> & {
  layers: (NetworkSpec['layers'][number] | HiddenLayer)[];
  optimizer: NetworkSpec['optimizer'] | OptimizerSetting;
};

/** Our network for the training cases: the architecture (default TRAINING) on these sizes. */
export function networkSpec(backend: BackendName, sizes: number[], batch: number, architecture: Architecture = TRAINING): OurSpec {
  const layers: OurSpec['layers'] = architecture.encoding ? [architecture.encoding] : [];
  for (let l = 1; l < sizes.length; l++) {
    const last = l === sizes.length - 1;
    layers.push({ type: 'dense', units: sizes[l]! }, ...(last ? [{ type: architecture.output }] : architecture.hidden));
  }
  return {
    inputSize: sizes[0]!,
    layers,
    loss: architecture.loss,
    optimizer: architecture.optimizer,
    batchSize: batch,
    seed: SEED,
    backend,
  };
}

/** createNetwork of our spec (its names checked by the engine, see OurSpec). */
export function createOurNetwork(spec: OurSpec): Promise<Network> {
  return createNetwork(spec as NetworkSpec);
}

/** How far a runner's first-step loss may be from ours, relative. */
export const LOSS_TOLERANCE = 1e-4;

/**
 * A runner whose one step (measured first, compilation included) takes longer is left out of the
 * case: 60 s for the step cases (TF.js WebGPU's first 784-1024-1024-10 step took 25–33 s here; a
 * warm-up and three samples then take a few minutes), 15 s for the fit cases, whose every operation
 * is an epoch of several steps.
 */
export const STEP_LIMIT_MS = { step: 60_000, fit: 15_000 } as const;

/**
 * A matmul cell whose one product would take longer (predicted from the next smaller size) is left
 * out: at 2048³ the scalar kernels and the slower peers would take minutes a cell.
 */
export const MATMUL_LIMIT_MS = 10_000;

const limitOf = (c: TrainingCase) => (c.kind === 'fit' ? STEP_LIMIT_MS.fit : STEP_LIMIT_MS.step);

/** A runner computed something else than ours: its cell fails, loudly, and the run's exit code says so. */
export class CheckError extends Error {
  override name = 'CheckError';
}

export interface Batch {
  x: Float32Array;
  y: Float32Array;
  rows: number;
}

/** The case's data (trainingData) cut in batches of c.batch rows, in order: a step uses the first. */
export function batchesOf(c: TrainingCase): Batch[] {
  const rows = caseRows(c);
  const { x, y } = trainingData(c.sizes, rows);
  const inputs = c.sizes[0]!;
  const outputs = c.sizes[c.sizes.length - 1]!;
  const batches: Batch[] = [];
  for (let start = 0; start < rows; start += c.batch) {
    const end = Math.min(rows, start + c.batch);
    batches.push({ x: x.slice(start * inputs, end * inputs), y: y.slice(start * outputs, end * outputs), rows: end - start });
  }
  return batches;
}

const memo = new Map<string, Promise<unknown>>();
function memoize<T>(key: string, make: () => Promise<T>): Promise<T> {
  let value = memo.get(key) as Promise<T> | undefined;
  if (!value) {
    value = make();
    memo.set(key, value);
  }
  return value;
}

/**
 * Our initial weights for these dense sizes (TRAINING's network's), which every runner starts from,
 * whatever the architecture: with an input encoding, the first size is the encoded width (denseSizes).
 */
export function initialWeights(sizes: number[]): Promise<DenseWeights[]> {
  return memoize(`weights ${sizes.join('-')}`, async () => {
    const net = await createOurNetwork(networkSpec('cpu', sizes, 1));
    try {
      return await net.getWeights() as DenseWeights[];
    } finally {
      net.dispose();
    }
  });
}

/**
 * Whether the case is checked in inference rather than by its first step: a case of its own
 * architecture. Each runner draws its own dropout masks, and at the initial weights they move the
 * first step's loss by +1.7% ± 1.0% (the float64 forward over 60 masks: from −0.4% to +4.3%), so a
 * tolerance wide enough for them would pass a network without dropout, or with another rate. In
 * inference dropout is the identity and every float32 runner lands within 1e-6 of the float64 loss,
 * while the loss still depends on every other layer, the loss function and the weights: ε 1e-5
 * instead of 1e-3 moves it 1.6e-4, no normalisation 6%, leakyRelu for gelu 2.5% (though gelu's tanh
 * form only 2.3e-6, too close to tell). Such a case is checked against the bench's float64 forward
 * (float64.ts), since our engine may not build its network; the others against our cpu backend's
 * first step.
 */
export function checksInference(c: TrainingCase): boolean {
  return c.kind === 'step' && c.architecture !== undefined;
}

/** What every runner's first loss must be: see checksInference. */
function expectedFirstLoss(c: TrainingCase): Promise<number> {
  if (checksInference(c)) {
    return memoize(`float64 ${c.name}`, async () => {
      const first = batchesOf(c)[0]!;
      return float64Loss(c.sizes, architectureOf(c), await initialWeights(denseSizes(c)), first.x, first.y);
    });
  }
  return memoize(`loss ${c.sizes.join('-')} b${c.batch} r${caseRows(c)}`, async () => {
    const net = await createOurNetwork(networkSpec('cpu', c.sizes, c.batch));
    try {
      const first = batchesOf(c)[0]!;
      return await net.trainBatch(first.x, first.y);
    } finally {
      net.dispose();
    }
  });
}

/**
 * Compares a runner's first loss (checksInference says which) with the expected one, prints the
 * check line, and returns the relative difference; throws CheckError beyond LOSS_TOLERANCE.
 */
export async function checkFirstLoss(c: TrainingCase, runner: string, loss: number, log: Log): Promise<number> {
  const expected = await expectedFirstLoss(c);
  const relative = Math.abs(loss - expected) / Math.abs(expected);
  const ok = relative <= LOSS_TOLERANCE;
  const line = checksInference(c)
    ? `${c.name} ${runner}: inference loss ${loss.toPrecision(7)} vs float64 ${expected.toPrecision(7)}, relative difference ${relative.toExponential(1)}`
    : `${c.name} ${runner}: first-step loss ${loss.toPrecision(7)} vs ours ${expected.toPrecision(7)}, relative difference ${relative.toExponential(1)}`;
  if (!ok) throw new CheckError(`${line} > ${LOSS_TOLERANCE}: not the same computation`);
  log(`check  ${line} ≤ ${LOSS_TOLERANCE}`);
  return relative;
}

const firstSteps = new Map<string, number>();
// The architecture too: the LN-GELU case has the sizes and batch of the 256-wide scaling point.
const stepKey = (runner: string, c: TrainingCase) => `${runner} ${c.sizes.join('-')} b${c.batch} ${JSON.stringify(architectureOf(c))}`;

/**
 * A Skip when this runner's first step at these sizes, timed in an earlier case, is over this
 * case's limit (so the fit case does not pay for a step already found too slow).
 */
export function knownSlow(runner: string, c: TrainingCase): Skip | undefined {
  const ms = firstSteps.get(stepKey(runner, c));
  return ms === undefined || ms <= limitOf(c) ? undefined : tooSlow(ms, c);
}

/** Records how long this runner's first step took; a Skip when it is over the case's STEP_LIMIT_MS. */
export function timedFirstStep(runner: string, c: TrainingCase, ms: number): Skip | undefined {
  firstSteps.set(stepKey(runner, c), ms);
  return ms <= limitOf(c) ? undefined : tooSlow(ms, c);
}

function tooSlow(ms: number, c: TrainingCase): Skip {
  return { skip: `one step took ${(ms / 1000).toFixed(1)} s (first step, compilation included), over the ${limitOf(c) / 1000} s limit of a ${c.kind} case` };
}

/** Milliseconds an async call took, with its result. */
export async function timed<T>(call: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await call();
  return [result, performance.now() - start];
}

let navigatorGpu: Promise<boolean> | undefined;

/**
 * Gives the peer libraries a `navigator.gpu`, as a browser would: a second GPU object of Dawn (npm
 * `webgpu`, the one our engine uses), made after our requestAdapter() has found an adapter, so that it
 * sees the same Vulkan driver (on a machine without a GPU, requestAdapter points the Vulkan loader at
 * SwiftShader through VK_ICD_FILENAMES, which a GPU object reads when it is made). Each library then
 * asks it for the same adapter and makes its own device, as it does in a browser. False when there is
 * no adapter. Dawn's GPU object must outlive its devices: navigator keeps it for the process.
 */
export function installNavigatorGpu(): Promise<boolean> {
  navigatorGpu ??= (async () => {
    const scope = globalThis as { navigator?: { gpu?: GPU } };
    if (scope.navigator?.gpu) return true;
    if (!(await requestAdapter())) return false;
    const moduleName = 'webgpu';
    const dawn = (await import(/* @vite-ignore */ moduleName)) as { create: (options: string[]) => GPU };
    // Every device the peers request from it counts its buffers (gpu-memory.ts).
    const gpu = countDevices(dawn.create([]));
    if (scope.navigator) Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
    else Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `Node.js/${process.version}` }, configurable: true, writable: true });
    return true;
  })();
  return navigatorGpu;
}

const PEER_PACKAGES = ['@jax-js/jax', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm', 'onnxruntime-web', 'webgpu'];

/** The installed versions of the peer libraries (and of Dawn's bindings); those not installed are left out. */
export function peerVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of PEER_PACKAGES) {
    try {
      const file = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
      versions[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      // Not installed: its runners report the import error themselves.
    }
  }
  return versions;
}

/**
 * A throughput step case's runner whose step at the largest smaller batch of the same network (an
 * earlier row of this run) predicts one step here over this long is left out before anything is
 * built: its cell would take at least four such steps (the first, a warm-up, two samples), minutes
 * on SwiftShader at 2^18 rows.
 */
export const THROUGHPUT_STEP_LIMIT_MS = 10_000;

/** Why a throughput step case is left out for `runner`, if it is (see THROUGHPUT_STEP_LIMIT_MS). */
export function predictedSlowStep(c: Extract<Case, { kind: 'step' }>, cases: readonly Case[], runner: string, rows: Row[]): string | undefined {
  const smaller = cases.filter((other): other is Extract<Case, { kind: 'step' }> => other.kind === 'step' && other.throughput === true
    && other.batch < c.batch && other.architecture === c.architecture && other.sizes.join() === c.sizes.join());
  const measured = smaller.flatMap((other) => rows.filter((row) => row.case === other.name && row.runner === runner).map((row) => ({ other, row })));
  const nearest = measured.sort((a, b) => b.other.batch - a.other.batch)[0];
  if (!nearest) return undefined;
  const ms = stepFlops(c) / (nearest.row.median * 1e6);
  if (ms <= THROUGHPUT_STEP_LIMIT_MS) return undefined;
  return `at ${nearest.other.batch} rows it ran ${nearest.row.median.toPrecision(3)} GFLOP/s, so one step of ${c.batch} rows would take about ` +
    `${(ms / 1000).toFixed(0)} s, over the ${THROUGHPUT_STEP_LIMIT_MS / 1000} s limit`;
}

/**
 * Why a matmul cell is left out, if it is: its rate at the next smaller size (half, 8× fewer FLOPs)
 * says one product here would take over MATMUL_LIMIT_MS, and a cell takes at least four (warm-up and
 * three samples). Undefined when it stays, or when there is no smaller size to go by.
 */
export function predictedSlow(c: Extract<Case, { kind: 'matmul' }>, runner: string, variant: string | undefined, rows: Row[]): string | undefined {
  const smaller = rows.find((row) => row.case === `matmul-${c.form.name}-${c.size / 2}` && row.runner === runner && row.variant === variant);
  if (!smaller) return undefined;
  const ms = matmulFlops(c.size) / (smaller.median * 1e6);
  if (ms <= MATMUL_LIMIT_MS) return undefined;
  return `at ${c.size / 2}³ it ran ${smaller.median.toPrecision(3)} GFLOP/s, so one ${c.size}³ product would take about ` +
    `${(ms / 1000).toFixed(0)} s, over the ${MATMUL_LIMIT_MS / 1000} s limit`;
}

/** The threads our cpu backend runs on by default (every core, at most 16): what a native peer is given too. */
export async function ourCpuThreads(): Promise<number> {
  return Math.min(MAX_THREADS, await availableCores());
}

const inputs = new Map<string, Float32Array>();

/** An inference case's rows (trainingData's inputs), made once per width and row count and shared by every runner. */
export function predictionInput(c: PredictCase): Float32Array {
  const key = `${c.sizes[0]} r${c.rows}`;
  let x = inputs.get(key);
  if (!x) {
    x = trainingData([c.sizes[0]!, 1], c.rows).x;
    inputs.set(key, x);
  }
  return x;
}

/** How many of an inference case's rows are checked against ours: enough to see every output, few enough to be quick. */
const CHECKED_ROWS = 256;
/** How far a runner's outputs may be from our cpu backend's, absolute (sigmoid outputs in (0, 1), float32 sums of 1,024 terms). */
export const PREDICT_TOLERANCE = 1e-5;

/** The first rows of x that are checked (all of them up to CHECKED_ROWS). */
export const checkedRows = (c: PredictCase, x: Float32Array): Float32Array => x.subarray(0, Math.min(c.rows, CHECKED_ROWS) * c.sizes[0]!);

/** Our cpu backend's outputs for the checked rows, from the shared initial weights. */
function expectedOutputs(c: PredictCase): Promise<Float32Array> {
  return memoize(`predict ${c.sizes.join('-')} r${Math.min(c.rows, CHECKED_ROWS)}`, async () => {
    const net = await createOurNetwork(networkSpec('cpu', c.sizes, CHECKED_ROWS));
    try {
      await net.setWeights(await initialWeights(c.sizes));
      return await net.predict(checkedRows(c, predictionInput(c)));
    } finally {
      net.dispose();
    }
  });
}

/**
 * An inference cell whose one predict would take longer is left out (the step cases' limit): a cell
 * takes at least four (warm-up and three samples), and on SwiftShader our webgpu predict of 65,536
 * rows through the wide network would take about ten minutes each.
 */
export const PREDICT_LIMIT_MS = STEP_LIMIT_MS.step;

/** A Skip when one predict of the case's rows, extrapolated from `ms` for the checked rows (compiled, a second run), would be over PREDICT_LIMIT_MS. */
export function predictTooSlow(c: PredictCase, ms: number): Skip | undefined {
  const checked = Math.min(c.rows, CHECKED_ROWS);
  const predicted = ms * c.rows / checked;
  if (predicted <= PREDICT_LIMIT_MS) return undefined;
  return { skip: `${checked} rows took ${ms.toFixed(0)} ms, so one predict of ${c.rows.toLocaleString('en-US')} would take about ` +
    `${(predicted / 1000).toFixed(0)} s, over the ${PREDICT_LIMIT_MS / 1000} s limit` };
}

/** Compares a runner's outputs for the checked rows with ours, prints the check line; CheckError beyond PREDICT_TOLERANCE. */
export async function checkPredictions(c: PredictCase, runner: string, outputs: Float32Array, log: Log): Promise<void> {
  const expected = await expectedOutputs(c);
  if (outputs.length !== expected.length) throw new CheckError(`${c.name} ${runner}: ${outputs.length} outputs, expected ${expected.length}`);
  const worst = expected.reduce((max, value, i) => Math.max(max, Math.abs(value - outputs[i]!)), 0);
  const rows = expected.length / c.sizes.at(-1)!;
  const line = `${c.name} ${runner}: outputs of ${rows} row${rows === 1 ? '' : 's'} within ${worst.toExponential(1)} of our cpu backend's`;
  if (!(worst <= PREDICT_TOLERANCE)) throw new CheckError(`${line}, over ${PREDICT_TOLERANCE}: not the same computation`);
  log(`check  ${line} ≤ ${PREDICT_TOLERANCE}`);
}

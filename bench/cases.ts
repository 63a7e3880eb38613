import { mulberry32 } from '../src/data/random.js';

/**
 * What is measured, described without reference to any engine, so every runner (our backends and the
 * peer libraries) builds the same thing from it. Each case times one operation: a training step, an
 * epoch of fit, one matrix product, or the cold start up to the first finished step.
 */
export type Case =
  /**
   * One trainBatch on `batch` rows, the loss read back. Sizes: input, hidden…, output. A scaling
   * point names its sweep and the runners it is for (the others leave it out), as may a case with
   * an architecture of its own (without one: TRAINING's). `inputs: 'gpuMatrix'`: x and y are given
   * as GpuMatrix, in buffers on the network's device (our webgpu runner only), against the same
   * case's Float32Array rows.
   */
  | {
    kind: 'step'; name: string; sizes: number[]; batch: number; architecture?: Architecture; sweep?: SweepPoint; runners?: readonly string[];
    inputs?: 'gpuMatrix';
    /** Reported as GFLOP/s (stepFlops over the step's time) rather than ms; the console adds steps/s. */
    throughput?: true;
  }
  /** One epoch of fit over `rows` rows in batches of `batch`, the loss read once at the end. */
  | { kind: 'fit'; name: string; sizes: number[]; batch: number; rows: number }
  /**
   * From nothing to the first finished step (the step case's work, loss read back): device and
   * backend set-up, network creation, shader or kernel compilation. Timed once, in a fresh state.
   */
  | { kind: 'warmup'; name: string; sizes: number[]; batch: number }
  /** One square product of `size`, in one of the forms backprop uses. */
  | { kind: 'matmul'; name: string; form: MatmulForm; size: number }
  /**
   * Inference: predict on `rows` rows of TRAINING's network at these sizes, from the initial weights
   * every runner shares, outputs returned to the caller; in rows per second. Only for `runners`.
   */
  | { kind: 'predict'; name: string; sizes: number[]; rows: number; runners: readonly string[] };

/**
 * What a training case's network computes around its dense layers, for every runner to build: the
 * layers that follow each hidden dense layer, in order, the output's activation, the loss and the
 * optimizer. A case without one trains TRAINING's. The names and parameters are our API's.
 */
export interface Architecture {
  /** What the inputs go through before the first dense layer: nothing without one. */
  encoding?: InputEncoding;
  hidden: readonly HiddenLayer[];
  /** 'linear': the logits, which softmaxCrossEntropy's softmax reads. */
  output: 'sigmoid' | 'linear';
  loss: 'mse' | 'softmaxCrossEntropy';
  optimizer: OptimizerSetting;
}

/**
 * NeRF's positional encoding: each input x becomes sin and cos of 2^k·π·x for k < octaves. The
 * columns go, per input, sin k=0, cos k=0, sin k=1, cos k=1, … (our layer's order, frequencyColumn
 * in src/ops/layers.ts), which the first dense layer's weights, shared by every runner, assume.
 */
export interface InputEncoding {
  type: 'frequencyEncoding';
  octaves: number;
}

export type HiddenLayer =
  | { type: 'relu' }
  | { type: 'leakyRelu'; slope: number }
  /** Over each row's features: (v − mean)/√(variance + ε)·γ + β, the variance biased, γ 1 and β 0 at first (Keras). */
  | { type: 'layerNormalization'; epsilon: number }
  /** Exact: z·Φ(z), with erf. */
  | { type: 'gelu' }
  /** Inverted: in training each value is kept with probability 1 − rate and scaled by 1/(1 − rate); the identity otherwise. */
  | { type: 'dropout'; rate: number };

export type OptimizerSetting =
  | { type: 'sgd'; learningRate: number }
  /**
   * AdamW, Keras's decoupled decay on every parameter, ε on √v̂ as in TF.js's Adam:
   * p ← p − lr·(m̂/(√v̂ + ε) + weightDecay·p), m̂ and v̂ the bias-corrected moments.
   */
  | { type: 'adamw'; learningRate: number; beta1: number; beta2: number; epsilon: number; weightDecay: number };

/** Where a scaling case sits: the batch of a 784-256-128-10 network, or the width w of 784-w-w-10 at batch 256. */
export interface SweepPoint {
  axis: Sweep;
  value: number;
}

export type Sweep = 'batch' | 'width';
export const SWEEPS: Sweep[] = ['batch', 'width'];

/**
 * The runners of the scaling cases: ours and jax-js's. TF.js is 5–10× slower per step on both its
 * CPU and WebGPU backends, and the sweeps' largest points would keep it busy for many minutes.
 */
export const SCALING_RUNNERS = ['webgpu', 'cpu', 'jax-webgpu', 'jax-wasm'] as const;

/** Whether the runner measures the case (a case without a list is for every runner). */
export function caseRunsOn(c: Case, runner: string): boolean {
  return (c.kind !== 'step' && c.kind !== 'predict') || !c.runners || c.runners.includes(runner);
}

/** The network of the training cases that name no architecture of their own. */
export const TRAINING: Architecture = {
  hidden: [{ type: 'leakyRelu', slope: 0.01 }],
  output: 'sigmoid',
  loss: 'mse',
  optimizer: { type: 'sgd', learningRate: 0.1 },
};

/** Seeds the training data and our initial weights. */
export const SEED = 1;

/** The architecture a training case trains: TRAINING's, unless a step case names its own. */
export function architectureOf(c: TrainingCase): Architecture {
  return c.kind === 'step' ? c.architecture ?? TRAINING : TRAINING;
}

/**
 * A network as one is written today: per-row normalisation, GELU and dropout after each hidden dense
 * layer, AdamW (Keras's defaults), softmax cross-entropy on one-hot classes.
 */
export const LN_GELU_DROPOUT_ADAMW: Architecture = {
  hidden: [{ type: 'layerNormalization', epsilon: 1e-3 }, { type: 'gelu' }, { type: 'dropout', rate: 0.1 }],
  output: 'linear',
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adamw', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.004 },
};

/**
 * The neural-image network of the browser app's panel: (x, y) → frequencyEncoding(8) → 4 × (dense 64,
 * relu) → dense 3 → sigmoid (rgb), mse, Adam at 0.01 (AdamW with no decay; ε on √v̂, Keras's 1e-7).
 */
export const NEURAL_IMAGE: Architecture = {
  encoding: { type: 'frequencyEncoding', octaves: 8 },
  hidden: [{ type: 'relu' }],
  output: 'sigmoid',
  loss: 'mse',
  optimizer: { type: 'adamw', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 },
};
const NEURAL_IMAGE_SIZES = [2, 64, 64, 64, 64, 3];
/** 2^14, 2^16 and 2^18 rows; a quick run keeps a stand-in of 2^12, so the smoke test walks the path in seconds. */
const NEURAL_IMAGE_BATCHES = [2 ** 14, 2 ** 16, 2 ** 18];
const NEURAL_IMAGE_QUICK_BATCH = 2 ** 12;

/**
 * Its runners: ours on webgpu with the fused small-MLP kernels forced and forbidden (fusedMlp
 * 'always' and 'never', engine.ts fusedRunner), the peers' WebGPU backends, and our cpu backend.
 */
export const NEURAL_IMAGE_RUNNERS = ['webgpu-fused', 'webgpu-unfused', 'jax-webgpu', 'tfjs-webgpu', 'cpu'] as const;

function neuralImageCases(quick: boolean): Case[] {
  return (quick ? [NEURAL_IMAGE_QUICK_BATCH] : NEURAL_IMAGE_BATCHES).map((batch): Case => ({
    kind: 'step', name: `step-neural-image-b${batch}`, sizes: NEURAL_IMAGE_SIZES, batch, architecture: NEURAL_IMAGE,
    runners: NEURAL_IMAGE_RUNNERS, throughput: true,
  }));
}

/** The width the first dense layer takes: the inputs, or their encoding's 2·octaves columns each. */
export function encodedWidth(inputs: number, architecture: Architecture): number {
  return architecture.encoding ? inputs * 2 * architecture.encoding.octaves : inputs;
}

/** The dense layers' sizes of a training case: its sizes with the input widened by the encoding, if any. */
export function denseSizes(c: TrainingCase): number[] {
  return [encodedWidth(c.sizes[0]!, architectureOf(c)), ...c.sizes.slice(1)];
}

/** The runners of that case: ours, each peer's WebGPU and WebAssembly backends, and PyTorch's CPU. */
export const LN_GELU_DROPOUT_ADAMW_RUNNERS = ['webgpu', 'cpu', 'jax-webgpu', 'jax-wasm', 'tfjs-webgpu', 'tfjs-wasm', 'torch-cpu'] as const;

/** A·B (forward), A·Bᵀ (error sent down), Aᵀ·B (weight gradient); A and B stored row-major as named. */
export interface MatmulForm {
  name: 'ab' | 'abt' | 'atb';
  transposeA: boolean;
  transposeB: boolean;
}

const MATMUL_FORMS: MatmulForm[] = [
  { name: 'ab', transposeA: false, transposeB: false },
  { name: 'abt', transposeA: false, transposeB: true },
  { name: 'atb', transposeA: true, transposeB: false },
];

export type Unit = 'ms' | 'examples/s' | 'GFLOP/s' | 'rows/s';
export const UNITS: Unit[] = ['ms', 'examples/s', 'GFLOP/s', 'rows/s'];

/** Whether a smaller figure is better (time) or a larger one (throughput). */
export const lowerIsBetter = (unit: Unit) => unit === 'ms';

export function unitOf(c: Case): Unit {
  switch (c.kind) {
    case 'fit': return 'examples/s';
    case 'matmul': return 'GFLOP/s';
    case 'predict': return 'rows/s';
    case 'step': return c.throughput ? 'GFLOP/s' : 'ms';
    case 'warmup': return 'ms';
    default: return c satisfies never;
  }
}

/** The inference cases. */
export type PredictCase = Extract<Case, { kind: 'predict' }>;

/** The cases that train a network. */
export type TrainingCase = Extract<Case, { kind: 'step' | 'fit' | 'warmup' }>;

/** The case's figure from the time one operation took. */
export function figure(c: Case, msPerOperation: number): number {
  switch (c.kind) {
    case 'step': return c.throughput ? stepFlops(c) / (msPerOperation * 1e6) : msPerOperation;
    case 'warmup': return msPerOperation;
    case 'fit': return c.rows / (msPerOperation / 1000);
    case 'matmul': return matmulFlops(c.size) / (msPerOperation * 1e6);
    case 'predict': return c.rows / (msPerOperation / 1000);
    default: return c satisfies never;
  }
}

const MNIST_SIZES = [784, 256, 128, 10];
const MNIST_BATCH = 256;
const WIDE_SIZES = [784, 1024, 1024, 10];
const WIDE_BATCH = 1024;
/** An epoch of the wide fit case: few batches, since one step takes seconds on a 2-core machine. */
const WIDE_FIT_BATCHES = 4;
const SCALING_BATCHES = [32, 64, 128, 256, 512, 1024, 2048, 4096];
const SCALING_WIDTHS = [64, 128, 256, 512, 1024, 2048];

/**
 * Case 5: the step against the batch (at 784-256-128-10) and against the width (784-w-w-10 at batch
 * 256). A quick run keeps the smallest point of each sweep, so the smoke test walks the code path.
 */
function scalingCases(quick: boolean): Case[] {
  const batches = quick ? SCALING_BATCHES.slice(0, 1) : SCALING_BATCHES;
  const widths = quick ? SCALING_WIDTHS.slice(0, 1) : SCALING_WIDTHS;
  const point = (axis: Sweep, value: number, sizes: number[], batch: number): Case =>
    ({ kind: 'step', name: `scale-${axis}-${axis === 'batch' ? 'b' : 'w'}${value}`, sizes, batch, sweep: { axis, value }, runners: SCALING_RUNNERS });
  return [
    ...batches.map((batch) => point('batch', batch, MNIST_SIZES, batch)),
    ...widths.map((width) => point('width', width, [784, width, width, 10], MNIST_BATCH)),
  ];
}

/** The cases of a run; `realGpu` (a hardware adapter) adds the 4096³ products, minutes a cell on SwiftShader. */
export function benchCases(quick: boolean, realGpu = false): Case[] {
  const matmulSizes = quick ? [256] : [256, 512, 1024, 2048, ...(realGpu ? [4096] : [])];
  // A quick run's epoch is two batches: enough to walk fit's code, and TF.js WebGPU takes ~1 s a batch.
  const fitBatches = quick ? 2 : 10;
  return [
    // First, so that every runner meets it cold: nothing of its backend has run in this process yet.
    { kind: 'warmup', name: 'warmup-784-256-128-10-b256', sizes: MNIST_SIZES, batch: MNIST_BATCH },
    { kind: 'step', name: 'step-784-256-128-10-b256', sizes: MNIST_SIZES, batch: MNIST_BATCH },
    { kind: 'fit', name: 'fit-784-256-128-10-b256', sizes: MNIST_SIZES, batch: MNIST_BATCH, rows: fitBatches * MNIST_BATCH },
    // About 11 GFLOP a step, 30 times the MNIST step: where arithmetic, not overhead, decides.
    ...(quick ? [] : [
      { kind: 'step', name: 'step-784-1024-1024-10-b1024', sizes: WIDE_SIZES, batch: WIDE_BATCH },
      { kind: 'fit', name: 'fit-784-1024-1024-10-b1024', sizes: WIDE_SIZES, batch: WIDE_BATCH, rows: WIDE_FIT_BATCHES * WIDE_BATCH },
    ] satisfies Case[]),
    // In quick runs too: the only case whose network has layer normalisation, dropout and AdamW.
    {
      kind: 'step', name: 'step-784-256-256-10-ln-gelu-dropout-adamw-b256', sizes: [784, 256, 256, 10], batch: MNIST_BATCH,
      architecture: LN_GELU_DROPOUT_ADAMW, runners: LN_GELU_DROPOUT_ADAMW_RUNNERS,
    },
    // The fixed cost of a step: with almost no arithmetic, what remains is dispatch, submit and readback.
    { kind: 'step', name: 'step-2-2-2-b1', sizes: [2, 2, 2], batch: 1 },
    // The same two steps with x and y already on the GPU (GpuMatrix): no upload, a copy dispatch each and the buffer probe.
    ...(quick ? [] : [
      { kind: 'step', name: 'step-gpumatrix-784-256-128-10-b256', sizes: MNIST_SIZES, batch: MNIST_BATCH, inputs: 'gpuMatrix', runners: ['webgpu'] },
      { kind: 'step', name: 'step-gpumatrix-2-2-2-b1', sizes: [2, 2, 2], batch: 1, inputs: 'gpuMatrix', runners: ['webgpu'] },
    ] satisfies Case[]),
    ...predictCases(quick),
    ...MATMUL_FORMS.flatMap((form) => matmulSizes.map((size): Case => ({ kind: 'matmul', name: `matmul-${form.name}-${size}`, form, size }))),
    // The neural-image network, fused and unfused against the peers; its larger batches take seconds a step on SwiftShader.
    ...neuralImageCases(quick),
    // Last: many cells, each timed over a shorter window (timing.ts SCALING).
    ...scalingCases(quick),
  ];
}

/**
 * The runners of the inference cases: ours, and ONNX Runtime Web on the model our toOnnx() exports
 * (wasm; webgpu where its WebGPU execution provider runs in Node).
 */
export const PREDICT_RUNNERS = ['cpu', 'webgpu', 'ort-wasm', 'ort-webgpu'] as const;

/** The rows of the inference cases: one (latency), a batch, and a data set (throughput). */
const PREDICT_ROWS = [1, 256, 65_536];

/**
 * Our networks predict in chunks of their batchSize: the rows themselves up to this, then chunks of
 * it (a 65,536-row batchSize would make the wide network's training buffers 1.3 GiB).
 */
export const PREDICT_BATCH_LIMIT = 4096;

/** Case 6: predict throughput on both networks; a quick run keeps the small network's first two sizes. */
function predictCases(quick: boolean): Case[] {
  const sizes = quick ? [MNIST_SIZES] : [MNIST_SIZES, WIDE_SIZES];
  const rows = quick ? PREDICT_ROWS.slice(0, 2) : PREDICT_ROWS;
  return sizes.flatMap((s) => rows.map((r): Case => ({ kind: 'predict', name: `predict-${s.join('-')}-r${r}`, sizes: s, rows: r, runners: PREDICT_RUNNERS })));
}

/** FLOPs of one square product of `size`: a multiply and an add per term. */
export function matmulFlops(size: number): number {
  return 2 * size ** 3;
}

/**
 * About the FLOPs of one training step: per dense layer, 2 per multiply-add forward and 4 backward
 * (two products), the first layer's included as in every case (no engine sends its error down to
 * the inputs, so the counts are comparable across cases rather than exact). With an input encoding
 * (per row, 2·octaves columns per input) the first layer's multiply-adds are over the encoded width,
 * plus 2 per encoded column (the 2^k·π·x scaling and its sine or cosine), forward only: nothing
 * below the encoding has a gradient. Elementwise work (activations, the output's sigmoid, the loss,
 * the optimizer's update) is left out: at the neural-image network, 2 → 32 → 64⁴ → 3, the products
 * are 6·14,528 = 87,168 FLOPs a row, the encoding 64, the output's sigmoid and mse a few per value.
 */
export function stepFlops(c: { sizes: number[]; batch: number; architecture?: Architecture }): number {
  const architecture = c.architecture ?? TRAINING;
  const sizes = [encodedWidth(c.sizes[0]!, architecture), ...c.sizes.slice(1)];
  let perRow = 0;
  for (let l = 1; l < sizes.length; l++) perRow += sizes[l - 1]! * sizes[l]!;
  const encoding = architecture.encoding ? 2 * sizes[0]! : 0;
  return c.batch * (6 * perRow + encoding);
}

/** The rows a training case's data has: an epoch's for fit, one batch otherwise. */
export function caseRows(c: TrainingCase): number {
  return c.kind === 'fit' ? c.rows : c.batch;
}

/** Inputs in [0, 1) like pixel intensities and one-hot targets, the same for every runner. */
export function trainingData(sizes: number[], rows: number): { x: Float32Array; y: Float32Array } {
  const random = mulberry32(SEED);
  const inputs = sizes[0]!;
  const outputs = sizes[sizes.length - 1]!;
  const x = Float32Array.from({ length: rows * inputs }, random);
  const y = new Float32Array(rows * outputs);
  for (let r = 0; r < rows; r++) y[r * outputs + Math.floor(random() * outputs)] = 1;
  return { x, y };
}

/** A square matrix with entries in [-1, 1). */
export function randomMatrix(size: number, seed: number): Float32Array {
  return randomValues(size * size, seed);
}

/** `count` entries in [-1, 1), seeded. */
export function randomValues(count: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: count }, () => random() * 2 - 1);
}

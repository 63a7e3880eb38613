/**
 * classWeights (Keras's class_weight) in fit and trainBatch: a step's weighted loss and gradient
 * against hand-computed values, the three backends agreeing on weighted traces, weights of 1 the
 * same bits as none, evaluation and validation unweighted, the loss kernels against the reference,
 * and every bad classWeights refused with the network training as its twin afterwards.
 */
import { describe, expect, it } from 'vitest';
import { createNetwork, SpecError, type DenseWeights, type FitOptions, type Network, type NetworkSpec } from '../src/index.js';
import { chooseKernels } from '../src/cpu/choose.js';
import { typescriptKernels, type CpuKernels } from '../src/cpu/kernels.js';
import { referenceLoss } from '../src/reference/reference.js';
import type { Loss } from '../src/ops/index.js';
import { LINEAR_WORKGROUP } from '../shaders/index.js';
import { runKernel } from './support/kernel-runner.js';

const BACKENDS = ['reference', 'cpu', 'webgpu'] as const;
type BackendName = (typeof BACKENDS)[number];

const TIMEOUT_MS = 60_000;
/** Fails the test instead of hanging it. */
function bounded<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), TIMEOUT_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function using<T>(spec: NetworkSpec, run: (net: Network) => Promise<T>): Promise<T> {
  const net = await createNetwork(spec);
  try {
    return await bounded(run(net));
  } finally {
    net.dispose();
  }
}

const weightsOf = async (net: Network) => (await net.getWeights() as DenseWeights[]).flatMap((l) => [...l.weights, ...l.bias]);

/** Each of `actual` within `tolerance` of `expected` (relative to 1 + |expected|). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance * (1 + Math.abs(expected[i]!)));
  }
}

describe('one weighted step, by hand', () => {
  // A 2 → 2 identity layer (no bias): the logits are the inputs, so each row's loss is known.
  const X = [[0.5, -1], [2, 0.25], [-0.75, 0.5], [1, 1.5], [0.1, -0.3]];
  const LABELS = [0, 0, 1, 0, 1];
  const CLASS_WEIGHTS = [0.5, 3];
  const RATE = 0.1;
  const logSumExp = (row: number[]) => Math.log(row.reduce((sum, v) => sum + Math.exp(v), 0));
  const rowLoss = (r: number) => logSumExp(X[r]!) - X[r]![LABELS[r]!]!;
  const rows = X.length;
  const weighted = X.reduce((sum, _, r) => sum + CLASS_WEIGHTS[LABELS[r]!]! * rowLoss(r), 0) / rows;
  const unweighted = X.reduce((sum, _, r) => sum + rowLoss(r), 0) / rows;
  // dL/db_j = Σ_r w_r (p_rj − t_rj) / rows; SGD moves the bias by −rate times it.
  const biasAfter = [0, 1].map((j) => -RATE * X.reduce((sum, row, r) => {
    const p = Math.exp(row[j]! - logSumExp(row));
    return sum + CLASS_WEIGHTS[LABELS[r]!]! * (p - (LABELS[r] === j ? 1 : 0));
  }, 0) / rows);
  const IDENTITY = { weights: [1, 0, 0, 1], bias: [0, 0] };
  const spec = (backend: BackendName): NetworkSpec => ({
    inputSize: 2, layers: [{ type: 'dense', units: 2 }], loss: 'softmaxCrossEntropy', optimizer: { type: 'sgd', learningRate: RATE },
    batchSize: 8, seed: 3, standardize: false, backend,
  });

  it.each(BACKENDS)('%s: trainBatch reports (Σ w_class·ℓ)/rows, steps along the weighted gradient; evaluate and a later step are unweighted', async (backend) => {
    await using(spec(backend), async (net) => {
      await net.setWeights([IDENTITY]);
      expect((await net.evaluate(X, LABELS)).loss).toBeCloseTo(unweighted, 5);
      expect(await net.trainBatch(X, LABELS, { classWeights: CLASS_WEIGHTS })).toBeCloseTo(weighted, 5);
      const [layer] = await net.getWeights() as DenseWeights[];
      expectClose(layer!.bias, biasAfter, 1e-6, 'bias after the weighted step');
      // The weights do not outlive their call: the next step is unweighted.
      await net.setWeights([IDENTITY]);
      expect(await net.trainBatch(X, LABELS)).toBeCloseTo(unweighted, 5);
    });
  });

  it.each(BACKENDS)('%s: binaryCrossEntropy on one output weighs by the target\'s side of 0.5', async (backend) => {
    const z = [0.5, -1, 2, -0.25];
    const targets = [1, 0, 0.75, 0.25];
    const weights = [2, 0.25];
    const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
    const expected = z.reduce((sum, v, r) => sum + weights[targets[r]! >= 0.5 ? 1 : 0]! * (softplus(v) - v * targets[r]!), 0) / z.length;
    await using({ ...spec(backend), inputSize: 1, layers: [{ type: 'dense', units: 1 }], loss: 'binaryCrossEntropy' }, async (net) => {
      await net.setWeights([{ weights: [1], bias: [0] }]);
      expect(await net.trainBatch(z.map((v) => [v]), targets.map((t) => [t]), { classWeights: Float32Array.from(weights) })).toBeCloseTo(expected, 5);
    });
  });
});

// Three imbalanced classes from a rule on four inputs.
const ROWS = 48;
const INPUT = 4;
const X_ROWS = Array.from({ length: ROWS }, (_, r) => [Math.sin(1.7 * r), ((r * 5) % 13) / 6 - 1, Math.cos(0.9 * r + 2), (r % 7) / 3 - 1]);
const X = Float32Array.from(X_ROWS.flat());
const CLASSES = Int32Array.from(X_ROWS.map(([a, b, c, d]) => (a! + b! > 1 ? 2 : c! - 0.5 * d! > 0.6 ? 1 : 0)));
const ONE_HOT = Float32Array.from([...CLASSES].flatMap((c) => [0, 1, 2].map((j) => (j === c ? 1 : 0))));
const BINARY = Float32Array.from(X_ROWS.map(([a, b]) => (a! - b! > 0.8 ? 1 : 0)));

type Task = 'class labels' | 'one-hot' | 'binary';
const TASKS: Task[] = ['class labels', 'one-hot', 'binary'];
const targetsOf = (task: Task) => (task === 'class labels' ? CLASSES : task === 'one-hot' ? ONE_HOT : BINARY);
const weightsFor = (task: Task) => (task === 'binary' ? [0.4, 2.5] : [0.5, 1.75, 3]);

function taskSpec(backend: BackendName, task: Task): NetworkSpec {
  return {
    inputSize: INPUT,
    layers: [{ type: 'dense', units: 7 }, { type: 'tanh' }, { type: 'dense', units: task === 'binary' ? 1 : 3 }],
    loss: task === 'binary' ? 'binaryCrossEntropy' : 'softmaxCrossEntropy',
    optimizer: { type: 'adam', learningRate: 0.03 },
    batchSize: 10, seed: 5, standardize: true, backend,
  };
}

/** fit with the task's weights (validation on the last rows), then two weighted trainBatch steps: every loss and the final weights. */
async function trace(backend: BackendName, task: Task, classWeights: readonly number[] | undefined) {
  return using(taskSpec(backend, task), async (net) => {
    const y = targetsOf(task);
    const options: FitOptions = { epochs: 3, validationSplit: 0.25, ...(classWeights ? { classWeights } : {}) };
    const history = await net.fit(X, y, options);
    const width = task === 'one-hot' ? 3 : 1;
    const steps = [];
    for (const start of [0, 10]) {
      steps.push(await net.trainBatch(X.subarray(start * INPUT, (start + 10) * INPUT), y.subarray(start * width, (start + 10) * width),
        classWeights ? { classWeights } : undefined));
    }
    return { loss: history.loss, valLoss: history.valLoss!, steps, weights: await weightsOf(net), evaluation: (await net.evaluate(X, y)).loss };
  });
}

describe('weighted training on every backend', () => {
  it.each(TASKS)('%s: reference, cpu and webgpu agree on a weighted fit and trainBatch trace within 1e-4', async (task) => {
    const traces = [];
    for (const backend of BACKENDS) traces.push(await trace(backend, task, weightsFor(task)));
    const [reference, ...others] = traces;
    others.forEach((other, i) => {
      const name = BACKENDS[i + 1]!;
      expectClose(other.loss, reference!.loss, 1e-4, `${name} loss`);
      expectClose(other.valLoss, reference!.valLoss, 1e-4, `${name} valLoss`);
      expectClose(other.steps, reference!.steps, 1e-4, `${name} steps`);
      expectClose(other.weights, reference!.weights, 1e-4, `${name} weights`);
    });
    // The weights change the training: the unweighted reference trains otherwise.
    const plain = await trace('reference', task, undefined);
    expect(Math.abs(plain.loss[0]! - reference!.loss[0]!)).toBeGreaterThan(1e-3);
  });

  it.each(['cpu', 'webgpu'] as const)('%s: weights of 1 give the same bits as no weights', async (backend) => {
    for (const task of TASKS) {
      const ones = await trace(backend, task, task === 'binary' ? [1, 1] : [1, 1, 1]);
      const none = await trace(backend, task, undefined);
      expect(ones, task).toEqual(none);
    }
  });

  it.each(BACKENDS)('%s: validation figures and evaluate are unweighted', async (backend) => {
    await using(taskSpec(backend, 'class labels'), async (net) => {
      const validation = [X.subarray(0, 20 * INPUT), CLASSES.subarray(0, 20)] as const;
      const history = await net.fit(X, CLASSES, { epochs: 2, validationData: validation, classWeights: [0.5, 1.75, 3] });
      // The last epoch's validation loss is of the final weights: evaluate's, unweighted.
      expect(history.valLoss![1]).toBeCloseTo((await net.evaluate(...validation)).loss, 6);
    });
  });
});

describe('the loss kernels with row weights', () => {
  const cases: [string, Loss, number, boolean][] = [
    ['softmaxCrossEntropy on class labels', { type: 'softmaxCrossEntropy' }, 5, true],
    ['softmaxCrossEntropy on targets', { type: 'softmaxCrossEntropy' }, 5, false],
    ['binaryCrossEntropy on one output', { type: 'binaryCrossEntropy' }, 1, false],
  ];
  const rows = 17;
  const kinds = ['typescript', 'wasm'] as const;

  async function kernelsOf(kind: (typeof kinds)[number], n: number): Promise<{ kernels: CpuKernels; buffers: Float32Array[] }> {
    const lengths = [rows * n, rows * n, rows * n, rows];
    if (kind === 'typescript') return { kernels: typescriptKernels, buffers: lengths.map((l) => new Float32Array(l)) };
    const choice = await chooseKernels(lengths, { panelRows: rows * n, transposedFloats: rows * n }, 1);
    return { kernels: choice.kernels, buffers: lengths.map((l) => choice.kernels.allocate(l)) };
  }

  it.each(kinds.flatMap((kind) => cases.map((c) => [kind, ...c] as const)))('%s: %s against the reference', async (kind, _name, loss, n, labels) => {
    const { kernels, buffers: [output, target, grad, rowWeights] } = await kernelsOf(kind, n);
    const logits = Array.from({ length: rows * n }, (_, i) => 2 * Math.sin(1.9 * i + 0.3));
    const classes = Array.from({ length: rows }, (_, r) => (r * 3) % Math.max(n, 2));
    const values = labels ? classes : n === 1 ? classes.map((c, r) => (c === 1 ? 0.5 + (r % 3) / 6 : (r % 3) / 6))
      : classes.flatMap((c) => Array.from({ length: n }, (_, j) => (j === c ? 0.7 : 0.3 / (n - 1))));
    const classWeights = Array.from({ length: Math.max(n, 2) }, (_, c) => 0.25 + c * 0.8);
    output!.set(logits);
    const run = (weights: Float32Array | undefined) => {
      target!.set(values);
      const value = kernels.loss(loss, output!, target!, grad!, rows, n, { name: 'linear', slope: 0 }, labels, weights);
      return { value, grad: grad!.slice(0, rows * n) };
    };
    rowWeights!.set(classes.map((c) => classWeights[c]!));
    const weighted = run(rowWeights!.subarray(0, rows));
    const expected = referenceLoss(loss, Float64Array.from(output!), { values: Float32Array.from(values), labels }, rows, n, classWeights);
    expectClose(weighted.grad, expected.grad, 1e-6, 'gradient');
    expect(Math.abs(weighted.value - expected.loss)).toBeLessThanOrEqual(1e-6 * (1 + expected.loss));
    // Ones multiply exactly: the same bits as no weights.
    rowWeights!.fill(1);
    expect(run(rowWeights!.subarray(0, rows))).toEqual(run(undefined));
    kernels.dispose();
  });
});

describe('the weighted WGSL loss kernel', () => {
  const rows = 19;
  const cases: [string, Loss, number, boolean][] = [
    ['softmaxCrossEntropy on class labels', { type: 'softmaxCrossEntropy' }, 4, true],
    ['softmaxCrossEntropy on targets', { type: 'softmaxCrossEntropy' }, 4, false],
    ['binaryCrossEntropy on one output', { type: 'binaryCrossEntropy' }, 1, false],
  ];

  it.each(cases)('%s: each row\'s term and gradient times its class weight, as the reference', async (_name, loss, n, labels) => {
    const output = Float32Array.from({ length: rows * n }, (_, i) => 2 * Math.cos(1.3 * i + 0.2));
    const classes = Array.from({ length: rows }, (_, r) => (r * 5) % Math.max(n, 2));
    // Ties and soft targets: the first largest entry names the class.
    const targets = Float32Array.from(labels ? classes : n === 1 ? classes.map((c, r) => (c === 1 ? 0.5 + (r % 4) / 8 : (r % 4) / 8))
      : classes.flatMap((c, r) => Array.from({ length: n }, (_, j) => (j === c ? 0.4 : j < c && r % 2 === 0 ? 0.4 : 0.2 / n))));
    const classWeights = Float32Array.from({ length: Math.max(n, 2) }, (_, c) => 0.3 + 0.9 * c);
    const scale = loss.type === 'binaryCrossEntropy' ? n : 1;
    const data = () => ({ 2: output, 3: targets, 4: new Float32Array(rows * n), 5: new Float32Array(rows) });
    const run = (weighted: boolean) => runKernel({
      key: { kind: 'loss', loss: loss.type, activation: 'linear', labels, ...(weighted ? { weighted: true as const } : {}) },
      dims: { m: rows, n, k: 0, rowsAxis: 1, slope: 0, scale },
      step: [rows, 0, 1, 0],
      data: weighted ? { ...data(), 6: classWeights } : data(),
      read: [4, 5],
      grid: [Math.ceil(rows / LINEAR_WORKGROUP), 1],
    });
    const out = await bounded(run(true));
    const expected = referenceLoss(loss, Float64Array.from(output), { values: targets, labels }, rows, n, classWeights);
    expectClose(out[4]!, expected.grad, 1e-6, 'gradient');
    const total = out[5]!.reduce((sum, v) => sum + v, 0) / (rows * scale);
    expect(Math.abs(total - expected.loss)).toBeLessThanOrEqual(1e-5 * (1 + expected.loss));
    // The plain kernel, which evaluate keeps, gives the unweighted reference.
    const plain = await bounded(run(false));
    expectClose(plain[4]!, referenceLoss(loss, Float64Array.from(output), { values: targets, labels }, rows, n).grad, 1e-6, 'plain gradient');
  });
});

describe('bad classWeights', () => {
  const bad: [string, unknown, RegExp][] = [
    ['too short', [1, 2], /fit: classWeights must have 3 entries, one per class, got 2/],
    ['too long', [1, 2, 3, 4], /fit: classWeights must have 3 entries, one per class, got 4/],
    ['negative', [1, -0.5, 1], /fit: classWeights\[1\] must be a finite number ≥ 0, got -0\.5/],
    ['NaN', [1, 1, NaN], /fit: classWeights\[2\] must be a finite number ≥ 0, got NaN/],
    ['infinite', Float32Array.from([Infinity, 1, 1]), /fit: classWeights\[0\] must be a finite number ≥ 0, got Infinity/],
    ['a string entry', [1, '2', 1], /fit: classWeights\[1\] must be a finite number ≥ 0, got "2"/],
    ['Keras\'s dict form', { 0: 1, 1: 2, 2: 3 }, /fit: classWeights must be an array of numbers or a Float32Array, one weight per class \(Keras's \{ 0: w0, 1: w1 \} is \[w0, w1\] here\), got an object/],
    ['a string', 'balanced', /fit: classWeights must be an array of numbers or a Float32Array, one weight per class .*, got "balanced"/],
  ];

  it.each(BACKENDS)('%s: each refused with SpecError by fit and trainBatch; the network then trains as its twin', async (backend) => {
    const [net, twin] = await Promise.all([createNetwork(taskSpec(backend, 'class labels')), createNetwork(taskSpec(backend, 'class labels'))]);
    try {
      for (const [what, classWeights, message] of bad) {
        await expect(bounded(net.fit(X, CLASSES, { classWeights } as unknown as FitOptions)), what).rejects.toThrow(SpecError);
        await expect(bounded(net.fit(X, CLASSES, { classWeights } as unknown as FitOptions)), what).rejects.toThrow(message);
        const batchMessage = new RegExp(message.source.replace('fit: ', 'trainBatch: '));
        await expect(bounded(net.trainBatch(X.subarray(0, 10 * INPUT), CLASSES.subarray(0, 10), { classWeights } as never)), what)
          .rejects.toThrow(batchMessage);
      }
      const [a, b] = await Promise.all([
        bounded(net.fit(X, CLASSES, { epochs: 2, classWeights: [1, 2, 3] })), bounded(twin.fit(X, CLASSES, { epochs: 2, classWeights: [1, 2, 3] })),
      ]);
      expect(a).toEqual(b);
      expect(await weightsOf(net)).toEqual(await weightsOf(twin));
    } finally {
      net.dispose();
      twin.dispose();
    }
  });

  it('refused for a loss that takes no class weights, and for binaryCrossEntropy on several outputs', async () => {
    const mse: NetworkSpec = { ...taskSpec('cpu', 'one-hot'), loss: 'mse' };
    const multiLabel: NetworkSpec = { ...taskSpec('cpu', 'one-hot'), loss: 'binaryCrossEntropy' };
    for (const [spec, message] of [
      [mse, /fit: classWeights apply to the classification losses softmaxCrossEntropy and binaryCrossEntropy only, and this network's loss is mse/],
      [multiLabel, /fit: classWeights with binaryCrossEntropy need one output unit \(classes 0 and 1\); this network has 3 outputs/],
    ] as const) {
      const [net, twin] = await Promise.all([createNetwork(spec), createNetwork(spec)]);
      try {
        await expect(bounded(net.fit(X, ONE_HOT, { classWeights: [1, 1, 1] }))).rejects.toThrow(SpecError);
        await expect(bounded(net.fit(X, ONE_HOT, { classWeights: [1, 1, 1] }))).rejects.toThrow(message);
        await expect(bounded(net.trainBatch(X.subarray(0, 4 * INPUT), ONE_HOT.subarray(0, 12), { classWeights: [1, 1, 1] })))
          .rejects.toThrow(new RegExp(message.source.replace('fit: ', 'trainBatch: ')));
        const [a, b] = await Promise.all([bounded(net.fit(X, ONE_HOT, { epochs: 2 })), bounded(twin.fit(X, ONE_HOT, { epochs: 2 }))]);
        expect(a).toEqual(b);
        expect(await weightsOf(net)).toEqual(await weightsOf(twin));
      } finally {
        net.dispose();
        twin.dispose();
      }
    }
  });

  it('trainBatch refuses an unknown option key, naming it', async () => {
    await using(taskSpec('cpu', 'class labels'), async (net) => {
      await expect(net.trainBatch(X.subarray(0, 4 * INPUT), CLASSES.subarray(0, 4), { classWeight: [1, 1, 1] } as never)).rejects.toThrow(SpecError);
      await expect(net.trainBatch(X.subarray(0, 4 * INPUT), CLASSES.subarray(0, 4), { classWeight: [1, 1, 1] } as never)).rejects.toThrow(/classWeight/);
    });
  });
});

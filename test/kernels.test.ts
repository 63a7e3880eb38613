import { describe, expect, it } from 'vitest';
import { readsPreActivation } from '../src/ops/index.js';
import { TEST_ACTIVATIONS, TEST_LOSSES, TEST_OPTIMIZER_VARIANTS, testLabels, testTargets, variantName } from './support/ops.js';
import {
  hyperFields, LINEAR_WORKGROUP, MATMUL_VARIANTS, matmulTile, momentBinding, NORM_BINDING, reduceGroups, vectorizable, type MatmulVariant,
} from '../shaders/index.js';
import { learningRateAt, lossDelta, momentSlots, optimizerVariant, type Loss, type LossName } from '../src/ops/index.js';
import type { Activation } from '../src/plan.js';
import { referenceLoss, referenceUpdate } from '../src/reference/reference.js';
import { normalizeOptimizer, type Optimizer } from '../src/spec.js';
import { randomArray, runKernel } from './support/kernel-runner.js';
import { biasCorrections } from '../src/webgpu/dims.js';
import { activate, derivativeAt, expectClose, gateOf, matmulOracle } from './support/oracle.js';

// Awkward sizes: 1, primes around powers of two, and non-multiples of the 32-wide tile and 4-wide block.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 17, 65], [17, 3, 257], [65, 65, 3], [257, 17, 33], [33, 257, 1], [1, 65, 17], [257, 1, 3],
];
// The vec4 kernels need multiples of 4 along the dimensions they read (see vectorizable); the batch
// rows (m for A·B and A·Bᵀ, k for Aᵀ·B) stay awkward.
const VEC4_SHAPES: [number, number, number][] = [
  [1, 4, 4], [3, 20, 68], [17, 36, 260], [65, 4, 12], [257, 132, 16], [68, 20, 3], [4, 4, 257], [260, 36, 17], [12, 8, 1],
];
type Variant = MatmulVariant;
const VARIANTS = Object.keys(MATMUL_VARIANTS) as Variant[];
const VARIANT_KEYS = MATMUL_VARIANTS;
/** [m, n, k, variant] cases for one form: every shape with the scalar kernel, the eligible ones with each vec4 variant. */
function matmulCases(transposeA: boolean, transposeB: boolean): [number, number, number, Variant][] {
  const eligible = VEC4_SHAPES.filter(([m, n, k]) => vectorizable(transposeA, transposeB, m, n, k));
  return [
    ...VARIANTS.filter((v) => !VARIANT_KEYS[v].vec4).flatMap((variant) => SHAPES.map(([m, n, k]) => [m, n, k, variant] as [number, number, number, Variant])),
    ...VARIANTS.filter((v) => VARIANT_KEYS[v].vec4).flatMap((variant) => eligible.map(([m, n, k]) => [m, n, k, variant] as [number, number, number, Variant])),
  ];
}
const ACTIVATIONS: Activation[] = TEST_ACTIVATIONS;
/** The output activations the loss kernel fuses: those whose derivative reads the output (the others run activationDerivative after it). */
const FUSED_INTO_LOSS = ACTIVATIONS.filter((a) => !readsPreActivation(a.name));

const grid2d = (m: number, n: number, variant: Variant): [number, number] => {
  const tile = matmulTile(VARIANT_KEYS[variant]);
  return [Math.ceil(n / tile.cols), Math.ceil(m / tile.rows)];
};
const rowsGrid = (rows: number): [number, number] => [Math.ceil(rows / LINEAR_WORKGROUP), 1];

describe('matmul kernels against the float64 oracle', () => {
  it.each(matmulCases(false, false))('A·B + bias, then every activation, at %i×%i×%i (%s)', async (m, n, k, variant) => {
    const a = randomArray(m * k, m);
    const b = randomArray(k * n, n + 7);
    const bias = randomArray(n, k + 3);
    const { value, magnitude } = matmulOracle(a, b, m, n, k, false, false);
    for (const activation of ACTIVATIONS) {
      // Where the derivative reads z, the product stores it too (binding 6).
      const preActivation = readsPreActivation(activation.name);
      const out = await runKernel({
        key: { kind: 'matmul', transposeA: false, transposeB: false, epilogue: 'biasActivation', activation: activation.name,
          ...(preActivation ? { preActivation } : {}), ...VARIANT_KEYS[variant] },
        dims: { m, n, k, rowsAxis: 0, slope: activation.slope },
        data: preActivation ? { 2: a, 3: b, 4: new Float32Array(m * n), 5: bias, 6: new Float32Array(m * n) } : { 2: a, 3: b, 4: new Float32Array(m * n), 5: bias },
        read: preActivation ? [4, 6] : [4],
        grid: grid2d(m, n, variant),
      });
      const z = value.map((v, i) => v + bias[i % n]!);
      const expected = z.map((v) => activate(v, activation));
      // Every activation has |f'| ≤ 1.13 (gelu's largest), so the product's error bound carries over with the factor 2.
      const bound = (i: number) => 2 * (k + 2) * 2 ** -24 * (magnitude[i]! + Math.abs(bias[i % n]!)) + 1e-6;
      expectClose(out[4]!, expected, bound);
      if (preActivation) expectClose(out[6]!, z, bound);
    }
  });

  it.each(matmulCases(false, true))('A·Bᵀ × f\'(gate) for every activation at %i×%i×%i (%s)', async (m, n, k, variant) => {
    const a = randomArray(m * k, m + 11);
    const b = randomArray(n * k, n + 5); // stored [n, k]: the weights of the layer above
    const { value, magnitude } = matmulOracle(a, b, m, n, k, false, true);
    for (const activation of ACTIVATIONS) {
      // The gate holds what the derivative of the layer below reads: its outputs (in that
      // activation's range) or, for gelu and silu, its pre-activations.
      const z = randomArray(m * n, k).map((v) => 3 * v);
      const gate = z.map((v) => gateOf(v, activation));
      const out = await runKernel({
        key: { kind: 'matmul', transposeA: false, transposeB: true, epilogue: 'derivative', activation: activation.name, ...VARIANT_KEYS[variant] },
        dims: { m, n, k, rowsAxis: 1, slope: activation.slope },
        step: [m, 0, 1, 0],
        data: { 2: a, 3: b, 4: new Float32Array(m * n), 5: gate },
        read: [4],
        grid: grid2d(m, n, variant),
      });
      const expected = value.map((v, i) => v * derivativeAt(z[i]!, activation));
      expectClose(out[4]!, expected, (i) => 2 * (k + 2) * 2 ** -24 * magnitude[i]! + 1e-6);
    }
  });

  it.each(matmulCases(true, false))('Aᵀ·B (weight gradient, K = batch rows) at %i×%i×%i (%s)', async (m, n, k, variant) => {
    const a = randomArray(k * m, m + 1); // stored [k, m]: the layer input [rows, inputs]
    const b = randomArray(k * n, n + 2); // [rows, units]
    const { value, magnitude } = matmulOracle(a, b, m, n, k, true, false);
    const out = await runKernel({
      key: { kind: 'matmul', transposeA: true, transposeB: false, epilogue: 'none', activation: 'linear', ...VARIANT_KEYS[variant] },
      dims: { m, n, k: 9999, rowsAxis: 2 },
      step: [k, 0, 1, 0], // k comes from the step's row count, not from Dims
      data: { 2: a, 3: b, 4: new Float32Array(m * n) },
      read: [4],
      grid: grid2d(m, n, variant),
    });
    expectClose(out[4]!, value, (i) => 2 * k * 2 ** -24 * magnitude[i]! + 1e-7);
  });

  // The autotune may pick any vec4 variant, and subgroup sharing may replace a plain kernel: they must
  // give the same bits, not just close values, so results never depend on the device's choice.
  it.each([[false, false, true], [false, true, true], [true, false, true], [false, false, false], [true, false, false]] as const)(
    'variants give identical bits (transposeA %s, transposeB %s, vec4 %s)', async (transposeA, transposeB, vec4) => {
    const [m, n, k] = vec4 ? [68, 36, 260] : [67, 33, 259];
    const outputs = await Promise.all(VARIANTS.filter((variant) => VARIANT_KEYS[variant].vec4 === vec4).map(async (variant) => (await runKernel({
      key: { kind: 'matmul', transposeA, transposeB, epilogue: 'none', activation: 'linear', ...VARIANT_KEYS[variant] },
      dims: { m, n, k, rowsAxis: 0 },
      data: { 2: randomArray(m * k, 5), 3: randomArray(k * n, 6), 4: new Float32Array(m * n) },
      read: [4],
      grid: grid2d(m, n, variant),
    }))[4]!));
    for (const output of outputs.slice(1)) expect(Array.from(output)).toEqual(Array.from(outputs[0]!));
  });

  it.each(VARIANTS)('leaves rows beyond the step\'s row count untouched (%s)', async (variant) => {
    const [m, n, k] = [40, 8, 4];
    const sentinel = new Float32Array(m * n).fill(123);
    const out = await runKernel({
      key: { kind: 'matmul', transposeA: false, transposeB: false, epilogue: 'none', activation: 'linear', ...VARIANT_KEYS[variant] },
      dims: { m: 9999, n, k, rowsAxis: 1 },
      step: [7, 0, 1, 0],
      data: { 2: randomArray(m * k, 1), 3: randomArray(k * n, 2), 4: sentinel },
      read: [4],
      grid: grid2d(m, n, variant),
    });
    expect(Array.from(out[4]!.slice(7 * n)).every((v) => v === 123)).toBe(true);
    expect(out[4]![0]).not.toBe(123);
  });
});

describe('the output activation\'s derivative where the loss cannot fuse it', () => {
  it.each([[1, 1], [3, 17], [65, 3], [257, 5]])('grad ⊙ f\'(gate) for every activation at %i rows × %i units', async (rows, n) => {
    for (const activation of ACTIVATIONS) {
      const z = randomArray(rows * n, rows + 2 * n).map((v) => 3 * v);
      const grad = randomArray(rows * n, 7);
      const out = await runKernel({
        key: { kind: 'activationDerivative', activation: activation.name },
        dims: { m: rows, n, k: 0, rowsAxis: 1, slope: activation.slope },
        step: [rows, 0, 1, 0],
        data: { 2: z.map((v) => gateOf(v, activation)), 3: grad },
        read: [3],
        grid: [Math.ceil(rows * n / LINEAR_WORKGROUP), 1],
      });
      expectClose(out[3]!, grad.map((g, i) => g * derivativeAt(z[i]!, activation)), () => 2e-6);
    }
  });
});

/** What each loss's sum is divided by besides the rows: every element (n per row), or rows alone. */
const MEAN_OVER: Record<LossName, 'elements' | 'rows'> = {
  mse: 'elements', sse: 'rows', softmaxCrossEntropy: 'rows', binaryCrossEntropy: 'elements', meanAbsoluteError: 'elements', huber: 'elements',
};

/** Runs the loss kernel and the loss reduction the way the trainer does, on `targets` [rows, n] or class indices [rows]. */
async function runLoss(loss: Loss, activation: Activation, output: Float32Array, targets: Float32Array, labels: boolean, rows: number, n: number) {
  const scale = MEAN_OVER[loss.type] === 'elements' ? n : 1;
  const dims = { m: rows, n, k: 0, rowsAxis: 1 as const, slope: activation.slope, scale, delta: lossDelta(loss) };
  const out = await runKernel({
    key: { kind: 'loss', loss: loss.type, activation: activation.name, labels },
    dims,
    step: [rows, 0, 1, 0],
    data: { 2: output, 3: targets, 4: new Float32Array(rows * n), 5: new Float32Array(rows) },
    read: [4, 5],
    grid: rowsGrid(rows),
  });
  const reduced = await runKernel({
    key: { kind: 'lossReduce', l2: false },
    dims,
    step: [rows, 2, 1, 0],
    data: { 2: out[5]!, 3: new Float32Array(4) },
    read: [3],
    grid: [1, 1],
  });
  expect(reduced[3]![0]).toBe(0); // only the step's slot is written
  return { grad: out[4]!, rowLoss: out[5]!, loss: reduced[3]![2]!, divisor: rows * scale };
}

describe('loss kernels against the reference', () => {
  // Every awkward size as rows and as outputs; each loss on [rows, n] targets and on class indices.
  const SIZES: [number, number][] = [[1, 17], [3, 3], [17, 1], [65, 257], [257, 65]];
  const cases = TEST_LOSSES.flatMap((loss) => [false, true].flatMap((labels) =>
    SIZES.map(([rows, n]) => [loss.type, labels ? 'class labels' : 'targets', rows, n, loss, labels] as const)));

  it.each(cases)('%s on %s: gradient and row losses at %i rows × %i outputs, for every output activation', async (_name, _form, rows, n, loss, labels) => {
    for (const activation of FUSED_INTO_LOSS) {
      const z = randomArray(rows * n, rows + n).map((v) => 2 * v);
      const output = z.map((v) => activate(v, activation));
      const targets = labels ? testLabels(rows, n) : testTargets(loss, rows, n, (length) => randomArray(length, 99));
      const { grad, rowLoss, loss: reduced, divisor } = await runLoss(loss, activation, output, targets, labels, rows, n);
      const reference = referenceLoss(loss, Float64Array.from(output), { values: targets, labels }, rows, n);
      const expectedGrad = reference.grad.map((g, i) => g * derivativeAt(z[i]!, activation));
      const gradScale = Math.max(...expectedGrad.map(Math.abs), 1e-30);
      expectClose(grad, expectedGrad, () => 1e-5 * gradScale + 1e-9);
      expect(rowLoss.reduce((s, v) => s + v, 0) / divisor).toBeCloseTo(reference.loss, 4);
      expect(Math.abs(reduced - reference.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, reference.loss));
      // With l2, the penalties' partial sums (rows + 2 of them, past one workgroup's width for 257) are added.
      const penalties = randomArray(rows + 2, rows).map((v) => Math.abs(v) * 0.01);
      const penalised = await runKernel({
        key: { kind: 'lossReduce', l2: true },
        dims: { m: rows, n, k: penalties.length, rowsAxis: 1, scale: divisor / rows },
        step: [rows, 2, 1, 0],
        data: { 2: rowLoss, 3: new Float32Array(4), 4: penalties },
        read: [3],
        grid: [1, 1],
      });
      const expected = reference.loss + penalties.reduce((sum, p) => sum + p, 0);
      expect(Math.abs(penalised[3]![2]! - expected)).toBeLessThanOrEqual(1e-5 * Math.max(1, expected));
      expect(penalised[3]![0]).toBe(0); // only the step's slot is written
    }
  });

  it('softmax cross-entropy stays finite for huge logits', async () => {
    const output = new Float32Array([1000, -1000, 0, 80, 90, 100]);
    const target = new Float32Array([1, 0, 0, 0, 0, 1]);
    const out = await runKernel({
      key: { kind: 'loss', loss: 'softmaxCrossEntropy', activation: 'linear', labels: false },
      dims: { m: 2, n: 3, k: 0, rowsAxis: 1 },
      step: [2, 0, 1, 0],
      data: { 2: output, 3: target, 4: new Float32Array(6), 5: new Float32Array(2) },
      read: [4, 5],
      grid: [1, 1],
    });
    const reference = referenceLoss({ type: 'softmaxCrossEntropy' }, Float64Array.from(output), { values: target, labels: false }, 2, 3);
    expectClose(out[4]!, reference.grad, () => 1e-6);
    expect(out[5]![0]).toBeCloseTo(0, 5);
    expect(out[5]![1]).toBeCloseTo(-Math.log(1 / (1 + Math.exp(-10) + Math.exp(-20))), 4);
  });

  it('binary cross-entropy is exact for huge logits, where σ(z) is 0 or 1 in float32', async () => {
    // Each term is max(z, 0) − z·t + log(1 + e^−|z|): 0 for a confident right answer, |z| for a wrong one.
    const output = new Float32Array([1000, -1000, 30, -30, 1000, -1000, 0, 17]);
    const target = new Float32Array([1, 0, 1, 0, 0, 1, 0.5, 0.25]);
    const { grad, rowLoss } = await runLoss({ type: 'binaryCrossEntropy' }, { name: 'linear', slope: 0 }, output, target, false, 1, 8);
    const reference = referenceLoss({ type: 'binaryCrossEntropy' }, Float64Array.from(output), { values: target, labels: false }, 1, 8);
    expectClose(grad, reference.grad, () => 1e-7);
    expect(Math.abs(rowLoss[0]! / 8 - reference.loss)).toBeLessThan(1e-4);
    expect(reference.loss).toBeCloseTo((1000 + 1000 + Math.log1p(Math.exp(-30)) * 2 + Math.log(2) + 17 * 0.75 + Math.log1p(Math.exp(-17))) / 8, 9);
  });
});

describe('reductions, data movement and optimizers', () => {
  it.each([[1, 1], [3, 17], [17, 3], [65, 65], [257, 33], [1000, 5]])('bias gradient: column sums of %i×%i', async (rows, n) => {
    const grad = randomArray(rows * n, rows);
    const out = await runKernel({
      key: { kind: 'biasGradient' },
      dims: { m: rows, n, k: 0, rowsAxis: 1 },
      step: [rows, 0, 1, 0],
      data: { 2: grad, 3: new Float32Array(n) },
      read: [3],
      grid: rowsGrid(n),
    });
    const expected = Array.from({ length: n }, (_, j) => {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += grad[r * n + j]!;
      return sum;
    });
    expectClose(out[3]!, expected, () => rows * 2 ** -23 + 1e-7);
  });

  it.each([[1, 1], [3, 17], [65, 3], [257, 65]])('gather takes rows by order for %i rows × %i', async (rows, width) => {
    const source = randomArray(rows * 2 * width, width);
    const order = Uint32Array.from({ length: rows * 2 }, (_, i) => (i * 7 + 3) % (rows * 2));
    const start = Math.min(rows, 2);
    const count = rows;
    const out = await runKernel({
      key: { kind: 'gatherRows' },
      dims: { m: count, n: width, k: 0, rowsAxis: 1 },
      step: [count, 0, 1, start],
      data: { 2: source, 3: order, 4: new Float32Array(count * width) },
      read: [4],
      grid: [Math.ceil((count * width) / LINEAR_WORKGROUP), 1],
    });
    const expected = Float32Array.from({ length: count * width }, (_, i) =>
      source[order[start + Math.floor(i / width)]! * width + (i % width)]!);
    expect(Array.from(out[4]!)).toEqual(Array.from(expected));
  });

  it.each([[1, 1], [3, 17], [17, 3], [257, 10]])('softmax rows sum to 1 and match the reference at %i×%i', async (rows, n) => {
    const logits = randomArray(rows * n, 5).map((v) => v * 30);
    const out = await runKernel({
      key: { kind: 'outputTransform', transform: 'softmax' },
      dims: { m: rows, n, k: 0, rowsAxis: 1 },
      step: [rows, 0, 1, 0],
      data: { 2: logits, 3: new Float32Array(rows * n) },
      read: [3],
      grid: rowsGrid(rows),
    });
    for (let r = 0; r < rows; r++) {
      const row = Array.from(logits.slice(r * n, (r + 1) * n));
      const largest = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - largest), 0);
      row.forEach((v, j) => expect(out[3]![r * n + j]).toBeCloseTo(Math.exp(v - largest) / sum, 6));
    }
  });

  it.each([[1, 1], [3, 17], [17, 3], [257, 10]])('the sigmoid transform matches the float64 sigmoid at %i×%i, huge logits included', async (rows, n) => {
    const logits = randomArray(rows * n, 6).map((v, i) => (i % 7 === 0 ? v * 1000 : v * 30));
    const out = await runKernel({
      key: { kind: 'outputTransform', transform: 'sigmoid' },
      dims: { m: rows, n, k: 0, rowsAxis: 1 },
      step: [rows, 0, 1, 0],
      data: { 2: logits, 3: new Float32Array(rows * n) },
      read: [3],
      grid: rowsGrid(rows),
    });
    expectClose(out[3]!, Array.from(logits, (z) => 1 / (1 + Math.exp(-z))), () => 1e-6);
  });

  const OPTIMIZERS: [string, Optimizer][] = TEST_OPTIMIZER_VARIANTS.map((spec) => [variantName(spec), normalizeOptimizer(spec)]);
  // The kernel updates vec4s: the plan pads the parameter vector to a multiple of 64 floats, so
  // counts here are 4 × the awkward sizes.
  it.each(OPTIMIZERS.flatMap(([name, o]) => [1, 3, 17, 65, 257, 1250].map((count) => [name, 4 * count, o] as const)))(
    '%s update of %i parameters over 3 steps matches the reference', async (_name, count, optimizer) => {
      const key = { kind: 'optimizer', ...optimizerVariant(optimizer) } as const;
      const slots = momentSlots(key);
      let params: Float32Array = randomArray(count, 1);
      // Slots 0 and 1 positive (Adam's v, rmsprop's mean square), slot 2 (the mean gradient) small.
      const moments: Float32Array[] = [randomArray(count, 2).map((v) => Math.abs(v) * 0.01 + 0.01),
        randomArray(count, 3).map((v) => Math.abs(v) * 0.01), randomArray(count, 4).map((v) => v * 0.05)];
      const ref = { p: Float64Array.from(params), moments: moments.map((m) => Float64Array.from(m)) };
      const values = optimizer as unknown as Record<string, number>;
      // The uniform struct is padded to 16 bytes, as the trainer's buffer is.
      const fields = hyperFields(key);
      const hyper = new Float32Array(Math.max(4, Math.ceil(fields.length / 4) * 4));
      fields.forEach((name, i) => (hyper[i] = values[name]!));
      for (let t = 1; t <= 3; t++) {
        // Step 2's gradient is small enough that clipNorm leaves it as it is.
        const grads = randomArray(count, 10 + t).map((g) => (t === 2 ? g * 1e-4 / Math.sqrt(count) : g));
        const normSquared = Array.from(grads).reduce((sum, g) => sum + g * g, 0);
        const data: Record<number, Float32Array> = { 2: hyper, 3: params, 4: grads, [NORM_BINDING]: Float32Array.of(normSquared) };
        slots.forEach((slot) => (data[momentBinding(slot)] = moments[slot]!));
        const out = await runKernel({
          key,
          dims: { m: count / 4, n: 0, k: 0, rowsAxis: 0 },
          step: [0, 0, t, 0],
          corrections: biasCorrections(optimizer, t),
          learningRate: learningRateAt(optimizer.learningRate, t - 1),
          data: key.clip ? data : Object.fromEntries(Object.entries(data).filter(([binding]) => Number(binding) !== NORM_BINDING)),
          uniforms: [2],
          read: [3, ...slots.map(momentBinding)],
          grid: [Math.ceil(count / 4 / LINEAR_WORKGROUP), 1],
        });
        const norm = Math.sqrt(normSquared);
        const scale = optimizer.clipNorm !== undefined && norm > optimizer.clipNorm ? optimizer.clipNorm / norm : 1;
        referenceUpdate(optimizer, ref.p, Float64Array.from(grads, (g) => g * scale), ref.moments, t);
        params = out[3]!;
        slots.forEach((slot) => (moments[slot] = out[momentBinding(slot)]!));
      }
      expectClose(params, ref.p, (i) => 1e-5 * Math.max(1, Math.abs(ref.p[i]!)));
      slots.forEach((slot) => expectClose(moments[slot]!, ref.moments[slot]!, (i) => 1e-5 * Math.max(1, Math.abs(ref.moments[slot]![i]!))));
    });

  // Grids of 1 to MAX_REDUCE_GROUPS workgroups, and an offset into the partials.
  it.each([1, 3, 17, 65, 257, 4099, 200_003])('sum of squares in two passes over %i floats, and the L2 gradient', async (count) => {
    const values = randomArray(count, 8);
    const groups = reduceGroups(count);
    const offset = 5;
    const gradient = randomArray(count, 9);
    const l2 = 0.03;
    const first = await runKernel({
      key: { kind: 'sumSquares', l2Gradient: true },
      dims: { m: count, n: offset, k: 0, rowsAxis: 0, scale: l2 },
      data: { 2: values, 3: new Float32Array(offset + groups), 4: gradient },
      read: [3, 4],
      grid: [groups, 1],
    });
    const squares = Array.from(values).reduce((sum, v) => sum + v * v, 0);
    // Each workgroup's partial is l2 · its share of Σx²; they start at `offset`.
    expect(Array.from(first[3]!.subarray(0, offset))).toEqual(new Array(offset).fill(0));
    const partialSum = first[3]!.reduce((sum, p) => sum + p, 0);
    expect(Math.abs(partialSum - l2 * squares)).toBeLessThanOrEqual(1e-5 * l2 * squares);
    expectClose(first[4]!, Array.from(gradient, (g, i) => g + 2 * l2 * values[i]!), (i) => 2 ** -22 * (Math.abs(gradient[i]!) + 1));
    const second = await runKernel({
      key: { kind: 'sumPartials' },
      dims: { m: groups, n: offset, k: 0, rowsAxis: 0 },
      data: { 2: first[3]!, 3: new Float32Array(1) },
      read: [3],
      grid: [1, 1],
    });
    expect(Math.abs(second[3]![0]! - partialSum)).toBeLessThanOrEqual(1e-5 * partialSum);
  });
});


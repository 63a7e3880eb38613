import { describe, expect, it } from 'vitest';
import { readsPreActivation } from '../src/ops/index.js';
import { TEST_ACTIVATIONS, TEST_LOSSES, TEST_OPTIMIZER_VARIANTS, testLabels, testTargets, variantName } from './support/ops.js';
import { chooseKernels } from '../src/cpu/choose.js';
import { typescriptKernels, type CpuKernels } from '../src/cpu/kernels.js';
import { wasmSupport } from '../src/cpu/wasm/module.js';
import { packedFloats } from '../src/cpu/wasm/kernels.js';
import type { Activation } from '../src/plan.js';
import { referenceLoss, referenceUpdate } from '../src/reference/reference.js';
import { learningRateAt, MOMENT_SLOTS, momentSlots, optimizerVariant } from '../src/ops/index.js';
import { normalizeOptimizer, type Optimizer } from '../src/spec.js';
import { randomArray } from './support/kernel-runner.js';
import { activate, derivativeAt, expectClose, gateOf, matmulOracle } from './support/oracle.js';

/**
 * The CPU kernels against float64 oracles: WebAssembly SIMD on 1 and 2 threads, and the TypeScript
 * fallback. Shapes are [rows, inputs, units]: 1, primes around powers of two, non-multiples of the
 * 4 × 8 register block, and sizes large enough for the work to be split between threads.
 */
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 17, 65], [17, 3, 257], [65, 65, 3], [257, 17, 33], [33, 257, 1], [1, 65, 17], [257, 1, 3],
  [257, 65, 17], [130, 97, 43], [67, 257, 9],
];
const ACTIVATIONS: Activation[] = TEST_ACTIVATIONS;
/** The output activations the loss kernel fuses: those whose derivative reads the output (the others run multiplyDerivative after it). */
const FUSED_INTO_LOSS = ACTIVATIONS.filter((a) => !readsPreActivation(a.name));
const IMPLEMENTATIONS = ['wasm, 1 thread', 'wasm, 2 threads', 'typescript'] as const;
type Implementation = (typeof IMPLEMENTATIONS)[number];

/** Kernels with room for buffers of `lengths`, and those buffers. */
async function kernelsWith(implementation: Implementation, lengths: number[]): Promise<{ kernels: CpuKernels; buffers: Float32Array[] }> {
  if (implementation === 'typescript') return { kernels: typescriptKernels, buffers: lengths.map((l) => new Float32Array(l)) };
  const threads = implementation === 'wasm, 1 thread' ? 1 : 2;
  const largest = Math.max(...lengths);
  const choice = await chooseKernels(lengths, { panelRows: largest, transposedFloats: largest }, threads);
  expect(choice.kind).toBe((await wasmSupport()).relaxed ? 'wasm-relaxed-simd' : 'wasm-simd');
  expect(choice.threads).toBe(threads);
  return { kernels: choice.kernels, buffers: lengths.map((l) => choice.kernels.allocate(l)) };
}


const cases = IMPLEMENTATIONS.flatMap((implementation) => SHAPES.map(([rows, inputs, units]) => [implementation, rows, inputs, units] as const));

describe('CPU matmul kernels against the float64 oracle', () => {
  it.each(cases)('forward f(x·W + b), every activation (%s) at rows %i, inputs %i, units %i', async (implementation, rows, inputs, units) => {
    const { kernels, buffers: [x, w, bias, out, kept] } = await kernelsWith(implementation, [rows * inputs, inputs * units, units, rows * units, rows * units]);
    x!.set(randomArray(rows * inputs, rows));
    w!.set(randomArray(inputs * units, units + 7));
    bias!.set(randomArray(units, inputs + 3));
    const { value, magnitude } = matmulOracle(x!, w!, rows, units, inputs, false, false);
    for (const activation of ACTIVATIONS) {
      // Where the derivative reads z, the forward pass keeps it.
      const preActivation = readsPreActivation(activation.name) ? kept! : undefined;
      kernels.forward(x!, w!, bias!, out!, rows, inputs, units, activation, preActivation);
      const z = value.map((v, i) => v + bias![i % units]!);
      // |f'| ≤ 1.13 for every activation (gelu's largest), so the product's rounding bound carries over with the factor 2.
      const bound = (i: number) => 2 * (inputs + 2) * 2 ** -24 * (magnitude[i]! + Math.abs(bias![i % units]!)) + 1e-6;
      expectClose(out!, z.map((v) => activate(v, activation)), bound);
      if (preActivation) expectClose(preActivation, z, bound);
    }
    kernels.dispose();
  });

  it.each(cases)('input gradient (dY·Wᵀ) ⊙ f\'(below), every activation (%s) at rows %i, inputs %i, units %i', async (implementation, rows, inputs, units) => {
    const { kernels, buffers: [zGrad, w, below, out, grad] } = await kernelsWith(implementation,
      [rows * units, inputs * units, rows * inputs, rows * inputs, rows * inputs]);
    zGrad!.set(randomArray(rows * units, rows + 11));
    w!.set(randomArray(inputs * units, units + 5));
    // [rows, units] · [inputs, units]ᵀ: m = rows, n = inputs, k = units.
    const { value, magnitude } = matmulOracle(zGrad!, w!, rows, inputs, units, false, true);
    for (const activation of ACTIVATIONS) {
      // The gate: the layer below's outputs, or its pre-activations for gelu and silu.
      const z = randomArray(rows * inputs, units).map((v) => 3 * v);
      below!.set(z.map((v) => gateOf(v, activation)));
      kernels.inputGradient(zGrad!, w!, below!, out!, rows, inputs, units, activation);
      const expected = value.map((v, i) => v * derivativeAt(z[i]!, activation));
      expectClose(out!, expected, (i) => 2 * (units + 2) * 2 ** -24 * magnitude[i]! + 1e-6);
      // The same derivative alone, as the output layer applies it where the loss cannot fuse it.
      const values = randomArray(rows * inputs, 5);
      grad!.set(values);
      kernels.multiplyDerivative(grad!, below!, rows * inputs, activation);
      expectClose(grad!, values.map((v, i) => v * derivativeAt(z[i]!, activation)), () => 1e-6);
    }
    kernels.dispose();
  });

  it.each(cases)('weight gradient xᵀ·dY and bias gradient Σ dY (%s) at rows %i, inputs %i, units %i', async (implementation, rows, inputs, units) => {
    const { kernels, buffers: [x, zGrad, wGrad, bGrad] } = await kernelsWith(implementation, [rows * inputs, rows * units, inputs * units, units]);
    x!.set(randomArray(rows * inputs, inputs + 1));
    zGrad!.set(randomArray(rows * units, units + 2));
    kernels.weightGradient(x!, zGrad!, wGrad!, bGrad!, rows, inputs, units);
    const { value, magnitude } = matmulOracle(x!, zGrad!, inputs, units, rows, true, false);
    expectClose(wGrad!, value, (i) => 2 * rows * 2 ** -24 * magnitude[i]! + 1e-7);
    const sums = Array.from({ length: units }, (_, j) => {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += zGrad![r * units + j]!;
      return sum;
    });
    expectClose(bGrad!, sums, () => rows * 2 ** -23 + 1e-7);
    kernels.dispose();
  });

  // The packed forward's paths: a matrix–vector product per row under 4 rows (its 32-column groups
  // and left-over panels, odd and even k, split by columns between threads where the work pays for
  // it), and the 4 × 8 blocks from 4 rows on.
  const PACKED_SHAPES: [number, number, number][] = [
    ...SHAPES, [1, 1031, 257], [2, 515, 300], [3, 784, 256], [1, 256, 1024], [1, 2, 8], [5, 33, 40], [4, 7, 33], [37, 784, 10],
  ];
  it.each(['wasm, 1 thread', 'wasm, 2 threads'].flatMap((implementation) => PACKED_SHAPES.map((shape) => [implementation, ...shape] as const)))(
    'forward of the weights packed by packWeights: the bits of the forward of the weights (%s) at rows %i, inputs %i, units %i',
    async (implementation, rows, inputs, units) => {
      const { kernels, buffers: [x, w, bias, out, kept, packed, packedOut, packedKept] } = await kernelsWith(implementation as Implementation,
        [rows * inputs, inputs * units, units, rows * units, rows * units, packedFloats(inputs, units), rows * units, rows * units]);
      x!.set(randomArray(rows * inputs, rows + 1));
      w!.set(randomArray(inputs * units, units + 2));
      bias!.set(randomArray(units, inputs + 3));
      kernels.packWeights!(w!, packed!, inputs, units);
      const weights = Array.from(w!);
      for (const activation of ACTIVATIONS) {
        const keep = readsPreActivation(activation.name);
        kernels.forward(x!, w!, bias!, out!, rows, inputs, units, activation, keep ? kept : undefined);
        packedOut!.fill(Number.NaN);
        kernels.forward(x!, w!, bias!, packedOut!, rows, inputs, units, activation, keep ? packedKept : undefined, packed);
        expect(Array.from(packedOut!)).toEqual(Array.from(out!));
        if (keep) expect(Array.from(packedKept!)).toEqual(Array.from(kept!));
      }
      expect(Array.from(w!)).toEqual(weights);
      // It reads the packed copy, not the weights: changed after packing, they do not change its product.
      const linear: Activation = { name: 'linear', slope: 0 };
      kernels.forward(x!, w!, bias!, out!, rows, inputs, units, linear);
      w!.fill(Number.NaN);
      kernels.forward(x!, w!, bias!, packedOut!, rows, inputs, units, linear, undefined, packed);
      expect(Array.from(packedOut!)).toEqual(Array.from(out!));
      kernels.dispose();
    });

  it('packWeights refuses a buffer too small for the weights', async () => {
    const { kernels, buffers: [w, packed] } = await kernelsWith('wasm, 1 thread', [7 * 9, packedFloats(7, 9) - 1]);
    expect(() => kernels.packWeights!(w!, packed!, 7, 9)).toThrow(/packWeights: 111 floats for 112/);
    kernels.dispose();
  });

  it.each([[1, 1, 1], [257, 65, 17], [300, 200, 100], [256, 784, 256]])(
    'every form gives the same bits on 1 and 2 threads at rows %i, inputs %i, units %i', async (rows, inputs, units) => {
      const lengths = [rows * inputs, inputs * units, units, rows * units, rows * units, rows * inputs, rows * inputs, inputs * units, units];
      const results = await Promise.all(['wasm, 1 thread', 'wasm, 2 threads'].map(async (implementation) => {
        const { kernels, buffers: [x, w, bias, out, zGrad, below, xGrad, wGrad, bGrad] } = await kernelsWith(implementation as Implementation, lengths);
        x!.set(randomArray(rows * inputs, 1));
        w!.set(randomArray(inputs * units, 2));
        bias!.set(randomArray(units, 3));
        zGrad!.set(randomArray(rows * units, 4));
        below!.set(randomArray(rows * inputs, 5).map((v) => 1 / (1 + Math.exp(-v))));
        kernels.forward(x!, w!, bias!, out!, rows, inputs, units, { name: 'tanh', slope: 0 });
        kernels.inputGradient(zGrad!, w!, below!, xGrad!, rows, inputs, units, { name: 'sigmoid', slope: 0 });
        kernels.weightGradient(x!, zGrad!, wGrad!, bGrad!, rows, inputs, units);
        const copy = [out!, xGrad!, wGrad!, bGrad!].map((b) => Array.from(b));
        kernels.dispose();
        return copy;
      }));
      expect(results[1]).toEqual(results[0]);
    });
});

describe('CPU loss, output transform and optimizer kernels against the reference', () => {
  // Every awkward size as rows and as outputs; each loss on [rows, n] targets and on class indices.
  const SIZES: [number, number][] = [[1, 17], [3, 3], [17, 1], [65, 257], [257, 65]];
  // The loss runs on the calling thread; with 2 threads it is the shared-memory build's.
  const lossCases = IMPLEMENTATIONS.flatMap((implementation) =>
    TEST_LOSSES.flatMap((loss) => [false, true].flatMap((labels) =>
      SIZES.map(([rows, n]) => [implementation, loss.type, labels ? 'class labels' : 'targets', rows, n, loss, labels] as const))));

  it.each(lossCases)('%s %s on %s: gradient and loss at %i rows × %i outputs, every output activation', async (implementation, _name, _form, rows, n, loss, labels) => {
    const { kernels, buffers: [output, target, grad] } = await kernelsWith(implementation, [rows * n, rows * n, rows * n]);
    for (const activation of FUSED_INTO_LOSS) {
      const z = randomArray(rows * n, rows + n).map((v) => 2 * v);
      output!.set(z.map((v) => activate(v, activation)));
      const targets = labels ? testLabels(rows, n) : testTargets(loss, rows, n, (length) => randomArray(length, 99));
      target!.set(targets);
      // NaN wherever the kernel would leave a gradient unwritten.
      grad!.fill(NaN);
      const value = kernels.loss(loss, output!, target!, grad!, rows, n, activation, labels);
      const reference = referenceLoss(loss, Float64Array.from(output!), { values: targets, labels }, rows, n);
      const expectedGrad = reference.grad.map((g, i) => g * derivativeAt(z[i]!, activation));
      const gradScale = Math.max(...expectedGrad.map(Math.abs), 1e-30);
      expectClose(grad!, expectedGrad, () => 1e-5 * gradScale + 1e-9);
      expect(Math.abs(value - reference.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, reference.loss));
    }
    kernels.dispose();
  });

  it.each(IMPLEMENTATIONS)('%s: binary cross-entropy is exact for huge logits, where σ(z) is 0 or 1 in float32', async (implementation) => {
    const { kernels, buffers: [output, target, grad] } = await kernelsWith(implementation, [8, 8, 8]);
    output!.set([1000, -1000, 30, -30, 1000, -1000, 0, 17]);
    target!.set([1, 0, 1, 0, 0, 1, 0.5, 0.25]);
    const value = kernels.loss({ type: 'binaryCrossEntropy' }, output!, target!, grad!, 1, 8, { name: 'linear', slope: 0 }, false);
    const reference = referenceLoss({ type: 'binaryCrossEntropy' }, Float64Array.from(output!), { values: target!, labels: false }, 1, 8);
    expectClose(grad!, reference.grad, () => 1e-7);
    expect(value).toBeCloseTo(reference.loss, 6);
    kernels.dispose();
  });

  it.each(IMPLEMENTATIONS.flatMap((implementation) => [[1, 1], [3, 17], [17, 3], [257, 10]].map(([rows, n]) => [implementation, rows!, n!] as const)))(
    '%s: output transforms at %i×%i, large logits: softmax rows sum to 1, sigmoid matches float64', async (implementation, rows, n) => {
      const { kernels, buffers: [logits, probabilities] } = await kernelsWith(implementation, [rows * n, rows * n]);
      logits!.set(randomArray(rows * n, 5).map((v) => v * 30));
      kernels.outputTransform('softmax', logits!, probabilities!, rows, n);
      for (let r = 0; r < rows; r++) {
        const row = Array.from(logits!.subarray(r * n, (r + 1) * n));
        const largest = Math.max(...row);
        const sum = row.reduce((s, v) => s + Math.exp(v - largest), 0);
        row.forEach((v, j) => expect(probabilities![r * n + j]).toBeCloseTo(Math.exp(v - largest) / sum, 6));
      }
      logits!.set(randomArray(rows * n, 6).map((v, i) => (i % 7 === 0 ? v * 1000 : v * 30)));
      kernels.outputTransform('sigmoid', logits!, probabilities!, rows, n);
      expectClose(probabilities!, Array.from(logits!, (z) => 1 / (1 + Math.exp(-z))), () => 1e-7);
      kernels.dispose();
    });

  it.each(['wasm, 1 thread', 'wasm, 2 threads'] as const)('%s: a confident softmax gives gradient 0, not float32 subnormals', async (implementation) => {
    const { kernels, buffers: [output, target, grad] } = await kernelsWith(implementation, [3, 3, 3]);
    output!.set([100, 0, -10]);
    target!.set([1, 0, 0]);
    kernels.loss({ type: 'softmaxCrossEntropy' }, output!, target!, grad!, 1, 3, { name: 'linear', slope: 0 }, false);
    // exp(−100) ≈ 4·10⁻⁴⁴ would be a subnormal, slow to compute with downstream.
    expect(Array.from(grad!)).toEqual([0, 0, 0]);
    kernels.dispose();
  });

  const OPTIMIZERS: [string, Optimizer][] = TEST_OPTIMIZER_VARIANTS.map((spec) => [variantName(spec), normalizeOptimizer(spec)]);
  // 40,001 parameters are enough to be split between threads.
  const optimizerCases = IMPLEMENTATIONS.flatMap((implementation) => OPTIMIZERS.flatMap(([name, o]) =>
    [1, 3, 17, 65, 257, 40_001].map((count) => [implementation, name, count, o] as const)));

  it.each(optimizerCases)('%s %s update of %i parameters over 3 steps', async (implementation, _name, count, optimizer) => {
    // The moment slots the settings leave unused are empty, as the backend allocates them.
    const slots = momentSlots(optimizerVariant(optimizer));
    const lengths = Array.from({ length: MOMENT_SLOTS }, (_, slot) => (slots.includes(slot) ? count : 0));
    const { kernels, buffers: [params, grads, ...moments] } = await kernelsWith(implementation, [count, count, ...lengths]);
    params!.set(randomArray(count, 1));
    // Slots 0 and 1 positive (Adam's v, rmsprop's mean square), and rmsprop's mean square above the
    // squared mean gradient (slot 2), as they always are.
    const starts = [randomArray(count, 2).map((v) => Math.abs(v) * 0.01 + 0.01), randomArray(count, 3).map((v) => Math.abs(v) * 0.01),
      randomArray(count, 4).map((v) => v * 0.05)];
    moments.forEach((moment, slot) => moment.set(starts[slot]!.subarray(0, moment.length)));
    const ref = { p: Float64Array.from(params!), moments: starts.map((start) => Float64Array.from(start)) };
    for (let t = 1; t <= 3; t++) {
      // Step 2's gradient is small enough that clipNorm leaves it as it is.
      grads!.set(randomArray(count, 10 + t).map((g) => (t === 2 ? g * 1e-4 / Math.sqrt(count) : g)));
      const gradients = Float64Array.from(grads!);
      const norm = Math.sqrt(gradients.reduce((sum, g) => sum + g * g, 0));
      const scale = optimizer.clipNorm !== undefined && norm > optimizer.clipNorm ? optimizer.clipNorm / norm : 1;
      // As the backend clips: the gradient scaled in place, then the update.
      if (scale !== 1) kernels.scale(grads!, scale);
      kernels.optimizerStep(optimizer, params!, grads!, moments, t, learningRateAt(optimizer.learningRate, t - 1));
      referenceUpdate(optimizer, ref.p, gradients.map((g) => g * scale), ref.moments, t);
    }
    expectClose(params!, ref.p, (i) => 1e-5 * Math.max(1, Math.abs(ref.p[i]!)));
    slots.forEach((slot) => expectClose(moments[slot]!, ref.moments[slot]!, (i) => 1e-5 * Math.max(1, Math.abs(ref.moments[slot]![i]!))));
    kernels.dispose();
  });

  // 300,001 floats are 19 chunks of a sum: the partials are added in chunk order whoever took them.
  const vectorCases = IMPLEMENTATIONS.flatMap((implementation) => [1, 3, 17, 65, 257, 40_001, 300_001].map((count) => [implementation, count] as const));

  it.each(vectorCases)('%s: sum of squares, target += factor·source and vector ← factor·vector over %i floats', async (implementation, count) => {
    const { kernels, buffers: [vector, target] } = await kernelsWith(implementation, [count, count]);
    vector!.set(randomArray(count, 5));
    target!.set(randomArray(count, 6));
    const squares = Array.from(vector!).reduce((sum, v) => sum + v * v, 0);
    expect(Math.abs(kernels.sumOfSquares(vector!) - squares)).toBeLessThanOrEqual(1e-10 * squares);
    const expected = Array.from(target!, (t, i) => t + 0.37 * vector![i]!);
    kernels.addScaled(target!, vector!, 0.37);
    expectClose(target!, expected, (i) => 2 ** -23 * (Math.abs(expected[i]!) + 1));
    const scaled = Array.from(vector!, (v) => v * 0.29);
    kernels.scale(vector!, 0.29);
    expectClose(vector!, scaled, (i) => 2 ** -23 * Math.abs(scaled[i]!));
    kernels.dispose();
  });

  it.each([1, 40_001, 300_001])('the sum of squares of %i floats has the same bits on 1 and 2 threads', async (count) => {
    const sums = await Promise.all((['wasm, 1 thread', 'wasm, 2 threads'] as const).map(async (implementation) => {
      const { kernels, buffers: [vector] } = await kernelsWith(implementation, [count]);
      vector!.set(randomArray(count, 7));
      const sum = kernels.sumOfSquares(vector!);
      kernels.dispose();
      return sum;
    }));
    expect(sums[1]).toBe(sums[0]);
  });
});


import { describe, expect, it } from 'vitest';
import { createNetwork, SpecError, type NetworkSpec } from '../src/index.js';
import { LOSSES, type Loss } from '../src/ops/index.js';
import type { LayerSpec, OptimizerSpec } from '../src/spec.js';
import { expectAgree, flatWeights } from './support/agreement.js';
import { randomArray } from './support/kernel-runner.js';
import { TEST_ACTIVATION_LAYERS, TEST_LOSSES, TEST_OPTIMIZERS, testTargets } from './support/ops.js';

/*
 * The fused small-MLP kernels (shaders/fused-mlp.wgsl.ts) against the per-layer WebGPU step and the
 * float64 reference: multi-step traces (trainBatch on full and partial batches, fit with shuffling,
 * evaluate, predict). On SwiftShader the unfused products run the vec4 variants where the shape
 * allows and the scalar ones elsewhere, whose sum orders the fused kernels follow: the traces must
 * be bit-identical. Against the reference, within the 1e-4 the other WebGPU tests use.
 */

const TIMEOUT = 600_000;

/** Dense layers of these widths (the first is the input), `activation` after each hidden one. */
function mlp(widths: number[], activation: LayerSpec, options: Partial<NetworkSpec> = {}): NetworkSpec {
  const layers: LayerSpec[] = [];
  for (const units of widths.slice(1, -1)) layers.push({ type: 'dense', units }, activation);
  layers.push({ type: 'dense', units: widths[widths.length - 1]! });
  return { inputSize: widths[0]!, layers, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.01 }, batchSize: 80, seed: 11, ...options };
}

/** Targets for `loss` on `rows` rows of `outputs`, with a sigmoid on the last layer where the loss wants probabilities. */
function withLoss(spec: NetworkSpec, loss: Loss): NetworkSpec {
  const sigmoid = loss.type !== 'softmaxCrossEntropy' && loss.type !== 'binaryCrossEntropy';
  return { ...spec, loss, layers: [...spec.layers, ...(sigmoid ? [{ type: 'sigmoid' } as LayerSpec] : [])] };
}

/**
 * Two trainBatch steps on the whole batch (80 rows: a tile of 64 and 16 more), one on a partial
 * batch of 37, one fit epoch over 203 rows (two full batches and a last partial one of 43) with
 * validation on 50 of them (evaluated on the device after the epoch), evaluate and predict.
 */
async function trace(spec: NetworkSpec) {
  const net = await createNetwork(spec);
  const width = spec.inputSize;
  const outputs = (spec.layers.filter((layer) => layer.type === 'dense').pop() as { units: number }).units;
  const loss = (typeof spec.loss === 'string' ? { type: spec.loss } : spec.loss) as Loss;
  const rows = 203;
  const x = randomArray(rows * width, 5);
  const y = testTargets(loss, rows, outputs, (length) => randomArray(length, 6));
  const batch = spec.batchSize!;
  const losses: number[] = [];
  for (let step = 0; step < 2; step++) losses.push(await net.trainBatch(x.subarray(0, batch * width), y.subarray(0, batch * outputs)));
  losses.push(await net.trainBatch(x.subarray(batch * width, (batch + 37) * width), y.subarray(batch * outputs, (batch + 37) * outputs)));
  const fitted = await net.fit(x, y, { epochs: 1, validationData: [x.subarray(0, 50 * width), y.subarray(0, 50 * outputs)] });
  losses.push(...fitted.loss, ...fitted.valLoss!);
  losses.push((await net.evaluate(x, y)).loss);
  const predictions = await net.predict(x);
  const weights = await flatWeights(net);
  const info = net.deviceInfo;
  net.dispose();
  return { losses, weights, predictions, info };
}

/** The fused trace equals the unfused one bit for bit and agrees with the reference's; returns the fused trace. */
async function expectFusedAgrees(spec: NetworkSpec) {
  const fused = await trace({ ...spec, backend: 'webgpu', fusedMlp: 'always' });
  const unfused = await trace({ ...spec, backend: 'webgpu', fusedMlp: 'never' });
  const reference = await trace({ ...spec, backend: 'reference' });
  expect(fused.info.fusedMlp?.fused).toBe(true);
  expect(unfused.info.fusedMlp?.fused).toBe(false);
  expect(fused.losses).toEqual(unfused.losses);
  expect(Array.from(fused.weights)).toEqual(Array.from(unfused.weights));
  expect(Array.from(fused.predictions)).toEqual(Array.from(unfused.predictions));
  expectAgree(fused.losses, reference.losses, 1e-4, 'fused loss');
  expectAgree(fused.weights, reference.weights, 1e-4, 'fused weights');
  expectAgree(fused.predictions, reference.predictions, 1e-4, 'fused predictions');
  // The trace must show learning, or agreement would prove little.
  expect(reference.losses[3]).not.toBe(reference.losses[0]);
  return fused;
}

describe('fused small MLPs on WebGPU', () => {
  const tanh: LayerSpec = { type: 'tanh' };
  const relu: LayerSpec = { type: 'relu' };

  it('1-64-64-1 (tanh, sgd) and 2-64-64-64-64-3 (relu, adam): one forward, two backward dispatches', { timeout: TIMEOUT }, async () => {
    const small = await expectFusedAgrees(mlp([1, 64, 64, 1], tanh, { optimizer: { type: 'sgd', learningRate: 0.1 } }));
    // forward, loss, signal, gradient, loss reduction, update; unfused: 3 forward, loss, 3 weight and 3
    // bias gradients, 2 signals, loss reduction, update.
    expect(small.info.fusedMlp?.dispatches).toEqual({ fused: 6, unfused: 14 });
    const deep = await expectFusedAgrees(mlp([2, 64, 64, 64, 64, 3], relu));
    expect(deep.info.fusedMlp?.dispatches).toEqual({ fused: 6, unfused: 22 });
  });

  it('widths that are not multiples of 4 (the scalar order), of the tile, and one dense layer', { timeout: TIMEOUT }, async () => {
    await expectFusedAgrees(mlp([3, 17, 5, 2], tanh, { batchSize: 70 }));
    await expectFusedAgrees(mlp([8, 12, 6, 4, 1], relu, { batchSize: 65 }));
    const single = await expectFusedAgrees(mlp([5, 3], tanh));
    expect(single.info.fusedMlp?.dispatches).toEqual({ fused: 5, unfused: 6 });
  });

  it('weights staged in several chunks: 128 wide (4 chunks of 32 rows in 16 KiB)', { timeout: TIMEOUT }, async () => {
    await expectFusedAgrees(mlp([6, 128, 128, 3], { type: 'silu' }, { batchSize: 66 }));
  });

  it('a frequencyEncoding as the input stage: 2 → 16 (4 octaves) → 64 → 64 → 3, and 3 → 18 (3 octaves) → 17 → 2', { timeout: TIMEOUT }, async () => {
    const encoded = (octaves: number, spec: NetworkSpec): NetworkSpec => ({ ...spec, layers: [{ type: 'frequencyEncoding', octaves }, ...spec.layers] });
    const neural = await expectFusedAgrees(encoded(4, mlp([2, 64, 64, 3], relu)));
    // The encoding's pass is the fused forward's input stage: one dispatch fewer again.
    expect(neural.info.fusedMlp?.dispatches).toEqual({ fused: 6, unfused: 15 });
    await expectFusedAgrees(encoded(3, mlp([3, 17, 2], tanh, { batchSize: 67 })));
  });

  it('every activation, on the hidden layers and as the output layer\'s', { timeout: TIMEOUT }, async () => {
    for (const activation of TEST_ACTIVATION_LAYERS) {
      const spec = mlp([4, 12, 9, 3], activation);
      await expectFusedAgrees({ ...spec, layers: [...spec.layers, activation] });
    }
  });

  it('every loss', { timeout: TIMEOUT }, async () => {
    for (const loss of TEST_LOSSES) {
      const outputs = LOSSES[loss.type].minOutputs > 1 ? 3 : loss.type === 'binaryCrossEntropy' ? 1 : 3;
      await expectFusedAgrees(withLoss(mlp([4, 16, 8, outputs], tanh), loss));
    }
  });

  it('every optimizer, with L2 penalties and clipNorm', { timeout: TIMEOUT }, async () => {
    for (const optimizer of TEST_OPTIMIZERS) await expectFusedAgrees(mlp([4, 16, 8, 3], tanh, { optimizer }));
    const spec = mlp([4, 16, 8, 3], tanh, { optimizer: { type: 'momentum', learningRate: 0.05, nesterov: true, clipNorm: 0.1 } as OptimizerSpec });
    spec.layers[0] = { type: 'dense', units: 16, l2: 0.01 };
    await expectFusedAgrees(spec);
  });

  it("'auto' times both paths on hardware and keeps the per-layer step on a software adapter, reporting why; a network it cannot fuse runs unfused and says why", { timeout: TIMEOUT }, async () => {
    const auto = await trace({ ...mlp([2, 64, 64, 3], relu), backend: 'webgpu' });
    const decision = auto.info.fusedMlp!;
    if (auto.info.software) {
      // SwiftShader: no trial, the fused kernels are not even compiled.
      expect(decision).toEqual({ fused: false, reason: "'auto' on a software adapter (there the fused kernels compile for seconds and measured slower)",
        dispatches: { unfused: 14 } });
    } else {
      expect(decision.trials!.fused).toBeGreaterThan(0);
      expect(decision.trials!.unfused).toBeGreaterThan(0);
      expect(decision.fused).toBe(decision.trials!.fused < decision.trials!.unfused);
    }
    const spec = mlp([4, 16, 3], tanh);
    const dropout = await trace({ ...spec, layers: [spec.layers[0]!, { type: 'dropout', rate: 0.2 }, ...spec.layers.slice(1)], backend: 'webgpu' });
    expect(dropout.info.fusedMlp).toMatchObject({ fused: false, reason: 'cannot fuse: layer 2 is a dropout layer (the fused kernels take dense layers and activations, after a frequencyEncoding at most)' });
  });

  it("'always' on a network it cannot fuse, and a mode it does not know, are SpecErrors; the mode then trains as before", { timeout: TIMEOUT }, async () => {
    const spec = mlp([4, 16, 3], tanh, { backend: 'webgpu' });
    const cases: [NetworkSpec, string][] = [
      [{ ...spec, layers: [spec.layers[0]!, { type: 'layerNormalization' }, ...spec.layers.slice(1)], fusedMlp: 'always' },
        "fusedMlp 'always' cannot fuse this network: layer 2 is a layerNormalization layer (the fused kernels take dense layers and activations, after a frequencyEncoding at most)"],
      [{ ...spec, layers: [{ type: 'frequencyEncoding', octaves: 2, activation: 'tanh' }, ...spec.layers], fusedMlp: 'always' },
        "fusedMlp 'always' cannot fuse this network: layer 1, a frequencyEncoding, is followed by an activation (the fused kernels take an encoding straight into a dense layer)"],
      [{ ...spec, inputSize: 5, layers: [{ type: 'frequencyEncoding', octaves: 13 }, ...spec.layers], fusedMlp: 'always' },
        "fusedMlp 'always' cannot fuse this network: layer 1 has 130 units (the fused kernels take widths up to 128)"],
      [{ ...spec, layers: [{ type: 'dense', units: 129 }, ...spec.layers.slice(1)], fusedMlp: 'always' },
        "fusedMlp 'always' cannot fuse this network: layer 1 has 129 units (the fused kernels take widths up to 128)"],
      [{ ...spec, inputSize: 200, fusedMlp: 'always' }, "fusedMlp 'always' cannot fuse this network: the input is 200 wide (the fused kernels take widths up to 128)"],
      [{ ...spec, fusedMlp: 'sometimes' as never }, "fusedMlp must be 'auto' or 'always' or 'never', got \"sometimes\""],
    ];
    for (const [bad, message] of cases) {
      const error = await createNetwork(bad).catch((cause: unknown) => cause);
      expect(error).toBeInstanceOf(SpecError);
      expect((error as Error).message).toBe(message);
    }
    const after = await trace({ ...spec, fusedMlp: 'always' });
    const twin = await trace({ ...spec, fusedMlp: 'always' });
    expect(after.losses).toEqual(twin.losses);
    expect(Array.from(after.weights)).toEqual(Array.from(twin.weights));
  });
});

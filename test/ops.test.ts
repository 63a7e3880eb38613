/**
 * The op tables are the one list of what the engine knows: this iterates them and fails when the
 * plan, a backend, the model file or the TF.js interchange lacks an entry. Kernel-level agreement
 * with the reference is in kernels.test.ts / cpu-kernels.test.ts, whole-step agreement in
 * training.test.ts, both over the same tables (test/support/ops.ts).
 */
import { describe, expect, it } from 'vitest';
import { createNetwork, fromTfjsArtifacts, loadNetwork, type LayerSpec, type NetworkSpec } from '../src/index.js';
import { ACTIVATION_NAMES, ACTIVATIONS, LOSS_NAMES, LOSSES, momentCount, OPTIMIZER_NAMES, OPTIMIZERS } from '../src/ops/index.js';
import { decodeModelFile } from '../src/io/model-file.js';
import { compilePlan } from '../src/plan.js';
import { TEST_ACTIVATION_LAYERS, TEST_OPTIMIZER_VARIANTS, TEST_OPTIMIZERS, variantName } from './support/ops.js';

const X = Float32Array.from({ length: 6 * 3 }, (_, i) => Math.sin(i * 1.7) * 2);
const Y = Float32Array.from({ length: 6 * 2 }, (_, i) => (i % 2 === Math.floor(i / 2) % 2 ? 1 : 0));

const specWith = (activation: LayerSpec, extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
  inputSize: 3,
  layers: [{ type: 'dense', units: 5 }, activation, { type: 'dense', units: 2 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 4,
  seed: 3,
  ...extra,
});

describe('the op tables', () => {
  it('hold every op once, each with a distinct wasm code', () => {
    for (const table of [ACTIVATIONS, LOSSES, OPTIMIZERS]) {
      const codes = Object.values(table).map((entry) => entry.wasmCode);
      expect(new Set(codes).size).toBe(codes.length);
    }
    expect(ACTIVATION_NAMES.length).toBe(TEST_ACTIVATION_LAYERS.length);
    expect(OPTIMIZER_NAMES.length).toBe(TEST_OPTIMIZERS.length);
    for (const [name, entry] of Object.entries(OPTIMIZERS)) {
      // The uniform names only numeric parameters the optimizer has; every optimizer takes clipNorm.
      for (const field of entry.uniform) expect((entry.params as Record<string, { kind: string }>)[field]?.kind, `${name}.${field}`).toBe('number');
      expect(Object.keys(entry.params)).toContain('clipNorm');
    }
  });

  it.each(ACTIVATION_NAMES)('%s as `activation` on a dense layer compiles to the same plan as its own layer', (name) => {
    const inline = compilePlan({ ...specWith({ type: name } as LayerSpec), layers: [{ type: 'dense', units: 5, activation: name }, { type: 'dense', units: 2 }] });
    const separate = compilePlan(specWith({ type: name } as LayerSpec));
    expect(inline).toEqual(separate);
    expect(inline.layers[0]!.activation).toEqual({ name, slope: Object.values(ACTIVATIONS[name].params)[0]?.default ?? 0 });
  });

  it.each(TEST_ACTIVATION_LAYERS.map((layer) => [layer.type, layer] as const))(
    '%s survives the model file and the TF.js interchange with identical predictions', async (_name, layer) => {
      const net = await createNetwork({ ...specWith(layer), backend: 'cpu' });
      await net.fit(X, Y, { epochs: 2 });
      const expected = Array.from(await net.predict(X));
      const loaded = await loadNetwork(await net.save(), { backend: 'cpu' });
      expect(loaded.plan.layers.map((l) => l.activation)).toEqual(net.plan.layers.map((l) => l.activation));
      expect(Array.from(await loaded.predict(X))).toEqual(expected);
      const imported = await fromTfjsArtifacts(await net.toTfjsArtifacts(), { backend: 'cpu' });
      expect(imported.plan.layers.map((l) => l.activation)).toEqual(net.plan.layers.map((l) => l.activation));
      expect(Array.from(await imported.predict(X))).toEqual(expected);
      for (const n of [net, loaded, imported]) n.dispose();
    });

  it.each(LOSS_NAMES)('loss %s survives the model file', async (loss) => {
    const net = await createNetwork({ ...specWith({ type: 'tanh' }, { loss }), backend: 'cpu' });
    const trained = await net.fit(X, Y, { epochs: 2 });
    const loaded = await loadNetwork(await net.save(), { backend: 'cpu' });
    expect(loaded.plan.loss).toBe(loss);
    expect(await loaded.evaluate(X, Y)).toEqual(await net.evaluate(X, Y));
    expect(trained.loss.every(Number.isFinite)).toBe(true);
    net.dispose();
    loaded.dispose();
  });

  // Every variant, so every count of moment vectors (0 to 3) goes through the file, on both float32
  // backends (the reference keeps float64 state, which the file rounds).
  const resumeCases = TEST_OPTIMIZER_VARIANTS.flatMap((o) => (['cpu', 'webgpu'] as const).map((backend) => [variantName(o), backend, o] as const));

  it.each(resumeCases)('optimizer %s resumes from the model file exactly (%s)', async (_name, backend, optimizer) => {
    const net = await createNetwork({ ...specWith({ type: 'tanh' }, { optimizer }), backend });
    await net.fit(X, Y, { epochs: 2 });
    const saved = await net.save({ optimizerState: true });
    // The file holds the moments the settings use: 0 to 3 vectors.
    expect(decodeModelFile(saved).state.moments).toHaveLength(momentCount(net.plan.optimizer));
    const loaded = await loadNetwork(saved, { backend });
    expect(loaded.plan.optimizer).toEqual(net.plan.optimizer);
    expect((await loaded.fit(X, Y, { epochs: 2 })).loss).toEqual((await net.fit(X, Y, { epochs: 2 })).loss);
    expect(await loaded.getWeights()).toEqual(await net.getWeights());
    net.dispose();
    loaded.dispose();
  });

  it('a dense layer\'s l2 survives the model file and the TF.js interchange', async () => {
    const spec = specWith({ type: 'tanh' }, { layers: [{ type: 'dense', units: 5, l2: 0.01 }, { type: 'tanh' }, { type: 'dense', units: 2 }] });
    const net = await createNetwork({ ...spec, backend: 'cpu' });
    await net.fit(X, Y, { epochs: 2 });
    const loaded = await loadNetwork(await net.save(), { backend: 'cpu' });
    const imported = await fromTfjsArtifacts(await net.toTfjsArtifacts(), { backend: 'cpu' });
    for (const other of [loaded, imported]) {
      expect(other.plan.layers.map((l) => l.l2)).toEqual([0.01, 0]);
      expect(await other.evaluate(X, Y)).toEqual(await net.evaluate(X, Y));
      other.dispose();
    }
    net.dispose();
  });
});

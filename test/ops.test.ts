/**
 * The op tables are the one list of what the engine knows: this iterates them and fails when the
 * plan, a backend, the model file or the TF.js interchange lacks an entry. Kernel-level agreement
 * with the reference is in kernels.test.ts / cpu-kernels.test.ts, whole-step agreement in
 * training.test.ts, both over the same tables (test/support/ops.ts).
 */
import { describe, expect, it } from 'vitest';
import { createNetwork, fromTfjsArtifacts, loadNetwork, SpecError, type ActivationName, type LayerSpec, type NetworkSpec } from '../src/index.js';
import { ACTIVATION_NAMES, ACTIVATIONS, LOSS_NAMES, LOSSES, momentCount, OPTIMIZER_NAMES, OPTIMIZERS } from '../src/ops/index.js';
import { decodeModelFile } from '../src/io/model-file.js';
import { compilePlan } from '../src/plan.js';
import { DEFAULT_ACTIVATION_LAYERS, TEST_ACTIVATION_LAYERS, TEST_LOSSES, TEST_OPTIMIZER_VARIANTS, TEST_OPTIMIZERS, variantName } from './support/ops.js';

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
    expect(LOSS_NAMES.length).toBe(TEST_LOSSES.length);
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
    expect(inline.layers[0]!.activation).toEqual({ name, slope: Number(Object.values(ACTIVATIONS[name].params)[0]?.default ?? 0) });
  });

  const layerName = (layer: LayerSpec) => JSON.stringify(layer);
  it.each([...TEST_ACTIVATION_LAYERS, ...DEFAULT_ACTIVATION_LAYERS].map((layer) => [layerName(layer), layer] as const))(
    '%s survives the model file and, where TF.js has it, the TF.js interchange with identical predictions', async (_name, layer) => {
      const net = await createNetwork({ ...specWith(layer), backend: 'cpu' });
      await net.fit(X, Y, { epochs: 2 });
      const expected = Array.from(await net.predict(X));
      const loaded = await loadNetwork(await net.save(), { backend: 'cpu' });
      expect(loaded.plan.layers.map((l) => l.activation)).toEqual(net.plan.layers.map((l) => l.activation));
      expect(Array.from(await loaded.predict(X))).toEqual(expected);
      loaded.dispose();
      const { tfjs } = ACTIVATIONS[layer.type as ActivationName];
      if ('activations' in tfjs && !(net.plan.layers[0]!.activation.slope in tfjs.activations)) {
        // What TF.js lacks (elu with alpha ≠ 1) is refused, naming it, and the network goes on.
        await expect(net.toTfjsArtifacts()).rejects.toThrow(SpecError);
        await expect(net.toTfjsArtifacts()).rejects.toThrow(`TF.js has no ${layer.type}`);
        expect(Array.from(await net.predict(X))).toEqual(expected);
      } else {
        const imported = await fromTfjsArtifacts(await net.toTfjsArtifacts(), { backend: 'cpu' });
        expect(imported.plan.layers.map((l) => l.activation)).toEqual(net.plan.layers.map((l) => l.activation));
        expect(Array.from(await imported.predict(X))).toEqual(expected);
        imported.dispose();
      }
      net.dispose();
    });

  it.each(TEST_LOSSES.map((loss) => [loss.type, loss] as const))('loss %s survives the model file and the TF.js interchange', async (_name, loss) => {
    const net = await createNetwork({ ...specWith({ type: 'tanh' }, { loss }), backend: 'cpu' });
    const trained = await net.fit(X, Y, { epochs: 2 });
    expect(net.plan.loss).toEqual(loss);
    const loaded = await loadNetwork(await net.save(), { backend: 'cpu' });
    expect(loaded.plan).toEqual(net.plan);
    expect(await loaded.evaluate(X, Y)).toEqual(await net.evaluate(X, Y));
    expect(trained.loss.every(Number.isFinite)).toBe(true);
    // The loss is not part of a TF.js model: the importer names it (a softmax-ended model implies its own).
    const imported = await fromTfjsArtifacts(await net.toTfjsArtifacts(), { backend: 'cpu', loss, batchSize: 4, seed: 3,
      optimizer: { type: 'adam', learningRate: 0.01 } });
    expect(imported.plan).toEqual(net.plan);
    expect(Array.from(await imported.predict(X))).toEqual(Array.from(await net.predict(X)));
    for (const n of [net, loaded, imported]) n.dispose();
  });

  it('binaryCrossEntropy: a sigmoid after the last dense layer or none is the same network, predicting probabilities', async () => {
    const layers = [{ type: 'dense', units: 5 }, { type: 'tanh' }, { type: 'dense', units: 2 }] as const;
    const bare = await createNetwork({ ...specWith({ type: 'tanh' }), layers: [...layers], loss: 'binaryCrossEntropy', backend: 'cpu' });
    const sigmoid = compilePlan({ ...specWith({ type: 'tanh' }), layers: [...layers, { type: 'sigmoid' }], loss: 'binaryCrossEntropy' });
    const inline = compilePlan({ ...specWith({ type: 'tanh' }), layers: [layers[0], layers[1], { type: 'dense', units: 2, activation: 'sigmoid' }],
      loss: 'binaryCrossEntropy' });
    expect(sigmoid).toEqual(bare.plan);
    expect(inline).toEqual(bare.plan);
    expect(bare.plan.layers[1]!.activation.name).toBe('linear');
    const logits = await createNetwork({ ...specWith({ type: 'tanh' }), layers: [...layers], loss: 'mse', backend: 'cpu' });
    const probabilities = await bare.predict(X);
    Array.from(await logits.predict(X)).forEach((z, i) => expect(probabilities[i]).toBeCloseTo(1 / (1 + Math.exp(-z)), 6));
    bare.dispose();
    logits.dispose();
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
      expect(other.plan.layers.map((l) => l.kind === 'dense' && l.l2)).toEqual([0.01, 0]);
      expect(await other.evaluate(X, Y)).toEqual(await net.evaluate(X, Y));
      other.dispose();
    }
    net.dispose();
  });
});

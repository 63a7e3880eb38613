/**
 * TF.js layers interchange, checked against TF.js itself (cpu backend): our export loads with
 * tf.loadLayersModel and predicts what we predict; models TF.js builds import and predict what TF.js
 * predicts; the shapes Keras's converter writes (model_config wrapper, InputLayer, scoped weight
 * names) import too; anything else is a ModelFileError.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVATION_NAMES, ACTIVATIONS } from '../../src/ops/index.js';
import { createNetwork, fromTfjsArtifacts, ModelFileError, SpecError, type LayerSpec, type NetworkSpec, type TfjsArtifacts } from '../../src/index.js';

const X = Array.from({ length: 9 }, (_, r) => [Math.sin(r) * 2 + 4, (r % 3) - 1, Math.cos(r) / 2, r / 9]);
const Y = X.map(([a, b]) => (a! - 4 + b! > 0 ? [1, 0, 0] : b! > 0 ? [0, 1, 0] : [0, 0, 1]));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThan(tolerance);
}

async function tfPredict(model: tf.LayersModel, rows: number[][]): Promise<Float32Array> {
  const input = tf.tensor2d(rows);
  const output = model.predict(input) as tf.Tensor;
  const values = (await output.data()) as Float32Array;
  input.dispose();
  output.dispose();
  return values;
}

/** What TF.js's model.save() hands a save handler. */
async function artifactsOf(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return saved!;
}

const EXPORTS: [string, Partial<NetworkSpec>][] = [
  ['leakyRelu and tanh, softmax output', {}],
  ['standardized inputs (folded into the first layer)', { standardize: true }],
  ['relu, sigmoid output, mse', {
    layers: [{ type: 'dense', units: 5 }, { type: 'relu' }, { type: 'dense', units: 3 }, { type: 'sigmoid' }], loss: 'mse',
  }],
  ['a sigmoid under the softmax (an Activation layer)', {
    layers: [{ type: 'dense', units: 5 }, { type: 'tanh' }, { type: 'dense', units: 3 }, { type: 'sigmoid' }],
  }],
  // Every activation of the table that TF.js has as a Dense activation, at its defaults, under its TF.js name (silu: swish).
  ...ACTIVATION_NAMES.filter((name) => name !== 'linear' && 'activations' in ACTIVATIONS[name].tfjs).map((name) => ({ type: name }) as LayerSpec)
    .map((layer): [string, Partial<NetworkSpec>] => [JSON.stringify(layer), {
      layers: [{ type: 'dense', units: 5 }, layer, { type: 'dense', units: 4 }, layer, { type: 'dense', units: 3 }],
    }]),
  // The sigmoid of binaryCrossEntropy is the loss's in our plan and the Dense layer's in TF.js.
  ['binaryCrossEntropy on logits (a sigmoid output in TF.js)', {
    layers: [{ type: 'dense', units: 5 }, { type: 'relu' }, { type: 'dense', units: 3 }], loss: 'binaryCrossEntropy',
  }],
  ['binaryCrossEntropy after a sigmoid layer', {
    layers: [{ type: 'dense', units: 5 }, { type: 'relu' }, { type: 'dense', units: 3 }, { type: 'sigmoid' }], loss: 'binaryCrossEntropy',
  }],
  ['huber, a linear output', { layers: [{ type: 'dense', units: 5 }, { type: 'tanh' }, { type: 'dense', units: 3 }], loss: { type: 'huber', delta: 0.5 } }],
];

const baseSpec: NetworkSpec = {
  inputSize: 4,
  layers: [{ type: 'dense', units: 6 }, { type: 'leakyRelu', slope: 0.2 }, { type: 'dense', units: 5 }, { type: 'tanh' },
    { type: 'dense', units: 3 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.05 },
  batchSize: 4,
  seed: 3,
  backend: 'cpu',
};

describe('export to TF.js', () => {
  it.each(EXPORTS)('tf.loadLayersModel loads it and predicts the same within 1e-5: %s', async (_, changes) => {
    const net = await createNetwork({ ...baseSpec, ...changes });
    await net.fit(X, Y, { epochs: 5 });
    const artifacts = await net.toTfjsArtifacts();
    const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(model.inputs[0]!.shape).toEqual([null, 4]);
    expectClose(await tfPredict(model, X), await net.predict(X));
    // Our own import of the export gives the same predictions (without the standardization, which is folded).
    const back = await fromTfjsArtifacts(artifacts, { backend: 'cpu' });
    expectClose(await back.predict(X), await net.predict(X));
    model.dispose();
    net.dispose();
    back.dispose();
  });

  it('exports from the GPU backend too', async () => {
    const net = await createNetwork({ ...baseSpec, backend: 'webgpu' });
    await net.fit(X, Y, { epochs: 3 });
    const model = await tf.loadLayersModel(tf.io.fromMemory(await net.toTfjsArtifacts()));
    expectClose(await tfPredict(model, X), await net.predict(X));
    model.dispose();
    net.dispose();
  });
});

describe('import from TF.js', () => {
  function tfModel(): tf.Sequential {
    const model = tf.sequential();
    model.add(tf.layers.dense({ units: 7, inputShape: [4], activation: 'relu', biasInitializer: 'randomNormal' }));
    model.add(tf.layers.dense({ units: 5, biasInitializer: 'randomNormal' }));
    model.add(tf.layers.leakyReLU({ alpha: 0.15 }));
    model.add(tf.layers.dense({ units: 4, activation: 'tanh' }));
    model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
    return model;
  }

  it.each(['cpu', 'webgpu'] as const)('a Sequential of Dense and LeakyReLU layers predicts what TF.js predicts (%s)', async (backend) => {
    const model = tfModel();
    const net = await fromTfjsArtifacts(await artifactsOf(model), { backend, optimizer: { type: 'sgd', learningRate: 0.1 } });
    expect(net.plan.loss).toEqual({ type: 'softmaxCrossEntropy' });
    expect(net.plan.layers.map((l) => [l.inputs, l.units, l.activation.name])).toEqual([
      [4, 7, 'relu'], [7, 5, 'leakyRelu'], [5, 4, 'tanh'], [4, 3, 'linear']]);
    expect(net.plan.layers[1]!.activation.slope).toBeCloseTo(0.15, 7);
    expectClose(await net.predict(X), await tfPredict(model, X));
    // and it trains from there
    const { loss } = await net.fit(X, Y, { epochs: 3 });
    expect(loss[2]!).toBeLessThan(loss[0]!);
    model.dispose();
    net.dispose();
  });

  it('a model without softmax takes the loss given (default mse), and dense layers without bias', async () => {
    const model = tf.sequential();
    model.add(tf.layers.dense({ units: 3, inputShape: [4], activation: 'sigmoid', useBias: false }));
    const artifacts = await artifactsOf(model);
    const mse = await fromTfjsArtifacts(artifacts, { backend: 'cpu' });
    expect(mse.plan.loss).toEqual({ type: 'mse' });
    expectClose(await mse.predict(X), await tfPredict(model, X));
    const sse = await fromTfjsArtifacts(artifacts, { backend: 'cpu', loss: 'sse' });
    expect(sse.plan.loss).toEqual({ type: 'sse' });
    model.dispose();
    mse.dispose();
    sse.dispose();
  });

  it('a model ending in a sigmoid trains with binaryCrossEntropy, predicting what TF.js predicts', async () => {
    const model = tf.sequential();
    model.add(tf.layers.dense({ units: 5, inputShape: [4], activation: 'tanh', biasInitializer: 'randomNormal' }));
    model.add(tf.layers.dense({ units: 3, activation: 'sigmoid', biasInitializer: 'randomNormal' }));
    const artifacts = await artifactsOf(model);
    const net = await fromTfjsArtifacts(artifacts, { backend: 'cpu', loss: 'binaryCrossEntropy', optimizer: { type: 'adam', learningRate: 0.05 } });
    expect(net.plan.loss).toEqual({ type: 'binaryCrossEntropy' });
    expect(net.plan.layers.map((l) => l.activation.name)).toEqual(['tanh', 'linear']);
    expectClose(await net.predict(X), await tfPredict(model, X));
    const { loss } = await net.fit(X, Y, { epochs: 3 });
    expect(loss[2]!).toBeLessThan(loss[0]!);
    // Exported again, it is a Dense layer with a sigmoid, as it came.
    const layers = (await net.toTfjsArtifacts()).modelTopology.config.layers as { config: { activation: string } }[];
    expect(layers.map((l) => l.config.activation)).toEqual(['tanh', 'sigmoid']);
    model.dispose();
    net.dispose();
  });

  it('a model ending in softmax takes softmaxCrossEntropy as a name or an object, and refuses another loss', async () => {
    const model = tfModel();
    const artifacts = await artifactsOf(model);
    const net = await fromTfjsArtifacts(artifacts, { backend: 'cpu', loss: { type: 'softmaxCrossEntropy' } });
    expect(net.plan.loss).toEqual({ type: 'softmaxCrossEntropy' });
    const refused = fromTfjsArtifacts(artifacts, { backend: 'cpu', loss: 'binaryCrossEntropy' });
    await expect(refused).rejects.toBeInstanceOf(SpecError);
    await expect(refused).rejects.toThrow("ends in a softmax, so its loss is 'softmaxCrossEntropy', not 'binaryCrossEntropy'");
    model.dispose();
    net.dispose();
  });

  it('reads what the Keras converter writes: model_config, an InputLayer, scoped weight names, split weight data', async () => {
    const model = tfModel();
    const original = await artifactsOf(model);
    const topology = original.modelTopology as { config: { layers: { config: Record<string, unknown> }[] } };
    const layers = structuredClone(topology.config.layers);
    delete layers[0]!.config.batch_input_shape;
    const data = original.weightData as ArrayBuffer;
    const keras = {
      modelTopology: {
        model_config: { class_name: 'Sequential', config: { name: 'sequential', layers: [
          { class_name: 'InputLayer', config: { batch_shape: [null, 4], name: 'input_layer' } }, ...layers] } },
        training_config: { loss: 'categorical_crossentropy' },
      },
      weightSpecs: original.weightSpecs!.map((s) => ({ ...s, name: `sequential/${s.name}` })),
      weightData: [data.slice(0, 40), data.slice(40)],
    };
    const net = await fromTfjsArtifacts(keras, { backend: 'cpu' });
    expectClose(await net.predict(X), await tfPredict(model, X));
    model.dispose();
    net.dispose();
  });
});

describe('artifacts we cannot use are a ModelFileError', () => {
  async function ours(): Promise<TfjsArtifacts> {
    const net = await createNetwork(baseSpec);
    const artifacts = await net.toTfjsArtifacts();
    net.dispose();
    return artifacts;
  }
  const withLayers = (a: TfjsArtifacts, layers: object[]) => ({ ...a, modelTopology: { ...a.modelTopology, config: { name: 's', layers } } });

  it.each<[string, (a: TfjsArtifacts) => unknown, string[]]>([
    ['not an object', () => 'model.json', ['ModelArtifacts object']],
    ['a functional model', (a) => ({ ...a, modelTopology: { ...a.modelTopology, class_name: 'Model' } }), ['only Sequential', '"Model"']],
    ['a Conv2D layer', (a) => withLayers(a, [{ class_name: 'Conv2D', config: { name: 'conv' } }]), ['Conv2D', 'only Dense']],
    ['an unknown activation', (a) => withLayers(a, [{ class_name: 'Dense', config: { units: 6, activation: 'selu', name: 'dense_1',
      batch_input_shape: [null, 4] } }]), ['"selu"']],
    ['softmax before the last layer', (a) => {
      const layers = structuredClone(a.modelTopology.config.layers) as { config: Record<string, unknown> }[];
      layers[0]!.config.activation = 'softmax';
      return withLayers(a, layers);
    }, ['after the softmax']],
    ['a missing weight', (a) => ({ ...a, weightSpecs: a.weightSpecs.slice(0, -1) }), ['weightData holds']],
    ['a renamed weight', (a) => ({ ...a, weightSpecs: a.weightSpecs.map((s, i) => (i === 0 ? { ...s, name: 'other/kernel' } : s)) }),
      ['no weight named dense_1/kernel']],
    ['a wrong shape', (a) => ({ ...a, weightSpecs: a.weightSpecs.map((s, i) => (i === 0 ? { ...s, shape: [6, 4] } : s)) }),
      ['dense_1/kernel has shape [6,4]', 'expected [4,6]']],
    ['int32 weights', (a) => ({ ...a, weightSpecs: a.weightSpecs.map((s) => ({ ...s, dtype: 'int32' })) }), ['dtype "int32"']],
    ['a NaN weight', (a) => {
      const data = new Float32Array(a.weightData.slice(0));
      data[2] = NaN;
      return { ...a, weightData: data.buffer };
    }, ['dense_1/kernel[2] is NaN']],
    ['weightData that is not bytes', (a) => ({ ...a, weightData: [1, 2, 3] }), ['ArrayBuffer']],
  ])('%s', async (_, damage, fragments) => {
    const attempt = fromTfjsArtifacts(damage(await ours()), { backend: 'cpu' });
    await expect(attempt).rejects.toBeInstanceOf(ModelFileError);
    for (const fragment of fragments) await expect(attempt).rejects.toThrow(fragment);
  });
});

describe('dropout and normalization layers, both ways', () => {
  const LAYER_EXPORTS: [string, Partial<NetworkSpec>][] = [
    ['dense → layerNormalization → gelu → dropout → dense, softmax', {
      layers: [{ type: 'dense', units: 6 }, { type: 'layerNormalization', epsilon: 1e-4 }, { type: 'gelu' }, { type: 'dropout', rate: 0.3 },
        { type: 'dense', units: 3 }],
    }],
    ['dense → batchNormalization(relu) → dense, softmax', {
      layers: [{ type: 'dense', units: 6 }, { type: 'batchNormalization', momentum: 0.8, activation: 'relu' }, { type: 'dense', units: 3 }],
    }],
    // A LeakyReLU after a normalization, standardization folded into the first layer, and the
    // loss's sigmoid as an Activation layer after a normalization that ends the network.
    ['standardized, batchNormalization → leakyRelu, a final layerNormalization, binaryCrossEntropy', {
      standardize: true,
      layers: [{ type: 'dense', units: 6, activation: 'tanh' }, { type: 'batchNormalization', epsilon: 0.01 }, { type: 'leakyRelu', slope: 0.1 },
        { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 3 }, { type: 'layerNormalization' }],
      loss: 'binaryCrossEntropy',
    }],
  ];

  it.each(LAYER_EXPORTS)('trained on the reference, TF.js loads the export and predicts the same within 1e-5: %s', async (_, changes) => {
    const net = await createNetwork({ ...baseSpec, backend: 'reference', ...changes });
    await net.fit(X, Y, { epochs: 5 });
    // Training has moved the normalizations' parameters, and batch normalization's moving statistics, off their starts.
    for (const entry of await net.getWeights()) {
      if ('gamma' in entry) expect(entry.gamma.some((g) => Math.abs(g - 1) > 1e-3)).toBe(true);
      if ('movingMean' in entry) {
        expect(entry.movingMean.some((m) => Math.abs(m) > 1e-3)).toBe(true);
        expect(entry.movingVariance.some((v) => Math.abs(v - 1) > 1e-3)).toBe(true);
      }
    }
    const artifacts = await net.toTfjsArtifacts();
    const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(model.inputs[0]!.shape).toEqual([null, 4]);
    // Inference: dropout is the identity and batch normalization reads its moving statistics, in both.
    expectClose(await tfPredict(model, X), await net.predict(X));
    // TF.js saves it again with the weights we wrote (names, order), and our import of either predicts the same.
    const resaved = await artifactsOf(model);
    expect(resaved.weightSpecs!.map((s) => s.name)).toEqual(artifacts.weightSpecs.map((s) => s.name));
    for (const source of [artifacts, resaved]) {
      const back = await fromTfjsArtifacts(source, { backend: 'reference', loss: net.plan.loss });
      expect(back.plan.layers.map((l) => [l.kind, l.activation])).toEqual(net.plan.layers.map((l) => [l.kind, l.activation]));
      expectClose(await back.predict(X), await net.predict(X));
      back.dispose();
    }
    model.dispose();
    net.dispose();
  });

  it('names the layers and weights as TF.js does, the moving statistics last', async () => {
    const net = await createNetwork({ ...baseSpec, backend: 'reference', ...LAYER_EXPORTS[1]![1] });
    const { modelTopology, weightSpecs } = await net.toTfjsArtifacts();
    expect((modelTopology.config.layers as { class_name: string }[]).map((l) => l.class_name))
      .toEqual(['Dense', 'BatchNormalization', 'Activation', 'Dense']);
    expect(weightSpecs.map((s) => s.name)).toEqual(['dense_1/kernel', 'dense_1/bias', 'batch_normalization_1/gamma', 'batch_normalization_1/beta',
      'dense_2/kernel', 'dense_2/bias', 'batch_normalization_1/moving_mean', 'batch_normalization_1/moving_variance']);
    net.dispose();
  });

  /** dense → layerNormalization → gelu → dropout → batchNormalization → dense(softmax), every weight set away from its initial value. */
  function tfNormalized(): tf.Sequential {
    const model = tf.sequential();
    model.add(tf.layers.dense({ units: 6, inputShape: [4] }));
    model.add(tf.layers.layerNormalization({ epsilon: 1e-4 }));
    model.add(tf.layers.activation({ activation: 'gelu' }));
    model.add(tf.layers.dropout({ rate: 0.25 }));
    model.add(tf.layers.batchNormalization({ momentum: 0.9, epsilon: 0.01 }));
    model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
    // Moving variances in [0.3, 1.7] (a variance is positive); every other weight in ±1.
    model.setWeights(model.weights.map((w, k) => {
      const values = Array.from({ length: w.shape.reduce((a: number, b) => a * b!, 1) }, (_, i) => Math.sin(1.3 * i + 2.1 * k + 0.4));
      return tf.tensor(w.originalName.endsWith('moving_variance') ? values.map((v) => 1 + 0.7 * v) : values, w.shape as number[]);
    }));
    return model;
  }

  it.each(['reference', 'cpu'] as const)('a TF.js model with moving statistics imports and predicts what TF.js predicts (%s)', async (backend) => {
    const model = tfNormalized();
    const artifacts = await artifactsOf(model);
    // TF.js writes LayerNormalization's axis as [1] (resolved from -1 for a [batch, features] input): the same axis.
    const topology = artifacts.modelTopology as { config: { layers: { config: Record<string, unknown> }[] } };
    expect(topology.config.layers[1]!.config.axis).toEqual([1]);
    const net = await fromTfjsArtifacts(artifacts, { backend, optimizer: { type: 'sgd', learningRate: 0.05 }, batchSize: 4 });
    expect(net.plan.layers.map((l) => [l.kind, l.activation.name])).toEqual([
      ['dense', 'linear'], ['layerNormalization', 'gelu'], ['dropout', 'linear'], ['batchNormalization', 'linear'], ['dense', 'linear']]);
    expect(net.plan.layers[1]).toMatchObject({ epsilon: 1e-4 });
    expect(net.plan.layers[2]).toMatchObject({ rate: 0.25 });
    expect(net.plan.layers[3]).toMatchObject({ momentum: 0.9, epsilon: 0.01 });
    expectClose(await net.predict(X), await tfPredict(model, X));
    const batchNorm = (await net.getWeights())[2] as { movingVariance: Float32Array };
    expect([...batchNorm.movingVariance]).toEqual([...(await model.layers[4]!.getWeights()[3]!.data())]);
    // It trains from there, and exports back to a model TF.js predicts the same with.
    const { loss } = await net.fit(X, Y, { epochs: 3 });
    expect(loss.every(Number.isFinite)).toBe(true);
    const again = await tf.loadLayersModel(tf.io.fromMemory(await net.toTfjsArtifacts()));
    expectClose(await tfPredict(again, X), await net.predict(X));
    again.dispose();
    model.dispose();
    net.dispose();
  });

  type TfjsLayer = { class_name: string; config: Record<string, unknown> };
  /** The TF.js artifacts of tfNormalized with `change` applied to a copy of its layer list (layer 1: LayerNormalization, 3: Dropout, 4: BatchNormalization). */
  async function changed(change: (layers: TfjsLayer[]) => void, weights?: (a: tf.io.ModelArtifacts) => tf.io.ModelArtifacts) {
    const model = tfNormalized();
    const artifacts = await artifactsOf(model);
    model.dispose();
    const topology = artifacts.modelTopology as { config: { layers: TfjsLayer[] } };
    const layers = structuredClone(topology.config.layers);
    change(layers);
    const result = { ...artifacts, modelTopology: { ...topology, config: { ...topology.config, layers } } };
    return weights ? weights(result) : result;
  }

  it.each<[string, (layers: TfjsLayer[]) => void, string[]]>([
    ['LayerNormalization over axis 0 (the batch)', (l) => { l[1]!.config.axis = 0; }, ['layer 1', 'axis 0', 'only the feature axis']],
    ['LayerNormalization over two axes', (l) => { l[1]!.config.axis = [0, 1]; }, ['axis [0, 1]']],
    ['a 3-d input, where axis 1 is not the features\'', (l) => { l[0]!.config.batch_input_shape = [null, 2, 2]; }, ['[null, width]', '[null, 2, 2]']],
    ['LayerNormalization with center false', (l) => { l[1]!.config.center = false; }, ['center false', 'only center and scale true']],
    ['BatchNormalization with scale false', (l) => { l[4]!.config.scale = false; }, ['layer 4', 'scale false']],
    ['BatchNormalization over axis 2', (l) => { l[4]!.config.axis = 2; }, ['layer 4', 'axis 2']],
    ['a gamma_regularizer', (l) => { l[4]!.config.gamma_regularizer = { class_name: 'L1L2', config: { l1: 0, l2: 0.1 } }; },
      ['gamma_regularizer (L1L2)', 'cannot be imported']],
    ['a beta_constraint', (l) => { l[1]!.config.beta_constraint = { class_name: 'MaxNorm', config: {} }; }, ['beta_constraint (MaxNorm)']],
    ['batch renormalization', (l) => { l[4]!.config.renorm = true; }, ['renorm (true)']],
    ['Dropout with a noise_shape', (l) => { l[3]!.config.noise_shape = [1, 6]; }, ['layer 3', 'noise_shape']],
    ['Dropout at rate 1', (l) => { l[3]!.config.rate = 1; }, ['rate must be a finite number in [0, 1), got 1']],
    ['BatchNormalization with momentum 2', (l) => { l[4]!.config.momentum = 2; }, ['momentum must be a finite number in [0, 1]']],
    ['LayerNormalization with epsilon 0', (l) => { l[1]!.config.epsilon = 0; }, ['epsilon must be a finite number > 0']],
    ['a normalization before any Dense layer', (l) => { l.unshift({ ...l[1]!, config: { ...l[1]!.config, batch_input_shape: [null, 4] } }); },
      ['the first layer must be Dense']],
  ])('a model with %s is a ModelFileError naming it', async (_, change, fragments) => {
    const attempt = fromTfjsArtifacts(await changed(change), { backend: 'reference' });
    await expect(attempt).rejects.toBeInstanceOf(ModelFileError);
    for (const fragment of fragments) await expect(attempt).rejects.toThrow(fragment);
  });

  it('a negative moving variance or a missing moving mean is a ModelFileError naming the weight', async () => {
    const negative = await changed(() => {}, (a) => {
      const data = new Float32Array((a.weightData as ArrayBuffer).slice(0));
      data[data.length - 2] = -0.5;
      return { ...a, weightData: data.buffer };
    });
    const variance = fromTfjsArtifacts(negative, { backend: 'reference' });
    await expect(variance).rejects.toBeInstanceOf(ModelFileError);
    await expect(variance).rejects.toThrow(/moving_variance\[4\] is -0.5; it must be ≥ 0/);
    const renamed = await changed(() => {}, (a) => ({ ...a, weightSpecs: a.weightSpecs!.map((s) => ({ ...s, name: s.name.replace('moving_mean', 'mean') })) }));
    const mean = fromTfjsArtifacts(renamed, { backend: 'reference' });
    await expect(mean).rejects.toBeInstanceOf(ModelFileError);
    await expect(mean).rejects.toThrow(/no weight named batch_normalization\w*\/moving_mean/);
  });

  it('an activation TF.js lacks after a normalization is a SpecError naming it, and the network trains on', async () => {
    const net = await createNetwork({ ...baseSpec, backend: 'reference',
      layers: [{ type: 'dense', units: 6 }, { type: 'layerNormalization' }, { type: 'elu', alpha: 0.5 }, { type: 'dense', units: 3 }] });
    const refused = net.toTfjsArtifacts();
    await expect(refused).rejects.toBeInstanceOf(SpecError);
    await expect(refused).rejects.toThrow('TF.js has no elu with alpha 0.5');
    const { loss } = await net.fit(X, Y, { epochs: 4 });
    expect(loss[3]!).toBeLessThan(loss[0]!);
    net.dispose();
  });
});

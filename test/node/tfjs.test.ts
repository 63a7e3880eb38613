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

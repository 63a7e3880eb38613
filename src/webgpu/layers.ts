import { LINEAR_WORKGROUP, type KernelKey } from '../../shaders/index.js';
import { dropoutThreshold, readsPreActivation, type ActivationName } from '../ops/index.js';
import { sendsGradientBelow, type DenseLayerPlan, type LayerPlan, type ParameterView, type Plan } from '../plan.js';
import type { Dims } from './dims.js';
import { ceilDiv, type Bindings, type Dispatch, type GpuResources } from './resources.js';

/*
 * The layers whose op is not a matrix product (dropout, layer and batch normalization, frequency
 * encoding), recorded as dispatches: their forward passes in training and in inference, and their
 * backward passes. Only a frequency encoding may be the first layer (it then reads the network's
 * input, and sends no gradient below: sendsGradientBelow). Each
 * op writes z, and an activation after it runs as an element-wise pass of its own (activate). In
 * backward such a layer writes the plain dL/d(input) into the layer below's dL/dz, and the below
 * layer's activation derivative then multiplies it in place (activationDerivative), where a dense
 * layer above would have fused it into its signal product's epilogue.
 *
 * A dropout layer without an activation of its own is fused where it can be (dropoutFusion): in
 * forward into the pass that writes its input (a dense layer's product, or another layer's activate
 * pass), in backward into the signal product of a dense layer above, which then also applies the
 * derivative of the layer below the dropout. Each fused side drops a pass over the batch and, on an
 * adapter where a dispatch costs ~0.2 ms (SwiftShader), most of the time such a pass takes.
 */

export type OpLayerPlan = Exclude<LayerPlan, DenseLayerPlan>;
type DropoutLayerPlan = Extract<LayerPlan, { kind: 'dropout' }>;

/**
 * Where dropout layer `l`'s passes run, if it is a dropout layer without an activation: `forward`
 * when the layer below writes its output in a pass that can also write the dropped copy (a dense
 * layer's product, or the activate pass of a layer with an activation), `backward` when a dense
 * layer above computes its signal product, whose epilogue can mask it.
 */
export function dropoutFusion(plan: Plan, l: number): { forward: boolean; backward: boolean } {
  const layer = plan.layers[l];
  if (layer?.kind !== 'dropout' || layer.activation.name !== 'linear') return { forward: false, backward: false };
  const below = plan.layers[l - 1]!;
  return { forward: below.kind === 'dense' || below.activation.name !== 'linear', backward: plan.layers[l + 1]?.kind === 'dense' };
}

/** The dropout layer fused into the pass that writes layer l's output (see dropoutFusion), if there is one. */
export function fusedDropoutAbove(plan: Plan, l: number): DropoutLayerPlan | undefined {
  const above = plan.layers[l + 1];
  return above?.kind === 'dropout' && dropoutFusion(plan, l + 1).forward ? above : undefined;
}

/** The buffers of every layer for the largest batch (batchSize rows), by layer index. */
export interface LayerBuffers {
  /** output [batchSize, units]: the input of the layer above. */
  outputs: GPUBuffer[];
  /** dL/dz [batchSize, units]; a layer's op backward writes its input gradient into the layer below's. */
  zGrads: GPUBuffer[];
  /**
   * z [batchSize, units] where it is kept apart from the output: a dense layer's where its
   * activation's derivative reads z (gelu, silu), any other layer's where it has an activation.
   */
  preActivations: (GPUBuffer | undefined)[];
  /** What each layer's activation derivative reads: z where readsPreActivation, else the output. */
  gates: GPUBuffer[];
  /** What each layer's forward pass saves for its backward one. */
  saved: SavedBuffers[];
}

/** Normalization layers: x̂ [batchSize, units], s (layer: [batchSize], batch: [units]); batch normalization's batch statistics. */
export interface SavedBuffers {
  normalized?: GPUBuffer;
  inverseDeviation?: GPUBuffer;
  /** The batch's mean [units] then biased variance [units], for the moving update. */
  batchStatistics?: GPUBuffer;
}

export function allocateLayers(plan: Plan, res: GpuResources): LayerBuffers {
  const { batchSize } = plan;
  const floats = (layer: LayerPlan, count: number, what: string) => res.floats(count, `layer ${layer.index} ${what}`);
  const matrix = (layer: LayerPlan, what: string) => floats(layer, batchSize * layer.units, `${what} [batchSize, ${layer.units}]`);
  const outputs = plan.layers.map((layer) => matrix(layer, 'output'));
  const preActivations: (GPUBuffer | undefined)[] = [];
  const saved = plan.layers.map((layer): SavedBuffers => {
    // A dense product writes z beside its output only for a derivative that reads it; any other op
    // writes z apart from the output wherever an activation follows it.
    const keepsZ = layer.kind === 'dense' ? readsPreActivation(layer.activation.name) : layer.activation.name !== 'linear';
    preActivations.push(keepsZ ? matrix(layer, 'pre-activation') : undefined);
    switch (layer.kind) {
      case 'dense':
      case 'dropout':
      case 'frequencyEncoding': return {};
      case 'layerNormalization':
        return { normalized: matrix(layer, 'normalized input x̂'), inverseDeviation: floats(layer, batchSize, 'row 1/√(var + ε) [batchSize]') };
      case 'batchNormalization':
        return {
          normalized: matrix(layer, 'normalized input x̂'),
          inverseDeviation: floats(layer, layer.units, `feature 1/√(var + ε) [${layer.units}]`),
          batchStatistics: floats(layer, 2 * layer.units, `batch mean and variance [2, ${layer.units}]`),
        };
      default: return layer satisfies never;
    }
  });
  return {
    outputs,
    zGrads: plan.layers.map((layer) => matrix(layer, 'dL/dz')),
    preActivations,
    gates: plan.layers.map((layer, l) => (readsPreActivation(layer.activation.name) ? preActivations[l]! : outputs[l]!)),
    saved,
  };
}

const activateKey = (activation: ActivationName, dropout = false): Extract<KernelKey, { kind: 'activate' }> =>
  (dropout ? { kind: 'activate', activation, dropout: true } : { kind: 'activate', activation });
const derivativeKey = (activation: ActivationName) => ({ kind: 'activationDerivative', activation }) as const;
const batchNormKey = (training: boolean) => ({ kind: 'batchNormForward', training }) as const;

/** The kernels of one layer that is not dense (and of its input gradient's activation derivative). */
export function opLayerKernelKeys(plan: Plan, layer: OpLayerPlan): KernelKey[] {
  const below = plan.layers[layer.index - 1]?.activation.name ?? 'linear';
  const activated = layer.activation.name !== 'linear';
  const dropoutAbove = fusedDropoutAbove(plan, layer.index) !== undefined;
  const fusion = dropoutFusion(plan, layer.index);
  const sends = sendsGradientBelow(plan, layer.index);
  const common: KernelKey[] = [
    ...(activated ? [activateKey(layer.activation.name, dropoutAbove)] : []),
    ...(below !== 'linear' && !fusion.backward && sends ? [derivativeKey(below)] : []),
  ];
  switch (layer.kind) {
    // In inference dropout is the identity: the activate pass alone, a copy where the activation is
    // linear; none of the two where the pass below writes the output (fused).
    case 'dropout': return [
      ...(fusion.forward && (fusion.backward || !sends) ? [] : [{ kind: 'dropout' } as const]),
      ...(fusion.forward ? [] : [activateKey(layer.activation.name)]), ...common,
    ];
    case 'layerNormalization':
      return [{ kind: 'layerNormForward' }, ...(sends ? [{ kind: 'layerNormInputGradient' } as const] : []), { kind: 'gammaBetaGradient' }, ...common];
    case 'batchNormalization':
      return [batchNormKey(true), batchNormKey(false), { kind: 'batchNormBackward' }, { kind: 'movingStatistics' }, ...common];
    case 'frequencyEncoding': return [{ kind: 'frequencyEncoding' }, ...(sends ? [{ kind: 'frequencyEncodingGradient' } as const] : []), ...common];
    default: return layer satisfies never;
  }
}

/** What recording a layer needs from the step: the dispatch list, the parameter vectors, the buffers. */
export interface LayerRecorder {
  res: GpuResources;
  /** Records a dispatch (its Dims in a slot of its own) and returns its index in the step's list. */
  add(key: KernelKey, dims: Dims, bindings: Bindings, grid: Dispatch['grid']): number;
  segment(buffer: GPUBuffer, view: ParameterView): GPUBufferBinding;
  params: GPUBuffer;
  grads: GPUBuffer;
  /** The network's input [batchSize, inputSize]: what the first layer reads. */
  input: GPUBuffer;
  buffers: LayerBuffers;
}

/** Grids: a thread per element of the batch, a workgroup per row, a thread per feature. */
function grids(res: GpuResources, units: number) {
  return {
    elements: (rows: number) => res.linearGrid(rows * units),
    rows: (rows: number) => res.linearGrid(rows * LINEAR_WORKGROUP),
    features: (): [number, number] => [ceilDiv(units, LINEAR_WORKGROUP), 1],
  };
}

/**
 * Dropout's Dims fields: the mask's seed, layer and threshold, and the float32 scale 1/(1 − rate) of
 * the kept elements; in inference (a fused pass's copy), threshold 0 and scale 1: every element kept as it is.
 */
export const dropoutFields = (plan: Plan, layer: DropoutLayerPlan, training: boolean): Pick<Dims, 'scale' | 'seed' | 'layer' | 'threshold'> =>
  training ? { scale: Math.fround(1 / (1 - layer.rate)), seed: plan.seed, layer: layer.index, threshold: dropoutThreshold(layer.rate) }
    : { scale: 1, seed: plan.seed, layer: layer.index, threshold: 0 };
const dropoutDims = (plan: Plan, layer: DropoutLayerPlan): Dims => ({ m: plan.batchSize, n: layer.units, k: 0, rowsAxis: 1, ...dropoutFields(plan, layer, true) });

/** The layer's forward dispatches in training (fit, trainBatch) and in inference (predict, evaluate). */
export function recordOpForward(plan: Plan, rec: LayerRecorder, layer: OpLayerPlan): { train: number[]; inference: number[] } {
  const { add, segment, params, buffers, res } = rec;
  const l = layer.index;
  const input = l === 0 ? rec.input : buffers.outputs[l - 1]!;
  const output = buffers.outputs[l]!;
  // The op writes the output itself where there is no activation after it.
  const z = buffers.preActivations[l] ?? output;
  const dims: Dims = { m: plan.batchSize, n: layer.units, k: 0, rowsAxis: 1 };
  const grid = grids(res, layer.units);
  const activate = (source: GPUBuffer) =>
    add(activateKey(layer.activation.name), { ...dims, slope: layer.activation.slope }, { z: source, output }, grid.elements);
  // The activation after the op, with a dropout layer above fused in: its training and inference passes differ then.
  const dropoutAbove = fusedDropoutAbove(plan, l);
  const activated = (training: boolean) => (dropoutAbove
    ? add(activateKey(layer.activation.name, true), { ...dims, slope: layer.activation.slope, ...dropoutFields(plan, dropoutAbove, training) },
      { z, output, dropped: buffers.outputs[l + 1]! }, grid.elements)
    : activate(z));
  const activation = (training = true) => (buffers.preActivations[l] ? [activated(training)] : []);
  switch (layer.kind) {
    case 'dropout': {
      // Fused: the pass below writes this layer's output in training and in inference.
      if (dropoutFusion(plan, l).forward) return { train: [], inference: [] };
      const masked = add({ kind: 'dropout' }, dropoutDims(plan, layer), { source: input, result: z }, grid.elements);
      return { train: [masked, ...activation()], inference: [activate(input)] };
    }
    case 'layerNormalization': {
      const { normalized, inverseDeviation } = buffers.saved[l]!;
      const normalize = add({ kind: 'layerNormForward' }, { ...dims, epsilon: layer.epsilon }, {
        input, gamma: segment(params, layer.gamma), beta: segment(params, layer.beta), normalized: normalized!, inverseDeviation: inverseDeviation!, z,
      }, grid.rows);
      const train = [normalize, ...activation()];
      return { train, inference: dropoutAbove ? [normalize, ...activation(false)] : train };
    }
    case 'batchNormalization': {
      const { normalized, inverseDeviation, batchStatistics } = buffers.saved[l]!;
      const affine = { input, gamma: segment(params, layer.gamma), beta: segment(params, layer.beta), z };
      const normalize = add(batchNormKey(true), { ...dims, epsilon: layer.epsilon }, {
        ...affine, normalized: normalized!, inverseDeviation: inverseDeviation!, batchStatistics: batchStatistics!,
      }, grid.features);
      // Training never reads the moving statistics, so they can follow the batch's right away.
      const follow = add({ kind: 'movingStatistics' }, { m: 0, n: layer.units, k: 0, rowsAxis: 0, momentum: layer.momentum }, {
        batchStatistics: batchStatistics!, movingMean: segment(params, layer.movingMean), movingVariance: segment(params, layer.movingVariance),
      }, grid.features);
      const infer = add(batchNormKey(false), { ...dims, epsilon: layer.epsilon }, {
        ...affine, movingMean: segment(params, layer.movingMean), movingVariance: segment(params, layer.movingVariance),
      }, grid.features);
      const trainActivation = activation();
      return { train: [normalize, follow, ...trainActivation], inference: [infer, ...(dropoutAbove ? activation(false) : trainActivation)] };
    }
    case 'frequencyEncoding': {
      // A thread per (input element, octave), writing its sine and cosine.
      const encode = add({ kind: 'frequencyEncoding' }, { ...dims, n: layer.inputs * layer.octaves, k: layer.octaves }, { input, z },
        grids(res, layer.inputs * layer.octaves).elements);
      const train = [encode, ...activation()];
      return { train, inference: dropoutAbove ? [encode, ...activation(false)] : train };
    }
    default: return layer satisfies never;
  }
}

/**
 * The layer's backward dispatches: from its dL/dz, its parameters' gradients and dL/d(input) into
 * the layer below's dL/dz, which the below layer's activation derivative then gates (unless linear).
 * No input gradient where nothing below trains (sendsGradientBelow), but batch normalization's,
 * whose one pass writes it beside its own gradients.
 */
export function recordOpBackward(plan: Plan, rec: LayerRecorder, layer: OpLayerPlan): number[] {
  const { add, segment, params, grads, buffers, res } = rec;
  const l = layer.index;
  const zGrad = buffers.zGrads[l]!;
  const inputGrad = buffers.zGrads[l - 1]!;
  const sends = sendsGradientBelow(plan, l);
  const { normalized, inverseDeviation } = buffers.saved[l]!;
  const dims: Dims = { m: plan.batchSize, n: layer.units, k: 0, rowsAxis: 1 };
  const grid = grids(res, layer.units);
  const passes: number[] = [];
  switch (layer.kind) {
    case 'dropout':
      // Fused: the dense layer above masks its signal and applies the derivative below (products.ts).
      if (dropoutFusion(plan, l).backward || !sends) return [];
      passes.push(add({ kind: 'dropout' }, dropoutDims(plan, layer), { source: zGrad, result: inputGrad }, grid.elements));
      break;
    case 'layerNormalization': {
      const saved = { zGrad, normalized: normalized! };
      passes.push(add({ kind: 'gammaBetaGradient' }, dims, { ...saved, gammaGrad: segment(grads, layer.gamma), betaGrad: segment(grads, layer.beta) },
        grid.features));
      if (sends) {
        passes.push(add({ kind: 'layerNormInputGradient' }, dims, {
          ...saved, gamma: segment(params, layer.gamma), inverseDeviation: inverseDeviation!, inputGrad,
        }, grid.rows));
      }
      break;
    }
    case 'batchNormalization':
      passes.push(add({ kind: 'batchNormBackward' }, dims, {
        zGrad, normalized: normalized!, gamma: segment(params, layer.gamma), inverseDeviation: inverseDeviation!,
        gammaGrad: segment(grads, layer.gamma), betaGrad: segment(grads, layer.beta), inputGrad,
      }, grid.features));
      break;
    case 'frequencyEncoding':
      if (!sends) return [];
      // A thread per input element, summing its 2·octaves columns' gradients.
      passes.push(add({ kind: 'frequencyEncodingGradient' }, { m: plan.batchSize, n: layer.inputs, k: layer.octaves, rowsAxis: 1 },
        { input: buffers.outputs[l - 1]!, zGrad, inputGrad }, grids(res, layer.inputs).elements));
      break;
    default: layer satisfies never;
  }
  const below = plan.layers[l - 1]!;
  if (sends && below.activation.name !== 'linear') {
    // Over the input's width, which a frequency encoding's output is not.
    passes.push(add(derivativeKey(below.activation.name), { ...dims, n: below.units, slope: below.activation.slope },
      { gate: buffers.gates[l - 1]!, grad: inputGrad }, grids(res, below.units).elements));
  }
  return passes;
}

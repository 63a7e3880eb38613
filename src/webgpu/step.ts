import { hyperFields, LINEAR_WORKGROUP, reduceGroups, STEP_BYTES, type KernelKey } from '../../shaders/index.js';
import { LOSSES, lossDelta, momentSlots, OPTIMIZERS, optimizerVariant, readsPreActivation, type Loss } from '../ops/index.js';
import { isDense, type ParameterView, type Plan } from '../plan.js';
import { weightedClasses } from '../training/class-weights.js';
import { packDims, UNIFORM_SLOT, type Dims } from './dims.js';
import type { Kernel } from './kernels.js';
import { allocateLayers, dropoutFields, fusedDropoutAbove, opLayerKernelKeys, recordOpBackward, recordOpForward, type LayerRecorder } from './layers.js';
import { matmulGrid, type PlanProducts, type Product } from './products.js';
import { ceilDiv, FLOAT, type Bindings, type Dispatch, type GpuResources } from './resources.js';

/*
 * A training step of a plan recorded once as dispatches, with the buffers they bind: parameters,
 * gradients and optimizer state (one flat vector each, in the plan's layout), activations and
 * gradients for the largest batch, the loss record. The trainer only replays these lists.
 */

type LossKernelKey = Extract<KernelKey, { kind: 'loss' }>;

/**
 * The loss kernels of a plan: for [rows, outputs] targets, and for one class index per row where
 * the loss takes class labels (binaryCrossEntropy's 0/1 labels reach the backend as its targets).
 */
function lossKeys(plan: Plan): LossKernelKey[] {
  // The loss kernel fuses the output activation's derivative when it is a function of the output; a
  // derivative that reads z runs after it (activationDerivative), so the loss kernel sees a linear output.
  const last = plan.layers[plan.layers.length - 1]!.activation;
  const key = { kind: 'loss', loss: plan.loss.type, activation: readsPreActivation(last.name) ? 'linear' : last.name } as const;
  const classLabels = LOSSES[plan.loss.type].labels === 'classes';
  return [{ ...key, labels: false }, ...(classLabels ? [{ ...key, labels: true }] : [])];
}

/** Each loss key's weighted twin, where the plan's loss takes class weights (weightedClasses): training lists only. */
function weightedLossKeys(plan: Plan): LossKernelKey[] {
  return weightedClasses(plan) > 0 ? lossKeys(plan).map((key) => ({ ...key, weighted: true })) : [];
}

/** The keys of the plan's loss reduction and optimizer, which depend on its penalties and optimizer settings. */
function stepKeys(plan: Plan) {
  return {
    optimizerKey: { kind: 'optimizer', ...optimizerVariant(plan.optimizer) } as const,
    lossReduceKey: { kind: 'lossReduce', l2: plan.layers.some((layer) => isDense(layer) && layer.l2 > 0) } as const,
  };
}

/** The kernels a plan uses besides its matrix products. */
export function fixedKernelKeys(plan: Plan): KernelKey[] {
  const last = plan.layers[plan.layers.length - 1]!;
  const transform = LOSSES[plan.loss.type].outputTransform;
  const { optimizerKey, lossReduceKey } = stepKeys(plan);
  // Penalties sum with their gradient in training and without it in evaluate; the clip norm sums the gradient.
  return [lossReduceKey, { kind: 'biasGradient' }, { kind: 'gatherRows' }, optimizerKey,
    ...(lossReduceKey.l2 ? [{ kind: 'sumSquares', l2Gradient: true } as const] : []),
    ...(lossReduceKey.l2 || optimizerKey.clip ? [{ kind: 'sumSquares', l2Gradient: false } as const] : []),
    ...(optimizerKey.clip ? [{ kind: 'sumPartials' } as const] : []),
    ...lossKeys(plan), ...weightedLossKeys(plan), ...(readsPreActivation(last.activation.name) ? [{ kind: 'activationDerivative', activation: last.activation.name } as const] : []),
    ...(transform === 'none' ? [] : [{ kind: 'outputTransform', transform } as const]),
    ...plan.layers.flatMap((layer) => (isDense(layer) ? [] : opLayerKernelKeys(plan, layer)))];
}

/** What the loss shader divides a row's sum by besides the rows: the outputs for the means over every element. */
function lossScale(loss: Loss, outputs: number): number {
  switch (loss.type) {
    case 'mse':
    case 'binaryCrossEntropy':
    case 'meanAbsoluteError':
    case 'huber': return outputs;
    case 'sse':
    case 'softmaxCrossEntropy': return 1;
    default: return loss satisfies never;
  }
}

/** The dispatches of a training step and of an evaluation, for one form of targets. */
export interface StepDispatches {
  train: Dispatch[];
  evaluate: Dispatch[];
  /** `train` with the weighted loss kernel, where the loss takes class weights. */
  weightedTrain?: Dispatch[];
}

export interface StepRecording {
  params: GPUBuffer;
  /** The moment vectors in use, in slot order (TrainingState.moments). */
  moments: GPUBuffer[];
  /** The Step uniform (rows, loss slot, optimizer step, batch start), written before each submit. */
  step: GPUBuffer;
  /** [batchSize, inputSize] and [batchSize, outputs] (class labels: [batchSize, 1]). */
  input: GPUBuffer;
  target: GPUBuffer;
  /** [classes] class weights the weighted loss kernels read, where the loss takes them (written per fit or trainBatch). */
  classWeights?: GPUBuffer;
  /** What predict reads: the transformed outputs where the loss has a transform, else the last layer's. */
  outputs: GPUBuffer;
  /**
   * By `Targets.labels`: the loss kernel reads [rows, outputs] targets (false), or one class index
   * per row (true, only where the loss takes class labels). Predictions need no targets.
   */
  stepDispatches: Map<boolean, StepDispatches>;
  predictDispatches: Dispatch[];
  /**
   * Each matrix product's dispatches by its label ('layer 1 forward'), for the autotune to switch
   * their variant: one, or two for a forward product with a dropout fused in (training, inference).
   */
  productDispatches: Map<string, { product: Product; dispatches: Dispatch[] }>;
  /** Rebuilds the loss reduction (which binds the loss record) around `record`, in every list. */
  bindLossRecord(record: GPUBuffer): void;
}

/**
 * Allocates the step's buffers and records its dispatches; `kernels` holds every key's compiled
 * kernel, `products` each dense layer's matrix products (undefined for the other layers).
 */
export function recordStep(plan: Plan, res: GpuResources, kernels: Map<string, Kernel>, products: PlanProducts,
  initial: Float32Array, lossRecord: GPUBuffer): StepRecording {
  const { batchSize, inputSize, outputSize, parameterCount, trainableCount, optimizer, layers } = plan;
  const dense = layers.filter(isDense);
  const device = res.device;

  const params = res.floats(parameterCount, 'parameters [parameterCount]');
  device.queue.writeBuffer(params, 0, initial);
  const grads = res.floats(parameterCount, 'gradients [parameterCount]');
  const { optimizerKey, lossReduceKey } = stepKeys(plan);
  // The moment slots the optimizer's settings use, in slot order.
  const slots = momentSlots(optimizerKey);
  const moments = slots.map((slot) => res.floats(parameterCount, `moment${slot + 1}, ${OPTIMIZERS[optimizer.type].moments[slot]} [parameterCount]`));
  // The hyper-parameters in the order of hyperFields (shaders/optimizer.wgsl.ts declares the same).
  const values = optimizer as unknown as Record<string, number>;
  const hyperValues = Float32Array.from(hyperFields(optimizerKey), (name) => values[name]!);
  const hyper = res.uniform(Math.max(16, Math.ceil(hyperValues.byteLength / 16) * 16), 'optimizer hyper-parameters');
  device.queue.writeBuffer(hyper, 0, hyperValues);
  const step = res.uniform(STEP_BYTES, 'step');

  const input = res.floats(batchSize * inputSize, 'input [batchSize, inputSize]');
  const target = res.floats(batchSize * outputSize, 'target [batchSize, outputs] (class labels: [batchSize, 1])');
  const buffers = allocateLayers(plan, res);
  const { outputs: layerOutputs, zGrads, preActivations, gates } = buffers;
  const rowLoss = res.floats(batchSize, 'row losses [batchSize]');
  const classes = weightedClasses(plan);
  const classWeights = classes > 0 ? res.floats(classes, `class weights [${classes}]`) : undefined;
  const transform = LOSSES[plan.loss.type].outputTransform;
  const probabilities = transform === 'none' ? undefined : res.floats(batchSize * outputSize, 'probabilities [batchSize, outputs]');
  // Partial sums of the reductions, only when there are some: each L2-penalised layer's l2·ΣW²
  // (reduceGroups of its weights each, from 0), then the gradient's Σg² for clipNorm.
  const penaltyAt: number[] = [];
  let partialCount = 0;
  for (const layer of layers) {
    penaltyAt.push(partialCount);
    if (isDense(layer) && layer.l2 > 0) partialCount += reduceGroups(layer.weights.length);
  }
  const penaltyCount = partialCount;
  const normAt = partialCount;
  if (optimizerKey.clip) partialCount += reduceGroups(trainableCount);
  const partials = partialCount > 0 ? res.floats(partialCount, `partial sums [${partialCount}]`) : undefined;
  const normSquared = optimizerKey.clip ? res.floats(1, 'squared gradient norm [1]') : undefined;

  // Every dispatch of the plan, recorded once; their Dims go in one uniform buffer, a slot each.
  const dimsList: Dims[] = [];
  const pending: { key: KernelKey; dims: number; bindings: Bindings; grid: Dispatch['grid'] }[] = [];
  const add = (key: KernelKey, dims: Dims, bindings: Bindings, grid: Dispatch['grid']) => {
    pending.push({ key, dims: dimsList.push(dims) - 1, bindings, grid });
    return pending.length - 1;
  };
  const productIndices: [Product, number][] = [];
  const matmul = (product: Product, bindings: Bindings) => {
    const index = add(product.key, product.dims, bindings, matmulGrid(product));
    productIndices.push([product, index]);
    return index;
  };
  const segment = (buffer: GPUBuffer, view: ParameterView) => ({ buffer, offset: view.offset * FLOAT, size: view.length * FLOAT });
  const rowsGrid = (rows: number) => res.linearGrid(rows);
  const layerInput = (l: number) => (l === 0 ? input : layerOutputs[l - 1]!);
  const last = layers.length - 1;

  const recorder: LayerRecorder = { res, add, segment, params, grads, input, buffers };

  // Forward in training and in inference: the two differ in dropout and batch normalization only.
  const forward: number[] = [];
  const inference: number[] = [];
  for (const layer of layers) {
    const l = layer.index;
    switch (layer.kind) {
      case 'dense': {
        // output = activation(input · weights + bias), keeping z where the derivative reads it, and
        // the output of a dropout above where it is fused in: masked in training, a copy in inference.
        const product = products[l]!.forward;
        const dropout = fusedDropoutAbove(plan, l);
        const bindings: Bindings = {
          a: layerInput(l), b: segment(params, layer.weights), c: layerOutputs[l]!, bias: segment(params, layer.bias),
          ...(preActivations[l] ? { preActivation: preActivations[l]! } : {}),
          ...(dropout ? { dropped: layerOutputs[l + 1]! } : {}),
        };
        const train = matmul(product, bindings);
        forward.push(train);
        inference.push(dropout ? matmul({ ...product, dims: { ...product.dims, ...dropoutFields(plan, dropout, false) } }, bindings) : train);
        break;
      }
      case 'dropout':
      case 'layerNormalization':
      case 'batchNormalization':
      case 'frequencyEncoding': {
        const passes = recordOpForward(plan, recorder, layer);
        forward.push(...passes.train);
        inference.push(...passes.inference);
        break;
      }
      default: layer satisfies never;
    }
  }
  const lossDims: Dims = {
    m: batchSize, n: outputSize, k: 0, rowsAxis: 1, slope: layers[last]!.activation.slope, scale: lossScale(plan.loss, outputSize),
    delta: lossDelta(plan.loss),
  };
  // One loss dispatch per form of targets the loss takes (lossKeys); the one reduction comes after backward.
  const lossBindings: Bindings = { output: layerOutputs[last]!, targets: target, outputGrad: zGrads[last]!, rowLoss };
  const lossIndices = lossKeys(plan).map((key) => add(key, lossDims, lossBindings, rowsGrid));
  const weightedIndices = weightedLossKeys(plan).map((key) => add(key, lossDims, { ...lossBindings, classWeights: classWeights! }, rowsGrid));
  // Each penalised layer's l2·ΣW² into its partials; in training the same pass adds 2·l2·W to the
  // weights' gradient, so it follows the weight gradient's product (which overwrites it).
  const penalty = (l: number, gradient: boolean) => {
    const layer = dense.find((d) => d.index === l)!;
    return add({ kind: 'sumSquares', l2Gradient: gradient }, { m: layer.weights.length, n: penaltyAt[l]!, k: 0, rowsAxis: 0, scale: layer.l2 },
      { values: segment(params, layer.weights), partials: partials!, ...(gradient ? { gradient: segment(grads, layer.weights) } : {}) },
      () => [reduceGroups(layer.weights.length), 1]);
  };
  // evaluate's penalties, which only sum (no gradient there).
  const evaluatePenalties = dense.filter((layer) => layer.l2 > 0).map((layer) => penalty(layer.index, false));
  const lossReduceBindings: Bindings = { rowLoss, ...(lossReduceKey.l2 ? { penalties: partials! } : {}) };
  const lossReduceDims = { ...lossDims, k: penaltyCount };
  const lossReduceIndex = add(lossReduceKey, lossReduceDims, { ...lossReduceBindings, lossRecord }, () => [1, 1]);

  const backward: number[] = [];
  // The output activation's derivative, where the loss kernel could not fuse it (it reads z).
  if (readsPreActivation(layers[last]!.activation.name)) {
    backward.push(add({ kind: 'activationDerivative', activation: layers[last]!.activation.name }, { ...lossDims, scale: 1 },
      { gate: preActivations[last]!, grad: zGrads[last]! }, (rows) => res.linearGrid(rows * outputSize)));
  }
  for (let l = last; l >= 0; l--) {
    const layer = layers[l]!;
    switch (layer.kind) {
      case 'dense': {
        const { gradient, signal } = products[l]!;
        // weightGrad = inputᵀ · dZ; biasGrad = Σ_rows dZ; dZ below = (dZ · Wᵀ) ⊙ f'(gate below).
        backward.push(matmul(gradient, { a: layerInput(l), b: zGrads[l]!, c: segment(grads, layer.weights) }));
        if (layer.l2 > 0) backward.push(penalty(l, true));
        backward.push(add({ kind: 'biasGradient' }, { m: batchSize, n: layer.units, k: 0, rowsAxis: 1 },
          { outputGrad: zGrads[l]!, biasGrad: segment(grads, layer.bias) }, () => [ceilDiv(layer.units, LINEAR_WORKGROUP), 1]));
        // Through a fused dropout below (signal.key.dropout), to the layer under it.
        const to = signal?.key.dropout ? l - 2 : l - 1;
        if (signal) backward.push(matmul(signal, { a: zGrads[l]!, b: segment(params, layer.weights), c: zGrads[to]!, gate: gates[to]! }));
        break;
      }
      case 'dropout':
      case 'layerNormalization':
      case 'batchNormalization':
      case 'frequencyEncoding':
        backward.push(...recordOpBackward(plan, recorder, layer));
        break;
      default: layer satisfies never;
    }
  }
  // clipNorm: Σg² over the trained part of the gradient vector [0, trainableCount), whose padding
  // between segments no kernel writes (a new buffer is zeros), in two passes; the optimizer reads
  // it in the same submit.
  const clip = optimizerKey.clip ? [
    add({ kind: 'sumSquares', l2Gradient: false }, { m: trainableCount, n: normAt, k: 0, rowsAxis: 0, scale: 1 },
      { values: grads, partials: partials! }, () => [reduceGroups(trainableCount), 1]),
    add({ kind: 'sumPartials' }, { m: reduceGroups(trainableCount), n: normAt, k: 0, rowsAxis: 0 },
      { partials: partials!, total: normSquared! }, () => [1, 1]),
  ] : [];
  // The optimizer updates the trained parameters four at a time (trainableCount is a multiple of
  // PARAMETER_ALIGNMENT); the moving statistics after them are the forward pass's to update.
  const updateBindings: Bindings = { hyper, params, grads, ...(normSquared ? { normSquared } : {}) };
  moments.forEach((moment, i) => (updateBindings[`moment${slots[i]! + 1}`] = moment));
  const update = add(optimizerKey, { m: trainableCount / 4, n: 0, k: 0, rowsAxis: 0 }, updateBindings,
    () => res.linearGrid(trainableCount / 4));
  const transformPass = transform === 'none' ? [] : [add({ kind: 'outputTransform', transform }, { m: batchSize, n: outputSize, k: 0, rowsAxis: 1 },
    { logits: layerOutputs[last]!, probabilities: probabilities! }, rowsGrid)];

  const uniforms = res.uniform(Math.max(1, dimsList.length) * UNIFORM_SLOT, 'dims');
  device.queue.writeBuffer(uniforms, 0, packDims(dimsList));
  const make = (key: KernelKey, dims: number, bindings: Bindings, grid: Dispatch['grid']) =>
    res.dispatch(kernels.get(JSON.stringify(key))!, uniforms, dims, step, bindings, grid);
  const dispatches = pending.map((p) => make(p.key, p.dims, p.bindings, p.grid));
  const pick = (indices: number[]) => indices.map((i) => dispatches[i]!);
  const stepDispatches = new Map<boolean, StepDispatches>();
  // The loss is reduced after backward in training, so it can take the penalties its kernels leave.
  const trainList = (lossIndex: number) => pick([...forward, lossIndex, ...backward, lossReduceIndex, ...clip, update]);
  lossKeys(plan).forEach(({ labels }, i) => stepDispatches.set(labels, {
    train: trainList(lossIndices[i]!),
    evaluate: pick([...inference, lossIndices[i]!, ...evaluatePenalties, lossReduceIndex, ...transformPass]),
    ...(weightedIndices.length > 0 ? { weightedTrain: trainList(weightedIndices[i]!) } : {}),
  }));
  let lossReduce = dispatches[lossReduceIndex]!;
  return {
    params, moments, step, input, target, ...(classWeights ? { classWeights } : {}),
    outputs: probabilities ?? layerOutputs[last]!,
    stepDispatches,
    predictDispatches: pick([...inference, ...transformPass]),
    productDispatches: productIndices.reduce((map, [product, index]) => {
      const entry = map.get(product.label);
      if (entry) entry.dispatches.push(dispatches[index]!);
      else map.set(product.label, { product, dispatches: [dispatches[index]!] });
      return map;
    }, new Map<string, { product: Product; dispatches: Dispatch[] }>()),
    bindLossRecord(record) {
      const rebuilt = make(lossReduceKey, pending[lossReduceIndex]!.dims, { ...lossReduceBindings, lossRecord: record }, lossReduce.grid);
      for (const { train, evaluate, weightedTrain } of stepDispatches.values()) {
        for (const list of [train, evaluate, ...(weightedTrain ? [weightedTrain] : [])]) list[list.indexOf(lossReduce)] = rebuilt;
      }
      lossReduce = rebuilt;
    },
  };
}

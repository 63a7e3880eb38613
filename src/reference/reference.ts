import type { DeviceInfo, TrainingState } from '../backend.js';
import type { Targets } from '../data/matrix.js';
import { HostBackend } from '../host.js';
import { layerSegments, type Activation, type Plan } from '../plan.js';
import {
  dropoutKeep, dropoutKey, dropoutThreshold, LAYERS, learningRateAt, LOSSES, MOMENT_SLOTS, momentSlots, optimizerVariant,
  type Loss, type Optimizer, type SegmentEntry,
} from '../ops/index.js';

/*
 * The oracle: a direct transcription of the math, in float64, written to be obviously right rather
 * than fast. It shares nothing with the other backends but the plan: its activation derivatives are
 * taken from the pre-activation z (the GPU takes them from the output), and a finite-difference test
 * checks its gradients.
 */

type Matrix = Float64Array; // row-major; shapes are given beside each use

/**
 * erf in float64 (JavaScript has none): its Maclaurin series below |x| = 2.5, where the terms'
 * cancellation costs under two digits, and the continued fraction of erfc beyond, evaluated from
 * its 80th term down (both agree to ~1e-15 where they meet).
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 2.5) {
    // erf(x) = 2/√π · Σ (−1)ⁿ x^(2n+1) / (n!·(2n+1))
    let term = x;
    let sum = x;
    for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= -x * x / n;
      sum += term / (2 * n + 1);
    }
    return 2 / Math.sqrt(Math.PI) * sum;
  }
  // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …)))))
  let fraction = a;
  for (let k = 80; k >= 1; k--) fraction = a + k / 2 / fraction;
  return Math.sign(x) * (1 - Math.exp(-a * a) / (Math.sqrt(Math.PI) * fraction));
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
/** √(2/π) and the cubic coefficient of GELU's tanh approximation. */
const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

function activate(z: number, { name, slope }: Activation): number {
  switch (name) {
    case 'sigmoid': return sigmoid(z);
    case 'tanh': return Math.tanh(z);
    case 'relu': return z > 0 ? z : 0;
    case 'leakyRelu': return z > 0 ? z : slope * z;
    case 'linear': return z;
    case 'elu': return z > 0 ? z : slope * Math.expm1(z);
    case 'softplus': return Math.log1p(Math.exp(z));
    case 'silu': return z * sigmoid(z);
    case 'gelu': return slope ? 0.5 * z * (1 + Math.tanh(GELU_C * (z + GELU_CUBIC * z ** 3))) : 0.5 * z * (1 + erf(z / Math.SQRT2));
  }
}

function activationDerivative(z: number, { name, slope }: Activation): number {
  switch (name) {
    case 'sigmoid': { const s = sigmoid(z); return s * (1 - s); }
    case 'tanh': return 1 - Math.tanh(z) ** 2;
    case 'relu': return z > 0 ? 1 : 0;
    case 'leakyRelu': return z > 0 ? 1 : slope;
    case 'linear': return 1;
    case 'elu': return z > 0 ? 1 : slope * Math.exp(z);
    case 'softplus': return sigmoid(z);
    case 'silu': { const s = sigmoid(z); return s + z * s * (1 - s); }
    case 'gelu': {
      if (slope) {
        const t = Math.tanh(GELU_C * (z + GELU_CUBIC * z ** 3));
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * GELU_CUBIC * z * z);
      }
      // Φ(z) + z·φ(z)
      return 0.5 * (1 + erf(z / Math.SQRT2)) + z * Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI);
    }
  }
}

function softmaxRow(logits: ArrayLike<number>, start: number, width: number): number[] {
  let largest = -Infinity;
  for (let j = 0; j < width; j++) largest = Math.max(largest, logits[start + j]!);
  const exps = Array.from({ length: width }, (_, j) => Math.exp(logits[start + j]! - largest));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** The targets as a [rows, n] matrix: labels become their one-hot rows. */
function targetMatrix({ values, labels }: Targets, rows: number, n: number): ArrayLike<number> {
  if (!labels) return values;
  const oneHot = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) oneHot[r * n + values[r]!] = 1;
  return oneHot;
}

/**
 * Each row's class weight: the weight of the row's class, the first largest entry of its target row
 * (a label's one-hot row), or with one output 1 where the target is ≥ 0.5; 1 for every row without weights.
 */
function rowWeights(target: ArrayLike<number>, rows: number, n: number, classWeights: ArrayLike<number> | undefined): Float64Array {
  const weights = new Float64Array(rows).fill(1);
  if (!classWeights) return weights;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    if (n === 1) best = target[r]! >= 0.5 ? 1 : 0;
    else for (let j = 1; j < n; j++) if (target[r * n + j]! > target[r * n + best]!) best = j;
    weights[r] = classWeights[best]!;
  }
  return weights;
}

/**
 * Loss of `output` [rows, n] against `targets`, and dL/d(output). With `classWeights` (one per
 * class) each row's loss and gradient are multiplied by its class's weight, the divisor unchanged.
 */
export function referenceLoss(loss: Loss, output: Matrix, targets: Targets, rows: number, n: number, classWeights?: ArrayLike<number>) {
  const target = targetMatrix(targets, rows, n);
  const grad = new Float64Array(rows * n);
  const elements = rows * n;
  let total = 0;
  // 1 for every row without class weights (which only the classification losses take).
  const weights = rowWeights(target, rows, n, classWeights);
  switch (loss.type) {
    case 'softmaxCrossEntropy':
      for (let r = 0; r < rows; r++) {
        const p = softmaxRow(output, r * n, n);
        let targetSum = 0;
        for (let j = 0; j < n; j++) targetSum += target[r * n + j]!;
        for (let j = 0; j < n; j++) {
          const t = target[r * n + j]!;
          total -= weights[r]! * t * Math.log(p[j]!) / rows;
          // d/dy_j of −Σ t·log softmax(y) = p_j·Σt − t_j
          grad[r * n + j] = weights[r]! * (p[j]! * targetSum - t) / rows;
        }
      }
      break;
    case 'mse':
    case 'sse': {
      const divisor = loss.type === 'mse' ? elements : rows;
      for (let i = 0; i < elements; i++) {
        const diff = output[i]! - target[i]!;
        total += diff * diff / divisor;
        grad[i] = 2 * diff / divisor;
      }
      break;
    }
    case 'binaryCrossEntropy':
      // The output is the logit z: −t·log σ(z) − (1 − t)·log(1 − σ(z)), written without overflow.
      for (let i = 0; i < elements; i++) {
        const z = output[i]!;
        const t = target[i]!;
        const weight = weights[Math.floor(i / n)]!;
        total += weight * (Math.max(z, 0) - z * t + Math.log1p(Math.exp(-Math.abs(z)))) / elements;
        grad[i] = weight * (sigmoid(z) - t) / elements;
      }
      break;
    case 'meanAbsoluteError':
      for (let i = 0; i < elements; i++) {
        const diff = output[i]! - target[i]!;
        total += Math.abs(diff) / elements;
        grad[i] = Math.sign(diff) / elements; // 0 at 0, as TF.js
      }
      break;
    case 'huber': {
      const { delta } = loss;
      for (let i = 0; i < elements; i++) {
        const diff = output[i]! - target[i]!;
        const quadratic = Math.abs(diff) <= delta;
        total += (quadratic ? 0.5 * diff * diff : delta * (Math.abs(diff) - 0.5 * delta)) / elements;
        grad[i] = (quadratic ? diff : delta * Math.sign(diff)) / elements;
      }
      break;
    }
    default: loss satisfies never;
  }
  return { loss: total, grad };
}

/** How a forward pass runs: training (dropout drawn for optimizer step `step`, batch statistics) or inference. */
export interface ReferenceMode {
  training: boolean;
  /** The optimizer step this pass trains for (t, counted from 1): it draws the dropout masks. */
  step: number;
}

const INFERENCE: ReferenceMode = { training: false, step: 0 };

interface ForwardPass {
  /** inputs[l]: the input of layer l [rows, inputs]; inputs[L] is the network's output. */
  inputs: Matrix[];
  /** preActivations[l]: z of layer l [rows, units], before its activation. */
  preActivations: Matrix[];
  /** Normalization layers: x̂ [rows, units], and 1/√(var + ε) per row (layer) or per feature (batch). */
  normalized: (Matrix | undefined)[];
  inverseDeviation: (Matrix | undefined)[];
  /** Batch normalization in training: the batch's mean and biased variance per feature. */
  batchStatistics: ({ mean: Matrix; variance: Matrix } | undefined)[];
}

/** Mean and biased variance of `count` values at start, start + stride, … */
function moments(values: Matrix, start: number, stride: number, count: number): { mean: number; variance: number } {
  let mean = 0;
  for (let i = 0; i < count; i++) mean += values[start + i * stride]! / count;
  let variance = 0;
  for (let i = 0; i < count; i++) variance += (values[start + i * stride]! - mean) ** 2 / count;
  return { mean, variance };
}

function forward(params: Float64Array, plan: Plan, x: ArrayLike<number>, rows: number, mode: ReferenceMode): ForwardPass {
  const pass: ForwardPass = {
    inputs: [Float64Array.from({ length: rows * plan.inputSize }, (_, i) => x[i]!)],
    preActivations: [], normalized: [], inverseDeviation: [], batchStatistics: [],
  };
  for (const layer of plan.layers) {
    const input = pass.inputs[pass.inputs.length - 1]!;
    const { inputs, units } = layer;
    const z = new Float64Array(rows * units);
    let normalized: Matrix | undefined;
    let inverseDeviation: Matrix | undefined;
    let statistics: { mean: Matrix; variance: Matrix } | undefined;
    switch (layer.kind) {
      case 'dense':
        for (let r = 0; r < rows; r++) {
          for (let u = 0; u < units; u++) {
            let sum = params[layer.bias.offset + u]!;
            for (let i = 0; i < inputs; i++) sum += input[r * inputs + i]! * params[layer.weights.offset + i * units + u]!;
            z[r * units + u] = sum;
          }
        }
        break;
      case 'dropout': {
        const key = dropoutKey(plan.seed, layer.index, mode.step);
        const threshold = dropoutThreshold(layer.rate);
        for (let i = 0; i < rows * units; i++) {
          z[i] = !mode.training ? input[i]! : dropoutKeep(key, i, threshold) ? input[i]! / (1 - layer.rate) : 0;
        }
        break;
      }
      case 'frequencyEncoding':
        // Input i's columns are sin, cos of 2^k·π·x for k = 0, 1, … (frequencyColumn's layout), taken
        // directly in float64: the other backends reduce the phase first (frequencySinCos).
        for (let r = 0; r < rows; r++) {
          for (let i = 0; i < inputs; i++) {
            for (let k = 0; k < layer.octaves; k++) {
              const angle = 2 ** k * Math.PI * input[r * inputs + i]!;
              const column = r * units + i * 2 * layer.octaves + 2 * k;
              z[column] = Math.sin(angle);
              z[column + 1] = Math.cos(angle);
            }
          }
        }
        break;
      case 'layerNormalization':
        normalized = new Float64Array(rows * units);
        inverseDeviation = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          const { mean, variance } = moments(input, r * units, 1, units);
          inverseDeviation[r] = 1 / Math.sqrt(variance + layer.epsilon);
          for (let j = 0; j < units; j++) {
            const i = r * units + j;
            normalized[i] = (input[i]! - mean) * inverseDeviation[r]!;
            z[i] = params[layer.gamma.offset + j]! * normalized[i]! + params[layer.beta.offset + j]!;
          }
        }
        break;
      case 'batchNormalization':
        normalized = new Float64Array(rows * units);
        inverseDeviation = new Float64Array(units);
        if (mode.training) statistics = { mean: new Float64Array(units), variance: new Float64Array(units) };
        for (let j = 0; j < units; j++) {
          const { mean, variance } = mode.training
            ? moments(input, j, units, rows)
            : { mean: params[layer.movingMean.offset + j]!, variance: params[layer.movingVariance.offset + j]! };
          if (statistics) [statistics.mean[j], statistics.variance[j]] = [mean, variance];
          inverseDeviation[j] = 1 / Math.sqrt(variance + layer.epsilon);
          for (let r = 0; r < rows; r++) {
            const i = r * units + j;
            normalized[i] = (input[i]! - mean) * inverseDeviation[j]!;
            z[i] = params[layer.gamma.offset + j]! * normalized[i]! + params[layer.beta.offset + j]!;
          }
        }
        break;
      default: layer satisfies never;
    }
    pass.preActivations.push(z);
    pass.inputs.push(z.map((v) => activate(v, layer.activation)));
    pass.normalized.push(normalized);
    pass.inverseDeviation.push(inverseDeviation);
    pass.batchStatistics.push(statistics);
  }
  return pass;
}

/** The layers' L2 penalties, Σ_layers l2·ΣW² (weights only, never biases). */
export function referencePenalty(plan: Plan, params: Float64Array): number {
  let penalty = 0;
  for (const layer of plan.layers) {
    if (layer.kind !== 'dense') continue;
    const { l2, weights } = layer;
    for (let i = weights.offset; i < weights.offset + weights.length; i++) penalty += l2 * params[i]! ** 2;
  }
  return penalty;
}

/**
 * dL/dx of a normalization from dL/dx̂, where x̂ = (x − mean)·s over `count` values at start,
 * start + stride, …: s·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)).
 */
function normalizationInputGradient(normalizedGrad: Matrix, normalized: Matrix, s: number, start: number, stride: number,
  count: number, into: Matrix): void {
  let meanGrad = 0;
  let meanProduct = 0;
  for (let i = 0; i < count; i++) {
    const e = start + i * stride;
    meanGrad += normalizedGrad[e]! / count;
    meanProduct += normalizedGrad[e]! * normalized[e]! / count;
  }
  for (let i = 0; i < count; i++) {
    const e = start + i * stride;
    into[e] = s * (normalizedGrad[e]! - meanGrad - normalized[e]! * meanProduct);
  }
}

/**
 * Loss (the L2 penalties included) and the gradient of every parameter (plan layout) for one batch,
 * in training mode for optimizer step `step`; with the batch normalization layers' batch statistics.
 */
export function referenceGradient(plan: Plan, params: Float64Array, x: ArrayLike<number>, y: Targets, rows: number, step = 1,
  classWeights?: ArrayLike<number>) {
  const pass = forward(params, plan, x, rows, { training: true, step });
  const { inputs, preActivations } = pass;
  const { loss, grad } = referenceLoss(plan.loss, inputs[inputs.length - 1]!, y, rows, plan.outputSize, classWeights);
  const gradients = new Float64Array(plan.parameterCount);
  let outputGrad = grad; // dL/d(output of the current layer) [rows, units]
  for (let l = plan.layers.length - 1; l >= 0; l--) {
    const layer = plan.layers[l]!;
    const input = inputs[l]!;
    const { inputs: width, units } = layer;
    // dL/dz = dL/dy · f'(z)
    const zGrad = outputGrad.map((g, i) => g * activationDerivative(preActivations[l]![i]!, layer.activation));
    const inputGrad = new Float64Array(rows * width);
    switch (layer.kind) {
      case 'dense': {
        for (let r = 0; r < rows; r++) {
          for (let u = 0; u < units; u++) {
            const g = zGrad[r * units + u]!;
            gradients[layer.bias.offset + u] += g;
            for (let i = 0; i < width; i++) {
              // dW = inputᵀ · dZ, summed over the batch; dInput = dZ · Wᵀ (weights before the update)
              gradients[layer.weights.offset + i * units + u] += input[r * width + i]! * g;
              inputGrad[r * width + i] += g * params[layer.weights.offset + i * units + u]!;
            }
          }
        }
        // d(l2·ΣW²)/dW = 2·l2·W
        const { offset, length } = layer.weights;
        for (let i = offset; i < offset + length; i++) gradients[i] += 2 * layer.l2 * params[i]!;
        break;
      }
      case 'dropout': {
        // z = x·keep/(1 − rate), so dx = dz·keep/(1 − rate), the same mask drawn again.
        const key = dropoutKey(plan.seed, layer.index, step);
        const threshold = dropoutThreshold(layer.rate);
        for (let i = 0; i < rows * units; i++) inputGrad[i] = dropoutKeep(key, i, threshold) ? zGrad[i]! / (1 - layer.rate) : 0;
        break;
      }
      case 'frequencyEncoding':
        // d sin(2^k·π·x)/dx = 2^k·π·cos(2^k·π·x), d cos(2^k·π·x)/dx = −2^k·π·sin(2^k·π·x), summed over the input's columns.
        for (let r = 0; r < rows; r++) {
          for (let i = 0; i < width; i++) {
            let sum = 0;
            for (let k = 0; k < layer.octaves; k++) {
              const angle = 2 ** k * Math.PI * input[r * width + i]!;
              const column = r * units + i * 2 * layer.octaves + 2 * k;
              sum += 2 ** k * Math.PI * (zGrad[column]! * Math.cos(angle) - zGrad[column + 1]! * Math.sin(angle));
            }
            inputGrad[r * width + i] = sum;
          }
        }
        break;
      case 'layerNormalization':
      case 'batchNormalization': {
        const normalized = pass.normalized[l]!;
        const s = pass.inverseDeviation[l]!;
        const normalizedGrad = new Float64Array(rows * units);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < units; j++) {
            const i = r * units + j;
            gradients[layer.gamma.offset + j] += zGrad[i]! * normalized[i]!;
            gradients[layer.beta.offset + j] += zGrad[i]!;
            normalizedGrad[i] = zGrad[i]! * params[layer.gamma.offset + j]!;
          }
        }
        if (layer.kind === 'layerNormalization') {
          for (let r = 0; r < rows; r++) normalizationInputGradient(normalizedGrad, normalized, s[r]!, r * units, 1, units, inputGrad);
        } else {
          for (let j = 0; j < units; j++) normalizationInputGradient(normalizedGrad, normalized, s[j]!, j, units, rows, inputGrad);
        }
        break;
      }
      default: layer satisfies never;
    }
    outputGrad = inputGrad;
  }
  return { loss: loss + referencePenalty(plan, params), gradients, batchStatistics: pass.batchStatistics };
}

/**
 * Keras's global_clipnorm: the factor min(1, clipNorm/‖g‖₂) that scales the whole gradient, the
 * norm taken over every trained segment (the padding between segments is no part of it).
 */
export function referenceClipScale(plan: Plan, gradients: Float64Array, clipNorm: number): number {
  let squares = 0;
  for (const layer of plan.layers) {
    const segments = layerSegments(layer);
    for (const [name, { trained }] of Object.entries(LAYERS[layer.kind].segments) as [string, SegmentEntry][]) {
      if (!trained) continue;
      const { offset, length } = segments[name]!;
      for (let i = offset; i < offset + length; i++) squares += gradients[i]! ** 2;
    }
  }
  const norm = Math.sqrt(squares);
  return norm > clipNorm ? clipNorm / norm : 1;
}

/**
 * Applies one optimizer step in place (`gradients` already clipped) to the trained parameters
 * [0, trainableCount); `t` counts steps from 1, and the learning rate is the schedule's (or the
 * constant's) after t − 1 earlier updates unless given.
 * `moments` holds every slot of OPTIMIZERS[type].moments (see optimizers.ts), used or not.
 */
export function referenceUpdate(optimizer: Optimizer, params: Float64Array, gradients: Float64Array,
  moments: readonly Float64Array[], t: number, trainableCount = params.length, learningRate = learningRateAt(optimizer.learningRate, t - 1)): void {
  const [moment1, moment2, moment3] = moments as [Float64Array, Float64Array, Float64Array];
  for (let i = 0; i < trainableCount; i++) {
    const g = gradients[i]!;
    switch (optimizer.type) {
      case 'sgd':
        params[i] -= learningRate * g;
        break;
      case 'momentum': {
        const { momentum } = optimizer;
        moment1[i] = momentum * moment1[i]! + g;
        // Nesterov steps along the gradient plus the velocity it leads to.
        params[i] -= learningRate * (optimizer.nesterov ? g + momentum * moment1[i]! : moment1[i]!);
        break;
      }
      case 'adam':
      case 'adamw': {
        const { beta1, beta2, epsilon } = optimizer;
        moment1[i] = beta1 * moment1[i]! + (1 - beta1) * g;
        moment2[i] = beta2 * moment2[i]! + (1 - beta2) * g * g;
        const mHat = moment1[i]! / (1 - beta1 ** t);
        const vHat = moment2[i]! / (1 - beta2 ** t);
        // AdamW decays the weight itself, outside the adaptive step: p ← p − lr·(m̂/(√v̂ + ε) + λ·p).
        const decay = optimizer.type === 'adamw' ? optimizer.weightDecay * params[i]! : 0;
        params[i] -= learningRate * (mHat / (Math.sqrt(vHat) + epsilon) + decay);
        break;
      }
      case 'rmsprop': {
        const { rho, momentum, epsilon, centered } = optimizer;
        // s ← ρs + (1−ρ)g²; centred, ḡ ← ρḡ + (1−ρ)g and the root is of s − ḡ² + ε (Keras).
        moment1[i] = rho * moment1[i]! + (1 - rho) * g * g;
        if (centered) moment3[i] = rho * moment3[i]! + (1 - rho) * g;
        const meanGradient = centered ? moment3[i]! : 0;
        const increment = learningRate * g / Math.sqrt(moment1[i]! - meanGradient ** 2 + epsilon);
        if (momentum > 0) {
          moment2[i] = momentum * moment2[i]! + increment;
          params[i] -= moment2[i]!;
        } else {
          params[i] -= increment;
        }
        break;
      }
      default: optimizer satisfies never;
    }
  }
}

export class ReferenceBackend extends HostBackend {
  readonly name = 'reference' as const;
  readonly info: DeviceInfo;
  private params: Float64Array;
  /** Every moment slot of the optimizer's entry, used or not (the oracle keeps it simple). */
  private readonly moments: Float64Array[];
  /** The slots the optimizer's settings use: what TrainingState.moments holds, in order. */
  private readonly slots: number[];

  constructor(plan: Plan, initial: Float32Array, reason: string) {
    super(plan);
    this.info = { backend: 'reference', reason };
    this.params = Float64Array.from(initial);
    this.moments = Array.from({ length: MOMENT_SLOTS }, () => new Float64Array(plan.parameterCount));
    this.slots = momentSlots(optimizerVariant(plan.optimizer));
  }

  async getParameters(): Promise<Float32Array> {
    return Float32Array.from(this.params);
  }

  async setParameters(parameters: Float32Array): Promise<void> {
    this.params = Float64Array.from(parameters);
    for (const moment of this.moments) moment.fill(0);
    this.t = 0;
  }

  async getState(): Promise<TrainingState> {
    const moments = this.slots.map((slot) => Float32Array.from(this.moments[slot]!));
    return { parameters: Float32Array.from(this.params), moments, step: this.t };
  }

  async setState({ parameters, moments, step }: TrainingState): Promise<void> {
    await this.setParameters(parameters);
    moments.forEach((moment, i) => this.moments[this.slots[i]!]!.set(moment));
    this.t = step;
  }

  protected step(x: Float32Array, y: Targets, rows: number): number {
    const { loss, gradients, batchStatistics } = referenceGradient(this.plan, this.params, x, y, rows, this.t + 1, this.classWeights);
    const { clipNorm } = this.plan.optimizer;
    if (clipNorm !== undefined) {
      const scale = referenceClipScale(this.plan, gradients, clipNorm);
      for (let i = 0; i < gradients.length; i++) gradients[i] *= scale;
    }
    referenceUpdate(this.plan.optimizer, this.params, gradients, this.moments, this.t + 1, this.plan.trainableCount, this.learningRateNow());
    this.t += 1;
    // The moving statistics follow the batch's: moving ← momentum·moving + (1 − momentum)·batch.
    for (const layer of this.plan.layers) {
      if (layer.kind !== 'batchNormalization') continue;
      const { mean, variance } = batchStatistics[layer.index]!;
      for (let j = 0; j < layer.units; j++) {
        for (const [view, batch] of [[layer.movingMean, mean], [layer.movingVariance, variance]] as const) {
          this.params[view.offset + j] = layer.momentum * this.params[view.offset + j]! + (1 - layer.momentum) * batch[j]!;
        }
      }
    }
    return loss;
  }

  protected outputs(x: Float32Array, rows: number): Float32Array {
    const { inputs } = forward(this.params, this.plan, x, rows, INFERENCE);
    const output = inputs[inputs.length - 1]!;
    const n = this.plan.outputSize;
    const transform = LOSSES[this.plan.loss.type].outputTransform;
    switch (transform) {
      case 'none': return Float32Array.from(output);
      case 'softmax': {
        const result = new Float32Array(rows * n);
        for (let r = 0; r < rows; r++) result.set(softmaxRow(output, r * n, n), r * n);
        return result;
      }
      case 'sigmoid': return Float32Array.from(output, sigmoid);
      default: return transform satisfies never;
    }
  }

  protected batchLoss(x: Float32Array, y: Targets, rows: number): number {
    // As in Keras, evaluate's loss includes the L2 penalties (TF.js leaves them out).
    const { inputs } = forward(this.params, this.plan, x, rows, INFERENCE);
    return referenceLoss(this.plan.loss, inputs[inputs.length - 1]!, y, rows, this.plan.outputSize).loss + referencePenalty(this.plan, this.params);
  }
}

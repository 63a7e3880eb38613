import { FUSED_MAX_WIDTH, gradientBlocks, hiddenLayout, vectorizable, zGradLayout, type FusedLayer, type KernelKey } from '../../shaders/index.js';
import { readsPreActivation } from '../ops/index.js';
import { isDense, type FrequencyEncodingLayerPlan, type Plan } from '../plan.js';
import type { FusedMlpMode } from '../spec.js';
import type { LayerRecorder } from './layers.js';
import { ceilDiv, type Bindings } from './resources.js';

/*
 * The fused small-MLP path of the step (shaders/fused-mlp.wgsl.ts): which plans it takes, its
 * kernels, and its dispatches. The step records it beside the unfused dispatches, on the same
 * parameters, gradients, loss kernel and optimizer, so the trainer can run either.
 */

type FusedKernelKey = Extract<KernelKey, { kind: 'fusedMlp' }>;

/** Why the fused kernels cannot run `plan`; undefined when they can. */
export function fusedMlpRefusal(plan: Plan): string | undefined {
  const encoding = inputEncoding(plan);
  if (encoding && encoding.activation.name !== 'linear') {
    return `layer 1, a frequencyEncoding, is followed by an activation (the fused kernels take an encoding straight into a dense layer)`;
  }
  const other = plan.layers.find((layer) => !isDense(layer) && layer !== encoding);
  if (other) {
    return `layer ${other.index + 1} is a ${other.kind} layer (the fused kernels take dense layers and activations, after a frequencyEncoding at most)`;
  }
  if (plan.inputSize > FUSED_MAX_WIDTH) return `the input is ${plan.inputSize} wide (the fused kernels take widths up to ${FUSED_MAX_WIDTH})`;
  const wide = plan.layers.find((layer) => layer.units > FUSED_MAX_WIDTH);
  if (wide) return `layer ${wide.index + 1} has ${wide.units} units (the fused kernels take widths up to ${FUSED_MAX_WIDTH})`;
  return undefined;
}

/** The frequencyEncoding the network starts with, if it does. */
function inputEncoding(plan: Plan): FrequencyEncodingLayerPlan | undefined {
  const first = plan.layers[0]!;
  return first.kind === 'frequencyEncoding' ? first : undefined;
}

/** The plan's dense layers as the fused kernels see them; the caller has checked fusedMlpRefusal. */
function fusedLayers(plan: Plan): FusedLayer[] {
  return plan.layers.filter(isDense).map((layer) => ({
    inputs: layer.inputs,
    units: layer.units,
    activation: layer.activation.name,
    slope: Math.fround(layer.activation.slope),
    weights: layer.weights.offset,
    bias: layer.bias.offset,
    preActivation: readsPreActivation(layer.activation.name),
    // The variants the unfused products may run (matmulVariantsFor): vec4 where the shape allows.
    forwardVec4: vectorizable(false, false, plan.batchSize, layer.units, layer.inputs),
    signalVec4: vectorizable(false, true, plan.batchSize, layer.inputs, layer.units),
  }));
}

/**
 * Rows per thread of the forward and signal kernels: one, so a row's activations fit in registers.
 * On SwiftShader four rows sharing each staged load made the signal kernel ~3× faster, but its
 * compiler then took 207 s instead of 15 s (a loaded 2-core machine) for the unrolled kernels of a
 * 64-128-8 network; the kernels take any count (FusedMlpKey.rowsPerThread).
 */
export const FUSED_ROWS_PER_THREAD = 1;

/** The fused kernels of a plan on a device with these limits: forward, signal (none for one layer), gradient. */
export function fusedKernelKeys(plan: Plan, limits: Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize'>,
  rowsPerThread: number): FusedKernelKey[] {
  const layers = fusedLayers(plan);
  const chunk = Math.floor(limits.maxComputeWorkgroupStorageSize / 4);
  const first = inputEncoding(plan);
  const encoding = first && { encoding: { inputs: first.inputs, octaves: first.octaves } };
  const key = (stage: FusedKernelKey['stage']): FusedKernelKey => ({ kind: 'fusedMlp', stage, layers, chunk, rowsPerThread, ...encoding });
  return [key('forward'), ...(layers.length > 1 ? [key('signal')] : []), key('gradient')];
}

/**
 * Why a network that could fuse is not offered the fused path, given the caller's mode and the
 * adapter; undefined where it is. 'auto' on a software adapter keeps the per-layer step without a
 * trial, as matmulVariantsFor leaves `tiled` out there: on SwiftShader the fused kernels take
 * seconds to compile and measured slower (scripts/fused-mlp-step.mts), a known loss not worth a trial.
 */
export function fusedWithheld(mode: FusedMlpMode, software: boolean): string | undefined {
  switch (mode) {
    case 'never': return "fusedMlp 'never'";
    case 'auto': return software ? "'auto' on a software adapter (there the fused kernels compile for seconds and measured slower)" : undefined;
    case 'always': return undefined;
    default: return mode satisfies never;
  }
}

/** The fused path's dispatches in the step's list: its forward and its backward (signal, gradient). */
export interface FusedRecording {
  forward: number[];
  backward: number[];
}

/**
 * Allocates the fused path's own buffers — the hidden layers' outputs (and z) packed per row
 * [batchSize, hidden width], and their dL/dz [batchSize, zGrad width] — and records its passes. The
 * last layer's output, z and dL/dz are the unfused path's buffers, which the loss kernel and
 * predict read.
 */
export function recordFusedMlp(plan: Plan, rec: LayerRecorder, keys: FusedKernelKey[], input: GPUBuffer): FusedRecording {
  const { res, add, params, grads, buffers } = rec;
  const { batchSize, layers } = plan;
  const last = layers.length - 1;
  const fused = keys[0]!.layers;
  const hiddenWidth = hiddenLayout(fused).width;
  const zGradWidth = zGradLayout(fused).width;
  const hidden = res.floats(batchSize * hiddenWidth, `fused hidden outputs [batchSize, ${hiddenWidth}]`);
  const zGrads = res.floats(batchSize * zGradWidth, `fused hidden dL/dz [batchSize, ${zGradWidth}]`);
  const dims = { m: batchSize, n: 0, k: 0, rowsAxis: 1 } as const;
  // A workgroup takes rowsPerThread rows per thread.
  const rowsGrid = (rows: number) => res.linearGrid(ceilDiv(rows, keys[0]!.rowsPerThread));
  const outputGrad = buffers.zGrads[last]!;
  const stage = (name: FusedKernelKey['stage']) => keys.find((key) => key.stage === name);
  const forwardBindings: Bindings = {
    input, params, hidden, output: buffers.outputs[last]!,
    ...(buffers.preActivations[last] ? { outputZ: buffers.preActivations[last]! } : {}),
  };
  const signal = stage('signal');
  const tasks = fused.reduce((sum, layer) => sum + gradientBlocks(layer), 0);
  return {
    forward: [add(stage('forward')!, dims, forwardBindings, rowsGrid)],
    backward: [
      ...(signal ? [add(signal, dims, { params, hidden, outputGrad, zGrads }, rowsGrid)] : []),
      add(stage('gradient')!, dims, { input, hidden, outputGrad, zGrads, grads }, () => res.linearGrid(tasks)),
    ],
  };
}

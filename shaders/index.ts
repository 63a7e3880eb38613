import type { ActivationName, OutputTransform } from '../src/ops/index.js';
import { gatherRowsShader, outputTransformShader } from './data.wgsl.js';
import { activationDerivativeShader } from './elementwise.wgsl.js';
import { lossReduceShader, lossShader, type LossKey } from './loss.wgsl.js';
import { matmulShader, type MatmulKey } from './matmul.wgsl.js';
import { optimizerShader, type OptimizerKind } from './optimizer.wgsl.js';
import { biasGradientShader } from './reduce.wgsl.js';

/**
 * The kernel registry. A key names everything that changes a kernel's WGSL and nothing else (sizes
 * go in uniforms), so it doubles as the pipeline-cache key.
 */
export type KernelKey =
  | ({ kind: 'matmul' } & MatmulKey)
  | ({ kind: 'loss' } & LossKey)
  | { kind: 'lossReduce' }
  | { kind: 'biasGradient' }
  | { kind: 'optimizer'; optimizer: OptimizerKind }
  | { kind: 'gatherRows' }
  | { kind: 'outputTransform'; transform: Exclude<OutputTransform, 'none'> }
  | { kind: 'activationDerivative'; activation: ActivationName };

export function kernelName(key: KernelKey): string {
  return Object.entries(key).map(([name, value]) => `${name}=${String(value)}`).join(',');
}

export function kernelSource(key: KernelKey): string {
  switch (key.kind) {
    case 'matmul': return matmulShader(key);
    case 'loss': return lossShader(key);
    case 'lossReduce': return lossReduceShader();
    case 'biasGradient': return biasGradientShader();
    case 'optimizer': return optimizerShader(key.optimizer);
    case 'gatherRows': return gatherRowsShader();
    case 'outputTransform': return outputTransformShader(key.transform);
    case 'activationDerivative': return activationDerivativeShader(key.activation);
  }
}

export { ACTIVATIONS, derivativeInput } from './activations.js';
export { DIMS_BYTES, LINEAR_WORKGROUP, STEP_BYTES } from './common.js';
export { LOSS_REDUCE_WORKGROUP } from './loss.wgsl.js';
export { MATMUL_VARIANTS, matmulTile, matmulVariantsFor, vectorizable, type MatmulVariant, type MatmulEpilogue, type MatmulKey } from './matmul.wgsl.js';

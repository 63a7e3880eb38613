import type { ActivationName, OutputTransform } from '../src/ops/index.js';
import { gatherRowsShader, matrixRowsShader, outputTransformShader } from './data.wgsl.js';
import { activateShader, dropoutShader } from './dropout.wgsl.js';
import { activationDerivativeShader } from './elementwise.wgsl.js';
import { frequencyEncodingGradientShader, frequencyEncodingShader } from './frequency.wgsl.js';
import { lossReduceShader, lossShader, type LossKey, type LossReduceKey } from './loss.wgsl.js';
import { matmulShader, type MatmulKey } from './matmul.wgsl.js';
import {
  batchNormBackwardShader, batchNormForwardShader, gammaBetaGradientShader, layerNormForwardShader, layerNormInputGradientShader,
  movingStatisticsShader, type BatchNormForwardKey,
} from './normalization.wgsl.js';
import { optimizerShader, type OptimizerKey } from './optimizer.wgsl.js';
import { biasGradientShader, sumPartialsShader, sumSquaresShader, type SumSquaresKey } from './reduce.wgsl.js';

/**
 * The kernel registry. A key names everything that changes a kernel's WGSL and nothing else (sizes
 * go in uniforms), so it doubles as the pipeline-cache key.
 */
export type KernelKey =
  | ({ kind: 'matmul' } & MatmulKey)
  | ({ kind: 'loss' } & LossKey)
  | ({ kind: 'lossReduce' } & LossReduceKey)
  | { kind: 'biasGradient' }
  | ({ kind: 'sumSquares' } & SumSquaresKey)
  | { kind: 'sumPartials' }
  | ({ kind: 'optimizer' } & OptimizerKey)
  | { kind: 'gatherRows' }
  | { kind: 'matrixRows'; direction: 'read' | 'write' }
  | { kind: 'outputTransform'; transform: Exclude<OutputTransform, 'none'> }
  | { kind: 'activationDerivative'; activation: ActivationName }
  | { kind: 'activate'; activation: ActivationName; dropout?: true }
  | { kind: 'dropout' }
  | { kind: 'layerNormForward' }
  | { kind: 'layerNormInputGradient' }
  | { kind: 'gammaBetaGradient' }
  | ({ kind: 'batchNormForward' } & BatchNormForwardKey)
  | { kind: 'batchNormBackward' }
  | { kind: 'movingStatistics' }
  | { kind: 'frequencyEncoding' }
  | { kind: 'frequencyEncodingGradient' };

export function kernelName(key: KernelKey): string {
  return Object.entries(key).map(([name, value]) => `${name}=${String(value)}`).join(',');
}

export function kernelSource(key: KernelKey): string {
  switch (key.kind) {
    case 'matmul': return matmulShader(key);
    case 'loss': return lossShader(key);
    case 'lossReduce': return lossReduceShader(key);
    case 'biasGradient': return biasGradientShader();
    case 'sumSquares': return sumSquaresShader(key);
    case 'sumPartials': return sumPartialsShader();
    case 'optimizer': return optimizerShader(key);
    case 'gatherRows': return gatherRowsShader();
    case 'matrixRows': return matrixRowsShader(key.direction);
    case 'outputTransform': return outputTransformShader(key.transform);
    case 'activationDerivative': return activationDerivativeShader(key.activation);
    case 'activate': return activateShader(key.activation, key.dropout === true);
    case 'dropout': return dropoutShader();
    case 'layerNormForward': return layerNormForwardShader();
    case 'layerNormInputGradient': return layerNormInputGradientShader();
    case 'gammaBetaGradient': return gammaBetaGradientShader();
    case 'batchNormForward': return batchNormForwardShader(key);
    case 'batchNormBackward': return batchNormBackwardShader();
    case 'movingStatistics': return movingStatisticsShader();
    case 'frequencyEncoding': return frequencyEncodingShader();
    case 'frequencyEncodingGradient': return frequencyEncodingGradientShader();
    default: return key satisfies never;
  }
}

export { ACTIVATIONS, derivativeInput } from './activations.js';
export { DIMS_BYTES, LINEAR_WORKGROUP, STEP_BYTES } from './common.js';
export { FREQUENCY_ENCODING } from './frequency.wgsl.js';
export { hyperFields, momentBinding, NORM_BINDING, type OptimizerKey } from './optimizer.wgsl.js';
export { MAX_REDUCE_GROUPS, reduceGroups, REDUCE_WORKGROUP } from './reduce.wgsl.js';
export { MATMUL_VARIANTS, matmulTile, matmulVariantsFor, vectorizable, type MatmulVariant, type MatmulEpilogue, type MatmulKey } from './matmul.wgsl.js';

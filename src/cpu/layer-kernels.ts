import { dropoutKeep } from '../ops/index.js';

/*
 * The CPU kernels of the layers between dense ones (dropout, layer and batch normalization), in
 * float32 storage with float64 sums. They are memory-bound passes over a [rows, units] activation,
 * a small share of a step next to its products, so both kernel sets (wasm and TypeScript) run these
 * on their own buffers (a wasm memory's are ordinary Float32Arrays too). Shapes: x, z, normalized
 * and the gradients [rows, units] row-major; gamma, beta and the moving statistics [units].
 */

/** What the normalization kernels read and write besides their input and output. */
export interface NormalizationBuffers {
  gamma: Float32Array;
  beta: Float32Array;
  /** x̂ [rows, units], kept for the backward pass. */
  normalized: Float32Array;
  /** 1/√(var + ε): per row (layer normalization) or per feature (batch normalization). */
  inverseDeviation: Float32Array;
}

export interface LayerKernels {
  /** out[e] = in[e]·scale where element e is kept in the step of `key`, else 0 (forward and backward alike). */
  dropout(input: Float32Array, output: Float32Array, count: number, key: number, threshold: number, scale: number): void;
  /** Layer normalization forward: z = gamma·x̂ + beta, x̂ each row of x normalized over its features. */
  layerNormalization(x: Float32Array, z: Float32Array, buffers: NormalizationBuffers, rows: number, units: number, epsilon: number): void;
  /**
   * Batch normalization forward. With `moving` undefined each feature is normalized by the batch's
   * mean and biased variance, written to `batchMean` and `batchVariance`; else by the moving statistics.
   */
  batchNormalization(x: Float32Array, z: Float32Array, buffers: NormalizationBuffers, rows: number, units: number, epsilon: number,
    statistics: { mean: Float32Array; variance: Float32Array; fromBatch: boolean }): void;
  /**
   * Either normalization's backward: gammaGrad/betaGrad = Σ_rows dz·x̂ / dz, and dx from dx̂ = dz·gamma
   * as s·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), the means over each row ('rows') or each feature ('features').
   */
  normalizationBackward(zGrad: Float32Array, buffers: NormalizationBuffers, gammaGrad: Float32Array, betaGrad: Float32Array,
    inputGrad: Float32Array | undefined, rows: number, units: number, over: 'rows' | 'features'): void;
}

export const layerKernels: LayerKernels = {
  dropout(input, output, count, key, threshold, scale) {
    for (let e = 0; e < count; e++) output[e] = dropoutKeep(key, e, threshold) ? input[e]! * scale : 0;
  },

  layerNormalization(x, z, { gamma, beta, normalized, inverseDeviation }, rows, units, epsilon) {
    for (let r = 0; r < rows; r++) {
      const start = r * units;
      let mean = 0;
      for (let j = 0; j < units; j++) mean += x[start + j]!;
      mean /= units;
      let variance = 0;
      for (let j = 0; j < units; j++) variance += (x[start + j]! - mean) ** 2;
      const s = 1 / Math.sqrt(variance / units + epsilon);
      inverseDeviation[r] = s;
      for (let j = 0; j < units; j++) {
        const n = (x[start + j]! - mean) * s;
        normalized[start + j] = n;
        z[start + j] = gamma[j]! * n + beta[j]!;
      }
    }
  },

  batchNormalization(x, z, { gamma, beta, normalized, inverseDeviation }, rows, units, epsilon, statistics) {
    for (let j = 0; j < units; j++) {
      let mean: number;
      let variance: number;
      if (statistics.fromBatch) {
        mean = 0;
        for (let r = 0; r < rows; r++) mean += x[r * units + j]!;
        mean /= rows;
        variance = 0;
        for (let r = 0; r < rows; r++) variance += (x[r * units + j]! - mean) ** 2;
        variance /= rows;
        statistics.mean[j] = mean;
        statistics.variance[j] = variance;
      } else {
        mean = statistics.mean[j]!;
        variance = statistics.variance[j]!;
      }
      const s = 1 / Math.sqrt(variance + epsilon);
      inverseDeviation[j] = s;
      for (let r = 0; r < rows; r++) {
        const e = r * units + j;
        const n = (x[e]! - mean) * s;
        normalized[e] = n;
        z[e] = gamma[j]! * n + beta[j]!;
      }
    }
  },

  normalizationBackward(zGrad, { gamma, normalized, inverseDeviation }, gammaGrad, betaGrad, inputGrad, rows, units, over) {
    for (let j = 0; j < units; j++) {
      let g = 0;
      let b = 0;
      for (let r = 0; r < rows; r++) {
        const e = r * units + j;
        g += zGrad[e]! * normalized[e]!;
        b += zGrad[e]!;
      }
      gammaGrad[j] = g;
      betaGrad[j] = b;
    }
    if (!inputGrad) return;
    // Over a row's features (layer) the stride is 1 and there are `units`; over a feature's rows (batch), units and `rows`.
    const [groups, count, groupStride, stride] = over === 'rows' ? [rows, units, units, 1] : [units, rows, 1, units];
    for (let group = 0; group < groups; group++) {
      const start = group * groupStride;
      let meanGrad = 0;
      let meanProduct = 0;
      for (let i = 0; i < count; i++) {
        const e = start + i * stride;
        const dn = zGrad[e]! * gamma[over === 'rows' ? i : group]!;
        meanGrad += dn;
        meanProduct += dn * normalized[e]!;
      }
      meanGrad /= count;
      meanProduct /= count;
      const s = inverseDeviation[group]!;
      for (let i = 0; i < count; i++) {
        const e = start + i * stride;
        const dn = zGrad[e]! * gamma[over === 'rows' ? i : group]!;
        inputGrad[e] = s * (dn - meanGrad - normalized[e]! * meanProduct);
      }
    }
  },
};

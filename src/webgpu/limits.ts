import { LINEAR_WORKGROUP, matmulTile } from '../../shaders/index.js';
import { DeviceError } from '../errors.js';
import type { Plan } from '../plan.js';
import { ceilDiv, FLOAT } from './resources.js';

/** Fails with a clear DeviceError before allocating when a buffer or a grid exceeds the device's limits. */
export function checkLimits(plan: Plan, limits: GPUSupportedLimits): void {
  const bindingLimit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const { batchSize, parameterCount, maxWidth } = plan;
  const needs: [string, number][] = [
    [`the parameter vector [${parameterCount}]`, parameterCount * FLOAT],
    [`the widest activation buffer [batchSize ${batchSize}, ${maxWidth}]`, batchSize * maxWidth * FLOAT],
  ];
  for (const [what, bytes] of needs) {
    if (bytes > bindingLimit) {
      throw new DeviceError(`the network is too large for this device: ${what} needs ${bytes} bytes, ` +
        `the device allows ${bindingLimit} per buffer (maxStorageBufferBindingSize/maxBufferSize); use fewer units or a smaller batchSize`);
    }
  }
  // The narrowest tile (scalar, vec4) needs the most workgroups.
  const tile = matmulTile({ vec4: false });
  const groups = Math.max(ceilDiv(batchSize, tile.rows), ceilDiv(maxWidth, tile.cols), ceilDiv(batchSize, LINEAR_WORKGROUP));
  if (groups > limits.maxComputeWorkgroupsPerDimension) {
    throw new DeviceError(`the network is too large for this device: it needs ${groups} workgroups along one dimension, ` +
      `the device allows ${limits.maxComputeWorkgroupsPerDimension}; use a smaller batchSize or fewer units`);
  }
}

import type { Case } from '../cases.js';
import type { Operation } from '../timing.js';

/** One timed thing: a runner's operation for a case, ready to run. */
export interface Cell {
  /** Set for the WebGPU matmul kernels, which come in a scalar and a vec4 variant. */
  vec4?: boolean;
  run: Operation;
  dispose(): void;
}

/**
 * A competitor. `prepare` builds what a case needs (network, data, buffers) outside the timing and
 * returns the cells to time; none when the runner skips the case.
 */
export interface Runner {
  name: string;
  prepare(c: Case): Promise<Cell[]>;
}

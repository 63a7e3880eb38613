import type { Case } from '../cases.js';
import type { Row } from '../results.js';
import type { Operation, Window } from '../timing.js';

/** One timed thing: a runner's operation for a case, ready to run. */
export interface Cell {
  /** Set for the WebGPU matmul kernels, which come in variants (MATMUL_VARIANTS in shaders/matmul.wgsl.ts). */
  variant?: string;
  /**
   * The training cases: how far the runner's first-step loss is from ours (the cpu backend's, same
   * weights and batch), relative. Checked before the cell is returned (see checkFirstLoss).
   */
  lossCheck?: number;
  /**
   * Called after the timing, before dispose: extra figures for the cell's row (GPU memory; for our
   * webgpu step, its matmuls timed alone over the cell's `window`).
   */
  report?(window: Window): Promise<RowExtras>;
  /** Performs `count` operations. A warm-up case's cell is run with count 1: its operation is the cold start. */
  run: Operation;
  /**
   * Warm-up cells only: how many cold starts can be timed, each as cold as the first (ours on WebGPU:
   * a fresh device each, so nothing is cached); the row is their median. Default 1: a peer's
   * process-wide caches make only its first start cold.
   */
  coldStarts?: number;
  /** Warm-up cells only: untimed, after each cold start, for work it left running to finish. */
  settle?(): Promise<void>;
  dispose(): void;
}

/** What a cell's report may add to its row. */
export type RowExtras = Pick<Row, 'gpuBytes' | 'minimumBytes' | 'peakGpuBytes' | 'createdWhileTimed' | 'matmulMs' | 'matmuls'>;

/** A case the runner leaves out, and why (printed and kept with the results). */
export interface Skip {
  skip: string;
}

/** Where a runner says what it checked or skipped, one line each, as the table is printed. */
export type Log = (line: string) => void;

/**
 * A competitor. `prepare` builds what a case needs (network, data, buffers) outside the timing and
 * returns the cells to time; none (or a Skip with its reason) when the runner leaves the case out.
 */
export interface Runner {
  name: string;
  /**
   * Another library (jax-js, TF.js): when it fails, the failure is printed and kept with the results
   * and the run goes on. Our own backends' errors end the run.
   */
  peer?: boolean;
  prepare(c: Case, log: Log): Promise<Cell[] | Skip>;
}

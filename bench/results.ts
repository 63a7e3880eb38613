import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Unit } from './cases.js';
import { machineSlug, type Machine } from './device.js';

/** One measured cell. */
export interface Row {
  case: string;
  runner: string;
  /** The WebGPU matmul rows only: which kernel variant (a MATMUL_VARIANTS name). */
  variant?: string;
  median: number;
  unit: Unit;
  samples: number;
  /** The training cases: the first-step loss's relative difference from ours (cpu backend). */
  lossCheck?: number;
  /**
   * The WebGPU training cells: GPU bytes held after the timed steps (ours: the network's; a peer's:
   * everything live on its device), and the least any trainer needs.
   */
  gpuBytes?: number;
  minimumBytes?: number;
  /** The peers' WebGPU training cells: the most GPU bytes live on their device while timed. */
  peakGpuBytes?: number;
  /** The WebGPU training cells: buffers + bind groups created while the cell was timed (ours: should be 0). */
  createdWhileTimed?: number;
  /** Our webgpu step cells (not the scaling points): the sum of `matmuls`' times, ms. */
  matmulMs?: number;
  /** Each matrix product of that step timed alone, with the variant the autotune chose and no epilogue. */
  matmuls?: MatmulTiming[];
}

/** One product of a step timed alone (bench/runners/matmul.ts timeStepProducts). */
export interface MatmulTiming {
  /** As the autotune names it, e.g. 'layer 2 weight gradient'. */
  label: string;
  /** `m×n×k` at the full batch. */
  shape: string;
  variant: string;
  /** Median ms per product. */
  ms: number;
}

/** A cell that was not measured: skipped (with the reason) or failed (with the error). */
export interface Note {
  case: string;
  runner: string;
  kind: 'skipped' | 'failed';
  text: string;
}

export interface Results {
  device: Machine;
  /** YYYY-MM-DD (UTC). */
  date: string;
  node: string;
  /** A --quick smoke run: short timing windows. */
  quick: boolean;
  cases: Row[];
  /** The peer libraries' versions (and Dawn's bindings'), by npm package. */
  versions?: Record<string, string>;
  notes?: Note[];
  /**
   * GFLOP/s of the WebGPU adapter's arithmetic ceiling (vec4 multiply-adds with no memory traffic,
   * bench/runners/peak.ts), measured when a run has webgpu matmul cells: the yardstick for them.
   */
  arithmeticPeak?: number;
}

/** The committed results; BENCHMARKS.md is made from these. */
export const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));

/**
 * The suffix of a matmul row's variant that marks the loads-only probe (bench/runners/loads-only.ts): a
 * kernel's memory traffic timed without its arithmetic, not a way to multiply matrices.
 */
export const LOADS_ONLY = 'loads only';

/** Whether a row is a loads-only probe rather than a kernel that computes the product. */
export const isProbe = (row: Pick<Row, 'variant'>) => row.variant?.endsWith(LOADS_ONLY) === true;

const rowKey = (row: Row) => `${row.case} ${row.runner} ${row.variant ?? ''}`;
const cellKey = (item: { case: string; runner: string }) => `${item.case} ${item.runner}`;

/**
 * Writes `<device>-<date>[-quick].json` in `dir`. Rows of an earlier run of the same day and machine
 * that this run did not measure are kept, so `--only` refreshes part of a file without losing the
 * rest. The file and what it now holds. Written to a .tmp file first (ignored by git), then renamed, so a file is never half-written.
 */
export async function writeResults(dir: string, results: Results): Promise<{ file: string; merged: Results }> {
  const file = path.join(dir, `${machineSlug(results.device)}-${results.date}${results.quick ? '-quick' : ''}.json`);
  const fresh = new Set(results.cases.map(rowKey));
  const noted = new Set((results.notes ?? []).map(cellKey));
  const before = await readResults(file).catch(ifMissing(undefined));
  const earlier = before?.cases.filter((row) => !fresh.has(rowKey(row)) && !noted.has(cellKey(row))) ?? [];
  // A cell measured, skipped or failed now replaces what an earlier run said of it.
  const cells = new Set([...results.cases, ...(results.notes ?? [])].map(cellKey));
  const notes = [...(before?.notes ?? []).filter((note) => !cells.has(cellKey(note))), ...(results.notes ?? [])];
  const arithmeticPeak = results.arithmeticPeak ?? before?.arithmeticPeak;
  const merged: Results = { ...results, versions: { ...before?.versions, ...results.versions }, cases: [...earlier, ...results.cases], notes,
    ...(arithmeticPeak === undefined ? {} : { arithmeticPeak }) };
  await mkdir(dir, { recursive: true });
  await writeFile(`${file}.tmp`, `${JSON.stringify(merged, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
  return { file, merged };
}

async function readResults(file: string): Promise<Results> {
  const results = JSON.parse(await readFile(file, 'utf8')) as Results;
  // Files written before the subgroup kernels marked the variant with a boolean `vec4`.
  for (const row of results.cases as (Row & { vec4?: boolean })[]) {
    if (row.vec4 !== undefined) {
      row.variant = row.vec4 ? 'vec4' : 'scalar';
      delete row.vec4;
    }
  }
  return results;
}

/** Every results file of a directory, with its name. */
export async function readAllResults(dir: string): Promise<{ file: string; results: Results }[]> {
  const names = (await readdir(dir).catch(ifMissing([]))).filter((name) => name.endsWith('.json')).sort();
  return Promise.all(names.map(async (name) => ({ file: name, results: await readResults(path.join(dir, name)) })));
}

/** A catch handler: a missing file or directory gives `fallback`, anything else is rethrown. */
function ifMissing<T>(fallback: T) {
  return (error: NodeJS.ErrnoException): T => {
    if (error.code !== 'ENOENT') throw error;
    return fallback;
  };
}

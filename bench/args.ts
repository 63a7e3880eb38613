import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  /** Runner names and case-name prefixes; undefined: everything. */
  only: string[] | undefined;
  /** Directory for the JSON results; undefined: bench/results. */
  out: string | undefined;
  markdown: boolean;
}

export type Command = { help: true } | { help: false; options: BenchOptions };

/** A bad command line: the bench prints the message with a hint and exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const FLAGS = {
  quick: { type: 'boolean' },
  only: { type: 'string' },
  out: { type: 'string' },
  'no-markdown': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const USAGE = `Usage: npm run bench -- [flags]

Races our backends (webgpu, cpu, reference) against jax-js (jax-webgpu, jax-wasm), TF.js
(tfjs-webgpu, tfjs-wasm, tfjs-cpu) and PyTorch's CPU step (torch-cpu, where /usr/bin/python3 imports
torch; BENCH_PYTHON names another interpreter) on the same cases: cold start, training steps, fit
throughput, the matmul forms, and the step against the batch and the width (webgpu, cpu and jax-js
only); and against ONNX Runtime Web (ort-wasm, ort-webgpu) on predict's throughput.
Prints a table as it goes, writes bench/results/<device>-<date>.json and regenerates BENCHMARKS.md
(and its scaling plot, BENCHMARKS-scaling.svg) from every file in bench/results.

  --quick           smoke run: short timing windows, no 1024-wide network, matmuls at 256 only, fit
                    epochs of two batches, one point of each scaling sweep
  --only A,B,...    runner names (webgpu, webgpu-await, cpu, cpu-1t, reference, jax-webgpu, jax-wasm,
                    tfjs-webgpu, tfjs-wasm, tfjs-cpu, torch-cpu, ort-wasm, ort-webgpu) and/or case-name
                    prefixes (warmup, step, fit-, predict, matmul-ab, scale, scale-batch, scale-width,
                    step-gpumatrix)
  --out DIR         where the JSON goes (default bench/results; BENCHMARKS.md always reads bench/results),
                    with the run's scaling plot beside it (<file>-scaling.svg)
  --no-markdown     leave BENCHMARKS.md alone
  -h, --help        this text`;

/** Parses the bench's flags (without `node script`). Throws UsageError naming the flag at fault. */
export function parseBenchArgs(argv: string[]): Command {
  // Non-strict with tokens, as the trainer does: node's strict-mode messages do not always name the flag.
  const { values, tokens } = parseArgs({ args: argv, options: FLAGS, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind === 'positional') throw new UsageError(`unexpected argument ${JSON.stringify(token.value)}`);
    if (token.kind !== 'option') continue;
    if (!Object.hasOwn(FLAGS, token.name)) throw new UsageError(`unknown flag ${token.rawName}`);
    const isString = FLAGS[token.name as keyof typeof FLAGS].type === 'string';
    if (isString && !token.value) throw new UsageError(`${token.rawName} needs a value`);
    if (!isString && token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
  }
  if (values.help) return { help: true };
  const only = typeof values.only === 'string' ? values.only.split(',').map((item) => item.trim()) : undefined;
  if (only?.includes('')) throw new UsageError(`--only needs names separated by commas, got ${JSON.stringify(values.only)}`);
  return {
    help: false,
    options: {
      quick: values.quick === true,
      only,
      out: typeof values.out === 'string' ? values.out : undefined,
      markdown: values['no-markdown'] !== true,
    },
  };
}

/**
 * Resolves --only: each item names a runner or is a prefix of case names. With no runner named, every
 * runner runs; with no case prefix, every case. An item that matches nothing is refused, so a typo
 * does not quietly measure everything.
 */
export function select(only: string[] | undefined, runners: string[], cases: string[]): { runners: string[]; cases: string[] } {
  if (!only) return { runners, cases };
  const prefixes = only.filter((item) => !runners.includes(item));
  for (const prefix of prefixes) {
    if (!cases.some((name) => name.startsWith(prefix))) {
      throw new UsageError(`--only: ${JSON.stringify(prefix)} names no runner (${runners.join(', ')}) and starts no case name (${cases.join(', ')})`);
    }
  }
  const named = runners.filter((name) => only.includes(name));
  return {
    runners: named.length > 0 ? named : runners,
    cases: prefixes.length > 0 ? cases.filter((name) => prefixes.some((prefix) => name.startsWith(prefix))) : cases,
  };
}

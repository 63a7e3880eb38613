/**
 * Benchmark harness: `npm run bench -- [flags]` (see --help). Exit codes: 0 done, 1 the engine
 * refused (a BackpropError, e.g. no WebGPU adapter for the webgpu runner), 2 a bad command line,
 * 3 a runner's first-step loss was not ours (results are still written, the failure in them).
 * Times are reported, never asserted. A peer library that fails is reported and the run goes on.
 */
import path from 'node:path';
import { BackpropError } from '../src/index.js';
import { defaultContext } from '../src/webgpu/device.js';
import { parseBenchArgs, select, UsageError, USAGE, type BenchOptions } from './args.js';
import { benchCases, caseRunsOn, figure, stepFlops, unitOf, type Case } from './cases.js';
import { describeMachine, machineName } from './device.js';
import { writeMarkdown } from './markdown.js';
import { plotTitle, writeScalingPlot } from './plot.js';
import { RESULTS_DIR, writeResults, type Note, type Row } from './results.js';
import { GPU_BASELINE, RUNNERS, type Cell, type Runner, type Skip } from './runners/index.js';
import { measureArithmeticPeak } from './runners/peak.js';
import { CheckError, peerVersions, predictedSlow, predictedSlowStep } from './runners/shared.js';
import { COLUMNS, consoleLine, matmulSumLine, tableRow } from './table.js';
import { FULL, measure, median, QUICK, SCALING, type Window } from './timing.js';

const HINT = 'Run `npm run bench -- --help` for the flags.';

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseBenchArgs(argv);
    if (command.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    return await bench(command.options);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n${HINT}\n`);
      return 2;
    }
    // Anything else is a bug: let it surface with its stack trace.
    if (!(error instanceof BackpropError)) throw error;
    process.stderr.write(`bench: ${error.message}\n`);
    return 1;
  }
}

/** Exit code 3: a runner computed something else than ours. */
const CHECK_FAILED = 3;

async function bench(options: BenchOptions): Promise<number> {
  const started = performance.now();
  const out = process.stdout;
  const context = await defaultContext().catch(() => null);
  const allCases = benchCases(options.quick, context !== null && !context.software);
  const chosen = select(options.only, RUNNERS.map((r) => r.name), allCases.map((c) => c.name));
  const runners = RUNNERS.filter((r) => chosen.runners.includes(r.name));
  const cases = allCases.filter((c) => chosen.cases.includes(c.name));
  // The scaling points are many, and the neural-image steps up to seconds each on SwiftShader: a
  // shorter window for them (a quick run's is shorter still).
  const windowOf = (c: Case): Window => (options.quick ? QUICK : c.kind === 'step' && (c.sweep || c.throughput) ? SCALING : FULL);

  const device = await describeMachine();
  const versions = runners.some((r) => r.peer) ? peerVersions() : undefined;
  out.write(`device  ${machineName(device)} · node ${process.version}\n`);
  if (versions) out.write(`peers   ${Object.entries(versions).map(([name, version]) => `${name} ${version}`).join(' · ')}\n`);
  // The yardstick of the WebGPU matmul cells, what the adapter's arithmetic alone can do, measured
  // just before them (on a shared machine the load changes over a run) and again just after.
  const peakWanted = runners.some((r) => r.name === GPU_BASELINE);
  const matmulCases = cases.filter((c) => c.kind === 'matmul');
  let arithmeticPeak: number | undefined;
  const measurePeak = async () => {
    const gflops = await measureArithmeticPeak(options.quick ? QUICK : FULL);
    arithmeticPeak = Math.max(arithmeticPeak ?? 0, gflops);
    out.write(`  ceiling ${gflops.toFixed(2)} GFLOP/s: the adapter's vec4 multiply-adds with no memory traffic\n`);
  };
  out.write(`\n${consoleLine(COLUMNS)}\n`);
  const rows: Row[] = [];
  const notes: Note[] = [];
  let checkFailures = 0;
  const log = (line: string) => out.write(`  ${line}\n`);

  /** A failure worth reporting rather than ending the run on: a failed check, or any error of a peer. */
  const report = (c: Case, runner: Runner, error: unknown): boolean => {
    const check = error instanceof CheckError;
    if (!check && !runner.peer) return false;
    if (check) checkFailures++;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    notes.push({ case: c.name, runner: runner.name, kind: 'failed', text });
    out.write(`${consoleLine([c.name, runner.name])}  ✗ FAILED: ${text}\n`);
    if (check) process.stderr.write(`bench: ${c.name} ${runner.name}: ${text}\n`);
    return true;
  };

  for (const c of cases) {
    if (peakWanted && c === matmulCases[0]) await measurePeak();
    for (const runner of runners.filter((r) => caseRunsOn(c, r.name))) {
      let prepared: Cell[] | Skip;
      const slowStep = c.kind === 'step' && c.throughput ? predictedSlowStep(c, cases, runner.name, rows) : undefined;
      try {
        prepared = slowStep ? { skip: slowStep } : await runner.prepare(c, log);
      } catch (error) {
        if (report(c, runner, error)) continue;
        throw error;
      }
      if (!Array.isArray(prepared)) {
        notes.push({ case: c.name, runner: runner.name, kind: 'skipped', text: prepared.skip });
        out.write(`${consoleLine([c.name, runner.name])}  skipped: ${prepared.skip}\n`);
        continue;
      }
      // A runner's rows are printed together, once all are in: its ratios may depend on each other.
      const measured: Row[] = [];
      for (const cell of prepared) {
        const slow = c.kind === 'matmul' ? predictedSlow(c, runner.name, cell.variant, rows) : undefined;
        if (slow) {
          cell.dispose();
          const label = cell.variant === undefined ? runner.name : `${runner.name} ${cell.variant}`;
          notes.push({ case: c.name, runner: label, kind: 'skipped', text: slow });
          out.write(`${consoleLine([c.name, label])}  skipped: ${slow}\n`);
          continue;
        }
        try {
          measured.push(await measureCell(c, runner.name, cell, windowOf(c)));
        } catch (error) {
          if (report(c, runner, error)) continue;
          throw error;
        }
      }
      rows.push(...measured);
      for (const row of measured) {
        out.write(`${consoleLine(tableRow(row, rows))}\n`);
        if (row.matmulMs !== undefined) log(`matmuls ${row.case} ${row.runner}: ${matmulSumLine(row)}`);
        if (c.kind === 'step' && c.throughput) log(`${row.case} ${row.runner}: ${(row.median * 1e9 / stepFlops(c)).toPrecision(3)} steps/s (${(stepFlops(c) / 1e9).toPrecision(3)} GFLOP a step)`);
      }
    }
    if (peakWanted && c === matmulCases.at(-1)) await measurePeak();
  }
  if (rows.length === 0 && notes.length === 0) throw new UsageError('--only left nothing to measure (no runner chosen has any case chosen)');

  const { file, merged } = await writeResults(options.out ?? RESULTS_DIR, {
    device, date: new Date().toISOString().slice(0, 10), node: process.version, quick: options.quick, cases: rows,
    ...(versions ? { versions } : {}), notes, ...(arithmeticPeak === undefined ? {} : { arithmeticPeak }),
  });
  out.write(`\nwrote ${shortPath(file)}`);
  // With --out (a test, a trial) the run's scaling plot goes beside its JSON, so it never touches the
  // committed plot: that one is redrawn with BENCHMARKS.md, from bench/results.
  if (options.out) {
    const plot = file.replace(/\.json$/, '-scaling.svg');
    if (await writeScalingPlot(merged.cases, plotTitle(merged), plot)) out.write(`, ${shortPath(plot)}`);
  }
  if (options.markdown) out.write(`, ${(await writeMarkdown()).map(shortPath).join(', ')}`);
  out.write(` · ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  if (checkFailures === 0) return 0;
  process.stderr.write(`bench: ${checkFailures} cell(s) failed the first-step loss check (see above)\n`);
  return CHECK_FAILED;
}

/** Relative to the working directory when inside it. */
function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}

async function measureCell(c: Case, runner: string, cell: Cell, window: Window): Promise<Row> {
  try {
    // A warm-up is a cold start: timed once, or as many times as the cell can start cold again.
    const samples = c.kind === 'warmup' ? await timeColdStarts(cell, window === QUICK ? 1 : cell.coldStarts ?? 1) : await measure(cell.run, window);
    // Read before dispose, after the timing (a report may time more, e.g. a step's matmuls alone).
    const extra = await cell.report?.(window);
    return {
      case: c.name,
      runner,
      ...(cell.variant === undefined ? {} : { variant: cell.variant }),
      median: figure(c, median(samples)),
      unit: unitOf(c),
      samples: samples.length,
      ...(cell.lossCheck === undefined ? {} : { lossCheck: cell.lossCheck }),
      ...extra,
    };
  } finally {
    cell.dispose();
  }
}

async function timeColdStarts(cell: Cell, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await cell.run(1);
    samples.push(performance.now() - start);
    await cell.settle?.();
  }
  return samples;
}

process.exitCode = await main(process.argv.slice(2));

/**
 * Benchmark harness: `npm run bench -- [flags]` (see --help). Exit codes: 0 done, 1 the engine
 * refused (a BackpropError, e.g. no WebGPU adapter for the webgpu runner), 2 a bad command line.
 * Times are reported, never asserted.
 */
import path from 'node:path';
import { BackpropError } from '../src/index.js';
import { parseBenchArgs, select, UsageError, USAGE, type BenchOptions } from './args.js';
import { benchCases, figure, unitOf, type Case } from './cases.js';
import { describeMachine, machineName } from './device.js';
import { writeMarkdown } from './markdown.js';
import { RESULTS_DIR, writeResults, type Row } from './results.js';
import { RUNNERS, type Cell } from './runners/index.js';
import { COLUMNS, consoleLine, tableRow } from './table.js';
import { FULL, measure, median, QUICK, type Window } from './timing.js';

const HINT = 'Run `npm run bench -- --help` for the flags.';

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseBenchArgs(argv);
    if (command.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    await bench(command.options);
    return 0;
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

async function bench(options: BenchOptions): Promise<void> {
  const started = performance.now();
  const out = process.stdout;
  const allCases = benchCases(options.quick);
  const chosen = select(options.only, RUNNERS.map((r) => r.name), allCases.map((c) => c.name));
  const runners = RUNNERS.filter((r) => chosen.runners.includes(r.name));
  const cases = allCases.filter((c) => chosen.cases.includes(c.name));
  const window = options.quick ? QUICK : FULL;

  const device = await describeMachine();
  out.write(`device  ${machineName(device)} · node ${process.version}\n\n${consoleLine(COLUMNS)}\n`);
  const rows: Row[] = [];
  for (const c of cases) {
    for (const runner of runners) {
      for (const cell of await runner.prepare(c)) {
        const row = await measureCell(c, runner.name, cell, window);
        rows.push(row);
        out.write(`${consoleLine(tableRow(row, rows))}\n`);
      }
    }
  }
  if (rows.length === 0) throw new UsageError('--only left nothing to measure (no runner chosen has any case chosen)');

  const file = await writeResults(options.out ?? RESULTS_DIR, {
    device, date: new Date().toISOString().slice(0, 10), node: process.version, quick: options.quick, cases: rows,
  });
  out.write(`\nwrote ${shortPath(file)}`);
  if (options.markdown) out.write(`, ${shortPath(await writeMarkdown())}`);
  out.write(` · ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

/** Relative to the working directory when inside it. */
function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}

async function measureCell(c: Case, runner: string, cell: Cell, window: Window): Promise<Row> {
  try {
    const samples = await measure(cell.run, window);
    return {
      case: c.name,
      runner,
      ...(cell.vec4 === undefined ? {} : { vec4: cell.vec4 }),
      median: figure(c, median(samples)),
      unit: unitOf(c),
      samples: samples.length,
    };
  } finally {
    cell.dispose();
  }
}

process.exitCode = await main(process.argv.slice(2));

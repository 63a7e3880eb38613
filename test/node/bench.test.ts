import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MATMUL_VARIANTS } from '../../shaders/index.js';
import { select, UsageError } from '../../bench/args.js';
import { benchCases, UNITS, unitOf } from '../../bench/cases.js';
import type { Results } from '../../bench/results.js';
import { RUNNERS } from '../../bench/runners/index.js';
import { CheckError, checkFirstLoss, LOSS_TOLERANCE } from '../../bench/runners/shared.js';

const run = promisify(execFile);

/** Runs the bench as `npm run bench` does; resolves with its exit code and output. */
async function bench(...argv: string[]) {
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'bench/run.ts', ...argv], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * Ours and the two fast peers (jax-js and TF.js on WebAssembly): both libraries' paths in about 30 s;
 * every runner would take about 100 s (TF.js on WebGPU is the slow one).
 */
const QUICK_RUNNERS = ['cpu', 'webgpu', 'jax-wasm', 'tfjs-wasm'];

// Timings are never asserted: the machine running the tests is shared and its GPU may be emulated.
describe('npm run bench --quick', () => {
  let out: string;
  let results: Results;
  let stdout: string;

  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), 'bench-'));
    const result = await bench('--quick', '--out', out, '--no-markdown', '--only', QUICK_RUNNERS.join(','));
    expect(result.code, result.stderr).toBe(0);
    stdout = result.stdout;
    const files = await readdir(out);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/-\d{4}-\d{2}-\d{2}-quick\.json$/);
    results = JSON.parse(await readFile(path.join(out, files[0]!), 'utf8')) as Results;
  }, 180_000);

  afterAll(() => rm(out, { recursive: true, force: true }));

  it('names the device, the date and node, first on the console too', () => {
    expect(results.device.adapter?.architecture).toBeTruthy();
    expect(results.device.cpu).toBeTruthy();
    expect(results.device.cores).toBeGreaterThan(0);
    expect(results.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(results.node).toBe(process.version);
    expect(results.quick).toBe(true);
    expect(stdout.split('\n')[0]).toMatch(/^device {2}.+cores · node v/);
    expect(stdout.split('\n')[1]).toMatch(/^peers {3}@jax-js\/jax \d/);
    expect(results.versions?.['@jax-js/jax']).toMatch(/^\d+\.\d+\.\d+/);
    expect(results.versions?.['@tensorflow/tfjs']).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('measures every quick case on every runner asked for, with finite positive medians in the right unit', () => {
    const cases = new Map(benchCases(true).map((c) => [c.name, c]));
    expect(results.notes, JSON.stringify(results.notes)).toEqual([]);
    for (const row of results.cases) {
      const c = cases.get(row.case);
      expect(c, row.case).toBeDefined();
      expect(QUICK_RUNNERS).toContain(row.runner);
      expect(UNITS).toContain(row.unit);
      expect(row.unit).toBe(unitOf(c!));
      expect(Number.isFinite(row.median) && row.median > 0, `${row.case} ${row.runner}: ${row.median}`).toBe(true);
      // The warm-up is a cold start: timed once.
      if (c!.kind === 'warmup') expect(row.samples).toBe(1);
      else expect(Number.isInteger(row.samples) && row.samples >= 1).toBe(true);
    }
    const measured = (runner: string) => new Set(results.cases.filter((row) => row.runner === runner).map((row) => row.case));
    for (const runner of QUICK_RUNNERS) expect(measured(runner), runner).toEqual(new Set(cases.keys()));
  });

  it('checks the first-step loss of every training cell against ours, and prints the check', () => {
    const training = new Set(benchCases(true).filter((c) => c.kind === 'step' || c.kind === 'fit').map((c) => c.name));
    for (const row of results.cases) {
      if (!training.has(row.case) || row.runner === 'cpu') continue;
      expect(row.lossCheck, `${row.case} ${row.runner}`).toBeDefined();
      expect(row.lossCheck!).toBeLessThanOrEqual(LOSS_TOLERANCE);
      expect(stdout).toContain(`check  ${row.case} ${row.runner}: first-step loss`);
    }
    for (const peer of ['jax-wasm', 'tfjs-wasm']) {
      expect(results.cases.filter((row) => row.runner === peer && row.lossCheck !== undefined).length, peer).toBe(training.size);
    }
  });

  it('times every WebGPU matmul variant, and only there is a variant set', () => {
    for (const row of results.cases) {
      const matmul = row.runner === 'webgpu' && row.case.startsWith('matmul-');
      expect(row.variant === undefined, `${row.case} ${row.runner}`).toBe(!matmul);
    }
    const casesOf = (variant: string) => results.cases.filter((row) => row.variant === variant).map((row) => row.case).sort();
    // The bench's square sizes are multiples of 4, and SwiftShader has subgroups: every variant everywhere.
    for (const variant of Object.keys(MATMUL_VARIANTS)) expect(casesOf(variant), variant).toEqual(casesOf('scalar'));
    expect(casesOf('vec4').length).toBeGreaterThan(0);
  });
});

describe('bench command line', () => {
  const runners = RUNNERS.map((r) => r.name);
  const cases = benchCases(false).map((c) => c.name);

  it('--only picks runners by name and cases by prefix', () => {
    expect(select(undefined, runners, cases)).toEqual({ runners, cases });
    expect(select(['webgpu', 'cpu'], runners, cases)).toEqual({ runners: ['cpu', 'webgpu'], cases });
    expect(select(['tfjs-wasm', 'jax-webgpu', 'warmup'], runners, cases)).toEqual({ runners: ['jax-webgpu', 'tfjs-wasm'], cases: ['warmup-784-256-128-10-b256'] });
    expect(select(['matmul-ab-', 'step-2'], runners, cases)).toEqual({
      runners, cases: ['step-2-2-2-b1', 'matmul-ab-256', 'matmul-ab-512', 'matmul-ab-1024'],
    });
  });

  it('refuses an --only item that names nothing', () => {
    expect(() => select(['gpu'], runners, cases)).toThrow(UsageError);
    expect(() => select(['gpu'], runners, cases)).toThrow(/"gpu" names no runner/);
  });

  it('fails a runner whose first-step loss is not ours, and passes one within the tolerance', async () => {
    const c = benchCases(true).find((item) => item.name === 'step-2-2-2-b1')!;
    if (c.kind !== 'step') throw new Error('step-2-2-2-b1 is a step case');
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    const ours = 0.3119095; // our cpu backend's first-step loss here, to 7 digits
    expect(await checkFirstLoss(c, 'peer', ours, log)).toBeLessThan(LOSS_TOLERANCE);
    expect(lines[0]).toMatch(/^check {2}step-2-2-2-b1 peer: first-step loss 0\.3119095 vs ours 0\.3119095/);
    await expect(checkFirstLoss(c, 'peer', ours * 1.001, log)).rejects.toThrow(CheckError);
    await expect(checkFirstLoss(c, 'peer', ours * 1.001, log)).rejects.toThrow(/relative difference 1\.0e-3 > 0\.0001/);
  });

  it('exits with code 2 and names the flag on a bad command line', async () => {
    const { code, stdout, stderr } = await bench('--bogus');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/unknown flag --bogus/);
    expect(stderr).toMatch(/--help/);
  });
});

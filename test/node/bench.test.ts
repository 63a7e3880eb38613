import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSource, MATMUL_VARIANTS } from '../../shaders/index.js';
import { select, UsageError } from '../../bench/args.js';
import {
  architectureOf, benchCases, caseRunsOn, denseSizes, figure, LN_GELU_DROPOUT_ADAMW, LN_GELU_DROPOUT_ADAMW_RUNNERS, NEURAL_IMAGE,
  NEURAL_IMAGE_RUNNERS, PREDICT_RUNNERS, SCALING_RUNNERS, stepFlops, TRAINING,
  trainingData, UNITS, unitOf, type Architecture, type Case,
} from '../../bench/cases.js';
import { section } from '../../bench/markdown.js';
import { LOADS_ONLY, type Results, type Row } from '../../bench/results.js';
import { targetLines } from '../../bench/targets.js';
import { engineRunner, FIRST_USE, fusedRunner } from '../../bench/runners/engine.js';
import { float64Loss } from '../../bench/runners/float64.js';
import { RUNNERS } from '../../bench/runners/index.js';
import { loadsOnlySource } from '../../bench/runners/loads-only.js';
import { simdPeakGflops } from '../../bench/runners/simd-peak.js';
import { torchAvailable } from '../../bench/runners/torch.js';
import { countDevices, deviceCounts, minimumTrainingBytes, peerMemoryReport } from '../../bench/runners/gpu-memory.js';
import {
  CheckError, checkFirstLoss, checkPredictions, checksInference, createOurNetwork, initialWeights, LOSS_TOLERANCE, MATMUL_LIMIT_MS, networkSpec, predictedSlow,
  predictedSlowStep, predictionInput,
} from '../../bench/runners/shared.js';
import { requestAdapter } from '../../src/webgpu/device.js';

const run = promisify(execFile);

/** Our cpu network of an inference case, from the shared initial weights, as the bench's cpu cell builds it. */
async function engineNetwork(c: { sizes: number[] }) {
  const net = await createOurNetwork(networkSpec('cpu', c.sizes, 1));
  await net.setWeights(await initialWeights(c.sizes));
  return net;
}

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

/** The case of its own architecture: layer normalisation, GELU, dropout, AdamW, softmax cross-entropy. */
const LN_CASE = 'step-784-256-256-10-ln-gelu-dropout-adamw-b256';

/** Why our engine refuses a network it does not build yet: the skip of our cells, with its SpecError's message. */
const REFUSED = /^our engine refuses this network: .+/;

// Timings are never asserted: the machine running the tests is shared and its GPU may be emulated.
describe('npm run bench --quick', () => {
  let out: string;
  let results: Results;
  let stdout: string;
  let files: string[];

  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), 'bench-'));
    const result = await bench('--quick', '--out', out, '--no-markdown', '--only', QUICK_RUNNERS.join(','));
    expect(result.code, result.stderr).toBe(0);
    stdout = result.stdout;
    // The JSON, then the scaling plot beside it.
    files = (await readdir(out)).sort((a, b) => Number(b.endsWith('.json')) - Number(a.endsWith('.json')));
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/-\d{4}-\d{2}-\d{2}-quick\.json$/);
    results = JSON.parse(await readFile(path.join(out, files[0]!), 'utf8')) as Results;
  }, 300_000);

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

  /** The cells our engine refused (see REFUSED), as `case runner`: only ours, only on a case of its own architecture. */
  const refused = () => new Set((results.notes ?? []).map((note) => `${note.case} ${note.runner}`));

  it('measures every quick case on every runner asked for, with finite positive medians in the right unit', () => {
    const cases = new Map(benchCases(true).map((c) => [c.name, c]));
    // Nothing fails or is skipped, but our cells of a network our engine does not build yet.
    for (const note of results.notes ?? []) {
      expect(note, JSON.stringify(note)).toMatchObject({ case: LN_CASE, kind: 'skipped', text: expect.stringMatching(REFUSED) });
      expect(['cpu', 'webgpu']).toContain(note.runner);
    }
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
    const expected = (runner: string) => new Set([...cases.values()].filter((c) => caseRunsOn(c, runner) && !refused().has(`${c.name} ${runner}`)).map((c) => c.name));
    for (const runner of QUICK_RUNNERS) expect(measured(runner), runner).toEqual(expected(runner));
    // The peers measure it, whatever our engine does.
    for (const peer of ['jax-wasm', 'tfjs-wasm']) expect(measured(peer), peer).toContain(LN_CASE);
  });

  it('measures a point of each scaling sweep on the scaling runners only, and tables and plots them', async () => {
    const scaling = benchCases(true).filter((c) => c.kind === 'step' && c.sweep);
    expect(scaling.map((c) => c.name)).toEqual(['scale-batch-b32', 'scale-width-w64']);
    for (const c of scaling) {
      const runners = results.cases.filter((row) => row.case === c.name).map((row) => row.runner).sort();
      expect(runners, c.name).toEqual(QUICK_RUNNERS.filter((r) => (SCALING_RUNNERS as readonly string[]).includes(r)).sort());
    }
    const markdown = section(files[0]!, results, 'plot.svg');
    expect(markdown).toMatch(/\| batch \| webgpu \| cpu \| jax-wasm \|\n(\| ---: )+\|\n\| 32 \| [\d.,]+ \| [\d.,]+ \| [\d.,]+ \|/);
    expect(markdown).toMatch(/\| width w \| webgpu \| cpu \| jax-wasm \|\n(\| ---: )+\|\n\| 64 \| [\d.,]+ \| [\d.,]+ \| [\d.,]+ \|/);
    expect(markdown).toContain('](plot.svg)');
    // The scaling points are in their tables, not in the main one.
    expect(markdown).not.toMatch(/^\| scale-/m);
    // The plot goes beside the JSON (never beside BENCHMARKS.md in a run with --out).
    expect(files[1]).toBe(files[0]!.replace(/\.json$/, '-scaling.svg'));
    const svg = await readFile(path.join(out, files[1]!), 'utf8');
    expect(svg).toMatch(/^<svg /);
    for (const label of ['webgpu', 'cpu', 'jax-wasm', 'batch (784-256-128-10)', 'ms per step (log)']) expect(svg).toContain(`>${label}</text>`);
  });

  it('times each matmul of our webgpu steps alone and compares the step with their sum', () => {
    // The cases for the webgpu runner (not the neural-image ones: webgpu-fused and webgpu-unfused run those).
    const steps = benchCases(true).filter((c) => c.kind === 'step' && caseRunsOn(c, 'webgpu'));
    for (const c of steps) {
      const row = results.cases.find((item) => item.case === c.name && item.runner === 'webgpu');
      if (!row) {
        expect(refused(), c.name).toContain(`${c.name} webgpu`);
        continue;
      }
      if (c.kind !== 'step' || c.sweep) {
        expect(row.matmulMs, c.name).toBeUndefined();
        continue;
      }
      // Per layer: forward and weight gradient, and the signal sent down for all but the first.
      const layers = c.sizes.length - 1;
      expect(row.matmuls?.length, c.name).toBe(3 * layers - 1);
      for (const product of row.matmuls!) {
        expect(product.label).toMatch(/^layer \d forward|weight gradient|signal$/);
        expect(product.shape).toMatch(/^\d+×\d+×\d+$/);
        expect(Object.keys(MATMUL_VARIANTS)).toContain(product.variant);
        expect(product.ms).toBeGreaterThan(0);
      }
      expect(row.matmulMs).toBeCloseTo(row.matmuls!.reduce((sum, p) => sum + p.ms, 0), 9);
      expect(stdout).toContain(`matmuls ${c.name} webgpu: step `);
      expect(section(files[0]!, results)).toContain(`- ${c.name}: step `);
      expect(section(files[0]!, results)).toMatch(new RegExp(`- ${c.name}: step [\\d.,]+ ms = [\\d.]+× the sum of its ${3 * layers - 1} matmuls \\([\\d.,]+ ms\\)`));
    }
    expect(results.cases.filter((row) => row.matmulMs !== undefined).every((row) => row.runner === 'webgpu')).toBe(true);
  });

  it('reports our webgpu training cells\' GPU memory against the same minimum as the peers\'', () => {
    for (const c of benchCases(true)) {
      if ((c.kind !== 'step' && c.kind !== 'fit') || !caseRunsOn(c, 'webgpu')) continue;
      const row = results.cases.find((item) => item.case === c.name && item.runner === 'webgpu');
      if (!row) {
        expect(refused(), c.name).toContain(`${c.name} webgpu`);
        continue;
      }
      expect(row.minimumBytes, c.name).toBe(minimumTrainingBytes(c.sizes, c.batch, architectureOf(c)));
      expect(row.gpuBytes, c.name).toBeGreaterThanOrEqual(row.minimumBytes!);
      expect(row.createdWhileTimed, c.name).toBe(0);
    }
    expect(section(files[0]!, results)).toMatch(/- step-2-2-2-b1: minimum 0\.1 KiB; webgpu [\d.]+ KiB = [\d.]+×, created while timed 0/);
  });

  it('checks the first-step loss of every training cell against ours, or its inference loss against float64, and prints the check', () => {
    const cases = new Map(benchCases(true).map((c) => [c.name, c]));
    const training = new Set(benchCases(true).filter((c) => c.kind === 'step' || c.kind === 'fit').map((c) => c.name));
    for (const row of results.cases) {
      const c = cases.get(row.case)!;
      if (!training.has(row.case) || c.kind === 'matmul' || c.kind === 'predict') continue;
      // Our cpu backend is the oracle of the TRAINING cases; a case of its own architecture checks it too.
      if (row.runner === 'cpu' && !checksInference(c)) continue;
      expect(row.lossCheck, `${row.case} ${row.runner}`).toBeDefined();
      expect(row.lossCheck!).toBeLessThanOrEqual(LOSS_TOLERANCE);
      expect(stdout).toContain(`check  ${row.case} ${row.runner}: ${checksInference(c) ? 'inference loss' : 'first-step loss'}`);
    }
    expect(stdout).toMatch(new RegExp(`check  ${LN_CASE} jax-wasm: inference loss [\\d.]+ vs float64 [\\d.]+, relative difference`));
    expect(section(files[0]!, results)).toMatch(/Loss in inference from the initial weights against the bench's float64 forward: \d+ cells checked/);
    for (const peer of ['jax-wasm', 'tfjs-wasm']) {
      const mine = benchCases(true).filter((c) => training.has(c.name) && caseRunsOn(c, peer));
      expect(results.cases.filter((row) => row.runner === peer && row.lossCheck !== undefined).length, peer).toBe(mine.length);
    }
  });

  it('times every WebGPU matmul variant, and only there (and on the first-use warm-up) is a variant set', () => {
    for (const row of results.cases) {
      const matmul = row.runner === 'webgpu' && row.case.startsWith('matmul-');
      const firstUse = row.runner === 'webgpu' && row.case.startsWith('warmup-') && row.variant === FIRST_USE;
      expect(row.variant === undefined, `${row.case} ${row.runner}`).toBe(!matmul && !firstUse);
    }
    const casesOf = (variant: string) => results.cases.filter((row) => row.variant === variant).map((row) => row.case).sort();
    // The bench's square sizes are multiples of 4, and SwiftShader has subgroups: every variant everywhere.
    for (const variant of Object.keys(MATMUL_VARIANTS)) expect(casesOf(variant), variant).toEqual(casesOf('scalar'));
    expect(casesOf('vec4').length).toBeGreaterThan(0);
    // The autotune's two candidates also run as the loads-only probe, beside every kernel.
    for (const variant of ['vec4+subgroups', 'vec4-wide+subgroups']) expect(casesOf(`${variant} ${LOADS_ONLY}`), variant).toEqual(casesOf('scalar'));
  });
});

describe('peer GPU memory', () => {
  it('counts the buffers and bind groups of every device an instrumented GPU object makes', async () => {
    // As installNavigatorGpu does: our adapter first (it points Vulkan at SwiftShader), then a Dawn GPU object of the peers'.
    expect(await requestAdapter()).toBeTruthy();
    const { create } = (await import('webgpu')) as { create: (options: string[]) => GPU };
    const gpu = countDevices(create([]));
    const device = await (await gpu.requestAdapter())!.requestDevice();
    try {
      const counts = deviceCounts(device)!;
      expect(counts).toEqual({ liveBytes: 0, peakBytes: 0, buffers: 0, bindGroups: 0 });
      const storage = GPUBufferUsage.STORAGE;
      const kept = device.createBuffer({ size: 1024, usage: storage });
      const report = peerMemoryReport(device, [2, 2, 2], 1)!;
      const dropped = device.createBuffer({ size: 4096, usage: storage });
      const layout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } }] });
      device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: dropped } }] });
      dropped.destroy();
      dropped.destroy();
      // Live: the kept buffer; peak while "timed": both; made while timed: one buffer and one bind group.
      expect(await report()).toEqual({ gpuBytes: 1024, peakGpuBytes: 5120, minimumBytes: 120, createdWhileTimed: 2 });
      kept.destroy();
      expect(counts.liveBytes).toBe(0);
      expect(deviceCounts(await (await create([]).requestAdapter())!.requestDevice())).toBeUndefined();
    } finally {
      device.destroy();
    }
  });

  it('is the minimum our webgpu rows use: parameters and gradients (and optimizer state) and one batch of activations', () => {
    // 784-256-128-10: (785·256 + 257·128 + 129·10) parameters, ×2 with gradients; 256 × (784 + 256 + 128 + 10) activations.
    expect(minimumTrainingBytes([784, 256, 128, 10], 256)).toBe(4 * (2 * (785 * 256 + 257 * 128 + 129 * 10) + 256 * 1178));
    // With a layerNormalization's γ and β (2 + 2 on the hidden layer) and AdamW's two moments.
    expect(minimumTrainingBytes([2, 2, 2], 1, LN_GELU_DROPOUT_ADAMW)).toBe(4 * (4 * (12 + 4) + 6));
  });

  it('reports a jax-js webgpu training cell\'s device memory and what it made while timed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-'));
    try {
      const result = await bench('--quick', '--out', dir, '--no-markdown', '--only', 'jax-webgpu,step-2-2-2');
      expect(result.code, result.stderr).toBe(0);
      const [file] = await readdir(dir);
      const results = JSON.parse(await readFile(path.join(dir, file!), 'utf8')) as Results;
      const { cases } = results;
      const row = cases.find((item) => item.case === 'step-2-2-2-b1' && item.runner === 'jax-webgpu')!;
      expect(row.minimumBytes).toBe(minimumTrainingBytes([2, 2, 2], 1));
      expect(row.gpuBytes).toBeGreaterThan(0);
      expect(row.peakGpuBytes).toBeGreaterThanOrEqual(row.gpuBytes!);
      expect(Number.isInteger(row.createdWhileTimed) && row.createdWhileTimed! >= 0).toBe(true);
      expect(section(file!, { ...results, cases })).toMatch(/- step-2-2-2-b1: minimum 0\.1 KiB; jax-webgpu [\d.]+ (KiB|MiB) \(peak [\d.]+ (KiB|MiB)\) = [\d.]+×, created while timed [\d,]+/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('npm run bench --quick: PyTorch\'s step and the inference cases', () => {
  let out: string;
  let results: Results;
  let stdout: string;
  const runners = ['cpu', 'webgpu', 'torch-cpu', 'ort-wasm', 'ort-webgpu'];

  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), 'bench-'));
    const result = await bench('--quick', '--out', out, '--no-markdown', '--only', [...runners, 'step-784-256-128-10', 'predict'].join(','));
    expect(result.code, result.stderr).toBe(0);
    stdout = result.stdout;
    const [file] = (await readdir(out)).filter((name) => name.endsWith('.json'));
    results = JSON.parse(await readFile(path.join(out, file!), 'utf8')) as Results;
  }, 300_000);

  afterAll(() => rm(out, { recursive: true, force: true }));

  it('has the inference cases: both networks on 1, 256 and 65,536 rows (the small one\'s first two in a quick run), for ours and ONNX Runtime only', () => {
    const predict = (quick: boolean) => benchCases(quick).filter((c) => c.kind === 'predict');
    expect(predict(false).map((c) => c.name)).toEqual(['784-256-128-10', '784-1024-1024-10']
      .flatMap((sizes) => [1, 256, 65_536].map((rows) => `predict-${sizes}-r${rows}`)));
    expect(predict(true).map((c) => c.name)).toEqual(['predict-784-256-128-10-r1', 'predict-784-256-128-10-r256']);
    for (const c of predict(false)) {
      expect(RUNNERS.map((r) => r.name).filter((name) => caseRunsOn(c, name))).toEqual([...PREDICT_RUNNERS]);
      expect(unitOf(c)).toBe('rows/s');
      expect(figure(c, 1000), c.name).toBe(c.kind === 'predict' ? c.rows : NaN);
    }
  });

  it('measures predict in rows/s on ours and onnxruntime-web wasm, every output checked against our cpu backend\'s', () => {
    for (const c of benchCases(true).filter((item) => item.kind === 'predict')) {
      const measured = results.cases.filter((row) => row.case === c.name);
      expect(measured.map((row) => row.runner).filter((r) => r !== 'ort-webgpu'), c.name).toEqual(['cpu', 'webgpu', 'ort-wasm']);
      for (const row of measured) {
        expect(row.unit).toBe('rows/s');
        expect(Number.isFinite(row.median) && row.median > 0, `${row.case} ${row.runner}`).toBe(true);
      }
      for (const runner of ['webgpu', 'ort-wasm']) {
        expect(stdout).toMatch(new RegExp(`check  ${c.name} ${runner}: outputs of ${c.kind === 'predict' && c.rows === 1 ? '1 row' : '256 rows'} within [\\d.e+-]+ of our cpu backend's ≤ 0\\.00001`));
      }
    }
    expect(stdout).toMatch(/ort-wasm: numThreads \d+ \(our cpu backend's threads\), SIMD/);
    // ONNX Runtime's WebGPU provider: measured where it runs in Node, else every cell skipped with its error.
    const webgpu = results.cases.filter((row) => row.runner === 'ort-webgpu');
    const skipped = (results.notes ?? []).filter((note) => note.runner === 'ort-webgpu');
    expect(webgpu.length + skipped.length).toBe(2);
    for (const note of skipped) expect(note).toMatchObject({ kind: 'skipped', text: expect.stringMatching(/^(onnxruntime-web's WebGPU execution provider .* fails: .+|no WebGPU adapter here)$/) });
  });

  it('times PyTorch\'s CPU step on the case, its first-step loss checked against ours, or says why torch is skipped', async () => {
    const missing = await torchAvailable();
    const row = results.cases.find((item) => item.runner === 'torch-cpu');
    const notes = (results.notes ?? []).filter((note) => note.runner === 'torch-cpu');
    if (missing) {
      expect(row).toBeUndefined();
      expect(notes).toEqual([{ case: 'step-784-256-128-10-b256', runner: 'torch-cpu', kind: 'skipped', text: missing.skip }]);
      return;
    }
    expect(notes).toEqual([]);
    expect(row).toMatchObject({ case: 'step-784-256-128-10-b256', unit: 'ms' });
    expect(row!.lossCheck!).toBeLessThanOrEqual(LOSS_TOLERANCE);
    expect(stdout).toMatch(/step-784-256-128-10-b256 torch-cpu: PyTorch [\w.]+ on \d+ threads/);
    expect(stdout).toMatch(/check {2}step-784-256-128-10-b256 torch-cpu: first-step loss [\d.]+ vs ours [\d.]+, relative difference/);
    // Only the step cases that are not scaling points: a warm-up, a fit or a matmul gives it nothing to do.
    expect(results.cases.filter((item) => item.runner === 'torch-cpu')).toHaveLength(1);
  });

  it('skips torch-cpu with the interpreter\'s own words where import torch fails', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-'));
    try {
      const { stdout: text } = await run('npx', ['tsx', 'bench/run.ts', '--quick', '--out', dir, '--no-markdown', '--only', 'torch-cpu,step-784-256-128-10'],
        { encoding: 'utf8', env: { ...process.env, BENCH_PYTHON: '/nonexistent/python3' } });
      expect(text).toMatch(/torch-cpu {2}skipped: `\/nonexistent\/python3 -c 'import torch'` fails here \(spawn \/nonexistent\/python3 ENOENT\); apt-get install python3-torch/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('bench command line', () => {
  const runners = RUNNERS.map((r) => r.name);
  const cases = benchCases(false).map((c) => c.name);

  it('--only picks runners by name and cases by prefix', () => {
    expect(select(undefined, runners, cases)).toEqual({ runners, cases });
    expect(select(['webgpu', 'cpu'], runners, cases)).toEqual({ runners: ['cpu', 'webgpu'], cases });
    expect(select(['tfjs-wasm', 'jax-webgpu', 'warmup'], runners, cases)).toEqual({ runners: ['jax-webgpu', 'tfjs-wasm'], cases: ['warmup-784-256-128-10-b256'] });
    expect(select(['matmul-ab-', 'step-2'], runners, cases)).toEqual({
      runners, cases: ['step-2-2-2-b1', 'matmul-ab-256', 'matmul-ab-512', 'matmul-ab-1024', 'matmul-ab-2048'],
    });
  });

  it('--only picks the scaling sweeps by prefix', () => {
    expect(select(['scale-batch'], runners, cases).cases).toEqual([32, 64, 128, 256, 512, 1024, 2048, 4096].map((b) => `scale-batch-b${b}`));
    expect(select(['scale-width'], runners, cases).cases).toEqual([64, 128, 256, 512, 1024, 2048].map((w) => `scale-width-w${w}`));
  });

  it('--only picks the layer-normalisation case by its name or a prefix of it', () => {
    expect(select([LN_CASE], runners, cases)).toEqual({ runners, cases: [LN_CASE] });
    expect(select(['step-784-256-256', 'jax-wasm'], runners, cases)).toEqual({ runners: ['jax-wasm'], cases: [LN_CASE] });
    expect(select(['step'], runners, cases).cases).toContain(LN_CASE);
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

  it('fails an inference runner whose outputs are not ours, and passes one within the tolerance', async () => {
    const c = benchCases(true).find((item) => item.name === 'predict-784-256-128-10-r1')!;
    if (c.kind !== 'predict') throw new Error('predict-784-256-128-10-r1 is an inference case');
    const net = await engineNetwork(c);
    const ours = await net.predict(predictionInput(c));
    net.dispose();
    const lines: string[] = [];
    await checkPredictions(c, 'peer', ours, (line) => lines.push(line));
    expect(lines).toEqual(['check  predict-784-256-128-10-r1 peer: outputs of 1 row within 0.0e+0 of our cpu backend\'s ≤ 0.00001']);
    const off = ours.map((v, i) => (i === 3 ? v + 2e-5 : v));
    await expect(checkPredictions(c, 'peer', off, () => {})).rejects.toThrow(CheckError);
    await expect(checkPredictions(c, 'peer', off, () => {})).rejects.toThrow(/outputs of 1 row within 2\.0e-5 of our cpu backend's, over 0\.00001: not the same computation/);
    await expect(checkPredictions(c, 'peer', ours.subarray(1), () => {})).rejects.toThrow(/peer: 9 outputs, expected 10/);
  });

  it('exits with code 2 and names the flag on a bad command line', async () => {
    const { code, stdout, stderr } = await bench('--bogus');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/unknown flag --bogus/);
    expect(stderr).toMatch(/--help/);
  });
});

describe('the case of its own architecture', () => {
  const find = (quick: boolean) => benchCases(quick).find((c) => c.name === LN_CASE);
  const c = find(true) as Extract<Case, { kind: 'step' }>;
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);

  it('is in full and quick runs: 784-256-256-10 on batches of 256, dense → layerNormalization → gelu → dropout twice, softmax cross-entropy, AdamW', () => {
    expect(find(false)).toEqual(c);
    expect(c).toMatchObject({ kind: 'step', sizes: [784, 256, 256, 10], batch: 256, architecture: LN_GELU_DROPOUT_ADAMW });
    expect(LN_GELU_DROPOUT_ADAMW).toEqual({
      hidden: [{ type: 'layerNormalization', epsilon: 1e-3 }, { type: 'gelu' }, { type: 'dropout', rate: 0.1 }],
      output: 'linear',
      loss: 'softmaxCrossEntropy',
      optimizer: { type: 'adamw', learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.004 },
    });
    expect(checksInference(c)).toBe(true);
    // The other training cases keep TRAINING's network and their first-step check.
    for (const other of benchCases(false)) {
      // The neural-image cases have their own network (see their describe).
      if (other.kind === 'matmul' || other.kind === 'predict' || other.name === LN_CASE || (other.kind === 'step' && other.throughput)) continue;
      expect(architectureOf(other), other.name).toBe(TRAINING);
      expect(checksInference(other), other.name).toBe(false);
    }
  });

  it('runs on ours (webgpu, cpu), on jax-js and TF.js, each on WebGPU and wasm, and on PyTorch\'s CPU', () => {
    const runners = RUNNERS.map((r) => r.name).filter((name) => caseRunsOn(c, name));
    expect(runners.sort()).toEqual([...LN_GELU_DROPOUT_ADAMW_RUNNERS].sort());
    expect(runners.sort()).toEqual(['cpu', 'jax-wasm', 'jax-webgpu', 'tfjs-wasm', 'tfjs-webgpu', 'torch-cpu', 'webgpu']);
  });

  it('checks the inference loss against the float64 forward, and fails a runner whose network differs', async () => {
    // The float64 forward of the case's first batch from the initial weights, to 7 digits.
    const float64 = 2.586923;
    expect(await checkFirstLoss(c, 'peer', float64, log)).toBeLessThan(LOSS_TOLERANCE);
    expect(lines.at(-1)).toMatch(new RegExp(`^check {2}${LN_CASE} peer: inference loss 2\\.586923 vs float64 2\\.586923`));
    const weights = await initialWeights(c.sizes);
    const { x, y } = trainingData(c.sizes, c.batch);
    const variant = (change: Partial<Architecture>) => float64Loss(c.sizes, { ...LN_GELU_DROPOUT_ADAMW, ...change }, weights, x, y);
    const [norm, gelu, dropout] = LN_GELU_DROPOUT_ADAMW.hidden;
    // Dropout is the identity in inference: its rate cannot change the loss checked.
    expect(variant({ hidden: [norm!, gelu!, { type: 'dropout', rate: 0.5 }] })).toBe(variant({}));
    const others: Partial<Architecture>[] = [
      { hidden: [{ type: 'layerNormalization', epsilon: 1e-5 }, gelu!, dropout!] },
      { hidden: [gelu!, dropout!] },
      { hidden: [gelu!, norm!, dropout!] },
      { hidden: [norm!, { type: 'leakyRelu', slope: 0.01 }, dropout!] },
      { output: 'sigmoid' },
      { loss: 'mse' },
    ];
    for (const change of others) {
      await expect(checkFirstLoss(c, 'peer', variant(change), log), JSON.stringify(change)).rejects.toThrow(CheckError);
    }
  });

  it('computes in float64 what our engine computes on TRAINING\'s network', async () => {
    // Our cpu backend's first-step loss of step-2-2-2-b1 (see the check test of the command line).
    const { x, y } = trainingData([2, 2, 2], 1);
    expect(float64Loss([2, 2, 2], TRAINING, await initialWeights([2, 2, 2]), x, y)).toBeCloseTo(0.3119095, 6);
  });

  it('lets our runner build, check and time such a case where the engine has its layers, and skips it with the refusal where not', async () => {
    // gelu, a linear output and softmax cross-entropy are in our engine already: the path the LN case takes once it builds.
    const geluCase: Case = {
      kind: 'step', name: 'step-5-4-3-gelu-b6', sizes: [5, 4, 3], batch: 6,
      architecture: { hidden: [{ type: 'gelu' }], output: 'linear', loss: 'softmaxCrossEntropy', optimizer: { type: 'sgd', learningRate: 0.1 } },
    };
    const cells = await engineRunner('cpu').prepare(geluCase, log);
    if (!Array.isArray(cells)) throw new Error(`the gelu case was skipped: ${cells.skip}`);
    try {
      expect(cells).toHaveLength(1);
      expect(cells[0]!.lossCheck).toBeLessThanOrEqual(LOSS_TOLERANCE);
      expect(lines.at(-1)).toMatch(/^check {2}step-5-4-3-gelu-b6 cpu: inference loss [\d.]+ vs float64 [\d.]+/);
      await cells[0]!.run(2);
    } finally {
      cells[0]!.dispose();
    }
    const ln = await engineRunner('cpu').prepare(c, log);
    if (Array.isArray(ln)) {
      for (const cell of ln) {
        expect(cell.lossCheck).toBeLessThanOrEqual(LOSS_TOLERANCE);
        cell.dispose();
      }
    } else {
      expect(ln.skip).toMatch(REFUSED);
      expect(ln.skip).toMatch(/layerNormalization|dropout|adamw/);
    }
  }, 60_000);
});

describe('the neural-image cases', () => {
  type StepCase = Extract<Case, { kind: 'step' }>;
  const neural = (quick: boolean) => benchCases(quick).filter((c): c is StepCase => c.kind === 'step' && c.architecture === NEURAL_IMAGE);
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);

  it('are 2 → frequencyEncoding(8) → 4 × (dense 64, relu) → dense 3 → sigmoid, mse, Adam 0.01, on 2^14, 2^16 and 2^18 rows (quick: 2^12), in GFLOP/s', () => {
    expect(neural(false).map((c) => [c.name, c.batch])).toEqual([
      ['step-neural-image-b16384', 2 ** 14], ['step-neural-image-b65536', 2 ** 16], ['step-neural-image-b262144', 2 ** 18],
    ]);
    expect(neural(true).map((c) => c.batch)).toEqual([2 ** 12]);
    for (const c of [...neural(false), ...neural(true)]) {
      expect(c).toMatchObject({ sizes: [2, 64, 64, 64, 64, 3], throughput: true });
      expect(unitOf(c)).toBe('GFLOP/s');
      expect(denseSizes(c)).toEqual([32, 64, 64, 64, 64, 3]);
    }
    const spec = networkSpec('cpu', [2, 64, 64, 64, 64, 3], 16, NEURAL_IMAGE);
    expect(spec.layers).toEqual([
      { type: 'frequencyEncoding', octaves: 8 },
      ...Array.from({ length: 4 }, () => [{ type: 'dense', units: 64 }, { type: 'relu' }]).flat(),
      { type: 'dense', units: 3 }, { type: 'sigmoid' },
    ]);
    expect(spec.optimizer).toEqual({ type: 'adamw', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 });
    expect(spec.loss).toBe('mse');
  });

  it('run on ours fused and unfused, jax-js and TF.js on WebGPU and our cpu backend', () => {
    const c = neural(false)[0]!;
    const runners = RUNNERS.map((r) => r.name).filter((name) => caseRunsOn(c, name));
    expect(runners.sort()).toEqual([...NEURAL_IMAGE_RUNNERS].sort());
    expect(runners).toEqual(['cpu', 'jax-webgpu', 'tfjs-webgpu', 'webgpu-fused', 'webgpu-unfused']);
    // The fused runners take no other case.
    for (const other of benchCases(false)) {
      if (other.kind === 'step' && other.architecture === NEURAL_IMAGE) continue;
      const names = other.kind === 'step' ? other.runners ?? [] : [];
      expect(names.includes('webgpu-fused') || names.includes('webgpu-unfused'), other.name).toBe(false);
    }
  });

  it('count 6 FLOPs a multiply-add over the encoded width and 2 per encoded column', () => {
    // 32·64 + 3·64·64 + 64·3 = 14,528 multiply-adds a row, 32 encoded columns.
    const c = neural(false)[0]!;
    expect(stepFlops(c)).toBe(2 ** 14 * (6 * 14_528 + 2 * 32));
    // TRAINING's cases count as before: no encoding.
    expect(stepFlops({ sizes: [784, 256, 128, 10], batch: 256 })).toBe(6 * 256 * (784 * 256 + 256 * 128 + 128 * 10));
    // 1.43 GFLOP in 100 ms: 14.3 GFLOP/s.
    expect(figure(c, 100)).toBeCloseTo(stepFlops(c) / 1e8, 9);
  });

  it('check the float64 forward (encoding in our column order) against our engine, and fail an encoding that differs', async () => {
    const c = neural(true)[0]!;
    const sizes = [2, 64, 64, 64, 64, 3];
    const weights = await initialWeights(denseSizes(c));
    const { x, y } = trainingData(sizes, 64);
    const net = await createOurNetwork(networkSpec('reference', sizes, 64, NEURAL_IMAGE));
    try {
      await net.setWeights(weights);
      const ours = (await net.evaluate(x, y)).loss;
      expect(float64Loss(sizes, NEURAL_IMAGE, weights, x, y)).toBeCloseTo(ours, 6);
    } finally {
      net.dispose();
    }
    // The case's own check: the float64 loss passes, one of 7 octaves' weights (the first 28 inputs) does not.
    const first = trainingData(sizes, c.batch);
    const expected = float64Loss(sizes, NEURAL_IMAGE, weights, first.x, first.y);
    expect(await checkFirstLoss(c, 'peer', expected, log)).toBe(0);
    const sevenOctaves = { ...NEURAL_IMAGE, encoding: { type: 'frequencyEncoding', octaves: 7 } } as const;
    const shorter = [{ ...weights[0]!, weights: weights[0]!.weights.slice(0, 28 * 64) }, ...weights.slice(1)];
    await expect(checkFirstLoss(c, 'peer', float64Loss(sizes, sevenOctaves, shorter, first.x, first.y), log)).rejects.toThrow(CheckError);
    const relu = { ...NEURAL_IMAGE, hidden: [{ type: 'leakyRelu', slope: 0.01 }] } as const;
    await expect(checkFirstLoss(c, 'peer', float64Loss(sizes, relu, weights, first.x, first.y), log)).rejects.toThrow(CheckError);
  }, 60_000);

  it('skip a runner whose step at a smaller batch predicts over 10 s a step, before building anything', () => {
    const [small, middle, large] = neural(false) as [StepCase, StepCase, StepCase];
    const cases = neural(false);
    const row = (c: StepCase, runner: string, median: number): Row => ({ case: c.name, runner, median, unit: 'GFLOP/s', samples: 2 });
    // 0.1 GFLOP/s at 2^14 rows: 2^16 rows' 5.7 GFLOP would take 57 s.
    expect(predictedSlowStep(middle, cases, 'tfjs-webgpu', [row(small, 'tfjs-webgpu', 0.1)]))
      .toBe('at 16384 rows it ran 0.100 GFLOP/s, so one step of 65536 rows would take about 57 s, over the 10 s limit');
    // From the nearest smaller batch measured: 2^16's, not 2^14's.
    expect(predictedSlowStep(large, cases, 'cpu', [row(small, 'cpu', 0.1), row(middle, 'cpu', 10)])).toBeUndefined();
    expect(predictedSlowStep(large, cases, 'cpu', [row(small, 'cpu', 100), row(middle, 'cpu', 1)])).toMatch(/^at 65536 rows it ran 1\.00 GFLOP\/s/);
    // Fast enough, another runner's row, or nothing smaller: no skip.
    expect(predictedSlowStep(middle, cases, 'cpu', [row(small, 'cpu', 1)])).toBeUndefined();
    expect(predictedSlowStep(middle, cases, 'cpu', [row(small, 'tfjs-webgpu', 0.1)])).toBeUndefined();
    expect(predictedSlowStep(small, cases, 'cpu', [row(middle, 'cpu', 0.001)])).toBeUndefined();
  });

  it('skip the fused runner with the engine\'s reason where the network cannot fuse', async () => {
    const unfusable: Case = {
      kind: 'step', name: 'step-4-8-3-ln-b8', sizes: [4, 8, 3], batch: 8, architecture: LN_GELU_DROPOUT_ADAMW, runners: ['webgpu-fused'],
    };
    const skip = await fusedRunner('always').prepare(unfusable, log);
    expect(Array.isArray(skip)).toBe(false);
    expect((skip as { skip: string }).skip).toMatch(/^our engine refuses this network: .*fusedMlp 'always'.*layerNormalization/);
    // A case that does not name it: nothing.
    expect(await fusedRunner('always').prepare({ ...unfusable, runners: ['webgpu'] }, log)).toEqual([]);
  }, 120_000);

  it('measure (quick) on ours fused and unfused and cpu, logging the path, what \'auto\' picks and dispatches per step', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-neural-'));
    try {
      const result = await bench('--quick', '--out', dir, '--no-markdown', '--only', 'step-neural,webgpu-fused,webgpu-unfused,cpu');
      expect(result.code, result.stderr).toBe(0);
      const file = (await readdir(dir)).find((name) => name.endsWith('.json'))!;
      const rows = (JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Results).cases;
      expect(rows.map((r) => r.runner).sort()).toEqual(['cpu', 'webgpu-fused', 'webgpu-unfused']);
      for (const r of rows) {
        expect(r).toMatchObject({ case: 'step-neural-image-b4096', unit: 'GFLOP/s' });
        expect(r.median).toBeGreaterThan(0);
        expect(r.lossCheck).toBeLessThanOrEqual(LOSS_TOLERANCE);
      }
      expect(result.stdout).toMatch(/step-neural-image-b4096 webgpu-fused: fused step \(fusedMlp 'always'\); dispatches per step: fused (\d+), unfused (\d+); stats\(\)\.dispatchesPerStep \1/);
      expect(result.stdout).toMatch(/step-neural-image-b4096 webgpu-unfused: per-layer step \(fusedMlp 'never'\); dispatches per step: fused —, unfused (\d+); stats\(\)\.dispatchesPerStep \1/);
      expect(result.stdout).toMatch(/step-neural-image-b4096 fusedMlp 'auto': (fused|per-layer) step \(.+\)/);
      expect(result.stdout).toMatch(/step-neural-image-b4096 cpu: [\d.]+ steps\/s \(0\.357 GFLOP a step\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

describe('bench targets', () => {
  const row = (name: string, runner: string, median: number, extra: Partial<Row> = {}): Row =>
    ({ case: name, runner, median, unit: name.startsWith('matmul') ? 'GFLOP/s' : 'ms', samples: 3, ...extra });
  const results = (cases: Row[], arithmeticPeak?: number): Results =>
    ({ device: {} as Results['device'], date: '2026-01-01', node: 'v20', quick: false, cases, ...(arithmeticPeak ? { arithmeticPeak } : {}) });

  it('says which targets hold, from the rows of one run', () => {
    const lines = targetLines(results([
      row('step-784-256-128-10-b256', 'webgpu', 100, { matmulMs: 80 }),
      row('step-784-256-128-10-b256', 'jax-webgpu', 150),
      row('step-784-256-128-10-b256', 'tfjs-webgpu', 1200),
      row('step-2-2-2-b1', 'webgpu', 0.5),
      row('step-2-2-2-b1', 'jax-webgpu', 1),
      row('warmup-784-256-128-10-b256', 'webgpu', 900, { variant: FIRST_USE }),
      row('warmup-784-256-128-10-b256', 'webgpu', 500),
      row('warmup-784-256-128-10-b256', 'jax-webgpu', 700),
      row('matmul-ab-512', 'webgpu', 3, { variant: 'vec4' }),
      row('matmul-ab-1024', 'webgpu', 4, { variant: 'vec4+subgroups' }),
      // The loads-only probe of that kernel: faster, never "best", but quoted beside it.
      row('matmul-ab-1024', 'webgpu', 6, { variant: 'vec4+subgroups loads only' }),
    ], 8)).join('\n');
    expect(lines).toContain('jax-js WebGPU takes 1.50× our time (150 against 100 ms); target ≥ 2× — **not met** (faster, short of the aim); ' +
      'our step is 1.25× the sum of its matmuls timed alone, so only faster matmuls would close the gap');
    expect(lines).toContain('TF.js WebGPU takes 12.00× our time (1,200 against 100 ms); target ≥ 10× — **met**');
    expect(lines).not.toMatch(/12\.00× our time.*only faster matmuls/);
    const close = targetLines(results([row('step-784-256-128-10-b256', 'webgpu', 100), row('step-784-256-128-10-b256', 'jax-webgpu', 199.7)])).join('\n');
    expect(close).toContain('jax-js WebGPU takes 1.997× our time (200 against 100 ms); target ≥ 2× — **not met**');
    expect(lines).toContain('the step is 1.25× the sum of its matmuls timed alone; target ≤ 1.5× — **met**');
    expect(lines).toContain('0.500 ms against jax-js WebGPU\'s 1.00 ms; target ≤ jax-js\'s — **met**');
    expect(lines).toContain('warm-up (autotune decisions known): 500 ms against jax-js WebGPU\'s 700 ms; target ≤ jax-js\'s — **met**');
    expect(lines).toContain('and the trials follow it): 900 ms; target ≤ jax-js\'s — **not met**');
    expect(lines).toContain('A·B: best vec4+subgroups at 1024³, 4.00 GFLOP/s, 50% of the adapter\'s arithmetic ceiling; ' +
      'its loads alone (the same kernel without its multiply-adds) take 67% of its time, so with these loads no arithmetic at all ' +
      'would reach 6.00 GFLOP/s; aim ≥ 5 GFLOP/s — **not met**');
    expect(lines).toContain('(the higher of the two): 8.00 GFLOP/s');
  });

  it('lists nothing for a run without the cases', () => {
    expect(targetLines(results([row('step-784-256-128-10-b256', 'cpu', 80)]))).toEqual([]);
  });
});

describe('matmul cells too slow to time', () => {
  const c = benchCases(false).find((x) => x.name === 'matmul-ab-2048') as Extract<Case, { kind: 'matmul' }>;
  const at1024 = (runner: string, median: number, variant?: string): Row =>
    ({ case: 'matmul-ab-1024', runner, median, unit: 'GFLOP/s', samples: 3, ...(variant ? { variant } : {}) });

  it('leaves out a cell whose one product, at its rate at the next smaller size, would take over the limit', () => {
    // 2·2048³ = 17.2 GFLOP: 10 s at 1.72 GFLOP/s.
    const rows = [at1024('webgpu', 0.5, 'scalar'), at1024('webgpu', 4, 'vec4'), at1024('tfjs-cpu', 1.7), at1024('cpu', 60)];
    expect(predictedSlow(c, 'webgpu', 'scalar', rows)).toBe('at 1024³ it ran 0.500 GFLOP/s, so one 2048³ product would take about 34 s, over the 10 s limit');
    expect(predictedSlow(c, 'webgpu', 'vec4', rows)).toBeUndefined();
    expect(predictedSlow(c, 'tfjs-cpu', undefined, rows)).toMatch(/about 10 s, over the 10 s limit/);
    expect(predictedSlow(c, 'cpu', undefined, rows)).toBeUndefined();
    // Nothing to go by: timed.
    expect(predictedSlow(c, 'jax-webgpu', undefined, rows)).toBeUndefined();
    expect(MATMUL_LIMIT_MS).toBe(10_000);
  });

  it('goes to 2048³ in a full run and to 512³ in a quick one', () => {
    const sizes = (quick: boolean) => benchCases(quick).filter((x) => x.kind === 'matmul' && x.form.name === 'ab').map((x) => (x as { size: number }).size);
    expect(sizes(false)).toEqual([256, 512, 1024, 2048]);
    expect(sizes(true)).toEqual([256]);
    expect(benchCases(false, true).filter((x) => x.kind === 'matmul' && x.form.name === 'ab').map((x) => (x as { size: number }).size).at(-1)).toBe(4096);
  });
});

describe('the wasm SIMD ceiling probe', () => {
  it('measures a finite, positive GFLOP/s', async () => {
    const gflops = await simdPeakGflops(1);
    expect(gflops).toBeGreaterThan(0);
    expect(Number.isFinite(gflops)).toBe(true);
  });
});

describe('the loads-only matmul probe', () => {
  const vec4Variants = Object.entries(MATMUL_VARIANTS).filter(([, variant]) => variant.vec4);
  const forms = [[false, false], [true, false], [false, true]] as const;
  it.each(vec4Variants.flatMap(([name, variant]) => forms.map(([transposeA, transposeB]) => [name, transposeA, transposeB, variant] as const)))(
    '%s (transposeA %s, transposeB %s): every multiply-add becomes one add of two loaded values, the rest unchanged',
    (_name, transposeA, transposeB, variant) => {
      const source = kernelSource({ kind: 'matmul', transposeA, transposeB, epilogue: 'none', activation: 'linear', ...variant });
      const probe = loadsOnlySource(source);
      const lines = source.split('\n');
      const probeLines = probe.split('\n');
      expect(probeLines).toHaveLength(lines.length);
      const changed = lines.flatMap((line, i) => (line === probeLines[i] ? [] : [[line, probeLines[i]!] as const]));
      // 8 rows × (1 or 2) column groups, twice where the k loop is unrolled (Aᵀ·B) plus its tail.
      const accumulators = 8 * (variant.wide ? 2 : 1);
      expect(changed).toHaveLength(transposeA ? 3 * accumulators : accumulators);
      for (const [line, rewritten] of changed) {
        expect(line).toMatch(/acc\d+_\d+ \+= .*(\*|dot\()/);
        expect(rewritten).toMatch(/^\s*acc\d+_\d+ \+= a\d+(_\d+)? \+ b\d+_\d+;$/);
      }
    });

  it('refuses a kernel it cannot rewrite', () => {
    expect(() => loadsOnlySource(kernelSource({ kind: 'matmul', transposeA: false, transposeB: false, epilogue: 'none', activation: 'linear', ...MATMUL_VARIANTS.scalar })))
      .toThrow('no vec4 accumulation');
  });
});

import { kernelSource, MATMUL_VARIANTS, matmulTile, matmulVariantsFor, type KernelKey, type MatmulVariant } from '../../shaders/index.js';
import { DIMS_BYTES, STEP_BYTES } from '../../shaders/index.js';
import type { Dims } from './dims.js';
import { packDims } from './dims.js';
import type { GpuContext } from './device.js';
import { getKernel } from './kernels.js';
import { foldGrid } from './resources.js';
import { readDecisions, saveDecisions, type Decisions } from './tuning-store.js';
import type { TuningDecision } from '../backend.js';
export type { TuningDecision } from '../backend.js';

/** A matrix product of the plan before its kernel variant is chosen: the key without variant fields. */
export interface ProductShape {
  /** Where it sits in the step, for the tuning report, e.g. 'layer 1 forward'. */
  label: string;
  key: Omit<Extract<KernelKey, { kind: 'matmul' }>, keyof (typeof MATMUL_VARIANTS)['scalar']>;
  /** Sizes with the batch at its largest (batchSize). */
  dims: Dims;
}


/**
 * Trials run on the product's real m and n, with k cut to at most this many steps: a kernel's time
 * is linear in k once its operands outgrow the caches. Trials that createNetwork waits for (on a
 * device without timestamps) cut k to 64, so they cost a fraction of a step; trials in the
 * background (see Network.tuned) to 256, because at 64 the operands of a 256×256 product still
 * fit in the caches: on SwiftShader vec4-wide A·B then looked as fast as vec4, and at k ≥ 128 it is
 * 1.2–1.5× slower.
 */
export const TRIAL_K = { blocking: 64, background: 256 } as const;
/**
 * Products below this many multiply-adds (m·n·k at the full batch: 2^20 is 64 rows × 128 × 128) are
 * not timed: their passes take about a dispatch's fixed cost whichever variant runs (on SwiftShader
 * about 0.2 ms, with timestamps 65 µs apart), so a trial could only measure noise, and compiling its
 * other candidates costs more than the choice could ever save. They run the first candidate, the
 * rule-of-thumb guess, marked 'small'.
 */
export const TRIAL_MIN_WORK = 2 ** 20;
/**
 * At most this many shape classes are timed per network, the largest products first; the rest keep
 * their first candidate ('capped') until a later network meets them with the budget to time them.
 * A step of a network with more classes than that is long enough for the first guess to do.
 */
export const TRIAL_MAX_CLASSES = 8;
/**
 * Timed rounds per candidate after one untimed run, the order reversed every round; the best round
 * counts, since other work on the machine only ever adds time (with 2 rounds, a busy 2-core machine
 * flipped decisions between variants 1.5× apart).
 */
const TRIAL_ROUNDS = 3;

/** Winners by shapeClass: this process's, after the stored ones are read once. */
let cache: Promise<Decisions> | undefined;

/**
 * Forgets every decision this process knows, stored ones included (the store itself is left as it
 * is), so the next network tunes as on a machine's first use: the benchmark's cold start. Returns a
 * function that brings back what was forgotten.
 */
export function forgetDecisions(): () => void {
  const known = cache;
  cache = Promise.resolve({});
  return () => {
    cache = known;
  };
}

/** 32-bit FNV-1a, in hex: a short name for the candidates' WGSL. */
function fingerprint(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/**
 * Products of similar shape share a decision: the form, the epilogue, and each size rounded to the
 * nearest power of two; on the same adapter, with the same candidate kernels (their source's
 * fingerprint, so a changed kernel is timed again).
 */
function shapeClass(context: GpuContext, shape: ProductShape, candidates: MatmulVariant[]): string {
  const { key, dims } = shape;
  const octave = (size: number) => Math.round(Math.log2(Math.max(1, size)));
  const source = candidates.map((variant) => kernelSource({ ...key, ...MATMUL_VARIANTS[variant] })).join('\n');
  return [context.vendor, context.architecture, context.description, key.transposeA, key.transposeB, key.epilogue,
    octave(dims.m), octave(dims.n), octave(dims.k), fingerprint(source)].join('|');
}

/** The candidate the trials favour: the lowest of each candidate's best time (ties keep list order). */
export function fastest<T extends string>(trials: Map<T, number[]>): T {
  let best: { variant: T; time: number } | undefined;
  for (const [variant, times] of trials) {
    const time = Math.min(...times);
    if (!best || time < best.time) best = { variant, time };
  }
  if (!best) throw new Error('fastest: no candidates');
  return best.variant;
}

/** A product whose variant is still to be measured, and where its decision goes. */
interface PendingProduct {
  index: number;
  shape: ProductShape;
  candidates: MatmulVariant[];
  classKey: string;
}

/**
 * What the autotune knows when a network is created: a decision for every product (known ones
 * 'cached' or 'only'; the rest 'pending' on their first candidate, the rule-of-thumb guess), and
 * `measure`, which runs the trials of the pending ones and returns their final decisions (absent
 * when nothing is pending).
 */
export interface TuningPlan {
  decisions: TuningDecision[];
  /** Runs the trials with k cut to `kLimit` (a TRIAL_K) and returns every product's final decision. */
  measure?: (kLimit: number) => Promise<TuningDecision[]>;
}

/**
 * Plans the choice of a kernel variant for every product of a plan on this device. Where more than
 * one variant can compute a product (matmulVariantsFor) and no decision is known for its shape class
 * yet (in this process or stored by an earlier one), the product starts on its first candidate and
 * `measure` later compiles every candidate's pipeline and times them on scratch buffers of the
 * product's shape, interleaved, best of TRIAL_ROUNDS, and stores the winners. No timing is trusted
 * across adapters: the key names the adapter.
 */
export async function planTuning(context: GpuContext, shapes: ProductShape[], subgroups: boolean): Promise<TuningPlan> {
  cache ??= readDecisions();
  const known = await cache;
  const decisions: TuningDecision[] = [];
  const undecided: PendingProduct[] = [];
  for (const [index, shape] of shapes.entries()) {
    const { transposeA, transposeB } = shape.key;
    const { m, n, k } = shape.dims;
    const candidates = matmulVariantsFor(transposeA, transposeB, m, n, k, { subgroups, hardware: !context.software });
    const decision = { label: shape.label, shape: `${m}×${n}×${k}` };
    // The class names the candidates' WGSL, so it is worked out only where there is a choice worth timing.
    const timed = candidates.length > 1 && m * n * k >= TRIAL_MIN_WORK;
    const classKey = timed ? shapeClass(context, shape, candidates) : undefined;
    const cached = classKey === undefined ? undefined : candidates.find((candidate) => candidate === known[classKey]);
    if (candidates.length === 1) {
      decisions.push({ ...decision, variant: candidates[0]!, source: 'only' });
    } else if (classKey === undefined) {
      decisions.push({ ...decision, variant: candidates[0]!, source: 'small' });
    } else if (cached) {
      decisions.push({ ...decision, variant: cached, source: 'cached' });
    } else {
      decisions.push({ ...decision, variant: candidates[0]!, source: 'pending' });
      undecided.push({ index, shape, candidates, classKey });
    }
  }
  // The largest products' classes first, up to the network's budget of classes.
  const work = ({ shape: { dims } }: PendingProduct) => dims.m * dims.n * dims.k;
  const classes = [...new Set([...undecided].sort((a, b) => work(b) - work(a)).map((product) => product.classKey))].slice(0, TRIAL_MAX_CLASSES);
  const pending = undecided.filter((product) => classes.includes(product.classKey));
  for (const { index } of undecided.filter((product) => !classes.includes(product.classKey))) decisions[index]!.source = 'capped';
  if (pending.length === 0) return { decisions };
  return { decisions, measure: (kLimit) => measurePending(context, pending, decisions, known, kLimit) };
}

async function measurePending(context: GpuContext, pending: PendingProduct[], planned: TuningDecision[], known: Decisions,
  kLimit: number): Promise<TuningDecision[]> {
  // Every pipeline first, in parallel: compilation running beside a trial would slow it.
  await Promise.all(pending.flatMap(({ shape, candidates }) =>
    candidates.map((variant) => getKernel(context.device, { ...shape.key, ...MATMUL_VARIANTS[variant] }))));
  const decisions = [...planned];
  const fresh: Decisions = {};
  for (const { index, shape, candidates, classKey } of pending) {
    // An earlier product of this run may have settled the class already.
    const settled = candidates.find((candidate) => candidate === fresh[classKey]);
    if (settled) {
      decisions[index] = { ...planned[index]!, variant: settled, source: 'cached' };
      continue;
    }
    const trials = await timeCandidates(context.device, shape, candidates, kLimit);
    const variant = fastest(trials);
    known[classKey] = variant;
    fresh[classKey] = variant;
    decisions[index] = { ...planned[index]!, variant, source: 'measured',
      trials: Object.fromEntries([...trials].map(([v, times]) => [v, Math.min(...times)])) };
  }
  await saveDecisions(fresh);
  return decisions;
}

/**
 * A network's trials run in the background: they wait for start() (or the work given to
 * startAfter), measure, and hand each changed decision to `apply` (which switches the product's
 * kernel between two steps), updating `decisions` (the network's deviceInfo.tuning) in place. The
 * trials time themselves with timestamps, so training work queued beside them does not count. If
 * they fail (the device lost, say), the products keep their first guesses, marked 'guess'.
 */
export class BackgroundTuning {
  /** Settles when every decision is final and applied, or the trials have failed; never rejects. */
  readonly settled: Promise<void>;
  private release: (() => void) | undefined;
  private armed = false;

  constructor(measure: () => Promise<TuningDecision[]>, decisions: TuningDecision[], apply: (decision: TuningDecision) => Promise<void>) {
    const started = new Promise<void>((resolve) => {
      this.release = resolve;
    });
    // A failure in the trials or in a switch: what was not applied stays on its guess.
    this.settled = started.then(measure).then(async (final) => {
      for (const [i, decision] of final.entries()) {
        if (decision.variant !== decisions[i]!.variant) await apply(decision);
        decisions[i] = decision;
      }
    }).catch(() => {
      for (const [i, decision] of decisions.entries()) {
        if (decision.source === 'pending') decisions[i] = { ...decision, source: 'guess' };
      }
    });
  }

  /** Starts the trials now, if they have not started. */
  start(): void {
    this.release?.();
    this.release = undefined;
  }

  /**
   * Starts the trials once `work` (called at most once) has settled: the network's first step or
   * predict, which the candidates' compilation beside it would slow.
   */
  startAfter(work: () => Promise<unknown>): void {
    if (this.armed || !this.release) return;
    this.armed = true;
    const start = () => this.start();
    void work().then(start, start);
  }
}

/** A candidate ready to dispatch on the scratch buffers. */
interface TrialRun {
  variant: MatmulVariant;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  /** As dispatched: folded past the per-dimension limit (foldGrid). */
  grid: [number, number, number];
}

/** The passes of a trial: each candidate once untimed, then TRIAL_ROUNDS rounds, every other one in reverse order. */
function trialOrder(runs: TrialRun[]): { run: TrialRun; timed: boolean }[] {
  const order = runs.map((run) => ({ run, timed: false }));
  for (let round = 0; round < TRIAL_ROUNDS; round++) {
    for (const run of round % 2 === 0 ? runs : [...runs].reverse()) order.push({ run, timed: true });
  }
  return order;
}

function encodeRun(pass: GPUComputePassEncoder, run: TrialRun): void {
  pass.setPipeline(run.pipeline);
  pass.setBindGroup(0, run.bindGroup);
  pass.dispatchWorkgroups(...run.grid);
  pass.end();
}

/**
 * Every pass of the trial in one submit, each timed by the device's own timestamps (a submit and
 * its wait cost a few ms on SwiftShader, more than many trials). Undefined when the timestamps
 * cannot be trusted (any pass not later than its start), and the caller times by submits instead.
 */
async function timeByTimestamps(device: GPUDevice, runs: TrialRun[]): Promise<Map<MatmulVariant, number[]> | undefined> {
  const order = trialOrder(runs);
  const count = 2 * order.length;
  const querySet = device.createQuerySet({ type: 'timestamp', count, label: 'autotune timestamps' });
  const resolved = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'autotune timestamps' });
  const readback = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'autotune timestamps readback' });
  try {
    const encoder = device.createCommandEncoder();
    order.forEach(({ run }, i) => encodeRun(encoder.beginComputePass({
      timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    }), run));
    encoder.resolveQuerySet(querySet, 0, count, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readback, 0, count * 8);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    const trials = new Map<MatmulVariant, number[]>(runs.map((run) => [run.variant, []]));
    for (const [i, { run, timed }] of order.entries()) {
      const nanoseconds = Number(stamps[2 * i + 1]! - stamps[2 * i]!);
      if (!(stamps[2 * i + 1]! > stamps[2 * i]!) || !Number.isFinite(nanoseconds)) return undefined;
      if (timed) trials.get(run.variant)!.push(nanoseconds / 1e6);
    }
    return trials;
  } finally {
    querySet.destroy();
    resolved.destroy();
    readback.destroy();
  }
}

/** Every pass of the trial in a submit of its own, timed from submit to onSubmittedWorkDone. */
async function timeBySubmits(device: GPUDevice, runs: TrialRun[]): Promise<Map<MatmulVariant, number[]>> {
  const trials = new Map<MatmulVariant, number[]>(runs.map((run) => [run.variant, []]));
  for (const { run, timed } of trialOrder(runs)) {
    const encoder = device.createCommandEncoder();
    encodeRun(encoder.beginComputePass(), run);
    const start = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (timed) trials.get(run.variant)!.push(performance.now() - start);
  }
  return trials;
}

/** Times each candidate on zero-filled scratch buffers (values do not change a kernel's speed). */
async function timeCandidates(device: GPUDevice, shape: ProductShape, candidates: MatmulVariant[], kLimit: number): Promise<Map<MatmulVariant, number[]>> {
  const { m, n } = shape.dims;
  const k = Math.min(shape.dims.k, kLimit);
  const kernels = await Promise.all(candidates.map((variant) => getKernel(device, { ...shape.key, ...MATMUL_VARIANTS[variant] })));
  const storage = GPUBufferUsage.STORAGE;
  const uniform = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
  const scratch = [
    device.createBuffer({ size: DIMS_BYTES, usage: uniform, label: 'autotune dims' }),
    device.createBuffer({ size: STEP_BYTES, usage: uniform, label: 'autotune step' }),
    device.createBuffer({ size: Math.max(16, m * k * 4), usage: storage, label: 'autotune A' }),
    device.createBuffer({ size: Math.max(16, k * n * 4), usage: storage, label: 'autotune B' }),
    device.createBuffer({ size: Math.max(16, m * n * 4), usage: storage, label: 'autotune C' }),
    // Bias [n] or gate [m, n], whichever the epilogue reads.
    device.createBuffer({ size: Math.max(16, m * n * 4), usage: storage, label: 'autotune epilogue input' }),
    // The pre-activation [m, n] a forward product stores for the backward pass, where it does.
    device.createBuffer({ size: Math.max(16, m * n * 4), usage: storage, label: 'autotune pre-activation' }),
    // The dropout layer's output [m, n] a forward product stores beside its own, where one is fused in.
    device.createBuffer({ size: Math.max(16, m * n * 4), usage: storage, label: 'autotune dropped output' }),
  ];
  try {
    device.queue.writeBuffer(scratch[0]!, 0, packDims([{ ...shape.dims, k, rowsAxis: 0 }]), 0, DIMS_BYTES);
    const runs = candidates.map((variant, i): TrialRun => {
      const kernel = kernels[i]!;
      const bindGroup = device.createBindGroup({
        layout: kernel.layout,
        entries: kernel.bindings.map((binding) => ({ binding, resource: { buffer: scratch[binding]! } })),
      });
      const tile = matmulTile(MATMUL_VARIANTS[variant]);
      const grid = foldGrid([Math.ceil(n / tile.cols), Math.ceil(m / tile.rows)], device.limits.maxComputeWorkgroupsPerDimension);
      return { variant, pipeline: kernel.pipeline, bindGroup, grid };
    });
    return (device.features.has('timestamp-query') && await timeByTimestamps(device, runs)) || await timeBySubmits(device, runs);
  } finally {
    for (const buffer of scratch) buffer.destroy();
  }
}

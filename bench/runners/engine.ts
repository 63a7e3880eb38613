import { DeviceError, SpecError, type BackendName, type DenseWeights, type LayerWeightsInput, type Network } from '../../src/index.js';
import { forgetDecisions } from '../../src/webgpu/autotune.js';
import { defaultContext, requestAdapter } from '../../src/webgpu/device.js';
import type { FusedMlpMode } from '../../src/spec.js';
import type { GpuWait } from '../../src/webgpu/waiter.js';
import { architectureOf, denseSizes, PREDICT_BATCH_LIMIT, stepFlops, trainingData, type Case, type PredictCase, type TrainingCase } from '../cases.js';
import { minimumTrainingBytes } from './gpu-memory.js';
import { cpuMatmulCell, gpuMatmulCells, timeStepProducts } from './matmul.js';
import type { Window } from '../timing.js';
import type { Cell, Log, Runner, RowExtras, Skip } from './runner.js';
import {
  batchesOf, checkedRows, checkFirstLoss, checkPredictions, checksInference, createOurNetwork, initialWeights, knownSlow, networkSpec, predictionInput, predictTooSlow, timed,
  timedFirstStep,
} from './shared.js';

/**
 * The reference backend (readable float64) does about 0.4 GFLOP/s on a 2-core Xeon, so it only runs
 * the step cases where one step stays under about 10 s at that speed (the others are skipped with
 * that reason). It has no fit or matmul cells: an epoch is ten of its steps, and the oracle's
 * throughput tells nothing a step does not.
 */
const REFERENCE_MAX_STEP_FLOPS = 10 * 0.4e9;

/**
 * One of our backends, through the public API (createNetwork) for training and its own kernels for
 * matmul. `threads` sets the cpu backend's (default every core); the runner is then `cpu-<n>t`.
 * `gpuWait` sets how the webgpu backend waits (default: sleep, in Node); the runner is then
 * `webgpu-<mode>` and runs only the step cases, to show what waiting without Dawn's poll gains.
 */
export function engineRunner(backend: BackendName, threads?: number, gpuWait?: GpuWait): Runner {
  return {
    name: gpuWait !== undefined ? `${backend}-${gpuWait}` : threads === undefined ? backend : `${backend}-${threads}t`,
    async prepare(c, log) {
      if (gpuWait !== undefined && (c.kind !== 'step' || c.sweep)) return [];
      if (c.kind === 'predict') {
        const cell = await predictCell(backend, c, log, threads);
        return 'skip' in cell ? cell : [cell];
      }
      // The float64 oracle has no matmul kernel worth timing, and its fit throughput tells nothing its step does not.
      if (c.kind === 'matmul') {
        if (backend === 'webgpu') return gpuMatmulCells(c);
        return backend === 'cpu' ? [await cpuMatmulCell(c, threads)] : [];
      }
      if (backend === 'reference' && c.kind === 'fit') return [];
      if (backend === 'reference' && stepFlops(c) > REFERENCE_MAX_STEP_FLOPS) {
        return { skip: `one step is ${(stepFlops(c) / 1e9).toFixed(1)} GFLOP, over 10 s at the float64 oracle's ~0.4 GFLOP/s` };
      }
      if (c.kind === 'warmup') {
        // WebGPU twice: as on a machine's first use (the autotune times its candidates), then with its decisions known.
        return backend === 'webgpu' ? [await warmupCell(backend, c, true), await warmupCell(backend, c)] : [await warmupCell(backend, c, false, threads)];
      }
      return trainingCell(backend, c, log, threads, gpuWait);
    },
  };
}

/**
 * Our webgpu backend with the fused small-MLP step forced ('always': `webgpu-fused`) or forbidden
 * ('never': `webgpu-unfused`), for the step cases that name it (the neural-image cases). Each logs
 * the path its network runs and the dispatches of a step on each path; the unfused one also the
 * path 'auto' (the default) picks for the case's network on this adapter, and why.
 */
export function fusedRunner(mode: Exclude<FusedMlpMode, 'auto'>): Runner {
  const name = mode === 'always' ? 'webgpu-fused' : 'webgpu-unfused';
  return {
    name,
    async prepare(c, log) {
      if (c.kind !== 'step' || !c.runners?.includes(name)) return [];
      if (mode === 'never') {
        const auto = await createOurNetwork(networkSpec('webgpu', c.sizes, c.batch, architectureOf(c)));
        log(`${c.name} fusedMlp 'auto': ${fusedLine(auto)}`);
        auto.dispose();
      }
      return trainingCell('webgpu', c, log, undefined, undefined, mode, name);
    },
  };
}

/** The path a webgpu network runs, why, and a step's dispatches on each path. */
function fusedLine(net: Network): string {
  const decision = net.deviceInfo.fusedMlp;
  if (!decision) return 'no fused-MLP decision reported';
  const { unfused, fused } = decision.dispatches;
  return `${decision.fused ? 'fused' : 'per-layer'} step (${decision.reason}); dispatches per step: fused ${fused ?? '—'}, unfused ${unfused}`;
}

/** Every runner's dense weights, with γ 1 and β 0 for each layerNormalization of the network between them. */
function withNormalizations(net: Network, dense: DenseWeights[]): LayerWeightsInput[] {
  let next = 0;
  return net.plan.layers.flatMap((layer): LayerWeightsInput[] => {
    switch (layer.kind) {
      case 'dense': return [dense[next++]!];
      case 'layerNormalization': return [{ gamma: new Float32Array(layer.units).fill(1), beta: new Float32Array(layer.units) }];
      case 'dropout':
      case 'frequencyEncoding': return [];
      case 'batchNormalization': throw new Error('no bench case has a batchNormalization layer');
      default: return layer satisfies never;
    }
  });
}

/**
 * predict on the case's rows from the shared initial weights, in chunks of batchSize (the rows, up
 * to PREDICT_BATCH_LIMIT); the outputs checked against our cpu backend's first (but on cpu itself),
 * and the cell left out where one predict would take too long (predictTooSlow).
 */
async function predictCell(backend: BackendName, c: PredictCase, log: Log, threads?: number): Promise<Cell | Skip> {
  const net = await createOurNetwork({ ...networkSpec(backend, c.sizes, Math.min(c.rows, PREDICT_BATCH_LIMIT)), threads });
  try {
    await net.setWeights(await initialWeights(c.sizes));
    await net.tuned();
    const x = predictionInput(c);
    const sample = checkedRows(c, x);
    const outputs = await net.predict(sample);
    if (backend !== 'cpu') await checkPredictions(c, backend, outputs, log);
    const slow = predictTooSlow(c, (await timed(() => net.predict(sample)))[1]);
    if (slow) {
      net.dispose();
      return slow;
    }
    return {
      run: async (count) => {
        for (let i = 0; i < count; i++) await net.predict(x);
      },
      dispose: () => net.dispose(),
    };
  } catch (error) {
    net.dispose();
    throw error;
  }
}

async function trainingCell(backend: BackendName, c: Extract<Case, { kind: 'step' | 'fit' }>, log: Log,
  threads?: number, gpuWait?: GpuWait, fusedMlp?: FusedMlpMode, runner: string = backend): Promise<Cell[] | Skip> {
  const slow = knownSlow(runner, c);
  if (slow) return slow;
  let net: Network;
  try {
    const device = c.kind === 'step' && c.inputs === 'gpuMatrix' ? (await defaultContext())?.device : undefined;
    net = await createOurNetwork({
      ...networkSpec(backend, c.sizes, c.batch, architectureOf(c)), threads, gpuWait, ...(device ? { device } : {}), ...(fusedMlp ? { fusedMlp } : {}),
    });
  } catch (error) {
    // A case of its own architecture may name layers or an optimizer our engine does not have yet:
    // the cell waits for them, and the rest of the run goes on.
    if (error instanceof SpecError && c.kind === 'step' && c.architecture) return { skip: `our engine refuses this network: ${error.message}` };
    throw error;
  }
  if (fusedMlp) log(`${c.name} ${runner}: ${fusedLine(net)}; stats().dispatchesPerStep ${net.stats().dispatchesPerStep ?? '—'}`);
  try {
    // Every step timed runs the variants the autotune chose, not the defaults used while it measures.
    await net.tuned();
    const first = batchesOf(c)[0]!;
    // Checked in inference (see checksInference): from the weights every runner starts from (ours
    // for these sizes; a layerNormalization's γ 1 and β 0 as created), before any step.
    let inferenceLoss: number | undefined;
    if (checksInference(c)) {
      await net.setWeights(withNormalizations(net, await initialWeights(denseSizes(c))));
      inferenceLoss = (await net.evaluate(first.x, first.y)).loss;
    }
    // One step first: its time decides whether the case is worth timing; otherwise its loss is the
    // one checked against ours (cpu), except on cpu, which is ours.
    const [loss, ms] = await timed(() => net.trainBatch(first.x, first.y));
    const skip = timedFirstStep(runner, c, ms);
    if (skip) {
      net.dispose();
      return skip;
    }
    const checked = inferenceLoss ?? (backend === 'cpu' ? undefined : loss);
    const lossCheck = checked === undefined ? 0 : await checkFirstLoss(c, runner, checked, log);
    const { x, y } = trainingData(c.sizes, c.kind === 'fit' ? c.rows : c.batch);
    const onDevice = c.kind === 'step' && c.inputs === 'gpuMatrix' ? await gpuMatrices(net, x, y, c.batch) : undefined;
    const run = c.kind === 'step'
      ? async (count: number) => {
        if (onDevice) for (let i = 0; i < count; i++) await net.trainBatch(onDevice.x, onDevice.y);
        else for (let i = 0; i < count; i++) await net.trainBatch(x, y);
      }
      : async (count: number) => {
        await net.fit(x, y, { epochs: count });
      };
    // Nothing may be created per step: what exists before the timing is all the timed steps may use
    // (for fit, after one epoch: its first call uploads the training set).
    if (backend === 'webgpu' && c.kind === 'fit') await net.fit(x, y, { epochs: 1 });
    const before = net.stats();
    const report = backend !== 'webgpu' ? undefined : async (window: Window): Promise<RowExtras> => {
      const after = net.stats();
      const memory = {
        gpuBytes: after.liveBytes,
        minimumBytes: minimumTrainingBytes(denseSizes(c), c.batch, architectureOf(c)),
        createdWhileTimed: after.buffersCreated - before.buffersCreated + after.bindGroupsCreated - before.bindGroupsCreated,
      };
      // The issue's target: a step within 1.5× of its products' time. Not for the many scaling points nor the neural-image steps (time).
      if (c.kind !== 'step' || c.sweep || c.throughput) return memory;
      const context = await defaultContext();
      const matmuls = await timeStepProducts(context!.device, net.deviceInfo.tuning ?? [], window);
      return { ...memory, matmulMs: matmuls.reduce((sum, product) => sum + product.ms, 0), matmuls };
    };
    const dispose = () => {
      net.dispose();
      onDevice?.destroy();
    };
    return [{ lossCheck, run, dispose, ...(report ? { report } : {}) }];
  } catch (error) {
    net.dispose();
    throw error;
  }
}

/**
 * The case's x and y as GpuMatrix in buffers of the default device (the network's), and one step on
 * them first, so that their copies' bind groups exist before the timing (created while timed: 0).
 */
async function gpuMatrices(net: Network, x: Float32Array, y: Float32Array, rows: number) {
  const device = (await defaultContext())!.device;
  const upload = (data: Float32Array) => {
    const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  const matrices = { x: { buffer: upload(x), rows }, y: { buffer: upload(y), rows } };
  await net.trainBatch(matrices.x, matrices.y);
  return { ...matrices, destroy: () => [matrices.x, matrices.y].forEach((matrix) => matrix.buffer.destroy()) };
}

/** Cold starts timed for each of our webgpu warm-up rows (the row is their median): one alone is at the mercy of a shared machine. */
const WEBGPU_COLD_STARTS = 5;

/** The variant of our webgpu warm-up row timed with no autotune decision known (the other row: decisions stored). */
export const FIRST_USE = 'first use (autotune)';

/**
 * createNetwork and its first trainBatch, loss read back. For webgpu, on a device of its own made
 * inside the timing (adapter and device as the engine asks for them: the default device's features
 * and limits), so that no pipeline is cached yet: pipelines are cached per device.
 */
async function warmupCell(backend: BackendName, c: TrainingCase, firstUse = false, threads?: number): Promise<Cell> {
  const { x, y } = trainingData(c.sizes, c.batch);
  let descriptor: GPUDeviceDescriptor | undefined;
  if (backend === 'webgpu') {
    const engine = await defaultContext();
    if (!engine) throw new DeviceError('the webgpu runner needs a WebGPU adapter; leave it out with --only cpu,reference');
    descriptor = { requiredFeatures: [...engine.device.features] as GPUFeatureName[], requiredLimits: limitsOf(engine.device) };
  }
  const made: { device?: GPUDevice; net?: Network }[] = [];
  // The decisions this process knew before a first-use start forgot them, to bring back after it.
  let remember: (() => void) | undefined;
  if (backend === 'webgpu' && !firstUse) {
    // "Decisions known": the autotune's decisions for these shapes are made before the timing.
    const tuned = await createOurNetwork(networkSpec(backend, c.sizes, c.batch));
    await tuned.tuned();
    tuned.dispose();
  }
  return {
    ...(firstUse ? { variant: FIRST_USE } : {}),
    // Each start on a fresh device compiles every pipeline again: as cold as the first.
    ...(descriptor ? { coldStarts: WEBGPU_COLD_STARTS } : {}),
    async run(count) {
      for (let i = 0; i < count; i++) {
        remember = firstUse ? forgetDecisions() : undefined;
        const fresh: { device?: GPUDevice; net?: Network } = {};
        made.push(fresh);
        if (descriptor) {
          const adapter = await requestAdapter();
          if (!adapter) throw new DeviceError('no WebGPU adapter for a fresh device');
          fresh.device = await adapter.requestDevice(descriptor);
        }
        fresh.net = await createOurNetwork({ ...networkSpec(backend, c.sizes, c.batch), threads, ...(fresh.device ? { device: fresh.device } : {}) });
        await fresh.net.trainBatch(x, y);
      }
    },
    // On first use the autotune's trials follow the first step: they finish here, untimed, rather
    // than run into the next start's timing (Dawn goes on compiling even for a destroyed device);
    // then the decisions known before come back for the other rows.
    async settle() {
      // Freed here, so dispose() is left with only a start that did not settle.
      const last = made.pop();
      await last?.net?.tuned();
      last?.net?.dispose();
      last?.device?.destroy();
      remember?.();
      remember = undefined;
    },
    dispose() {
      for (const { device, net } of made) {
        net?.dispose();
        device?.destroy();
      }
    },
  };
}

/** A device's limits as a descriptor's requiredLimits. */
function limitsOf(device: GPUDevice): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const key in device.limits) {
    const value = (device.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') limits[key] = value;
  }
  return limits;
}

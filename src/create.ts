import { autoDecision, probeStep, probeVerdict } from './auto.js';
import type { Backend, TrainingState } from './backend.js';
import { availableCores, MAX_THREADS } from './cpu/choose.js';
import { CpuBackend } from './cpu/cpu.js';
import { DeviceError, SpecError } from './errors.js';
import { decodeModelFile } from './io/model-file.js';
import { guarded, readRecord } from './data/user-input.js';
import { parseTfjsArtifacts, type ImportedModel } from './io/tfjs.js';
import { checkPrefix, decodeSafetensors } from './io/safetensors.js';
import { Network, type NetworkOrigin, type RestoreOptions } from './network.js';
import { compilePlan, initialParameters, layerSegments, type Plan } from './plan.js';
import { ReferenceBackend } from './reference/reference.js';
import {
  BACKEND_CHOICES, describeValue, type BackendChoice, FUSED_MLP_MODES, type FusedMlpMode, GPU_WAITS, type GpuWait, type LossName, type LossSpec, NETWORK_SPEC_KEYS, type NetworkSpec, type OptimizerSpec,
} from './spec.js';
import { defaultContext, describeDevice, noAdapterAdvice, type GpuContext } from './webgpu/device.js';
import { checkLimits } from './webgpu/limits.js';
import { WebGpuBackend } from './webgpu/trainer.js';
import { defaultGpuWait } from './webgpu/waiter.js';
import { fusedMlpRefusal } from './webgpu/fused-mlp.js';

/** Past 2^28 floats (1 GiB) of batch buffers on the host, a batchSize is a mistake: refuse before allocating. */
const MAX_HOST_BATCH_FLOATS = 2 ** 28;

function checkDevice(device: unknown): void {
  if (device !== undefined && (typeof device !== 'object' || device === null || !guarded(() => 'queue' in device, 'device', SpecError))) {
    throw new SpecError(`device must be a GPUDevice, got ${describeValue(device)}`);
  }
}

function checkThreads(threads: unknown): void {
  if (threads !== undefined && (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)) {
    throw new SpecError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${describeValue(threads)}`);
  }
}

/** A runtime setting that takes one of a few names: absent, or one of `choices`. */
function checkChoice<T extends string>(value: unknown, choices: readonly T[], name: string): void {
  if (value !== undefined && !choices.includes(value as T)) {
    throw new SpecError(`${name} must be ${choices.map((w) => `'${w}'`).join(' or ')}, got ${describeValue(value)}`);
  }
}

function checkBackend(backend: unknown): void {
  if (backend !== undefined && !BACKEND_CHOICES.includes(backend as BackendChoice)) {
    throw new SpecError(`unknown backend ${describeValue(backend)}; expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
}

/** Settings of where and how a network runs, not of what it computes: not part of the plan, not saved with a model. */
export interface Runtime {
  backend?: BackendChoice;
  threads?: number;
  gpuWait?: GpuWait;
  fusedMlp?: FusedMlpMode;
}

function checkRuntime(runtime: Runtime): void {
  checkBackend(runtime.backend);
  checkThreads(runtime.threads);
  checkChoice(runtime.gpuWait, GPU_WAITS, 'gpuWait');
  checkChoice(runtime.fusedMlp, FUSED_MLP_MODES, 'fusedMlp');
}

function checkHostMemory(plan: Plan): void {
  const widths = plan.inputSize + plan.outputSize + 2 * plan.layers.reduce((sum, l) => sum + l.units, 0);
  if (plan.batchSize * widths > MAX_HOST_BATCH_FLOATS) {
    throw new SpecError(`batchSize ${plan.batchSize} needs ${plan.batchSize * widths} floats of batch buffers for this network; ` +
      `more than ${MAX_HOST_BATCH_FLOATS} is not supported`);
  }
}

/**
 * Picks and builds the backend options.backend names (default 'auto') for `plan`, holding `state`.
 * The state is made only once the backend is known to fit the device, so a network too large for it
 * is refused before anything big is allocated.
 */
async function buildBackend(plan: Plan, state: () => TrainingState, options: RestoreOptions): Promise<Backend> {
  checkDevice(options.device);
  checkRuntime(options);
  const refusal = options.fusedMlp === 'always' ? fusedMlpRefusal(plan) : undefined;
  if (refusal) throw new SpecError(`fusedMlp 'always' cannot fuse this network: ${refusal}`);
  const backend = options.backend ?? 'auto';
  const restored = async (backend: Backend) => {
    const { step, moments } = state();
    if (step > 0 || moments.length > 0) await backend.setState(state());
    return backend;
  };
  if (backend === 'reference') {
    checkHostMemory(plan);
    return restored(new ReferenceBackend(plan, state().parameters, 'reference backend requested'));
  }
  const threads = options.threads ?? Math.min(MAX_THREADS, await availableCores());
  const cpu = async (reason: string) => {
    checkHostMemory(plan);
    return CpuBackend.create(plan, state().parameters, reason, threads);
  };
  if (backend === 'cpu') return restored(await cpu('cpu backend requested'));
  const context: GpuContext | null = options.device ? describeDevice(options.device) : await defaultContext();
  if (!context && backend === 'webgpu') {
    throw new DeviceError(`backend "webgpu" was requested but no WebGPU adapter is available here (${noAdapterAdvice()})`);
  }
  const gpu = async (gpuContext: GpuContext, reason: string) => {
    checkLimits(plan, gpuContext.device.limits);
    return WebGpuBackend.create(plan, gpuContext, state().parameters, reason, options.gpuWait ?? defaultGpuWait(),
      options.fusedMlp ?? 'auto');
  };
  if (backend === 'webgpu') return restored(await gpu(context!, `webgpu backend requested (${`${context!.vendor} ${context!.architecture}`.trim()})`));
  if (options.device) return restored(await gpu(context!, 'auto: the GPUDevice the caller passed'));
  const decision = autoDecision(context);
  if (decision.backend === 'cpu') return restored(await cpu(decision.reason));
  // A hardware adapter: time one step of this network on each device, then build the faster afresh.
  const trials = [await gpu(context!, 'auto probe'), await cpu('auto probe')];
  const [gpuMs, cpuMs] = [await probeStep(trials[0]!, plan), await probeStep(trials[1]!, plan)];
  for (const trial of trials) trial.dispose();
  const verdict = probeVerdict(decision.adapter, gpuMs, cpuMs);
  return restored(await (verdict.backend === 'cpu' ? cpu(verdict.reason) : gpu(context!, verdict.reason)));
}

/** Builds the backend and the Network around a state (made lazily, once, by `makeState`). */
async function openNetwork(plan: Plan, makeState: () => TrainingState, source: string, device: GPUDevice | undefined,
  extras: Pick<NetworkOrigin, 'standardization' | 'shuffleDraws'> = {}, runtime: Runtime = {}): Promise<Network> {
  let made: TrainingState | undefined;
  const state = () => (made ??= makeState());
  const impl = await buildBackend(plan, state, { device, ...runtime });
  return new Network(plan, impl, {
    state: state(),
    source,
    ...extras,
    factory: (p, s, options) => buildBackend(p, () => s, { ...runtime, ...options }),
  });
}

/** Validates the spec, compiles it into a plan, initialises the weights from the seed, and picks a backend. */
export async function createNetwork(given: NetworkSpec): Promise<Network> {
  if (typeof given !== 'object' || given === null) throw new SpecError(`createNetwork needs a spec object, got ${describeValue(given)}`);
  // Every key read once: the plan and the runtime settings come from this copy.
  const spec = readRecord(given, NETWORK_SPEC_KEYS, 'the network spec') as unknown as NetworkSpec;
  const plan = compilePlan(spec);
  checkDevice(spec.device);
  checkRuntime(spec);
  return openNetwork(plan, () => ({ parameters: initialParameters(plan), moments: [], step: 0 }), 'creation', spec.device, {},
    { backend: spec.backend, threads: spec.threads, gpuWait: spec.gpuWait, fusedMlp: spec.fusedMlp });
}

export interface LoadOptions {
  /** Default 'auto'. */
  backend?: BackendChoice;
  device?: GPUDevice;
  /** Overrides the batchSize saved in the file. */
  batchSize?: number;
  /** CPU backend: threads its kernels may use (default: every core, at most 16). */
  threads?: number;
  /** WebGPU backend: how to wait for the GPU (see NetworkSpec.gpuWait). */
  gpuWait?: GpuWait;
  /** WebGPU backend: the fused small-MLP kernels (see NetworkSpec.fusedMlp). */
  fusedMlp?: FusedMlpMode;
}

const LOAD_KEYS: readonly (keyof LoadOptions)[] = ['backend', 'device', 'batchSize', 'threads', 'gpuWait', 'fusedMlp'];

/**
 * Rebuilds a network from `net.save()`'s bytes. The file is checked completely before anything is
 * allocated (a damaged, truncated or foreign file is a ModelFileError); predictions then match the
 * saved network's bit for bit on the same backend.
 */
export async function loadNetwork(bytes: Uint8Array | ArrayBuffer, given: LoadOptions = {}): Promise<Network> {
  const options = readRecord(given, LOAD_KEYS, 'loadNetwork options') as LoadOptions;
  checkDevice(options.device);
  checkRuntime(options);
  const { plan, state, standardization, training } = decodeModelFile(bytes, { batchSize: options.batchSize });
  return openNetwork(plan, () => state, 'the loaded file', options.device, { standardization, shuffleDraws: training?.shuffleDraws },
    { backend: options.backend, threads: options.threads, gpuWait: options.gpuWait, fusedMlp: options.fusedMlp });
}

const TFJS_IMPORT_KEYS: readonly (keyof TfjsImportOptions)[] = ['backend', 'device', 'loss', 'optimizer', 'batchSize', 'seed'];

export interface TfjsImportOptions {
  backend?: BackendChoice;
  device?: GPUDevice;
  /**
   * Default 'mse'; a model ending in softmax always gets 'softmaxCrossEntropy'. A model ending in a
   * sigmoid trains with 'binaryCrossEntropy' when given it (the sigmoid becomes the loss's).
   */
  loss?: LossSpec;
  optimizer?: OptimizerSpec;
  batchSize?: number;
  seed?: number;
}

/**
 * Imports a TF.js (or, through the tensorflowjs converter, Keras) Sequential model of Dense,
 * Dropout, LayerNormalization, BatchNormalization, LeakyReLU and Activation layers (moving
 * statistics included): `fromTfjsArtifacts(artifacts)` where TF.js's `model.save()`
 * hands `artifacts` to `tf.io.withSaveHandler`.
 */
export async function fromTfjsArtifacts(artifacts: unknown, given: TfjsImportOptions = {}): Promise<Network> {
  const options = readRecord(given, TFJS_IMPORT_KEYS, 'fromTfjsArtifacts options') as TfjsImportOptions;
  return openImported(parseTfjsArtifacts(artifacts), options, 'the imported TF.js model');
}

/**
 * Builds a network from an imported model (TF.js, ONNX): the options' loss, else the model's own
 * (a softmax's), else `defaultLoss`, else mse; the options' runtime settings.
 */
export async function openImported(model: ImportedModel, options: TfjsImportOptions & Runtime, source: string, defaultLoss?: LossName): Promise<Network> {
  const { device, backend, threads, gpuWait, ...rest } = options;
  const plan = compilePlan({ ...rest, inputSize: model.inputSize, layers: model.layers, loss: rest.loss ?? model.loss ?? defaultLoss });
  if (model.loss && plan.loss.type !== model.loss) {
    throw new SpecError(`the model ends in a softmax, so its loss is '${model.loss}', not '${plan.loss.type}'`);
  }
  checkDevice(device);
  checkRuntime({ backend, threads, gpuWait });
  const parameters = () => {
    const vector = new Float32Array(plan.parameterCount);
    // The imported layers are the plan's, one for one (activations are not layers of the plan).
    plan.layers.forEach((layer, l) => {
      for (const [name, view] of Object.entries(layerSegments(layer))) vector.set(model.weights[l]![name]!, view.offset);
    });
    return { parameters: vector, moments: [], step: 0 };
  };
  return openNetwork(plan, parameters, source, device, {}, { backend, threads, gpuWait });
}

export interface SafetensorsImportOptions {
  /**
   * The network the state dict belongs to, as createNetwork takes it (backend, device, threads
   * included): its layers must be the nn.Sequential the file's names describe. Its seed's weights
   * are replaced by the file's; standardize must be false (a state dict has no statistics).
   */
  spec: NetworkSpec;
  /** The names' prefix where the Sequential is a child of another module ('net.'); default ''. */
  prefix?: string;
}

const SAFETENSORS_IMPORT_KEYS: readonly (keyof SafetensorsImportOptions)[] = ['spec', 'prefix'];

/**
 * Builds `options.spec`'s network with the weights of a PyTorch state dict saved as safetensors
 * (`safetensors.torch.save_file(model.state_dict(), path)` of the equivalent nn.Sequential; see
 * src/io/safetensors.ts for the names). The file is checked completely, and against the spec,
 * before anything is allocated: a damaged file, a missing, extra or misshapen tensor is a
 * ModelFileError naming it. The optimizer starts afresh.
 */
export async function fromSafetensors(bytes: Uint8Array | ArrayBuffer, given: SafetensorsImportOptions): Promise<Network> {
  if (typeof given !== 'object' || given === null) throw new SpecError(`fromSafetensors needs { spec }, got ${describeValue(given)}`);
  const options = readRecord(given, SAFETENSORS_IMPORT_KEYS, 'fromSafetensors options') as unknown as SafetensorsImportOptions;
  if (typeof options.spec !== 'object' || options.spec === null) throw new SpecError(`fromSafetensors needs a spec object, got ${describeValue(options.spec)}`);
  const spec = readRecord(options.spec, NETWORK_SPEC_KEYS, 'fromSafetensors: the network spec') as unknown as NetworkSpec;
  const prefix = checkPrefix(options.prefix, 'fromSafetensors');
  const plan = compilePlan(spec);
  checkDevice(spec.device);
  checkRuntime(spec);
  if (plan.standardize) {
    throw new SpecError('fromSafetensors: the spec has standardize: true, but a state dict holds no standardization statistics ' +
      '(a network with them exports them folded into its first Linear): load with standardize false');
  }
  const parameters = decodeSafetensors(bytes, plan, prefix);
  return openNetwork(plan, () => ({ parameters, moments: [], step: 0 }), 'the loaded safetensors state dict', spec.device, {},
    { backend: spec.backend, threads: spec.threads, gpuWait: spec.gpuWait });
}

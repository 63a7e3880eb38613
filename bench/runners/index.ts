import { engineRunner, fusedRunner } from './engine.js';
import { jaxRunner } from './jax.js';
import { ortRunner } from './ort.js';
import type { Runner } from './runner.js';
import { tfjsRunner } from './tfjs.js';
import { torchRunner } from './torch.js';

export type { Cell, Log, Runner, Skip } from './runner.js';

/** The baseline of the `× cpu` column. */
export const BASELINE = 'cpu';
/** The baseline of the `vs webgpu` column: our WebGPU backend (its best variant in the matmul cases). */
export const GPU_BASELINE = 'webgpu';

/**
 * Ours (cpu first, then webgpu, so each case's ratios can be printed as its other rows come in; cpu on
 * every core, then on one thread as cpu-1t; webgpu also awaiting the GPU as the peers do, as
 * webgpu-await, in the step cases), then the peers: jax-js and TF.js, each on WebGPU and on
 * the CPU (WebAssembly; TF.js also plain JS); and PyTorch's CPU step, the native anchor, where
 * /usr/bin/python3 imports torch; and ONNX Runtime Web on the inference cases.
 * webgpu-fused and webgpu-unfused run only the cases that name them (the neural-image steps).
 */
export const RUNNERS: Runner[] = [
  engineRunner('cpu'), engineRunner('cpu', 1), engineRunner('webgpu'), engineRunner('webgpu', undefined, 'await'), engineRunner('reference'),
  fusedRunner('always'), fusedRunner('never'),
  jaxRunner('webgpu'), jaxRunner('wasm'),
  tfjsRunner('webgpu'), tfjsRunner('wasm'), tfjsRunner('cpu'),
  torchRunner(), ortRunner('wasm'), ortRunner('webgpu'),
];

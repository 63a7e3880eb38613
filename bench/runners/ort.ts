import type * as Ort from 'onnxruntime-web';
import type { PredictCase } from '../cases.js';
import type { Cell, Log, Runner, Skip } from './runner.js';
import {
  checkedRows, checkPredictions, createOurNetwork, initialWeights, installNavigatorGpu, networkSpec, ourCpuThreads, predictionInput, predictTooSlow, timed,
} from './shared.js';

/**
 * ONNX Runtime Web (npm `onnxruntime-web`), the inference engine a user would pick instead of our
 * predict, on the model our `net.toOnnx()` exports from the shared initial weights: one session per
 * cell, each operation a `session.run` on all the case's rows, the outputs returned to JS as ours
 * are. `wasm`: its WebAssembly execution provider (SIMD) on as many threads as our cpu backend takes
 * (`ort.env.wasm.numThreads`, worker threads in Node). `webgpu`: its WebGPU execution provider on
 * Dawn's navigator.gpu (the adapter ours uses), where it runs in Node; where it does not, the cells
 * are skipped with ONNX Runtime's own error.
 */
export function ortRunner(provider: OrtProvider): Runner {
  const name = `ort-${provider}`;
  return {
    name,
    peer: true,
    async prepare(c, log) {
      if (c.kind !== 'predict') return [];
      const ort = await loadOrt(provider, log);
      if ('skip' in ort) return ort;
      const cell = await predictCell(ort, provider, name, c, log);
      return 'skip' in cell ? cell : [cell];
    },
  };
}

type OrtProvider = 'wasm' | 'webgpu';
type OrtModule = typeof Ort;

const modules = new Map<OrtProvider, Promise<OrtModule | Skip>>();

/** The module of the provider's build (each its own instance), its threads set once, before its first session. */
function loadOrt(provider: OrtProvider, log: Log): Promise<OrtModule | Skip> {
  let module = modules.get(provider);
  if (!module) {
    module = (async (): Promise<OrtModule | Skip> => {
      if (provider === 'webgpu') {
        if (!(await installNavigatorGpu())) return { skip: 'no WebGPU adapter here' };
        return (await import('onnxruntime-web/webgpu')) as unknown as OrtModule;
      }
      const ort = await import('onnxruntime-web');
      ort.env.wasm.numThreads = await ourCpuThreads();
      log(`ort-wasm: numThreads ${ort.env.wasm.numThreads} (our cpu backend's threads), SIMD`);
      return ort;
    })();
    modules.set(provider, module);
  }
  return module;
}

const models = new Map<string, Promise<Uint8Array>>();

/** Our export of TRAINING's network at these sizes, from the shared initial weights. */
function onnxModel(sizes: number[]): Promise<Uint8Array> {
  const key = sizes.join('-');
  let model = models.get(key);
  if (!model) {
    model = (async () => {
      const net = await createOurNetwork(networkSpec('cpu', sizes, 1));
      try {
        await net.setWeights(await initialWeights(sizes));
        return await net.toOnnx();
      } finally {
        net.dispose();
      }
    })();
    models.set(key, model);
  }
  return model;
}

/**
 * Why the WebGPU provider is skipped, once it has failed: a session of a provider that failed once
 * fails again (with a bare number for an error), so later cells are skipped with the first reason.
 */
let webgpuFailure: Skip | undefined;

async function predictCell(ort: OrtModule, provider: OrtProvider, name: string, c: PredictCase, log: Log): Promise<Cell | Skip> {
  if (provider === 'webgpu' && webgpuFailure) return webgpuFailure;
  const inputs = c.sizes[0]!;
  const tensor = (x: Float32Array) => new ort.Tensor('float32', x, [x.length / inputs, inputs]);
  let session: Ort.InferenceSession | undefined;
  let checked: Float32Array;
  try {
    session = await ort.InferenceSession.create(await onnxModel(c.sizes), { executionProviders: [provider] });
    checked = await (await session.run({ input: tensor(checkedRows(c, predictionInput(c))) })).output!.getData() as Float32Array;
  } catch (error) {
    await session?.release();
    if (provider !== 'webgpu') throw error;
    webgpuFailure = { skip: 'onnxruntime-web\'s WebGPU execution provider builds its session on Dawn\'s navigator.gpu in Node, ' +
      `but running it fails: ${error instanceof Error ? error.message : String(error)}` };
    return webgpuFailure;
  }
  try {
    await checkPredictions(c, name, checked, log);
    const sample = tensor(checkedRows(c, predictionInput(c)));
    const slow = predictTooSlow(c, (await timed(async () => (await session!.run({ input: sample })).output!.getData()))[1]);
    if (slow) {
      await session.release();
      return slow;
    }
    const x = tensor(predictionInput(c));
    return {
      run: async (count) => {
        for (let i = 0; i < count; i++) await (await session.run({ input: x })).output!.getData();
      },
      dispose: () => void session.release(),
    };
  } catch (error) {
    await session.release();
    throw error;
  }
}

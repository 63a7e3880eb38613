/**
 * How Node finds WebGPU (src/webgpu/device.ts), each case in a fresh process since the adapter is
 * found once per process: without the optional package `webgpu` (its resolution made to fail the way
 * Node fails for a package that is not installed), `backend: 'webgpu'` is a DeviceError saying how to
 * install it and 'auto' trains on the CPU; on a machine without Vulkan drivers SwiftShader is found
 * with nothing printed; with a driver manifest installed that gives no adapter, it is found after it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const CHILD_TIMEOUT_MS = 90_000;

let scratch: string;

/** A child that builds a 2-2-1 network on `backend`, trains XOR briefly and prints what happened as JSON. */
const childSource = (backend: string) => `
import { createNetwork } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/index.ts')).href)};
try {
  const net = await createNetwork({ inputSize: 2, layers: [{ type: 'dense', units: 4, activation: 'tanh' }, { type: 'dense', units: 1 }],
    loss: 'binaryCrossEntropy', optimizer: { type: 'adam', learningRate: 0.05 }, seed: 3, backend: ${JSON.stringify(backend)} });
  const { loss } = await net.fit([[0, 0], [0, 1], [1, 0], [1, 1]], new Int32Array([0, 1, 1, 0]), { epochs: 30 });
  console.log(JSON.stringify({ backend: net.backend, reason: net.deviceInfo.reason, first: loss[0], last: loss.at(-1) }));
  net.dispose();
} catch (error) {
  console.log(JSON.stringify({ error: error.name, message: error.message }));
}
process.exit(0);
`;

async function runChild(backend: string, env: NodeJS.ProcessEnv, imports: string[] = []) {
  const script = join(scratch, `child-${backend}-${Math.random().toString(36).slice(2)}.mts`);
  await writeFile(script, childSource(backend));
  const args = ['--import', 'tsx', ...imports.flatMap((file) => ['--import', pathToFileURL(file).href]), script];
  return new Promise<{ result: Record<string, unknown>; stderr: string }>((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, env, timeout: CHILD_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`child failed: ${error.message}\n${stderr}`));
      const line = stdout.trim().split('\n').at(-1) ?? '';
      resolve({ result: JSON.parse(line) as Record<string, unknown>, stderr });
    });
  });
}

/** The environment of a user who set nothing: no Vulkan variables (the test runner may have some). */
function plainEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES']) delete env[name];
  return env;
}

/** Vulkan driver manifests in the loader's usual directories (none on this project's machines). */
const SYSTEM_ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/etc/xdg/vulkan/icd.d'];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'wgbp-dawn-'));
  // Resolves 'webgpu' from a folder with no node_modules above it: Node's own "Cannot find package" error.
  await writeFile(join(scratch, 'hide-webgpu-hooks.mjs'), `
export async function resolve(specifier, context, next) {
  if (specifier === 'webgpu') return next(specifier, { ...context, parentURL: ${JSON.stringify(pathToFileURL(join(scratch, 'nowhere', 'x.mjs')).href)} });
  return next(specifier, context);
}
`);
  await writeFile(join(scratch, 'hide-webgpu.mjs'), `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(scratch, 'hide-webgpu-hooks.mjs')).href)});
`);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('Dawn in Node', () => {
  it('without the optional package webgpu: backend webgpu is a DeviceError saying how to install it, auto trains on the CPU', async () => {
    const hide = [join(scratch, 'hide-webgpu.mjs')];
    const webgpu = await runChild('webgpu', plainEnv(), hide);
    expect(webgpu.result.error).toBe('DeviceError');
    expect(webgpu.result.message).toMatch(/no WebGPU adapter.*optional npm package 'webgpu' \(Dawn\), which is not installed: run `npm i webgpu`, or use backend 'cpu'/);
    const auto = await runChild('auto', plainEnv(), hide);
    expect(auto.result).toMatchObject({ backend: 'cpu', reason: expect.stringMatching(/^auto: no WebGPU adapter here/) });
    expect(auto.result.last as number).toBeLessThan(auto.result.first as number);
  }, 2 * CHILD_TIMEOUT_MS);

  it('finds SwiftShader on a machine without Vulkan drivers and Dawn prints no driver-probe warning', async (context) => {
    const installed = SYSTEM_ICD_DIRS.filter((dir) => existsSync(dir) && readdirSync(dir).some((file) => file.endsWith('.json')));
    if (installed.length > 0 || !existsSync(SWIFTSHADER)) context.skip(`Vulkan drivers installed here (${installed.join(', ')}) or no SwiftShader`);
    const { result, stderr } = await runChild('webgpu', plainEnv({ XDG_CONFIG_HOME: join(scratch, 'config'), XDG_DATA_HOME: join(scratch, 'data') }));
    expect(result).toMatchObject({ backend: 'webgpu', reason: expect.stringContaining('swiftshader') });
    expect(stderr).not.toMatch(/vkCreateInstance|Found no drivers|VK_ERROR/);
  }, CHILD_TIMEOUT_MS);

  it('falls back to SwiftShader when an installed Vulkan driver gives no adapter', async (context) => {
    if (!existsSync(SWIFTSHADER)) context.skip('no SwiftShader here');
    // A driver manifest whose library does not exist: the loader finds it, Dawn gets no adapter from it.
    const icdDir = join(scratch, 'data', 'vulkan', 'icd.d');
    await mkdir(icdDir, { recursive: true });
    await writeFile(join(icdDir, 'broken_icd.json'), JSON.stringify({ file_format_version: '1.0.0',
      ICD: { library_path: join(scratch, 'libvulkan_broken.so'), api_version: '1.3.0' } }));
    const { result } = await runChild('webgpu', plainEnv({ XDG_DATA_HOME: join(scratch, 'data') }));
    expect(result).toMatchObject({ backend: 'webgpu', reason: expect.stringContaining('swiftshader') });
  }, CHILD_TIMEOUT_MS);
});

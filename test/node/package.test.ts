/**
 * The package as a user gets it: `npm run build:lib`, `npm pack`, the tarball installed into a scratch
 * project in a temporary folder (offline, from npm's cache), then
 *  - the tarball's contents: LICENSE and README, no sourcemaps, no CLI or dataset typings, the wasm
 *    bytes declared as `string`, README links that resolve;
 *  - a Node consumer and the README's Install examples typechecked with `skipLibCheck: false` and
 *    `exactOptionalPropertyTypes`, with lib "dom" (TypeScript 7's, which declares WebGPU) and without
 *    it (no WebGPU types at all), then compiled and run: XOR and three classes learned on the CPU backend,
 *    `backend: 'webgpu'` a DeviceError saying how to install the optional `webgpu` package (it is not
 *    installed there), the compat entry working;
 *  - scripts/consumer-page.ts's page built by a plain Vite build (the wasm kernels a chunk of their
 *    own) and loaded in headless Chromium, where it trains XOR on WebGPU (SwiftShader) and on the CPU.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';
import { preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPage, measureBuild, writePage } from '../../scripts/consumer-page.js';
import { chromiumArgs } from '../support/chromium.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SETUP_TIMEOUT_MS = 240_000;
const STEP_TIMEOUT_MS = 120_000;
const REPOSITORY = 'https://github.com/webgpu-backprop/webgpu-backprop';

interface PackedFile { path: string; size: number }

let scratch: string;
let packed: PackedFile[];
let packageJson: Record<string, unknown>;

function run(command: string, args: string[], cwd: string, timeout = STEP_TIMEOUT_MS): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, npm_config_update_notifier: 'false' } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve({ stdout, stderr });
      });
  });
}

/**
 * The scratch project's lockfile, as a user's project has one after its first install: the tarball and
 * the package's dependencies at the versions and integrities of this repository's lockfile. npm 11
 * resolves an unlocked dependency from its full packument, which the offline cache does not hold (it
 * holds the tarballs), so without a lockfile `npm install --offline` cannot resolve anything.
 */
async function scratchLock(tarball: string): Promise<object> {
  const repoLock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const integrity = `sha512-${createHash('sha512').update(await readFile(join(scratch, tarball))).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { 'webgpu-backprop': `file:${tarball}` } },
    'node_modules/webgpu-backprop': {
      version: packageJson.version, resolved: `file:${tarball}`, integrity, license: packageJson.license,
      dependencies: packageJson.dependencies, peerDependencies: packageJson.peerDependencies,
      peerDependenciesMeta: packageJson.peerDependenciesMeta, engines: packageJson.engines,
    },
  };
  const pending = Object.keys(packageJson.dependencies as Record<string, string>);
  while (pending.length > 0) {
    const name = pending.pop()!;
    const entry = repoLock.packages[`node_modules/${name}`];
    if (!entry) throw new Error(`${name} is not in package-lock.json`);
    const { dev: _dev, ...locked } = entry;
    packages[`node_modules/${name}`] = locked;
    pending.push(...Object.keys((entry.dependencies ?? {}) as Record<string, string>).filter((dep) => !packages[`node_modules/${dep}`]));
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

/** The ```ts blocks of the README's Install section. */
async function installExamples(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Install\n'), readme.indexOf('\n## ', readme.indexOf('\n## Install\n') + 1));
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** The Node consumer: everything it finds is printed as one JSON line. */
const CONSUMER = `import { createNetwork, DeviceError, type NetworkSpec } from 'webgpu-backprop';

/** The GPUDevice of the consumer's lib "dom", or of nothing (the package's empty stand-in). */
export const onDevice = (spec: NetworkSpec, device: GPUDevice): NetworkSpec => ({ ...spec, device });
import { SNN } from 'webgpu-backprop/compat';

const spec: NetworkSpec = {
  inputSize: 2,
  layers: [{ type: 'dense', units: 8, activation: 'tanh' }, { type: 'dense', units: 1 }],
  loss: 'binaryCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.05 },
  seed: 2,
  backend: 'cpu',
};
const x = [[0, 0], [0, 1], [1, 0], [1, 1]];
const net = await createNetwork(spec);
const { loss } = await net.fit(x, new Int32Array([0, 1, 1, 0]), { epochs: 150 });
const probabilities = Array.from(await net.predict(x));
net.dispose();

let webgpu: { name: string; message: string; isDeviceError: boolean } | undefined;
try {
  (await createNetwork({ ...spec, backend: 'webgpu' })).dispose();
} catch (error) {
  webgpu = { name: (error as Error).name, message: (error as Error).message, isDeviceError: error instanceof DeviceError };
}

const snn = SNN({ trainFeatures: x, trainLabels: [[1, 0], [0, 1], [0, 1], [1, 0]], printCost: false, backend: 'cpu' });
const costs = await snn.train(3);
(await snn.network).dispose();

console.log(JSON.stringify({ first: loss[0], last: loss.at(-1), probabilities, webgpu, costs }));
`;

/** A Node project's tsconfig; `lib` unset means TypeScript's default, which includes "dom". */
const tsconfig = (lib: string[] | undefined) => ({
  compilerOptions: {
    target: 'ES2022', ...(lib ? { lib } : {}), module: 'nodenext', moduleResolution: 'nodenext', strict: true,
    exactOptionalPropertyTypes: true, skipLibCheck: false, types: ['node'], outDir: 'out', rootDir: '.',
  },
  include: ['*.ts'],
});

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'wgbp-package-'));
  packageJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  await run('npm', ['run', 'build:lib'], ROOT);
  const [pack] = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', scratch], ROOT)).stdout) as
    [{ filename: string; files: PackedFile[] }];
  packed = pack.files;
  await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module',
    dependencies: { 'webgpu-backprop': `file:${pack.filename}` } }, null, 2));
  await writeFile(join(scratch, 'package-lock.json'), JSON.stringify(await scratchLock(pack.filename), null, 2));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], scratch);
  // Tools a consumer would have installed, from this repository's node_modules.
  await mkdir(join(scratch, 'node_modules', '@types'), { recursive: true });
  await symlink(join(ROOT, 'node_modules', '@types', 'node'), join(scratch, 'node_modules', '@types', 'node'), 'dir');
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the packed library', () => {
  it('ships LICENSE and README, no sourcemaps, no CLI or dataset typings, small declarations', async () => {
    const paths = packed.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/compat.js',
      'dist/index.d.ts', 'dist/compat.d.ts']));
    expect(paths.filter((path) => path.endsWith('.map'))).toEqual([]);
    expect(paths.filter((path) => /^dist\/src\/(cli|data\/datasets)/.test(path))).toEqual([]);
    expect(paths.filter((path) => !path.startsWith('dist/') && !['LICENSE', 'README.md', 'package.json'].includes(path))).toEqual([]);
    const binary = await readFile(join(scratch, 'node_modules/webgpu-backprop/dist/src/cpu/wasm/binary.d.ts'), 'utf8');
    expect(binary).toMatch(/export declare const PLAIN_KERNELS_BASE64: string;/);
    expect(binary.length).toBeLessThan(1000);
    expect(await readFile(join(scratch, 'node_modules/webgpu-backprop/LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} the webgpu-backprop authors/);
  });

  it('installs without Dawn: webgpu is an optional peer dependency', () => {
    expect(packageJson.peerDependenciesMeta).toEqual({ webgpu: { optional: true } });
    expect(existsSync(join(scratch, 'node_modules/webgpu'))).toBe(false);
    expect(existsSync(join(scratch, 'node_modules/wgsl-preprocessor/package.json'))).toBe(true);
  });

  it('has a README whose links resolve from the tarball: absolute URLs, or anchors of its own headings', async () => {
    const readme = await readFile(join(scratch, 'node_modules/webgpu-backprop/README.md'), 'utf8');
    const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((match) =>
      match[1]!.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
    expect(targets.length).toBeGreaterThan(5);
    for (const target of targets) {
      if (target.startsWith('#')) expect(anchors, target).toContain(target.slice(1));
      else expect(target).toMatch(/^https:\/\//);
    }
    expect(targets.filter((target) => target.startsWith(REPOSITORY)).length).toBeGreaterThan(0);
  });

  it('typechecks a consumer and the README examples with skipLibCheck false, and runs them in Node', async () => {
    const examples = await installExamples();
    expect(examples).toHaveLength(2);
    await writeFile(join(scratch, 'consumer.ts'), CONSUMER);
    for (const [i, example] of examples.entries()) await writeFile(join(scratch, `readme-${i + 1}.ts`), example);
    for (const [name, lib] of [['tsconfig.nodom.json', ['ES2022']], ['tsconfig.json', undefined]] as const) {
      await writeFile(join(scratch, name), JSON.stringify(tsconfig(lib && [...lib]), null, 2));
      await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', name], scratch);
    }

    const consumer = JSON.parse((await run(process.execPath, ['out/consumer.js'], scratch)).stdout.trim()) as {
      first: number; last: number; probabilities: number[]; webgpu?: { name: string; message: string; isDeviceError: boolean }; costs: number[];
    };
    expect(consumer.last).toBeLessThan(consumer.first / 4);
    expect(consumer.probabilities.map((p) => p > 0.5)).toEqual([false, true, true, false]);
    expect(consumer.webgpu).toMatchObject({ name: 'DeviceError', isDeviceError: true });
    expect(consumer.webgpu!.message).toMatch(/`npm i webgpu`/);
    expect(consumer.costs).toHaveLength(3);

    const binary = (await run(process.execPath, ['out/readme-1.js'], scratch)).stdout;
    expect(binary).toMatch(/^cpu: loss [\d.]+ → [\d.]+, p [\d. ]+, accuracy 1\n$/);
    const classes = (await run(process.execPath, ['out/readme-2.js'], scratch)).stdout;
    expect(Number(/accuracy ([\d.]+)\n$/.exec(classes)?.[1])).toBeGreaterThanOrEqual(0.95);
  }, 2 * STEP_TIMEOUT_MS);
});

describe('a browser page built from the package with Vite', () => {
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('keeps the wasm kernels out of the entry chunk and trains XOR in Chromium on WebGPU and on the CPU', async () => {
    await writePage(scratch);
    const outDir = await buildPage(scratch);
    const files = await measureBuild(outDir);
    const wasmHeader = 'AGFzbQEAAAA'; // base64 of the 8 bytes every wasm module starts with ("\0asm", version 1)
    const withWasm: string[] = [];
    for (const file of files) if ((await readFile(join(outDir, file.file), 'utf8')).includes(wasmHeader)) withWasm.push(file.file);
    const html = await readFile(join(outDir, 'index.html'), 'utf8');
    const entry = /src="\/?(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(entry).toBeDefined();
    expect(withWasm).toHaveLength(1);
    expect(withWasm).not.toContain(entry);

    server = await preview({ root: scratch, configFile: false, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port: 0 } });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs });
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (request) => requested.push(new URL(request.url()).pathname));
    for (const backend of ['webgpu', 'cpu'] as const) {
      requested.length = 0;
      await page.goto(`${server.resolvedUrls!.local[0]!}?backend=${backend}`);
      await page.waitForFunction(() => (window as { result?: unknown }).result !== undefined, undefined, { timeout: STEP_TIMEOUT_MS });
      const result = await page.evaluate(() => (window as unknown as { result: Record<string, unknown> }).result);
      expect(result.error).toBeUndefined();
      expect(result.backend).toBe(backend);
      expect(result.last as number).toBeLessThan((result.first as number) / 4);
      expect((result.probabilities as number[]).map((p) => p > 0.5)).toEqual([false, true, true, false]);
      // The wasm chunk is fetched only by the page that trains on the CPU.
      expect(requested.some((path) => path.endsWith(withWasm[0]!))).toBe(backend === 'cpu');
    }
  }, 2 * STEP_TIMEOUT_MS);
});

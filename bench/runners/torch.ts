import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { architectureOf, type Case } from '../cases.js';
import type { Cell, Log, Runner, Skip } from './runner.js';
import { batchesOf, checkFirstLoss, checksInference, initialWeights, knownSlow, ourCpuThreads, timed, timedFirstStep } from './shared.js';

/**
 * The native anchor (issue 16): PyTorch's CPU step on the step cases that are not scaling points
 * (784-256-128-10, 784-1024-1024-10, the LN-GELU-dropout-AdamW case), in a Python process of its own
 * (bench/runners/torch-step.py) fed the same batch and initial weights as every runner. Each timed
 * operation is one request for `count` steps, each reading its loss back as our trainBatch does,
 * timed here around the request like every cell (timing.ts), so a sample also holds one pipe round
 * trip (tens of µs against a sample of ≥ 5 ms). PyTorch is given the threads our cpu backend takes
 * (every core; its own default may be the physical cores only). Skipped, with the interpreter's own words, where `import torch` fails:
 * nothing else needs PyTorch.
 */
export const TORCH_PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./torch-step.py', import.meta.url));

let available: Promise<Skip | undefined> | undefined;

/** Undefined where torch imports, else why the runner is skipped. */
export function torchAvailable(): Promise<Skip | undefined> {
  available ??= promisify(execFile)(TORCH_PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).then(() => undefined, (error: unknown) => {
    const { stderr, message } = error as { stderr?: string; message: string };
    const reason = stderr?.trim().split('\n').at(-1) || message;
    return { skip: `\`${TORCH_PYTHON} -c 'import torch'\` fails here (${reason}); apt-get install python3-torch libopenblas0-pthread gives it` };
  });
  return available;
}

/** The Python process and its one request at a time: a line of JSON out, a line back. */
class TorchProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffered = '';
  private waiting: { resolve: (answer: Record<string, unknown>) => void; reject: (error: Error) => void } | undefined;
  private stderr = '';

  constructor() {
    this.child = spawn(TORCH_PYTHON, [SCRIPT], { stdio: 'pipe' });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.buffered += chunk;
      const end = this.buffered.indexOf('\n');
      if (end < 0 || !this.waiting) return;
      const line = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 1);
      const { resolve, reject } = this.waiting;
      this.waiting = undefined;
      const answer = JSON.parse(line) as Record<string, unknown>;
      if (typeof answer.error === 'string') reject(new Error(`PyTorch: ${answer.error}`));
      else resolve(answer);
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    this.child.on('exit', (code) => {
      this.waiting?.reject(new Error(`the PyTorch process ended (exit code ${code}): ${this.stderr.trim().split('\n').at(-1) ?? ''}`));
      this.waiting = undefined;
    });
  }

  request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  dispose(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

const base64 = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');

export function torchRunner(): Runner {
  const name = 'torch-cpu';
  return {
    name,
    peer: true,
    async prepare(c, log) {
      if (c.kind !== 'step' || c.sweep) return [];
      const missing = await torchAvailable();
      if (missing) return missing;
      const cell = await stepCell(c, log, name);
      return 'skip' in cell ? cell : [cell];
    },
  };
}

async function stepCell(c: Extract<Case, { kind: 'step' }>, log: Log, name: string): Promise<Cell | Skip> {
  const slow = knownSlow(name, c);
  if (slow) return slow;
  const first = batchesOf(c)[0]!;
  const weights = await initialWeights(c.sizes);
  const torch = new TorchProcess();
  try {
    const built = await torch.request({
      op: 'build', threads: await ourCpuThreads(), sizes: c.sizes, architecture: architectureOf(c), rows: first.rows, x: base64(first.x), y: base64(first.y),
      weights: weights.map((w) => ({ weights: base64(Float32Array.from(w.weights)), bias: base64(Float32Array.from(w.bias)) })),
    });
    log(`${c.name} ${name}: PyTorch ${String(built.torch)} on ${String(built.threads)} threads`);
    const [answer, ms] = await timed(() => torch.request({ op: 'steps', count: 1 }));
    const skip = timedFirstStep(name, c, ms);
    if (skip) {
      torch.dispose();
      return skip;
    }
    // As our runners: the case of its own architecture is checked in inference, the others by the first step's loss.
    const lossCheck = await checkFirstLoss(c, name, (checksInference(c) ? built.inferenceLoss : answer.loss) as number, log);
    return {
      lossCheck,
      run: async (count) => {
        await torch.request({ op: 'steps', count });
      },
      dispose: () => torch.dispose(),
    };
  } catch (error) {
    torch.dispose();
    throw error;
  }
}

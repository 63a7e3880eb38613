import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The CPU worker pool under faults (issue 14): a worker that exits, throws or hangs before, during
 * (half its range written: the chunk torn) or after a kernel call, in each kind of parallel job —
 * the products (matmul, in the forward pass first), the bias gradient (columnSums), Adam's update
 * (optimizerStep), the activation pass after a normalization (job 7, biasActivation) and the
 * derivative pass below it (job 8, multiplyDerivative). Each scenario runs in a child process
 * (test/support/pool-fault-child.mts, which injects the fault by wrapping node:worker_threads'
 * Worker) under this test's own timer: a frozen main thread there is a child that never answers.
 *
 * Each asserts that the fault fired in a worker; that the step finished with the bits of a healthy
 * twin network (same spec and seed, sharing the pool) — weights, moments and step count — or, where
 * the calling thread fails too, rejected with a WorkerError carrying the worker's message and left
 * the state as before the step; that both train identically for three more steps; and that a
 * network made afterwards gets its threads at once, the dead worker replaced.
 */

const CHILD = fileURLToPath(new URL('../support/pool-fault-child.mts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A child that has not answered by then is taken as hung (a healthy one answers in a few seconds). */
const HANG_MS = 90_000;

type Fault = { kernel: string; point: 'before' | 'during' | 'after'; mode: 'exit' | 'throw' | 'hang'; alsoCaller?: boolean };
interface FaultResult {
  fired: number;
  rejected?: { name: string; message: string; backprop: boolean };
  matchesAfterFault: boolean;
  matchesAfterTraining: boolean;
  laterThreads: number;
  laterWorkers: number;
}

/** Runs one scenario in a child process; rejects if it has not answered within HANG_MS (then it is killed). */
function runChild<T>(request: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(request)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => (stdout += data));
    child.stderr.on('data', (data) => (stderr += data));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the scenario hung: no answer within ${HANG_MS / 1000} s (${JSON.stringify(request)})`));
    }, HANG_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`the scenario failed (exit ${code}): ${stderr.slice(-2000)}`));
      else resolve(JSON.parse(line) as T);
    });
  });
}

const POINTS = ['before', 'during', 'after'] as const;
/** Per job kind: its network and the kernel the fault is put in ('after' of a product: its epilogue, the chunk's last call). */
const JOBS = [
  { job: 'products', kind: 'dense', kernel: (point: string) => (point === 'after' ? 'biasActivation' : 'matmul') },
  { job: 'bias gradient', kind: 'dense', kernel: () => 'columnSums' },
  { job: 'optimizer (Adam)', kind: 'dense', kernel: () => 'optimizerStep' },
  { job: 'activation pass (job 7)', kind: 'layers', kernel: () => 'biasActivation' },
  { job: 'derivative pass (job 8)', kind: 'layers', kernel: () => 'multiplyDerivative' },
] as const;

const cases = [
  ...JOBS.flatMap(({ job, kind, kernel }) => POINTS.map((point) => ({ job, kind, fault: { kernel: kernel(point), point, mode: 'exit' } as Fault }))),
  ...JOBS.map(({ job, kind, kernel }) => ({ job, kind, fault: { kernel: kernel('during'), point: 'during', mode: 'throw' } as Fault })),
  // Silent: the worker blocks forever mid-chunk; the child lowers the stall bound to 1 s.
  { job: 'optimizer (Adam)', kind: 'dense', fault: { kernel: 'optimizerStep', point: 'during', mode: 'hang' } as Fault },
  { job: 'activation pass (job 7)', kind: 'layers', fault: { kernel: 'biasActivation', point: 'during', mode: 'hang' } as Fault },
];

function expectTwinAfterwards(result: FaultResult, threads = 3): void {
  expect(result.fired, 'the fault fired in a worker').toBeGreaterThanOrEqual(1);
  expect(result.matchesAfterTraining, 'trains like its twin afterwards, bit for bit').toBe(true);
  expect(result.laterThreads, `a later network gets its ${threads} threads`).toBe(threads);
  expect(result.laterWorkers, 'the dead worker was replaced').toBe(threads - 1);
}

describe('a CPU worker that fails in the middle of a job', () => {
  it.concurrent.each(cases)('$job: a worker that does $fault.mode $fault.point $fault.kernel: the step finishes with the twin\'s bits', async ({ kind, fault }) => {
    const result = await runChild<FaultResult>({ scenario: 'fault', kind, fault });
    expect(result.rejected, 'the job is finished by the other threads').toBeUndefined();
    expect(result.matchesAfterFault, 'the state after the step is the twin\'s').toBe(true);
    expectTwinAfterwards(result);
  });

  it.concurrent.each(['exit', 'throw'] as const)('a worker that does %s and a calling thread that then throws too: a WorkerError carrying both messages, the state as before the step', async (mode) => {
    const result = await runChild<FaultResult>({ scenario: 'fault', kind: 'dense', fault: { kernel: 'matmul', point: 'before', mode, alsoCaller: true } });
    expect(result.rejected).toMatchObject({ name: 'WorkerError', backprop: true });
    expect(result.rejected!.message).toMatch(/^a CPU worker failed in job \d \(it (exited with code 1|threw: injected worker fault in matmul)\), and running its chunk \d+ on the calling thread failed too: injected caller fault in matmul$/);
    expect(result.matchesAfterFault, 'the state is the one before the step').toBe(true);
    expectTwinAfterwards(result, 2);
  });
});

describe('the pool\'s size', () => {
  it('ends the workers no live network needs: 15 for a 16-thread network, all of them once it is disposed', async () => {
    const result = await runChild<{ started: number; duringUse: number; threadsAgain: number; liveAgain: number }>({ scenario: 'workers-end' });
    expect(result).toEqual({ started: 15, duringUse: 15, threadsAgain: 2, liveAgain: 1 });
  });
});

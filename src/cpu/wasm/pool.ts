import { runJob, type WasmExports } from './jobs.js';

/**
 * A process-wide pool of workers (Node worker_threads, browser Web Workers) running the parallel
 * kernels over shared wasm memories. The kernels are synchronous calls of a training step, so a
 * job is posted through a small shared control block, the calling thread computes share 0 itself,
 * and it waits for the others with Atomics: no message, promise or allocation per job.
 *
 * Workers keep one instance of the module per memory (one memory per network), attached when a
 * network is made and detached when it is disposed or collected.
 */

// Int32 slots of the control block, then the job's arguments as float64 (pointers are exact).
const GENERATION = 0;
const REMAINING = 1;
const MEMORY_ID = 2;
const JOB = 3;
const THREADS = 4;
const FAILED = 5;
const ARGS_OFFSET = 64;
const ARG_COUNT = 16;
/**
 * Loads a waiting thread polls before sleeping: a step's kernels follow each other within
 * microseconds, and a sleep/wake costs tens of them. About 50–100 µs of polling here.
 */
const SPINS = 50_000;

/** The worker's program: the job function's own source (jobs.ts) and a loop that waits for jobs. */
function workerSource(): string {
  return `'use strict';
const __name = (target) => target;
const runJob = (${runJob.toString()});
const nodePort = typeof require === 'function' ? require('node:worker_threads').parentPort : null;
const send = (message) => (nodePort ? nodePort.postMessage(message) : self.postMessage(message));
const instances = new Map();
let control, args, thread, seen;
async function loop() {
  for (;;) {
    for (let spin = 0; spin < ${SPINS} && Atomics.load(control, ${GENERATION}) === seen; spin++);
    while (Atomics.load(control, ${GENERATION}) === seen) {
      const waiting = Atomics.waitAsync(control, ${GENERATION}, seen);
      if (waiting.async) await waiting.value;
    }
    seen = Atomics.load(control, ${GENERATION});
    const threads = control[${THREADS}];
    if (thread >= threads) continue;
    try {
      runJob(instances.get(control[${MEMORY_ID}]), control[${JOB}], args, thread, threads);
    } catch (error) {
      Atomics.store(control, ${FAILED}, 1);
      send({ type: 'failed', message: String(error && error.message) });
    }
    if (Atomics.sub(control, ${REMAINING}, 1) === 1) Atomics.notify(control, ${REMAINING});
  }
}
function receive(message) {
  if (message.type === 'start') {
    control = new Int32Array(message.control);
    args = new Float64Array(message.control, ${ARGS_OFFSET}, ${ARG_COUNT});
    thread = message.thread;
    seen = Atomics.load(control, ${GENERATION});
    void loop();
  } else if (message.type === 'attach') {
    instances.set(message.id, new WebAssembly.Instance(message.module, { env: { memory: message.memory } }).exports);
    send({ type: 'attached', request: message.request });
  } else if (message.type === 'detach') {
    instances.delete(message.id);
  }
}
if (nodePort) nodePort.on('message', receive);
else self.onmessage = (event) => receive(event.data);
`;
}

interface PoolWorker {
  post(message: unknown): void;
  /** Holds (true) or releases one reason for the worker to keep the process alive (Node; browsers decide themselves). */
  hold(held: boolean): void;
}

const isNode = () => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

type WorkerMessage = { type: string; request?: number; message?: string };

async function startWorker(source: string, listener: (message: WorkerMessage) => void): Promise<PoolWorker> {
  if (isNode()) {
    const { Worker } = await import(/* @vite-ignore */ 'node:worker_threads');
    const worker = new Worker(source, { eval: true });
    worker.on('message', listener);
    // Idle workers must not keep a process alive (after the listener: adding one refs the worker),
    // but one whose answer is awaited must.
    worker.unref();
    let holds = 0;
    return {
      post: (m) => worker.postMessage(m),
      hold: (held) => {
        holds += held ? 1 : -1;
        if (holds === 0) worker.unref();
        else if (held && holds === 1) worker.ref();
      },
    };
  }
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url);
  URL.revokeObjectURL(url);
  worker.addEventListener('message', (event) => listener(event.data));
  return { post: (m) => worker.postMessage(m), hold: () => undefined };
}

/** Whether this thread may block in Atomics.wait (Node, and workers; a page's main thread may only poll). */
const canBlock = () => isNode() || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';

export class WorkerPool {
  private readonly control: Int32Array<SharedArrayBuffer>;
  private readonly args: Float64Array<SharedArrayBuffer>;
  private readonly workers: PoolWorker[] = [];
  private readonly attached = new Map<number, { module: WebAssembly.Module; memory: WebAssembly.Memory }>();
  private readonly acks = new Map<number, () => void>();
  private requests = 0;
  /** grow() and attach() run one after another, so every worker gets every memory exactly once. */
  private queue: Promise<void> = Promise.resolve();
  private readonly blocking = canBlock();
  private failure: string | undefined;

  constructor() {
    const buffer = new SharedArrayBuffer(ARGS_OFFSET + 8 * ARG_COUNT);
    this.control = new Int32Array(buffer, 0, ARGS_OFFSET / 4);
    this.args = new Float64Array(buffer, ARGS_OFFSET, ARG_COUNT);
  }

  /** Threads a job can use now: the workers and the calling thread. */
  get size(): number {
    return this.workers.length + 1;
  }

  private attachTo(worker: PoolWorker, id: number): Promise<void> {
    const { module, memory } = this.attached.get(id)!;
    const request = ++this.requests;
    worker.hold(true);
    return new Promise<void>((resolve) => {
      this.acks.set(request, resolve);
      worker.post({ type: 'attach', id, module, memory, request });
    }).then(() => worker.hold(false));
  }

  /** Starts workers until `threads` can run a job; new workers get every memory attached so far. */
  private serially(task: () => Promise<void>): Promise<void> {
    const done = this.queue.then(task);
    this.queue = done.catch(() => undefined);
    return done;
  }

  grow(threads: number): Promise<void> {
    return this.serially(async () => {
      const source = workerSource();
      while (this.size < threads) {
        const worker = await startWorker(source, (message) => {
          if (message.type === 'failed') this.failure = message.message;
          if (message.request === undefined) return;
          this.acks.get(message.request)?.();
          this.acks.delete(message.request);
        });
        worker.post({ type: 'start', control: this.control.buffer, thread: this.workers.length + 1 });
        await Promise.all([...this.attached.keys()].map((id) => this.attachTo(worker, id)));
        this.workers.push(worker);
      }
    });
  }

  /** Makes `memory` usable by jobs under `id`, on every worker. */
  attach(id: number, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<void> {
    return this.serially(async () => {
      this.attached.set(id, { module, memory });
      await Promise.all(this.workers.map((worker) => this.attachTo(worker, id)));
    });
  }

  detach(id: number): void {
    if (!this.attached.delete(id)) return;
    for (const worker of this.workers) worker.post({ type: 'detach', id });
  }

  /** Runs `job` on `threads` threads (this one included) and returns when all are done. */
  run(exports: WasmExports, id: number, job: number, values: ArrayLike<number>, threads: number): void {
    const control = this.control;
    this.args.set(values);
    control[MEMORY_ID] = id;
    control[JOB] = job;
    control[THREADS] = threads;
    Atomics.store(control, REMAINING, threads - 1);
    Atomics.add(control, GENERATION, 1);
    Atomics.notify(control, GENERATION);
    runJob(exports, job, this.args, 0, threads);
    for (let spin = 0; Atomics.load(control, REMAINING) !== 0; spin++) {
      const remaining = Atomics.load(control, REMAINING);
      if (this.blocking && spin > SPINS && remaining !== 0) Atomics.wait(control, REMAINING, remaining);
    }
    if (Atomics.load(control, FAILED) !== 0) {
      Atomics.store(control, FAILED, 0);
      throw new Error(`a wasm worker failed: ${this.failure ?? 'unknown error'}`);
    }
  }
}

let pool: WorkerPool | undefined;

/** The process's pool, grown to run `threads`. */
export async function workerPool(threads: number): Promise<WorkerPool> {
  pool ??= new WorkerPool();
  await pool.grow(threads);
  return pool;
}

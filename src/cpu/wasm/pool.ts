import { runJob, type WasmExports } from './jobs.js';
import { isNode } from '../../platform.js';

/**
 * A process-wide pool of workers (Node worker_threads, browser Web Workers) running the parallel
 * kernels over shared wasm memories. The kernels are synchronous calls of a training step, so a
 * job is posted through a small shared control block, the calling thread claims chunks of it like
 * any worker (jobs.ts), and it waits for the last chunk with Atomics: no message, promise or
 * allocation per job.
 *
 * Workers keep one instance of the module per memory (one memory per network), attached when a
 * network is made and detached when it is disposed or collected.
 */

// Int32 slots of the control block, then the job's arguments as float64 (pointers are exact).
// WORD is generation << 16 | next unclaimed chunk: one compare-exchange claims a chunk of the
// current job and only of it (see claimChunk).
const WORD = 0;
const DONE = 1;
const MEMORY_ID = 2;
const JOB = 3;
const THREADS = 4;
const FAILED = 5;
const ARGS_OFFSET = 64;
const ARG_COUNT = 16;
/** How long a worker may take to take a memory (it must start first): past it, the network runs on one thread. */
const ATTACH_MS = 10_000;
/** Added to DONE by a worker that failed, so the caller stops waiting at once. */
const FAILED_DONE = 1 << 24;
/**
 * Loads a waiting thread polls before sleeping: a step's kernels follow each other within
 * microseconds, and a sleep/wake costs tens of them. About 50–100 µs of polling here.
 */
const SPINS = 50_000;

/**
 * The next chunk of the job of `generation`, or −1 when it has none left or a newer job was posted.
 * Self-contained (its source runs in the workers too); slot 0 is WORD.
 */
export function claimChunk(control: Int32Array, generation: number, total: number): number {
  for (;;) {
    const word = Atomics.load(control, 0);
    if (word >>> 16 !== generation || (word & 0xffff) >= total) return -1;
    if (Atomics.compareExchange(control, 0, word, word + 1) === word) return word & 0xffff;
  }
}

/** Counts a chunk done and wakes the caller after the last. Self-contained; slot 1 is DONE. */
export function finishChunk(control: Int32Array, total: number): void {
  if (Atomics.add(control, 1, 1) + 1 === total) Atomics.notify(control, 1);
}

/** The worker's program: the functions above and runJob from their source, and a loop that waits for jobs. */
function workerSource(): string {
  return `'use strict';
const __name = (target) => target;
const runJob = (${runJob.toString()});
const claimChunk = (${claimChunk.toString()});
const finishChunk = (${finishChunk.toString()});
const nodePort = typeof require === 'function' ? require('node:worker_threads').parentPort : null;
const send = (message) => (nodePort ? nodePort.postMessage(message) : self.postMessage(message));
const instances = new Map();
let control, args, thread, seen;
async function loop() {
  for (;;) {
    for (let spin = 0; spin < ${SPINS} && Atomics.load(control, ${WORD}) >>> 16 === seen; spin++);
    for (;;) {
      const word = Atomics.load(control, ${WORD});
      if (word >>> 16 !== seen) break;
      const waiting = Atomics.waitAsync(control, ${WORD}, word);
      if (waiting.async) await waiting.value;
    }
    const generation = (seen = Atomics.load(control, ${WORD}) >>> 16);
    if (thread >= control[${THREADS}]) continue;
    try {
      runJob(instances.get(control[${MEMORY_ID}]), control[${JOB}], args, thread,
        (total) => claimChunk(control, generation, total), (total) => finishChunk(control, total));
    } catch (error) {
      Atomics.store(control, ${FAILED}, 1);
      Atomics.add(control, ${DONE}, ${FAILED_DONE});
      Atomics.notify(control, ${DONE});
      send({ type: 'failed', message: String(error && error.message) });
    }
  }
}
function receive(message) {
  if (message.type === 'start') {
    control = new Int32Array(message.control);
    args = new Float64Array(message.control, ${ARGS_OFFSET}, ${ARG_COUNT});
    thread = message.thread;
    seen = Atomics.load(control, ${WORD}) >>> 16;
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

type WorkerMessage = { type: string; request?: number; message?: string };

async function startWorker(source: string, listener: (message: WorkerMessage) => void,
  failed: (why: string) => void): Promise<PoolWorker> {
  if (isNode()) {
    const { Worker } = await import(/* @vite-ignore */ 'node:worker_threads');
    const worker = new Worker(source, { eval: true });
    worker.on('message', listener);
    worker.on('error', (error) => failed(error.message));
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
  // A page whose Content-Security-Policy refuses blob: workers, for one, fails here.
  worker.addEventListener('error', (event) => failed(event.message || 'the worker could not start'));
  return { post: (m) => worker.postMessage(m), hold: () => undefined };
}

/** Whether this thread may block in Atomics.wait (Node, and workers; a page's main thread may only poll). */
const canBlock = () => isNode() || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';

export class WorkerPool {
  private readonly control: Int32Array<SharedArrayBuffer>;
  private readonly args: Float64Array<SharedArrayBuffer>;
  private readonly workers: PoolWorker[] = [];
  private readonly attached = new Map<number, { module: WebAssembly.Module; memory: WebAssembly.Memory }>();
  private readonly acks = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  /** Why a worker stopped, once one has: the pool then takes no more networks (they run on one thread). */
  private broken: string | undefined;
  private requests = 0;
  /** grow() and attach() run one after another, so every worker gets every memory exactly once. */
  private queue: Promise<void> = Promise.resolve();
  private readonly blocking = canBlock();
  private failure: string | undefined;
  /** The generation of the last job posted (16 bits, see WORD). */
  private generation = 0;

  constructor() {
    const buffer = new SharedArrayBuffer(ARGS_OFFSET + 8 * ARG_COUNT);
    this.control = new Int32Array(buffer, 0, ARGS_OFFSET / 4);
    this.args = new Float64Array(buffer, ARGS_OFFSET, ARG_COUNT);
  }

  /** Threads a job can use now: the workers and the calling thread. */
  get size(): number {
    return this.workers.length + 1;
  }

  /** Sends `id`'s memory to `worker`; rejects if the worker fails or does not answer within ATTACH_MS. */
  private attachTo(worker: PoolWorker, id: number): Promise<void> {
    const { module, memory } = this.attached.get(id)!;
    const request = ++this.requests;
    worker.hold(true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new Promise<void>((resolve, reject) => {
      this.acks.set(request, { resolve, reject });
      timer = setTimeout(() => reject(new Error(`a worker did not answer within ${ATTACH_MS / 1000} s`)), ATTACH_MS);
      worker.post({ type: 'attach', id, module, memory, request });
    }).finally(() => {
      clearTimeout(timer);
      this.acks.delete(request);
      worker.hold(false);
    });
  }

  private fail(why: string): void {
    this.broken ??= why;
    for (const { reject } of this.acks.values()) reject(new Error(why));
  }

  private serially(task: () => Promise<void>): Promise<void> {
    const done = this.queue.then(() => {
      if (this.broken) throw new Error(this.broken);
      return task();
    });
    this.queue = done.catch(() => undefined);
    return done;
  }

  /** Starts workers until `threads` can run a job; new workers get every memory attached so far. */
  grow(threads: number): Promise<void> {
    return this.serially(async () => {
      const source = workerSource();
      while (this.size < threads) {
        const worker = await startWorker(source, (message) => {
          if (message.type === 'failed') this.failure = message.message;
          if (message.request !== undefined) this.acks.get(message.request)?.resolve();
        }, (why) => this.fail(`a worker stopped: ${why}`));
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

  /** Runs `job` on up to `threads` threads (this one included) and returns when every chunk is done. */
  run(exports: WasmExports, id: number, job: number, values: ArrayLike<number>, threads: number): void {
    const control = this.control;
    this.args.set(values);
    control[MEMORY_ID] = id;
    control[JOB] = job;
    control[THREADS] = threads;
    Atomics.store(control, DONE, 0);
    const generation = (this.generation = (this.generation + 1) & 0xffff);
    Atomics.store(control, WORD, generation << 16);
    Atomics.notify(control, WORD);
    let total = 0;
    runJob(exports, job, this.args, 0, (count) => claimChunk(control, generation, (total = count)), (count) => finishChunk(control, count));
    for (let spin = 0; ; spin++) {
      const done = Atomics.load(control, DONE);
      if (done >= total) break;
      if (this.blocking && spin > SPINS) Atomics.wait(control, DONE, done);
    }
    if (Atomics.load(control, FAILED) !== 0) {
      Atomics.store(control, FAILED, 0);
      throw new Error(`a wasm worker failed: ${this.failure ?? 'see its error'}`);
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

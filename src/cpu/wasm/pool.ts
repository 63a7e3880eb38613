import { floatsPerChunk, rowsPerChunk, runJob, type WasmExports } from './jobs.js';
import { WorkerError } from '../../errors.js';
import { isNode } from '../../platform.js';

/**
 * A process-wide pool of workers (Node worker_threads, browser Web Workers) running the parallel
 * kernels over shared wasm memories. The kernels are synchronous calls of a training step, so a
 * job is posted through a small shared control block, the calling thread claims chunks of it like
 * any worker (jobs.ts), and it waits for the last chunk with Atomics: no message, promise or
 * allocation per job.
 *
 * Workers keep one instance of the module per memory (one memory per network), attached when a
 * network is made and detached when it is disposed or collected; workers that no live network
 * needs are ended.
 *
 * A worker may die or throw in the middle of a job. The calling thread never waits for it blindly:
 * every chunk is tagged with the thread that claimed it, a worker that fails marks itself gone in
 * the control block (its exit handler, where the platform has one, or its catch), and the caller's
 * wait wakes at least every WAIT_SLICE_MS to look. The chunks a gone worker claimed and did not
 * finish are run again by the caller, after the floats the worker changed in place are put back
 * from its journal (see runJob's `save`), so the job gives the same bits as if nothing had happened;
 * the dead worker is replaced between jobs. A worker alive but silent for STALL_MS is taken for dead.
 * The job fails (WorkerError) only if the caller cannot run the chunk either.
 */

// Int32 slots of the control block. WORD is generation << 16 | next unclaimed chunk: one
// compare-exchange claims a chunk of the current job and only of it (see claimChunk).
const WORD = 0;
const DONE = 1;
const MEMORY_ID = 2;
const JOB = 3;
const THREADS = 4;
/** Failures of workers so far (each adds 1 when it fails): a job that sees it change looks for orphaned chunks. */
const FAULTS = 5;
/** Per thread t, GONE_AT + t: 1 once its worker died, threw or was taken for dead; the pool sets 0 when it starts one there. */
const GONE_AT = 16;
/** Per chunk c of the current job, OWNER_AT + c: 0 until claimed, then thread << 2 | CLAIMED, then thread << 2 | FINISHED. */
const OWNER_AT = 32;
const CLAIMED = 1;
const FINISHED = 2;
/** Chunks a job has at most (runJob: 4096, and the weight gradient's bias chunk). */
const MAX_CHUNKS = 4097;
/** Slots per thread (MAX_THREADS in ../choose.ts). */
const MAX_WORKER_THREADS = 16;
const INT_SLOTS = OWNER_AT + MAX_CHUNKS + 3;
// Then float64s: the job's arguments (pointers are exact), and per thread its journal's record,
// [count, pointer₀, floats₀, pointer₁, floats₁, …] of the ranges it saved in its current chunk.
const ARGS_OFFSET = INT_SLOTS * 4;
const ARG_COUNT = 16;
const JOURNAL_RECORD = 9;
const RECORDS_OFFSET = ARGS_OFFSET + 8 * ARG_COUNT;
// Then per thread, as UTF-16 code units, why its worker failed (read by the caller without a message).
const MESSAGE_UNITS = 512;
const MESSAGES_OFFSET = RECORDS_OFFSET + 8 * JOURNAL_RECORD * MAX_WORKER_THREADS;
const CONTROL_BYTES = MESSAGES_OFFSET + 2 * MESSAGE_UNITS * MAX_WORKER_THREADS;

/** How long a worker may take to take a memory (it must start first): past it, it is ended and another started. */
const ATTACH_MS = 10_000;
/**
 * Loads a waiting thread polls before sleeping: a step's kernels follow each other within
 * microseconds, and a sleep/wake costs tens of them. About 50–100 µs of polling here.
 */
const SPINS = 50_000;
/** The longest the caller sleeps before it looks for gone workers again. */
const WAIT_SLICE_MS = 50;
/** Times in a row a thread's worker may fail to start before its place is left empty (the pool shrinks). */
const START_TRIES = 3;

/**
 * Test-only: how long a job may make no progress before the caller takes its unfinished chunks
 * from the workers that hold them (30 s: a chunk of the largest product takes well under that). Not
 * part of the public API; test/support/pool-fault-child.mts lowers it to test a hung worker.
 */
export const poolTimings = { stallMs: 30_000 };

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

/**
 * The worker's program: runJob and the functions above from their source, and a loop that waits
 * for jobs. Each chunk it claims is tagged with its thread; the ranges an in-place job changes are
 * copied to this thread's journal in the network's memory first. A worker that throws, or exits,
 * marks itself gone and ends.
 */
function workerSource(): string {
  return `'use strict';
const __name = (target) => target;
const rowsPerChunk = (${rowsPerChunk.toString()});
const floatsPerChunk = (${floatsPerChunk.toString()});
const runJob = (${runJob.toString()});
const claimChunk = (${claimChunk.toString()});
const finishChunk = (${finishChunk.toString()});
const nodePort = typeof require === 'function' ? require('node:worker_threads').parentPort : null;
const send = (message) => (nodePort ? nodePort.postMessage(message) : self.postMessage(message));
const instances = new Map();
let control, args, record, messages, thread, seen, chunk = -1, gone = false;
function markGone(why) {
  if (gone || !control) return;
  gone = true;
  const text = String(why).slice(0, ${MESSAGE_UNITS - 1});
  for (let i = 0; i < text.length; i++) messages[i] = text.charCodeAt(i);
  messages[text.length] = 0;
  Atomics.store(control, ${GONE_AT} + thread, 1);
  Atomics.add(control, ${FAULTS}, 1);
  Atomics.notify(control, ${DONE});
}
function claim(generation, total) {
  const claimed = claimChunk(control, generation, total);
  if (claimed >= 0) Atomics.store(control, ${OWNER_AT} + claimed, (thread << 2) | ${CLAIMED});
  chunk = claimed;
  return claimed;
}
function finish(total) {
  record[0] = 0;
  Atomics.store(control, ${OWNER_AT} + chunk, (thread << 2) | ${FINISHED});
  finishChunk(control, total);
}
function save(instance, pointer, floats) {
  const count = record[0];
  let used = 0;
  for (let i = 0; i < count; i++) used += record[2 + 2 * i];
  if (count >= 4 || used + floats > instance.journalFloats) throw new Error('a chunk saves more than its journal holds');
  const at = instance.journal / 4 + thread * instance.journalFloats + used;
  instance.heap.copyWithin(at, pointer / 4, pointer / 4 + floats);
  record[1 + 2 * count] = pointer;
  record[2 + 2 * count] = floats;
  record[0] = count + 1;
}
function end() {
  if (nodePort) process.exit(1);
  else self.close();
}
async function loop() {
  for (;;) {
    for (let spin = 0; spin < ${SPINS} && Atomics.load(control, ${WORD}) >>> 16 === seen; spin++);
    for (;;) {
      const word = Atomics.load(control, ${WORD});
      if (word >>> 16 !== seen) break;
      const waiting = Atomics.waitAsync(control, ${WORD}, word);
      if (waiting.async) await waiting.value;
    }
    // The caller took this thread for dead (it was silent too long): it must not touch a job again.
    if (Atomics.load(control, ${GONE_AT} + thread) !== 0) return end();
    const generation = (seen = Atomics.load(control, ${WORD}) >>> 16);
    const instance = instances.get(control[${MEMORY_ID}]);
    // A thread past the network's count, or one not yet given this memory, leaves the job to the others.
    if (thread >= control[${THREADS}] || !instance) continue;
    try {
      runJob(instance.exports, control[${JOB}], args, thread, (total) => claim(generation, total), finish,
        (pointer, floats) => save(instance, pointer, floats));
    } catch (error) {
      markGone('it threw: ' + String((error && error.message) || error));
      return end();
    }
  }
}
function receive(message) {
  if (message.type === 'start') {
    control = new Int32Array(message.control, 0, ${INT_SLOTS});
    args = new Float64Array(message.control, ${ARGS_OFFSET}, ${ARG_COUNT});
    thread = message.thread;
    record = new Float64Array(message.control, ${RECORDS_OFFSET} + thread * ${8 * JOURNAL_RECORD}, ${JOURNAL_RECORD});
    messages = new Uint16Array(message.control, ${MESSAGES_OFFSET} + thread * ${2 * MESSAGE_UNITS}, ${MESSAGE_UNITS});
    seen = Atomics.load(control, ${WORD}) >>> 16;
    if (nodePort) process.on('exit', (code) => markGone('it exited with code ' + code));
    void loop();
  } else if (message.type === 'attach') {
    instances.set(message.id, {
      exports: new WebAssembly.Instance(message.module, { env: { memory: message.memory } }).exports,
      heap: new Float32Array(message.memory.buffer), journal: message.journal, journalFloats: message.journalFloats,
    });
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
  /** Ends the worker; resolves once it has stopped (in a browser, at once). */
  terminate(): Promise<void>;
}

type WorkerMessage = { type: string; request?: number };

/** A worker running `source`; `stopped` is called once, with why, when it fails or ends. */
async function startWorker(source: string, listener: (message: WorkerMessage) => void,
  stopped: (why: string) => void): Promise<PoolWorker> {
  if (isNode()) {
    const { Worker } = await import(/* @vite-ignore */ 'node:worker_threads');
    const worker = new Worker(source, { eval: true });
    let exited: Promise<void> | undefined;
    const ended = new Promise<void>((resolve) => worker.once('exit', (code) => {
      stopped(`it exited with code ${code}`);
      resolve();
    }));
    worker.on('message', listener);
    worker.on('error', (error) => stopped(error.message));
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
      terminate: () => {
        exited ??= worker.terminate().then(() => ended);
        return exited;
      },
    };
  }
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url);
  URL.revokeObjectURL(url);
  worker.addEventListener('message', (event) => listener(event.data));
  // A page whose Content-Security-Policy refuses blob: workers, for one, fails here.
  worker.addEventListener('error', (event) => stopped(event.message || 'the worker could not start'));
  return {
    post: (m) => worker.postMessage(m),
    hold: () => undefined,
    terminate: async () => {
      worker.terminate();
      stopped('it was ended');
    },
  };
}

/** Whether this thread may block in Atomics.wait (Node, and workers; a page's main thread may only poll). */
const canBlock = () => isNode() || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';

/** A network's memory as the workers need it: `threads` is how many of them its jobs use (the caller included). */
interface Attached {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  threads: number;
  /** Where thread t's journal starts: journal + 4 · t · journalFloats bytes. */
  journal: number;
  journalFloats: number;
}

/** One started worker, in its thread's place. */
interface Staff {
  worker: PoolWorker;
  thread: number;
  /** The memories it has an instance for. */
  memories: Set<number>;
  /** Answers it is waiting for: rejected when it stops. */
  acks: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
  /** Set when it stopped, or when the pool ended it. */
  stopped: boolean;
}

export class WorkerPool {
  private readonly control: Int32Array<SharedArrayBuffer>;
  private readonly args: Float64Array<SharedArrayBuffer>;
  private readonly owners: Int32Array<SharedArrayBuffer>;
  private readonly buffer: SharedArrayBuffer;
  /** By thread (1 to 15; 0 is the caller): the worker there, if one runs. */
  private readonly staff: (Staff | undefined)[] = [];
  private readonly attached = new Map<number, Attached>();
  /** Per thread, the ending of the worker that was there: a new one starts after it stopped. */
  private readonly ending: Promise<void>[] = [];
  /** Per thread, failed starts in a row (START_TRIES). */
  private readonly failedStarts: number[] = [];
  private requests = 0;
  /** Staffing, attaching and ending run one after another, so every worker gets every memory exactly once. */
  private queue: Promise<void> = Promise.resolve();
  private readonly blocking = canBlock();
  private readonly source = workerSource();
  /** The generation of the last job posted (16 bits, see WORD). */
  private generation = 0;

  constructor() {
    this.buffer = new SharedArrayBuffer(CONTROL_BYTES);
    this.control = new Int32Array(this.buffer, 0, INT_SLOTS);
    this.owners = new Int32Array(this.buffer, OWNER_AT * 4, MAX_CHUNKS);
    this.args = new Float64Array(this.buffer, ARGS_OFFSET, ARG_COUNT);
  }

  /** Workers running now (the caller not counted). */
  get workers(): number {
    return this.staff.filter((member) => member && !member.stopped).length;
  }

  /** The threads the live networks need: the most any of them uses (1: none, the caller alone). */
  private needed(): number {
    let threads = 1;
    for (const { threads: t } of this.attached.values()) threads = Math.max(threads, t);
    return threads;
  }

  private serially(task: () => Promise<void>): Promise<void> {
    const done = this.queue.then(task);
    this.queue = done.catch(() => undefined);
    return done;
  }

  /** Sends `id`'s memory to `member`; rejects if the worker stops or does not answer within ATTACH_MS. */
  private attachTo(member: Staff, id: number): Promise<void> {
    const { module, memory, journal, journalFloats } = this.attached.get(id)!;
    const request = ++this.requests;
    member.worker.hold(true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new Promise<void>((resolve, reject) => {
      if (member.stopped) throw new Error('the worker stopped');
      member.acks.set(request, { resolve, reject });
      timer = setTimeout(() => reject(new Error(`a worker did not answer within ${ATTACH_MS / 1000} s`)), ATTACH_MS);
      member.worker.post({ type: 'attach', id, module, memory, journal, journalFloats, request });
    }).then(() => {
      member.memories.add(id);
    }).finally(() => {
      clearTimeout(timer);
      member.acks.delete(request);
      member.worker.hold(false);
    });
  }

  /** A worker stopped (it died, threw, or was ended): its place is emptied, and refilled if a network needs it. */
  private stopped(member: Staff, why: string): void {
    if (member.stopped) return;
    member.stopped = true;
    for (const { reject } of member.acks.values()) reject(new Error(`a worker stopped: ${why}`));
    if (this.staff[member.thread] !== member) return;
    this.staff[member.thread] = undefined;
    this.ending[member.thread] = member.worker.terminate();
    // Between jobs (this runs on the event loop): no job can hold one of its chunks now.
    Atomics.store(this.control, GONE_AT + member.thread, 1);
    void this.serially(() => this.fill()).catch(() => undefined);
  }

  /** Starts a worker in thread `thread`'s place and gives it every memory; undefined if it could not. */
  private async start(thread: number): Promise<Staff | undefined> {
    let member: Staff | undefined;
    try {
      await this.ending[thread];
      Atomics.store(this.control, GONE_AT + thread, 0);
      new Float64Array(this.buffer, RECORDS_OFFSET + thread * 8 * JOURNAL_RECORD, JOURNAL_RECORD).fill(0);
      const acks: Staff['acks'] = new Map();
      const worker = await startWorker(this.source, (message) => {
        if (message.request !== undefined) acks.get(message.request)?.resolve();
      }, (why) => member && this.stopped(member, why));
      member = { worker, thread, memories: new Set(), acks, stopped: false };
      worker.post({ type: 'start', control: this.buffer, thread });
      await Promise.all([...this.attached.keys()].map((id) => this.attachTo(member!, id)));
      this.failedStarts[thread] = 0;
      return member;
    } catch {
      this.failedStarts[thread] = (this.failedStarts[thread] ?? 0) + 1;
      if (member) {
        member.stopped = true;
        this.ending[thread] = member.worker.terminate();
      }
      Atomics.store(this.control, GONE_AT + thread, 1);
      return undefined;
    }
  }

  /** Starts workers in the empty places the live networks need (each place tried START_TRIES times in a row at most). */
  private async fill(): Promise<void> {
    const needed = this.needed();
    for (let thread = 1; thread < needed; thread++) {
      if (this.staff[thread] || (this.failedStarts[thread] ?? 0) >= START_TRIES) continue;
      const member = await this.start(thread);
      if (member && !member.stopped) this.staff[thread] = member;
    }
  }

  /** Ends the workers past what the live networks need. */
  private async shrink(): Promise<void> {
    const needed = this.needed();
    const ending: Promise<void>[] = [];
    for (let thread = needed; thread < this.staff.length; thread++) {
      const member = this.staff[thread];
      if (!member) continue;
      this.staff[thread] = undefined;
      member.stopped = true;
      ending.push((this.ending[thread] = member.worker.terminate()));
    }
    await Promise.all(ending);
  }

  /**
   * Makes `memory` usable by jobs under `id` on `threads` threads (the caller included): starts the
   * workers missing and gives every worker the memory. Thread t's journal is journalFloats floats
   * at byte journal + 4 · t · journalFloats. Rejects only if no worker could be started for it.
   */
  attach(id: number, module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, journal: number,
    journalFloats: number): Promise<void> {
    return this.serially(async () => {
      this.attached.set(id, { module, memory, threads, journal, journalFloats });
      // A place whose starts failed before is tried again for a new network.
      for (let thread = 1; thread < threads; thread++) this.failedStarts[thread] = 0;
      await this.fill();
      await Promise.all(this.staff.map(async (member) => {
        if (!member || member.memories.has(id)) return;
        // One that cannot take it is ended, and its place filled again.
        await this.attachTo(member, id).catch((cause: Error) => {
          this.stopped(member, cause.message);
          this.ending[member.thread] = member.worker.terminate();
        });
      }));
      // Places emptied meanwhile (a worker that died before its exit was seen) are filled again.
      await this.fill();
      if (!this.staff.slice(1, threads).some((member) => member && !member.stopped)) {
        this.attached.delete(id);
        await this.shrink();
        throw new Error('no worker could be started');
      }
    });
  }

  /** Gives back `id`'s memory; workers no live network needs are ended. */
  detach(id: number): void {
    if (!this.attached.delete(id)) return;
    for (const member of this.staff) if (member && member.memories.delete(id)) member.worker.post({ type: 'detach', id });
    void this.serially(() => this.shrink());
  }

  /** Settles once every staffing and ending asked for so far is done (tests). */
  settled(): Promise<void> {
    return this.serially(async () => undefined);
  }

  /**
   * Runs `job` on up to `threads` threads (this one included) and returns when every chunk is done.
   * Throws WorkerError, once no thread works on the job any more, if a chunk could not be run.
   */
  run(exports: WasmExports, id: number, job: number, values: ArrayLike<number>, threads: number): void {
    const control = this.control;
    // Arguments a job leaves out read 0 (a pointer 0 is "none"), never the last job's.
    this.args.fill(0).set(values);
    control[MEMORY_ID] = id;
    control[JOB] = job;
    control[THREADS] = threads;
    Atomics.store(control, DONE, 0);
    const faults = Atomics.load(control, FAULTS);
    const generation = (this.generation = (this.generation + 1) & 0xffff);
    Atomics.store(control, WORD, generation << 16);
    Atomics.notify(control, WORD);
    let total = 0;
    let chunk = -1;
    const owners = this.owners;
    let failure: WorkerError | undefined;
    try {
      runJob(exports, job, this.args, 0, (count) => {
        chunk = claimChunk(control, generation, (total = count));
        if (chunk >= 0) Atomics.store(owners, chunk, CLAIMED);
        return chunk;
      }, (count) => {
        Atomics.store(owners, chunk, FINISHED);
        finishChunk(control, count);
      }, () => undefined);
    } catch (cause) {
      // No chunk is claimed after this; those claimed are waited for below, the others never run.
      const claimed = Atomics.exchange(control, WORD, (generation << 16) | 0xffff) & 0xffff;
      failure = new WorkerError(`a CPU kernel failed on the calling thread in job ${job}: ${(cause as Error).message}`);
      total = Math.min(total, claimed);
      if (chunk >= 0 && chunk < total) Atomics.store(owners, chunk, FINISHED);
    }
    try {
      failure = this.wait(exports, id, job, total, faults) ?? failure;
    } finally {
      // Every chunk is finished or given up: no thread writes a tag of this job again.
      owners.fill(0, 0, Math.max(total, chunk + 1));
    }
    if (failure) throw failure;
  }

  /**
   * Waits until the `total` chunks are finished, finishing those of workers that failed or went
   * silent; returns the error of a chunk that could not be finished.
   */
  private wait(exports: WasmExports, id: number, job: number, total: number, faults: number): WorkerError | undefined {
    const control = this.control;
    let progress = -1;
    let since = 0;
    for (let spin = 0; ; spin++) {
      const done = Atomics.load(control, DONE);
      if (done >= total) return undefined;
      if (spin < SPINS) continue;
      if (Atomics.load(control, FAULTS) !== faults) return this.rescue(exports, id, job, total, false);
      // After the spin, look at the clock every 1024 loads (a page's main thread never sleeps).
      if (this.blocking) Atomics.wait(control, DONE, done, WAIT_SLICE_MS);
      else if ((spin & 1023) !== 0) continue;
      const now = performance.now();
      if (done !== progress) [progress, since] = [done, now];
      else if (now - since > poolTimings.stallMs) return this.rescue(exports, id, job, total, true);
    }
  }

  /**
   * Runs here the chunks of gone workers (and, when `silent`, of every worker: they made no progress
   * for stallMs, so they are taken for dead and ended) until every chunk is finished. A chunk a gone
   * worker changed in place is put back from its journal first. Returns the error of a chunk that
   * failed here too (the others are still finished).
   */
  private rescue(exports: WasmExports, id: number, job: number, total: number, silent: boolean): WorkerError | undefined {
    const control = this.control;
    const owners = this.owners;
    let failure: WorkerError | undefined;
    let progress = -1;
    let since = performance.now();
    for (;;) {
      let unfinished = 0;
      for (let chunk = 0; chunk < total; chunk++) {
        const tag = Atomics.load(owners, chunk);
        if ((tag & 3) === FINISHED) continue;
        const thread = tag >> 2;
        // Claimed by a live worker (or claimed and not yet tagged: a worker between two stores).
        if (!silent && (tag === 0 || Atomics.load(control, GONE_AT + thread) === 0)) {
          unfinished++;
          continue;
        }
        if (silent && thread > 0) this.takeForDead(thread);
        failure ??= this.runHere(exports, id, job, chunk, thread, silent ? 'it made no progress' : undefined);
      }
      if (unfinished === 0) return failure;
      const done = Atomics.load(control, DONE);
      if (this.blocking) Atomics.wait(control, DONE, done, WAIT_SLICE_MS);
      const now = performance.now();
      if (done !== progress) [progress, since] = [done, now];
      silent = now - since > poolTimings.stallMs;
    }
  }

  /** A silent worker: marked gone (it ends itself if it ever looks again) and ended. */
  private takeForDead(thread: number): void {
    Atomics.store(this.control, GONE_AT + thread, 1);
    const member = this.staff[thread];
    if (member) {
      this.stopped(member, 'it made no progress');
      this.ending[thread] = member.worker.terminate();
    }
  }

  /**
   * Runs `chunk`, which `thread` claimed and did not finish, on this thread, after undoing what
   * `thread` changed of it; the chunk is finished (or given up) after it. Returns why it failed here.
   */
  private runHere(exports: WasmExports, id: number, job: number, chunk: number, thread: number,
    why: string | undefined): WorkerError | undefined {
    Atomics.store(this.owners, chunk, CLAIMED);
    const undo = () => this.restoreJournal(id, thread);
    undo();
    let claimed = false;
    try {
      runJob(exports, job, this.args, 0, () => (claimed ? -1 : ((claimed = true), chunk)), () => undefined, () => undefined);
      return undefined;
    } catch (cause) {
      undo();
      return new WorkerError(`a CPU worker failed in job ${job} (${why ?? this.message(thread)}), and running its chunk ${chunk} ` +
        `on the calling thread failed too: ${(cause as Error).message}`);
    } finally {
      Atomics.store(this.owners, chunk, FINISHED);
    }
  }

  /** Why thread `thread`'s worker failed, as it wrote it. */
  private message(thread: number): string {
    const units = new Uint16Array(this.buffer, MESSAGES_OFFSET + thread * 2 * MESSAGE_UNITS, MESSAGE_UNITS);
    const end = units.indexOf(0);
    return String.fromCharCode(...units.subarray(0, end < 0 ? MESSAGE_UNITS : end)) || 'it stopped';
  }

  /** Copies back the ranges `thread` saved in its current chunk (none for the caller, or a worker that saved nothing). */
  private restoreJournal(id: number, thread: number): void {
    if (thread === 0) return;
    const record = new Float64Array(this.buffer, RECORDS_OFFSET + thread * 8 * JOURNAL_RECORD, JOURNAL_RECORD);
    const attached = this.attached.get(id);
    if (!attached) return;
    const heap = new Float32Array(attached.memory.buffer);
    let at = attached.journal / 4 + thread * attached.journalFloats;
    for (let i = 0; i < record[0]!; i++) {
      const [pointer, floats] = [record[1 + 2 * i]!, record[2 + 2 * i]!];
      heap.copyWithin(pointer / 4, at, at + floats);
      at += floats;
    }
  }
}

let pool: WorkerPool | undefined;

/** The process's pool (workers start when a network is attached). */
export function workerPool(): WorkerPool {
  pool ??= new WorkerPool();
  return pool;
}

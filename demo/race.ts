import { LiveChart } from './charts.js';
import type { EditorState } from './editor.js';
import type { TrainingData, TrainingEvent } from './protocol.js';
import { TrainingSession } from './session.js';

/**
 * GPU against CPU: the editor's network trained on both backends at once, each in its own worker,
 * same seed and same batches (see worker.ts), so the two loss curves must agree to float32 rounding
 * and the only difference left is speed, measured over training steps only.
 */

type Side = 'webgpu' | 'cpu';
const SIDES: Side[] = ['webgpu', 'cpu'];
const NAMES: Record<Side, string> = { webgpu: 'WebGPU', cpu: 'CPU' };

interface Lane {
  session: TrainingSession;
  fields: Record<'status' | 'epoch' | 'loss' | 'speed' | 'time', HTMLElement>;
  /** Loss of each chunk by position, to compare the curves point by point. */
  losses: Map<number, number>;
  done?: { seconds: number; examplesPerSecond: number; finalLoss: number };
  software?: boolean;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const relativeDifference = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);

export class RacePanel {
  private lanes: Partial<Record<Side, Lane>> = {};
  private optimizer: string | undefined;
  private readonly button = byId<HTMLButtonElement>('race');
  private readonly verdict = byId<HTMLParagraphElement>('race-verdict');
  private readonly chart = new LiveChart(byId('race-chart'), {
    title: 'Training loss, both backends', xLabel: 'epoch', leftLabel: 'loss', logLeft: true,
    series: [
      { label: 'WebGPU', stroke: '#2b59c3', dash: [8, 4] },
      { label: 'CPU', stroke: '#e07b12', dash: [2, 4] },
    ],
  });

  constructor(private readonly readRun: () => Promise<{ state: EditorState; data: TrainingData } | null>) {
    this.button.addEventListener('click', () => (this.running ? this.stop('Race stopped.') : void this.start()));
  }

  private get running(): boolean {
    return this.button.dataset.running === 'true';
  }

  /** Where WebGPU is missing there is nothing to race. */
  disable(reason: string): void {
    this.stop(reason);
    this.button.disabled = true;
  }

  private stop(message: string): void {
    Object.values(this.lanes).forEach((lane) => lane.session.end());
    this.button.dataset.running = 'false';
    this.button.textContent = 'Start the race';
    this.verdict.textContent = message;
  }

  private async start(): Promise<void> {
    this.button.dataset.running = 'true';
    this.button.textContent = 'Stop the race';
    this.verdict.textContent = 'Preparing the data…';
    delete this.verdict.dataset.speedup;
    const run = await this.readRun();
    if (!run || !this.running) return this.stop(run ? 'Race stopped.' : 'Fix the network settings above first.');
    this.chart.clear();
    this.optimizer = run.state.spec.optimizer?.type;
    const container = byId('lanes');
    container.replaceChildren();
    this.verdict.textContent = `Racing ${run.state.epochs} epoch${run.state.epochs > 1 ? 's' : ''} of ${run.state.dataset}…`;
    SIDES.forEach((side, index) => {
      const element = document.createElement('div');
      element.className = 'lane';
      element.id = `lane-${side}`;
      element.innerHTML = `<h3>${NAMES[side]}</h3><dl>
        <div><dt>Status</dt><dd data-field="status">starting…</dd></div>
        <div><dt>Epoch</dt><dd data-field="epoch">–</dd></div>
        <div><dt>Loss</dt><dd data-field="loss">–</dd></div>
        <div><dt>Examples/s</dt><dd data-field="speed">–</dd></div>
        <div><dt>Training time</dt><dd data-field="time">–</dd></div></dl>`;
      container.append(element);
      const field = (name: string) => element.querySelector<HTMLElement>(`[data-field="${name}"]`)!;
      const spec = { ...run.state.spec, backend: side };
      this.lanes[side] = {
        session: new TrainingSession({ spec, data: run.data, epochs: run.state.epochs, liveAccuracy: false }, (event) => this.handle(side, index, event)),
        fields: { status: field('status'), epoch: field('epoch'), loss: field('loss'), speed: field('speed'), time: field('time') },
        losses: new Map(),
      };
    });
  }

  private handle(side: Side, series: number, event: TrainingEvent): void {
    const lane = this.lanes[side]!;
    const { fields } = lane;
    switch (event.type) {
      case 'ready':
        lane.software = event.info.software;
        fields.status.textContent = event.info.vendor ? `training on ${event.info.vendor} ${event.info.architecture ?? ''}` : 'training';
        break;
      case 'chunk':
        lane.losses.set(event.position, event.loss);
        this.chart.set(event.position, series, event.loss);
        fields.loss.textContent = event.loss.toPrecision(5);
        if (event.examplesPerSecond !== undefined) fields.speed.textContent = Math.round(event.examplesPerSecond).toLocaleString();
        break;
      case 'epoch':
        fields.epoch.textContent = String(event.epoch);
        break;
      case 'done':
        lane.done = { seconds: event.trainingSeconds, examplesPerSecond: event.examplesPerSecond, finalLoss: event.finalLoss };
        fields.status.textContent = 'finished';
        fields.loss.textContent = event.finalLoss.toPrecision(6);
        fields.speed.textContent = Math.round(event.examplesPerSecond).toLocaleString();
        fields.time.textContent = `${event.trainingSeconds.toFixed(2)} s`;
        break;
      case 'error':
      case 'deviceLost':
        fields.status.textContent = event.type === 'error' ? `failed: ${event.message}` : 'GPU device lost';
        this.stop(`The race is off: the ${NAMES[side]} side ${event.type === 'error' ? 'failed' : 'lost its GPU device'} (${event.message}).`);
        return;
      default:
        return;
    }
    if (lane.done && this.lanes.webgpu?.done && this.lanes.cpu?.done) this.finish();
  }

  private finish(): void {
    const gpu = this.lanes.webgpu!, cpu = this.lanes.cpu!;
    const speedup = gpu.done!.examplesPerSecond / cpu.done!.examplesPerSecond;
    const finalDifference = relativeDifference(gpu.done!.finalLoss, cpu.done!.finalLoss);
    let largest = 0;
    gpu.losses.forEach((loss, position) => (largest = Math.max(largest, relativeDifference(loss, cpu.losses.get(position) ?? NaN) || 0)));
    const [winner, loser, factor] = speedup >= 1 ? ['WebGPU', 'the CPU', speedup] : ['The CPU', 'WebGPU', 1 / speedup];
    const software = gpu.software
      ? ' The WebGPU adapter here is a software one (such as SwiftShader): its "GPU" code runs emulated on the CPU cores the CPU backend uses too, so this race is between two CPU programs sharing them; on a hardware GPU it means more.'
      : '';
    // Float32 rounding differs between the backends (summation order). SGD and momentum carry that
    // difference along unchanged, but Adam divides each step by the gradient's running size, which
    // magnifies rounding differences in small gradients (MNIST, one epoch: ~1e-7 apart with momentum,
    // ~1e-3 with Adam).
    const agreement = finalDifference < 1e-3
      ? 'The losses agree'
      : `The losses drift apart (more than 1e-3 relative)${this.optimizer === 'adam' ? ': Adam amplifies the backends\' different float32 rounding; with SGD or momentum they agree to about 1e-7' : ''}`;
    Object.assign(this.verdict.dataset, {
      speedup: String(speedup), gpuLoss: String(gpu.done!.finalLoss), cpuLoss: String(cpu.done!.finalLoss), relativeDifference: String(finalDifference),
    });
    this.stop(`${winner} was ${factor.toFixed(2)}× faster than ${loser} (WebGPU ${Math.round(gpu.done!.examplesPerSecond).toLocaleString()} ` +
      `vs CPU ${Math.round(cpu.done!.examplesPerSecond).toLocaleString()} examples/s, both running at once).${software} ` +
      `${agreement}: final ${gpu.done!.finalLoss.toPrecision(6)} vs ${cpu.done!.finalLoss.toPrecision(6)}, relative difference ` +
      `${finalDifference.toExponential(1)}; the largest over all ${gpu.losses.size} points is ${largest.toExponential(1)}.`);
  }
}

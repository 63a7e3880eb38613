/**
 * Command-line trainer: `npm run train -- [flags]` (see --help). Exit codes: 0 done, 1 the engine
 * refused (a BackpropError: no adapter, network too large, ...), 2 a bad command line.
 */
import { loadDataset } from '../data/datasets.js';
import { BackpropError, createNetwork, type DeviceInfo, type Evaluation } from '../index.js';
import { CliError, parseTrainArgs, USAGE, type TrainConfig } from './args.js';
import { describeNetwork, networkSpec } from './model.js';
import { epochProgress } from './progress.js';

const HINT = 'Run `npm run train -- --help` for the flags and their values.';
/** Long runs (XOR's 500 epochs) report about this many times rather than once per epoch. */
const MAX_REPORTS = 25;

async function main(argv: string[]): Promise<number> {
  let command;
  try {
    command = parseTrainArgs(argv);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    process.stderr.write(`train: ${error.message}\n${HINT}\n`);
    return 2;
  }
  if (command.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    await train(command.config);
    return 0;
  } catch (error) {
    // Anything else is a bug: let it surface with its stack trace.
    if (!(error instanceof BackpropError)) throw error;
    process.stderr.write(`train: ${error.message}\n`);
    return 1;
  }
}

async function train(config: TrainConfig): Promise<void> {
  const started = performance.now();
  const out = process.stdout;
  const data = loadDataset(config.dataset);
  const spec = networkSpec(config, data);
  const net = await createNetwork(spec);
  try {
    out.write(`backend  ${describeDevice(net.deviceInfo)}\n`);
    out.write(`network  ${describeNetwork(spec, config)}\n`);
    out.write(`data     ${data.name}: ${count(data.train.rows)} train / ${count(data.test.rows)} test rows\n`);

    const every = Math.ceil(config.epochs / MAX_REPORTS);
    const label = (epoch: number) => `epoch ${String(epoch).padStart(String(config.epochs).length)}/${config.epochs}`;
    let trainingMs = 0;
    let unreported = { epochs: 0, ms: 0 };
    let final: Evaluation | undefined;
    let progress = epochProgress(out, label(1));
    let epochStart = performance.now();
    await net.fit(data.train.x, data.train.y, {
      epochs: config.epochs,
      onBatchEnd: (info) => progress.onBatchEnd(info),
      onEpochEnd: async ({ epoch, loss }) => {
        const ms = performance.now() - epochStart;
        progress.finish();
        trainingMs += ms;
        unreported = { epochs: unreported.epochs + 1, ms: unreported.ms + ms };
        const last = epoch + 1 === config.epochs;
        if ((epoch + 1) % every === 0 || last) {
          // Timed apart from training, so examples/s measures training alone.
          final = await net.evaluate(data.test.x, data.test.y);
          const perSecond = (data.train.rows * unreported.epochs) / (unreported.ms / 1000);
          out.write(`${label(epoch + 1)}  loss ${loss.toPrecision(4)}  test accuracy ${percent(final.accuracy)}  ${count(perSecond)} examples/s\n`);
          unreported = { epochs: 0, ms: 0 };
        }
        if (!last) progress = epochProgress(out, label(epoch + 2));
        epochStart = performance.now();
      },
    });
    // The last epoch always reports, so `final` is set.
    out.write(`final test accuracy ${percent(final!.accuracy)} (test loss ${final!.loss.toPrecision(4)}) · ` +
      `training ${seconds(trainingMs)}, total ${seconds(performance.now() - started)}\n`);
  } finally {
    net.dispose();
  }
}

function describeDevice(info: DeviceInfo): string {
  return [info.backend, info.reason, info.description].filter(Boolean).join(' · ');
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (fraction: number) => `${(fraction * 100).toFixed(2)}%`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

process.exitCode = await main(process.argv.slice(2));

/**
 * Command-line trainer: `npm run train -- [flags]` (see --help). Exit codes: 0 done, 1 the engine
 * refused (a BackpropError: no adapter, network too large, ...), 2 a bad command line.
 */
import { writeFileSync } from 'node:fs';
import { loadDataset, type Dataset, type DataSplit } from '../data/datasets.js';
import { readDataFile } from '../data/idx.js';
import { loadTable } from '../data/table.js';
import { DataFileError } from '../errors.js';
import { ONNX_DEFAULT_OPSET } from '../io/onnx/export.js';
import { BackpropError, createNetwork, fromOnnx, loadNetwork, type DeviceInfo, type Network } from '../index.js';
import { CliError, isOnnxFile, parseTrainArgs, USAGE, type TrainConfig } from './args.js';
import { describeNetwork, networkSpec, optimizerSpec } from './model.js';
import { epochProgress } from './progress.js';
import { impliedMetrics } from '../training/metrics.js';

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

/** The figures of one split: the loss, and accuracy for classes or the mean absolute error for a regression. */
interface Figures {
  loss: number;
  metric: number;
}

/** The metric the trainer reports besides the loss. */
const metricOf = (regression: boolean) => (regression ? 'meanAbsoluteError' : 'accuracy');

async function figures(net: Network, split: DataSplit, regression: boolean): Promise<Figures> {
  const { loss, metrics } = await net.evaluate(split.x, split.y, { metrics: [metricOf(regression)] });
  return { loss, metric: metrics[metricOf(regression)]! };
}

function loadData(config: TrainConfig): Dataset {
  if (!config.data) return loadDataset(config.dataset as Exclude<TrainConfig['dataset'], 'table'>, { seed: config.seed });
  const { file, target, task, validationSplit } = config.data;
  return loadTable(file, { ...(target ? { target } : {}), ...(task ? { task } : {}), validationSplit, seed: config.seed });
}

async function makeNetwork(config: TrainConfig, data: Dataset): Promise<{ net: Network; description: string }> {
  if (!config.load) {
    const spec = networkSpec(config, data);
    return { net: await createNetwork(spec), description: describeNetwork(spec, config) };
  }
  const runtime = { backend: config.backend, batchSize: config.batchSize, ...(config.threads ? { threads: config.threads } : {}) };
  const bytes = readDataFile(config.load);
  // An ONNX file holds layers and weights only: the optimizer, loss (where the model's last op does not fix it) and seed are the flags'.
  const net = isOnnxFile(config.load)
    ? await fromOnnx(bytes, { ...runtime, optimizer: optimizerSpec(config), seed: config.seed, ...(config.loss ? { loss: config.loss } : {}) })
    : await loadNetwork(bytes, runtime);
  const plan = net.plan;
  if (plan.inputSize !== data.inputSize || plan.outputSize !== data.outputSize) {
    net.dispose();
    throw new DataFileError(`${config.load}: the network takes ${plan.inputSize} inputs and gives ${plan.outputSize} outputs; ` +
      `${data.name} has ${data.inputSize} features and ${data.outputSize} target column(s)`);
  }
  const layers = plan.layers.map((layer) => `${layer.units} ${layer.kind === 'dense' ? layer.activation.name : layer.kind}`);
  return { net, description: `${[plan.inputSize, ...layers].join(' → ')} from ${config.load} · ${plan.loss.type} · ${plan.optimizer.type}` };
}

async function train(config: TrainConfig): Promise<void> {
  const started = performance.now();
  const out = process.stdout;
  const data = loadData(config);
  const regression = data.classes.length === 0;
  const { net, description } = await makeNetwork(config, data);
  const show = (name: string, { loss, metric }: Figures) =>
    `${name} loss ${loss.toPrecision(4)}  ${name} ${regression ? `MAE ${metric.toPrecision(4)}` : `accuracy ${percent(metric)}`}`;
  // Per epoch the validation rows where there are some, else the test rows; at the end the test rows.
  const watched = data.validation ? { name: 'val', split: data.validation } : { name: 'test', split: data.test };
  const held = data.validation === data.test ? 'validation' : 'test';
  try {
    out.write(`backend  ${describeDevice(net.deviceInfo)}\n`);
    out.write(`network  ${description}\n`);
    const validationRows = data.validation && data.validation !== data.test ? ` / ${count(data.validation.rows)} validation` : '';
    out.write(`data     ${data.name}: ${count(data.train.rows)} train${validationRows} / ${count(data.test.rows)} ${held} rows` +
      `${regression ? ' · regression' : ` · ${data.classes.length} classes`}\n`);

    const every = Math.ceil(config.epochs / MAX_REPORTS);
    const label = (epoch: number) => `epoch ${String(epoch).padStart(String(config.epochs).length)}/${config.epochs}`;
    let trainingMs = 0;
    let unreported = { epochs: 0, ms: 0 };
    let progress = config.epochs > 0 ? epochProgress(out, label(1)) : undefined;
    let epochStart = performance.now();
    const metric = metricOf(regression);
    // fit reports the watched rows' figures after each epoch. Accuracy is what a classification loss
    // implies; a metric the loss does not imply (the MAE, accuracy under mse) is asked for, and so
    // computed on the training rows too: a second pass, only on the small sets that train that way.
    const implied = impliedMetrics(net.plan.loss.type).includes(metric);
    const history = config.epochs > 0 ? await net.fit(data.train.x, data.train.y, {
      epochs: config.epochs,
      validationData: [watched.split.x, watched.split.y],
      ...(implied ? {} : { metrics: [metric] }),
      ...(config.earlyStopping === undefined ? {} : { earlyStopping: { monitor: 'valLoss', patience: config.earlyStopping, restoreBestWeights: true } }),
      onBatchEnd: (info) => progress!.onBatchEnd(info),
      onEpochEnd: ({ epoch, loss, valLoss, valMetrics }) => {
        // Training and the epoch's validation pass: examples/s counts both.
        const ms = performance.now() - epochStart;
        progress!.finish();
        trainingMs += ms;
        unreported = { epochs: unreported.epochs + 1, ms: unreported.ms + ms };
        const last = epoch + 1 === config.epochs;
        if ((epoch + 1) % every === 0 || last) {
          const perSecond = (data.train.rows * unreported.epochs) / (unreported.ms / 1000);
          const seen = { loss: valLoss!, metric: valMetrics![metric]! };
          out.write(`${label(epoch + 1)}  loss ${loss.toPrecision(4)}  ${show(watched.name, seen)}  ${count(perSecond)} examples/s\n`);
          unreported = { epochs: 0, ms: 0 };
        }
        if (!last) progress = epochProgress(out, label(epoch + 2));
        epochStart = performance.now();
      },
    }) : undefined;
    if (history?.stoppedEpoch !== undefined) {
      progress?.finish();
      out.write(`early stopping after epoch ${history.stoppedEpoch + 1}: ${watched.name} loss had not improved for ${config.earlyStopping} epoch(s); ` +
        `restored the weights of epoch ${history.bestEpoch! + 1}\n`);
    }
    const final = await figures(net, data.test, regression);
    out.write(`final ${held} ${regression ? `MAE ${final.metric.toPrecision(4)}` : `accuracy ${percent(final.metric)}`} ` +
      `(${held} loss ${final.loss.toPrecision(4)}) · training ${seconds(trainingMs)}, total ${seconds(performance.now() - started)}\n`);
    if (config.save) {
      const bytes = await net.save({ optimizerState: true });
      writeOutput(config.save, bytes);
      out.write(`saved    ${config.save} (${count(bytes.length)} bytes, with the optimizer state)\n`);
    }
    if (config.onnx) {
      const bytes = await net.toOnnx();
      writeOutput(config.onnx, bytes);
      out.write(`onnx     ${config.onnx} (${count(bytes.length)} bytes: input 'input' [batch, ${net.plan.inputSize}], ` +
        `output 'output' [batch, ${net.plan.outputSize}], opset ${ONNX_DEFAULT_OPSET})\n`);
    }
  } finally {
    net.dispose();
  }
}

function writeOutput(file: string, bytes: Uint8Array): void {
  try {
    writeFileSync(file, bytes);
  } catch (error) {
    throw new DataFileError(`${file}: cannot be written (${(error as Error).message})`);
  }
}

function describeDevice(info: DeviceInfo): string {
  return [info.backend, info.reason, info.description].filter(Boolean).join(' · ');
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (fraction: number) => `${(fraction * 100).toFixed(2)}%`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

process.exitCode = await main(process.argv.slice(2));

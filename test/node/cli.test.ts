import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/data/random.js';
import { ACTIVATIONS, CliError, DEFAULTS, NORMALIZATIONS, OPTIMIZERS, parseTrainArgs, type TrainConfig } from '../../src/cli/args.js';
import { LOSS_NAMES } from '../../src/ops/index.js';
import { fromOnnx } from '../../src/index.js';
import { expectClose, ortRun } from '../support/onnx.js';

function config(...argv: string[]): TrainConfig {
  const command = parseTrainArgs(argv);
  if (command.help) throw new Error('expected a training command, got help');
  return command.config;
}

function parseError(...argv: string[]): CliError {
  try {
    parseTrainArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return error as CliError;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

describe('parseTrainArgs', () => {
  it('defaults to MNIST with its tuned network', () => {
    expect(config()).toEqual({
      dataset: 'mnist',
      backend: 'auto',
      epochs: DEFAULTS.mnist.epochs,
      batchSize: DEFAULTS.mnist.batchSize,
      hidden: DEFAULTS.mnist.hidden,
      activation: DEFAULTS.mnist.activation,
      optimizer: 'adam',
      learningRate: DEFAULTS.mnist.learningRate.adam,
      dropout: 0.2,
      seed: 1,
    });
  });

  it('takes the defaults of the chosen dataset', () => {
    for (const dataset of ['mnist-small', 'iris', 'xor'] as const) {
      const d = DEFAULTS[dataset];
      expect(config('--dataset', dataset)).toMatchObject({
        dataset, epochs: d.epochs, batchSize: d.batchSize, hidden: d.hidden, activation: d.activation,
        optimizer: d.optimizer, learningRate: d.learningRate[d.optimizer],
      });
    }
  });

  it('reads every flag, in both --flag value and --flag=value forms', () => {
    expect(config(
      '--dataset', 'iris', '--backend', 'cpu', '--epochs', '7', '--batch=32', '--layers', '64,32,16',
      '--activation', 'leakyRelu', '--optimizer', 'momentum', '--lr', '2.5e-3', '--seed=42',
    )).toEqual({
      dataset: 'iris', backend: 'cpu', epochs: 7, batchSize: 32, hidden: [64, 32, 16],
      activation: 'leakyRelu', optimizer: 'momentum', learningRate: 0.0025, seed: 42,
    });
    for (const backend of ['auto', 'webgpu', 'cpu', 'reference']) expect(config('--backend', backend).backend).toBe(backend);
    for (const activation of ACTIVATIONS) expect(config('--activation', activation).activation).toBe(activation);
    expect(config('--lr', '.5').learningRate).toBe(0.5);
    expect(config('--clip-norm', '2.5').clipNorm).toBe(2.5);
    expect(config('--lr-schedule', 'cosine:5000').lrSchedule).toEqual({ type: 'cosine', decaySteps: 5000, warmupSteps: 0 });
    expect(config('--lr-schedule', 'cosine:5000:500').lrSchedule).toEqual({ type: 'cosine', decaySteps: 5000, warmupSteps: 500 });
    expect(config('--lr-schedule', 'exponential:0.5:1000').lrSchedule).toEqual({ type: 'exponential', decayRate: 0.5, decaySteps: 1000 });
    expect(config().lrSchedule).toBeUndefined();
    expect(config().clipNorm).toBeUndefined();
    for (const normalization of NORMALIZATIONS) expect(config('--normalization', normalization).normalization).toBe(normalization);
    expect(config('--dropout', '0.25').dropout).toBe(0.25);
    expect(config('--dropout', '0').dropout).toBe(0);
    expect([config().normalization, config('--dataset', 'iris').dropout]).toEqual([undefined, undefined]);
    expect(config('--seed', '0').seed).toBe(0);
    // Every loss of the table; none given leaves the dataset's choice (networkSpec).
    for (const loss of LOSS_NAMES) expect(config('--loss', loss).loss).toBe(loss);
    expect(config().loss).toBeUndefined();
  });

  it('reads --data and its flags, --save and --load (where --epochs 0 only evaluates)', () => {
    expect(config('--data', 'houses.csv', '--target', 'price,rooms', '--task', 'regression', '--validation-split', '0.25', '--save', 'm.wgbp')).toMatchObject({
      dataset: 'table', data: { file: 'houses.csv', target: ['price', 'rooms'], task: 'regression', validationSplit: 0.25 }, save: 'm.wgbp',
      epochs: DEFAULTS.table.epochs, hidden: DEFAULTS.table.hidden,
    });
    expect(config('--data', 'houses.csv').data).toEqual({ file: 'houses.csv', validationSplit: 0.2 });
    expect(config('--load', 'm.wgbp', '--epochs', '0')).toMatchObject({ load: 'm.wgbp', epochs: 0 });
    expect(config('--onnx', 'out.onnx')).toMatchObject({ onnx: 'out.onnx' });
    // An ONNX file fixes the layers only: the optimizer, rate, loss and seed are the flags'.
    expect(config('--load', 'm.ONNX', '--optimizer', 'sgd', '--lr', '0.01', '--loss', 'huber', '--seed', '3'))
      .toMatchObject({ load: 'm.ONNX', optimizer: 'sgd', learningRate: 0.01, loss: 'huber', seed: 3 });
  });

  it("uses the optimizer's own default learning rate when --lr is absent", () => {
    expect(config('--optimizer', 'sgd').learningRate).toBe(DEFAULTS.mnist.learningRate.sgd);
    expect(config('--optimizer', 'sgd', '--lr', '0.3').learningRate).toBe(0.3);
  });

  it('recognises --help and -h', () => {
    expect(parseTrainArgs(['--help'])).toEqual({ help: true });
    expect(parseTrainArgs(['--epochs', '3', '-h'])).toEqual({ help: true });
  });

  it.each([
    [['--epochs', 'ten'], /--epochs must be a positive integer, got "ten"/],
    [['--epochs', '0'], /--epochs must be a positive integer, got "0"/],
    [['--epochs', '-3'], /--epochs must be a positive integer, got "-3"/],
    [['--epochs', '2.5'], /--epochs must be a positive integer, got "2.5"/],
    [['--batch', '0'], /--batch must be a positive integer, got "0"/],
    [['--batch', '1e3'], /--batch must be a positive integer, got "1e3"/],
    [['--layers', '256,,128'], /--layers must be comma-separated positive integers .*, got "256,,128"/],
    [['--layers', '256,0'], /--layers must be comma-separated positive integers .*, got "256,0"/],
    [['--layers', 'wide'], /--layers must be comma-separated positive integers .*, got "wide"/],
    [['--lr', 'fast'], /--lr must be a positive number, got "fast"/],
    [['--lr', '0'], /--lr must be a positive number, got "0"/],
    [['--lr', '-0.1'], /--lr must be a positive number, got "-0.1"/],
    [['--lr', 'Infinity'], /--lr must be a positive number, got "Infinity"/],
    ...['cosine', 'cosine:0', 'cosine:10:-1', 'cosine:1.5', 'cosine:10:2:3', 'exponential:0.5', 'exponential:0:10', 'linear:10']
      .map((text): [string[], RegExp] => [['--lr-schedule', text], new RegExp(`--lr-schedule must be cosine:DECAY_STEPS\\[:WARMUP_STEPS\\] or exponential:RATE:STEPS.*, got "${text}"`)]),
    [['--load', 'm.wgbp', '--lr-schedule', 'cosine:10'], /--lr-schedule cannot change a --load network/],
    [['--seed', '-1'], /--seed must be an integer from 0 to 4294967295, got "-1"/],
    [['--seed', '4294967296'], /--seed must be an integer from 0 to 4294967295, got "4294967296"/],
    [['--dataset', 'cifar'], /--dataset must be one of mnist, mnist-small, iris, xor, got "cifar"/],
    [['--data', 'a.csv', '--dataset', 'iris'], /--data and --dataset exclude each other/],
    [['--target', 'price'], /--target needs --data/],
    [['--task', 'regression'], /--task needs --data/],
    [['--data', 'a.csv', '--task', 'ranking'], /--task must be one of classification, regression, got "ranking"/],
    [['--data', 'a.csv', '--target', 'a,,b'], /--target must be comma-separated column names or indices/],
    [['--data', 'a.csv', '--validation-split', '1'], /--validation-split must be a number between 0 and 1, got "1"/],
    [['--data', ''], /--data must be a file name/],
    [['--load', 'm.wgbp', '--layers', '8'], /--layers cannot change a --load network/],
    [['--load', 'm.onnx', '--activation', 'tanh'], /--activation cannot change a --load network: its layers come from the ONNX file/],
    [['--onnx', ' '], /--onnx must be a file name/],
    [['--load', 'm.wgbp', '--lr', '0.1'], /--lr cannot change a --load network/],
    [['--load', 'm.wgbp', '--epochs', '-1'], /--epochs must be a non-negative integer, got "-1"/],
    [['--backend', 'cuda'], /--backend must be one of auto, webgpu, cpu, reference, got "cuda"/],
    // The lists come from the op tables (src/ops/).
    [['--optimizer', 'lbfgs'], new RegExp(`--optimizer must be one of ${OPTIMIZERS.join(', ')}, got "lbfgs"`)],
    [['--activation', 'mish'], new RegExp(`--activation must be one of ${ACTIVATIONS.join(', ')}, got "mish"`)],
    [['--loss', 'hinge'], new RegExp(`--loss must be one of ${LOSS_NAMES.join(', ')}, got "hinge"`)],
    [['--clip-norm', '0'], /--clip-norm must be a positive number, got "0"/],
    [['--clip-norm', 'big'], /--clip-norm must be a positive number, got "big"/],
    [['--normalization', 'groupNormalization'], /--normalization must be one of layerNormalization, batchNormalization, got "groupNormalization"/],
    [['--dropout', '1'], /--dropout must be a number in \[0, 1\), got "1"/],
    [['--dropout', '-0.1'], /--dropout must be a number in \[0, 1\), got "-0.1"/],
    [['--epochs'], /--epochs needs a value/],
    [['--help=yes'], /--help takes no value/],
    [['--bogus'], /unknown flag --bogus/],
    [['-x'], /unknown flag -x/],
    [['mnist'], /unexpected argument "mnist"/],
  ])('refuses %j', (argv, message) => {
    expect(parseError(...argv).message).toMatch(message);
  });
});

const run = promisify(execFile);

/** Runs the trainer as `npm run train` does; resolves with its exit code and output. */
async function train(...argv: string[]) {
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'src/cli/train.ts', ...argv], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('train command', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'train-cli-'));
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));
  /** Writes `text` to a file of the temporary folder; returns its path. */
  const file = async (name: string, text: string) => {
    const at = path.join(folder, name);
    await writeFile(at, text);
    return at;
  };
  // A table whose class is the sign of a·b (XOR of the signs), with a third, irrelevant column on another scale.
  const random = mulberry32(5);
  const rows = Array.from({ length: 240 }, () => [random() * 2 - 1, random() * 2 - 1, random() * 100]);
  const classesCsv = ['a,b,noise,label', ...rows.map(([a, b, noise]) => `${a!.toFixed(4)},${b!.toFixed(4)},${noise!.toFixed(2)},${a! * b! > 0 ? 'same' : 'opposite'}`)].join('\n');
  const regressionCsv = ['x1,"x 2",y', ...rows.map(([a, b]) => `${a!.toFixed(4)},${b!.toFixed(4)},${(a! * a! + 0.5 * b!).toFixed(4)}`)].join('\n');

  it('trains on a CSV table of two classes (--data): standardized, binary cross-entropy, a validation split', async () => {
    const { code, stdout } = await train('--data', await file('signs.csv', classesCsv), '--backend', 'cpu', '--epochs', '60');
    expect(code).toBe(0);
    expect(stdout).toMatch(/3 → 64 relu → 32 relu → 1 sigmoid · binaryCrossEntropy/);
    expect(stdout).toMatch(/signs\.csv: 192 train \/ 48 validation rows · 2 classes/);
    expect(stdout).toMatch(/epoch +\d+\/60 +loss [\d.e-]+ +val loss [\d.e-]+ +val accuracy [\d.]+%/);
    const accuracy = Number(/final validation accuracy ([\d.]+)%/.exec(stdout)![1]);
    expect(accuracy).toBeGreaterThan(85);
  });

  it('trains a regression (--task inferred), saves it (--save), and evaluates the loaded file to the same figures (--load, --epochs 0)', async () => {
    const table = await file('square.csv', regressionCsv);
    const model = path.join(folder, 'square.wgbp');
    const trained = await train('--data', table, '--backend', 'cpu', '--epochs', '40', '--save', model);
    expect(trained.code).toBe(0);
    expect(trained.stdout).toMatch(/2 → 64 relu → 32 relu → 1 linear · mse/);
    expect(trained.stdout).toMatch(/· regression/);
    expect(trained.stdout).toMatch(/val MAE [\d.e-]+/);
    expect(trained.stdout).toMatch(/saved +.*square\.wgbp/);
    const mae = Number(/final validation MAE ([\d.e-]+)/.exec(trained.stdout)![1]);
    // y spans about [-1, 5]; predicting its mean would leave an MAE near 0.9.
    expect(mae).toBeLessThan(0.25);
    const loaded = await train('--data', table, '--backend', 'cpu', '--load', model, '--epochs', '0');
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toMatch(/from .*square\.wgbp · mse · adam/);
    expect(/final validation MAE ([\d.e-]+)/.exec(loaded.stdout)![1]).toBe(String(mae));
  });

  it('writes the trained network as ONNX (--onnx), which ONNX Runtime runs as the network predicts, and starts from it (--load x.onnx)', async () => {
    const table = await file('square-onnx.csv', regressionCsv);
    const onnx = path.join(folder, 'square.onnx');
    const trained = await train('--data', table, '--backend', 'cpu', '--epochs', '40', '--onnx', onnx);
    expect(trained.code).toBe(0);
    expect(trained.stdout).toMatch(/onnx +.*square\.onnx \([\d,]+ bytes: input 'input' \[batch, 2\], output 'output' \[batch, 1\], opset 17\)/);
    const bytes = new Uint8Array(await readFile(onnx));
    // The table's features are standardized: the file takes them raw (the statistics are folded into its first Gemm).
    const x = Float32Array.from(rows.slice(0, 8).flatMap(([a, b]) => [Number(a!.toFixed(4)), Number(b!.toFixed(4))]));
    const net = await fromOnnx(bytes, { backend: 'cpu' });
    expectClose(await ortRun(bytes, x, [8, 2]), await net.predict(x), 1e-5, 'ONNX Runtime vs the imported network');
    net.dispose();
    // Evaluated from the file, the same validation MAE (to float32 rounding of the folded statistics).
    const mae = Number(/final validation MAE ([\d.e-]+)/.exec(trained.stdout)![1]);
    const loaded = await train('--data', table, '--backend', 'cpu', '--load', onnx, '--epochs', '0');
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toMatch(/from .*square\.onnx · mse · adam/);
    expect(Math.abs(Number(/final validation MAE ([\d.e-]+)/.exec(loaded.stdout)![1]) - mae)).toBeLessThan(1e-4);
    // And trains on from it with the flags' optimizer.
    const further = await train('--data', table, '--backend', 'cpu', '--load', onnx, '--epochs', '3', '--optimizer', 'sgd', '--lr', '0.01');
    expect(further.code).toBe(0);
    expect(further.stdout).toMatch(/from .*square\.onnx · mse · sgd/);
    expect(further.stdout).toMatch(/epoch 3\/3/);
  });

  it('exits with code 1 and names the problem for a damaged ONNX file', async () => {
    const { code, stdout, stderr } = await train('--data', await file('any.csv', regressionCsv), '--backend', 'cpu',
      '--load', await file('broken.onnx', 'not a model'), '--epochs', '1');
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^train: ONNX: model: /);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    ['a missing file', 'absent.csv', undefined, /absent\.csv: no such file/],
    ['a ragged row', 'ragged.csv', 'a,b,label\n1,2,x\n3,4\n5,6,y', /ragged\.csv: line 3 has 2 cell\(s\) where the header has 3 columns/],
    ['a non-numeric cell', 'words.csv', 'a,b,label\n1,2,x\n3,four,y\n5,6,x', /words\.csv: line 3, column "b": "four" is not a number/],
    ['an empty cell', 'empty.csv', 'a,b,label\n1,,x\n3,4,y', /empty\.csv: line 2, column "b": an empty cell is not a number/],
    ['no header row', 'numbers.csv', '1,2,3\n4,5,6', /numbers\.csv: the first row must name the columns; its column 1 is the number 1/],
    ['an unknown target column', 'signs2.csv', 'a,b,label\n1,2,x\n3,4,y', /no column "price"; the columns are a, b, label/, ['--target', 'price']],
    ['one class only', 'one.csv', 'a,b,label\n1,2,x\n3,4,x', /the target column "label" holds one class \(x\)/],
    ['a broken quote', 'quote.csv', 'a,b,label\n1,"2,x\n3,4,y', /quote\.csv: not a CSV table/],
    ['JSON that is not an array of rows', 'rows.json', '{"a": 1}', /rows\.json: a JSON table is a non-empty array of objects/],
    ['a JSON row without a column', 'short.json', '[{"a": 1, "y": 0}, {"y": 1}]', /short\.json: element 1 has no "a"/],
    ['another extension', 'table.xlsx', 'a,b', /table\.xlsx: the file name must end in \.csv or \.json/],
  ])('exits with code 1 and names the problem for %s', async (_name, name, text, message, extra: string[] = []) => {
    const at = text === undefined ? path.join(folder, name) : await file(name, text);
    const { code, stdout, stderr } = await train('--data', at, '--backend', 'cpu', '--epochs', '1', ...extra);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('stops early on the validation loss and keeps the best epoch (--early-stopping)', async () => {
    // 400 epochs of a 64-32 network on 192 rows overfit long before the end: the validation loss turns.
    const { code, stdout } = await train('--data', await file('early.csv', classesCsv), '--backend', 'cpu', '--epochs', '400', '--early-stopping', '5');
    expect(code).toBe(0);
    const stopped = /early stopping after epoch (\d+): val loss had not improved for 5 epoch\(s\)/.exec(stdout);
    expect(stopped).not.toBeNull();
    expect(Number(stopped![1])).toBeLessThan(400);
    expect(stdout).toMatch(/final validation accuracy [\d.]+%/);
  });

  it('trains on a JSON table of three classes', async () => {
    const json = JSON.stringify(rows.map(([a, b]) => ({ a, b, kind: a! > 0.3 ? 'high' : a! < -0.3 ? 'low' : 'middle' })));
    const { code, stdout } = await train('--data', await file('kinds.json', json), '--backend', 'cpu', '--epochs', '40');
    expect(code).toBe(0);
    expect(stdout).toMatch(/2 → 64 relu → 32 relu → 3 softmax · softmaxCrossEntropy/);
    expect(Number(/final validation accuracy ([\d.]+)%/.exec(stdout)![1])).toBeGreaterThan(85);
  });

  it('learns XOR on the CPU backend', async () => {
    const { code, stdout } = await train('--dataset', 'xor', '--backend', 'cpu');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^backend +cpu/);
    expect(lines[1]).toMatch(/2 → 8 tanh → 1 sigmoid/);
    expect(lines[2]).toMatch(/xor: 4 train \/ 4 test rows · 2 classes/);
    expect(stdout).toMatch(/epoch +\d+\/\d+ +loss [\d.e-]+ +test loss [\d.e-]+ +test accuracy [\d.]+% +[\d,]+ examples\/s/);
    expect(lines.at(-1)).toMatch(/^final test accuracy 100\.00%/);
  });

  it('trains XOR with binaryCrossEntropy on class labels (--loss), the sigmoid folded into the loss', async () => {
    const { code, stdout } = await train('--dataset', 'xor', '--backend', 'cpu', '--loss', 'binaryCrossEntropy');
    expect(code).toBe(0);
    expect(stdout).toMatch(/2 → 8 tanh → 1 sigmoid · binaryCrossEntropy/);
    expect(stdout.trim().split('\n').at(-1)).toMatch(/^final test accuracy 100\.00%/);
  });

  it('trains iris with layer normalization and dropout between the hidden layers (--normalization, --dropout)', async () => {
    const { code, stdout } = await train('--dataset', 'iris', '--backend', 'cpu', '--layers', '16,16', '--normalization', 'layerNormalization',
      '--dropout', '0.1', '--epochs', '60');
    expect(code).toBe(0);
    expect(stdout).toMatch(/4 → 16 layerNormalization relu dropout 0\.1 → 16 layerNormalization relu dropout 0\.1 → 3 softmax/);
    const accuracy = Number(/final test accuracy ([\d.]+)%/.exec(stdout)![1]);
    expect(accuracy).toBeGreaterThan(85);
  });

  it('exits with code 1 and the engine\'s message for softmaxCrossEntropy on one output', async () => {
    const { code, stderr } = await train('--dataset', 'xor', '--backend', 'cpu', '--loss', 'softmaxCrossEntropy');
    expect(code).toBe(1);
    expect(stderr).toMatch(/at least 2 output units.*binaryCrossEntropy/);
  });

  it('exits with code 2 and names the flag on a bad command line', async () => {
    const { code, stdout, stderr } = await train('--bogus');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/unknown flag --bogus/);
    expect(stderr).toMatch(/--help/);
  });

  it('exits with code 1 and the message when the engine refuses', async () => {
    // 2^31 units cannot be allocated: the engine refuses the spec with a BackpropError.
    const { code, stderr } = await train('--dataset', 'xor', '--backend', 'cpu', '--layers', String(2 ** 31));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^train: /);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

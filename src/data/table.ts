import path from 'node:path';
import { CsvError } from 'csv-parse';
import { parse } from 'csv-parse/sync';
import { DataFileError } from '../errors.js';
import { takeRows, type Dataset, type DataSplit } from './datasets.js';
import { readDataFile } from './idx.js';
import { mulberry32, shuffleInto } from './random.js';

/*
 * A user's own table for the trainer's `--data`: a CSV file (a header row of column names, then one
 * row per example; commas, optional quotes) or a JSON file (an array of objects with the same keys).
 * Every cell of a feature column is a number; the target column(s) hold numbers (a regression) or
 * class names (classification). What it is, and which rows are held out for validation, is decided
 * here; the trainer standardizes the features.
 */

export type Task = 'classification' | 'regression';
export const TASKS: readonly Task[] = ['classification', 'regression'];

export interface TableOptions {
  /** The target column(s), by name or 0-based index; default the last column. */
  target?: string[];
  /** Default: classification for one target column whose values are not all numbers, or are all small integers (at most MAX_INFERRED_CLASSES distinct); else regression. */
  task?: Task;
  /** The share of rows held out for validation, chosen by `seed`. Default 0.2. */
  validationSplit?: number;
  seed?: number;
}

/** At most this many distinct integer values in one target column make it classes rather than a quantity. */
export const MAX_INFERRED_CLASSES = 20;

/** A table read into a column-named grid of cells, before any column is given a role. */
interface Grid {
  columns: string[];
  /** Cells by row. */
  cells: string[][];
  /** How a row is named in messages: 'line 7' of the file (CSV, the header being line 1) or 'element 5' (JSON). */
  rowName: (row: number) => string;
}

/** Reads `file` (.csv or .json) as a dataset; every problem is a DataFileError naming the file, row and column. */
export function loadTable(file: string, options: TableOptions = {}): Dataset {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(readDataFile(file));
  const extension = path.extname(file).toLowerCase();
  const grid = extension === '.json' ? jsonGrid(text, file) : extension === '.csv' ? csvGrid(text, file) : undefined;
  if (!grid) throw new DataFileError(`${file}: the file name must end in .csv or .json`);
  if (grid.cells.length < 2) throw new DataFileError(`${file}: ${grid.cells.length} data row(s); training needs at least 2`);
  if (grid.columns.length < 2) throw new DataFileError(`${file}: one column; a table needs at least one feature and one target column`);

  const targets = targetColumns(grid, options.target, file);
  const features = grid.columns.map((_, c) => c).filter((c) => !targets.includes(c));
  if (features.length === 0) throw new DataFileError(`${file}: every column is a target; at least one must be a feature`);
  const rows = grid.cells.length;
  const x = new Float32Array(rows * features.length);
  grid.cells.forEach((row, r) => features.forEach((c, j) => (x[r * features.length + j] = number(grid, r, c, file))));

  const task = options.task ?? inferTask(grid, targets);
  let outputSize: number;
  let classes: string[] = [];
  let y: Float32Array;
  if (task === 'classification') {
    if (targets.length !== 1) throw new DataFileError(`${file}: classification takes one target column, got ${targets.length} (${targets.map((c) => grid.columns[c]).join(', ')})`);
    const target = targets[0]!;
    classes = [...new Set(grid.cells.map((row) => row[target]!))].sort(compareClassNames);
    if (classes.length < 2) throw new DataFileError(`${file}: the target column "${grid.columns[target]}" holds one class (${classes[0]}); classification needs two or more`);
    // Two classes train one sigmoid output (0/1), more a softmax over one-hot rows.
    outputSize = classes.length === 2 ? 1 : classes.length;
    y = new Float32Array(rows * outputSize);
    grid.cells.forEach((row, r) => {
      const index = classes.indexOf(row[target]!);
      if (outputSize === 1) y[r] = index;
      else y[r * outputSize + index] = 1;
    });
  } else {
    outputSize = targets.length;
    y = new Float32Array(rows * outputSize);
    grid.cells.forEach((_, r) => targets.forEach((c, j) => (y[r * outputSize + j] = number(grid, r, c, file))));
  }

  const { train, validation } = holdOut(x, y, features.length, outputSize, rows, options.validationSplit ?? 0.2, options.seed ?? 1, file);
  return {
    name: path.basename(file), inputSize: features.length, outputSize, classes, train, validation,
    // No test set of its own: the validation rows stand in for it in the final figures.
    test: validation,
  };
}

/** Parses a CSV table; the first row names the columns. */
function csvGrid(text: string, file: string): Grid {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, trim: true, skip_empty_lines: true, info: true, relax_column_count: true }) as unknown as typeof records;
  } catch (error) {
    if (error instanceof CsvError) throw new DataFileError(`${file}: not a CSV table: ${error.message}`);
    throw error;
  }
  if (records.length === 0) throw new DataFileError(`${file}: empty`);
  const [header, ...rows] = records;
  const columns = header!.record;
  columns.forEach((name, c) => {
    if (name === '') throw new DataFileError(`${file}: column ${c + 1} of the header row has no name`);
    if (isNumber(name)) throw new DataFileError(`${file}: the first row must name the columns; its column ${c + 1} is the number ${name}`);
  });
  const repeated = columns.find((name, c) => columns.indexOf(name) !== c);
  if (repeated !== undefined) throw new DataFileError(`${file}: the header names the column "${repeated}" twice`);
  for (const { record, info } of rows) {
    if (record.length !== columns.length) {
      throw new DataFileError(`${file}: line ${info.lines} has ${record.length} cell(s) where the header has ${columns.length} columns`);
    }
  }
  return { columns, cells: rows.map((row) => row.record), rowName: (r) => `line ${rows[r]!.info.lines}` };
}

/** Parses a JSON table: an array of objects, each with the keys of the first. */
function jsonGrid(text: string, file: string): Grid {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataFileError(`${file}: not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value) || value.length === 0) throw new DataFileError(`${file}: a JSON table is a non-empty array of objects, one per row`);
  const isRecord = (item: unknown): item is Record<string, unknown> => typeof item === 'object' && item !== null && !Array.isArray(item);
  const first = value[0];
  if (!isRecord(first)) throw new DataFileError(`${file}: element 0 is not an object of column values`);
  const columns = Object.keys(first);
  const cells = value.map((item, r) => {
    if (!isRecord(item)) throw new DataFileError(`${file}: element ${r} is not an object of column values`);
    const keys = Object.keys(item);
    const missing = columns.find((name) => !Object.hasOwn(item, name));
    if (missing !== undefined) throw new DataFileError(`${file}: element ${r} has no "${missing}"`);
    if (keys.length !== columns.length) throw new DataFileError(`${file}: element ${r} has ${keys.length} keys where element 0 has ${columns.length}`);
    return columns.map((name) => {
      const cell = item[name];
      if (typeof cell === 'number' || typeof cell === 'string') return String(cell);
      throw new DataFileError(`${file}: element ${r}, column "${name}": ${cell === null ? 'null' : typeof cell}, not a number or a class name`);
    });
  });
  return { columns, cells, rowName: (r) => `element ${r}` };
}

function targetColumns(grid: Grid, target: string[] | undefined, file: string): number[] {
  if (target === undefined) return [grid.columns.length - 1];
  const indices = target.map((name) => {
    const byName = grid.columns.indexOf(name);
    if (byName >= 0) return byName;
    if (/^\d+$/.test(name) && Number(name) < grid.columns.length) return Number(name);
    throw new DataFileError(`${file}: no column "${name}"; the columns are ${grid.columns.join(', ')}`);
  });
  const repeated = indices.find((c, i) => indices.indexOf(c) !== i);
  if (repeated !== undefined) throw new DataFileError(`${file}: the target column "${grid.columns[repeated]}" is named twice`);
  return indices;
}

// A decimal number as people write them in tables; not '', 'NaN', 'Infinity', '0x1f' or '1,5'.
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const isNumber = (text: string) => NUMBER.test(text);

function number(grid: Grid, row: number, column: number, file: string): number {
  const cell = grid.cells[row]![column]!;
  const value = Number(cell);
  if (!isNumber(cell) || !Number.isFinite(Math.fround(value))) {
    const shown = cell === '' ? 'an empty cell' : JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
    throw new DataFileError(`${file}: ${grid.rowName(row)}, column "${grid.columns[column]}": ${shown} is not a number float32 holds`);
  }
  return value;
}

function inferTask(grid: Grid, targets: number[]): Task {
  if (targets.length !== 1) return 'regression';
  const values = grid.cells.map((row) => row[targets[0]!]!);
  if (!values.every(isNumber)) return 'classification';
  const distinct = new Set(values.map(Number));
  return [...distinct].every(Number.isInteger) && distinct.size <= MAX_INFERRED_CLASSES ? 'classification' : 'regression';
}

/** Class names in numeric order where they are numbers ('2' before '10'), else as text. */
function compareClassNames(a: string, b: string): number {
  return isNumber(a) && isNumber(b) ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0;
}

function holdOut(x: Float32Array, y: Float32Array, inputSize: number, outputSize: number, rows: number, share: number, seed: number, file: string) {
  const validationRows = Math.max(1, Math.round(rows * share));
  if (!(share > 0 && share < 1) || validationRows >= rows) {
    throw new DataFileError(`${file}: holding out ${share} of ${rows} rows for validation leaves none to train on`);
  }
  const order = shuffleInto(new Uint32Array(rows), mulberry32(seed));
  const take = (indices: Uint32Array): DataSplit =>
    ({ x: takeRows(x, inputSize, indices), y: takeRows(y, outputSize, indices), rows: indices.length });
  return { train: take(order.subarray(validationRows)), validation: take(order.subarray(0, validationRows)) };
}

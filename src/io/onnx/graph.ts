import { describeValue } from '../../ops/index.js';
import type { LayerSpec } from '../../spec.js';
import { ModelFileError } from '../../errors.js';
import { ATTRIBUTE_TYPE, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-proto.js';

/*
 * An ONNX graph as the importer reads it (import.ts): indexed by value (who writes it, who reads
 * it, which values are constants), its tensors and attributes checked against what the file holds,
 * and the activations exporters write as several nodes (SiLU, GELU) found by their formulas.
 */

/** The largest tensor dimension, and product of dimensions, a file may declare. */
export const MAX_DIM = 2 ** 31 - 1;

export const fail = (message: string): never => {
  throw new ModelFileError(`ONNX: ${message}`);
};

/** `node`'s name for messages: 'node 3 (Gemm "/0/Gemm")'. */
export const nodeName = (node: OnnxNode, index: number) => `node ${index} (${node.opType}${node.name ? ` ${JSON.stringify(node.name)}` : ''})`;

const ATTRIBUTE_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ATTRIBUTE_TYPE).map(([name, type]) => [type, name]));

/**
 * A node's attributes, each checked to be one `allowed` names with the type it gives; any other is
 * a ModelFileError naming it (an attribute we do not read would change what the node computes).
 */
export function attributesOf(node: OnnxNode, at: string, allowed: Readonly<Record<string, 'float' | 'int' | 'string' | 'tensor'>>): Map<string, OnnxAttribute> {
  const found = new Map<string, OnnxAttribute>();
  for (const attribute of node.attributes) {
    const type = allowed[attribute.name];
    if (type === undefined) {
      fail(`${at} has attribute ${JSON.stringify(attribute.name)}, which cannot be imported` +
        `${Object.keys(allowed).length > 0 ? ` (it may have ${Object.keys(allowed).join(', ')})` : ' (it may have none)'}`);
    }
    if (attribute.type !== ATTRIBUTE_TYPE[type!] || attribute.unread.length > 0) {
      fail(`${at}'s attribute ${attribute.name} is of type ${ATTRIBUTE_TYPE_NAMES[attribute.type] ?? attribute.type}, expected ${type}`);
    }
    if (found.has(attribute.name)) fail(`${at} has attribute ${attribute.name} twice`);
    found.set(attribute.name, attribute);
  }
  return found;
}

export const floatAttr = (attrs: Map<string, OnnxAttribute>, name: string, fallback: number) => attrs.get(name)?.f ?? fallback;
export const intAttr = (attrs: Map<string, OnnxAttribute>, name: string, fallback: number) => attrs.get(name)?.i ?? fallback;

/** Elements of a tensor of shape `dims`, refusing an absurd dimension before multiplying. */
export function elementCount(dims: readonly number[], what: string): number {
  let count = 1;
  for (const dim of dims) {
    if (!Number.isInteger(dim) || dim < 0 || dim > MAX_DIM) fail(`${what} has dimension ${dim}; expected an integer from 0 to ${MAX_DIM}`);
    count *= dim;
    if (count > MAX_DIM) fail(`${what} has dims [${dims.join(', ')}]: more than ${MAX_DIM} elements`);
  }
  return count;
}

/** Checks a tensor from the file: data present in the file, of a type we read, as many values as its dims say. */
function checkTensor(tensor: OnnxTensor, what: string): void {
  if (tensor.external) fail(`${what} keeps its data outside the file (external_data); save the model with its weights inside it`);
  if (tensor.unread.length > 0) fail(`${what} has ${tensor.unread.join(', ')}, which cannot be imported`);
  const count = elementCount(tensor.dims, what);
  const values = tensor.floats?.length ?? tensor.integers?.length;
  if (values === undefined) {
    fail(`${what} has data type ${tensor.dataType}; only float32 (1) tensors are read (int64 for a Reshape's shape, bool for a Dropout's training_mode)`);
  }
  if (values !== count) fail(`${what} has dims [${tensor.dims.join(', ')}] (${count} values) but holds ${values}`);
}

/** What the chain reads: an activation's nodes, or a layer's, between two values. */
interface Step {
  nodes: OnnxNode[];
  output: string;
}

type Pattern = 'x' | number | { op: string; args: Pattern[] };
const op = (name: string, ...args: Pattern[]): Pattern => ({ op: name, args });

/**
 * The activations an exporter writes as several nodes, as expression trees of `x`: a number is a
 * scalar constant. Mul and Add match in either operand order.
 */
const FORMULAS: { activation: LayerSpec; pattern: Pattern }[] = [
  { activation: { type: 'silu' }, pattern: op('Mul', 'x', op('Sigmoid', 'x')) },
  { activation: { type: 'gelu' }, pattern: op('Mul', op('Mul', 'x', op('Add', op('Erf', op('Div', 'x', Math.SQRT2)), 1)), 0.5) },
  {
    activation: { type: 'gelu', approximate: true },
    pattern: op('Mul', 0.5, op('Mul', 'x', op('Add', 1, op('Tanh',
      op('Mul', Math.sqrt(2 / Math.PI), op('Add', 'x', op('Mul', 0.044715, op('Mul', 'x', op('Mul', 'x', 'x'))))))))),
  },
];
const COMMUTATIVE = new Set(['Mul', 'Add']);

/** The graph, indexed: who makes each value, who reads it, the constants. */
export class GraphIndex {
  readonly producers = new Map<string, OnnxNode>();
  readonly consumers = new Map<string, OnnxNode[]>();
  readonly constants = new Map<string, OnnxTensor>();
  readonly index = new Map<OnnxNode, number>();

  constructor(readonly graph: OnnxGraph) {
    for (const tensor of graph.initializers) {
      checkTensor(tensor, `initializer ${JSON.stringify(tensor.name)}`);
      this.constants.set(tensor.name, tensor);
    }
    graph.nodes.forEach((node, i) => {
      const at = nodeName(node, i);
      this.index.set(node, i);
      if (node.domain !== '' && node.domain !== 'ai.onnx') fail(`${at} is of domain ${JSON.stringify(node.domain)}; only the default ONNX domain can be imported`);
      for (const output of node.outputs) {
        if (output === '') continue;
        if (this.producers.has(output) || this.constants.has(output)) fail(`${at} writes ${JSON.stringify(output)}, which another node or initializer already defines`);
        this.producers.set(output, node);
      }
      if (node.opType === 'Constant') {
        const attrs = attributesOf(node, at, { value: 'tensor' });
        const tensor = attrs.get('value')?.t ?? fail(`${at} has no value attribute`);
        checkTensor(tensor, `${at}'s value`);
        this.constants.set(node.outputs[0] ?? '', tensor);
        return;
      }
      for (const input of node.inputs) {
        if (input === '') continue;
        const list = this.consumers.get(input);
        if (list) list.push(node);
        else this.consumers.set(input, [node]);
      }
    });
  }

  name(node: OnnxNode): string {
    return nodeName(node, this.index.get(node)!);
  }

  /** The float32 constant `value` (an initializer or a Constant node's), checked finite; `what` names it in errors. */
  floats(value: string | undefined, at: string, what: string): Float32Array {
    const tensor = value === undefined || value === '' ? undefined : this.constants.get(value);
    if (!tensor) return fail(`${at}: ${what} (${describeValue(value)}) must be a float32 initializer or Constant`);
    if (!tensor.floats) return fail(`${at}: ${what} ${JSON.stringify(value)} has data type ${tensor.dataType}; only float32 (1) is read`);
    const bad = tensor.floats.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail(`${at}: ${what} ${JSON.stringify(value)}[${bad}] is ${tensor.floats[bad]}; expected a finite number`);
    return tensor.floats;
  }

  dims(value: string): number[] {
    return this.constants.get(value)!.dims;
  }

  /** The one value of a scalar (dims [] or [1]) float constant, or undefined. */
  scalar(value: string): number | undefined {
    const tensor = this.constants.get(value);
    return tensor?.floats?.length === 1 && tensor.dims.length <= 1 ? tensor.floats[0] : undefined;
  }

  /** The nodes reading `value`, a graph output counting as one more reader. */
  readers(value: string): number {
    return (this.consumers.get(value)?.length ?? 0) + (this.graph.outputs.some((o) => o.name === value) ? 1 : 0);
  }

  /** Fails when `node` has outputs past its first that some node reads (a Dropout's mask, a normalization's statistics). */
  onlyFirstOutput(node: OnnxNode): void {
    node.outputs.slice(1).forEach((output, i) => {
      if (output !== '' && this.readers(output) > 0) fail(`${this.name(node)}'s output ${i + 1} (${JSON.stringify(output)}) is read; only its first output can be imported`);
    });
  }

  /** The nodes of `pattern` with `root` at its top, reading `x` at its leaves, or undefined. */
  private match(node: OnnxNode, pattern: Pattern, x: string): OnnxNode[] | undefined {
    if (typeof pattern !== 'object' || node.opType !== pattern.op || node.inputs.length !== pattern.args.length || node.attributes.length > 0) return undefined;
    const orders = pattern.args.length === 2 && COMMUTATIVE.has(pattern.op) ? [[0, 1], [1, 0]] : [pattern.args.map((_, i) => i)];
    for (const order of orders) {
      const parts = pattern.args.map((arg, i) => this.matchValue(node.inputs[order[i]!]!, arg, x));
      if (parts.every((p) => p !== undefined)) return [node, ...parts.flat() as OnnxNode[]];
    }
    return undefined;
  }

  private matchValue(value: string, pattern: Pattern, x: string): OnnxNode[] | undefined {
    if (pattern === 'x') return value === x ? [] : undefined;
    if (typeof pattern === 'number') {
      const scalar = this.scalar(value);
      return scalar !== undefined && Math.abs(scalar - pattern) <= 1e-6 * Math.abs(pattern) ? [] : undefined;
    }
    const producer = this.producers.get(value);
    return producer ? this.match(producer, pattern, x) : undefined;
  }

  /**
   * An activation written as a formula (FORMULAS) of the value `x`, which several nodes read: the
   * formula whose nodes are exactly the readers of x and of every value inside it.
   */
  formula(x: string): { activation: LayerSpec; step: Step } | undefined {
    // Every node within a formula's depth of x, nearest first.
    const near: OnnxNode[] = [];
    let frontier = [x];
    for (let depth = 0; depth < 10 && frontier.length > 0; depth++) {
      const next: string[] = [];
      for (const value of frontier) {
        for (const node of this.consumers.get(value) ?? []) {
          if (near.includes(node)) continue;
          near.push(node);
          next.push(...node.outputs);
        }
      }
      frontier = next;
    }
    for (const root of near) {
      for (const { activation, pattern } of FORMULAS) {
        const nodes = this.match(root, pattern, x);
        if (!nodes) continue;
        const inside = new Set(nodes);
        const closed = [x, ...nodes.filter((n) => n !== root).map((n) => n.outputs[0]!)]
          .every((value) => (this.consumers.get(value) ?? []).every((reader) => inside.has(reader)) && this.readers(value) === (this.consumers.get(value)?.length ?? 0));
        if (closed && nodes.every((n) => n.outputs.length === 1)) return { activation, step: { nodes: [...inside], output: root.outputs[0]! } };
      }
    }
    return undefined;
  }
}


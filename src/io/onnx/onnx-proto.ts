import { ProtoReader, ProtoWriter, type Span } from './protobuf.js';

/*
 * The ONNX messages an MLP needs (onnx/onnx.proto, IR version 8), as plain objects, with their
 * encoding and a bounded decoding. Field numbers are the spec's; fields an MLP never has (sparse
 * tensors, sub-graphs, functions, training info, external data) are not decoded but counted, so
 * the import can refuse a file that has them by name instead of ignoring what it does not read.
 */

/** TensorProto.DataType values the exporter and importer meet. */
export const DATA_TYPE = { float: 1, int64: 7, bool: 9 } as const;

/** AttributeProto.AttributeType values. */
export const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** FLOAT values from float_data or raw_data; absent for other types. */
  floats?: Float32Array;
  /** INT64 values (int64_data or raw_data) and BOOL ones as 0 or 1 (int32_data or raw_data); absent for other types. */
  integers?: number[];
  /** Set when the tensor's data lives outside the file (data_location EXTERNAL, external_data entries). */
  external: boolean;
  /** Fields of the tensor the reader does not decode (segment, string_data, int32/double/uint64 data), by name. */
  unread: string[];
}

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: string;
  t?: OnnxTensor;
  floats: number[];
  ints: number[];
  /** Set for an attribute holding a sub-graph, sparse tensor, type proto or lists of them: an MLP's never do. */
  unread: string[];
}

export interface OnnxNode {
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  attributes: OnnxAttribute[];
}

/** A graph input or output: its element type and shape, each dimension a size, a symbolic name, or unknown. */
export interface OnnxValueInfo {
  name: string;
  elemType?: number;
  /** Absent when the value has no shape; a dimension is a number (dim_value), a string (dim_param) or undefined. */
  dims?: (number | string | undefined)[];
  /** Set when the type is not a tensor (a sequence, a map, an optional, a sparse tensor). */
  notTensor: boolean;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** How many sparse initializers the graph has (never decoded). */
  sparseInitializers: number;
}

export interface OnnxModel {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  docString: string;
  graph?: OnnxGraph;
  /** How many local functions and training-info entries the model has (never decoded). */
  functions: number;
  trainingInfo: number;
}

/*
 * Encoding: what the exporter writes (float32 tensors as raw_data, little-endian as the spec stores
 * them; int, float, string and tensor attributes; tensor-typed value infos), and, so the tests can
 * build the files the importer must refuse, int64 and bool tensors, data_location EXTERNAL, and
 * empty entries for the counted fields.
 */

/** Whether this machine stores floats little-endian, as raw_data does: then the bytes are copied as they are. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function writeTensor(w: ProtoWriter, tensor: OnnxTensor): void {
  for (const dim of tensor.dims) w.int(1, dim);
  w.int(2, tensor.dataType);
  w.string(8, tensor.name);
  if (tensor.floats) {
    const { floats } = tensor;
    const raw = LITTLE_ENDIAN ? new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength) : new Uint8Array(floats.length * 4);
    if (!LITTLE_ENDIAN) floats.forEach((value, i) => new DataView(raw.buffer).setFloat32(i * 4, value, true));
    w.bytes(9, raw);
  }
  if (tensor.integers) {
    const int64 = tensor.dataType === DATA_TYPE.int64;
    const raw = new Uint8Array(tensor.integers.length * (int64 ? 8 : 1));
    const view = new DataView(raw.buffer);
    tensor.integers.forEach((value, i) => (int64 ? view.setBigInt64(i * 8, BigInt(value), true) : view.setUint8(i, value)));
    w.bytes(9, raw);
  }
  if (tensor.external) w.int(14, 1);
}

function writeAttribute(w: ProtoWriter, attribute: OnnxAttribute): void {
  w.string(1, attribute.name);
  w.int(20, attribute.type);
  if (attribute.f !== undefined) w.float(2, attribute.f);
  if (attribute.i !== undefined) w.int(3, attribute.i);
  if (attribute.s !== undefined) w.string(4, attribute.s);
  if (attribute.t !== undefined) w.message(5, (inner) => writeTensor(inner, attribute.t!));
  for (const value of attribute.floats) w.float(7, value);
  for (const value of attribute.ints) w.int(8, value);
}

function writeNode(w: ProtoWriter, node: OnnxNode): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name);
  w.string(4, node.opType);
  if (node.domain !== '') w.string(7, node.domain);
  for (const attribute of node.attributes) w.message(5, (inner) => writeAttribute(inner, attribute));
}

function writeValueInfo(w: ProtoWriter, info: OnnxValueInfo): void {
  w.string(1, info.name);
  // TypeProto.tensor_type { elem_type, shape { dim { dim_value | dim_param } } }
  w.message(2, (type) => type.message(1, (tensor) => {
    tensor.int(1, info.elemType ?? DATA_TYPE.float);
    if (info.dims) {
      tensor.message(2, (shape) => {
        for (const dim of info.dims!) {
          shape.message(1, (d) => {
            if (typeof dim === 'number') d.int(1, dim);
            else if (typeof dim === 'string') d.string(2, dim);
          });
        }
      });
    }
  }));
}

function writeGraph(w: ProtoWriter, graph: OnnxGraph): void {
  for (const node of graph.nodes) w.message(1, (inner) => writeNode(inner, node));
  w.string(2, graph.name);
  for (const tensor of graph.initializers) w.message(5, (inner) => writeTensor(inner, tensor));
  for (const input of graph.inputs) w.message(11, (inner) => writeValueInfo(inner, input));
  for (const output of graph.outputs) w.message(12, (inner) => writeValueInfo(inner, output));
  for (let i = 0; i < graph.sparseInitializers; i++) w.message(15, () => {});
}

export function encodeModel(model: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, model.irVersion);
  w.string(2, model.producerName);
  w.string(3, model.producerVersion);
  if (model.docString !== '') w.string(6, model.docString);
  if (model.graph) w.message(7, (inner) => writeGraph(inner, model.graph!));
  for (const opset of model.opsets) {
    w.message(8, (inner) => {
      if (opset.domain !== '') inner.string(1, opset.domain);
      inner.int(2, opset.version);
    });
  }
  for (let i = 0; i < model.trainingInfo; i++) w.message(20, () => {});
  for (let i = 0; i < model.functions; i++) w.message(25, () => {});
  return w.finish();
}

/*
 * Decoding. Every repeated field grows by one entry per occurrence in the file, and each
 * occurrence takes at least two bytes (a tag and a length or value), so no list outgrows the
 * file; tensor data is decoded from bytes that are there (raw_data's length, float_data's count),
 * never from dims, which the importer compares with the data afterwards.
 */

const sub = (r: ProtoReader, field: number, wire: number, what: string): ProtoReader => ProtoReader.of(r.bytes, r.span(field, wire), what);

function readTensor(r: ProtoReader): OnnxTensor {
  const tensor: OnnxTensor = { name: '', dims: [], dataType: 0, external: false, unread: [] };
  let raw: Span | undefined;
  const floatData: number[] = [];
  const int64Data: number[] = [];
  const int32Data: number[] = [];
  r.forEach((field, wire) => {
    switch (field) {
      case 1: r.ints(field, wire, tensor.dims); break;
      case 2: tensor.dataType = r.int(field, wire); break;
      case 4: r.floats(field, wire, floatData); break;
      case 5: r.ints(field, wire, int32Data); break;
      case 7: r.ints(field, wire, int64Data); break;
      case 8: tensor.name = r.string(field, wire); break;
      case 9: raw = r.span(field, wire); break;
      case 13: r.skip(field, wire); tensor.external = true; break;
      case 14: if (r.int(field, wire) !== 0) tensor.external = true; break;
      case 3: case 6: case 10: case 11:
        r.skip(field, wire);
        tensor.unread.push({ 3: 'segment', 6: 'string_data', 10: 'double_data', 11: 'uint64_data' }[field]!);
        break;
      default: r.skip(field, wire);
    }
  });
  if (tensor.dataType === DATA_TYPE.float) {
    if (raw) {
      const length = raw.end - raw.start;
      if (length % 4 !== 0) r.fail(`tensor ${tensor.name}'s raw_data has ${length} bytes, not a multiple of 4 (float32)`);
      // A copy of the bytes present (raw_data may sit at any offset of the file, so not viewed in place).
      const copy = r.bytes.slice(raw.start, raw.end);
      const floats = new Float32Array(copy.buffer);
      if (!LITTLE_ENDIAN) {
        const view = new DataView(copy.buffer);
        for (let i = 0; i < floats.length; i++) floats[i] = view.getFloat32(i * 4, true);
      }
      tensor.floats = floats;
      if (floatData.length > 0) r.fail(`tensor ${tensor.name} has both raw_data and float_data`);
    } else {
      tensor.floats = Float32Array.from(floatData);
    }
  } else if (tensor.dataType === DATA_TYPE.int64) {
    if (raw) {
      const length = raw.end - raw.start;
      if (length % 8 !== 0) r.fail(`tensor ${tensor.name}'s raw_data has ${length} bytes, not a multiple of 8 (int64)`);
      const view = new DataView(r.bytes.buffer, r.bytes.byteOffset + raw.start, length);
      tensor.integers = Array.from({ length: length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    } else {
      tensor.integers = int64Data;
    }
  } else if (tensor.dataType === DATA_TYPE.bool) {
    // One byte per value in raw_data; int32_data otherwise (the spec's field for BOOL).
    tensor.integers = raw ? Array.from(r.bytes.subarray(raw.start, raw.end)) : int32Data;
  } else if (raw || floatData.length > 0 || int64Data.length > 0 || int32Data.length > 0) {
    tensor.unread.push('data of another type');
  }
  return tensor;
}

function readAttribute(r: ProtoReader): OnnxAttribute {
  const attribute: OnnxAttribute = { name: '', type: 0, floats: [], ints: [], unread: [] };
  r.forEach((field, wire) => {
    switch (field) {
      case 1: attribute.name = r.string(field, wire); break;
      case 20: attribute.type = r.int(field, wire); break;
      case 2: attribute.f = r.float(field, wire); break;
      case 3: attribute.i = r.int(field, wire); break;
      case 4: attribute.s = r.string(field, wire); break;
      case 5: attribute.t = readTensor(sub(r, field, wire, `${r.what} tensor`)); break;
      case 7: r.floats(field, wire, attribute.floats); break;
      case 8: r.ints(field, wire, attribute.ints); break;
      case 6: case 9: case 10: case 11: case 12: case 14: case 15: case 22: case 23:
        r.skip(field, wire);
        attribute.unread.push({ 6: 'g', 9: 'strings', 10: 'tensors', 11: 'graphs', 12: 'sparse_tensors', 14: 'tp', 15: 'type_protos', 22: 'sparse_tensor',
          23: 'sparse_tensors' }[field]!);
        break;
      default: r.skip(field, wire);
    }
  });
  return attribute;
}

function readNode(r: ProtoReader): OnnxNode {
  const node: OnnxNode = { inputs: [], outputs: [], name: '', opType: '', domain: '', attributes: [] };
  r.forEach((field, wire) => {
    switch (field) {
      case 1: node.inputs.push(r.string(field, wire)); break;
      case 2: node.outputs.push(r.string(field, wire)); break;
      case 3: node.name = r.string(field, wire); break;
      case 4: node.opType = r.string(field, wire); break;
      case 7: node.domain = r.string(field, wire); break;
      case 5: node.attributes.push(readAttribute(sub(r, field, wire, `${r.what} attribute ${node.attributes.length}`))); break;
      default: r.skip(field, wire);
    }
  });
  return node;
}

/** TensorShapeProto.dim entries. */
function readShape(r: ProtoReader, dims: (number | string | undefined)[]): void {
  r.forEach((field, wire) => {
    if (field !== 1) return r.skip(field, wire);
    let dim: number | string | undefined;
    const d = sub(r, field, wire, `${r.what} dim ${dims.length}`);
    d.forEach((f, w) => {
      if (f === 1) dim = d.int(f, w);
      else if (f === 2) dim = d.string(f, w);
      else d.skip(f, w);
    });
    dims.push(dim);
  });
}

function readValueInfo(r: ProtoReader): OnnxValueInfo {
  const info: OnnxValueInfo = { name: '', notTensor: false };
  r.forEach((field, wire) => {
    if (field === 1) info.name = r.string(field, wire);
    else if (field === 2) {
      const type = sub(r, field, wire, `${r.what} type`);
      type.forEach((f, w) => {
        if (f !== 1) {
          if (f !== 6) info.notTensor = true;
          return type.skip(f, w);
        }
        const tensor = sub(type, f, w, `${r.what} tensor type`);
        tensor.forEach((tf, tw) => {
          if (tf === 1) info.elemType = tensor.int(tf, tw);
          else if (tf === 2) readShape(sub(tensor, tf, tw, `${r.what} shape`), (info.dims = []));
          else tensor.skip(tf, tw);
        });
      });
    } else r.skip(field, wire);
  });
  return info;
}

function readGraph(r: ProtoReader): OnnxGraph {
  const graph: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], sparseInitializers: 0 };
  r.forEach((field, wire) => {
    switch (field) {
      case 1: graph.nodes.push(readNode(sub(r, field, wire, `graph.node[${graph.nodes.length}]`))); break;
      case 2: graph.name = r.string(field, wire); break;
      case 5: graph.initializers.push(readTensor(sub(r, field, wire, `graph.initializer[${graph.initializers.length}]`))); break;
      case 11: graph.inputs.push(readValueInfo(sub(r, field, wire, `graph.input[${graph.inputs.length}]`))); break;
      case 12: graph.outputs.push(readValueInfo(sub(r, field, wire, `graph.output[${graph.outputs.length}]`))); break;
      case 15: r.skip(field, wire); graph.sparseInitializers++; break;
      default: r.skip(field, wire);
    }
  });
  return graph;
}

/** Decodes a ModelProto; any malformed field is a ModelFileError naming the message and byte. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const r = new ProtoReader(bytes, 0, bytes.length, 'model');
  const model: OnnxModel = { irVersion: 0, opsets: [], producerName: '', producerVersion: '', docString: '', functions: 0, trainingInfo: 0 };
  r.forEach((field, wire) => {
    switch (field) {
      case 1: model.irVersion = r.int(field, wire); break;
      case 2: model.producerName = r.string(field, wire); break;
      case 3: model.producerVersion = r.string(field, wire); break;
      case 6: model.docString = r.string(field, wire); break;
      case 7: model.graph = readGraph(sub(r, field, wire, 'graph')); break;
      case 8: {
        const opset = { domain: '', version: 0 };
        const o = sub(r, field, wire, `opset_import[${model.opsets.length}]`);
        o.forEach((f, w) => {
          if (f === 1) opset.domain = o.string(f, w);
          else if (f === 2) opset.version = o.int(f, w);
          else o.skip(f, w);
        });
        model.opsets.push(opset);
        break;
      }
      case 20: r.skip(field, wire); model.trainingInfo++; break;
      case 25: r.skip(field, wire); model.functions++; break;
      default: r.skip(field, wire);
    }
  });
  return model;
}

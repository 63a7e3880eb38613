import { ModelFileError } from '../../errors.js';

/*
 * The protocol-buffer wire format, as much of it as ONNX's messages use: varints (int32, int64,
 * enums), fixed32 (float), and length-delimited fields (strings, bytes, sub-messages, packed
 * repeated scalars). Written by hand rather than taken from a generated library (onnx-buf on
 * @bufbuild/protobuf) for two reasons: no runtime dependency for a few hundred lines of format,
 * and a reader whose every allocation is bounded by the bytes actually present — a length or a
 * count is never trusted before the bytes it claims are known to be there, so a hostile file can
 * make the reader refuse, never allocate more than the file's own size.
 */

/** The wire types ONNX uses (3 and 4, groups, are obsolete and refused). */
export const WIRE = { varint: 0, fixed64: 1, length: 2, fixed32: 5 } as const;

/** Appends protobuf fields to a growing buffer. Fields are written in the order the caller gives them. */
export class ProtoWriter {
  private buffer = new Uint8Array(64);
  private length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extra));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  /** An unsigned varint; a negative int64 as its 64-bit two's complement (ten bytes), as protobuf writes it. */
  private varint(value: number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    do {
      const low = Number(v & 0x7fn);
      v >>= 7n;
      this.buffer[this.length++] = v > 0n ? low | 0x80 : low;
    } while (v > 0n);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** An int32, int64 or enum field. */
  int(field: number, value: number): this {
    this.tag(field, WIRE.varint);
    this.varint(value);
    return this;
  }

  /** A float field (fixed32, little-endian). */
  float(field: number, value: number): this {
    this.tag(field, WIRE.fixed32);
    this.reserve(4);
    new DataView(this.buffer.buffer).setFloat32(this.length, value, true);
    this.length += 4;
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE.length);
    this.varint(value.length);
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** A sub-message, written by `write` into a writer of its own. */
  message(field: number, write: (writer: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** Where a length-delimited field's bytes lie inside the file: [start, end). */
export interface Span {
  start: number;
  end: number;
}

/** The most bytes a varint takes (a 64-bit value, 7 bits a byte). */
const MAX_VARINT_BYTES = 10;

/**
 * Reads the fields of one message lying in bytes[start, end). `what` names the message in every
 * error (e.g. 'graph.node[3]'), and each error gives the byte offset, so a damaged file says where.
 */
export class ProtoReader {
  private at: number;

  constructor(readonly bytes: Uint8Array, start: number, private readonly end: number, readonly what: string) {
    this.at = start;
  }

  /** A reader of a length-delimited field's bytes as a message of its own. */
  static of(bytes: Uint8Array, span: Span, what: string): ProtoReader {
    return new ProtoReader(bytes, span.start, span.end, what);
  }

  fail(message: string): never {
    throw new ModelFileError(`ONNX: ${this.what}: ${message}`);
  }

  /** Calls `read(field, wire)` for each field in order; `read` must consume the field's value (or call skip). */
  forEach(read: (field: number, wire: number) => void): void {
    while (this.at < this.end) {
      const offset = this.at;
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (field === 0) this.fail(`a field number 0 at byte ${offset}: the bytes are not a protobuf message`);
      read(field, wire);
    }
    if (this.at !== this.end) this.fail(`the last field runs past its message's end at byte ${this.end}`);
  }

  private expectWire(field: number, wire: number, expected: number): void {
    if (wire !== expected) this.fail(`field ${field} has wire type ${wire}, expected ${expected}`);
  }

  /** A varint as a number; a value beyond 2^53 (no count or size of an MLP is) is refused unless `signed64` allows a negative int64. */
  varint(signed64 = false): number {
    let value = 0n;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.at >= this.end) this.fail(`a varint at byte ${this.at} runs past the end of its message (byte ${this.end}): the file is truncated`);
      const byte = this.bytes[this.at++]!;
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        const number = signed64 ? Number(BigInt.asIntN(64, value)) : Number(value);
        if (!Number.isSafeInteger(number)) this.fail(`the integer ${value} at byte ${this.at} is beyond 2^53`);
        return number;
      }
    }
    return this.fail(`a varint at byte ${this.at - MAX_VARINT_BYTES} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** An int64 (or int32, enum) field: negative values are ten-byte two's complements. */
  int(field: number, wire: number): number {
    this.expectWire(field, wire, WIRE.varint);
    return this.varint(true);
  }

  float(field: number, wire: number): number {
    this.expectWire(field, wire, WIRE.fixed32);
    this.need(4, field);
    const value = new DataView(this.bytes.buffer, this.bytes.byteOffset).getFloat32(this.at, true);
    this.at += 4;
    return value;
  }

  private need(count: number, field: number): void {
    if (count > this.end - this.at) {
      this.fail(`field ${field} at byte ${this.at} needs ${count} bytes but only ${this.end - this.at} remain in its message: the file is truncated`);
    }
  }

  /** A length-delimited field's bytes, checked to lie inside this message before anything reads them. */
  span(field: number, wire: number): Span {
    this.expectWire(field, wire, WIRE.length);
    const length = this.varint();
    this.need(length, field);
    const span = { start: this.at, end: this.at + length };
    this.at += length;
    return span;
  }

  string(field: number, wire: number): string {
    const { start, end } = this.span(field, wire);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(start, end));
    } catch {
      return this.fail(`field ${field} at byte ${start} is not valid UTF-8`);
    }
  }

  /**
   * A repeated int64 field's values, packed (one length-delimited field) or not (one varint per
   * occurrence), appended to `into`: protobuf parsers accept both. Each value takes at least one
   * byte of the file.
   */
  ints(field: number, wire: number, into: number[]): void {
    if (wire === WIRE.varint) {
      into.push(this.varint(true));
      return;
    }
    const span = this.span(field, wire);
    const packed = ProtoReader.of(this.bytes, span, `${this.what} field ${field}`);
    while (packed.at < packed.end) into.push(packed.varint(true));
  }

  /** A repeated float field, packed or not, appended to `into`: four bytes of the file per value. */
  floats(field: number, wire: number, into: number[]): void {
    if (wire === WIRE.fixed32) {
      into.push(this.float(field, wire));
      return;
    }
    const { start, end } = this.span(field, wire);
    if ((end - start) % 4 !== 0) this.fail(`packed floats of field ${field} take ${end - start} bytes, not a multiple of 4`);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset);
    for (let at = start; at < end; at += 4) into.push(view.getFloat32(at, true));
  }

  /** Skips a field this reader does not use. */
  skip(field: number, wire: number): void {
    switch (wire) {
      case WIRE.varint: this.varint(true); return;
      case WIRE.fixed64: this.need(8, field); this.at += 8; return;
      case WIRE.length: this.span(field, wire); return;
      case WIRE.fixed32: this.need(4, field); this.at += 4; return;
      default: this.fail(`field ${field} has wire type ${wire}, which is not used by ONNX (groups are obsolete)`);
    }
  }
}

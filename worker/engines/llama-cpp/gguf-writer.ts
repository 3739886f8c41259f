/**
 * A small GGUF v3 writer: enough of the format to build demo models that llama.cpp loads
 * (metadata of scalar, string and array values; F32 or F16 tensors). Layout, little-endian:
 *
 *   magic "GGUF" | version u32 | tensor count u64 | kv count u64
 *   kv*:          key string | value type u32 | value
 *   tensor info*: name string | n_dims u32 | ne u64[n_dims] | ggml type u32 | offset u64
 *   padding to `alignment` | tensor data, each tensor starting at an aligned offset
 *
 * Strings are a u64 byte length followed by UTF-8 bytes. Tensor dims are in ggml order:
 * `ne[0]` is the innermost (contiguous) dimension, so a matrix `[nIn, nOut]` is nOut rows of nIn.
 */
import { writeFile, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** GGUF value type ids (gguf.h `gguf_type`). */
const VALUE_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

/** ggml tensor type ids (ggml.h `ggml_type`) for the types this writer can encode. */
const TENSOR_TYPE = { f32: 0, f16: 1 } as const;

export const GGUF_DEFAULT_ALIGNMENT = 32;

export type GgufNumberType = 'u32' | 'i32' | 'u64' | 'f32';
export type GgufItemType = GgufNumberType | 'bool' | 'string';

export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufNumberType; value: readonly number[] }
  | { type: 'array'; itemType: 'bool'; value: readonly boolean[] }
  | { type: 'array'; itemType: 'string'; value: readonly string[] };

/** Typed constructors, so call sites read `u32(64)` rather than object literals. */
export const gguf = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  u64: (value: number): GgufValue => ({ type: 'u64', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): GgufValue => ({ type: 'array', itemType: 'string', value }),
  f32s: (value: readonly number[]): GgufValue => ({ type: 'array', itemType: 'f32', value }),
  i32s: (value: readonly number[]): GgufValue => ({ type: 'array', itemType: 'i32', value }),
};

export interface GgufTensor {
  name: string;
  /** ggml order: innermost dimension first. */
  dims: readonly number[];
  /** Storage type in the file; data is always given as F32 and converted. */
  type: 'f32' | 'f16';
  data: Float32Array;
}

export interface GgufFile {
  metadata: Record<string, GgufValue>;
  tensors: readonly GgufTensor[];
  alignment?: number;
}

/** Growable little-endian byte sink. */
class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;

  push(buf: Buffer): void {
    this.chunks.push(buf);
    this.length += buf.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v | 0);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  bool(v: boolean): void {
    this.push(Buffer.from([v ? 1 : 0]));
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad > 0) this.push(Buffer.alloc(pad));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function writeItem(sink: ByteSink, type: GgufItemType, v: number | boolean | string): void {
  switch (type) {
    case 'u32':
      return sink.u32(v as number);
    case 'i32':
      return sink.i32(v as number);
    case 'u64':
      return sink.u64(v as number);
    case 'f32':
      return sink.f32(v as number);
    case 'bool':
      return sink.bool(v as boolean);
    case 'string':
      return sink.string(v as string);
  }
}

function writeValue(sink: ByteSink, value: GgufValue): void {
  sink.u32(VALUE_TYPE[value.type]);
  if (value.type !== 'array') return writeItem(sink, value.type, value.value);
  sink.u32(VALUE_TYPE[value.itemType]);
  sink.u64(value.value.length);
  for (const item of value.value) writeItem(sink, value.itemType, item);
}

/** IEEE 754 binary16 from a float, round-to-nearest-even; enough for demo weights. */
export function toHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  return sign | half;
}

function tensorBytes(t: GgufTensor): Buffer {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    throw new Error(`tensor ${t.name}: ${t.data.length} values for dims [${t.dims.join(', ')}]`);
  }
  if (t.type === 'f32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = Buffer.alloc(count * 2);
  for (let i = 0; i < count; i++) out.writeUInt16LE(toHalf(t.data[i]!), i * 2);
  return out;
}

/** Serialises a GGUF v3 file into one buffer (demo models are a few MB at most). */
export function encodeGguf(file: GgufFile): Buffer {
  const alignment = file.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const metadata: Record<string, GgufValue> = { ...file.metadata };
  // llama.cpp reads `general.alignment` to find the data section; write it when non-default.
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) metadata['general.alignment'] = gguf.u32(alignment);

  const head = new ByteSink();
  head.push(Buffer.from('GGUF', 'ascii'));
  head.u32(3);
  head.u64(file.tensors.length);
  head.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    head.string(key);
    writeValue(head, value);
  }

  const data = new ByteSink();
  for (const t of file.tensors) {
    data.padTo(alignment);
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(TENSOR_TYPE[t.type]);
    head.u64(data.length); // offset relative to the start of the data section
    data.push(tensorBytes(t));
  }
  head.padTo(alignment);
  data.padTo(alignment);
  return Buffer.concat([head.toBuffer(), data.toBuffer()]);
}

/** Writes a GGUF file atomically (temp file + rename), so readers never see half a model. */
export async function writeGguf(path: string, file: GgufFile): Promise<number> {
  const bytes = encodeGguf(file);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return bytes.length;
}

/**
 * The few bincode 2 `standard()` rules the quicket wire uses (PROTOCOL.md section 4), written
 * by hand: unsigned varints, raw bytes, UTF-8 strings, byte arrays, options and counts.
 *
 * Integer representation: `u16` and `u32` are JS `number`s; `u64` is always a `bigint`, so
 * every value up to 2^64 − 1 decodes exactly. Lengths and counts are read as `u64` too (they
 * are `usize` in Rust) and compared with the bytes left before anything is allocated.
 *
 * @module
 */

/** The error classes of PROTOCOL.md section 9, named as in the Rust `DecodeError`. */
export type DecodeErrorKind =
  | "Truncated"
  | "UnknownTag"
  | "LimitExceeded"
  | "InvalidUtf8"
  | "TrailingBytes"
  | "NonCanonical"
  | "InvalidValue"
  | "FrameTooLarge";

/** Why bytes did not decode as a frame (or a length prefix was refused). */
export class DecodeError extends Error {
  override readonly name = "DecodeError";

  /** The class of the defect, equal to the Rust variant name. */
  readonly kind: DecodeErrorKind;

  constructor(kind: DecodeErrorKind, message?: string) {
    super(message ?? kind);
    this.kind = kind;
  }
}

/** The largest frame any quicket implementation accepts: 16 MiB (PROTOCOL.md section 8). */
export const MAX_FRAME_SIZE = 16 * 1024 * 1024;

/** Varint markers: one byte below 251, else a marker and a little-endian integer. */
const U16_MARKER = 0xfb;
const U32_MARKER = 0xfc;
const U64_MARKER = 0xfd;

const U64_MAX = (1n << 64n) - 1n;

const encoder = new TextEncoder();
// `ignoreBOM: true` keeps a leading U+FEFF as a character, as Rust does, instead of eating it.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Lone UTF-16 surrogates, which have no UTF-8 form (TextEncoder would silently replace them). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Appends bincode-standard values to a growable buffer. */
export class Writer {
  private buf = new Uint8Array(64);
  private len = 0;

  /** One raw byte. */
  u8(value: number): this {
    checkInt(value, 0xff, "u8");
    this.reserve(1);
    this.buf[this.len++] = value;
    return this;
  }

  /** `00` or `01`. */
  bool(value: boolean): this {
    if (typeof value !== "boolean") throw new TypeError(`not a bool: ${String(value)}`);
    return this.u8(value ? 1 : 0);
  }

  /** A varint `u16`. */
  u16(value: number): this {
    checkInt(value, 0xffff, "u16");
    return this.varint(value);
  }

  /** A varint `u32`. */
  u32(value: number): this {
    checkInt(value, 0xffff_ffff, "u32");
    return this.varint(value);
  }

  /** A varint `u64`. */
  u64(value: bigint): this {
    if (typeof value !== "bigint" || value < 0n || value > U64_MAX) {
      throw new RangeError(`u64 out of range: ${String(value)}`);
    }
    if (value <= 0xffff_ffffn) return this.varint(Number(value));
    this.reserve(9);
    this.buf[this.len++] = U64_MARKER;
    new DataView(this.buf.buffer).setBigUint64(this.len, value, true);
    this.len += 8;
    return this;
  }

  /** Raw bytes with no length, such as a socket id. */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  /** A length-prefixed byte array. */
  bytes(bytes: Uint8Array): this {
    return this.length(bytes.length).raw(bytes);
  }

  /** A length-prefixed UTF-8 string. Throws a `TypeError` for lone surrogates. */
  string(value: string): this {
    if (LONE_SURROGATE.test(value)) {
      throw new TypeError("string holds a lone surrogate, which UTF-8 cannot carry");
    }
    return this.bytes(encoder.encode(value));
  }

  /** A length or element count (a `usize`, so a `u64` varint). */
  length(n: number): this {
    return this.u64(BigInt(n));
  }

  /** `None` (`00`) or `Some` (`01`) followed by what `write` appends. */
  option<T>(value: T | null, write: (w: this, value: T) => void): this {
    if (value === null) return this.u8(0);
    this.u8(1);
    write(this, value);
    return this;
  }

  /** A counted sequence. */
  seq<T>(items: readonly T[], write: (w: this, item: T) => void): this {
    this.length(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  /** The bytes written so far (a copy the writer no longer touches). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private varint(value: number): this {
    if (value < 251) return this.u8(value);
    if (value <= 0xffff) {
      this.reserve(3);
      this.buf[this.len] = U16_MARKER;
      new DataView(this.buf.buffer).setUint16(this.len + 1, value, true);
      this.len += 3;
    } else {
      this.reserve(5);
      this.buf[this.len] = U32_MARKER;
      new DataView(this.buf.buffer).setUint32(this.len + 1, value, true);
      this.len += 5;
    }
    return this;
  }

  private reserve(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

function checkInt(value: number, max: number, type: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${type} out of range: ${String(value)}`);
  }
}

/**
 * Reads bincode-standard values from one frame body, strictly: any defect throws a
 * {@link DecodeError}.
 *
 * A `String`/`Bytes` length beyond the bytes left is `Truncated` up to `max(128, 8 × body)`
 * and `LimitExceeded` above it: the "simplest conforming decoder" of PROTOCOL.md section 9,
 * rule 7. Nothing is ever allocated for a declared length before it is checked.
 */
export class Reader {
  private pos = 0;
  private readonly view: DataView;
  /** Declared lengths above this are `LimitExceeded` rather than `Truncated`. */
  private readonly claimLimit: number;

  constructor(private readonly body: Uint8Array) {
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.claimLimit = Math.max(128, 8 * body.length);
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.body.length - this.pos;
  }

  /** One raw byte. */
  u8(): number {
    if (this.pos >= this.body.length) throw new DecodeError("Truncated");
    return this.body[this.pos++]!;
  }

  /** `00` or `01`; any other byte is `InvalidValue`. */
  bool(): boolean {
    const byte = this.u8();
    if (byte === 0) return false;
    if (byte === 1) return true;
    throw new DecodeError("InvalidValue", `bool byte ${hexByte(byte)}`);
  }

  /** A varint `u16`: `fc`, `fd`, `fe` and `ff` are invalid markers for it. */
  u16(): number {
    return Number(this.varint(16));
  }

  /** A varint `u32`: `fd`, `fe` and `ff` are invalid markers for it. */
  u32(): number {
    return Number(this.varint(32));
  }

  /** A varint `u64`. */
  u64(): bigint {
    return this.varint(64);
  }

  /** Exactly `n` raw bytes (copied). */
  raw(n: number): Uint8Array {
    if (n > this.remaining) throw new DecodeError("Truncated");
    const out = this.body.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A length-prefixed byte array. */
  bytes(): Uint8Array {
    return this.raw(this.length());
  }

  /** A length-prefixed UTF-8 string; overlong forms, surrogates and > U+10FFFF are refused. */
  string(): string {
    const n = this.length();
    const view = this.body.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return decoder.decode(view);
    } catch {
      throw new DecodeError("InvalidUtf8");
    }
  }

  /** `None` or `Some(read())`; a tag other than `00`/`01` is `InvalidValue`. */
  option<T>(read: () => T): T | null {
    const tag = this.u8();
    if (tag === 0) return null;
    if (tag === 1) return read();
    throw new DecodeError("InvalidValue", `option tag ${hexByte(tag)}`);
  }

  /**
   * A counted sequence. Nothing is allocated in proportion to the count: elements are read
   * one by one, and each takes at least one byte, so a huge count runs out of input
   * (`Truncated`) after at most `remaining` elements.
   */
  seq<T>(read: () => T): T[] {
    const count = this.u64();
    const items: T[] = [];
    for (let i = 0n; i < count; i++) items.push(read());
    return items;
  }

  /** Throws `TrailingBytes` unless every byte was read. */
  end(): void {
    if (this.remaining !== 0) {
      throw new DecodeError("TrailingBytes", `${this.remaining} trailing bytes after the frame`);
    }
  }

  /** A `String`/`Bytes` length, checked against the bytes left (rule 7). */
  private length(): number {
    const n = this.u64();
    if (n <= BigInt(this.remaining)) return Number(n);
    if (n > BigInt(this.claimLimit)) {
      throw new DecodeError("LimitExceeded", `a length of ${n} exceeds the bytes available`);
    }
    throw new DecodeError("Truncated");
  }

  /** An unsigned varint for a field of `bits` bits, in canonical form only. */
  private varint(bits: 16 | 32 | 64): bigint {
    const marker = this.u8();
    if (marker < 251) return BigInt(marker);
    let width: number;
    let floor: bigint;
    switch (marker) {
      case U16_MARKER:
        width = 2;
        floor = 251n;
        break;
      case U32_MARKER:
        width = 4;
        floor = 1n << 16n;
        break;
      case U64_MARKER:
        width = 8;
        floor = 1n << 32n;
        break;
      default:
        throw new DecodeError("InvalidValue", `varint marker ${hexByte(marker)}`);
    }
    if (width * 8 > bits) {
      throw new DecodeError("InvalidValue", `varint marker ${hexByte(marker)} for a u${bits}`);
    }
    if (this.remaining < width) throw new DecodeError("Truncated");
    let value: bigint;
    if (width === 2) value = BigInt(this.view.getUint16(this.pos, true));
    else if (width === 4) value = BigInt(this.view.getUint32(this.pos, true));
    else value = this.view.getBigUint64(this.pos, true);
    this.pos += width;
    if (value < floor) throw new DecodeError("NonCanonical");
    return value;
  }
}

function hexByte(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

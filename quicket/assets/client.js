// quicket-client: generated from client-js/src by scripts/build.mjs; do not edit.
var __defProp = Object.defineProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// src/codec.ts
var codec_exports = {};
__export(codec_exports, {
  DecodeError: () => DecodeError,
  DisconnectReason: () => DisconnectReason,
  FrameSplitter: () => FrameSplitter,
  MAX_FRAME_SIZE: () => MAX_FRAME_SIZE,
  PROTOCOL_VERSION: () => PROTOCOL_VERSION,
  Reader: () => Reader,
  RejectReason: () => RejectReason,
  TAGS: () => TAGS,
  Writer: () => Writer,
  decodeFrame: () => decodeFrame,
  disconnectReasonName: () => disconnectReasonName,
  encodeFrame: () => encodeFrame,
  lengthPrefix: () => lengthPrefix,
  rejectReasonName: () => rejectReasonName,
  withLengthPrefix: () => withLengthPrefix
});

// src/bincode.ts
var DecodeError = class extends Error {
  name = "DecodeError";
  /** The class of the defect, equal to the Rust variant name. */
  kind;
  constructor(kind, message) {
    super(message ?? kind);
    this.kind = kind;
  }
};
var MAX_FRAME_SIZE = 16 * 1024 * 1024;
var U16_MARKER = 251;
var U32_MARKER = 252;
var U64_MARKER = 253;
var U64_MAX = (1n << 64n) - 1n;
var encoder = new TextEncoder();
var decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
var LONE_SURROGATE = /\p{Cs}/u;
var Writer = class {
  buf = new Uint8Array(64);
  len = 0;
  /** One raw byte. */
  u8(value) {
    checkInt(value, 255, "u8");
    this.reserve(1);
    this.buf[this.len++] = value;
    return this;
  }
  /** `00` or `01`. */
  bool(value) {
    if (typeof value !== "boolean") throw new TypeError(`not a bool: ${String(value)}`);
    return this.u8(value ? 1 : 0);
  }
  /** A varint `u16`. */
  u16(value) {
    checkInt(value, 65535, "u16");
    return this.varint(value);
  }
  /** A varint `u32`. */
  u32(value) {
    checkInt(value, 4294967295, "u32");
    return this.varint(value);
  }
  /** A varint `u64`. */
  u64(value) {
    if (typeof value !== "bigint" || value < 0n || value > U64_MAX) {
      throw new RangeError(`u64 out of range: ${String(value)}`);
    }
    if (value <= 0xffffffffn) return this.varint(Number(value));
    this.reserve(9);
    this.buf[this.len++] = U64_MARKER;
    new DataView(this.buf.buffer).setBigUint64(this.len, value, true);
    this.len += 8;
    return this;
  }
  /** Raw bytes with no length, such as a socket id. */
  raw(bytes) {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }
  /** A length-prefixed byte array. */
  bytes(bytes) {
    return this.length(bytes.length).raw(bytes);
  }
  /** A length-prefixed UTF-8 string. Throws a `TypeError` for lone surrogates. */
  string(value) {
    if (LONE_SURROGATE.test(value)) {
      throw new TypeError("string holds a lone surrogate, which UTF-8 cannot carry");
    }
    return this.bytes(encoder.encode(value));
  }
  /** A length or element count (a `usize`, so a `u64` varint). */
  length(n) {
    return this.u64(BigInt(n));
  }
  /** `None` (`00`) or `Some` (`01`) followed by what `write` appends. */
  option(value, write) {
    if (value === null) return this.u8(0);
    this.u8(1);
    write(this, value);
    return this;
  }
  /** A counted sequence. */
  seq(items, write) {
    this.length(items.length);
    for (const item of items) write(this, item);
    return this;
  }
  /** The bytes written so far (a copy the writer no longer touches). */
  finish() {
    return this.buf.slice(0, this.len);
  }
  varint(value) {
    if (value < 251) return this.u8(value);
    if (value <= 65535) {
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
  reserve(extra) {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
};
function checkInt(value, max, type) {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${type} out of range: ${String(value)}`);
  }
}
var Reader = class {
  constructor(body) {
    this.body = body;
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.claimLimit = Math.max(128, 8 * body.length);
  }
  body;
  pos = 0;
  view;
  /** Declared lengths above this are `LimitExceeded` rather than `Truncated`. */
  claimLimit;
  /** Bytes not read yet. */
  get remaining() {
    return this.body.length - this.pos;
  }
  /** One raw byte. */
  u8() {
    if (this.pos >= this.body.length) throw new DecodeError("Truncated");
    return this.body[this.pos++];
  }
  /** `00` or `01`; any other byte is `InvalidValue`. */
  bool() {
    const byte = this.u8();
    if (byte === 0) return false;
    if (byte === 1) return true;
    throw new DecodeError("InvalidValue", `bool byte ${hexByte(byte)}`);
  }
  /** A varint `u16`: `fc`, `fd`, `fe` and `ff` are invalid markers for it. */
  u16() {
    return Number(this.varint(16));
  }
  /** A varint `u32`: `fd`, `fe` and `ff` are invalid markers for it. */
  u32() {
    return Number(this.varint(32));
  }
  /** A varint `u64`. */
  u64() {
    return this.varint(64);
  }
  /** Exactly `n` raw bytes (copied). */
  raw(n) {
    if (n > this.remaining) throw new DecodeError("Truncated");
    const out = this.body.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A length-prefixed byte array. */
  bytes() {
    return this.raw(this.length());
  }
  /** A length-prefixed UTF-8 string; overlong forms, surrogates and > U+10FFFF are refused. */
  string() {
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
  option(read) {
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
  seq(read) {
    const count = this.u64();
    const items = [];
    for (let i = 0n; i < count; i++) items.push(read());
    return items;
  }
  /** Throws `TrailingBytes` unless every byte was read. */
  end() {
    if (this.remaining !== 0) {
      throw new DecodeError("TrailingBytes", `${this.remaining} trailing bytes after the frame`);
    }
  }
  /** A `String`/`Bytes` length, checked against the bytes left (rule 7). */
  length() {
    const n = this.u64();
    if (n <= BigInt(this.remaining)) return Number(n);
    if (n > BigInt(this.claimLimit)) {
      throw new DecodeError("LimitExceeded", `a length of ${n} exceeds the bytes available`);
    }
    throw new DecodeError("Truncated");
  }
  /** An unsigned varint for a field of `bits` bits, in canonical form only. */
  varint(bits) {
    const marker = this.u8();
    if (marker < 251) return BigInt(marker);
    let width;
    let floor;
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
    let value;
    if (width === 2) value = BigInt(this.view.getUint16(this.pos, true));
    else if (width === 4) value = BigInt(this.view.getUint32(this.pos, true));
    else value = this.view.getBigUint64(this.pos, true);
    this.pos += width;
    if (value < floor) throw new DecodeError("NonCanonical");
    return value;
  }
};
function hexByte(byte) {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

// src/codec.ts
var PROTOCOL_VERSION = 1;
var TAGS = {
  Hello: 1,
  Welcome: 2,
  Reject: 3,
  Event: 16,
  Ack: 17,
  AckError: 18,
  Sequenced: 19,
  PresenceSubscribe: 32,
  PresenceUnsubscribe: 33,
  PresenceState: 34,
  PresenceDiff: 35,
  PresenceEnd: 36,
  PresenceStatePart: 37,
  PresenceCount: 38,
  Ping: 48,
  Pong: 49,
  Disconnect: 63
};
var TYPE_BY_TAG = new Map(
  Object.entries(TAGS).map(([type, tag]) => [tag, type])
);
var DisconnectReason = {
  ClientDisconnect: 1,
  ServerDisconnect: 2,
  PingTimeout: 3,
  SlowConsumer: 4,
  ProtocolError: 5,
  FrameTooLarge: 6,
  ServerShutdown: 7,
  TransportClosed: 8,
  HandshakeTimeout: 9,
  Flooding: 10
};
var RejectReason = {
  Unauthorized: 1,
  UnsupportedVersion: 2,
  BadHandshake: 3,
  ServerFull: 4,
  ShuttingDown: 5
};
function disconnectReasonName(code) {
  return nameOf(DisconnectReason, code);
}
function rejectReasonName(code) {
  return nameOf(RejectReason, code);
}
function nameOf(table, code) {
  for (const [name, value] of Object.entries(table)) {
    if (value === code) return name;
  }
  return "Other";
}
function encodeFrame(frame) {
  const w = new Writer();
  const tag = TAGS[frame.type];
  if (tag === void 0) throw new TypeError(`unknown frame type ${String(frame.type)}`);
  w.u8(tag);
  switch (frame.type) {
    case "Hello":
      w.u16(frame.version).u8(codecByte(frame.codec)).string(frame.client_name);
      w.string(frame.client_version).u32(frame.max_frame_size).bytes(frame.auth);
      w.option(frame.resume, (w2, r) => w2.bytes(r.token).u64(r.offset));
      if (frame.channels != null) {
        w.u16(frame.channels.max_channels);
        w.seq(frame.channels.offsets, (w2, o) => w2.u16(o.channel).u64(o.offset));
        w.bool(frame.channels.classes);
      }
      break;
    case "Welcome":
      if (frame.sid.length !== 16) throw new RangeError("a socket id is exactly 16 bytes");
      w.raw(frame.sid).u32(frame.ping_interval_ms).u32(frame.ping_timeout_ms);
      w.u32(frame.max_frame_size).bytes(frame.session).bool(frame.recovered).u64(frame.offset);
      if (frame.channels != null) w.u16(frame.channels.max_channels).bool(frame.channels.classes);
      break;
    case "Reject":
      w.u16(frame.reason).string(frame.message).bytes(frame.data);
      break;
    case "Event":
      w.string(frame.name).option(frame.ack, (w2, id) => w2.u64(id)).bytes(frame.data);
      break;
    case "Ack":
      w.u64(frame.id).bytes(frame.data);
      break;
    case "AckError":
      w.u64(frame.id).string(frame.message);
      break;
    case "Sequenced":
      w.string(frame.name).string(frame.key).u64(frame.seq).bytes(frame.data);
      break;
    case "PresenceSubscribe":
    case "PresenceUnsubscribe":
      w.string(frame.room);
      break;
    case "PresenceState":
    case "PresenceStatePart":
      w.string(frame.room).seq(frame.entries, writeEntry);
      break;
    case "PresenceDiff":
      w.string(frame.room).seq(frame.joins, writeEntry).seq(frame.leaves, writeEntry);
      break;
    case "PresenceEnd":
      w.string(frame.room).string(frame.message);
      break;
    case "PresenceCount":
      w.string(frame.room).u64(frame.keys).u64(frame.connections);
      break;
    case "Ping":
    case "Pong":
      w.u64(frame.id);
      break;
    case "Disconnect":
      w.u16(frame.reason).string(frame.message);
      break;
  }
  return w.finish();
}
function writeEntry(w, entry) {
  w.string(entry.key).seq(entry.metas, (w2, meta) => w2.u64(meta.id).bytes(meta.data));
}
function codecByte(codec) {
  if (codec === "bincode") return 0;
  if (codec === "json") return 1;
  throw new RangeError(`unknown payload codec ${String(codec)}`);
}
function decodeFrame(bytes) {
  if (bytes.length === 0) throw new DecodeError("Truncated");
  const tag = bytes[0];
  const type = TYPE_BY_TAG.get(tag);
  if (type === void 0) {
    throw new DecodeError("UnknownTag", `unknown frame tag 0x${tag.toString(16).padStart(2, "0")}`);
  }
  const body = bytes.subarray(1);
  if (body.length > MAX_FRAME_SIZE) throw new DecodeError("LimitExceeded");
  const r = new Reader(body);
  const frame = readBody(type, r);
  r.end();
  return frame;
}
function readBody(type, r) {
  switch (type) {
    case "Hello":
      return {
        type,
        version: r.u16(),
        codec: readCodec(r),
        client_name: r.string(),
        client_version: r.string(),
        max_frame_size: r.u32(),
        auth: r.bytes(),
        resume: r.option(() => ({ token: r.bytes(), offset: r.u64() })),
        channels: trailing(r, () => ({
          max_channels: r.u16(),
          offsets: r.seq(() => ({ channel: r.u16(), offset: r.u64() })),
          classes: r.bool()
        }))
      };
    case "Welcome":
      return {
        type,
        sid: r.raw(16),
        ping_interval_ms: r.u32(),
        ping_timeout_ms: r.u32(),
        max_frame_size: r.u32(),
        session: r.bytes(),
        recovered: r.bool(),
        offset: r.u64(),
        channels: trailing(r, () => ({ max_channels: r.u16(), classes: r.bool() }))
      };
    case "Reject":
      return { type, reason: r.u16(), message: r.string(), data: r.bytes() };
    case "Event":
      return { type, name: r.string(), ack: r.option(() => r.u64()), data: r.bytes() };
    case "Ack":
      return { type, id: r.u64(), data: r.bytes() };
    case "AckError":
      return { type, id: r.u64(), message: r.string() };
    case "Sequenced":
      return { type, name: r.string(), key: r.string(), seq: r.u64(), data: r.bytes() };
    case "PresenceSubscribe":
    case "PresenceUnsubscribe":
      return { type, room: r.string() };
    case "PresenceState":
    case "PresenceStatePart":
      return { type, room: r.string(), entries: r.seq(() => readEntry(r)) };
    case "PresenceDiff":
      return {
        type,
        room: r.string(),
        joins: r.seq(() => readEntry(r)),
        leaves: r.seq(() => readEntry(r))
      };
    case "PresenceEnd":
      return { type, room: r.string(), message: r.string() };
    case "PresenceCount":
      return { type, room: r.string(), keys: r.u64(), connections: r.u64() };
    case "Ping":
    case "Pong":
      return { type, id: r.u64() };
    case "Disconnect":
      return { type, reason: r.u16(), message: r.string() };
  }
}
function trailing(r, read) {
  return r.remaining === 0 ? null : read();
}
function readEntry(r) {
  return { key: r.string(), metas: r.seq(() => ({ id: r.u64(), data: r.bytes() })) };
}
function readCodec(r) {
  const byte = r.u8();
  if (byte === 0) return "bincode";
  if (byte === 1) return "json";
  throw new DecodeError("InvalidValue", `unknown payload codec ${byte}`);
}
function lengthPrefix(n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad frame length ${n}`);
  return new Writer().length(n).finish();
}
function withLengthPrefix(frame) {
  const prefix = lengthPrefix(frame.length);
  const out = new Uint8Array(prefix.length + frame.length);
  out.set(prefix);
  out.set(frame, prefix.length);
  return out;
}
var FrameSplitter = class {
  /** The largest frame accepted, capped at {@link MAX_FRAME_SIZE}. */
  maxFrameSize;
  buf = new Uint8Array(0);
  start = 0;
  end = 0;
  constructor(maxFrameSize = 1024 * 1024) {
    this.maxFrameSize = Math.min(maxFrameSize, MAX_FRAME_SIZE);
  }
  /** How many bytes are buffered and not yet split off. */
  get buffered() {
    return this.end - this.start;
  }
  /** A copy of the bytes buffered and not yet split off. */
  rest() {
    return this.buf.slice(this.start, this.end);
  }
  /** Appends bytes received from the stream. */
  push(chunk) {
    if (chunk.length === 0) return;
    const live = this.end - this.start;
    if (this.end + chunk.length > this.buf.length) {
      if (live + chunk.length <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const next = new Uint8Array(Math.max(live + chunk.length, this.buf.length * 2));
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
  /**
   * The next whole frame, or `null` when more bytes are needed. Throws a
   * {@link DecodeError}: `InvalidValue` for an `fe`/`ff` prefix, `NonCanonical` for one not in
   * its shortest form, `FrameTooLarge` for a declared length above the maximum.
   */
  next() {
    const avail = this.end - this.start;
    if (avail === 0) return null;
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.start, avail);
    const first = view.getUint8(0);
    let prefixLen;
    let declared;
    if (first < 251) {
      prefixLen = 1;
      declared = BigInt(first);
    } else {
      const width = first === 251 ? 2 : first === 252 ? 4 : first === 253 ? 8 : 0;
      if (width === 0) {
        throw new DecodeError("InvalidValue", `length prefix byte 0x${first.toString(16)}`);
      }
      if (avail < 1 + width) return null;
      prefixLen = 1 + width;
      declared = width === 2 ? BigInt(view.getUint16(1, true)) : width === 4 ? BigInt(view.getUint32(1, true)) : view.getBigUint64(1, true);
      const floor = width === 2 ? 251n : width === 4 ? 1n << 16n : 1n << 32n;
      if (declared < floor) throw new DecodeError("NonCanonical");
    }
    if (declared > BigInt(this.maxFrameSize)) {
      throw new DecodeError(
        "FrameTooLarge",
        `frame of ${declared} bytes exceeds the maximum of ${this.maxFrameSize}`
      );
    }
    const len = Number(declared);
    if (avail < prefixLen + len) return null;
    const from = this.start + prefixLen;
    const frame = this.buf.slice(from, from + len);
    this.start = from + len;
    if (this.start === this.end) this.start = this.end = 0;
    return frame;
  }
};

// src/errors.ts
var ConnectError = class extends Error {
  name = "ConnectError";
  kind;
  /** For `Rejected`: the `Reject.reason` code (unknown codes are kept as sent). */
  reason;
  /** For `Rejected`: the reason's name, `"Other"` for a code this version does not know. */
  reasonName;
  /** For `Rejected`: `Reject.data` decoded as JSON; `undefined` when empty or not JSON. */
  data;
  constructor(kind, message, reject, options) {
    super(message, options);
    this.kind = kind;
    if (reject !== void 0) {
      this.reason = reject.reason;
      this.reasonName = rejectReasonName(reject.reason);
      this.data = reject.data;
    }
  }
};
var EmitError = class extends Error {
  name = "EmitError";
  kind;
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
};
var DatagramTooLargeError = class extends EmitError {
  constructor(size, max) {
    super("DatagramTooLarge", `volatile frame of ${size} bytes exceeds the datagram limit of ${max}`);
    this.size = size;
    this.max = max;
  }
  size;
  max;
  name = "DatagramTooLargeError";
};
var OfflineBufferFullError = class extends EmitError {
  constructor(maxEvents, maxBytes) {
    super(
      "OfflineBufferFull",
      `the offline buffer is full (at most ${maxEvents} events and ${maxBytes} bytes)`
    );
    this.maxEvents = maxEvents;
    this.maxBytes = maxBytes;
  }
  maxEvents;
  maxBytes;
  name = "OfflineBufferFullError";
};
var AckError = class extends Error {
  name = "AckError";
};
var TimeoutError = class extends Error {
  constructor(timeoutMs) {
    super(`no acknowledgement within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
  timeoutMs;
  name = "TimeoutError";
};
var PayloadError = class extends Error {
  name = "PayloadError";
};

// src/json.ts
var encoder2 = new TextEncoder();
var decoder2 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
function encodeJson(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new PayloadError(`cannot encode payload as json: ${errorMessage(err)}`, { cause: err });
  }
  return encoder2.encode(text ?? "null");
}
function decodeJson(bytes) {
  try {
    return JSON.parse(decoder2.decode(bytes));
  } catch (err) {
    throw new PayloadError(`cannot decode json payload: ${errorMessage(err)}`, { cause: err });
  }
}
var BINARY_MARKER = 0;
function encodePayload(value) {
  const bytes = binaryOf(value);
  if (!bytes) return encodeJson(value);
  const payload = new Uint8Array(bytes.length + 1);
  payload[0] = BINARY_MARKER;
  payload.set(bytes, 1);
  return payload;
}
function decodePayload(bytes) {
  if (bytes[0] === BINARY_MARKER) return bytes.slice(1);
  return decodeJson(bytes);
}
function binaryOf(value) {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}
function errorMessage(err) {
  return err instanceof Error ? err.message : String(err);
}
var MAX_MESSAGE_BYTES = 1024;
function sendableMessage(message) {
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
  return truncateUtf8(message.replace(lone, "\uFFFD"), MAX_MESSAGE_BYTES);
}
function truncateUtf8(text, max) {
  const encoder3 = new TextEncoder();
  if (encoder3.encode(text).length <= max) return text;
  let out = "";
  let size = 0;
  for (const ch of text) {
    size += encoder3.encode(ch).length;
    if (size > max) break;
    out += ch;
  }
  return out;
}

// src/timers.ts
function later(run, ms) {
  return setTimeout(run, Math.min(Math.max(ms, 0), 2 ** 31 - 1));
}

// src/acks.ts
var PendingAcks = class {
  constructor(max) {
    this.max = max;
  }
  max;
  pending = /* @__PURE__ */ new Map();
  nextId = 1n;
  /**
   * Takes the next ack id and calls `send` with it; resolves with the reply decoded as JSON.
   * Registered before sending, so a reply finds its id however soon it comes; a `send` that
   * throws takes the id back and rejects with its error.
   */
  expect(timeout, send) {
    return new Promise((resolve, reject) => {
      if (this.pending.size >= this.max) {
        throw new EmitError("TooManyPending", "too many acknowledgements pending");
      }
      const id = this.nextId;
      const timer = later(() => {
        this.pending.delete(id);
        reject(new TimeoutError(timeout));
      }, timeout);
      this.pending.set(id, {
        resolve: (bytes) => {
          try {
            resolve(decodePayload(bytes));
          } catch (err) {
            reject(err);
          }
        },
        reject,
        timer
      });
      try {
        send(id);
        this.nextId += 1n;
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        throw err;
      }
    });
  }
  /** The server's reply; ids unknown, answered or timed out are ignored. */
  resolve(id, data) {
    this.take(id)?.resolve(data);
  }
  /** The server's error for an id; ignored like {@link PendingAcks.resolve}. */
  reject(id, err) {
    this.take(id)?.reject(err);
  }
  /** Rejects every id in flight: the connection is gone. */
  rejectAll(err) {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err());
    }
    this.pending.clear();
  }
  take(id) {
    const pending = this.pending.get(id);
    if (pending === void 0) return void 0;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }
};

// src/classes.ts
var MAX_REMEMBERED = 4096;
var lastSeq = 0n;
function nextSeq() {
  const now2 = BigInt(Date.now()) * 1000n;
  lastSeq = now2 > lastSeq ? now2 : lastSeq + 1n;
  return lastSeq;
}
var Freshness = class {
  constructor(max = MAX_REMEMBERED) {
    this.max = max;
  }
  max;
  newest = /* @__PURE__ */ new Map();
  dropped = 0;
  /** How many values were dropped as stale. */
  get stale() {
    return this.dropped;
  }
  /** Whether a value stamped `seq` is newer than any handled for `name` and `key`; if so it is now the newest. */
  admit(name, key, seq) {
    const pair = `${name.length}:${name}${key}`;
    const newest = this.newest.get(pair);
    if (newest !== void 0 && seq <= newest) {
      this.dropped += 1;
      return false;
    }
    if (newest === void 0 && this.newest.size >= this.max) this.forgetOldest();
    this.newest.set(pair, seq);
    return true;
  }
  forgetOldest() {
    let oldest;
    let lowest;
    for (const [pair, seq] of this.newest) {
      if (lowest === void 0 || seq < lowest) [oldest, lowest] = [pair, seq];
    }
    if (oldest !== void 0) this.newest.delete(oldest);
  }
};

// src/emitter.ts
var Emitter = class {
  listeners = /* @__PURE__ */ new Map();
  /** Adds a listener. */
  on(event, listener) {
    const list = this.listeners.get(event);
    if (list) list.push(listener);
    else this.listeners.set(event, [listener]);
    return this;
  }
  /** Adds a listener that runs at most once. */
  once(event, listener) {
    const wrapper = ((...args) => {
      this.off(event, wrapper);
      return listener(...args);
    });
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }
  /** Removes one listener, or every listener of `event` when none is given. */
  off(event, listener) {
    if (listener === void 0) {
      this.listeners.delete(event);
      return this;
    }
    const list = this.listeners.get(event);
    if (!list) return this;
    const at = list.findIndex(
      (l) => l === listener || l.listener === listener
    );
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.listeners.delete(event);
    return this;
  }
  /** How many listeners `event` has. */
  listenerCount(event) {
    return this.listeners.get(event)?.length ?? 0;
  }
  /** The listeners of `event`, as a snapshot safe to iterate while listeners change. */
  listenersOf(event) {
    return [...this.listeners.get(event) ?? []];
  }
  /**
   * Calls every listener of `event`; returns whether there was any. A listener that throws
   * does not stop the others, nor the caller (a connection's read loop): its error is
   * rethrown on its own turn of the event loop, where the page sees it.
   */
  emit(event, ...args) {
    const list = this.listenersOf(event);
    for (const listener of list) {
      try {
        listener(...args);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
    return list.length > 0;
  }
};

// src/presence.ts
var MAX_PART_KEYS = 1e5;
var Presence = class {
  /** @internal Built by {@link Presences.add}, for `Socket.presence`. */
  constructor(room, decode, onUnsubscribe) {
    this.room = room;
    this.decode = decode;
    this.onUnsubscribe = onUnsubscribe;
  }
  room;
  decode;
  onUnsubscribe;
  events = new Emitter();
  metas = /* @__PURE__ */ new Map();
  synced = false;
  ended = false;
  /** Entries of a state sent in parts, until the `PresenceState` that completes them. */
  parts = [];
  /** Each key present, with its metas ordered by id. Replaced in place on every change. */
  state = /* @__PURE__ */ new Map();
  /** The room's counts, when its server sends counts only; `undefined` when it sends keys. */
  counts = void 0;
  /** Whether the subscription is still running. */
  get active() {
    return !this.ended;
  }
  /** Whether a full state has arrived yet. */
  get isSynced() {
    return this.synced;
  }
  /** Adds a listener. */
  on(event, listener) {
    this.events.on(event, listener);
    return this;
  }
  /** Adds a listener that runs at most once. */
  once(event, listener) {
    this.events.once(event, listener);
    return this;
  }
  /** Removes a listener, or all listeners of `event`. */
  off(event, listener) {
    this.events.off(event, listener);
    return this;
  }
  /** Stops the subscription (sends `PresenceUnsubscribe`); the server does not answer it. */
  unsubscribe() {
    if (this.ended) return;
    this.ended = true;
    this.onUnsubscribe(this);
  }
  /**
   * @internal A `PresenceStatePart`: kept for the `PresenceState` that completes it. Refused
   * past {@link MAX_PART_KEYS} keys, a bound no server within its room limit reaches.
   */
  applyPart(entries) {
    if (this.parts.length + entries.length > MAX_PART_KEYS) return false;
    this.parts.push(...entries);
    return true;
  }
  /** @internal A `PresenceCount`: the room's counts, in place of its keys. */
  applyCount(keys, connections) {
    if (this.ended) return;
    this.metas.clear();
    this.state.clear();
    this.counts = { keys, connections };
    this.synced = true;
    this.events.emit("count", this.counts);
  }
  /** @internal A `PresenceState`: with the parts before it, replaces the whole view. */
  applyState(entries) {
    const parts = this.parts;
    this.parts = [];
    if (this.ended) return;
    this.metas.clear();
    for (const entry of [...parts, ...entries]) {
      const metas = this.metasOf(entry.key);
      for (const meta of entry.metas) metas.set(meta.id, this.toMeta(meta));
    }
    this.state.clear();
    for (const key of this.metas.keys()) this.refresh(key);
    this.counts = void 0;
    this.synced = true;
    this.events.emit("sync");
  }
  /**
   * @internal The connection dropped and the socket is reconnecting: the view is kept, and
   * the next `PresenceState` (of the new subscription) replaces it whole. Diffs until then
   * are ignored, like those before a first state.
   */
  resync() {
    this.synced = false;
    this.parts = [];
  }
  /** @internal A `PresenceDiff`: every join added and every leave removed, as one change. */
  applyDiff(joins, leaves) {
    if (this.ended || !this.synced) return;
    const before = new Set(this.metas.keys());
    const joined = [];
    const left = [];
    for (const entry of joins) {
      const metas = this.metasOf(entry.key);
      const added = entry.metas.map((meta) => this.toMeta(meta));
      for (const meta of added) metas.set(meta.id, meta);
      if (added.length > 0) joined.push([entry.key, added]);
    }
    for (const entry of leaves) {
      const metas = this.metas.get(entry.key);
      if (!metas) continue;
      const removed = [];
      for (const { id } of entry.metas) {
        const meta = metas.get(id);
        if (meta && metas.delete(id)) removed.push(meta);
      }
      if (removed.length > 0) left.push([entry.key, removed]);
    }
    const touched = new Set([...joins, ...leaves].map((entry) => entry.key));
    for (const key of touched) this.refresh(key);
    for (const [key, metas] of joined) {
      this.events.emit("join", key, metas, { first: !before.has(key) && this.state.has(key) });
    }
    for (const [key, metas] of left) {
      this.events.emit("leave", key, metas, { last: before.has(key) && !this.state.has(key) });
    }
  }
  /** @internal A `PresenceEnd`, or the connection closed. */
  end(message) {
    if (this.ended) return;
    this.ended = true;
    this.events.emit("end", message);
  }
  metasOf(key) {
    let metas = this.metas.get(key);
    if (!metas) {
      metas = /* @__PURE__ */ new Map();
      this.metas.set(key, metas);
    }
    return metas;
  }
  toMeta(meta) {
    return { id: meta.id, data: this.decode(meta.data) };
  }
  /** Rebuilds `state` for one key from the metas by id. */
  refresh(key) {
    const metas = this.metas.get(key);
    if (!metas || metas.size === 0) {
      this.metas.delete(key);
      this.state.delete(key);
      return;
    }
    const sorted = [...metas.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    this.state.set(key, sorted);
  }
};
var Presences = class {
  /**
   * `control` sends a frame of the protocol's own, silently failing; `report` hears of metas
   * that are not JSON.
   */
  constructor(control, report) {
    this.control = control;
    this.report = report;
  }
  control;
  report;
  rooms = /* @__PURE__ */ new Map();
  /** The running subscription to `room`, if any. */
  get(room) {
    return this.rooms.get(room);
  }
  /** Registers a subscription to `room`; subscribing on the connection is the caller's. */
  add(room) {
    const presence = new Presence(
      room,
      (bytes) => this.decodeMeta(bytes),
      (p) => this.unsubscribe(p)
    );
    this.rooms.set(room, presence);
    return presence;
  }
  /**
   * A presence frame from the server; frames of rooms not followed are ignored. `false` for
   * a state in parts too large to keep.
   */
  apply(frame) {
    const presence = this.rooms.get(frame.room);
    switch (frame.type) {
      case "PresenceCount":
        presence?.applyCount(frame.keys, frame.connections);
        return true;
      case "PresenceStatePart":
        return presence?.applyPart(frame.entries) ?? true;
      case "PresenceState":
        presence?.applyState(frame.entries);
        return true;
      case "PresenceDiff":
        presence?.applyDiff(frame.joins, frame.leaves);
        return true;
      case "PresenceEnd":
        this.rooms.delete(frame.room);
        presence?.end(frame.message);
        return true;
    }
  }
  /** A connection opened: subscriptions belong to one, and the fresh state replaces each view. */
  resubscribe() {
    for (const room of this.rooms.keys()) this.control({ type: "PresenceSubscribe", room });
  }
  /** The connection dropped; the socket is reconnecting. */
  resync() {
    for (const presence of this.rooms.values()) presence.resync();
  }
  /** Forgets every subscription (the socket closed for good) and returns them, to be ended. */
  takeAll() {
    const presences = [...this.rooms.values()];
    this.rooms.clear();
    return presences;
  }
  unsubscribe(presence) {
    if (this.rooms.get(presence.room) !== presence) return;
    this.rooms.delete(presence.room);
    this.control({ type: "PresenceUnsubscribe", room: presence.room });
  }
  decodeMeta(bytes) {
    try {
      return decodeJson(bytes);
    } catch (err) {
      this.report(err);
      return void 0;
    }
  }
};

// src/dispatch.ts
var MAX_EVENT_NAME_BYTES = 256;
var utf8 = new TextEncoder();
function eventNameError(name) {
  const nameBytes = utf8.encode(name).length;
  if (nameBytes <= MAX_EVENT_NAME_BYTES) return null;
  return `event name of ${nameBytes} bytes exceeds the maximum of ${MAX_EVENT_NAME_BYTES}`;
}
function dispatchFrame(bytes, route, ctx) {
  const datagram = route === "datagram";
  let frame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    return ctx.fail(err, datagram ? "undecodable datagram" : "undecodable frame");
  }
  const misrouted = carriedWrongly(frame, route);
  if (misrouted) return ctx.fail(new Error(misrouted), datagram ? "bad datagram" : "bad frame");
  switch (frame.type) {
    case "Event":
      if (frame.ack === null && typeof route === "number") ctx.counted(route);
      return dispatchEvent(frame, ctx);
    case "Sequenced":
      if (!ctx.freshness) return ctx.fail(new Error("a Sequenced frame without the delivery classes"), "");
      if (!ctx.freshness.admit(frame.name, frame.key, frame.seq)) return;
      return dispatchEvent({ type: "Event", name: frame.name, ack: null, data: frame.data }, ctx);
    case "Ack":
      return ctx.acks.resolve(frame.id, frame.data);
    case "AckError":
      return ctx.acks.reject(frame.id, new AckError(frame.message));
    case "Ping":
      return ctx.control({ type: "Pong", id: frame.id });
    case "Pong":
      return;
    // This client sends no pings; unmatched pongs are ignored.
    case "Disconnect":
      return ctx.close(frame.reason, frame.message);
    case "PresenceState":
    case "PresenceStatePart":
    case "PresenceCount":
    case "PresenceDiff":
    case "PresenceEnd":
      if (!ctx.presences.apply(frame)) {
        ctx.fail(new Error(`a presence state in parts of more than ${MAX_PART_KEYS} keys`), "");
      }
      return;
    default:
      ctx.fail(new Error(`a server may not send ${frame.type} frames after the handshake`), "");
  }
}
function carriedWrongly(frame, route) {
  if (route === 0 || frame.type === "Event" && frame.ack === null) return null;
  const loose = route === "datagram" || route === "single";
  if (loose && frame.type === "Sequenced") return null;
  const what = loose ? "events without an ack id and Sequenced frames" : "events without an ack id";
  const where = route === "datagram" ? "as datagrams" : route === "single" ? "on single-frame streams" : `on channel ${route}`;
  return `only ${what} may travel ${where}, not ${frame.type === "Event" ? "an event with an ack id" : frame.type}`;
}
function isThenable(value) {
  return typeof value?.then === "function";
}
function dispatchEvent(event, ctx) {
  const { name, ack: ackId } = event;
  const refuse = (message) => {
    if (ackId !== null) answerError(ctx, ackId, message);
  };
  const badName = eventNameError(name);
  if (badName !== null) return refuse(badName);
  const { audience } = ctx;
  let data;
  try {
    data = decodePayload(event.data);
  } catch (err) {
    if (ackId !== null) return refuse(`invalid payload: ${errorMessage(err)}`);
    return audience.report(err, false);
  }
  for (const listener of [...audience.anyListeners()]) audience.run(() => listener(name, data));
  const handlers = audience.handlers(name);
  if (handlers.length === 0) return refuse(`unknown event ${JSON.stringify(name)}`);
  const reply = ackId === null ? null : acknowledger(ctx, ackId);
  for (const handler of handlers) {
    try {
      const result = handler(data, reply?.ack);
      if (isThenable(result)) {
        result.then(
          () => reply?.fail("the handler did not acknowledge"),
          (err) => {
            reply?.fail(err);
            audience.report(err, true);
          }
        );
      }
    } catch (err) {
      reply?.fail(err);
      audience.report(err, true);
    }
  }
}
function answerError(ctx, id, message) {
  try {
    ctx.answer(encodeFrame({ type: "AckError", id, message: sendableMessage(message) }));
  } catch {
  }
}
function acknowledger(ctx, id) {
  let answered = false;
  const fail = (err) => {
    if (answered) return;
    answered = true;
    answerError(ctx, id, errorMessage(err));
  };
  const ack = (reply) => {
    if (answered) return;
    let frame;
    try {
      frame = encodeFrame({ type: "Ack", id, data: encodePayload(reply) });
    } catch (err) {
      fail(err);
      throw err;
    }
    if (frame.length > ctx.peerMaxFrameSize) {
      const message = `reply of ${frame.length} bytes exceeds the server's maximum of ${ctx.peerMaxFrameSize}`;
      fail(message);
      throw new EmitError("FrameTooLarge", message);
    }
    answered = true;
    ctx.answer(frame);
  };
  return { ack, fail };
}

// src/events.ts
var RESERVED = /* @__PURE__ */ new Set([
  "connect",
  "disconnect",
  "error",
  "reconnecting",
  "reconnect_error",
  "reconnect_failed",
  "reconnected",
  "events_lost"
]);
function isReserved(event) {
  return RESERVED.has(event);
}
var Listeners = class {
  lifecycle = new Emitter();
  byName = new Emitter();
  catchAll = [];
  held = [];
  /** Adds a listener: a lifecycle one for a reserved name, a handler for any other. */
  add(event, listener, once) {
    if (isReserved(event)) {
      const typed = listener;
      if (once) this.lifecycle.once(event, typed);
      else this.lifecycle.on(event, typed);
    } else if (once) {
      this.byName.once(event, listener);
    } else {
      this.byName.on(event, listener);
    }
  }
  /** Removes a listener, or every listener of `event`. */
  remove(event, listener) {
    if (isReserved(event)) this.lifecycle.off(event, listener);
    else this.byName.off(event, listener);
  }
  /** Adds a catch-all listener. */
  addAny(listener) {
    this.catchAll.push(listener);
  }
  /** Removes a catch-all listener, or all of them. */
  removeAny(listener) {
    this.catchAll = listener ? this.catchAll.filter((l) => l !== listener) : [];
  }
  handlers(name) {
    return isReserved(name) ? [] : this.byName.listenersOf(name);
  }
  anyListeners() {
    return this.catchAll;
  }
  /** Fires one of the socket's own events now, held work or not. */
  emit(event, ...args) {
    this.lifecycle.emit(event, ...args);
  }
  /** Runs `task` now, or after `connect` when that has not fired yet. */
  deliver(task) {
    if (this.held) this.held.push(task);
    else this.run(task);
  }
  /** Fires `connect`, then runs what arrived meanwhile. */
  release() {
    const held = this.held ?? [];
    this.held = null;
    this.run(() => this.lifecycle.emit("connect"));
    for (const task of held) this.run(task);
  }
  run(task) {
    try {
      task();
    } catch (err) {
      this.report(err, true);
    }
  }
  /**
   * Hands an error to the `error` listeners. Without any, errors thrown by the application's
   * own listeners are rethrown asynchronously (never swallowed); others are dropped.
   */
  report(err, fromApplication) {
    const error = toError(err);
    if (this.lifecycle.listenerCount("error") > 0) {
      this.lifecycle.emit("error", error);
    } else if (fromApplication) {
      setTimeout(() => {
        throw error;
      }, 0);
    }
  }
};
function toError(err) {
  return err instanceof Error ? err : new Error(String(err));
}

// src/channels.ts
var LATE_STREAM_GRACE_MS = 50;
var SECOND_FRAME = "a single-frame stream with more than one frame";
var MAX_CHANNELS = 65535;
function readChannelNumber(bytes) {
  const first = bytes[0];
  if (first === void 0) return null;
  if (first < 251) return { channel: first, length: 1 };
  if (first !== 251) {
    throw new DecodeError("InvalidValue", `channel number marker 0x${first.toString(16)}`);
  }
  if (bytes.length < 3) return null;
  const channel = bytes[1] | bytes[2] << 8;
  if (channel < 251) throw new DecodeError("NonCanonical", "a channel number not in its shortest form");
  return { channel, length: 3 };
}
function delay(ms) {
  let timer;
  const elapsed = new Promise((resolve) => timer = setTimeout(() => resolve(false), ms));
  return { elapsed, cancel: () => clearTimeout(timer) };
}
function concat(a, b) {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
var ChannelReader = class {
  constructor(granted, classes, maxFrameSize, sink) {
    this.granted = granted;
    this.maxFrameSize = maxFrameSize;
    this.sink = sink;
    this.singles = classes && granted > 0;
  }
  granted;
  maxFrameSize;
  sink;
  /** The channels whose stream came, each once. */
  seen = /* @__PURE__ */ new Set();
  /** Readers of the channel streams being read, and of `incomingUnidirectionalStreams`. */
  readers = /* @__PURE__ */ new Set();
  /** Streams surfaced and not yet read to their end. */
  open = 0;
  /** Wakes a drain: a stream surfaced or ended. */
  wake = null;
  stopped = false;
  /**
   * Whether streams numbered 0 are single-frame streams: a server opens them only to a
   * client that agreed the classes and showed it reads streams, by a grant of channels.
   */
  singles;
  /** Reads every stream `incoming` yields, each on its own, until it ends or {@link stop}. */
  async accept(incoming) {
    const reader = incoming.getReader();
    this.readers.add(reader);
    try {
      for (; ; ) {
        const { value, done } = await reader.read();
        if (done || this.stopped) return;
        this.open += 1;
        void this.read(value);
        this.notify();
      }
    } catch {
    } finally {
      this.readers.delete(reader);
      reader.releaseLock();
    }
  }
  /**
   * After the server's goodbye: resolves once every stream surfaced so far is read to its end
   * and no other surfaced within a short grace, or after `patienceMs` at the latest.
   */
  async drain(patienceMs) {
    const deadline = delay(patienceMs);
    try {
      while (!this.stopped) {
        const waits = [
          new Promise((resolve) => this.wake = () => resolve(true)),
          deadline.elapsed
        ];
        const grace = this.open === 0 ? delay(LATE_STREAM_GRACE_MS) : null;
        if (grace) waits.push(grace.elapsed);
        const woke = await Promise.race(waits);
        grace?.cancel();
        if (!woke) return;
      }
    } finally {
      deadline.cancel();
      this.wake = null;
    }
  }
  /** Stops reading: nothing more is delivered. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    for (const reader of this.readers) reader.cancel().catch(() => void 0);
    this.readers.clear();
    this.notify();
  }
  notify() {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
  /** Reads one stream: its channel number, then its frames, in order. */
  async read(stream) {
    const reader = stream.getReader();
    this.readers.add(reader);
    const splitter = new FrameSplitter(this.maxFrameSize);
    let channel = null;
    let single = false;
    let head = new Uint8Array(0);
    try {
      for (; ; ) {
        let chunk;
        try {
          const { value, done } = await reader.read();
          if (done) break;
          chunk = value;
        } catch {
          return;
        }
        if (this.stopped) return;
        if (channel === null) {
          head = concat(head, chunk);
          const number = readChannelNumber(head);
          if (number === null) continue;
          channel = this.admit(number.channel);
          chunk = head.subarray(number.length);
        }
        splitter.push(chunk);
        for (let frame = splitter.next(); frame !== null && !this.stopped; frame = splitter.next()) {
          if (channel > 0) {
            this.sink.frame(channel, frame);
            continue;
          }
          if (single) throw new Error(SECOND_FRAME);
          single = true;
          this.sink.single(frame);
        }
        if (single && splitter.buffered > 0) throw new Error(SECOND_FRAME);
      }
      if (!this.stopped && (splitter.buffered > 0 || channel === null && head.length > 0)) {
        throw new DecodeError("Truncated", "a channel's stream ended inside a frame");
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.readers.delete(reader);
      reader.releaseLock();
      this.open -= 1;
      this.notify();
    }
  }
  /** `channel`, once checked against the grant and the streams seen so far; 0 for a single-frame stream. */
  admit(channel) {
    if (channel === 0) {
      if (this.singles) return 0;
      throw new Error("a stream numbered 0 without the delivery classes and a channel granted");
    }
    if (channel > this.granted) {
      throw new Error(`a stream for channel ${channel}, above the grant of ${this.granted}`);
    }
    if (this.seen.has(channel)) throw new Error(`a second stream for channel ${channel}`);
    this.seen.add(channel);
    return channel;
  }
  fail(err) {
    if (this.stopped) return;
    this.stop();
    this.sink.malformed(err);
  }
};

// src/transport.ts
var CLIENT_MAX_FRAME_SIZE = 1024 * 1024;
var MAX_QUEUED_FRAMES = 1024;
var MAX_QUEUED_BYTES = 8 * 1024 * 1024;
var MAX_QUEUED_DATAGRAMS = 64;
var CLOSE_TIMEOUT_MS = 2e3;
var GOODBYE_DRAIN_MS = 2e3;
var WT_CLOSE_CODE_BASE = 1364459520;
async function discover(base, timeoutMs) {
  const url = new URL("/quicket/info", base);
  let body;
  try {
    const response = await fetch(url, {
      headers: { Accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs)
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (err) {
    throw new ConnectError("Discovery", `GET ${url.href}: ${errorMessage(err)}`, void 0, {
      cause: err
    });
  }
  return parseDiscovery(body, url.href);
}
function parseDiscovery(body, where) {
  const doc = typeof body === "object" && body !== null ? body : {};
  const bad = (why) => new ConnectError("Discovery", `${where}: ${why}`);
  if (typeof doc.websocket !== "string") throw bad("no websocket URL");
  const hashes = Array.isArray(doc.certificateHashes) ? doc.certificateHashes : [];
  return {
    protocolVersion: typeof doc.protocolVersion === "number" ? doc.protocolVersion : 0,
    webtransport: typeof doc.webtransport === "string" ? doc.webtransport : null,
    certificateHashes: hashes.filter(
      (h) => typeof h?.algorithm === "string" && typeof h?.value === "string"
    ),
    websocket: doc.websocket,
    maxDatagramSize: typeof doc.maxDatagramSize === "number" ? doc.maxDatagramSize : null
  };
}
async function openCarrier(url, options) {
  let base;
  try {
    base = new URL(url);
  } catch (err) {
    throw new ConnectError("Discovery", `bad URL ${url}`, void 0, { cause: err });
  }
  const wantWs = options.transports.includes("websocket");
  if (base.protocol === "ws:" || base.protocol === "wss:") {
    if (!wantWs) throw new ConnectError("Transport", `${url} is a WebSocket URL`);
    return openWebSocket(base.href, options.timeout);
  }
  const info = await discover(base, options.timeout);
  const failures = [];
  for (const transport of options.transports) {
    if (transport === "webtransport") {
      if (info.webtransport === null) failures.push("the server offers no WebTransport");
      else if (typeof WebTransport === "undefined") failures.push("no WebTransport in this browser");
      else {
        try {
          return await openWebTransport(info, options.webtransportDeadline);
        } catch (err) {
          failures.push(`WebTransport: ${errorMessage(err)}`);
        }
      }
    } else if (transport === "websocket") {
      try {
        const ws = new URL(info.websocket, base);
        if (base.protocol === "https:" && ws.protocol === "ws:") ws.protocol = "wss:";
        return await openWebSocket(ws.href, options.timeout);
      } catch (err) {
        failures.push(`WebSocket: ${errorMessage(err)}`);
      }
    }
  }
  throw new ConnectError("Transport", failures.join("; ") || "no transport allowed");
}
function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
function base64ToBytes(value) {
  const binary = atob(value);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
async function openWebTransport(info, deadlineMs) {
  const options = {};
  if (info.certificateHashes.length > 0) {
    options.serverCertificateHashes = info.certificateHashes.map((h) => ({
      algorithm: h.algorithm,
      value: base64ToBytes(h.value)
    }));
  }
  const wt = new WebTransport(info.webtransport, options);
  wt.ready.catch(() => void 0);
  wt.closed.catch(() => void 0);
  try {
    const opening = wt.ready.then(() => wt.createBidirectionalStream());
    const stream = await withDeadline(opening, deadlineMs, "WebTransport");
    return new WebTransportCarrier(wt, stream, info.maxDatagramSize);
  } catch (err) {
    try {
      wt.close();
    } catch {
    }
    throw err;
  }
}
var Held = class {
  sink = null;
  queue = [];
  set(sink) {
    this.sink = sink;
    const queue = this.queue;
    this.queue = [];
    for (const call of queue) call(sink);
  }
  call(deliver) {
    if (this.sink) deliver(this.sink);
    else this.queue.push(deliver);
  }
};
function datagramWritable(datagrams) {
  const writable = datagrams.writable;
  if (writable) return writable;
  if (typeof datagrams.createWritable === "function") return datagrams.createWritable();
  throw new Error("this browser's WebTransport has no datagram writer");
}
var WebTransportCarrier = class {
  constructor(wt, stream, infoDatagramLimit) {
    this.wt = wt;
    this.stream = stream;
    this.writer = stream.writable.getWriter();
    this.datagrams = datagramWritable(wt.datagrams).getWriter();
    this.infoDatagramLimit = infoDatagramLimit;
  }
  wt;
  stream;
  kind = "webtransport";
  held = new Held();
  writer;
  datagrams;
  infoDatagramLimit;
  queuedFrames = 0;
  queuedBytes = 0;
  queuedDatagrams = 0;
  /** Set once we close, or once the session is gone: nothing more is sent or reported. */
  done = false;
  /** The server's channel streams, once `Welcome` granted channels. */
  channels = null;
  /** Set while the server's goodbye waits for its channel streams to be read to their end. */
  draining = null;
  /** The smaller of the browser's and the server's datagram limits (1200 when neither says). */
  get datagramLimit() {
    const browser = this.wt.datagrams.maxDatagramSize;
    const limits = [browser, this.infoDatagramLimit].filter(
      (n) => typeof n === "number" && n > 0
    );
    return limits.length > 0 ? Math.min(...limits) : 1200;
  }
  get maxChannels() {
    return this.incomingStreams() ? MAX_CHANNELS : 0;
  }
  start(sink) {
    this.held.set(sink);
    void this.readStream();
    void this.readDatagrams();
    this.wt.closed.then(
      (info) => this.gone(reasonFromWtCode(info.closeCode), info.reason ?? ""),
      (err) => this.gone(DisconnectReason.TransportClosed, errorMessage(err))
    );
  }
  sendReliable(frame) {
    if (this.done) return "closed";
    if (this.queuedFrames >= MAX_QUEUED_FRAMES || this.queuedBytes + frame.length > MAX_QUEUED_BYTES) {
      return "overflow";
    }
    this.queuedFrames += 1;
    this.queuedBytes += frame.length;
    const written = () => {
      this.queuedFrames -= 1;
      this.queuedBytes -= frame.length;
    };
    this.writer.write(withLengthPrefix(frame)).then(written, (err) => {
      written();
      this.gone(DisconnectReason.TransportClosed, `stream write failed: ${errorMessage(err)}`);
    });
    return "sent";
  }
  sendVolatile(frame) {
    if (this.done || frame.length > this.datagramLimit) return "dropped";
    if (this.queuedDatagrams >= MAX_QUEUED_DATAGRAMS) return "dropped";
    this.queuedDatagrams += 1;
    const written = () => {
      this.queuedDatagrams -= 1;
    };
    this.datagrams.write(frame).then(written, written);
    return "datagram";
  }
  openChannels(granted, classes) {
    const incoming = this.incomingStreams();
    if (this.done || this.channels || !incoming) return;
    const deliver = (call) => {
      if (!this.done) this.held.call(call);
    };
    this.channels = new ChannelReader(granted, classes, CLIENT_MAX_FRAME_SIZE, {
      frame: (channel, bytes) => deliver((sink) => sink.frame(bytes, channel)),
      single: (bytes) => deliver((sink) => sink.single(bytes)),
      malformed: (err) => deliver((sink) => sink.malformed(err))
    });
    void this.channels.accept(incoming);
  }
  async close(reason, message, goodbye) {
    if (this.done) return;
    this.done = true;
    this.channels?.stop();
    if (goodbye) this.writer.write(withLengthPrefix(goodbye)).catch(() => void 0);
    try {
      await withDeadline(this.writer.close(), CLOSE_TIMEOUT_MS, "closing the stream");
    } catch {
    }
    try {
      this.wt.close({ closeCode: WT_CLOSE_CODE_BASE + reason, reason: truncateUtf8(message, 1024) });
    } catch {
    }
  }
  async readStream() {
    const reader = this.stream.readable.getReader();
    const splitter = new FrameSplitter(CLIENT_MAX_FRAME_SIZE);
    try {
      for (; ; ) {
        const { value, done } = await reader.read();
        if (done || this.done) break;
        splitter.push(value);
        for (let frame = splitter.next(); frame !== null && !this.done; frame = splitter.next()) {
          const bytes = frame;
          if (bytes[0] === TAGS.Disconnect && this.channels && this.channels.granted > 0) {
            await this.goodbye(bytes, this.channels);
          } else {
            this.held.call((sink) => sink.frame(bytes, 0));
          }
        }
      }
      await this.closedSoon();
      this.gone(DisconnectReason.TransportClosed, "the server ended the stream");
    } catch (err) {
      if (err instanceof DecodeError) {
        if (!this.done) this.held.call((sink) => sink.malformed(err));
      } else {
        await this.closedSoon();
        this.gone(DisconnectReason.TransportClosed, `stream read failed: ${errorMessage(err)}`);
      }
    } finally {
      reader.releaseLock();
    }
  }
  /**
   * Hands on the server's `Disconnect` once every channel stream is read to its end, so that
   * the events the server sent before its goodbye are handled before it (PROTOCOL.md 2.2).
   */
  async goodbye(bytes, channels) {
    this.draining = channels.drain(GOODBYE_DRAIN_MS).then(() => {
      if (!this.done) this.held.call((sink) => sink.frame(bytes, 0));
    });
    await this.draining;
    this.draining = null;
  }
  /** The server's unidirectional streams, where the browser has them. */
  incomingStreams() {
    return this.wt.incomingUnidirectionalStreams;
  }
  async readDatagrams() {
    const reader = this.wt.datagrams.readable.getReader();
    try {
      for (; ; ) {
        const { value, done } = await reader.read();
        if (done || this.done) return;
        this.held.call((sink) => sink.datagram(value));
      }
    } catch {
    } finally {
      reader.releaseLock();
    }
  }
  /**
   * A stream that ends usually means the session is closing: give its close (which carries
   * the server's reason code) a moment to arrive and report first.
   */
  async closedSoon() {
    let timer;
    const moment = new Promise((resolve) => timer = setTimeout(resolve, 50));
    await Promise.race([this.wt.closed.then(() => void 0, () => void 0), moment]);
    clearTimeout(timer);
  }
  /** The session ended without our asking. */
  gone(reason, message) {
    if (this.done) return;
    if (this.draining) {
      void this.draining.then(() => this.gone(reason, message));
      return;
    }
    this.done = true;
    this.channels?.stop();
    try {
      this.wt.close();
    } catch {
    }
    this.held.call((sink) => sink.closed(reason, message));
  }
};
function reasonFromWtCode(code) {
  if (code === void 0) return DisconnectReason.TransportClosed;
  const offset = code - WT_CLOSE_CODE_BASE;
  return offset >= 0 && offset <= 65535 ? offset : DisconnectReason.TransportClosed;
}
function openWebSocket(url, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(new WebSocketCarrier(ws));
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      reject(new Error(`closed while opening (code ${event.code})`));
    };
  });
}
var WebSocketCarrier = class {
  constructor(ws) {
    this.ws = ws;
    ws.onmessage = (event) => this.onMessage(event.data);
    ws.onclose = (event) => this.gone(reasonFromWsCode(event.code), event.reason);
    ws.onerror = null;
  }
  ws;
  kind = "websocket";
  datagramLimit = null;
  maxChannels = 0;
  held = new Held();
  done = false;
  start(sink) {
    this.held.set(sink);
  }
  openChannels() {
  }
  sendReliable(frame) {
    if (this.done || this.ws.readyState !== WebSocket.OPEN) return "closed";
    if (this.ws.bufferedAmount + frame.length > MAX_QUEUED_BYTES) return "overflow";
    this.ws.send(frame);
    return "sent";
  }
  sendVolatile(frame) {
    if (this.ws.bufferedAmount + frame.length > MAX_QUEUED_BYTES / 2) return "dropped";
    return this.sendReliable(frame) === "sent" ? "reliable" : "dropped";
  }
  async close(reason, message, goodbye) {
    if (this.done) return;
    this.done = true;
    const closed = new Promise((resolve) => {
      this.ws.onclose = () => resolve();
    });
    try {
      if (goodbye && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(goodbye);
      }
      this.ws.close(4e3 + Math.min(reason, 999), truncateUtf8(message, 123));
    } catch {
      return;
    }
    await withDeadline(closed, CLOSE_TIMEOUT_MS, "closing the WebSocket").catch(() => void 0);
  }
  onMessage(data) {
    if (this.done) return;
    if (!(data instanceof ArrayBuffer)) {
      this.held.call((sink) => sink.malformed(new Error("a WebSocket text message")));
      return;
    }
    if (data.byteLength > CLIENT_MAX_FRAME_SIZE) {
      const err = new DecodeError(
        "FrameTooLarge",
        `frame of ${data.byteLength} bytes exceeds the maximum of ${CLIENT_MAX_FRAME_SIZE}`
      );
      this.held.call((sink) => sink.malformed(err));
      return;
    }
    const bytes = new Uint8Array(data);
    this.held.call((sink) => sink.frame(bytes, 0));
  }
  gone(reason, message) {
    if (this.done) return;
    this.done = true;
    this.held.call((sink) => sink.closed(reason, message));
  }
};
function reasonFromWsCode(code) {
  if (code === 1009) return DisconnectReason.FrameTooLarge;
  if (code === 1002 || code === 1003 || code === 1007) return DisconnectReason.ProtocolError;
  if (code >= 4e3 && code <= 4999) return code - 4e3;
  return DisconnectReason.TransportClosed;
}

// src/handshake.ts
var VERSION = "0.1.0";
function helloFrame(auth, resume, channels) {
  return encodeFrame({
    type: "Hello",
    version: PROTOCOL_VERSION,
    codec: "json",
    client_name: "quicket-js",
    client_version: VERSION,
    max_frame_size: CLIENT_MAX_FRAME_SIZE,
    auth,
    resume,
    channels
  });
}
function handshakeFailure(frame) {
  if (frame.type === "Reject") {
    const name = rejectReasonName(frame.reason);
    let data;
    try {
      data = frame.data.length > 0 ? decodeJson(frame.data) : void 0;
    } catch {
      data = void 0;
    }
    const message = `the server refused the connection (${name}): ${frame.message}`;
    return { error: new ConnectError("Rejected", message, { reason: frame.reason, data }) };
  }
  if (frame.type === "Disconnect") {
    const why = `${disconnectReasonName(frame.reason)}: ${frame.message}`;
    return { error: new ConnectError("Transport", `the server closed the connection (${why})`) };
  }
  return {
    error: new ConnectError("Protocol", `expected Welcome, got ${frame.type}`),
    reason: DisconnectReason.ProtocolError
  };
}
function isFinalRefusal(err) {
  return err instanceof ConnectError && err.kind === "Rejected" && (err.reason === RejectReason.Unauthorized || err.reason === RejectReason.UnsupportedVersion);
}
var PendingHandshake = class {
  constructor(timeoutMs, outcome) {
    this.outcome = outcome;
    this.timer = later(() => {
      const err = new ConnectError("Timeout", `no handshake reply within ${timeoutMs} ms`);
      this.fail(err, DisconnectReason.HandshakeTimeout);
    }, timeoutMs);
  }
  outcome;
  settled = false;
  timer;
  /** Sends `hello` on `carrier`. */
  send(carrier, hello) {
    if (hello.length > CLIENT_MAX_FRAME_SIZE) {
      this.fail(new ConnectError("Payload", "auth makes Hello larger than 1 MiB"));
    } else if (carrier.sendReliable(hello) !== "sent") {
      this.fail(new ConnectError("Transport", "the transport closed before Hello"));
    }
  }
  /** The server's first frame. */
  reply(bytes) {
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      const message = `undecodable handshake reply: ${errorMessage(err)}`;
      this.fail(new ConnectError("Protocol", message), DisconnectReason.ProtocolError);
      return;
    }
    if (frame.type === "Welcome") {
      if (this.settle()) this.outcome.welcome(frame);
    } else {
      const { error, reason } = handshakeFailure(frame);
      this.fail(error, reason);
    }
  }
  /** The transport's reliable channel broke the protocol before the reply. */
  malformed(err) {
    this.fail(new ConnectError("Protocol", err.message), DisconnectReason.ProtocolError);
  }
  /** The transport closed before the reply. */
  closed(reason, message) {
    const why = `${disconnectReasonName(reason)} ${message}`.trim();
    this.fail(new ConnectError("Transport", `closed during the handshake: ${why}`));
  }
  /** Ends the handshake with `err`, unless it has ended already. */
  fail(err, reason = DisconnectReason.ClientDisconnect) {
    if (this.settle()) this.outcome.failed(err, reason);
  }
  settle() {
    if (this.settled) return false;
    this.settled = true;
    clearTimeout(this.timer);
    return true;
  }
};
async function establishConnection(url, options, handshake, abandoned) {
  const carrier = await openCarrier(url, options);
  try {
    await handshake(carrier);
  } catch (err) {
    const refused = err instanceof ConnectError && err.kind === "Rejected";
    const wsAllowed = options.transports.includes("websocket");
    if (refused || abandoned() || carrier.kind !== "webtransport" || !wsAllowed) throw err;
    await handshake(await openCarrier(url, { ...options, transports: ["websocket"] }));
  }
}

// src/heartbeat.ts
var now = () => performance.now();
var Watchdog = class _Watchdog {
  /** Calls `dead` once nothing arrived for `deadAfter` ms; {@link Watchdog.stop} first. */
  constructor(deadAfter, dead) {
    this.deadAfter = deadAfter;
    this.dead = dead;
    this.timer = later(() => this.check(), deadAfter);
  }
  deadAfter;
  dead;
  lastInbound = now();
  timer;
  /** Watches a connection for the silence its `Welcome` allows; `dead` gets the reason. */
  static forWelcome(welcome, dead) {
    const deadAfter = welcome.ping_interval_ms + welcome.ping_timeout_ms;
    return new _Watchdog(deadAfter, () => dead(`no frame from the server for ${deadAfter} ms`));
  }
  /** Something arrived. A timestamp, not a new timer: frames can come by the thousand. */
  touch() {
    this.lastInbound = now();
  }
  /** The connection closed. */
  stop() {
    clearTimeout(this.timer);
  }
  check() {
    const silent = now() - this.lastInbound;
    if (silent >= this.deadAfter) this.dead();
    else this.timer = later(() => this.check(), this.deadAfter - silent);
  }
};

// src/options.ts
function resolveOptions(options) {
  return {
    transports: options.transports ?? ["webtransport", "websocket"],
    timeout: options.timeout ?? 1e4,
    webtransportDeadline: options.webtransportDeadline ?? 3e3,
    ackTimeout: options.ackTimeout ?? 3e4,
    maxChannels: channelCount(options.maxChannels ?? 16),
    reconnection: options.reconnection ?? true,
    reconnectionAttempts: options.reconnectionAttempts ?? Infinity,
    reconnectionDelay: options.reconnectionDelay ?? 1e3,
    reconnectionDelayMax: options.reconnectionDelayMax ?? 5e3,
    randomizationFactor: options.randomizationFactor ?? 0.5,
    replayBufferEvents: options.replayBufferEvents ?? 1024,
    replayBufferBytes: options.replayBufferBytes ?? 4 * 1024 * 1024
  };
}
function channelCount(n) {
  const whole = Math.trunc(n);
  return whole > 0 ? Math.min(whole, MAX_CHANNELS) : 0;
}

// src/replay.ts
var ReplayBuffer = class {
  constructor(limits) {
    this.limits = limits;
  }
  limits;
  /** On the ordered channel of this session, oldest first; the oldest fall off. */
  sent = [];
  sentBytes = 0;
  /** Accepted but not on the wire yet: emitted while disconnected, or waiting behind a replay. */
  held = [];
  heldBytes = 0;
  nextSeq = 1n;
  /** Whether sent events are kept (numbered either way) for a resumption. */
  keepSent = true;
  /** How many events wait to be sent. */
  get waiting() {
    return this.held.length;
  }
  /** Numbers an event just put on the ordered channel, and keeps it while it fits. */
  record(frame) {
    const seq = this.nextSeq;
    this.nextSeq += 1n;
    if (!this.keepSent) return;
    this.sent.push({ seq, frame });
    this.sentBytes += frame.length;
    while (this.sent.length > this.limits.maxEvents || this.sentBytes > this.limits.maxBytes) {
      this.sentBytes -= this.sent.shift().frame.length;
    }
  }
  /**
   * Keeps an event to send later. Throws an {@link OfflineBufferFullError} when it does not
   * fit: unlike the sent part, dropping the oldest here would lose events silently.
   */
  hold(frame) {
    const { maxEvents, maxBytes } = this.limits;
    if (this.held.length + 1 > maxEvents || this.heldBytes + frame.length > maxBytes) {
      throw new OfflineBufferFullError(maxEvents, maxBytes);
    }
    this.held.push(frame);
    this.heldBytes += frame.length;
  }
  /** The next event to send, if any. */
  peek() {
    return this.held[0];
  }
  /** Takes the event {@link ReplayBuffer.peek} showed; {@link ReplayBuffer.record} it once sent. */
  shift() {
    const frame = this.held.shift();
    if (frame) this.heldBytes -= frame.length;
    return frame;
  }
  /**
   * Adjusts to a new connection's `Welcome`, and returns how many events of the session are
   * lost: sent, never handled by the server, and no longer kept.
   *
   * Resumed: the events after `serverOffset` go back to the front of the waiting events, to
   * be sent again before anything newer. A new session: only the waiting events are sent,
   * numbered from 1; what the old session never handled is beyond recovery (and uncounted,
   * since the new session's offset says nothing about the old one).
   */
  resume(recovered, serverOffset) {
    let lost = 0;
    if (recovered) {
      const again = this.sent.filter((e) => e.seq > serverOffset).map((e) => e.frame);
      const unhandled = this.nextSeq - 1n - serverOffset;
      if (unhandled > BigInt(again.length)) lost = Number(unhandled) - again.length;
      this.held = [...again, ...this.held];
      this.heldBytes += again.reduce((n, frame) => n + frame.length, 0);
      this.nextSeq = serverOffset + 1n;
    } else {
      this.nextSeq = 1n;
    }
    this.sent = [];
    this.sentBytes = 0;
    return lost;
  }
  /** Forgets everything: the session ended for good. */
  clear() {
    this.sent = [];
    this.sentBytes = 0;
    this.held = [];
    this.heldBytes = 0;
    this.nextSeq = 1n;
  }
};

// src/outbound.ts
var FLUSH_RETRY_MS = 10;
var Outbound = class {
  constructor(options, host) {
    this.options = options;
    this.host = host;
    this.replay = new ReplayBuffer({
      maxEvents: options.replayBufferEvents,
      maxBytes: options.replayBufferBytes
    });
  }
  options;
  host;
  replay;
  flushTimer;
  maxFrameSize = CLIENT_MAX_FRAME_SIZE;
  /** The largest frame the current server accepts. */
  get peerMaxFrameSize() {
    return this.maxFrameSize;
  }
  /** An event without an ack id, replayed after a drop; see `Socket.emit`. */
  emit(event, data) {
    const frame = this.eventFrame(event, null, data);
    this.checkSize(frame);
    if (this.host.state() === "open" && this.replay.waiting === 0) {
      if (this.transmit(this.host.carrier(), frame)) {
        this.replay.record(frame);
        return;
      }
    }
    if (this.host.state() === "closed" || !this.options.reconnection) {
      throw new EmitError("Disconnected", "the connection is closed");
    }
    this.replay.hold(frame);
    if (this.host.state() === "open") this.flush();
  }
  /** An event with ack id `id`: sent at most once, never replayed. */
  emitAcked(event, id, data) {
    this.send(this.eventFrame(event, id, data));
  }
  /** An event that may be dropped; see `Socket.volatile`. */
  emitVolatile(event, data) {
    const frame = this.eventFrame(event, null, data);
    this.checkSize(frame);
    const carrier = this.host.carrier();
    const limit = carrier?.datagramLimit ?? null;
    if (limit !== null && frame.length > limit) throw new DatagramTooLargeError(frame.length, limit);
    if (this.host.state() !== "open" || !carrier) return;
    if (limit === null && this.replay.waiting > 0) return;
    if (carrier.sendVolatile(frame) === "reliable") this.replay.record(frame);
  }
  /**
   * A value of the sequenced class (`latest` null) or of the latest-value class for the key
   * `latest`; see `Socket.sequenced` and `Socket.latest`.
   */
  emitSequenced(event, latest, data) {
    if (!this.host.classes()) return latest === null ? this.emitVolatile(event, data) : this.emit(event, data);
    const frame = encodeFrame({
      type: "Sequenced",
      name: this.named(event),
      key: latest ?? "",
      seq: nextSeq(),
      data: encodePayload(data)
    });
    this.checkSize(frame);
    const carrier = this.host.carrier();
    if (this.host.state() !== "open" || !carrier) return;
    const limit = carrier.datagramLimit;
    if (latest !== null || limit !== null && frame.length > limit) {
      carrier.sendReliable(frame);
    } else {
      carrier.sendVolatile(frame);
    }
  }
  /** Sends a frame that is never replayed (acks, presence, control) on the open connection. */
  send(frame) {
    if (this.host.state() !== "open") throw new EmitError("Disconnected", "the connection is closed");
    this.checkSize(frame);
    if (!this.transmit(this.host.carrier(), frame)) {
      throw new EmitError("Disconnected", "the connection is closed");
    }
  }
  /** Sends a frame of the protocol's own; failures (closing, too large) have nobody to tell. */
  control(frame) {
    try {
      this.send(encodeFrame(frame));
    } catch {
    }
  }
  /**
   * A connection opened: takes on the server's limit and session, and sends what waits.
   * Returns how many events of a resumed session are lost (see {@link ReplayBuffer.resume}).
   */
  opened(welcome) {
    this.maxFrameSize = Math.min(welcome.max_frame_size, MAX_FRAME_SIZE);
    this.replay.keepSent = this.options.reconnection && welcome.session.length > 0;
    const lost = this.replay.resume(welcome.recovered, welcome.offset);
    this.flush();
    return lost;
  }
  /** The connection closed: a replay in progress continues on the next one. */
  pause() {
    clearTimeout(this.flushTimer);
  }
  /** The socket closed for good: nothing waits to be sent. */
  discard() {
    this.pause();
    this.replay.clear();
  }
  eventFrame(event, ack, data) {
    return encodeFrame({ type: "Event", name: this.named(event), ack, data: encodePayload(data) });
  }
  /** `event`, unless it is too long to name an event. */
  named(event) {
    const badName = eventNameError(event);
    if (badName !== null) throw new EmitError("EventNameTooLong", badName);
    return event;
  }
  checkSize(frame) {
    if (frame.length > this.maxFrameSize) {
      throw new EmitError(
        "FrameTooLarge",
        `frame of ${frame.length} bytes exceeds the server's maximum of ${this.maxFrameSize}`
      );
    }
  }
  /**
   * Queues a frame on `carrier`: `false` when it is already closed; a full queue closes the
   * connection as a slow consumer.
   */
  transmit(carrier, frame) {
    const result = carrier.sendReliable(frame);
    if (result === "overflow") {
      queueMicrotask(() => this.host.overflowed());
      throw new EmitError("SlowConsumer", "the server reads too slowly; the connection is closing");
    }
    return result === "sent";
  }
  /**
   * Sends the events waiting in the replay buffer, in order. A replay can be longer than the
   * transport's queue: what does not fit waits for the queue to drain, not for a drop.
   */
  flush() {
    clearTimeout(this.flushTimer);
    this.flushTimer = void 0;
    const open = () => this.host.state() === "open";
    for (let frame = this.replay.peek(); frame && open(); frame = this.replay.peek()) {
      if (frame.length > this.maxFrameSize) {
        this.replay.shift();
        const message = `a held event of ${frame.length} bytes exceeds the server's maximum of ${this.maxFrameSize}`;
        this.host.report(new EmitError("FrameTooLarge", message));
        continue;
      }
      const result = this.host.carrier().sendReliable(frame);
      if (result === "overflow") {
        this.flushTimer = later(() => this.flush(), FLUSH_RETRY_MS);
        return;
      }
      if (result === "closed") return;
      this.replay.record(this.replay.shift());
    }
  }
};
function goodbyeFrame(reason, message) {
  try {
    return encodeFrame({ type: "Disconnect", reason, message });
  } catch {
    return encodeFrame({ type: "Disconnect", reason, message: "" });
  }
}

// src/reconnect.ts
function reconnectsAfter(reason, options) {
  return options.reconnection && reason !== DisconnectReason.ClientDisconnect && reason !== DisconnectReason.ServerDisconnect;
}
var Backoff = class {
  constructor(base, max, jitter, random = Math.random) {
    this.base = base;
    this.max = max;
    this.jitter = jitter;
    this.random = random;
  }
  base;
  max;
  jitter;
  random;
  attempts = 0;
  /** The delay before the next attempt; each call counts one attempt. */
  duration() {
    let ms = this.base * 2 ** Math.min(this.attempts, 52);
    this.attempts += 1;
    if (this.jitter) {
      const rand = this.random();
      const deviation = Math.floor(rand * this.jitter * ms);
      ms = (Math.floor(rand * 10) & 1) === 0 ? ms - deviation : ms + deviation;
    }
    return Math.max(0, Math.floor(Math.min(ms, this.max)));
  }
  /** Starts again from the first delay. */
  reset() {
    this.attempts = 0;
  }
};
var Reconnector = class {
  constructor(options, hooks, random) {
    this.options = options;
    this.hooks = hooks;
    this.backoff = new Backoff(
      options.reconnectionDelay,
      options.reconnectionDelayMax,
      options.randomizationFactor,
      random
    );
  }
  options;
  hooks;
  backoff;
  timer;
  attempts = 0;
  running = false;
  /** Bumped whenever a cycle ends, so that an attempt of an ended cycle settles unheard. */
  cycle = 0;
  /**
   * Starts a cycle after a drop: the first attempt after the first backoff delay, or at once
   * when `immediate` (the server is being replaced, so waiting only delays the recovery).
   */
  start(immediate) {
    if (this.running) return;
    this.running = true;
    this.attempts = 0;
    this.next(immediate ? 0 : this.backoff.duration());
  }
  /**
   * Ends the cycle (a connection opened, or the application disconnected): no attempt starts
   * after this, one in flight is ignored, and the next drop starts from the first delay.
   */
  stop() {
    this.running = false;
    this.cycle += 1;
    this.backoff.reset();
    clearTimeout(this.timer);
    this.timer = void 0;
  }
  next(delay2) {
    if (this.attempts >= this.options.reconnectionAttempts) {
      this.stop();
      this.hooks.gaveUp();
      return;
    }
    this.timer = later(() => void this.run(), delay2);
  }
  async run() {
    this.timer = void 0;
    const cycle = this.cycle;
    this.attempts += 1;
    this.hooks.attempting(this.attempts);
    if (cycle !== this.cycle) return;
    try {
      await this.hooks.attempt();
    } catch (err) {
      if (cycle !== this.cycle) return;
      const final = this.hooks.failed(err, this.attempts);
      if (cycle !== this.cycle) return;
      if (final) {
        this.stop();
        this.hooks.gaveUp();
      } else {
        this.next(this.backoff.duration());
      }
      return;
    }
    if (cycle === this.cycle) this.stop();
  }
};

// src/session.ts
function webStorageSession(key = "quicket-session", storage) {
  const backing = () => {
    try {
      return storage ?? globalThis.sessionStorage;
    } catch {
      return void 0;
    }
  };
  const attempt = (task) => {
    try {
      const store = backing();
      return store ? task(store) : void 0;
    } catch {
      return void 0;
    }
  };
  return {
    load: () => attempt((store) => parseStored(store.getItem(key))),
    save: (session) => void attempt((store) => store.setItem(key, JSON.stringify(session))),
    clear: () => void attempt((store) => store.removeItem(key))
  };
}
function parseStored(text) {
  if (!text) return null;
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null) return null;
  const { token, offset, channels } = value;
  if (typeof token !== "string" || !/^(?:[0-9a-f]{2})+$/.test(token)) return null;
  if (!isCount(offset)) return null;
  if (channels === void 0) return { token, offset };
  if (typeof channels !== "object" || channels === null) return null;
  const entries = Object.entries(channels);
  if (!entries.every(([channel, count]) => isChannel(channel) && isCount(count))) return null;
  return { token, offset, channels: Object.fromEntries(entries) };
}
var isCount = (value) => typeof value === "string" && /^[0-9]{1,20}$/.test(value);
var isChannel = (key) => /^[1-9][0-9]{0,4}$/.test(key) && Number(key) <= 65535;
var toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
var fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
var Session = class {
  /** Picks up the session a previous page left in `store`, if any. */
  constructor(store = null) {
    this.store = store;
    const stored = store?.load();
    if (stored) {
      this.token = fromHex(stored.token);
      this.received.set(0, BigInt(stored.offset));
      for (const [channel, count] of Object.entries(stored.channels ?? {})) {
        this.received.set(Number(channel), BigInt(count));
      }
    }
  }
  store;
  sid = "";
  wasRecovered = false;
  /** The last `Welcome.session`: what `Hello.resume` presents. */
  token = new Uint8Array(0);
  /**
   * The server's reliable events handled in this session, by channel (PROTOCOL.md 2.2):
   * channel 0's is `Hello.resume.offset`, the others' `Hello.channels.offsets`.
   */
  received = /* @__PURE__ */ new Map();
  /** The socket id of the last `Welcome`, as 32 lowercase hex digits; empty before it. */
  get id() {
    return this.sid;
  }
  /** Whether the last `Welcome` resumed the session before it. */
  get recovered() {
    return this.wasRecovered;
  }
  /** Whether the session is kept in a store, to outlive the page. */
  get persistent() {
    return this.store !== null;
  }
  /**
   * The `Hello` of the next connection, asking to resume this session when there is one,
   * offering `maxChannels` channels besides channel 0 (none when 0) and always the delivery
   * classes (PROTOCOL.md 2.3). A resume names the other channels' offsets even when it offers
   * none (over WebSocket): the session then carries on over channel 0 alone (section 10.6).
   */
  hello(auth, maxChannels) {
    const resume = this.token.length > 0 ? { token: this.token, offset: this.handled(0) } : null;
    const offsets = resume ? this.channelOffsets() : [];
    const channels = { max_channels: maxChannels, offsets, classes: true };
    return helloFrame(auth, resume, channels);
  }
  /**
   * Counts one of the server's events that the session numbers (reliable, without an ack id)
   * on `channel`.
   */
  count(channel) {
    this.received.set(channel, this.handled(channel) + 1n);
    this.persist();
  }
  /** Takes on a new connection's session, resumed or new. */
  welcomed(welcome) {
    this.sid = toHex(welcome.sid);
    this.token = welcome.session;
    this.wasRecovered = welcome.recovered;
    if (!welcome.recovered) this.received.clear();
    this.persist();
  }
  /** The session ended for good: a later page must not ask for it. */
  ended() {
    this.store?.clear();
  }
  handled(channel) {
    return this.received.get(channel) ?? 0n;
  }
  /** Each channel above 0 with events handled, and how many: a resume's offsets. */
  channelOffsets() {
    return [...this.received].filter(([channel, offset]) => channel > 0 && offset > 0n).sort(([a], [b]) => a - b).map(([channel, offset]) => ({ channel, offset }));
  }
  persist() {
    if (!this.store) return;
    if (this.token.length === 0) return this.store.clear();
    const session = { token: toHex(this.token), offset: this.handled(0).toString() };
    const offsets = this.channelOffsets();
    if (offsets.length > 0) {
      session.channels = Object.fromEntries(offsets.map((o) => [String(o.channel), o.offset.toString()]));
    }
    this.store.save(session);
  }
};

// src/client.ts
var MAX_PENDING_ACKS = 1024;
async function connect(url, options = {}) {
  const resolved = resolveOptions(options);
  let auth = new Uint8Array(0);
  if (options.auth !== void 0) {
    try {
      auth = encodeJson(options.auth);
    } catch (err) {
      throw new ConnectError("Payload", errorMessage(err), void 0, { cause: err });
    }
  }
  const socket = await Socket.open(url, resolved, auth, new Session(options.session ?? null));
  return options.session ? socket : disconnectOnPageHide(socket);
}
function disconnectOnPageHide(socket) {
  const page = globalThis;
  page.addEventListener?.("pagehide", () => void socket.disconnect(), { once: true });
  return socket;
}
var Socket = class _Socket {
  constructor(url, options, auth, session) {
    this.url = url;
    this.options = options;
    this.auth = auth;
    this.session = session;
    this.outbound = new Outbound(options, {
      carrier: () => this.carrier,
      state: () => this.state,
      classes: () => this.classes,
      overflowed: () => void this.close(DisconnectReason.SlowConsumer, "outbound queue full", true),
      report: (err) => this.listeners.report(err, false)
    });
    this.presences = new Presences(
      (frame) => this.outbound.control(frame),
      (err) => this.listeners.report(err, false)
    );
    this.reconnector = new Reconnector(options, {
      attempt: () => this.establish(),
      attempting: (n) => this.listeners.emit("reconnecting", n),
      failed: (err) => {
        this.listeners.emit("reconnect_error", toError(err));
        return isFinalRefusal(err);
      },
      gaveUp: () => {
        this.terminate();
        this.listeners.emit("reconnect_failed");
      }
    });
  }
  url;
  options;
  auth;
  session;
  state = "connecting";
  /** The current transport, open or in its handshake; `null` between connections. */
  carrier = null;
  kind = "websocket";
  grantedChannels = 0;
  /** Whether the last handshake agreed the delivery classes (PROTOCOL.md 2.3). */
  classes = false;
  /** Kept across connections: the server's clock numbers every connection's values alike. */
  freshness = new Freshness();
  pendingHandshake = null;
  watchdog = null;
  listeners = new Listeners();
  acks = new PendingAcks(MAX_PENDING_ACKS);
  outbound;
  presences;
  reconnector;
  /** @internal Opens the first connection. Use {@link connect}. */
  static async open(url, options, auth, session) {
    const socket = new _Socket(url, options, auth, session);
    try {
      await socket.establish();
    } catch (err) {
      socket.state = "closed";
      throw err;
    }
    return socket;
  }
  /** The socket id the server assigned: 32 lowercase hex digits. A new session brings a new one. */
  get id() {
    return this.session.id;
  }
  /** Whether the last `Welcome` resumed the previous session (false for the first connection). */
  get recovered() {
    return this.session.recovered;
  }
  /** The transport in use, or last used while reconnecting. */
  get transport() {
    return this.kind;
  }
  /**
   * How many channels besides the connection's own the server granted (PROTOCOL.md 2.2): each
   * room's events come on one of them, in order within the room. 0 over WebSocket.
   */
  get channels() {
    return this.grantedChannels;
  }
  /** Whether a connection is open. */
  get connected() {
    return this.state === "open";
  }
  on(event, listener) {
    this.listeners.add(event, listener, false);
    return this;
  }
  once(event, listener) {
    this.listeners.add(event, listener, true);
    return this;
  }
  /** Removes a listener, or every listener of `event`. */
  off(event, listener) {
    this.listeners.remove(event, listener);
    return this;
  }
  /** Adds a listener for every incoming event. */
  onAny(listener) {
    this.listeners.addAny(listener);
    return this;
  }
  /** Removes a catch-all listener, or all of them. */
  offAny(listener) {
    this.listeners.removeAny(listener);
    return this;
  }
  /**
   * Emits an event with no acknowledgement. While reconnecting it waits in the offline
   * buffer, and throws an {@link OfflineBufferFullError} when that is full. Throws
   * {@link EmitError} or {@link PayloadError} when it cannot be sent at all.
   */
  emit(event, data) {
    this.outbound.emit(event, data);
    return this;
  }
  /**
   * Emits an event and resolves with the server's reply (decoded JSON). Rejects with an
   * {@link AckError} when the server answers with an error, a {@link TimeoutError} after
   * `timeout` ms (the id is then forgotten), an {@link EmitError} when it cannot be sent or
   * the connection closes first (also while reconnecting: an event with an ack is sent at
   * most once, never replayed), and a {@link PayloadError} when the reply is not JSON.
   */
  emitWithAck(event, data, options = {}) {
    const timeout = options.timeout ?? this.options.ackTimeout;
    return this.acks.expect(timeout, (id) => this.outbound.emitAcked(event, id, data));
  }
  /**
   * Emits that may be dropped: on WebTransport as a datagram (throws a
   * {@link DatagramTooLargeError} when the frame does not fit one), on WebSocket as a frame
   * unless the send buffer is congested. Dropped silently while disconnected.
   */
  get volatile() {
    return { emit: (event, data) => this.outbound.emitVolatile(event, data) };
  }
  /**
   * Reliable emits that need no order (PROTOCOL.md 2.3). A client never opens streams
   * (section 2.2), so from this side they travel as {@link Socket.emit}'s do: in order, and
   * sent again after a drop.
   */
  get unordered() {
    return { emit: (event, data) => this.outbound.emit(event, data) };
  }
  /**
   * Emits that may be dropped and are never handled after a newer one of the same name
   * (PROTOCOL.md 2.3): a `Sequenced` frame stamped from this client's clock, as a datagram,
   * or on the connection's stream when larger than a datagram or over WebSocket. Dropped
   * silently while disconnected. Where the server did not agree the delivery classes, a
   * {@link Socket.volatile} emit.
   */
  get sequenced() {
    return { emit: (event, data) => this.outbound.emitSequenced(event, null, data) };
  }
  /**
   * Emits the newest value of `key` (an entity, a sensor) for an event name: the server never
   * handles a value older than one it handled for the same name and key (PROTOCOL.md 2.3).
   * Sent as {@link Socket.sequenced} is, with the key. Where the server did not agree the
   * delivery classes, an ordinary reliable {@link Socket.emit}.
   */
  latest(key) {
    return { emit: (event, data) => this.outbound.emitSequenced(event, key, data) };
  }
  /**
   * How many of the server's sequenced and latest values this socket dropped because a newer
   * one of the same name and key had already been handled: a count of values that came late.
   */
  get staleDropped() {
    return this.freshness.stale;
  }
  /**
   * Follows a room's presence (the socket must be in the room; the server ends the
   * subscription otherwise). Returns the running subscription for that room if there is one.
   * The subscription is renewed after every reconnection.
   */
  presence(room) {
    const existing = this.presences.get(room);
    if (existing) return existing;
    if (this.state === "closed") throw new EmitError("Disconnected", "the connection is closed");
    if (this.state === "open") this.outbound.send(encodeFrame({ type: "PresenceSubscribe", room }));
    return this.presences.add(room);
  }
  /**
   * Disconnects for good: sends `Disconnect{ClientDisconnect}`, lets queued frames leave,
   * and closes the transport; while reconnecting, stops. Resolves once closed.
   */
  disconnect() {
    if (this.state === "reconnecting") {
      this.pendingHandshake?.fail(new ConnectError("Transport", "the application disconnected"));
      this.terminate();
      return Promise.resolve();
    }
    return this.close(DisconnectReason.ClientDisconnect, "", true);
  }
  // ---- connecting ----
  /** Opens a connection: the first one, or a reconnection. */
  establish() {
    const abandoned = () => this.state === "closed";
    return establishConnection(this.url, this.options, (carrier) => this.handshake(carrier), abandoned);
  }
  /** Sends `Hello` on an open carrier and resolves on `Welcome`. */
  handshake(carrier) {
    return new Promise((resolve, reject) => {
      if (this.state === "closed") {
        void carrier.close(DisconnectReason.ClientDisconnect, "", null);
        reject(new ConnectError("Transport", "the application disconnected"));
        return;
      }
      this.carrier = carrier;
      this.kind = carrier.kind;
      const offer = Math.min(this.options.maxChannels, carrier.maxChannels);
      const handshake = new PendingHandshake(this.options.timeout, {
        welcome: (welcome) => {
          this.pendingHandshake = null;
          this.onWelcome(welcome, carrier, Math.min(offer, welcome.channels?.max_channels ?? 0));
          resolve();
        },
        failed: (err, reason) => {
          this.pendingHandshake = null;
          this.carrier = null;
          void carrier.close(reason, err.message, null);
          reject(err);
        }
      });
      this.pendingHandshake = handshake;
      carrier.start(this.sink(carrier));
      handshake.send(carrier, this.session.hello(this.auth, offer));
    });
  }
  /**
   * Opens the connection, with `granted` channels besides channel 0. All of it runs before
   * the frames behind `Welcome` are read, so that the replay goes out before any event a
   * handler emits, and no channel's frame is handled before `Welcome`.
   */
  onWelcome(welcome, carrier, granted) {
    const reconnection = this.state === "reconnecting";
    this.grantedChannels = granted;
    this.classes = welcome.channels?.classes === true;
    this.state = "open";
    this.session.welcomed(welcome);
    this.watchdog = Watchdog.forWelcome(welcome, (message) => {
      void this.close(DisconnectReason.PingTimeout, message, true);
    });
    const lost = this.outbound.opened(welcome);
    this.presences.resubscribe();
    if (reconnection) {
      this.reconnector.stop();
      this.listeners.emit("reconnected", { recovered: welcome.recovered });
      if (lost > 0) this.listeners.emit("events_lost", lost);
      this.listeners.emit("connect");
    } else {
      setTimeout(() => this.listeners.release(), 0);
    }
    carrier.openChannels(granted, this.classes);
  }
  // ---- inbound ----
  /** Where `carrier` delivers; silent once it is no longer the current one. */
  sink(carrier) {
    const current = () => this.carrier === carrier;
    return {
      frame: (bytes, channel) => current() && this.inbound(carrier, bytes, channel),
      single: (bytes) => current() && this.inbound(carrier, bytes, "single"),
      datagram: (bytes) => current() && this.inbound(carrier, bytes, "datagram"),
      malformed: (err) => {
        if (!current()) return;
        if (this.pendingHandshake) {
          this.pendingHandshake.malformed(err);
        } else {
          this.listeners.deliver(this.bound(carrier, () => this.fail(err, "the server's frame was refused")));
        }
      },
      closed: (reason, message) => {
        if (!current()) return;
        if (this.pendingHandshake) this.pendingHandshake.closed(reason, message);
        else this.listeners.deliver(this.bound(carrier, () => void this.close(reason, message, false)));
      }
    };
  }
  /** `task`, run only while `carrier` is still the connection: held work can outlive it. */
  bound(carrier, task) {
    return () => {
      if (this.carrier === carrier) task();
    };
  }
  inbound(carrier, bytes, route) {
    if (this.pendingHandshake) {
      if (route === 0) this.pendingHandshake.reply(bytes);
      return;
    }
    if (this.state !== "open") return;
    this.watchdog?.touch();
    this.listeners.deliver(this.bound(carrier, () => this.onFrame(carrier, bytes, route)));
  }
  onFrame(carrier, bytes, route) {
    if (this.state !== "open") return;
    dispatchFrame(bytes, route, {
      audience: this.listeners,
      answer: (reply) => {
        if (this.carrier === carrier && this.state === "open") this.outbound.send(reply);
      },
      peerMaxFrameSize: this.outbound.peerMaxFrameSize,
      acks: this.acks,
      presences: this.presences,
      freshness: this.classes ? this.freshness : null,
      counted: (channel) => this.session.count(channel),
      control: (frame) => this.outbound.control(frame),
      close: (reason, message) => void this.close(reason, message, false),
      fail: (err, context) => this.fail(err, context)
    });
  }
  /** Reports a protocol violation and closes: `FrameTooLarge` or `ProtocolError`. */
  fail(err, context) {
    if (this.state !== "open") return;
    this.listeners.report(err, false);
    const tooLarge = err instanceof DecodeError && err.kind === "FrameTooLarge";
    const reason = tooLarge ? DisconnectReason.FrameTooLarge : DisconnectReason.ProtocolError;
    void this.close(reason, context ? `${context}: ${err.message}` : err.message, true);
  }
  // ---- lifecycle ----
  /**
   * Closes the open connection: `Disconnect` to the server when `notifyPeer`, pending acks
   * fail, `disconnect` fires with the reason, and then the socket reconnects, unless either
   * application ended the session.
   */
  close(reason, message, notifyPeer) {
    if (this.state !== "open") return Promise.resolve();
    const carrier = this.carrier;
    this.carrier = null;
    this.watchdog?.stop();
    this.outbound.pause();
    const closed = carrier.close(reason, message, notifyPeer ? goodbyeFrame(reason, message) : null);
    this.acks.rejectAll(() => new EmitError("Disconnected", "the connection closed before the reply came"));
    const details = { code: reason, message };
    if (reconnectsAfter(reason, this.options)) {
      this.state = "reconnecting";
      this.presences.resync();
    } else {
      this.terminate();
    }
    this.listeners.deliver(() => {
      this.listeners.emit("disconnect", disconnectReasonName(reason), details);
      if (this.state === "reconnecting") {
        this.reconnector.start(reason === DisconnectReason.ServerShutdown);
      }
    });
    return closed;
  }
  /** Closed for good: nothing waits to be sent, and every presence subscription ends. */
  terminate() {
    this.state = "closed";
    this.session.ended();
    this.reconnector.stop();
    this.outbound.discard();
    const presences = this.presences.takeAll();
    this.listeners.deliver(() => {
      for (const presence of presences) this.listeners.run(() => presence.end("the connection closed"));
    });
  }
};
export {
  AckError,
  ConnectError,
  DatagramTooLargeError,
  DecodeError,
  DisconnectReason,
  EmitError,
  OfflineBufferFullError,
  PROTOCOL_VERSION,
  PayloadError,
  Presence,
  RejectReason,
  Socket,
  TimeoutError,
  VERSION,
  codec_exports as codec,
  connect,
  disconnectReasonName,
  rejectReasonName,
  webStorageSession
};

/**
 * quicket protocol version 1 frames: one tag byte, then the body in bincode 2 `standard()`
 * form (PROTOCOL.md sections 3–5 and 9), plus the length prefix used on byte streams
 * (section 2.1).
 *
 * Frames are plain objects whose `type` is the Rust variant name and whose fields use the Rust
 * (snake_case) names, exactly as in `proto/vectors/frames.json`. `Bytes` fields and the socket
 * id are `Uint8Array`s; `u16`/`u32` fields are `number`s; `u64` fields are `bigint`s. An
 * `Option` and a trailing field (`Hello.channels`, `Welcome.channels`) are `null` when absent.
 *
 * @module
 */

import { DecodeError, MAX_FRAME_SIZE, Reader, Writer } from "./bincode.js";

export { DecodeError, MAX_FRAME_SIZE, Reader, Writer } from "./bincode.js";
export type { DecodeErrorKind } from "./bincode.js";

/** The protocol version this client speaks, sent in `Hello.version`. */
export const PROTOCOL_VERSION = 1;

/** The payload codec chosen in `Hello.codec`: one raw byte, `00` bincode or `01` json. */
export type PayloadCodec = "bincode" | "json";

/** Client → server: the first frame of every connection. */
export interface Hello {
  type: "Hello";
  version: number;
  codec: PayloadCodec;
  client_name: string;
  client_version: string;
  max_frame_size: number;
  auth: Uint8Array;
  resume: Resume | null;
  /**
   * The channels and delivery classes offered (PROTOCOL.md sections 2.2 and 2.3). A trailing
   * field: absent from the wire when `null`.
   */
  channels: ChannelOffer | null;
}

/** Asks to continue an earlier session (PROTOCOL.md section 10.6). */
export interface Resume {
  /** The `session` token of the last `Welcome`. */
  token: Uint8Array;
  /** How many of the server's reliable events the client has handled in that session. */
  offset: bigint;
}

/**
 * A client's offer of channels (PROTOCOL.md section 2.2) and delivery classes (section 2.3),
 * and for a resume how far it got.
 */
export interface ChannelOffer {
  /** How many channels beside channel 0 the client accepts: a `u16`, 0 for none. */
  max_channels: number;
  /** For a resume: each channel above 0 the client handled events of (section 10.6). */
  offsets: ChannelOffset[];
  /** Whether the client takes the delivery classes. */
  classes: boolean;
}

/** How many of the server's reliable events a client handled on one channel. */
export interface ChannelOffset {
  /** The channel, a `u16` above 0. */
  channel: number;
  /** Its reliable events handled. */
  offset: bigint;
}

/** The server's answer to a {@link ChannelOffer}. */
export interface ChannelGrant {
  /** How many channels beside channel 0 the server may open: a `u16`, 0 for none. */
  max_channels: number;
  /** Whether both sides use the delivery classes. */
  classes: boolean;
}

/** Server → client: the handshake was accepted. */
export interface Welcome {
  type: "Welcome";
  /** The socket id: exactly 16 bytes. */
  sid: Uint8Array;
  ping_interval_ms: number;
  ping_timeout_ms: number;
  max_frame_size: number;
  /** The token to resume this session with; empty when the server keeps no sessions. */
  session: Uint8Array;
  /** Whether the `Hello.resume` session was resumed. */
  recovered: boolean;
  /** How many of the client's reliable events the server has handled in this session. */
  offset: bigint;
  /**
   * The answer to `Hello.channels`, present only when the `Hello` had it. A trailing field:
   * absent from the wire when `null`.
   */
  channels: ChannelGrant | null;
}

/** Server → client: the handshake was refused; the server then closes. */
export interface Reject {
  type: "Reject";
  /** A {@link RejectReason} code, or any other `u16`. */
  reason: number;
  message: string;
  data: Uint8Array;
}

/** Either way: a named event, optionally asking for an acknowledgement. */
export interface Event {
  type: "Event";
  name: string;
  ack: bigint | null;
  data: Uint8Array;
}

/**
 * Either way: a value of the delivery classes *sequenced* (`key` empty) and *latest value*
 * (PROTOCOL.md section 2.3), handled as an event `name` unless one with a higher `seq` for
 * the same `name` and `key` was handled already.
 */
export interface Sequenced {
  type: "Sequenced";
  name: string;
  key: string;
  seq: bigint;
  data: Uint8Array;
}

/** Either way: the successful answer to an event with an ack id. */
export interface Ack {
  type: "Ack";
  id: bigint;
  data: Uint8Array;
}

/** Either way: the failed answer to an event with an ack id. */
export interface AckError {
  type: "AckError";
  id: bigint;
  message: string;
}

/** Client → server: start receiving a room's presence. */
export interface PresenceSubscribe {
  type: "PresenceSubscribe";
  room: string;
}

/** Client → server: stop receiving a room's presence. */
export interface PresenceUnsubscribe {
  type: "PresenceUnsubscribe";
  room: string;
}

/** One connection's metadata for a presence key. */
export interface PresenceMeta {
  id: bigint;
  data: Uint8Array;
}

/** A presence key with its metas, one per connection tracking it. */
export interface PresenceEntry {
  key: string;
  metas: PresenceMeta[];
}

/** Server → client: a room's full presence. */
export interface PresenceState {
  type: "PresenceState";
  room: string;
  entries: PresenceEntry[];
}

/**
 * Server → client: part of a room's state too large for one frame; the {@link PresenceState}
 * that follows completes it.
 */
export interface PresenceStatePart {
  type: "PresenceStatePart";
  room: string;
  entries: PresenceEntry[];
}

/**
 * Server → client: how many keys and connections a room counts, in place of its state and
 * diffs, for a room whose server sends counts only.
 */
export interface PresenceCount {
  type: "PresenceCount";
  room: string;
  keys: bigint;
  connections: bigint;
}

/** Server → client: metas that joined or left since the last state or diff. */
export interface PresenceDiff {
  type: "PresenceDiff";
  room: string;
  joins: PresenceEntry[];
  leaves: PresenceEntry[];
}

/** Server → client: no more presence for this room. */
export interface PresenceEnd {
  type: "PresenceEnd";
  room: string;
  message: string;
}

/** Either way: a liveness probe, answered with a {@link Pong} of the same id. */
export interface Ping {
  type: "Ping";
  id: bigint;
}

/** Either way: the answer to a {@link Ping}. */
export interface Pong {
  type: "Pong";
  id: bigint;
}

/** Either way: the sender is closing, and why. */
export interface Disconnect {
  type: "Disconnect";
  /** A {@link DisconnectReason} code, or any other `u16`. */
  reason: number;
  message: string;
}

/** Any frame of protocol version 1. */
export type Frame =
  | Hello
  | Welcome
  | Reject
  | Event
  | Ack
  | AckError
  | Sequenced
  | PresenceSubscribe
  | PresenceUnsubscribe
  | PresenceState
  | PresenceDiff
  | PresenceEnd
  | PresenceStatePart
  | PresenceCount
  | Ping
  | Pong
  | Disconnect;

/** The name of a frame type. */
export type FrameType = Frame["type"];

/** Every frame's tag byte. These values are the protocol and never change. */
export const TAGS = {
  Hello: 0x01,
  Welcome: 0x02,
  Reject: 0x03,
  Event: 0x10,
  Ack: 0x11,
  AckError: 0x12,
  Sequenced: 0x13,
  PresenceSubscribe: 0x20,
  PresenceUnsubscribe: 0x21,
  PresenceState: 0x22,
  PresenceDiff: 0x23,
  PresenceEnd: 0x24,
  PresenceStatePart: 0x25,
  PresenceCount: 0x26,
  Ping: 0x30,
  Pong: 0x31,
  Disconnect: 0x3f,
} as const satisfies Record<FrameType, number>;

const TYPE_BY_TAG = new Map<number, FrameType>(
  Object.entries(TAGS).map(([type, tag]) => [tag, type as FrameType]),
);

/** Reason codes of `Disconnect.reason` (PROTOCOL.md section 6). */
export const DisconnectReason = {
  ClientDisconnect: 1,
  ServerDisconnect: 2,
  PingTimeout: 3,
  SlowConsumer: 4,
  ProtocolError: 5,
  FrameTooLarge: 6,
  ServerShutdown: 7,
  TransportClosed: 8,
  HandshakeTimeout: 9,
  Flooding: 10,
} as const;

/** The name of a known disconnect reason, or `"Other"` for a code this version does not know. */
export type DisconnectReasonName = keyof typeof DisconnectReason | "Other";

/** Reason codes of `Reject.reason` (PROTOCOL.md section 6). */
export const RejectReason = {
  Unauthorized: 1,
  UnsupportedVersion: 2,
  BadHandshake: 3,
  ServerFull: 4,
  ShuttingDown: 5,
} as const;

/** The name of a known reject reason, or `"Other"`. */
export type RejectReasonName = keyof typeof RejectReason | "Other";

/** The name of a disconnect reason code; unknown codes (0 included) are `"Other"`. */
export function disconnectReasonName(code: number): DisconnectReasonName {
  return nameOf(DisconnectReason, code);
}

/** The name of a reject reason code; unknown codes (0 included) are `"Other"`. */
export function rejectReasonName(code: number): RejectReasonName {
  return nameOf(RejectReason, code);
}

function nameOf<K extends string>(table: Record<K, number>, code: number): K | "Other" {
  for (const [name, value] of Object.entries(table) as [K, number][]) {
    if (value === code) return name;
  }
  return "Other";
}

/**
 * Encodes a frame as its tag byte and body. Throws a `RangeError` or `TypeError` for a field
 * its wire type cannot hold (an out-of-range integer, a socket id that is not 16 bytes, a
 * string with a lone surrogate).
 */
export function encodeFrame(frame: Frame): Uint8Array {
  const w = new Writer();
  const tag: number | undefined = TAGS[frame.type];
  if (tag === undefined) throw new TypeError(`unknown frame type ${String(frame.type)}`);
  w.u8(tag);
  switch (frame.type) {
    case "Hello":
      w.u16(frame.version).u8(codecByte(frame.codec)).string(frame.client_name);
      w.string(frame.client_version).u32(frame.max_frame_size).bytes(frame.auth);
      w.option(frame.resume, (w, r) => w.bytes(r.token).u64(r.offset));
      // Trailing: no Option tag; absent means the frame ends here.
      if (frame.channels != null) {
        w.u16(frame.channels.max_channels);
        w.seq(frame.channels.offsets, (w, o) => w.u16(o.channel).u64(o.offset));
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
      w.string(frame.name).option(frame.ack, (w, id) => w.u64(id)).bytes(frame.data);
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

function writeEntry(w: Writer, entry: PresenceEntry): void {
  w.string(entry.key).seq(entry.metas, (w, meta) => w.u64(meta.id).bytes(meta.data));
}

function codecByte(codec: PayloadCodec): number {
  if (codec === "bincode") return 0;
  if (codec === "json") return 1;
  throw new RangeError(`unknown payload codec ${String(codec)}`);
}

/**
 * Decodes exactly one frame: the whole input, no more and no less. Throws a
 * {@link DecodeError} whose `kind` is the class of PROTOCOL.md section 9.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length === 0) throw new DecodeError("Truncated");
  const tag = bytes[0]!;
  const type = TYPE_BY_TAG.get(tag);
  if (type === undefined) {
    throw new DecodeError("UnknownTag", `unknown frame tag 0x${tag.toString(16).padStart(2, "0")}`);
  }
  const body = bytes.subarray(1);
  // Frames above the absolute cap are refused whole, as the Rust decoder does.
  if (body.length > MAX_FRAME_SIZE) throw new DecodeError("LimitExceeded");
  const r = new Reader(body);
  const frame = readBody(type, r);
  r.end();
  return frame;
}

function readBody(type: FrameType, r: Reader): Frame {
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
          classes: r.bool(),
        })),
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
        channels: trailing(r, () => ({ max_channels: r.u16(), classes: r.bool() })),
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
        leaves: r.seq(() => readEntry(r)),
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

/**
 * A trailing field (PROTOCOL.md section 5, "Trailing fields"): `null` when the body ends here,
 * else the whole struct. A struct cut short is `Truncated`; bytes after it are left for
 * `Reader.end()` to refuse as `TrailingBytes`.
 */
function trailing<T>(r: Reader, read: () => T): T | null {
  return r.remaining === 0 ? null : read();
}

function readEntry(r: Reader): PresenceEntry {
  return { key: r.string(), metas: r.seq(() => ({ id: r.u64(), data: r.bytes() })) };
}

function readCodec(r: Reader): PayloadCodec {
  const byte = r.u8();
  if (byte === 0) return "bincode";
  if (byte === 1) return "json";
  throw new DecodeError("InvalidValue", `unknown payload codec ${byte}`);
}

/** The canonical length prefix of a frame of `n` bytes on a byte stream (section 2.1). */
export function lengthPrefix(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad frame length ${n}`);
  return new Writer().length(n).finish();
}

/** `frame` preceded by its length prefix, in one buffer: what goes on a WebTransport stream. */
export function withLengthPrefix(frame: Uint8Array): Uint8Array {
  const prefix = lengthPrefix(frame.length);
  const out = new Uint8Array(prefix.length + frame.length);
  out.set(prefix);
  out.set(frame, prefix.length);
  return out;
}

/**
 * Splits length-prefixed frames off a byte stream, incrementally.
 *
 * {@link FrameSplitter.push} appends what the stream delivered; {@link FrameSplitter.next}
 * takes the next whole frame (without its prefix) or returns `null` when more bytes are
 * needed. The declared length is checked against the maximum as soon as the prefix is
 * complete, before the frame is waited for: call `next()` until it returns `null` after each
 * `push()`, and an oversized frame is refused with at most one chunk of it buffered.
 */
export class FrameSplitter {
  /** The largest frame accepted, capped at {@link MAX_FRAME_SIZE}. */
  readonly maxFrameSize: number;
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;

  constructor(maxFrameSize: number = 1024 * 1024) {
    this.maxFrameSize = Math.min(maxFrameSize, MAX_FRAME_SIZE);
  }

  /** How many bytes are buffered and not yet split off. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** A copy of the bytes buffered and not yet split off. */
  rest(): Uint8Array {
    return this.buf.slice(this.start, this.end);
  }

  /** Appends bytes received from the stream. */
  push(chunk: Uint8Array): void {
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
  next(): Uint8Array | null {
    const avail = this.end - this.start;
    if (avail === 0) return null;
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.start, avail);
    const first = view.getUint8(0);
    let prefixLen: number;
    let declared: bigint;
    if (first < 251) {
      prefixLen = 1;
      declared = BigInt(first);
    } else {
      const width = first === 0xfb ? 2 : first === 0xfc ? 4 : first === 0xfd ? 8 : 0;
      if (width === 0) {
        throw new DecodeError("InvalidValue", `length prefix byte 0x${first.toString(16)}`);
      }
      if (avail < 1 + width) return null;
      prefixLen = 1 + width;
      declared =
        width === 2
          ? BigInt(view.getUint16(1, true))
          : width === 4
            ? BigInt(view.getUint32(1, true))
            : view.getBigUint64(1, true);
      const floor = width === 2 ? 251n : width === 4 ? 1n << 16n : 1n << 32n;
      if (declared < floor) throw new DecodeError("NonCanonical");
    }
    if (declared > BigInt(this.maxFrameSize)) {
      throw new DecodeError(
        "FrameTooLarge",
        `frame of ${declared} bytes exceeds the maximum of ${this.maxFrameSize}`,
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
}

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

import {
  DecodeError,
  type Frame,
  FrameSplitter,
  MAX_FRAME_SIZE,
  type PresenceEntry,
  type Welcome,
  decodeFrame,
  encodeFrame,
  lengthPrefix,
  withLengthPrefix,
} from "../src/codec.js";

import { decodePayload, encodePayload } from "../src/json.js";

const vectorsDir = join(dirname(fileURLToPath(import.meta.url)), "../../proto/vectors");
/**
 * A vector file, its integers above 2^53 kept as digit strings: `JSON.parse` would round
 * them (a `seq` of 2^64 − 1), and `fromVector` makes `u64` fields `bigint`s anyway.
 */
const load = <T>(file: string): T => {
  const text = readFileSync(join(vectorsDir, file), "utf8");
  return JSON.parse(text.replace(/(?<=:\s*)(\d{16,})(?=\s*[,}\]])/g, '"$1"')) as T;
};

interface FrameVector {
  name: string;
  frame: Record<string, unknown>;
  hex: string;
}
interface MalformedVector {
  name: string;
  hex: string;
  error: string;
}
interface FramingVector {
  name: string;
  hex: string;
  max_frame_size: number;
  result: "NeedMore" | { frames: string[]; rest: string } | { error: string };
}

const frames = load<FrameVector[]>("frames.json");
const malformed = load<MalformedVector[]>("malformed.json");
const framing = load<FramingVector[]>("framing.json");

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Fields the vectors write as hex, and `u64` fields the vectors write as JSON numbers. */
const HEX_FIELDS = new Set(["auth", "data", "token", "sid", "session"]);
const U64_FIELDS = new Set(["ack", "id", "offset", "keys", "connections", "seq"]);

/** A vector's JSON frame as this codec represents it. */
function fromVector(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((item) => fromVector(item));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromVector(v, k)]));
  }
  if (HEX_FIELDS.has(key) && typeof value === "string") return fromHex(value);
  if (U64_FIELDS.has(key) && (typeof value === "number" || typeof value === "string")) return BigInt(value);
  return value;
}

function decodeErrorKind(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof DecodeError) return err.kind;
    throw err;
  }
  return "no error";
}

describe("frames.json", () => {
  it("has vectors", () => expect(frames.length).toBeGreaterThan(50));

  it("names the trailing channels field on every Hello and Welcome", () => {
    const handshakes = frames.filter((v) => v.frame.type === "Hello" || v.frame.type === "Welcome");
    for (const v of handshakes) expect(v.frame, v.name).toHaveProperty("channels");
    const withChannels = handshakes.filter((v) => v.frame.channels !== null).map((v) => v.name);
    expect(withChannels).toEqual(
      expect.arrayContaining([
        "hello_channels",
        "hello_resume_channels",
        "hello_channels_without_classes",
        "hello_classes_without_channels",
        "welcome_channels",
        "welcome_channels_without_classes",
      ]),
    );
  });

  it("has the Sequenced vectors, a seq of 2^64 − 1 among them", () => {
    const sequenced = frames.filter((v) => v.frame.type === "Sequenced").map((v) => fromVector(v.frame));
    expect(sequenced).toContainEqual(expect.objectContaining({ seq: 2n ** 64n - 1n }));
  });

  for (const v of frames) {
    const frame = fromVector(v.frame) as Frame;
    it(`${v.name}: encodes to its hex`, () => {
      expect(toHex(encodeFrame(frame))).toBe(v.hex);
    });
    it(`${v.name}: decodes to its frame`, () => {
      expect(decodeFrame(fromHex(v.hex))).toEqual(frame);
    });
  }
});

describe("malformed.json", () => {
  for (const v of malformed) {
    it(`${v.name}: ${v.error}`, () => {
      expect(decodeErrorKind(() => decodeFrame(fromHex(v.hex)))).toBe(v.error);
    });
  }
});

/** Splits like framing.json says: until more bytes are needed or an error. */
function split(hex: string, max: number): FramingVector["result"] {
  const splitter = new FrameSplitter(max);
  splitter.push(fromHex(hex));
  const out: string[] = [];
  try {
    for (let f = splitter.next(); f !== null; f = splitter.next()) out.push(toHex(f));
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    if (out.length > 0) throw new Error("an error after a complete frame");
    return { error: err.kind };
  }
  return out.length === 0 ? "NeedMore" : { frames: out, rest: toHex(splitter.rest()) };
}

describe("framing.json", () => {
  for (const v of framing) {
    it(`${v.name}`, () => expect(split(v.hex, v.max_frame_size)).toEqual(v.result));
  }

  for (const v of framing) {
    it(`${v.name}: same result fed one byte at a time`, () => {
      const splitter = new FrameSplitter(v.max_frame_size);
      const bytes = fromHex(v.hex);
      const out: string[] = [];
      let error: string | null = null;
      for (const byte of bytes) {
        splitter.push(Uint8Array.of(byte));
        try {
          for (let f = splitter.next(); f !== null; f = splitter.next()) out.push(toHex(f));
        } catch (err) {
          error = (err as DecodeError).kind;
          break;
        }
      }
      const result =
        error !== null
          ? { error }
          : out.length === 0
            ? "NeedMore"
            : { frames: out, rest: toHex(splitter.rest()) };
      expect(result).toEqual(v.result);
    });
  }
});

describe("length prefix", () => {
  const cases: [number, string][] = [
    [0, "00"],
    [250, "fa"],
    [251, "fbfb00"],
    [65535, "fbffff"],
    [65536, "fc00000100"],
    [2 ** 32 - 1, "fcffffffff"],
    [2 ** 32, "fd0000000001000000"],
  ];
  for (const [n, hex] of cases) {
    it(`${n} is ${hex}`, () => expect(toHex(lengthPrefix(n))).toBe(hex));
  }

  it("prefixes the spec's example event", () => {
    const event = fromHex("100463686174012a0422686922");
    expect(toHex(withLengthPrefix(event))).toBe("0d100463686174012a0422686922");
  });

  it("refuses an oversized frame before its body arrives", () => {
    const splitter = new FrameSplitter(1024);
    splitter.push(fromHex("fb0104"));
    expect(decodeErrorKind(() => splitter.next())).toBe("FrameTooLarge");
  });

  it("caps the maximum at 16 MiB", () => {
    expect(new FrameSplitter(2 ** 32).maxFrameSize).toBe(MAX_FRAME_SIZE);
  });
});

describe("edge cases", () => {
  it("decodes a u64 above 2^53 exactly", () => {
    const frame = decodeFrame(fromHex("30fdffffffffffffffff"));
    expect(frame).toEqual({ type: "Ping", id: 2n ** 64n - 1n });
    expect(toHex(encodeFrame(frame))).toBe("30fdffffffffffffffff");
  });

  it("keeps a leading byte order mark in a string", () => {
    const frame: Frame = { type: "PresenceSubscribe", room: "\ufeffroom" };
    expect(toHex(encodeFrame(frame))).toBe("2007efbbbf726f6f6d");
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });

  it("refuses to encode what the wire cannot hold", () => {
    expect(() => encodeFrame({ type: "Ping", id: -1n })).toThrow(RangeError);
    expect(() => encodeFrame({ type: "Ping", id: 2n ** 64n })).toThrow(RangeError);
    expect(() => encodeFrame({ type: "Disconnect", reason: 65536, message: "" })).toThrow(
      RangeError,
    );
    expect(() => encodeFrame({ type: "PresenceSubscribe", room: "\ud800" })).toThrow(TypeError);
    const welcome = zeroWelcome(15);
    expect(() => encodeFrame(welcome)).toThrow(RangeError);
    const notBool = { ...welcome, sid: new Uint8Array(16), recovered: 1 as unknown as boolean };
    expect(() => encodeFrame(notBool)).toThrow(TypeError);
    const wideGrant = { ...welcome, sid: new Uint8Array(16), channels: { max_channels: 65536, classes: false } };
    expect(() => encodeFrame(wideGrant)).toThrow(RangeError);
  });

  it("reads a trailing field only when bytes remain after the field before it", () => {
    const welcome = zeroWelcome(16);
    const bare = encodeFrame(welcome);
    expect(toHex(bare)).toBe(`02${"00".repeat(22)}`);
    // Two more bytes are a whole ChannelGrant (a grant of 0, no classes), with no Option tag.
    const granted = Uint8Array.from([...bare, 0x00, 0x00]);
    const grant = { max_channels: 0, classes: false };
    expect(decodeFrame(granted)).toEqual({ ...welcome, channels: grant });
    expect(encodeFrame({ ...welcome, channels: grant })).toEqual(granted);
    expect(decodeErrorKind(() => decodeFrame(Uint8Array.from([...bare, 0x00])))).toBe("Truncated");
    expect(decodeErrorKind(() => decodeFrame(Uint8Array.from([...bare, 0x00, 0x02])))).toBe(
      "InvalidValue",
    );
    expect(decodeErrorKind(() => decodeFrame(Uint8Array.from([...granted, 0x00])))).toBe(
      "TrailingBytes",
    );
  });

  it("fails a huge element count without allocating for it", () => {
    // PresenceState "r" with 2^63 entries, then nothing.
    expect(decodeErrorKind(() => decodeFrame(fromHex("220172fd0000000000000080")))).toBe(
      "Truncated",
    );
  });

  it("applies the Truncated / LimitExceeded boundary of rule 7", () => {
    // Event name declared 128 bytes in a 3-byte body: max(128, 8 × 3) = 128 → Truncated.
    expect(decodeErrorKind(() => decodeFrame(fromHex("10800061")))).toBe("Truncated");
    // 129 → LimitExceeded (129 > 128; conforming, since 129 > max(128, 8 × body)).
    expect(decodeErrorKind(() => decodeFrame(fromHex("10810061")))).toBe("LimitExceeded");
  });
});

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomFrames(seed: number, count: number): Frame[] {
  const r = rng(seed);
  const int = (max: number) => Math.floor(r() * (max + 1));
  const pick = <T>(items: readonly T[]): T => items[int(items.length - 1)]!;
  // Values clustered around the varint boundaries.
  const boundary = (max: number) =>
    Math.min(max, pick([0, 1, 250, 251, 252, 65535, 65536, 2 ** 32 - 1, int(max)]));
  const u64 = (): bigint =>
    pick([0n, 250n, 251n, 65536n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n, BigInt(int(1e9))]);
  const bytes = () => Uint8Array.from({ length: pick([0, 1, 5, 250, 251, 300]) }, () => int(255));
  const alphabet = ["a", "Z", "é", "€", "🎉", "\u0000", "\ufeff", " "];
  const str = () => Array.from({ length: int(20) }, () => pick(alphabet)).join("");
  const entries = (): PresenceEntry[] =>
    Array.from({ length: int(3) }, () => ({
      key: str(),
      metas: Array.from({ length: int(3) }, () => ({ id: u64(), data: bytes() })),
    }));
  const makers: (() => Frame)[] = [
    () => ({
      type: "Hello",
      version: boundary(65535),
      codec: pick(["bincode", "json"] as const),
      client_name: str(),
      client_version: str(),
      max_frame_size: boundary(2 ** 32 - 1),
      auth: bytes(),
      resume: r() < 0.5 ? null : { token: bytes(), offset: u64() },
      channels:
        r() < 0.5
          ? null
          : {
              max_channels: boundary(65535),
              offsets: Array.from({ length: int(3) }, () => ({
                channel: boundary(65535),
                offset: u64(),
              })),
              classes: r() < 0.5,
            },
    }),
    () => ({
      type: "Welcome",
      sid: Uint8Array.from({ length: 16 }, () => int(255)),
      ping_interval_ms: boundary(2 ** 32 - 1),
      ping_timeout_ms: boundary(2 ** 32 - 1),
      max_frame_size: boundary(2 ** 32 - 1),
      session: bytes(),
      recovered: r() < 0.5,
      offset: u64(),
      channels: r() < 0.5 ? null : { max_channels: boundary(65535), classes: r() < 0.5 },
    }),
    () => ({ type: "Reject", reason: boundary(65535), message: str(), data: bytes() }),
    () => ({ type: "Event", name: str(), ack: r() < 0.5 ? null : u64(), data: bytes() }),
    () => ({ type: "Ack", id: u64(), data: bytes() }),
    () => ({ type: "AckError", id: u64(), message: str() }),
    () => ({ type: "Sequenced", name: str(), key: str(), seq: u64(), data: bytes() }),
    () => ({ type: "PresenceSubscribe", room: str() }),
    () => ({ type: "PresenceUnsubscribe", room: str() }),
    () => ({ type: "PresenceState", room: str(), entries: entries() }),
    () => ({ type: "PresenceDiff", room: str(), joins: entries(), leaves: entries() }),
    () => ({ type: "PresenceEnd", room: str(), message: str() }),
    () => ({ type: "PresenceStatePart", room: str(), entries: entries() }),
    () => ({ type: "PresenceCount", room: str(), keys: u64(), connections: u64() }),
    () => ({ type: "Ping", id: u64() }),
    () => ({ type: "Pong", id: u64() }),
    () => ({ type: "Disconnect", reason: boundary(65535), message: str() }),
  ];
  return Array.from({ length: count }, (_, i) => makers[i % makers.length]!());
}

describe("random round trips", () => {
  const seeds = [1, 2, 3, 42, 1234];

  for (const seed of seeds) {
    it(`seed ${seed}: decode(encode(frame)) == frame`, () => {
      for (const frame of randomFrames(seed, 300)) {
        expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
      }
    });
  }

  for (const seed of seeds) {
    it(`seed ${seed}: every strict prefix of a frame is refused`, () => {
      for (const frame of randomFrames(seed, 56)) {
        const bytes = encodeFrame(frame);
        // A frame with a trailing field is also whole without it (PROTOCOL.md section 5).
        const bare =
          (frame.type === "Hello" || frame.type === "Welcome") && frame.channels !== null
            ? { ...frame, channels: null }
            : null;
        const bareLength = bare === null ? -1 : encodeFrame(bare).length;
        for (let n = 0; n < bytes.length; n++) {
          if (n === bareLength) expect(decodeFrame(bytes.subarray(0, n))).toEqual(bare);
          else expect(() => decodeFrame(bytes.subarray(0, n))).toThrow(DecodeError);
        }
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        // After `resume` or `offset`, a 00 byte starts the trailing struct: a ChannelOffer
        // missing its offsets, or a ChannelGrant missing its classes.
        const bareHandshake = (frame.type === "Hello" || frame.type === "Welcome") && frame.channels === null;
        const expected = bareHandshake ? "Truncated" : "TrailingBytes";
        expect(decodeErrorKind(() => decodeFrame(longer))).toBe(expected);
      }
    });
  }

  for (const seed of seeds) {
    it(`seed ${seed}: a stream split at random points yields the same frames`, () => {
      const r = rng(seed);
      const sent = randomFrames(seed, 200);
      const stream = sent.map((f) => withLengthPrefix(encodeFrame(f)));
      const all = new Uint8Array(stream.reduce((n, s) => n + s.length, 0));
      stream.reduce((at, s) => (all.set(s, at), at + s.length), 0);
      const splitter = new FrameSplitter();
      const got: Frame[] = [];
      for (let at = 0; at < all.length; ) {
        const n = 1 + Math.floor(r() * 700);
        splitter.push(all.subarray(at, at + n));
        at += n;
        for (let f = splitter.next(); f !== null; f = splitter.next()) got.push(decodeFrame(f));
      }
      expect(got).toEqual(sent);
      expect(splitter.buffered).toBe(0);
    });
  }
});

interface PayloadVector {
  name: string;
  codec: "json" | "bincode";
  value: { binary: string } | { json: unknown };
  hex: string;
}

describe("payloads.json: the json codec's binary and text payloads", () => {
  const vectors = load<PayloadVector[]>("payloads.json").filter((v) => v.codec === "json");

  it("has vectors", () => expect(vectors.length).toBeGreaterThanOrEqual(5));
  for (const vector of vectors) {
    it(vector.name, () => {
      const payload = fromHex(vector.hex);
      if ("binary" in vector.value) {
        const binary = fromHex(vector.value.binary);
        expect(encodePayload(binary)).toEqual(payload);
        expect(encodePayload(binary.buffer)).toEqual(payload);
        expect(decodePayload(payload)).toEqual(binary);
      } else {
        expect(decodePayload(payload)).toEqual(vector.value.json);
      }
    });
  }

  it("sends any typed array as its bytes, and a decoded one does not alias the frame", () => {
    const words = new Uint16Array([0x0201, 0x0403]);
    expect(encodePayload(words)).toEqual(Uint8Array.from([0, 1, 2, 3, 4]));
    const payload = Uint8Array.from([0, 9, 9]);
    const decoded = decodePayload(payload) as Uint8Array;
    payload[1] = 0;
    expect(decoded).toEqual(Uint8Array.from([9, 9]));
  });
});

/** A Welcome of zeroes whose socket id has `sidLength` bytes (16 is valid). */
function zeroWelcome(sidLength: number): Welcome {
  return {
    type: "Welcome",
    sid: new Uint8Array(sidLength),
    ping_interval_ms: 0,
    ping_timeout_ms: 0,
    max_frame_size: 0,
    session: new Uint8Array(0),
    recovered: false,
    offset: 0n,
    channels: null,
  };
}

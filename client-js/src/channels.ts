/**
 * The server's channels beside the reliable stream (PROTOCOL.md section 2.2): on WebTransport,
 * unidirectional streams the server opens, each beginning with its channel's number (a `u16`
 * varint, section 4) and then carrying length-prefixed frames like the reliable stream. A
 * stream numbered 0 is a single-frame stream of the delivery classes (section 2.3): exactly
 * one frame, then its end.
 *
 * Each stream is read by a loop of its own: a channel whose bytes are held back (a lost
 * packet) holds back nothing else, and within a stream frames are delivered in order.
 *
 * @module
 */

import { DecodeError, FrameSplitter } from "./codec.js";

/**
 * After the server's goodbye, how long a stream it opened before may take to surface. The
 * server waited for every channel's data to be acknowledged before it said goodbye, so the
 * streams are here already; only the browser's HTTP/3 layer may still be routing one.
 */
const LATE_STREAM_GRACE_MS = 50;

const SECOND_FRAME = "a single-frame stream with more than one frame";

/** The largest `u16`: the most channels a client can offer. */
export const MAX_CHANNELS = 0xffff;

/** Where channel streams deliver. */
export interface ChannelSink {
  /** A frame of `channel` (1 to the grant), in that channel's order, not yet decoded. */
  frame(channel: number, bytes: Uint8Array): void;
  /** The frame of a single-frame stream, on arrival, not yet decoded. */
  single(bytes: Uint8Array): void;
  /** A stream broke the protocol: the connection is to close (`ProtocolError`, `FrameTooLarge`). */
  malformed(err: Error): void;
}

/**
 * The channel number at the start of `bytes`, and how many bytes it takes; `null` while
 * incomplete. Throws a {@link DecodeError} for a marker wider than a `u16` or a value not in
 * its shortest form.
 */
export function readChannelNumber(bytes: Uint8Array): { channel: number; length: number } | null {
  const first = bytes[0];
  if (first === undefined) return null;
  if (first < 251) return { channel: first, length: 1 };
  if (first !== 0xfb) {
    throw new DecodeError("InvalidValue", `channel number marker 0x${first.toString(16)}`);
  }
  if (bytes.length < 3) return null;
  const channel = bytes[1]! | (bytes[2]! << 8);
  if (channel < 251) throw new DecodeError("NonCanonical", "a channel number not in its shortest form");
  return { channel, length: 3 };
}

/** Resolves `false` after `ms`, unless cancelled. */
function delay(ms: number): { elapsed: Promise<false>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return { elapsed, cancel: () => clearTimeout(timer) };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The channel streams of one WebTransport session, granted `granted` channels, and its
 * single-frame streams when `classes` were agreed too.
 */
export class ChannelReader {
  /** The channels whose stream came, each once. */
  private readonly seen = new Set<number>();
  /** Readers of the channel streams being read, and of `incomingUnidirectionalStreams`. */
  private readonly readers = new Set<ReadableStreamDefaultReader<unknown>>();
  /** Streams surfaced and not yet read to their end. */
  private open = 0;
  /** Wakes a drain: a stream surfaced or ended. */
  private wake: (() => void) | null = null;
  private stopped = false;
  /**
   * Whether streams numbered 0 are single-frame streams: a server opens them only to a
   * client that agreed the classes and showed it reads streams, by a grant of channels.
   */
  private readonly singles: boolean;

  constructor(
    /** How many channels beside channel 0 the handshake granted. */
    readonly granted: number,
    classes: boolean,
    private readonly maxFrameSize: number,
    private readonly sink: ChannelSink,
  ) {
    this.singles = classes && granted > 0;
  }

  /** Reads every stream `incoming` yields, each on its own, until it ends or {@link stop}. */
  async accept(incoming: ReadableStream<ReadableStream<Uint8Array>>): Promise<void> {
    const reader = incoming.getReader();
    this.readers.add(reader);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.stopped) return;
        this.open += 1;
        void this.read(value);
        this.notify();
      }
    } catch {
      // The session is closing; the reliable stream reports why.
    } finally {
      this.readers.delete(reader);
      reader.releaseLock();
    }
  }

  /**
   * After the server's goodbye: resolves once every stream surfaced so far is read to its end
   * and no other surfaced within a short grace, or after `patienceMs` at the latest.
   */
  async drain(patienceMs: number): Promise<void> {
    const deadline = delay(patienceMs);
    try {
      while (!this.stopped) {
        const waits: Promise<boolean>[] = [
          new Promise<true>((resolve) => (this.wake = () => resolve(true))),
          deadline.elapsed,
        ];
        // A stream still open has its end on the way; once all have ended, only the grace.
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
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const reader of this.readers) reader.cancel().catch(() => undefined);
    this.readers.clear();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Reads one stream: its channel number, then its frames, in order. */
  private async read(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.getReader();
    this.readers.add(reader);
    const splitter = new FrameSplitter(this.maxFrameSize);
    let channel: number | null = null;
    let single = false;
    let head: Uint8Array = new Uint8Array(0);
    try {
      for (;;) {
        let chunk: Uint8Array;
        try {
          const { value, done } = await reader.read();
          if (done) break;
          chunk = value;
        } catch {
          return; // Reset, or the session is closing: nothing more comes on this channel.
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
        // Not waiting for a second frame whole: the first byte after the frame breaks the rule.
        if (single && splitter.buffered > 0) throw new Error(SECOND_FRAME);
      }
      if (!this.stopped && (splitter.buffered > 0 || (channel === null && head.length > 0))) {
        throw new DecodeError("Truncated", "a channel's stream ended inside a frame");
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.readers.delete(reader);
      reader.releaseLock();
      this.open -= 1;
      this.notify();
    }
  }

  /** `channel`, once checked against the grant and the streams seen so far; 0 for a single-frame stream. */
  private admit(channel: number): number {
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

  private fail(err: Error): void {
    if (this.stopped) return;
    this.stop();
    this.sink.malformed(err);
  }
}

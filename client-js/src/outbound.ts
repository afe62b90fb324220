/**
 * Everything the socket sends on its connections: the checks each frame passes, and the
 * order of its own reliable events across drops (those emitted offline, or resent after a
 * resumption, go out before anything newer; PROTOCOL.md section 10.6).
 *
 * @module
 */

import { nextSeq } from "./classes.js";
import { type Frame, MAX_FRAME_SIZE, type Welcome, encodeFrame } from "./codec.js";
import { eventNameError } from "./dispatch.js";
import { DatagramTooLargeError, EmitError } from "./errors.js";
import type { SocketState } from "./events.js";
import { encodePayload } from "./json.js";
import type { ResolvedOptions } from "./options.js";
import { ReplayBuffer } from "./replay.js";
import { later } from "./timers.js";
import { CLIENT_MAX_FRAME_SIZE, type Carrier } from "./transport.js";

/** How soon a replay that filled the transport's queue tries again. */
const FLUSH_RETRY_MS = 10;

/** What {@link Outbound} needs from the socket. */
export interface OutboundHost {
  /** The current transport, open or still in its handshake; `null` between connections. */
  carrier(): Carrier | null;
  state(): SocketState;
  /** Whether the last handshake agreed the delivery classes (PROTOCOL.md 2.3). */
  classes(): boolean;
  /** The transport's queue is full: the connection is to close as a slow consumer. */
  overflowed(): void;
  /** An error nobody called for; see `Socket`'s `error` event. */
  report(err: Error): void;
}

/** The socket's sending side. */
export class Outbound {
  private readonly replay: ReplayBuffer;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private maxFrameSize = CLIENT_MAX_FRAME_SIZE;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly host: OutboundHost,
  ) {
    this.replay = new ReplayBuffer({
      maxEvents: options.replayBufferEvents,
      maxBytes: options.replayBufferBytes,
    });
  }

  /** The largest frame the current server accepts. */
  get peerMaxFrameSize(): number {
    return this.maxFrameSize;
  }

  /** An event without an ack id, replayed after a drop; see `Socket.emit`. */
  emit(event: string, data: unknown): void {
    const frame = this.eventFrame(event, null, data);
    this.checkSize(frame);
    if (this.host.state() === "open" && this.replay.waiting === 0) {
      if (this.transmit(this.host.carrier()!, frame)) {
        this.replay.record(frame);
        return;
      }
      // The transport closed under us: the drop is on its way, and so is a reconnection.
    }
    if (this.host.state() === "closed" || !this.options.reconnection) {
      throw new EmitError("Disconnected", "the connection is closed");
    }
    // Behind a replay still in progress, or offline: in order, after what waits already.
    this.replay.hold(frame);
    if (this.host.state() === "open") this.flush();
  }

  /** An event with ack id `id`: sent at most once, never replayed. */
  emitAcked(event: string, id: bigint, data: unknown): void {
    this.send(this.eventFrame(event, id, data));
  }

  /** An event that may be dropped; see `Socket.volatile`. */
  emitVolatile(event: string, data: unknown): void {
    const frame = this.eventFrame(event, null, data);
    this.checkSize(frame);
    const carrier = this.host.carrier();
    const limit = carrier?.datagramLimit ?? null;
    if (limit !== null && frame.length > limit) throw new DatagramTooLargeError(frame.length, limit);
    if (this.host.state() !== "open" || !carrier) return;
    // On the ordered channel it would overtake the replay, and be numbered before it.
    if (limit === null && this.replay.waiting > 0) return;
    // The server counts a volatile event that came on the ordered channel; so must we.
    if (carrier.sendVolatile(frame) === "reliable") this.replay.record(frame);
  }

  /**
   * A value of the sequenced class (`latest` null) or of the latest-value class for the key
   * `latest`; see `Socket.sequenced` and `Socket.latest`.
   */
  emitSequenced(event: string, latest: string | null, data: unknown): void {
    // Degraded as PROTOCOL.md 2.3 says: a sequenced value may be dropped, a latest one may not.
    if (!this.host.classes()) return latest === null ? this.emitVolatile(event, data) : this.emit(event, data);
    const frame = encodeFrame({
      type: "Sequenced",
      name: this.named(event),
      key: latest ?? "",
      seq: nextSeq(),
      data: encodePayload(data),
    });
    this.checkSize(frame);
    const carrier = this.host.carrier();
    // Never held nor replayed: the next value supersedes one missed while disconnected.
    if (this.host.state() !== "open" || !carrier) return;
    // Never recorded either: the server does not count Sequenced frames in the offsets.
    const limit = carrier.datagramLimit;
    // A latest value must arrive, or the newest might never: the connection's stream. So must a
    // sequenced one larger than a datagram. Dropped, rather than a reason to close, when full.
    if (latest !== null || (limit !== null && frame.length > limit)) {
      carrier.sendReliable(frame);
    } else {
      carrier.sendVolatile(frame); // a datagram, or WebSocket's channel 0 unless congested
    }
  }

  /** Sends a frame that is never replayed (acks, presence, control) on the open connection. */
  send(frame: Uint8Array): void {
    if (this.host.state() !== "open") throw new EmitError("Disconnected", "the connection is closed");
    this.checkSize(frame);
    if (!this.transmit(this.host.carrier()!, frame)) {
      throw new EmitError("Disconnected", "the connection is closed");
    }
  }

  /** Sends a frame of the protocol's own; failures (closing, too large) have nobody to tell. */
  control(frame: Frame): void {
    try {
      this.send(encodeFrame(frame));
    } catch {
      // The connection is closing, or the server's limit is absurdly small.
    }
  }

  /**
   * A connection opened: takes on the server's limit and session, and sends what waits.
   * Returns how many events of a resumed session are lost (see {@link ReplayBuffer.resume}).
   */
  opened(welcome: Welcome): number {
    this.maxFrameSize = Math.min(welcome.max_frame_size, MAX_FRAME_SIZE);
    // A server that keeps no sessions never resumes one: keeping what was sent would be waste.
    this.replay.keepSent = this.options.reconnection && welcome.session.length > 0;
    const lost = this.replay.resume(welcome.recovered, welcome.offset);
    this.flush();
    return lost;
  }

  /** The connection closed: a replay in progress continues on the next one. */
  pause(): void {
    clearTimeout(this.flushTimer);
  }

  /** The socket closed for good: nothing waits to be sent. */
  discard(): void {
    this.pause();
    this.replay.clear();
  }

  private eventFrame(event: string, ack: bigint | null, data: unknown): Uint8Array {
    return encodeFrame({ type: "Event", name: this.named(event), ack, data: encodePayload(data) });
  }

  /** `event`, unless it is too long to name an event. */
  private named(event: string): string {
    const badName = eventNameError(event);
    if (badName !== null) throw new EmitError("EventNameTooLong", badName);
    return event;
  }

  private checkSize(frame: Uint8Array): void {
    if (frame.length > this.maxFrameSize) {
      throw new EmitError(
        "FrameTooLarge",
        `frame of ${frame.length} bytes exceeds the server's maximum of ${this.maxFrameSize}`,
      );
    }
  }

  /**
   * Queues a frame on `carrier`: `false` when it is already closed; a full queue closes the
   * connection as a slow consumer.
   */
  private transmit(carrier: Carrier, frame: Uint8Array): boolean {
    const result = carrier.sendReliable(frame);
    if (result === "overflow") {
      // Closing rejects every pending ack as disconnected; let the caller first see why.
      queueMicrotask(() => this.host.overflowed());
      throw new EmitError("SlowConsumer", "the server reads too slowly; the connection is closing");
    }
    return result === "sent";
  }

  /**
   * Sends the events waiting in the replay buffer, in order. A replay can be longer than the
   * transport's queue: what does not fit waits for the queue to drain, not for a drop.
   */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const open = () => this.host.state() === "open";
    for (let frame = this.replay.peek(); frame && open(); frame = this.replay.peek()) {
      if (frame.length > this.maxFrameSize) {
        // Emitted under an earlier server's limit: sending it would only close this connection.
        this.replay.shift();
        const message = `a held event of ${frame.length} bytes exceeds the server's maximum of ${this.maxFrameSize}`;
        this.host.report(new EmitError("FrameTooLarge", message));
        continue;
      }
      const result = this.host.carrier()!.sendReliable(frame);
      if (result === "overflow") {
        this.flushTimer = later(() => this.flush(), FLUSH_RETRY_MS);
        return;
      }
      if (result === "closed") return; // still held: the drop is on its way
      this.replay.record(this.replay.shift()!);
    }
  }
}

/**
 * The `Disconnect` that says goodbye. A message the frame cannot hold (a lone surrogate) is
 * left out: the goodbye itself matters more to the server than the explanation.
 */
export function goodbyeFrame(reason: number, message: string): Uint8Array {
  try {
    return encodeFrame({ type: "Disconnect", reason, message });
  } catch {
    return encodeFrame({ type: "Disconnect", reason, message: "" });
  }
}

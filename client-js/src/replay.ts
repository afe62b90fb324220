/**
 * The client's buffer of its own reliable events, for connection state recovery (PROTOCOL.md
 * section 10.6): what it sent in this session, so that a resumed session gets again what the
 * server never handled, and what is waiting to be sent (the offline buffer).
 *
 * @module
 */

import { OfflineBufferFullError } from "./errors.js";

/** Bounds of each of the two parts (sent, waiting), like the server's buffer. */
export interface ReplayLimits {
  /** Events. Default 1 024. */
  maxEvents: number;
  /** Bytes of encoded frames. Default 4 MiB. */
  maxBytes: number;
}

interface Numbered {
  /** The event's offset in this session: the server counts the same frames from 1. */
  seq: bigint;
  frame: Uint8Array;
}

/** Encoded `Event` frames without an ack id, in the order they were emitted. */
export class ReplayBuffer {
  /** On the ordered channel of this session, oldest first; the oldest fall off. */
  private sent: Numbered[] = [];
  private sentBytes = 0;
  /** Accepted but not on the wire yet: emitted while disconnected, or waiting behind a replay. */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private nextSeq = 1n;
  /** Whether sent events are kept (numbered either way) for a resumption. */
  keepSent = true;

  constructor(private readonly limits: ReplayLimits) {}

  /** How many events wait to be sent. */
  get waiting(): number {
    return this.held.length;
  }

  /** Numbers an event just put on the ordered channel, and keeps it while it fits. */
  record(frame: Uint8Array): void {
    const seq = this.nextSeq;
    this.nextSeq += 1n;
    if (!this.keepSent) return;
    this.sent.push({ seq, frame });
    this.sentBytes += frame.length;
    while (this.sent.length > this.limits.maxEvents || this.sentBytes > this.limits.maxBytes) {
      this.sentBytes -= this.sent.shift()!.frame.length;
    }
  }

  /**
   * Keeps an event to send later. Throws an {@link OfflineBufferFullError} when it does not
   * fit: unlike the sent part, dropping the oldest here would lose events silently.
   */
  hold(frame: Uint8Array): void {
    const { maxEvents, maxBytes } = this.limits;
    if (this.held.length + 1 > maxEvents || this.heldBytes + frame.length > maxBytes) {
      throw new OfflineBufferFullError(maxEvents, maxBytes);
    }
    this.held.push(frame);
    this.heldBytes += frame.length;
  }

  /** The next event to send, if any. */
  peek(): Uint8Array | undefined {
    return this.held[0];
  }

  /** Takes the event {@link ReplayBuffer.peek} showed; {@link ReplayBuffer.record} it once sent. */
  shift(): Uint8Array | undefined {
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
  resume(recovered: boolean, serverOffset: bigint): number {
    let lost = 0;
    if (recovered) {
      const again = this.sent.filter((e) => e.seq > serverOffset).map((e) => e.frame);
      const unhandled = this.nextSeq - 1n - serverOffset;
      if (unhandled > BigInt(again.length)) lost = Number(unhandled) - again.length;
      this.held = [...again, ...this.held];
      this.heldBytes += again.reduce((n, frame) => n + frame.length, 0);
      // The server numbers what it gets next from its own offset; a gap (lost events) or an
      // offset beyond ours would otherwise shift every later number by as much.
      this.nextSeq = serverOffset + 1n;
    } else {
      this.nextSeq = 1n;
    }
    this.sent = [];
    this.sentBytes = 0;
    return lost;
  }

  /** Forgets everything: the session ended for good. */
  clear(): void {
    this.sent = [];
    this.sentBytes = 0;
    this.held = [];
    this.heldBytes = 0;
    this.nextSeq = 1n;
  }
}

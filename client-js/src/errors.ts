/**
 * The client's typed errors, one class per way an operation fails.
 *
 * @module
 */

import { type RejectReasonName, rejectReasonName } from "./codec.js";

/** Why {@link connect} failed. */
export type ConnectErrorKind =
  /** The server answered `Reject`; `reason`, `message` and `data` say why. */
  | "Rejected"
  /** `GET /quicket/info` failed or returned something unusable. */
  | "Discovery"
  /** No transport could be opened, or it closed during the handshake. */
  | "Transport"
  /** The server's first frame was malformed or not `Welcome`/`Reject`. */
  | "Protocol"
  /** No handshake reply within the timeout. */
  | "Timeout"
  /** The auth value could not be encoded as JSON. */
  | "Payload";

/** Why a connection was not established. */
export class ConnectError extends Error {
  override readonly name = "ConnectError";
  readonly kind: ConnectErrorKind;
  /** For `Rejected`: the `Reject.reason` code (unknown codes are kept as sent). */
  readonly reason?: number;
  /** For `Rejected`: the reason's name, `"Other"` for a code this version does not know. */
  readonly reasonName?: RejectReasonName;
  /** For `Rejected`: `Reject.data` decoded as JSON; `undefined` when empty or not JSON. */
  readonly data?: unknown;

  constructor(
    kind: ConnectErrorKind,
    message: string,
    reject?: { reason: number; data: unknown },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.kind = kind;
    if (reject !== undefined) {
      this.reason = reject.reason;
      this.reasonName = rejectReasonName(reject.reason);
      this.data = reject.data;
    }
  }
}

/** Why an emit was refused locally (nothing was sent). */
export type EmitErrorKind =
  | "EventNameTooLong"
  | "FrameTooLarge"
  | "DatagramTooLarge"
  | "TooManyPending"
  | "Disconnected"
  | "SlowConsumer"
  | "OfflineBufferFull";

/** An emit, ack or presence request that could not be sent. */
export class EmitError extends Error {
  override readonly name: string = "EmitError";
  readonly kind: EmitErrorKind;

  constructor(kind: EmitErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * A volatile event larger than the WebTransport session's datagram limit. It is refused
 * rather than sent, since browsers drop oversized datagrams without a trace.
 */
export class DatagramTooLargeError extends EmitError {
  override readonly name = "DatagramTooLargeError";

  constructor(
    /** The encoded frame's size in bytes. */
    readonly size: number,
    /** The datagram limit in bytes. */
    readonly max: number,
  ) {
    super("DatagramTooLarge", `volatile frame of ${size} bytes exceeds the datagram limit of ${max}`);
  }
}

/**
 * An event emitted while the client waits to reconnect (or while it resends what a drop
 * interrupted) that does not fit the offline buffer. Refused rather than dropped, so the
 * application decides what a lost event costs.
 */
export class OfflineBufferFullError extends EmitError {
  override readonly name = "OfflineBufferFullError";

  constructor(
    /** The buffer's bound in events (`replayBufferEvents`). */
    readonly maxEvents: number,
    /** The buffer's bound in bytes (`replayBufferBytes`). */
    readonly maxBytes: number,
  ) {
    super(
      "OfflineBufferFull",
      `the offline buffer is full (at most ${maxEvents} events and ${maxBytes} bytes)`,
    );
  }
}

/** The peer answered an event with `AckError`. */
export class AckError extends Error {
  override readonly name = "AckError";
}

/** No acknowledgement arrived within the timeout; a late one is ignored. */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";

  constructor(readonly timeoutMs: number) {
    super(`no acknowledgement within ${timeoutMs} ms`);
  }
}

/** A value that is not JSON-encodable, or received bytes that are not JSON. */
export class PayloadError extends Error {
  override readonly name = "PayloadError";
}

/**
 * The handshake (PROTOCOL.md section 10.1): the `Hello` this client sends, what a reply other
 * than `Welcome` means, the one handshake in flight on a new transport, and the transport
 * tried next when a handshake cannot pass.
 *
 * @module
 */

import {
  type ChannelOffer,
  DisconnectReason,
  type Frame,
  PROTOCOL_VERSION,
  RejectReason,
  type Resume,
  type Welcome,
  decodeFrame,
  disconnectReasonName,
  encodeFrame,
  rejectReasonName,
} from "./codec.js";
import { ConnectError } from "./errors.js";
import { decodeJson, errorMessage } from "./json.js";
import { later } from "./timers.js";
import { CLIENT_MAX_FRAME_SIZE, type Carrier, type OpenOptions, openCarrier } from "./transport.js";

/** This library's version, sent in `Hello.client_version`. */
export const VERSION = "0.1.0";

/**
 * The encoded `Hello`: `resume` asks to continue a session (PROTOCOL.md 10.6), `channels`
 * offers the server channels besides the reliable stream and the delivery classes (sections
 * 2.2 and 2.3); `null` for neither.
 */
export function helloFrame(auth: Uint8Array, resume: Resume | null, channels: ChannelOffer | null): Uint8Array {
  return encodeFrame({
    type: "Hello",
    version: PROTOCOL_VERSION,
    codec: "json",
    client_name: "quicket-js",
    client_version: VERSION,
    max_frame_size: CLIENT_MAX_FRAME_SIZE,
    auth,
    resume,
    channels,
  });
}

/** Why a handshake reply other than `Welcome` failed the connection, and the close reason. */
function handshakeFailure(frame: Exclude<Frame, Welcome>): { error: ConnectError; reason?: number } {
  if (frame.type === "Reject") {
    const name = rejectReasonName(frame.reason);
    let data: unknown;
    try {
      data = frame.data.length > 0 ? decodeJson(frame.data) : undefined;
    } catch {
      data = undefined;
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
    reason: DisconnectReason.ProtocolError,
  };
}

/**
 * Refusals another attempt would only repeat: the client does not reconnect after them
 * (PROTOCOL.md 10.6, "Reconnecting").
 */
export function isFinalRefusal(err: unknown): boolean {
  return (
    err instanceof ConnectError &&
    err.kind === "Rejected" &&
    (err.reason === RejectReason.Unauthorized || err.reason === RejectReason.UnsupportedVersion)
  );
}

/** How a {@link PendingHandshake} ends; exactly one of the two is called, once. */
export interface HandshakeOutcome {
  /** The server accepted: the connection is open. */
  welcome(welcome: Welcome): void;
  /** The handshake failed: the transport is to close with `reason`, without a `Disconnect`. */
  failed(err: ConnectError, reason: number): void;
}

/**
 * The handshake on one transport, from `Hello` to `Welcome`. Everything that can end it
 * (the reply, a timeout, the transport failing, the application leaving) may come in any
 * order, so only the first counts.
 */
export class PendingHandshake {
  private settled = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    timeoutMs: number,
    private readonly outcome: HandshakeOutcome,
  ) {
    this.timer = later(() => {
      const err = new ConnectError("Timeout", `no handshake reply within ${timeoutMs} ms`);
      this.fail(err, DisconnectReason.HandshakeTimeout);
    }, timeoutMs);
  }

  /** Sends `hello` on `carrier`. */
  send(carrier: Carrier, hello: Uint8Array): void {
    if (hello.length > CLIENT_MAX_FRAME_SIZE) {
      this.fail(new ConnectError("Payload", "auth makes Hello larger than 1 MiB"));
    } else if (carrier.sendReliable(hello) !== "sent") {
      this.fail(new ConnectError("Transport", "the transport closed before Hello"));
    }
  }

  /** The server's first frame. */
  reply(bytes: Uint8Array): void {
    let frame: Frame;
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
  malformed(err: Error): void {
    this.fail(new ConnectError("Protocol", err.message), DisconnectReason.ProtocolError);
  }

  /** The transport closed before the reply. */
  closed(reason: number, message: string): void {
    const why = `${disconnectReasonName(reason)} ${message}`.trim();
    this.fail(new ConnectError("Transport", `closed during the handshake: ${why}`));
  }

  /** Ends the handshake with `err`, unless it has ended already. */
  fail(err: ConnectError, reason: number = DisconnectReason.ClientDisconnect): void {
    if (this.settle()) this.outcome.failed(err, reason);
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    clearTimeout(this.timer);
    return true;
  }
}

/**
 * Opens a transport for `url` and runs `handshake` on it, for the first connection and every
 * reconnection alike. A WebTransport session can open and still never carry a handshake (a
 * middlebox that lets the QUIC handshake through and little else): WebSocket is tried then,
 * unless the server refused or `abandoned()` (the application disconnected meanwhile).
 */
export async function establishConnection(
  url: string,
  options: OpenOptions,
  handshake: (carrier: Carrier) => Promise<void>,
  abandoned: () => boolean,
): Promise<void> {
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

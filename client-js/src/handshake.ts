/**
 * The frames of the handshake (PROTOCOL.md section 10.1): the `Hello` this client sends, and
 * what a reply other than `Welcome` means.
 *
 * @module
 */

import {
  DisconnectReason,
  type Frame,
  PROTOCOL_VERSION,
  RejectReason,
  type Welcome,
  disconnectReasonName,
  encodeFrame,
  rejectReasonName,
} from "./codec.js";
import { ConnectError } from "./errors.js";
import { decodeJson } from "./json.js";
import { CLIENT_MAX_FRAME_SIZE } from "./transport.js";

/** This library's version, sent in `Hello.client_version`. */
export const VERSION = "0.1.0";

/**
 * The encoded `Hello`. `session` is the last `Welcome.session`; `received`, how many of the
 * server's reliable events were handled in it.
 */
export function helloFrame(auth: Uint8Array, session: Uint8Array, received: bigint): Uint8Array {
  return encodeFrame({
    type: "Hello",
    version: PROTOCOL_VERSION,
    codec: "json",
    client_name: "quicket-js",
    client_version: VERSION,
    max_frame_size: CLIENT_MAX_FRAME_SIZE,
    auth,
    // An empty token means the server keeps no sessions, and then must not be asked to.
    resume: session.length > 0 ? { token: session, offset: received } : null,
  });
}

/** Why a handshake reply other than `Welcome` failed the connection, and the close reason. */
export function handshakeFailure(frame: Exclude<Frame, Welcome>): { error: ConnectError; reason?: number } {
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

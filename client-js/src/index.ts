/**
 * quicket-client: the browser client of quicket, socket.io's model over WebTransport with a
 * WebSocket fallback.
 *
 * ```ts
 * import { connect } from "quicket-client";
 *
 * const socket = await connect("http://localhost:8080", { auth: { token: "secret" } });
 * socket.on("chat", (line) => console.log(line));
 * socket.emit("chat", "hello");
 * ```
 *
 * The wire codec is exported too, as `codec`, for tools and tests.
 *
 * @module
 */

export { connect, Socket, VERSION } from "./client.js";
export type {
  AckCallback,
  AnyListener,
  ClassEmitter,
  ConnectOptions,
  DefaultEventsMap,
  DisconnectDetails,
  EventHandler,
  EventNames,
  EventPayload,
  EventReply,
  EventsMap,
  LifecycleEvents,
} from "./client.js";
export { Presence } from "./presence.js";
export { webStorageSession } from "./session.js";
export type { SessionStore, StoredSession } from "./session.js";
export type { PresenceCounts, PresenceEvents, PresenceMeta } from "./presence.js";
export type { Discovery, TransportName } from "./transport.js";
export {
  AckError,
  ConnectError,
  DatagramTooLargeError,
  EmitError,
  OfflineBufferFullError,
  PayloadError,
  TimeoutError,
} from "./errors.js";
export type { ConnectErrorKind, EmitErrorKind } from "./errors.js";
export {
  DecodeError,
  DisconnectReason,
  PROTOCOL_VERSION,
  RejectReason,
  disconnectReasonName,
  rejectReasonName,
} from "./codec.js";
export type { DecodeErrorKind, DisconnectReasonName, RejectReasonName } from "./codec.js";
export * as codec from "./codec.js";

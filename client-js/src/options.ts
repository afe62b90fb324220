/**
 * The options of `connect()`, with their defaults.
 *
 * @module
 */

import { MAX_CHANNELS } from "./channels.js";
import type { ReconnectOptions } from "./reconnect.js";
import type { SessionStore } from "./session.js";
import type { TransportName } from "./transport.js";

/** How {@link connect} connects, and reconnects after a drop. */
export interface ConnectOptions extends Partial<ReconnectOptions> {
  /** Credentials for the server's auth check, sent as JSON in `Hello.auth`; none if omitted. */
  auth?: unknown;
  /** Transports to try, in order of preference. Default `["webtransport", "websocket"]`. */
  transports?: TransportName[];
  /** Bounds each connection step (discovery, WebSocket opening, `Welcome`), in ms. Default 10 000. */
  timeout?: number;
  /** How long WebTransport may take before WebSocket is tried, in ms. Default 3 000. */
  webtransportDeadline?: number;
  /** Default timeout of {@link Socket.emitWithAck}, in ms. Default 30 000. */
  ackTimeout?: number;
  /**
   * How many ordered channels besides the reliable stream the client accepts on WebTransport
   * (PROTOCOL.md section 2.2): the server may carry each room's events on a stream of its
   * own, so that a packet lost for one room does not hold back another's. 0 offers none
   * (everything arrives in one order); at most 65 535. Not used over WebSocket. Default 16.
   */
  maxChannels?: number;
  /**
   * How many of its own events without an ack the client keeps to send again after a
   * recovered drop, and, separately, how many it accepts while disconnected. Default 1 024.
   */
  replayBufferEvents?: number;
  /** The same two bounds in bytes of encoded frames. Default 4 MiB. */
  replayBufferBytes?: number;
  /**
   * Where the session is kept so that it outlives the page: a reload, a crashed tab or a
   * navigation away and back within the server's recovery window resumes it (same `id`,
   * rooms kept, missed events delivered once), and closing the page sends no goodbye.
   * `webStorageSession()` keeps it in `sessionStorage`. None by default: the session lives
   * as long as the socket, and a closing page disconnects.
   */
  session?: SessionStore;
}

/** Every option but `auth` and `session`, defaults applied. */
export type ResolvedOptions = Required<Omit<ConnectOptions, "auth" | "session">>;

/** Applies the defaults. */
export function resolveOptions(options: ConnectOptions): ResolvedOptions {
  return {
    transports: options.transports ?? ["webtransport", "websocket"],
    timeout: options.timeout ?? 10_000,
    webtransportDeadline: options.webtransportDeadline ?? 3_000,
    ackTimeout: options.ackTimeout ?? 30_000,
    maxChannels: channelCount(options.maxChannels ?? 16),
    reconnection: options.reconnection ?? true,
    reconnectionAttempts: options.reconnectionAttempts ?? Infinity,
    reconnectionDelay: options.reconnectionDelay ?? 1_000,
    reconnectionDelayMax: options.reconnectionDelayMax ?? 5_000,
    randomizationFactor: options.randomizationFactor ?? 0.5,
    replayBufferEvents: options.replayBufferEvents ?? 1024,
    replayBufferBytes: options.replayBufferBytes ?? 4 * 1024 * 1024,
  };
}

/** `n` as a channel count: a whole number from 0 to 65 535 (NaN and below 0 are 0). */
function channelCount(n: number): number {
  const whole = Math.trunc(n);
  return whole > 0 ? Math.min(whole, MAX_CHANNELS) : 0;
}

/**
 * The socket's own events, whose names an incoming event cannot use.
 *
 * @module
 */

import type { DisconnectReasonName } from "./codec.js";

/** What ended a connection. */
export interface DisconnectDetails {
  /** The `DisconnectReason` code, kept as sent even when unknown. */
  code: number;
  /** The human-readable explanation, for logs. */
  message: string;
}

/** The socket's own (reserved) events; incoming events with these names are not delivered. */
export type LifecycleEvents = {
  /** A connection is open: after `connect()` resolved, and again after each reconnection. */
  connect: () => void;
  /** A connection closed; `reason` is the `DisconnectReason` name. Fires on every drop. */
  disconnect: (reason: DisconnectReasonName, details: DisconnectDetails) => void;
  /** A protocol, payload or handler error. */
  error: (err: Error) => void;
  /** Reconnection attempt `attempt` (from 1) is starting. */
  reconnecting: (attempt: number) => void;
  /** A reconnection attempt failed; another follows unless `reconnect_failed` fires. */
  reconnect_error: (err: Error) => void;
  /**
   * The socket gave up reconnecting (attempts exhausted, or refused as `Unauthorized` or
   * `UnsupportedVersion`); it stays closed, and events still waiting offline are dropped.
   */
  reconnect_failed: () => void;
  /**
   * Reconnected. `recovered`: the session (socket id, rooms, missed events both ways) was
   * resumed; otherwise this is a new session (a new id), and what was in flight at the drop
   * may be lost.
   */
  reconnected: (info: { recovered: boolean }) => void;
  /**
   * After a recovered reconnection: `count` events this client had sent were never handled
   * by the server and had already fallen out of the replay buffer.
   */
  events_lost: (count: number) => void;
};

const RESERVED = new Set<string>([
  "connect",
  "disconnect",
  "error",
  "reconnecting",
  "reconnect_error",
  "reconnect_failed",
  "reconnected",
  "events_lost",
] satisfies (keyof LifecycleEvents)[]);

/** Whether `event` names one of the socket's own events. */
export function isReserved(event: string): event is keyof LifecycleEvents {
  return RESERVED.has(event);
}

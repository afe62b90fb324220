/**
 * What the application listens to on a socket: its own (lifecycle) events, whose names an
 * incoming event cannot use, the server's events by name, and catch-all listeners; and when
 * it hears them.
 *
 * @module
 */

import type { DisconnectReasonName } from "./codec.js";
import type { AnyListener, Audience, EventHandler } from "./dispatch.js";
import { Emitter, type Listener } from "./emitter.js";

/**
 * Where a socket is in its life. `reconnecting` runs from a drop until the next `Welcome`;
 * `closed` is final (the application disconnected, the server ended the session, or
 * reconnecting gave up).
 */
export type SocketState = "connecting" | "open" | "reconnecting" | "closed";

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

/**
 * The socket's listeners, and the order the application hears things in: until `connect`
 * has fired, incoming work is held, so that handlers added after `await connect()` see it all.
 */
export class Listeners implements Audience {
  private readonly lifecycle = new Emitter<LifecycleEvents>();
  private readonly byName = new Emitter<Record<string, EventHandler>>();
  private catchAll: AnyListener[] = [];
  private held: (() => void)[] | null = [];

  /** Adds a listener: a lifecycle one for a reserved name, a handler for any other. */
  add(event: string, listener: Listener, once: boolean): void {
    if (isReserved(event)) {
      const typed = listener as LifecycleEvents[typeof event];
      if (once) this.lifecycle.once(event, typed);
      else this.lifecycle.on(event, typed);
    } else if (once) {
      this.byName.once(event, listener);
    } else {
      this.byName.on(event, listener);
    }
  }

  /** Removes a listener, or every listener of `event`. */
  remove(event: string, listener?: Listener): void {
    if (isReserved(event)) this.lifecycle.off(event, listener as LifecycleEvents[typeof event]);
    else this.byName.off(event, listener);
  }

  /** Adds a catch-all listener. */
  addAny(listener: AnyListener): void {
    this.catchAll.push(listener);
  }

  /** Removes a catch-all listener, or all of them. */
  removeAny(listener?: AnyListener): void {
    this.catchAll = listener ? this.catchAll.filter((l) => l !== listener) : [];
  }

  handlers(name: string): EventHandler[] {
    return isReserved(name) ? [] : this.byName.listenersOf(name);
  }

  anyListeners(): readonly AnyListener[] {
    return this.catchAll;
  }

  /** Fires one of the socket's own events now, held work or not. */
  emit<K extends keyof LifecycleEvents>(event: K, ...args: Parameters<LifecycleEvents[K]>): void {
    this.lifecycle.emit(event, ...args);
  }

  /** Runs `task` now, or after `connect` when that has not fired yet. */
  deliver(task: () => void): void {
    if (this.held) this.held.push(task);
    else this.run(task);
  }

  /** Fires `connect`, then runs what arrived meanwhile. */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    this.run(() => this.lifecycle.emit("connect"));
    for (const task of held) this.run(task);
  }

  run(task: () => void): void {
    try {
      task();
    } catch (err) {
      this.report(err, true);
    }
  }

  /**
   * Hands an error to the `error` listeners. Without any, errors thrown by the application's
   * own listeners are rethrown asynchronously (never swallowed); others are dropped.
   */
  report(err: unknown, fromApplication: boolean): void {
    const error = toError(err);
    if (this.lifecycle.listenerCount("error") > 0) {
      this.lifecycle.emit("error", error); // isolates each listener: see Emitter.emit
    } else if (fromApplication) {
      setTimeout(() => {
        throw error;
      }, 0);
    }
  }
}

/** `err` as an `Error`, for listeners typed to receive one whatever was thrown. */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

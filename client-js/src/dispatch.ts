/**
 * What the socket does with each frame the server sends after the handshake, and above all
 * with an `Event`: it goes to the application's handlers, and its ack id is answered exactly
 * once (PROTOCOL.md section 10.2).
 *
 * @module
 */

import type { PendingAcks } from "./acks.js";
import type { Freshness } from "./classes.js";
import { DecodeError, type Event, type Frame, decodeFrame, encodeFrame } from "./codec.js";
import { AckError, EmitError } from "./errors.js";
import { decodePayload, encodePayload, errorMessage, sendableMessage } from "./json.js";
import { MAX_PART_KEYS, type Presences } from "./presence.js";

/** The longest event name, in UTF-8 bytes (PROTOCOL.md section 8). */
export const MAX_EVENT_NAME_BYTES = 256;

const utf8 = new TextEncoder();

/** Why `name` cannot name an event, either way; `null` when it can. */
export function eventNameError(name: string): string | null {
  const nameBytes = utf8.encode(name).length;
  if (nameBytes <= MAX_EVENT_NAME_BYTES) return null;
  return `event name of ${nameBytes} bytes exceeds the maximum of ${MAX_EVENT_NAME_BYTES}`;
}

/** Answers an event that asked for an acknowledgement; only the first call counts. */
export type AckCallback = (reply?: unknown) => void;

/**
 * Handles an incoming event. `ack` is present when the server asked for an
 * acknowledgement: call it once with the reply. If the handler throws (or its promise
 * rejects) before acknowledging, the server gets an `AckError` with the error's message.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventHandler = (data: any, ack?: AckCallback) => unknown;

/** Sees every incoming event before its handlers (without the ack). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyListener = (event: string, data: any) => void;

/** The application's side of dispatching: the socket's listeners. */
export interface Audience {
  /** The handlers of `name`; none for the socket's reserved names. */
  handlers(name: string): EventHandler[];
  /** The catch-all listeners. */
  anyListeners(): readonly AnyListener[];
  /** Runs application code; what it throws is reported, not propagated. */
  run(task: () => void): void;
  /** Reports an error to the application (see `Socket`'s `error` event). */
  report(err: unknown, fromApplication: boolean): void;
}

/** What dispatching an event needs from the socket. */
export interface DispatchContext {
  readonly audience: Audience;
  /**
   * Sends an answer on the connection the event came on, and nowhere else: after a
   * reconnection the server may have reused the ack id. Nothing once that connection is
   * gone; throws like an emit when its queue is full.
   */
  answer(frame: Uint8Array): void;
  /** The server's maximum frame size. */
  readonly peerMaxFrameSize: number;
}

/**
 * How a frame came: on an ordered channel (0 for the reliable stream, 1 and above for the
 * server's channels of PROTOCOL.md section 2.2), as a datagram, or alone on a single-frame
 * stream (section 2.3).
 */
export type Route = number | "datagram" | "single";

/** What the frames other than `Event` act on. */
export interface FrameContext extends DispatchContext {
  readonly acks: PendingAcks;
  readonly presences: Presences;
  /** The newest `Sequenced` values handled; `null` when the handshake did not agree the classes. */
  readonly freshness: Freshness | null;
  /** One of the server's numbered events arrived on `channel`: see `Session.count`. */
  counted(channel: number): void;
  /** Sends a frame of the protocol's own; a failure has nobody to tell. */
  control(frame: Frame): void;
  /** The server closed the connection with a `Disconnect`. */
  close(reason: number, message: string): void;
  /** The server broke the protocol: the connection closes. */
  fail(err: Error, context: string): void;
}

/** Acts on one frame the server sent after the handshake, by the way it came. */
export function dispatchFrame(bytes: Uint8Array, route: Route, ctx: FrameContext): void {
  const datagram = route === "datagram";
  let frame: Frame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    return ctx.fail(err as DecodeError, datagram ? "undecodable datagram" : "undecodable frame");
  }
  const misrouted = carriedWrongly(frame, route);
  if (misrouted) return ctx.fail(new Error(misrouted), datagram ? "bad datagram" : "bad frame");
  switch (frame.type) {
    case "Event":
      // Counted whatever becomes of it (handled, no handler, bad payload): the server
      // counts what it sent, on each channel, and resumes after what the client has seen.
      // What came alone or as a datagram is outside any order, and no resume replays it.
      if (frame.ack === null && typeof route === "number") ctx.counted(route);
      return dispatchEvent(frame, ctx);
    case "Sequenced":
      if (!ctx.freshness) return ctx.fail(new Error("a Sequenced frame without the delivery classes"), "");
      if (!ctx.freshness.admit(frame.name, frame.key, frame.seq)) return;
      return dispatchEvent({ type: "Event", name: frame.name, ack: null, data: frame.data }, ctx);
    case "Ack":
      return ctx.acks.resolve(frame.id, frame.data);
    case "AckError":
      return ctx.acks.reject(frame.id, new AckError(frame.message));
    case "Ping":
      return ctx.control({ type: "Pong", id: frame.id });
    case "Pong":
      return; // This client sends no pings; unmatched pongs are ignored.
    case "Disconnect":
      return ctx.close(frame.reason, frame.message);
    case "PresenceState":
    case "PresenceStatePart":
    case "PresenceCount":
    case "PresenceDiff":
    case "PresenceEnd":
      if (!ctx.presences.apply(frame)) {
        ctx.fail(new Error(`a presence state in parts of more than ${MAX_PART_KEYS} keys`), "");
      }
      return;
    default:
      ctx.fail(new Error(`a server may not send ${frame.type} frames after the handshake`), "");
  }
}

/**
 * Why `frame` may not come the way it did, or `null`: channel 0 carries anything; events
 * without an ack id go anywhere; `Sequenced` also as a datagram or on a single-frame stream.
 */
function carriedWrongly(frame: Frame, route: Route): string | null {
  if (route === 0 || (frame.type === "Event" && frame.ack === null)) return null;
  const loose = route === "datagram" || route === "single";
  if (loose && frame.type === "Sequenced") return null;
  const what = loose ? "events without an ack id and Sequenced frames" : "events without an ack id";
  const where = route === "datagram" ? "as datagrams" : route === "single" ? "on single-frame streams" : `on channel ${route}`;
  return `only ${what} may travel ${where}, not ${frame.type === "Event" ? "an event with an ack id" : frame.type}`;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/** Delivers `event` to the application. */
export function dispatchEvent(event: Event, ctx: DispatchContext): void {
  const { name, ack: ackId } = event;
  const refuse = (message: string) => {
    if (ackId !== null) answerError(ctx, ackId, message);
  };
  const badName = eventNameError(name);
  if (badName !== null) return refuse(badName);
  const { audience } = ctx;
  let data: unknown;
  try {
    data = decodePayload(event.data);
  } catch (err) {
    if (ackId !== null) return refuse(`invalid payload: ${errorMessage(err)}`);
    return audience.report(err, false);
  }
  for (const listener of [...audience.anyListeners()]) audience.run(() => listener(name, data));
  const handlers = audience.handlers(name);
  if (handlers.length === 0) return refuse(`unknown event ${JSON.stringify(name)}`);
  const reply = ackId === null ? null : acknowledger(ctx, ackId);
  for (const handler of handlers) {
    try {
      const result = handler(data, reply?.ack);
      if (isThenable(result)) {
        // An async handler that finished without acking never will: tell the emitter, as the
        // protocol requires an answer (a callback-style handler may still ack later).
        result.then(
          () => reply?.fail("the handler did not acknowledge"),
          (err: unknown) => {
            reply?.fail(err);
            audience.report(err, true);
          },
        );
      }
    } catch (err) {
      reply?.fail(err);
      audience.report(err, true);
    }
  }
}

/** Sends `AckError`; a failure (the connection is gone) has nobody to tell. */
function answerError(ctx: DispatchContext, id: bigint, message: string): void {
  try {
    ctx.answer(encodeFrame({ type: "AckError", id, message: sendableMessage(message) }));
  } catch {
    // The connection is closing, or the server's limit is absurdly small.
  }
}

/** The `ack` callback of one event, answering exactly once, and its failure path. */
function acknowledger(
  ctx: DispatchContext,
  id: bigint,
): { ack: AckCallback; fail: (err: unknown) => void } {
  let answered = false;
  const fail = (err: unknown) => {
    if (answered) return;
    answered = true;
    answerError(ctx, id, errorMessage(err));
  };
  const ack: AckCallback = (reply) => {
    if (answered) return;
    let frame: Uint8Array;
    try {
      frame = encodeFrame({ type: "Ack", id, data: encodePayload(reply) });
    } catch (err) {
      fail(err);
      throw err;
    }
    if (frame.length > ctx.peerMaxFrameSize) {
      const message = `reply of ${frame.length} bytes exceeds the server's maximum of ${ctx.peerMaxFrameSize}`;
      fail(message);
      throw new EmitError("FrameTooLarge", message);
    }
    answered = true;
    ctx.answer(frame);
  };
  return { ack, fail };
}

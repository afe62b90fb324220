/**
 * Hands an incoming `Event` to the application's handlers and answers its ack id exactly
 * once (PROTOCOL.md section 10.2).
 *
 * @module
 */

import { type Event, encodeFrame } from "./codec.js";
import { EmitError } from "./errors.js";
import { decodeJson, encodeJson, errorMessage, sendableMessage } from "./json.js";

/** The longest event name, in UTF-8 bytes (PROTOCOL.md section 8). */
export const MAX_EVENT_NAME_BYTES = 256;

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

/** What dispatching needs from the socket. */
export interface DispatchContext {
  /** The handlers of `name`; none for the socket's reserved names. */
  handlers(name: string): EventHandler[];
  /** The catch-all listeners. */
  anyListeners(): readonly AnyListener[];
  /** Runs application code; what it throws is reported, not propagated. */
  run(task: () => void): void;
  /** Reports an error to the application (see `Socket`'s `error` event). */
  report(err: unknown, fromApplication: boolean): void;
  /**
   * Sends an answer on the connection the event came on, and nowhere else: after a
   * reconnection the server may have reused the ack id. Nothing once that connection is
   * gone; throws like an emit when its queue is full.
   */
  answer(frame: Uint8Array): void;
  /** The server's maximum frame size. */
  readonly peerMaxFrameSize: number;
}

const utf8 = new TextEncoder();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/** Delivers `event` to the application. */
export function dispatchEvent(event: Event, ctx: DispatchContext): void {
  const { name, ack: ackId } = event;
  const refuse = (message: string) => {
    if (ackId !== null) answerError(ctx, ackId, message);
  };
  const nameBytes = utf8.encode(name).length;
  if (nameBytes > MAX_EVENT_NAME_BYTES) {
    return refuse(`event name of ${nameBytes} bytes exceeds the maximum of ${MAX_EVENT_NAME_BYTES}`);
  }
  let data: unknown;
  try {
    data = decodeJson(event.data);
  } catch (err) {
    if (ackId !== null) return refuse(`invalid payload: ${errorMessage(err)}`);
    return ctx.report(err, false);
  }
  for (const listener of [...ctx.anyListeners()]) ctx.run(() => listener(name, data));
  const handlers = ctx.handlers(name);
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
            ctx.report(err, true);
          },
        );
      }
    } catch (err) {
      reply?.fail(err);
      ctx.report(err, true);
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
      frame = encodeFrame({ type: "Ack", id, data: encodeJson(reply) });
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

/**
 * Typed event maps, in the style of socket.io's: an interface from event name to the
 * signature of its handler, one for each direction.
 *
 * ```ts
 * interface ServerEvents {
 *   line: (line: { from: string; text: string }) => void;
 * }
 * interface ClientEvents {
 *   say: (text: string) => void;
 *   join: (name: string, ack: (reply: { room: string }) => void) => void; // emitWithAck
 * }
 * const socket = await connect<ServerEvents, ClientEvents>(url);
 * socket.on("line", ({ from, text }) => …); // typed
 * const { room } = await socket.emitWithAck("join", "ada"); // typed reply
 * socket.emit("sya", "hi"); // a compile error
 * ```
 *
 * An event carries one payload: the handler's first parameter. An event the receiver
 * acknowledges declares the acknowledgement as its last parameter, a callback whose
 * parameter is the reply. Without maps every name and payload is allowed, as `any`.
 *
 * @module
 */

/**
 * Event names to handler signatures. Declared with `any` so that an `interface` of events
 * satisfies it, as with socket.io's `EventsMap`.
 */
export interface EventsMap {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [event: string]: any;
}

/** Every name, any payload: what a socket without maps accepts. */
export interface DefaultEventsMap {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [event: string]: (...args: any[]) => void;
}

/** The names of a map's events. */
export type EventNames<Map extends EventsMap> = keyof Map & string;

/** The payload of an event: its handler's first parameter. */
export type EventPayload<F> = F extends (...args: infer Args) => void
  ? Args extends [] ? undefined : Args[0]
  : never;

/** The reply an acknowledged event expects: its acknowledgement callback's parameter. */
export type EventReply<F> = F extends (data: never, ack: (reply: infer Reply) => void) => void
  ? Reply
  : // eslint-disable-next-line @typescript-eslint/no-explicit-any
    any;

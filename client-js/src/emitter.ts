/**
 * A minimal typed event emitter for local (in-page) events.
 *
 * @module
 */

/**
 * Any function. Its parameters are `any`, not `never`, so that a listener written inline
 * where this type is expected (as in `Socket.off`) gets untyped rather than unusable ones.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Listener = (...args: any[]) => unknown;

/** A map from event name to listener signature. */
export type EventMap = { [event: string]: Listener };

/**
 * Listeners by event name; listeners run in registration order, synchronously. Owners keep
 * one privately and expose `on`/`off`/`once` with their own typed signatures.
 */
export class Emitter<Events extends EventMap> {
  private readonly listeners = new Map<keyof Events, Listener[]>();

  /** Adds a listener. */
  on<K extends keyof Events>(event: K, listener: Events[K]): this {
    const list = this.listeners.get(event);
    if (list) list.push(listener);
    else this.listeners.set(event, [listener]);
    return this;
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof Events>(event: K, listener: Events[K]): this {
    const wrapper = ((...args: unknown[]) => {
      this.off(event, wrapper);
      return listener(...args);
    }) as Events[K];
    (wrapper as { listener?: Listener }).listener = listener;
    return this.on(event, wrapper);
  }

  /** Removes one listener, or every listener of `event` when none is given. */
  off<K extends keyof Events>(event: K, listener?: Events[K]): this {
    if (listener === undefined) {
      this.listeners.delete(event);
      return this;
    }
    const list = this.listeners.get(event);
    if (!list) return this;
    const at = list.findIndex(
      (l) => l === listener || (l as { listener?: Listener }).listener === listener,
    );
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.listeners.delete(event);
    return this;
  }

  /** How many listeners `event` has. */
  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  /** The listeners of `event`, as a snapshot safe to iterate while listeners change. */
  listenersOf<K extends keyof Events>(event: K): Events[K][] {
    return [...(this.listeners.get(event) ?? [])] as Events[K][];
  }

  /**
   * Calls every listener of `event`; returns whether there was any. A listener that throws
   * does not stop the others, nor the caller (a connection's read loop): its error is
   * rethrown on its own turn of the event loop, where the page sees it.
   */
  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): boolean {
    const list = this.listenersOf(event);
    for (const listener of list) {
      try {
        listener(...args);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
    return list.length > 0;
  }
}

/**
 * Acknowledgements this client awaits: one entry per ack id, settled exactly once, by the
 * server's reply, by the timeout, or by the connection closing.
 */

import { EmitError, TimeoutError } from "./errors.js";
import { decodePayload } from "./json.js";
import { later } from "./timers.js";

interface PendingAck {
  resolve: (data: Uint8Array) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The ack ids in flight, bounded. */
export class PendingAcks {
  private readonly pending = new Map<bigint, PendingAck>();
  private nextId = 1n;

  constructor(private readonly max: number) {}

  /**
   * Takes the next ack id and calls `send` with it; resolves with the reply decoded as JSON.
   * Registered before sending, so a reply finds its id however soon it comes; a `send` that
   * throws takes the id back and rejects with its error.
   */
  expect<T>(timeout: number, send: (id: bigint) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size >= this.max) {
        throw new EmitError("TooManyPending", "too many acknowledgements pending");
      }
      const id = this.nextId;
      const timer = later(() => {
        this.pending.delete(id);
        reject(new TimeoutError(timeout));
      }, timeout);
      this.pending.set(id, {
        resolve: (bytes) => {
          try {
            resolve(decodePayload(bytes) as T);
          } catch (err) {
            reject(err as Error);
          }
        },
        reject,
        timer,
      });
      try {
        send(id);
        this.nextId += 1n;
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        throw err;
      }
    });
  }

  /** The server's reply; ids unknown, answered or timed out are ignored. */
  resolve(id: bigint, data: Uint8Array): void {
    this.take(id)?.resolve(data);
  }

  /** The server's error for an id; ignored like {@link PendingAcks.resolve}. */
  reject(id: bigint, err: Error): void {
    this.take(id)?.reject(err);
  }

  /** Rejects every id in flight: the connection is gone. */
  rejectAll(err: () => Error): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err());
    }
    this.pending.clear();
  }

  private take(id: bigint): PendingAck | undefined {
    const pending = this.pending.get(id);
    if (pending === undefined) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }
}

/**
 * Reconnecting on its own after a drop, as socket.io-client's Manager does: exponential
 * backoff with jitter between attempts, a bounded number of attempts (PROTOCOL.md 10.6,
 * "Reconnecting").
 *
 * @module
 */

import { DisconnectReason } from "./codec.js";
import { later } from "./timers.js";

/** How a socket reconnects after a drop; the names and defaults are socket.io-client's. */
export interface ReconnectOptions {
  /** Whether to reconnect at all. Default `true`. */
  reconnection: boolean;
  /** Attempts before giving up with `reconnect_failed`. Default `Infinity`. */
  reconnectionAttempts: number;
  /** The first delay, in ms, doubled after each failed attempt. Default 1 000. */
  reconnectionDelay: number;
  /** The longest delay, in ms. Default 5 000. */
  reconnectionDelayMax: number;
  /** Each delay is randomised by ± this fraction of it. Default 0.5. */
  randomizationFactor: number;
}

/**
 * Whether a drop for `reason` is followed by reconnecting: not when the application on
 * either side ended the session.
 */
export function reconnectsAfter(reason: number, options: ReconnectOptions): boolean {
  return (
    options.reconnection &&
    reason !== DisconnectReason.ClientDisconnect &&
    reason !== DisconnectReason.ServerDisconnect
  );
}

/**
 * socket.io's `Backoff` (backo2): `base · 2^attempt`, moved by up to `jitter` of itself,
 * down or up as one random draw says, then capped at `max`. Identical delays for identical
 * draws, so a server sees the same spread of returning clients as from socket.io.
 */
export class Backoff {
  private attempts = 0;

  constructor(
    private readonly base: number,
    private readonly max: number,
    private readonly jitter: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call counts one attempt. */
  duration(): number {
    // socket.io's exponent grows without bound; after ~1 000 attempts 2^n is Infinity and
    // the jitter turns the delay into NaN (then 0: a busy loop). Past 2^52 nothing changes.
    let ms = this.base * 2 ** Math.min(this.attempts, 52);
    this.attempts += 1;
    if (this.jitter) {
      const rand = this.random();
      const deviation = Math.floor(rand * this.jitter * ms);
      ms = (Math.floor(rand * 10) & 1) === 0 ? ms - deviation : ms + deviation;
    }
    // socket.io truncates with `| 0`, which wraps a `max` above 2^31; floor does not.
    return Math.max(0, Math.floor(Math.min(ms, this.max)));
  }

  /** Starts again from the first delay. */
  reset(): void {
    this.attempts = 0;
  }
}

/** What a {@link Reconnector} drives. */
export interface ReconnectHooks {
  /** Opens a connection and completes its handshake; rejects when this attempt failed. */
  attempt(): Promise<void>;
  /** Attempt `n` (from 1) is starting. */
  attempting(n: number): void;
  /** Attempt `n` failed with `err`; returns `true` when retrying is pointless. */
  failed(err: unknown, n: number): boolean;
  /** No more attempts: the limit was reached, or {@link ReconnectHooks.failed} said stop. */
  gaveUp(): void;
}

/** Runs one reconnection cycle at a time: attempts separated by backoff delays. */
export class Reconnector {
  private readonly backoff: Backoff;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private running = false;
  /** Bumped whenever a cycle ends, so that an attempt of an ended cycle settles unheard. */
  private cycle = 0;

  constructor(
    private readonly options: ReconnectOptions,
    private readonly hooks: ReconnectHooks,
    random?: () => number,
  ) {
    this.backoff = new Backoff(
      options.reconnectionDelay,
      options.reconnectionDelayMax,
      options.randomizationFactor,
      random,
    );
  }

  /**
   * Starts a cycle after a drop: the first attempt after the first backoff delay, or at once
   * when `immediate` (the server is being replaced, so waiting only delays the recovery).
   */
  start(immediate: boolean): void {
    if (this.running) return;
    this.running = true;
    this.attempts = 0;
    this.next(immediate ? 0 : this.backoff.duration());
  }

  /**
   * Ends the cycle (a connection opened, or the application disconnected): no attempt starts
   * after this, one in flight is ignored, and the next drop starts from the first delay.
   */
  stop(): void {
    this.running = false;
    this.cycle += 1;
    this.backoff.reset();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private next(delay: number): void {
    if (this.attempts >= this.options.reconnectionAttempts) {
      this.stop();
      this.hooks.gaveUp();
      return;
    }
    this.timer = later(() => void this.run(), delay);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    const cycle = this.cycle;
    this.attempts += 1;
    this.hooks.attempting(this.attempts);
    if (cycle !== this.cycle) return; // a listener of `attempting` disconnected
    try {
      await this.hooks.attempt();
    } catch (err) {
      if (cycle !== this.cycle) return;
      const final = this.hooks.failed(err, this.attempts);
      if (cycle !== this.cycle) return; // a listener of `failed` disconnected
      if (final) {
        this.stop();
        this.hooks.gaveUp();
      } else {
        this.next(this.backoff.duration());
      }
      return;
    }
    // The socket reports success itself, synchronously with `Welcome`; this only covers an
    // attempt that resolved without it.
    if (cycle === this.cycle) this.stop();
  }
}

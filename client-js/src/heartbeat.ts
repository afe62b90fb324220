/**
 * The client's side of the heartbeat (PROTOCOL.md section 10.4): a server that sent nothing
 * for `ping_interval + ping_timeout` is treated as dead.
 *
 * @module
 */

import type { Welcome } from "./codec.js";
import { later } from "./timers.js";

const now = (): number => performance.now();

/** Watches one connection for silence. */
export class Watchdog {
  private lastInbound = now();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** Calls `dead` once nothing arrived for `deadAfter` ms; {@link Watchdog.stop} first. */
  constructor(
    readonly deadAfter: number,
    private readonly dead: () => void,
  ) {
    this.timer = later(() => this.check(), deadAfter);
  }

  /** Watches a connection for the silence its `Welcome` allows; `dead` gets the reason. */
  static forWelcome(welcome: Welcome, dead: (message: string) => void): Watchdog {
    const deadAfter = welcome.ping_interval_ms + welcome.ping_timeout_ms;
    return new Watchdog(deadAfter, () => dead(`no frame from the server for ${deadAfter} ms`));
  }

  /** Something arrived. A timestamp, not a new timer: frames can come by the thousand. */
  touch(): void {
    this.lastInbound = now();
  }

  /** The connection closed. */
  stop(): void {
    clearTimeout(this.timer);
  }

  private check(): void {
    const silent = now() - this.lastInbound;
    if (silent >= this.deadAfter) this.dead();
    else this.timer = later(() => this.check(), this.deadAfter - silent);
  }
}

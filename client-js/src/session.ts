/**
 * The session a socket asks to resume after a drop (PROTOCOL.md section 10.6): what the last
 * `Welcome` said, and how far this side has read the server's reliable events.
 *
 * @module
 */

import type { Welcome } from "./codec.js";
import { helloFrame } from "./handshake.js";

const toHex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** The bookkeeping behind `Hello.resume` and the socket's `id` and `recovered`. */
export class Session {
  private sid = "";
  private wasRecovered = false;
  /** The last `Welcome.session`: what `Hello.resume` presents. */
  private token: Uint8Array = new Uint8Array(0);
  /** The server's reliable events handled in this session: `Hello.resume.offset`. */
  private received = 0n;

  /** The socket id of the last `Welcome`, as 32 lowercase hex digits; empty before it. */
  get id(): string {
    return this.sid;
  }

  /** Whether the last `Welcome` resumed the session before it. */
  get recovered(): boolean {
    return this.wasRecovered;
  }

  /** The `Hello` of the next connection, asking to resume this session when there is one. */
  hello(auth: Uint8Array): Uint8Array {
    return helloFrame(auth, this.token, this.received);
  }

  /** Counts one of the server's events that the session numbers (reliable, without an ack id). */
  count(): void {
    this.received += 1n;
  }

  /** Takes on a new connection's session, resumed or new. */
  welcomed(welcome: Welcome): void {
    this.sid = toHex(welcome.sid);
    this.token = welcome.session;
    this.wasRecovered = welcome.recovered;
    // A new session's offsets start again; the old session's count means nothing to it.
    if (!welcome.recovered) this.received = 0n;
  }
}

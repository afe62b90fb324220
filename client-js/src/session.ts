/**
 * The session a socket asks to resume after a drop (PROTOCOL.md section 10.6): what the last
 * `Welcome` said, and how far this side has read the server's reliable events. With a
 * {@link SessionStore} it outlives the page, so a reload or a crashed tab resumes it too.
 *
 * @module
 */

import type { Welcome } from "./codec.js";
import { helloFrame } from "./handshake.js";

/** What a {@link SessionStore} keeps: enough for the next page's `Hello.resume`. */
export interface StoredSession {
  /** The last `Welcome.session` token, as lowercase hex. */
  token: string;
  /** The server's reliable events handled in that session, as a decimal integer. */
  offset: string;
}

/**
 * Where a socket keeps its session between pages. `save` runs after every reliable event
 * the application handled, so that the next page asks for exactly the events this one did
 * not see; keep it synchronous and cheap.
 */
export interface SessionStore {
  /** The session a previous page left, if any. */
  load(): StoredSession | null | undefined;
  /** Keeps the current session. */
  save(session: StoredSession): void;
  /** Forgets it: the session ended. */
  clear(): void;
}

/**
 * A {@link SessionStore} in Web Storage under `key`: `sessionStorage` by default, which is
 * one per tab and survives a reload and a crashed renderer. With `localStorage`, every tab of
 * the origin would share one session and take it from each other. Storage that throws
 * (disabled, full) is treated as empty: the next page starts a new session.
 */
export function webStorageSession(key = "quicket-session", storage?: Storage): SessionStore {
  const backing = (): Storage | undefined => {
    try {
      return storage ?? (globalThis as { sessionStorage?: Storage }).sessionStorage;
    } catch {
      return undefined;
    }
  };
  const attempt = <T>(task: (store: Storage) => T): T | undefined => {
    try {
      const store = backing();
      return store ? task(store) : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    load: () => attempt((store) => parseStored(store.getItem(key))),
    save: (session) => void attempt((store) => store.setItem(key, JSON.stringify(session))),
    clear: () => void attempt((store) => store.removeItem(key)),
  };
}

/** A stored session, or `null` when `text` is not one. */
function parseStored(text: string | null): StoredSession | null {
  if (!text) return null;
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null) return null;
  const { token, offset } = value as Record<string, unknown>;
  if (typeof token !== "string" || !/^(?:[0-9a-f]{2})+$/.test(token)) return null;
  if (typeof offset !== "string" || !/^[0-9]{1,20}$/.test(offset)) return null;
  return { token, offset };
}

const toHex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const fromHex = (hex: string): Uint8Array =>
  Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));

/** The bookkeeping behind `Hello.resume` and the socket's `id` and `recovered`. */
export class Session {
  private sid = "";
  private wasRecovered = false;
  /** The last `Welcome.session`: what `Hello.resume` presents. */
  private token: Uint8Array = new Uint8Array(0);
  /** The server's reliable events handled in this session: `Hello.resume.offset`. */
  private received = 0n;

  /** Picks up the session a previous page left in `store`, if any. */
  constructor(private readonly store: SessionStore | null = null) {
    const stored = store?.load();
    if (stored) {
      this.token = fromHex(stored.token);
      this.received = BigInt(stored.offset);
    }
  }

  /** The socket id of the last `Welcome`, as 32 lowercase hex digits; empty before it. */
  get id(): string {
    return this.sid;
  }

  /** Whether the last `Welcome` resumed the session before it. */
  get recovered(): boolean {
    return this.wasRecovered;
  }

  /** Whether the session is kept in a store, to outlive the page. */
  get persistent(): boolean {
    return this.store !== null;
  }

  /** The `Hello` of the next connection, asking to resume this session when there is one. */
  hello(auth: Uint8Array): Uint8Array {
    return helloFrame(auth, this.token, this.received);
  }

  /** Counts one of the server's events that the session numbers (reliable, without an ack id). */
  count(): void {
    this.received += 1n;
    this.persist();
  }

  /** Takes on a new connection's session, resumed or new. */
  welcomed(welcome: Welcome): void {
    this.sid = toHex(welcome.sid);
    this.token = welcome.session;
    this.wasRecovered = welcome.recovered;
    // A new session's offsets start again; the old session's count means nothing to it.
    if (!welcome.recovered) this.received = 0n;
    this.persist();
  }

  /** The session ended for good: a later page must not ask for it. */
  ended(): void {
    this.store?.clear();
  }

  private persist(): void {
    if (!this.store) return;
    if (this.token.length === 0) this.store.clear();
    else this.store.save({ token: toHex(this.token), offset: this.received.toString() });
  }
}

/**
 * The session a socket asks to resume after a drop (PROTOCOL.md section 10.6): what the last
 * `Welcome` said, and how far this side has read the server's reliable events on each
 * channel (section 2.2). With a {@link SessionStore} it outlives the page, so a reload or a
 * crashed tab resumes it too.
 *
 * @module
 */

import type { ChannelOffer, ChannelOffset, Welcome } from "./codec.js";
import { helloFrame } from "./handshake.js";

/** What a {@link SessionStore} keeps: enough for the next page's `Hello.resume`. */
export interface StoredSession {
  /** The last `Welcome.session` token, as lowercase hex. */
  token: string;
  /** The server's reliable events handled in that session on channel 0, as a decimal integer. */
  offset: string;
  /**
   * The same for each channel above 0 with events handled (PROTOCOL.md 2.2), by channel
   * number; absent when there are none.
   */
  channels?: Record<string, string>;
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
  const { token, offset, channels } = value as Record<string, unknown>;
  if (typeof token !== "string" || !/^(?:[0-9a-f]{2})+$/.test(token)) return null;
  if (!isCount(offset)) return null;
  if (channels === undefined) return { token, offset };
  if (typeof channels !== "object" || channels === null) return null;
  const entries = Object.entries(channels);
  if (!entries.every(([channel, count]) => isChannel(channel) && isCount(count))) return null;
  return { token, offset, channels: Object.fromEntries(entries) as Record<string, string> };
}

const isCount = (value: unknown): value is string => typeof value === "string" && /^[0-9]{1,20}$/.test(value);

const isChannel = (key: string): boolean => /^[1-9][0-9]{0,4}$/.test(key) && Number(key) <= 0xffff;

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
  /**
   * The server's reliable events handled in this session, by channel (PROTOCOL.md 2.2):
   * channel 0's is `Hello.resume.offset`, the others' `Hello.channels.offsets`.
   */
  private readonly received = new Map<number, bigint>();

  /** Picks up the session a previous page left in `store`, if any. */
  constructor(private readonly store: SessionStore | null = null) {
    const stored = store?.load();
    if (stored) {
      this.token = fromHex(stored.token);
      this.received.set(0, BigInt(stored.offset));
      for (const [channel, count] of Object.entries(stored.channels ?? {})) {
        this.received.set(Number(channel), BigInt(count));
      }
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

  /**
   * The `Hello` of the next connection, asking to resume this session when there is one,
   * offering `maxChannels` channels besides channel 0 (none when 0) and always the delivery
   * classes (PROTOCOL.md 2.3). A resume names the other channels' offsets even when it offers
   * none (over WebSocket): the session then carries on over channel 0 alone (section 10.6).
   */
  hello(auth: Uint8Array, maxChannels: number): Uint8Array {
    // An empty token means the server keeps no sessions, and then must not be asked to.
    const resume = this.token.length > 0 ? { token: this.token, offset: this.handled(0) } : null;
    const offsets = resume ? this.channelOffsets() : [];
    const channels: ChannelOffer = { max_channels: maxChannels, offsets, classes: true };
    return helloFrame(auth, resume, channels);
  }

  /**
   * Counts one of the server's events that the session numbers (reliable, without an ack id)
   * on `channel`.
   */
  count(channel: number): void {
    this.received.set(channel, this.handled(channel) + 1n);
    this.persist();
  }

  /** Takes on a new connection's session, resumed or new. */
  welcomed(welcome: Welcome): void {
    this.sid = toHex(welcome.sid);
    this.token = welcome.session;
    this.wasRecovered = welcome.recovered;
    // A new session's offsets start again; the old session's counts mean nothing to it.
    if (!welcome.recovered) this.received.clear();
    this.persist();
  }

  /** The session ended for good: a later page must not ask for it. */
  ended(): void {
    this.store?.clear();
  }

  private handled(channel: number): bigint {
    return this.received.get(channel) ?? 0n;
  }

  /** Each channel above 0 with events handled, and how many: a resume's offsets. */
  private channelOffsets(): ChannelOffset[] {
    return [...this.received]
      .filter(([channel, offset]) => channel > 0 && offset > 0n)
      .sort(([a], [b]) => a - b)
      .map(([channel, offset]) => ({ channel, offset }));
  }

  private persist(): void {
    if (!this.store) return;
    if (this.token.length === 0) return this.store.clear();
    const session: StoredSession = { token: toHex(this.token), offset: this.handled(0).toString() };
    const offsets = this.channelOffsets();
    if (offsets.length > 0) {
      session.channels = Object.fromEntries(offsets.map((o) => [String(o.channel), o.offset.toString()]));
    }
    this.store.save(session);
  }
}

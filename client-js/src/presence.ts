/**
 * The client's view of a room's presence (PROTOCOL.md section 10.3), and the socket's
 * subscriptions, one per room.
 *
 * @module
 */

import type {
  Frame,
  PresenceDiff,
  PresenceEnd,
  PresenceEntry,
  PresenceCount,
  PresenceState,
  PresenceStatePart,
} from "./codec.js";
import { Emitter } from "./emitter.js";
import { decodeJson } from "./json.js";

/** Keys a state may arrive with in parts: ten times a server's default room limit. */
export const MAX_PART_KEYS = 100_000;

/** One connection's metadata for a key: its server-assigned id and its decoded JSON value. */
export interface PresenceMeta {
  /** Unique among the room's metas; an update gets a new id. */
  id: bigint;
  /** The meta's JSON value; `undefined` when it did not decode (an `error` was emitted). */
  data: unknown;
}

/** Presence listeners. */
export type PresenceEvents = {
  /** A full state arrived and replaced {@link Presence.state}. */
  sync: () => void;
  /**
   * Metas of `key` appeared in one diff. `first` when the key was absent before the diff:
   * the key joined. An update (a meta replaced in the same diff) has `first` false.
   */
  join: (key: string, metas: PresenceMeta[], info: { first: boolean }) => void;
  /**
   * Metas of `key` went away in one diff. `last` when the key is absent after the diff: the
   * key left. An update has `last` false.
   */
  leave: (key: string, metas: PresenceMeta[], info: { last: boolean }) => void;
  /**
   * The room's counts arrived or changed, in a room whose server sends counts only:
   * {@link Presence.counts} holds them, and `state` stays empty.
   */
  count: (counts: PresenceCounts) => void;
  /** The server ended the subscription (refused it, or the socket left the room). */
  end: (message: string) => void;
};

/** How many keys and connections a room counts. */
export interface PresenceCounts {
  /** Keys present. */
  keys: bigint;
  /** Metas present: one per connection tracking a key. */
  connections: bigint;
}

/** Decodes a meta's payload; reports a failure and returns `undefined`. */
export type MetaDecoder = (bytes: Uint8Array) => unknown;

/**
 * A subscription to one room's presence, from `socket.presence(room)`.
 *
 * `state` maps each key present to its metas (one per connection tracking the key, ordered
 * by id). Diffs that arrive before the first full state are ignored: they can only belong to
 * an earlier subscription of the same room.
 *
 * A subscription outlives a reconnection: the socket subscribes again, and the fresh state
 * replaces the view with one `sync`, without `join` or `leave` for the keys that stayed.
 */
export class Presence {
  private readonly events = new Emitter<PresenceEvents>();
  private readonly metas = new Map<string, Map<bigint, PresenceMeta>>();
  private synced = false;
  private ended = false;
  /** Entries of a state sent in parts, until the `PresenceState` that completes them. */
  private parts: PresenceEntry[] = [];

  /** Each key present, with its metas ordered by id. Replaced in place on every change. */
  readonly state = new Map<string, PresenceMeta[]>();

  /** The room's counts, when its server sends counts only; `undefined` when it sends keys. */
  counts: PresenceCounts | undefined = undefined;

  /** @internal Built by {@link Presences.add}, for `Socket.presence`. */
  constructor(
    /** The room. */
    readonly room: string,
    private readonly decode: MetaDecoder,
    private readonly onUnsubscribe: (presence: Presence) => void,
  ) {}

  /** Whether the subscription is still running. */
  get active(): boolean {
    return !this.ended;
  }

  /** Whether a full state has arrived yet. */
  get isSynced(): boolean {
    return this.synced;
  }

  /** Adds a listener. */
  on<K extends keyof PresenceEvents & string>(event: K, listener: PresenceEvents[K]): this {
    this.events.on(event, listener);
    return this;
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof PresenceEvents & string>(event: K, listener: PresenceEvents[K]): this {
    this.events.once(event, listener);
    return this;
  }

  /** Removes a listener, or all listeners of `event`. */
  off<K extends keyof PresenceEvents & string>(event: K, listener?: PresenceEvents[K]): this {
    this.events.off(event, listener);
    return this;
  }

  /** Stops the subscription (sends `PresenceUnsubscribe`); the server does not answer it. */
  unsubscribe(): void {
    if (this.ended) return;
    this.ended = true;
    this.onUnsubscribe(this);
  }

  /**
   * @internal A `PresenceStatePart`: kept for the `PresenceState` that completes it. Refused
   * past {@link MAX_PART_KEYS} keys, a bound no server within its room limit reaches.
   */
  applyPart(entries: PresenceEntry[]): boolean {
    if (this.parts.length + entries.length > MAX_PART_KEYS) return false;
    this.parts.push(...entries);
    return true;
  }

  /** @internal A `PresenceCount`: the room's counts, in place of its keys. */
  applyCount(keys: bigint, connections: bigint): void {
    if (this.ended) return;
    this.metas.clear();
    this.state.clear();
    this.counts = { keys, connections };
    this.synced = true;
    this.events.emit("count", this.counts);
  }

  /** @internal A `PresenceState`: with the parts before it, replaces the whole view. */
  applyState(entries: PresenceEntry[]): void {
    const parts = this.parts;
    this.parts = [];
    if (this.ended) return;
    this.metas.clear();
    for (const entry of [...parts, ...entries]) {
      const metas = this.metasOf(entry.key);
      for (const meta of entry.metas) metas.set(meta.id, this.toMeta(meta));
    }
    this.state.clear();
    for (const key of this.metas.keys()) this.refresh(key);
    this.counts = undefined;
    this.synced = true;
    this.events.emit("sync");
  }

  /**
   * @internal The connection dropped and the socket is reconnecting: the view is kept, and
   * the next `PresenceState` (of the new subscription) replaces it whole. Diffs until then
   * are ignored, like those before a first state.
   */
  resync(): void {
    this.synced = false;
    this.parts = [];
  }

  /** @internal A `PresenceDiff`: every join added and every leave removed, as one change. */
  applyDiff(joins: PresenceEntry[], leaves: PresenceEntry[]): void {
    if (this.ended || !this.synced) return;
    const before = new Set(this.metas.keys());
    const joined: [string, PresenceMeta[]][] = [];
    const left: [string, PresenceMeta[]][] = [];
    for (const entry of joins) {
      const metas = this.metasOf(entry.key);
      const added = entry.metas.map((meta) => this.toMeta(meta));
      for (const meta of added) metas.set(meta.id, meta);
      if (added.length > 0) joined.push([entry.key, added]);
    }
    for (const entry of leaves) {
      const metas = this.metas.get(entry.key);
      if (!metas) continue;
      const removed: PresenceMeta[] = [];
      for (const { id } of entry.metas) {
        const meta = metas.get(id);
        if (meta && metas.delete(id)) removed.push(meta);
      }
      if (removed.length > 0) left.push([entry.key, removed]);
    }
    const touched = new Set([...joins, ...leaves].map((entry) => entry.key));
    for (const key of touched) this.refresh(key);
    for (const [key, metas] of joined) {
      this.events.emit("join", key, metas, { first: !before.has(key) && this.state.has(key) });
    }
    for (const [key, metas] of left) {
      this.events.emit("leave", key, metas, { last: before.has(key) && !this.state.has(key) });
    }
  }

  /** @internal A `PresenceEnd`, or the connection closed. */
  end(message: string): void {
    if (this.ended) return;
    this.ended = true;
    this.events.emit("end", message);
  }

  private metasOf(key: string): Map<bigint, PresenceMeta> {
    let metas = this.metas.get(key);
    if (!metas) {
      metas = new Map();
      this.metas.set(key, metas);
    }
    return metas;
  }

  private toMeta(meta: { id: bigint; data: Uint8Array }): PresenceMeta {
    return { id: meta.id, data: this.decode(meta.data) };
  }

  /** Rebuilds `state` for one key from the metas by id. */
  private refresh(key: string): void {
    const metas = this.metas.get(key);
    if (!metas || metas.size === 0) {
      this.metas.delete(key);
      this.state.delete(key);
      return;
    }
    const sorted = [...metas.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.state.set(key, sorted);
  }
}

/**
 * A socket's presence subscriptions by room. They outlive a connection: the socket asks for
 * each again on the next one.
 */
export class Presences {
  private readonly rooms = new Map<string, Presence>();

  /**
   * `control` sends a frame of the protocol's own, silently failing; `report` hears of metas
   * that are not JSON.
   */
  constructor(
    private readonly control: (frame: Frame) => void,
    private readonly report: (err: unknown) => void,
  ) {}

  /** The running subscription to `room`, if any. */
  get(room: string): Presence | undefined {
    return this.rooms.get(room);
  }

  /** Registers a subscription to `room`; subscribing on the connection is the caller's. */
  add(room: string): Presence {
    const presence = new Presence(
      room,
      (bytes) => this.decodeMeta(bytes),
      (p) => this.unsubscribe(p),
    );
    this.rooms.set(room, presence);
    return presence;
  }

  /**
   * A presence frame from the server; frames of rooms not followed are ignored. `false` for
   * a state in parts too large to keep.
   */
  apply(
    frame: PresenceState | PresenceStatePart | PresenceCount | PresenceDiff | PresenceEnd,
  ): boolean {
    const presence = this.rooms.get(frame.room);
    switch (frame.type) {
      case "PresenceCount":
        presence?.applyCount(frame.keys, frame.connections);
        return true;
      case "PresenceStatePart":
        return presence?.applyPart(frame.entries) ?? true;
      case "PresenceState":
        presence?.applyState(frame.entries);
        return true;
      case "PresenceDiff":
        presence?.applyDiff(frame.joins, frame.leaves);
        return true;
      case "PresenceEnd":
        this.rooms.delete(frame.room);
        presence?.end(frame.message);
        return true;
    }
  }

  /** A connection opened: subscriptions belong to one, and the fresh state replaces each view. */
  resubscribe(): void {
    for (const room of this.rooms.keys()) this.control({ type: "PresenceSubscribe", room });
  }

  /** The connection dropped; the socket is reconnecting. */
  resync(): void {
    for (const presence of this.rooms.values()) presence.resync();
  }

  /** Forgets every subscription (the socket closed for good) and returns them, to be ended. */
  takeAll(): Presence[] {
    const presences = [...this.rooms.values()];
    this.rooms.clear();
    return presences;
  }

  private unsubscribe(presence: Presence): void {
    if (this.rooms.get(presence.room) !== presence) return;
    this.rooms.delete(presence.room);
    this.control({ type: "PresenceUnsubscribe", room: presence.room });
  }

  private decodeMeta(bytes: Uint8Array): unknown {
    try {
      return decodeJson(bytes);
    } catch (err) {
      this.report(err);
      return undefined;
    }
  }
}

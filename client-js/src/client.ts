/**
 * The browser client: `connect()` and the {@link Socket} it resolves to, modelled on
 * socket.io-client and on the Rust client (`core/src/client`, `core/src/peer/driver.rs`).
 *
 * A `Socket` outlives its connections: after a drop it reconnects on its own
 * (reconnect.ts), resumes its session when the server still holds it (session.ts), and
 * sends again what the server never handled (outbound.ts, PROTOCOL.md section 10.6).
 *
 * @module
 */

import { PendingAcks } from "./acks.js";
import { Freshness } from "./classes.js";
import { DecodeError, DisconnectReason, type Welcome, disconnectReasonName, encodeFrame } from "./codec.js";
import { type AnyListener, type Route, dispatchFrame } from "./dispatch.js";
import type { DefaultEventsMap, EventNames, EventPayload, EventReply, EventsMap } from "./typed.js";
import type { Listener } from "./emitter.js";
import { ConnectError, EmitError } from "./errors.js";
import {
  type DisconnectDetails,
  type LifecycleEvents,
  Listeners,
  type SocketState,
  toError,
} from "./events.js";
import { PendingHandshake, establishConnection, isFinalRefusal } from "./handshake.js";
import { Watchdog } from "./heartbeat.js";
import { encodeJson, errorMessage } from "./json.js";
import { type ConnectOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { Outbound, goodbyeFrame } from "./outbound.js";
import { type Presence, Presences } from "./presence.js";
import { Reconnector, reconnectsAfter } from "./reconnect.js";
import { Session } from "./session.js";
import type { Carrier, CarrierSink, TransportName } from "./transport.js";

export type { AckCallback, AnyListener, EventHandler } from "./dispatch.js";
export type { DisconnectDetails, LifecycleEvents } from "./events.js";
export { VERSION } from "./handshake.js";
export type { ConnectOptions } from "./options.js";
export type { DefaultEventsMap, EventNames, EventPayload, EventReply, EventsMap } from "./typed.js";

/** The most acknowledgements this side awaits at once. */
const MAX_PENDING_ACKS = 1024;

/**
 * Emits of one delivery class: `socket.volatile`, `socket.unordered`, `socket.sequenced`,
 * `socket.latest(key)`.
 */
export interface ClassEmitter<Emit extends EventsMap = DefaultEventsMap> {
  emit<E extends EventNames<Emit>>(event: E, data?: EventPayload<Emit[E]>): void;
}

/**
 * Connects to a quicket server: reads `GET {url}/quicket/info`, tries WebTransport (within
 * `webtransportDeadline`), falls back to WebSocket, and runs the handshake. A `ws(s)://` URL
 * skips discovery and connects to that WebSocket endpoint. Reconnections after a drop take
 * the same path.
 *
 * Rejects with a {@link ConnectError}; `kind` is `"Rejected"` when the server refused the
 * handshake (its `reason`, `message` and JSON `data` are on the error). A first connection
 * that fails is not retried: reconnecting is for connections that were open.
 *
 * ```ts
 * const socket = await connect("http://localhost:8080", { auth: { token } });
 * socket.on("chat", (msg) => console.log(msg));
 * const reply = await socket.emitWithAck("echo", "hi", { timeout: 5000 });
 * ```
 */
export async function connect<Listen extends EventsMap = DefaultEventsMap, Emit extends EventsMap = DefaultEventsMap>(
  url: string,
  options: ConnectOptions = {},
): Promise<Socket<Listen, Emit>> {
  const resolved = resolveOptions(options);
  let auth: Uint8Array = new Uint8Array(0);
  if (options.auth !== undefined) {
    try {
      auth = encodeJson(options.auth);
    } catch (err) {
      throw new ConnectError("Payload", errorMessage(err), undefined, { cause: err });
    }
  }
  const socket = await Socket.open<Listen, Emit>(url, resolved, auth, new Session(options.session ?? null));
  // A stored session is meant to outlive the page: the browser's own close leaves it resumable.
  return options.session ? socket : disconnectOnPageHide(socket);
}

/**
 * A closing tab says goodbye (as socket.io's `closeOnBeforeunload` does) instead of leaving
 * the server to notice its silence a heartbeat later.
 */
function disconnectOnPageHide<S extends Socket<never, never>>(socket: S): S {
  const page = globalThis as {
    addEventListener?: (type: string, listener: () => void, options: { once: boolean }) => void;
  };
  page.addEventListener?.("pagehide", () => void socket.disconnect(), { once: true });
  return socket;
}

/**
 * A connection to a quicket server, from {@link connect}, kept across drops.
 *
 * Local errors are thrown (or rejected) as typed errors: {@link EmitError} (name too long,
 * frame larger than the server accepts, disconnected, …), {@link OfflineBufferFullError},
 * {@link DatagramTooLargeError}, {@link PayloadError}, and for acknowledgements
 * {@link AckError} and {@link TimeoutError}.
 */
export class Socket<Listen extends EventsMap = DefaultEventsMap, Emit extends EventsMap = DefaultEventsMap> {
  private state: SocketState = "connecting";
  /** The current transport, open or in its handshake; `null` between connections. */
  private carrier: Carrier | null = null;
  private kind: TransportName = "websocket";
  private grantedChannels = 0;
  /** Whether the last handshake agreed the delivery classes (PROTOCOL.md 2.3). */
  private classes = false;
  /** Kept across connections: the server's clock numbers every connection's values alike. */
  private readonly freshness = new Freshness();
  private pendingHandshake: PendingHandshake | null = null;
  private watchdog: Watchdog | null = null;
  private readonly listeners = new Listeners();
  private readonly acks = new PendingAcks(MAX_PENDING_ACKS);
  private readonly outbound: Outbound;
  private readonly presences: Presences;
  private readonly reconnector: Reconnector;

  private constructor(
    private readonly url: string,
    private readonly options: ResolvedOptions,
    private readonly auth: Uint8Array,
    private readonly session: Session,
  ) {
    this.outbound = new Outbound(options, {
      carrier: () => this.carrier,
      state: () => this.state,
      classes: () => this.classes,
      overflowed: () => void this.close(DisconnectReason.SlowConsumer, "outbound queue full", true),
      report: (err) => this.listeners.report(err, false),
    });
    this.presences = new Presences(
      (frame) => this.outbound.control(frame),
      (err) => this.listeners.report(err, false),
    );
    this.reconnector = new Reconnector(options, {
      attempt: () => this.establish(),
      attempting: (n) => this.listeners.emit("reconnecting", n),
      failed: (err) => {
        this.listeners.emit("reconnect_error", toError(err));
        return isFinalRefusal(err);
      },
      gaveUp: () => {
        this.terminate();
        this.listeners.emit("reconnect_failed");
      },
    });
  }

  /** @internal Opens the first connection. Use {@link connect}. */
  static async open<Listen extends EventsMap, Emit extends EventsMap>(
    url: string,
    options: ResolvedOptions,
    auth: Uint8Array,
    session: Session,
  ): Promise<Socket<Listen, Emit>> {
    const socket = new Socket<Listen, Emit>(url, options, auth, session);
    try {
      await socket.establish();
    } catch (err) {
      socket.state = "closed";
      throw err;
    }
    return socket;
  }

  /** The socket id the server assigned: 32 lowercase hex digits. A new session brings a new one. */
  get id(): string {
    return this.session.id;
  }

  /** Whether the last `Welcome` resumed the previous session (false for the first connection). */
  get recovered(): boolean {
    return this.session.recovered;
  }

  /** The transport in use, or last used while reconnecting. */
  get transport(): TransportName {
    return this.kind;
  }

  /**
   * How many channels besides the connection's own the server granted (PROTOCOL.md 2.2): each
   * room's events come on one of them, in order within the room. 0 over WebSocket.
   */
  get channels(): number {
    return this.grantedChannels;
  }

  /** Whether a connection is open. */
  get connected(): boolean {
    return this.state === "open";
  }

  /**
   * Adds a listener: the names of {@link LifecycleEvents} are the socket's own events; any
   * other name handles the server's events of that name.
   */
  on<K extends keyof LifecycleEvents>(event: K, listener: LifecycleEvents[K]): this;
  on<E extends EventNames<Listen>>(event: E, listener: Listen[E]): this;
  on(event: string, listener: Listener): this {
    this.listeners.add(event, listener, false);
    return this;
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof LifecycleEvents>(event: K, listener: LifecycleEvents[K]): this;
  once<E extends EventNames<Listen>>(event: E, listener: Listen[E]): this;
  once(event: string, listener: Listener): this {
    this.listeners.add(event, listener, true);
    return this;
  }

  /** Removes a listener, or every listener of `event`. */
  off(event: string, listener?: Listener): this {
    this.listeners.remove(event, listener);
    return this;
  }

  /** Adds a listener for every incoming event. */
  onAny(listener: AnyListener): this {
    this.listeners.addAny(listener);
    return this;
  }

  /** Removes a catch-all listener, or all of them. */
  offAny(listener?: AnyListener): this {
    this.listeners.removeAny(listener);
    return this;
  }

  /**
   * Emits an event with no acknowledgement. While reconnecting it waits in the offline
   * buffer, and throws an {@link OfflineBufferFullError} when that is full. Throws
   * {@link EmitError} or {@link PayloadError} when it cannot be sent at all.
   */
  emit<E extends EventNames<Emit>>(event: E, data?: EventPayload<Emit[E]>): this {
    this.outbound.emit(event, data);
    return this;
  }

  /**
   * Emits an event and resolves with the server's reply (decoded JSON). Rejects with an
   * {@link AckError} when the server answers with an error, a {@link TimeoutError} after
   * `timeout` ms (the id is then forgotten), an {@link EmitError} when it cannot be sent or
   * the connection closes first (also while reconnecting: an event with an ack is sent at
   * most once, never replayed), and a {@link PayloadError} when the reply is not JSON.
   */
  emitWithAck<E extends EventNames<Emit>>(
    event: E,
    data?: EventPayload<Emit[E]>,
    options: { timeout?: number } = {},
  ): Promise<EventReply<Emit[E]>> {
    const timeout = options.timeout ?? this.options.ackTimeout;
    return this.acks.expect<EventReply<Emit[E]>>(timeout, (id) => this.outbound.emitAcked(event, id, data));
  }

  /**
   * Emits that may be dropped: on WebTransport as a datagram (throws a
   * {@link DatagramTooLargeError} when the frame does not fit one), on WebSocket as a frame
   * unless the send buffer is congested. Dropped silently while disconnected.
   */
  get volatile(): ClassEmitter<Emit> {
    return { emit: (event, data) => this.outbound.emitVolatile(event, data) };
  }

  /**
   * Reliable emits that need no order (PROTOCOL.md 2.3). A client never opens streams
   * (section 2.2), so from this side they travel as {@link Socket.emit}'s do: in order, and
   * sent again after a drop.
   */
  get unordered(): ClassEmitter<Emit> {
    return { emit: (event, data) => this.outbound.emit(event, data) };
  }

  /**
   * Emits that may be dropped and are never handled after a newer one of the same name
   * (PROTOCOL.md 2.3): a `Sequenced` frame stamped from this client's clock, as a datagram,
   * or on the connection's stream when larger than a datagram or over WebSocket. Dropped
   * silently while disconnected. Where the server did not agree the delivery classes, a
   * {@link Socket.volatile} emit.
   */
  get sequenced(): ClassEmitter<Emit> {
    return { emit: (event, data) => this.outbound.emitSequenced(event, null, data) };
  }

  /**
   * Emits the newest value of `key` (an entity, a sensor) for an event name: the server never
   * handles a value older than one it handled for the same name and key (PROTOCOL.md 2.3).
   * Sent as {@link Socket.sequenced} is, with the key. Where the server did not agree the
   * delivery classes, an ordinary reliable {@link Socket.emit}.
   */
  latest(key: string): ClassEmitter<Emit> {
    return { emit: (event, data) => this.outbound.emitSequenced(event, key, data) };
  }

  /**
   * How many of the server's sequenced and latest values this socket dropped because a newer
   * one of the same name and key had already been handled: a count of values that came late.
   */
  get staleDropped(): number {
    return this.freshness.stale;
  }

  /**
   * Follows a room's presence (the socket must be in the room; the server ends the
   * subscription otherwise). Returns the running subscription for that room if there is one.
   * The subscription is renewed after every reconnection.
   */
  presence(room: string): Presence {
    const existing = this.presences.get(room);
    if (existing) return existing;
    if (this.state === "closed") throw new EmitError("Disconnected", "the connection is closed");
    if (this.state === "open") this.outbound.send(encodeFrame({ type: "PresenceSubscribe", room }));
    return this.presences.add(room);
  }

  /**
   * Disconnects for good: sends `Disconnect{ClientDisconnect}`, lets queued frames leave,
   * and closes the transport; while reconnecting, stops. Resolves once closed.
   */
  disconnect(): Promise<void> {
    if (this.state === "reconnecting") {
      this.pendingHandshake?.fail(new ConnectError("Transport", "the application disconnected"));
      this.terminate();
      return Promise.resolve();
    }
    return this.close(DisconnectReason.ClientDisconnect, "", true);
  }

  // ---- connecting ----

  /** Opens a connection: the first one, or a reconnection. */
  private establish(): Promise<void> {
    const abandoned = () => this.state === "closed";
    return establishConnection(this.url, this.options, (carrier) => this.handshake(carrier), abandoned);
  }

  /** Sends `Hello` on an open carrier and resolves on `Welcome`. */
  private handshake(carrier: Carrier): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.state === "closed") {
        // The application disconnected while this transport was opening.
        void carrier.close(DisconnectReason.ClientDisconnect, "", null);
        reject(new ConnectError("Transport", "the application disconnected"));
        return;
      }
      this.carrier = carrier;
      this.kind = carrier.kind;
      // Channels exist on WebTransport only (PROTOCOL.md 2.2); over WebSocket none is offered.
      const offer = Math.min(this.options.maxChannels, carrier.maxChannels);
      const handshake = new PendingHandshake(this.options.timeout, {
        welcome: (welcome) => {
          this.pendingHandshake = null;
          // A grant without an offer, or above it, is the server's mistake: take the offer.
          this.onWelcome(welcome, carrier, Math.min(offer, welcome.channels?.max_channels ?? 0));
          resolve();
        },
        failed: (err, reason) => {
          this.pendingHandshake = null;
          this.carrier = null;
          void carrier.close(reason, err.message, null);
          reject(err);
        },
      });
      this.pendingHandshake = handshake;
      carrier.start(this.sink(carrier));
      handshake.send(carrier, this.session.hello(this.auth, offer));
    });
  }

  /**
   * Opens the connection, with `granted` channels besides channel 0. All of it runs before
   * the frames behind `Welcome` are read, so that the replay goes out before any event a
   * handler emits, and no channel's frame is handled before `Welcome`.
   */
  private onWelcome(welcome: Welcome, carrier: Carrier, granted: number): void {
    const reconnection = this.state === "reconnecting";
    this.grantedChannels = granted;
    this.classes = welcome.channels?.classes === true;
    this.state = "open";
    this.session.welcomed(welcome);
    this.watchdog = Watchdog.forWelcome(welcome, (message) => {
      void this.close(DisconnectReason.PingTimeout, message, true);
    });
    const lost = this.outbound.opened(welcome);
    this.presences.resubscribe();
    if (reconnection) {
      this.reconnector.stop();
      this.listeners.emit("reconnected", { recovered: welcome.recovered });
      if (lost > 0) this.listeners.emit("events_lost", lost);
      this.listeners.emit("connect");
    } else {
      // After the caller's `await connect()` continuation has had a chance to add handlers.
      setTimeout(() => this.listeners.release(), 0);
    }
    carrier.openChannels(granted, this.classes);
  }

  // ---- inbound ----

  /** Where `carrier` delivers; silent once it is no longer the current one. */
  private sink(carrier: Carrier): CarrierSink {
    const current = () => this.carrier === carrier;
    return {
      frame: (bytes, channel) => current() && this.inbound(carrier, bytes, channel),
      single: (bytes) => current() && this.inbound(carrier, bytes, "single"),
      datagram: (bytes) => current() && this.inbound(carrier, bytes, "datagram"),
      malformed: (err) => {
        if (!current()) return;
        if (this.pendingHandshake) {
          this.pendingHandshake.malformed(err);
        } else {
          this.listeners.deliver(this.bound(carrier, () => this.fail(err, "the server's frame was refused")));
        }
      },
      closed: (reason, message) => {
        if (!current()) return;
        if (this.pendingHandshake) this.pendingHandshake.closed(reason, message);
        else this.listeners.deliver(this.bound(carrier, () => void this.close(reason, message, false)));
      },
    };
  }

  /** `task`, run only while `carrier` is still the connection: held work can outlive it. */
  private bound(carrier: Carrier, task: () => void): () => void {
    return () => {
      if (this.carrier === carrier) task();
    };
  }

  private inbound(carrier: Carrier, bytes: Uint8Array, route: Route): void {
    if (this.pendingHandshake) {
      // Datagrams cannot come before Welcome; ignore any, as the Rust client does. Channel
      // streams are read only once Welcome is handled.
      if (route === 0) this.pendingHandshake.reply(bytes);
      return;
    }
    if (this.state !== "open") return;
    this.watchdog?.touch();
    this.listeners.deliver(this.bound(carrier, () => this.onFrame(carrier, bytes, route)));
  }

  private onFrame(carrier: Carrier, bytes: Uint8Array, route: Route): void {
    if (this.state !== "open") return;
    dispatchFrame(bytes, route, {
      audience: this.listeners,
      answer: (reply) => {
        if (this.carrier === carrier && this.state === "open") this.outbound.send(reply);
      },
      peerMaxFrameSize: this.outbound.peerMaxFrameSize,
      acks: this.acks,
      presences: this.presences,
      freshness: this.classes ? this.freshness : null,
      counted: (channel) => this.session.count(channel),
      control: (frame) => this.outbound.control(frame),
      close: (reason, message) => void this.close(reason, message, false),
      fail: (err, context) => this.fail(err, context),
    });
  }

  /** Reports a protocol violation and closes: `FrameTooLarge` or `ProtocolError`. */
  private fail(err: Error, context: string): void {
    if (this.state !== "open") return;
    this.listeners.report(err, false);
    const tooLarge = err instanceof DecodeError && err.kind === "FrameTooLarge";
    const reason = tooLarge ? DisconnectReason.FrameTooLarge : DisconnectReason.ProtocolError;
    void this.close(reason, context ? `${context}: ${err.message}` : err.message, true);
  }

  // ---- lifecycle ----

  /**
   * Closes the open connection: `Disconnect` to the server when `notifyPeer`, pending acks
   * fail, `disconnect` fires with the reason, and then the socket reconnects, unless either
   * application ended the session.
   */
  private close(reason: number, message: string, notifyPeer: boolean): Promise<void> {
    if (this.state !== "open") return Promise.resolve();
    const carrier = this.carrier!;
    this.carrier = null;
    this.watchdog?.stop();
    this.outbound.pause();
    const closed = carrier.close(reason, message, notifyPeer ? goodbyeFrame(reason, message) : null);
    this.acks.rejectAll(() => new EmitError("Disconnected", "the connection closed before the reply came"));
    const details: DisconnectDetails = { code: reason, message };
    if (reconnectsAfter(reason, this.options)) {
      this.state = "reconnecting";
      this.presences.resync();
    } else {
      this.terminate();
    }
    this.listeners.deliver(() => {
      this.listeners.emit("disconnect", disconnectReasonName(reason), details);
      // Unless a `disconnect` listener called disconnect(). The server being replaced, the
      // first attempt need not wait.
      if (this.state === "reconnecting") {
        this.reconnector.start(reason === DisconnectReason.ServerShutdown);
      }
    });
    return closed;
  }

  /** Closed for good: nothing waits to be sent, and every presence subscription ends. */
  private terminate(): void {
    this.state = "closed";
    this.session.ended();
    this.reconnector.stop();
    this.outbound.discard();
    const presences = this.presences.takeAll();
    this.listeners.deliver(() => {
      for (const presence of presences) this.listeners.run(() => presence.end("the connection closed"));
    });
  }
}

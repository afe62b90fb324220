/**
 * The browser client: `connect()` and the {@link Socket} it resolves to, modelled on
 * socket.io-client and on the Rust client (`core/src/client`, `core/src/peer/driver.rs`).
 *
 * A `Socket` outlives its connections: after a drop it reconnects on its own
 * (reconnect.ts), resumes its session when the server still holds it, and sends again what
 * the server never handled (replay.ts, PROTOCOL.md section 10.6).
 *
 * @module
 */

import { PendingAcks } from "./acks.js";
import {
  DisconnectReason,
  type Frame,
  MAX_FRAME_SIZE,
  type Welcome,
  decodeFrame,
  disconnectReasonName,
  encodeFrame,
  DecodeError,
} from "./codec.js";
import { type AnyListener, type EventHandler, MAX_EVENT_NAME_BYTES, dispatchEvent } from "./dispatch.js";
import { Emitter } from "./emitter.js";
import { AckError, ConnectError, DatagramTooLargeError, EmitError } from "./errors.js";
import { type DisconnectDetails, type LifecycleEvents, isReserved } from "./events.js";
import { handshakeFailure, helloFrame, isFinalRefusal } from "./handshake.js";
import { Watchdog } from "./heartbeat.js";
import { decodeJson, encodeJson, errorMessage } from "./json.js";
import { type ConnectOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { Presence } from "./presence.js";
import { Reconnector } from "./reconnect.js";
import { ReplayBuffer } from "./replay.js";
import { later } from "./timers.js";
import {
  CLIENT_MAX_FRAME_SIZE,
  type Carrier,
  type CarrierSink,
  type TransportName,
  openCarrier,
} from "./transport.js";

export type { AckCallback, AnyListener, EventHandler } from "./dispatch.js";
export type { DisconnectDetails, LifecycleEvents } from "./events.js";
export { VERSION } from "./handshake.js";
export type { ConnectOptions } from "./options.js";

/** The most acknowledgements this side awaits at once. */
const MAX_PENDING_ACKS = 1024;
/** How soon a replay that filled the transport's queue tries again. */
const FLUSH_RETRY_MS = 10;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => unknown;

interface Handshake {
  resolve: () => void;
  reject: (err: ConnectError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const utf8 = new TextEncoder();
const toHex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

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
export async function connect(url: string, options: ConnectOptions = {}): Promise<Socket> {
  const resolved = resolveOptions(options);
  let auth: Uint8Array = new Uint8Array(0);
  if (options.auth !== undefined) {
    try {
      auth = encodeJson(options.auth);
    } catch (err) {
      throw new ConnectError("Payload", errorMessage(err), undefined, { cause: err });
    }
  }
  return disconnectOnPageHide(await Socket.open(url, resolved, auth));
}

/**
 * A closing tab says goodbye (as socket.io's `closeOnBeforeunload` does) instead of leaving
 * the server to notice its silence a heartbeat later.
 */
function disconnectOnPageHide(socket: Socket): Socket {
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
export class Socket {
  /**
   * `reconnecting` runs from a drop until the next `Welcome`; `closed` is final (the
   * application disconnected, the server ended the session, or reconnecting gave up).
   */
  private state: "connecting" | "open" | "reconnecting" | "closed" = "connecting";
  /** The current connection's transport; `null` between connections. */
  private carrier: Carrier | null = null;
  private kind: TransportName = "websocket";
  private sid = "";
  /** The last `Welcome.session`: what `Hello.resume` presents. */
  private session: Uint8Array = new Uint8Array(0);
  private wasRecovered = false;
  /** The server's reliable events handled in this session: `Hello.resume.offset`. */
  private received = 0n;
  private readonly replay: ReplayBuffer;
  private readonly reconnector: Reconnector;
  private readonly lifecycle = new Emitter<LifecycleEvents>();
  private readonly handlers = new Emitter<Record<string, EventHandler>>();
  private anyListeners: AnyListener[] = [];
  private readonly acks = new PendingAcks(MAX_PENDING_ACKS);
  private readonly presences = new Map<string, Presence>();
  private peerMaxFrameSize = CLIENT_MAX_FRAME_SIZE;
  private pendingHandshake: Handshake | null = null;
  /** Inbound work held until `connect` has fired, so handlers set after `await` see it all. */
  private held: (() => void)[] | null = [];
  private watchdog: Watchdog | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly url: string,
    private readonly options: ResolvedOptions,
    private readonly auth: Uint8Array,
  ) {
    this.replay = new ReplayBuffer({
      maxEvents: options.replayBufferEvents,
      maxBytes: options.replayBufferBytes,
    });
    this.reconnector = new Reconnector(options, {
      attempt: () => this.establish(),
      attempting: (n) => this.lifecycle.emit("reconnecting", n),
      failed: (err) => {
        const error = err instanceof Error ? err : new Error(String(err));
        this.lifecycle.emit("reconnect_error", error);
        return isFinalRefusal(err);
      },
      gaveUp: () => {
        this.terminate();
        this.lifecycle.emit("reconnect_failed");
      },
    });
  }

  /** @internal Opens the first connection. Use {@link connect}. */
  static async open(url: string, options: ResolvedOptions, auth: Uint8Array): Promise<Socket> {
    const socket = new Socket(url, options, auth);
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
    return this.sid;
  }

  /** Whether the last `Welcome` resumed the previous session (false for the first connection). */
  get recovered(): boolean {
    return this.wasRecovered;
  }

  /** The transport in use, or last used while reconnecting. */
  get transport(): TransportName {
    return this.kind;
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
  on(event: string, listener: EventHandler): this;
  on(event: string, listener: Listener): this {
    if (isReserved(event)) this.lifecycle.on(event, listener as LifecycleEvents[typeof event]);
    else this.handlers.on(event, listener);
    return this;
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof LifecycleEvents>(event: K, listener: LifecycleEvents[K]): this;
  once(event: string, listener: EventHandler): this;
  once(event: string, listener: Listener): this {
    if (isReserved(event)) this.lifecycle.once(event, listener as LifecycleEvents[typeof event]);
    else this.handlers.once(event, listener);
    return this;
  }

  /** Removes a listener, or every listener of `event`. */
  off(event: string, listener?: Listener): this {
    if (isReserved(event)) this.lifecycle.off(event, listener as LifecycleEvents[typeof event]);
    else this.handlers.off(event, listener);
    return this;
  }

  /** Adds a listener for every incoming event. */
  onAny(listener: AnyListener): this {
    this.anyListeners.push(listener);
    return this;
  }

  /** Removes a catch-all listener, or all of them. */
  offAny(listener?: AnyListener): this {
    this.anyListeners = listener ? this.anyListeners.filter((l) => l !== listener) : [];
    return this;
  }

  /**
   * Emits an event with no acknowledgement. While reconnecting it waits in the offline
   * buffer, and throws an {@link OfflineBufferFullError} when that is full. Throws
   * {@link EmitError} or {@link PayloadError} when it cannot be sent at all.
   */
  emit(event: string, data?: unknown): this {
    const frame = this.eventFrame(event, null, data);
    this.checkSize(frame);
    if (this.state === "open" && this.replay.waiting === 0) {
      if (this.transmit(this.carrier!, frame)) {
        this.replay.record(frame);
        return this;
      }
      // The transport closed under us: the drop is on its way, and so is a reconnection.
    }
    if (this.state === "closed" || !this.options.reconnection) {
      throw new EmitError("Disconnected", "the connection is closed");
    }
    // Behind a replay still in progress, or offline: in order, after what waits already.
    this.replay.hold(frame);
    if (this.state === "open") this.flush();
    return this;
  }

  /**
   * Emits an event and resolves with the server's reply (decoded JSON). Rejects with an
   * {@link AckError} when the server answers with an error, a {@link TimeoutError} after
   * `timeout` ms (the id is then forgotten), an {@link EmitError} when it cannot be sent or
   * the connection closes first (also while reconnecting: an event with an ack is sent at
   * most once, never replayed), and a {@link PayloadError} when the reply is not JSON.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  emitWithAck<T = any>(event: string, data?: unknown, options: { timeout?: number } = {}): Promise<T> {
    const timeout = options.timeout ?? this.options.ackTimeout;
    return this.acks.expect<T>(timeout, (id) => this.sendReliable(this.eventFrame(event, id, data)));
  }

  /**
   * Emits that may be dropped: on WebTransport as a datagram (throws a
   * {@link DatagramTooLargeError} when the frame does not fit one), on WebSocket as a frame
   * unless the send buffer is congested. Dropped silently while disconnected.
   */
  get volatile(): { emit(event: string, data?: unknown): void } {
    return { emit: (event, data) => this.emitVolatile(event, data) };
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
    const presence = new Presence(
      room,
      (bytes) => this.decodeMeta(bytes),
      (p) => this.unsubscribe(p),
    );
    if (this.state === "open") this.sendReliable(encodeFrame({ type: "PresenceSubscribe", room }));
    this.presences.set(room, presence);
    return presence;
  }

  /**
   * Disconnects for good: sends `Disconnect{ClientDisconnect}`, lets queued frames leave,
   * and closes the transport; while reconnecting, stops. Resolves once closed.
   */
  disconnect(): Promise<void> {
    if (this.state === "reconnecting") {
      this.failHandshake(new ConnectError("Transport", "the application disconnected"));
      this.terminate();
      return Promise.resolve();
    }
    return this.close(DisconnectReason.ClientDisconnect, "", true);
  }

  // ---- connecting ----

  /**
   * Opens a transport and runs the handshake, for the first connection and every
   * reconnection alike. A WebTransport session can open and still never carry a handshake
   * (a middlebox that lets the QUIC handshake through and little else): WebSocket is tried
   * then, unless the server refused.
   */
  private async establish(): Promise<void> {
    const carrier = await openCarrier(this.url, this.options);
    try {
      await this.handshake(carrier);
    } catch (err) {
      const refused = err instanceof ConnectError && err.kind === "Rejected";
      const wsAllowed = this.options.transports.includes("websocket");
      if (refused || this.state === "closed" || carrier.kind !== "webtransport" || !wsAllowed) {
        throw err;
      }
      await this.handshake(await openCarrier(this.url, { ...this.options, transports: ["websocket"] }));
    }
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
      const timer = later(() => {
        const err = new ConnectError("Timeout", `no handshake reply within ${this.options.timeout} ms`);
        this.failHandshake(err, DisconnectReason.HandshakeTimeout);
      }, this.options.timeout);
      this.pendingHandshake = { resolve, reject, timer };
      carrier.start(this.sink(carrier));
      const hello = helloFrame(this.auth, this.session, this.received);
      if (hello.length > CLIENT_MAX_FRAME_SIZE) {
        this.failHandshake(new ConnectError("Payload", "auth makes Hello larger than 1 MiB"));
      } else if (carrier.sendReliable(hello) !== "sent") {
        this.failHandshake(new ConnectError("Transport", "the transport closed before Hello"));
      }
    });
  }

  private onHandshakeReply(bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      const message = `undecodable handshake reply: ${errorMessage(err)}`;
      this.failHandshake(new ConnectError("Protocol", message), DisconnectReason.ProtocolError);
      return;
    }
    if (frame.type === "Welcome") {
      this.onWelcome(frame);
    } else {
      const { error, reason } = handshakeFailure(frame);
      this.failHandshake(error, reason);
    }
  }

  /**
   * Opens the connection. All of it runs before the frames behind `Welcome` are read, so
   * that the replay goes out before any event a handler emits.
   */
  private onWelcome(welcome: Welcome): void {
    const handshake = this.pendingHandshake!;
    clearTimeout(handshake.timer);
    this.pendingHandshake = null;
    const reconnection = this.state === "reconnecting";
    this.state = "open";
    this.sid = toHex(welcome.sid);
    this.session = welcome.session;
    this.wasRecovered = welcome.recovered;
    if (!welcome.recovered) this.received = 0n;
    this.peerMaxFrameSize = Math.min(welcome.max_frame_size, MAX_FRAME_SIZE);
    const deadAfter = welcome.ping_interval_ms + welcome.ping_timeout_ms;
    this.watchdog = new Watchdog(deadAfter, () => {
      const message = `no frame from the server for ${deadAfter} ms`;
      void this.close(DisconnectReason.PingTimeout, message, true);
    });
    // A server that keeps no sessions never resumes one: keeping what was sent would be waste.
    this.replay.keepSent = this.options.reconnection && welcome.session.length > 0;
    const lost = this.replay.resume(welcome.recovered, welcome.offset);
    this.flush();
    // Subscriptions belong to a connection; the fresh PresenceState replaces each view.
    for (const room of this.presences.keys()) this.sendControl({ type: "PresenceSubscribe", room });
    if (reconnection) {
      this.reconnector.stop();
      this.lifecycle.emit("reconnected", { recovered: welcome.recovered });
      if (lost > 0) this.lifecycle.emit("events_lost", lost);
      this.lifecycle.emit("connect");
    } else {
      // After the caller's `await connect()` continuation has had a chance to add handlers.
      setTimeout(() => this.release(), 0);
    }
    handshake.resolve();
  }

  /** Ends a handshake that failed; the transport closes without a `Disconnect` frame. */
  private failHandshake(err: ConnectError, reason: number = DisconnectReason.ClientDisconnect): void {
    const handshake = this.pendingHandshake;
    if (!handshake) return;
    this.pendingHandshake = null;
    clearTimeout(handshake.timer);
    const carrier = this.carrier;
    this.carrier = null;
    void carrier?.close(reason, err.message, null);
    handshake.reject(err);
  }

  // ---- inbound ----

  /** Where `carrier` delivers; silent once it is no longer the current one. */
  private sink(carrier: Carrier): CarrierSink {
    const current = () => this.carrier === carrier;
    return {
      frame: (bytes) => current() && this.inbound(carrier, bytes, false),
      datagram: (bytes) => current() && this.inbound(carrier, bytes, true),
      malformed: (err) => {
        if (!current()) return;
        if (this.pendingHandshake) {
          this.failHandshake(new ConnectError("Protocol", err.message), DisconnectReason.ProtocolError);
        } else {
          this.deliver(this.bound(carrier, () => this.fail(err, "the server's frame was refused")));
        }
      },
      closed: (reason, message) => {
        if (!current()) return;
        if (this.pendingHandshake) {
          const why = `${disconnectReasonName(reason)} ${message}`.trim();
          this.failHandshake(new ConnectError("Transport", `closed during the handshake: ${why}`));
        } else {
          this.deliver(this.bound(carrier, () => void this.close(reason, message, false)));
        }
      },
    };
  }

  /** `task`, run only while `carrier` is still the connection: held work can outlive it. */
  private bound(carrier: Carrier, task: () => void): () => void {
    return () => {
      if (this.carrier === carrier) task();
    };
  }

  private inbound(carrier: Carrier, bytes: Uint8Array, datagram: boolean): void {
    if (this.pendingHandshake) {
      // Datagrams cannot come before Welcome; ignore any, as the Rust client does.
      if (!datagram) this.onHandshakeReply(bytes);
      return;
    }
    if (this.state !== "open") return;
    this.watchdog?.touch();
    this.deliver(this.bound(carrier, () => this.onFrame(carrier, bytes, datagram)));
  }

  /** Fires `connect`, then runs what arrived meanwhile. */
  private release(): void {
    const held = this.held ?? [];
    this.held = null;
    this.run(() => this.lifecycle.emit("connect"));
    for (const task of held) this.run(task);
  }

  private deliver(task: () => void): void {
    if (this.held) this.held.push(task);
    else this.run(task);
  }

  private run(task: () => void): void {
    try {
      task();
    } catch (err) {
      this.report(err, true);
    }
  }

  /**
   * Hands an error to the `error` listeners. Without any, errors thrown by the application's
   * own listeners are rethrown asynchronously (never swallowed); others are dropped.
   */
  private report(err: unknown, fromApplication: boolean): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.lifecycle.listenerCount("error") > 0) {
      this.lifecycle.emit("error", error); // isolates each listener: see Emitter.emit
    } else if (fromApplication) {
      setTimeout(() => {
        throw error;
      }, 0);
    }
  }

  private onFrame(carrier: Carrier, bytes: Uint8Array, datagram: boolean): void {
    if (this.state !== "open") return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.fail(err as DecodeError, datagram ? "undecodable datagram" : "undecodable frame");
      return;
    }
    if (datagram && !(frame.type === "Event" && frame.ack === null)) {
      this.fail(new Error("only events without an ack id may travel as datagrams"), "bad datagram");
      return;
    }
    switch (frame.type) {
      case "Event":
        // Counted whatever becomes of it (handled, no handler, bad payload): the server
        // counts what it sent, and resumes after what the client says it has seen.
        if (frame.ack === null && !datagram) this.received += 1n;
        return dispatchEvent(frame, {
          handlers: (name) => (isReserved(name) ? [] : this.handlers.listenersOf(name)),
          anyListeners: () => this.anyListeners,
          run: (task) => this.run(task),
          report: (err, fromApplication) => this.report(err, fromApplication),
          answer: (reply) => {
            if (this.carrier === carrier && this.state === "open") this.sendReliable(reply);
          },
          peerMaxFrameSize: this.peerMaxFrameSize,
        });
      case "Ack":
        return this.acks.resolve(frame.id, frame.data);
      case "AckError":
        return this.acks.reject(frame.id, new AckError(frame.message));
      case "Ping":
        return this.sendControl({ type: "Pong", id: frame.id });
      case "Pong":
        return; // This client sends no pings; unmatched pongs are ignored.
      case "Disconnect":
        void this.close(frame.reason, frame.message, false);
        return;
      case "PresenceState":
        return this.presences.get(frame.room)?.applyState(frame.entries);
      case "PresenceDiff":
        return this.presences.get(frame.room)?.applyDiff(frame.joins, frame.leaves);
      case "PresenceEnd": {
        const presence = this.presences.get(frame.room);
        this.presences.delete(frame.room);
        return presence?.end(frame.message);
      }
      default:
        this.fail(new Error(`a server may not send ${frame.type} frames after the handshake`), "");
    }
  }

  /** Reports a protocol violation and closes: `FrameTooLarge` or `ProtocolError`. */
  private fail(err: Error, context: string): void {
    if (this.state !== "open") return;
    this.report(err, false);
    const tooLarge = err instanceof DecodeError && err.kind === "FrameTooLarge";
    const reason = tooLarge ? DisconnectReason.FrameTooLarge : DisconnectReason.ProtocolError;
    void this.close(reason, context ? `${context}: ${err.message}` : err.message, true);
  }

  // ---- outbound ----

  private eventFrame(event: string, ack: bigint | null, data: unknown): Uint8Array {
    const nameBytes = utf8.encode(event).length;
    if (nameBytes > MAX_EVENT_NAME_BYTES) {
      throw new EmitError(
        "EventNameTooLong",
        `event name of ${nameBytes} bytes exceeds the maximum of ${MAX_EVENT_NAME_BYTES}`,
      );
    }
    return encodeFrame({ type: "Event", name: event, ack, data: encodeJson(data) });
  }

  private checkSize(frame: Uint8Array): void {
    if (frame.length > this.peerMaxFrameSize) {
      throw new EmitError(
        "FrameTooLarge",
        `frame of ${frame.length} bytes exceeds the server's maximum of ${this.peerMaxFrameSize}`,
      );
    }
  }

  /**
   * Queues a frame on `carrier`: `false` when it is already closed; a full queue closes the
   * connection as a slow consumer.
   */
  private transmit(carrier: Carrier, frame: Uint8Array): boolean {
    const result = carrier.sendReliable(frame);
    if (result === "overflow") {
      // Closing rejects every pending ack as disconnected; let the caller first see why.
      queueMicrotask(() => void this.close(DisconnectReason.SlowConsumer, "outbound queue full", true));
      throw new EmitError("SlowConsumer", "the server reads too slowly; the connection is closing");
    }
    return result === "sent";
  }

  /** Sends a frame that is never replayed (acks, presence, control) on the open connection. */
  private sendReliable(frame: Uint8Array): void {
    if (this.state !== "open") throw new EmitError("Disconnected", "the connection is closed");
    this.checkSize(frame);
    if (!this.transmit(this.carrier!, frame)) throw new EmitError("Disconnected", "the connection is closed");
  }

  /** Sends a frame of the protocol's own; failures (closing, too large) have nobody to tell. */
  private sendControl(frame: Frame): void {
    try {
      this.sendReliable(encodeFrame(frame));
    } catch {
      // The connection is closing, or the server's limit is absurdly small.
    }
  }

  /**
   * Sends the events waiting in the replay buffer, in order. A replay can be longer than the
   * transport's queue: what does not fit waits for the queue to drain, not for a drop.
   */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (let frame = this.replay.peek(); frame && this.state === "open"; frame = this.replay.peek()) {
      if (frame.length > this.peerMaxFrameSize) {
        // Emitted under an earlier server's limit: sending it would only close this connection.
        this.replay.shift();
        const message = `a held event of ${frame.length} bytes exceeds the server's maximum of ${this.peerMaxFrameSize}`;
        this.report(new EmitError("FrameTooLarge", message), false);
        continue;
      }
      const result = this.carrier!.sendReliable(frame);
      if (result === "overflow") {
        this.flushTimer = later(() => this.flush(), FLUSH_RETRY_MS);
        return;
      }
      if (result === "closed") return; // still held: the drop is on its way
      this.replay.record(this.replay.shift()!);
    }
  }

  private emitVolatile(event: string, data: unknown): void {
    const frame = this.eventFrame(event, null, data);
    this.checkSize(frame);
    const carrier = this.carrier;
    const limit = carrier?.datagramLimit ?? null;
    if (limit !== null && frame.length > limit) throw new DatagramTooLargeError(frame.length, limit);
    if (this.state !== "open" || !carrier) return;
    // On the ordered channel it would overtake the replay, and be numbered before it.
    if (limit === null && this.replay.waiting > 0) return;
    // The server counts a volatile event that came on the ordered channel; so must we.
    if (carrier.sendVolatile(frame) === "reliable") this.replay.record(frame);
  }

  private unsubscribe(presence: Presence): void {
    if (this.presences.get(presence.room) !== presence) return;
    this.presences.delete(presence.room);
    this.sendControl({ type: "PresenceUnsubscribe", room: presence.room });
  }

  private decodeMeta(bytes: Uint8Array): unknown {
    try {
      return decodeJson(bytes);
    } catch (err) {
      this.report(err, false);
      return undefined;
    }
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
    clearTimeout(this.flushTimer);
    let goodbye: Uint8Array | null = null;
    if (notifyPeer) {
      try {
        goodbye = encodeFrame({ type: "Disconnect", reason, message });
      } catch {
        goodbye = encodeFrame({ type: "Disconnect", reason, message: "" });
      }
    }
    const closed = carrier.close(reason, message, goodbye);
    this.acks.rejectAll(() => new EmitError("Disconnected", "the connection closed before the reply came"));
    const details: DisconnectDetails = { code: reason, message };
    const again =
      this.options.reconnection &&
      reason !== DisconnectReason.ClientDisconnect &&
      reason !== DisconnectReason.ServerDisconnect;
    if (again) {
      this.state = "reconnecting";
      for (const presence of this.presences.values()) presence.resync();
    } else {
      this.terminate();
    }
    this.deliver(() => {
      this.lifecycle.emit("disconnect", disconnectReasonName(reason), details);
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
    this.reconnector.stop();
    clearTimeout(this.flushTimer);
    this.replay.clear();
    const presences = [...this.presences.values()];
    this.presences.clear();
    this.deliver(() => {
      for (const presence of presences) this.run(() => presence.end("the connection closed"));
    });
  }
}

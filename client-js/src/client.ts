/**
 * The browser client: `connect()` and the {@link Socket} it resolves to, modelled on
 * socket.io-client and on the Rust client (`core/src/client`, `core/src/peer/driver.rs`).
 *
 * @module
 */

import { PendingAcks } from "./acks.js";
import {
  DisconnectReason,
  type DisconnectReasonName,
  type Event,
  type Frame,
  MAX_FRAME_SIZE,
  PROTOCOL_VERSION,
  decodeFrame,
  disconnectReasonName,
  encodeFrame,
  rejectReasonName,
  DecodeError,
} from "./codec.js";
import { Emitter } from "./emitter.js";
import {
  AckError,
  ConnectError,
  DatagramTooLargeError,
  EmitError,
  PayloadError,
  TimeoutError,
} from "./errors.js";
import { decodeJson, encodeJson, errorMessage, sendableMessage } from "./json.js";
import { Presence } from "./presence.js";
import { later } from "./timers.js";
import {
  CLIENT_MAX_FRAME_SIZE,
  type Carrier,
  type CarrierSink,
  type TransportName,
  openCarrier,
} from "./transport.js";

/** This library's version, sent in `Hello.client_version`. */
export const VERSION = "0.1.0";

/** The longest event name, in UTF-8 bytes (PROTOCOL.md section 8). */
const MAX_EVENT_NAME_BYTES = 256;
/** The most acknowledgements this side awaits at once. */
const MAX_PENDING_ACKS = 1024;

/** How {@link connect} connects. */
export interface ConnectOptions {
  /** Credentials for the server's auth check, sent as JSON in `Hello.auth`; none if omitted. */
  auth?: unknown;
  /** Transports to try, in order of preference. Default `["webtransport", "websocket"]`. */
  transports?: TransportName[];
  /** Bounds each connection step (discovery, WebSocket opening, `Welcome`), in ms. Default 10 000. */
  timeout?: number;
  /** How long WebTransport may take before WebSocket is tried, in ms. Default 3 000. */
  webtransportDeadline?: number;
  /** Default timeout of {@link Socket.emitWithAck}, in ms. Default 30 000. */
  ackTimeout?: number;
}

/** Answers an event that asked for an acknowledgement; only the first call counts. */
export type AckCallback = (reply?: unknown) => void;

/**
 * Handles an incoming event. `ack` is present when the server asked for an
 * acknowledgement: call it once with the reply. If the handler throws (or its promise
 * rejects) before acknowledging, the server gets an `AckError` with the error's message.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventHandler = (data: any, ack?: AckCallback) => unknown;

/** Sees every incoming event before its handlers (without the ack). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyListener = (event: string, data: any) => void;

/** What ended a connection. */
export interface DisconnectDetails {
  /** The `DisconnectReason` code, kept as sent even when unknown. */
  code: number;
  /** The human-readable explanation, for logs. */
  message: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => unknown;

/** The socket's own (reserved) events; incoming events with these names are not delivered. */
type LifecycleEvents = {
  /** The connection is open; fired once, just after `connect()` resolved. */
  connect: () => void;
  /** The connection closed; `reason` is the `DisconnectReason` name. */
  disconnect: (reason: DisconnectReasonName, details: DisconnectDetails) => void;
  /** A protocol, payload or handler error. */
  error: (err: Error) => void;
};

const RESERVED = new Set(["connect", "disconnect", "error"]);

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function isReserved(event: string): event is keyof LifecycleEvents {
  return RESERVED.has(event);
}

interface Handshake {
  resolve: (socket: Socket) => void;
  reject: (err: ConnectError) => void;
  timer: ReturnType<typeof setTimeout>;
}

type Resolved = Required<Omit<ConnectOptions, "auth">>;

const utf8 = new TextEncoder();
const now = (): number => performance.now();

/**
 * Connects to a quicket server: reads `GET {url}/quicket/info`, tries WebTransport (within
 * `webtransportDeadline`), falls back to WebSocket, and runs the handshake. A `ws(s)://` URL
 * skips discovery and connects to that WebSocket endpoint.
 *
 * Rejects with a {@link ConnectError}; `kind` is `"Rejected"` when the server refused the
 * handshake (its `reason`, `message` and JSON `data` are on the error).
 *
 * ```ts
 * const socket = await connect("http://localhost:8080", { auth: { token } });
 * socket.on("chat", (msg) => console.log(msg));
 * const reply = await socket.emitWithAck("echo", "hi", { timeout: 5000 });
 * ```
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Socket> {
  const resolved: Resolved = {
    transports: options.transports ?? ["webtransport", "websocket"],
    timeout: options.timeout ?? 10_000,
    webtransportDeadline: options.webtransportDeadline ?? 3_000,
    ackTimeout: options.ackTimeout ?? 30_000,
  };
  let auth: Uint8Array = new Uint8Array(0);
  if (options.auth !== undefined) {
    try {
      auth = encodeJson(options.auth);
    } catch (err) {
      throw new ConnectError("Payload", errorMessage(err), undefined, { cause: err });
    }
  }
  const carrier = await openCarrier(url, resolved);
  try {
    return disconnectOnPageHide(await Socket.handshake(carrier, resolved, auth));
  } catch (err) {
    // A WebTransport session can open and still never carry a handshake (a middlebox that
    // lets the QUIC handshake through and little else): try WebSocket, unless refused.
    const refused = err instanceof ConnectError && err.kind === "Rejected";
    if (refused || carrier.kind !== "webtransport" || !resolved.transports.includes("websocket")) throw err;
    const fallback = await openCarrier(url, { ...resolved, transports: ["websocket"] });
    return disconnectOnPageHide(await Socket.handshake(fallback, resolved, auth));
  }
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
 * One connection to a quicket server, from {@link connect}.
 *
 * Local errors are thrown (or rejected) as typed errors: {@link EmitError} (name too long,
 * frame larger than the server accepts, disconnected, …), {@link DatagramTooLargeError},
 * {@link PayloadError}, and for acknowledgements {@link AckError} and {@link TimeoutError}.
 */
export class Socket {
  private state: "handshake" | "open" | "closed" = "handshake";
  private sid = "";
  private readonly lifecycle = new Emitter<LifecycleEvents>();
  private readonly handlers = new Emitter<Record<string, EventHandler>>();
  private anyListeners: AnyListener[] = [];
  private readonly acks = new PendingAcks(MAX_PENDING_ACKS);
  private readonly presences = new Map<string, Presence>();
  private peerMaxFrameSize = CLIENT_MAX_FRAME_SIZE;
  private pendingHandshake: Handshake | null = null;
  /** Inbound work held until `connect` has fired, so handlers set after `await` see it all. */
  private held: (() => void)[] | null = [];
  private deadAfter = 0;
  private lastInbound = 0;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly carrier: Carrier,
    private readonly options: Resolved,
  ) {}

  /** @internal Sends `Hello` on an open carrier and resolves on `Welcome`. Use {@link connect}. */
  static handshake(carrier: Carrier, options: Resolved, auth: Uint8Array): Promise<Socket> {
    const socket = new Socket(carrier, options);
    return new Promise<Socket>((resolve, reject) => {
      const timer = later(() => {
        const err = new ConnectError("Timeout", `no handshake reply within ${options.timeout} ms`);
        socket.failHandshake(err, DisconnectReason.HandshakeTimeout);
      }, options.timeout);
      socket.pendingHandshake = { resolve, reject, timer };
      carrier.start(socket.sink());
      const hello = encodeFrame({
        type: "Hello",
        version: PROTOCOL_VERSION,
        codec: "json",
        client_name: "quicket-js",
        client_version: VERSION,
        max_frame_size: CLIENT_MAX_FRAME_SIZE,
        auth,
        resume: null,
      });
      if (hello.length > CLIENT_MAX_FRAME_SIZE) {
        socket.failHandshake(new ConnectError("Payload", "auth makes Hello larger than 1 MiB"));
      } else if (carrier.sendReliable(hello) !== "sent") {
        socket.failHandshake(new ConnectError("Transport", "the transport closed before Hello"));
      }
    });
  }

  /** The socket id the server assigned: 32 lowercase hex digits. */
  get id(): string {
    return this.sid;
  }

  /** The transport in use. */
  get transport(): TransportName {
    return this.carrier.kind;
  }

  /** Whether the connection is open. */
  get connected(): boolean {
    return this.state === "open";
  }

  /**
   * Adds a listener: `connect`, `disconnect` and `error` are the socket's own events; any
   * other name handles the server's events of that name.
   */
  on(event: "connect", listener: LifecycleEvents["connect"]): this;
  on(event: "disconnect", listener: LifecycleEvents["disconnect"]): this;
  on(event: "error", listener: LifecycleEvents["error"]): this;
  on(event: string, listener: EventHandler): this;
  on(event: string, listener: Listener): this {
    if (isReserved(event)) this.lifecycle.on(event, listener as LifecycleEvents[typeof event]);
    else this.handlers.on(event, listener);
    return this;
  }

  /** Adds a listener that runs at most once. */
  once(event: "connect", listener: LifecycleEvents["connect"]): this;
  once(event: "disconnect", listener: LifecycleEvents["disconnect"]): this;
  once(event: "error", listener: LifecycleEvents["error"]): this;
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

  /** Emits an event with no acknowledgement. Throws {@link EmitError} or {@link PayloadError}. */
  emit(event: string, data?: unknown): this {
    this.sendReliable(this.eventFrame(event, null, data));
    return this;
  }

  /**
   * Emits an event and resolves with the server's reply (decoded JSON). Rejects with an
   * {@link AckError} when the server answers with an error, a {@link TimeoutError} after
   * `timeout` ms (the id is then forgotten), an {@link EmitError} when it cannot be sent or
   * the connection closes first, and a {@link PayloadError} when the reply is not JSON.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  emitWithAck<T = any>(event: string, data?: unknown, options: { timeout?: number } = {}): Promise<T> {
    const timeout = options.timeout ?? this.options.ackTimeout;
    return this.acks.expect<T>(timeout, (id) => this.sendReliable(this.eventFrame(event, id, data)));
  }

  /**
   * Emits that may be dropped: on WebTransport as a datagram (throws a
   * {@link DatagramTooLargeError} when the frame does not fit one), on WebSocket as a frame
   * unless the send buffer is congested. Dropped silently once disconnected.
   */
  get volatile(): { emit(event: string, data?: unknown): void } {
    return { emit: (event, data) => this.emitVolatile(event, data) };
  }

  /**
   * Follows a room's presence (the socket must be in the room; the server ends the
   * subscription otherwise). Returns the running subscription for that room if there is one.
   */
  presence(room: string): Presence {
    const existing = this.presences.get(room);
    if (existing) return existing;
    const presence = new Presence(
      room,
      (bytes) => this.decodeMeta(bytes),
      (p) => this.unsubscribe(p),
    );
    this.sendReliable(encodeFrame({ type: "PresenceSubscribe", room }));
    this.presences.set(room, presence);
    return presence;
  }

  /**
   * Disconnects: sends `Disconnect{ClientDisconnect}`, lets queued frames leave, and closes
   * the transport. Resolves once closed.
   */
  disconnect(): Promise<void> {
    return this.close(DisconnectReason.ClientDisconnect, "", true);
  }

  // ---- inbound ----

  private sink(): CarrierSink {
    return {
      frame: (bytes) => this.inbound(bytes, false),
      datagram: (bytes) => this.inbound(bytes, true),
      malformed: (err) => {
        if (this.state === "handshake") {
          this.failHandshake(new ConnectError("Protocol", err.message), DisconnectReason.ProtocolError);
        } else {
          this.deliver(() => this.fail(err, "the server's frame was refused"));
        }
      },
      closed: (reason, message) => {
        if (this.state === "handshake") {
          const why = `${disconnectReasonName(reason)} ${message}`.trim();
          this.failHandshake(new ConnectError("Transport", `closed during the handshake: ${why}`));
        } else {
          this.deliver(() => void this.close(reason, message, false));
        }
      },
    };
  }

  private inbound(bytes: Uint8Array, datagram: boolean): void {
    if (this.state === "handshake") {
      // Datagrams cannot come before Welcome; ignore any, as the Rust client does.
      if (!datagram) this.onHandshakeReply(bytes);
      return;
    }
    if (this.state !== "open") return;
    this.lastInbound = now();
    this.deliver(() => this.onFrame(bytes, datagram));
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
      const handshake = this.pendingHandshake!;
      clearTimeout(handshake.timer);
      this.pendingHandshake = null;
      this.state = "open";
      this.sid = Array.from(frame.sid, (b) => b.toString(16).padStart(2, "0")).join("");
      this.peerMaxFrameSize = Math.min(frame.max_frame_size, MAX_FRAME_SIZE);
      this.deadAfter = frame.ping_interval_ms + frame.ping_timeout_ms;
      this.lastInbound = now();
      this.deadTimer = later(() => this.checkAlive(), this.deadAfter);
      // After the caller's `await connect()` continuation has had a chance to add handlers.
      setTimeout(() => this.release(), 0);
      handshake.resolve(this);
    } else if (frame.type === "Reject") {
      const name = rejectReasonName(frame.reason);
      let data: unknown;
      try {
        data = frame.data.length > 0 ? decodeJson(frame.data) : undefined;
      } catch {
        data = undefined;
      }
      const message = `the server refused the connection (${name}): ${frame.message}`;
      this.failHandshake(new ConnectError("Rejected", message, { reason: frame.reason, data }));
    } else if (frame.type === "Disconnect") {
      const why = `${disconnectReasonName(frame.reason)}: ${frame.message}`;
      this.failHandshake(new ConnectError("Transport", `the server closed the connection (${why})`));
    } else {
      const message = `expected Welcome, got ${frame.type}`;
      this.failHandshake(new ConnectError("Protocol", message), DisconnectReason.ProtocolError);
    }
  }

  /** Ends a handshake that failed; the transport closes without a `Disconnect` frame. */
  private failHandshake(err: ConnectError, reason: number = DisconnectReason.ClientDisconnect): void {
    const handshake = this.pendingHandshake;
    if (!handshake) return;
    this.pendingHandshake = null;
    clearTimeout(handshake.timer);
    this.state = "closed";
    void this.carrier.close(reason, err.message, null);
    handshake.reject(err);
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

  private onFrame(bytes: Uint8Array, datagram: boolean): void {
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
        return this.onEvent(frame);
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

  private onEvent(event: Event): void {
    const { name, ack: ackId } = event;
    const refuse = (message: string) => {
      if (ackId !== null) this.sendControl({ type: "AckError", id: ackId, message: sendableMessage(message) });
    };
    const nameBytes = utf8.encode(name).length;
    if (nameBytes > MAX_EVENT_NAME_BYTES) {
      return refuse(`event name of ${nameBytes} bytes exceeds the maximum of ${MAX_EVENT_NAME_BYTES}`);
    }
    let data: unknown;
    try {
      data = decodeJson(event.data);
    } catch (err) {
      if (ackId !== null) return refuse(`invalid payload: ${errorMessage(err)}`);
      return this.report(err, false);
    }
    for (const listener of [...this.anyListeners]) this.run(() => listener(name, data));
    const handlers = isReserved(name) ? [] : this.handlers.listenersOf(name);
    if (handlers.length === 0) return refuse(`unknown event ${JSON.stringify(name)}`);
    const reply = ackId === null ? null : this.acknowledger(ackId);
    for (const handler of handlers) {
      try {
        const result = handler(data, reply?.ack);
        if (isThenable(result)) {
          // An async handler that finished without acking never will: tell the emitter, as the
          // protocol requires an answer (a callback-style handler may still ack later).
          result.then(
            () => reply?.fail("the handler did not acknowledge"),
            (err: unknown) => {
              reply?.fail(err);
              this.report(err, true);
            },
          );
        }
      } catch (err) {
        reply?.fail(err);
        this.report(err, true);
      }
    }
  }

  /** The `ack` callback of one event, answering exactly once, and its failure path. */
  private acknowledger(id: bigint): { ack: AckCallback; fail: (err: unknown) => void } {
    let answered = false;
    const fail = (err: unknown) => {
      if (answered) return;
      answered = true;
      this.sendControl({ type: "AckError", id, message: sendableMessage(errorMessage(err)) });
    };
    const ack: AckCallback = (reply) => {
      if (answered) return;
      let frame: Uint8Array;
      try {
        frame = encodeFrame({ type: "Ack", id, data: encodeJson(reply) });
      } catch (err) {
        fail(err);
        throw err;
      }
      if (frame.length > this.peerMaxFrameSize) {
        const message = `reply of ${frame.length} bytes exceeds the server's maximum of ${this.peerMaxFrameSize}`;
        fail(message);
        throw new EmitError("FrameTooLarge", message);
      }
      answered = true;
      if (this.state === "open") this.sendReliable(frame);
    };
    return { ack, fail };
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

  /** Queues a reliable frame; a full queue closes the connection as a slow consumer. */
  private sendReliable(frame: Uint8Array): void {
    if (this.state !== "open") throw new EmitError("Disconnected", "the connection is closed");
    this.checkSize(frame);
    const result = this.carrier.sendReliable(frame);
    if (result === "overflow") {
      // Closing rejects every pending ack as disconnected; let the caller first see why.
      queueMicrotask(() => void this.close(DisconnectReason.SlowConsumer, "outbound queue full", true));
      throw new EmitError("SlowConsumer", "the server reads too slowly; the connection is closing");
    }
    if (result === "closed") throw new EmitError("Disconnected", "the connection is closed");
  }

  /** Sends a frame of the protocol's own; failures (closing, too large) have nobody to tell. */
  private sendControl(frame: Frame): void {
    try {
      this.sendReliable(encodeFrame(frame));
    } catch {
      // The connection is closing, or the server's limit is absurdly small.
    }
  }

  private emitVolatile(event: string, data: unknown): void {
    const frame = this.eventFrame(event, null, data);
    this.checkSize(frame);
    const limit = this.carrier.datagramLimit;
    if (limit !== null && frame.length > limit) throw new DatagramTooLargeError(frame.length, limit);
    if (this.state === "open") this.carrier.sendVolatile(frame);
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

  /** Treats the server as dead after `ping_interval + ping_timeout` ms without a frame. */
  private checkAlive(): void {
    if (this.state !== "open") return;
    const silent = now() - this.lastInbound;
    if (silent >= this.deadAfter) {
      void this.close(
        DisconnectReason.PingTimeout,
        `no frame from the server for ${this.deadAfter} ms`,
        true,
      );
    } else {
      this.deadTimer = later(() => this.checkAlive(), this.deadAfter - silent);
    }
  }

  /**
   * Closes an open connection: `Disconnect` to the server when `notifyPeer`, pending acks
   * and presence subscriptions end, and `disconnect` fires with the reason.
   */
  private close(reason: number, message: string, notifyPeer: boolean): Promise<void> {
    if (this.state !== "open") return Promise.resolve();
    this.state = "closed";
    clearTimeout(this.deadTimer);
    let goodbye: Uint8Array | null = null;
    if (notifyPeer) {
      try {
        goodbye = encodeFrame({ type: "Disconnect", reason, message });
      } catch {
        goodbye = encodeFrame({ type: "Disconnect", reason, message: "" });
      }
    }
    const closed = this.carrier.close(reason, message, goodbye);
    this.acks.rejectAll(() => new EmitError("Disconnected", "the connection closed before the reply came"));
    const presences = [...this.presences.values()];
    this.presences.clear();
    const details: DisconnectDetails = { code: reason, message };
    this.deliver(() => {
      for (const presence of presences) this.run(() => presence.end("the connection closed"));
      this.lifecycle.emit("disconnect", disconnectReasonName(reason), details);
    });
    return closed;
  }
}

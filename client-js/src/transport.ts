/**
 * Discovery (`GET /quicket/info`) and the two carriers of PROTOCOL.md section 2: a
 * WebTransport session (one bidirectional stream with length-prefixed frames, the server's
 * channel streams of section 2.2, and datagrams) and a WebSocket (one frame per binary
 * message).
 *
 * @module
 */

import { ChannelReader, MAX_CHANNELS } from "./channels.js";
import { DecodeError, DisconnectReason, FrameSplitter, TAGS, withLengthPrefix } from "./codec.js";
import { ConnectError } from "./errors.js";
import { errorMessage, truncateUtf8 } from "./json.js";

/** The two ways a browser reaches a quicket server. */
export type TransportName = "webtransport" | "websocket";

/** The server's discovery document, from `GET /quicket/info`. */
export interface Discovery {
  /** The protocol version the server speaks. */
  protocolVersion: number;
  /** The WebTransport URL (`https://…`), or `null` when the server offers none. */
  webtransport: string | null;
  /** Certificate hashes for `serverCertificateHashes`, current first. */
  certificateHashes: { algorithm: string; value: string }[];
  /** The WebSocket URL (`ws://…`). */
  websocket: string;
  /** The largest datagram (a whole frame) to send, or `null` when unknown. */
  maxDatagramSize: number | null;
}

/** The largest frame this client accepts, advertised in `Hello.max_frame_size`. */
export const CLIENT_MAX_FRAME_SIZE = 1024 * 1024;

/** Outbound limits (PROTOCOL.md section 8): 1 024 frames / 8 MiB. */
const MAX_QUEUED_FRAMES = 1024;
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

/** Datagrams handed to the browser and not yet taken; beyond it, volatile events drop. */
const MAX_QUEUED_DATAGRAMS = 64;

/** How long a graceful close waits for queued frames to leave. */
const CLOSE_TIMEOUT_MS = 2000;

/** How long the server's goodbye waits for its channel streams to be read to their end. */
const GOODBYE_DRAIN_MS = 2000;

/** WebTransport close codes carry a reason as `0x51540000 + code` (section 2). */
const WT_CLOSE_CODE_BASE = 0x5154_0000;

/** Where a carrier delivers what it receives. */
export interface CarrierSink {
  /**
   * A frame from an ordered channel, in that channel's order, not yet decoded: channel 0 is
   * the reliable stream, 1 and above the server's channels (PROTOCOL.md section 2.2).
   */
  frame(bytes: Uint8Array, channel: number): void;
  /** The frame of a single-frame stream (PROTOCOL.md section 2.3), not yet decoded. */
  single(bytes: Uint8Array): void;
  /** A datagram, not yet decoded. */
  datagram(bytes: Uint8Array): void;
  /**
   * An ordered channel broke the protocol: a {@link DecodeError} from a length prefix
   * (`FrameTooLarge` for an oversized frame), or a plain `Error` for a WebSocket text message
   * or a channel stream the grant does not allow.
   */
  malformed(err: Error): void;
  /** The transport closed without our asking; `reason` is a `DisconnectReason` code. */
  closed(reason: number, message: string): void;
}

/** What `sendReliable` did with a frame. */
export type SendResult = "sent" | "overflow" | "closed";

/**
 * Where `sendVolatile` put a frame. The reliable channel matters to recovery: an event there
 * counts in the session's offsets (PROTOCOL.md 10.6), a datagram does not.
 */
export type VolatileResult = "datagram" | "reliable" | "dropped";

/** One open transport, as the socket sees it. */
export interface Carrier {
  readonly kind: TransportName;
  /** The datagram limit in bytes when the carrier has datagrams, else `null`. */
  readonly datagramLimit: number | null;
  /** How many channels besides channel 0 the carrier can take: 0 on WebSocket. */
  readonly maxChannels: number;
  /** Starts delivering to `sink`. Anything received before is held, not lost. */
  start(sink: CarrierSink): void;
  /**
   * The handshake granted `granted` channels (0 for none), and agreed the delivery `classes`
   * or not: reads the streams the server opens for them from now on, single-frame streams
   * included, and refuses a stream the grant does not allow. Call it once, when `Welcome` is
   * handled: no stream's frame may be handled before (PROTOCOL.md 2.2).
   */
  openChannels(granted: number, classes: boolean): void;
  /** Queues a frame on the reliable channel; `overflow` when the outbound queue is full. */
  sendReliable(frame: Uint8Array): SendResult;
  /** Sends a volatile frame if there is room (a datagram, or a frame when uncongested). */
  sendVolatile(frame: Uint8Array): VolatileResult;
  /**
   * Sends `goodbye` (a `Disconnect` frame) if given, lets queued frames leave for up to 2 s,
   * and closes, carrying `reason` in the transport's own close code. Idempotent.
   */
  close(reason: number, message: string, goodbye: Uint8Array | null): Promise<void>;
}

/** Reads the discovery document at `{base}/quicket/info`. */
export async function discover(base: URL, timeoutMs: number): Promise<Discovery> {
  const url = new URL("/quicket/info", base);
  let body: unknown;
  try {
    const response = await fetch(url, {
      headers: { Accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (err) {
    throw new ConnectError("Discovery", `GET ${url.href}: ${errorMessage(err)}`, undefined, {
      cause: err,
    });
  }
  return parseDiscovery(body, url.href);
}

function parseDiscovery(body: unknown, where: string): Discovery {
  const doc = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const bad = (why: string) => new ConnectError("Discovery", `${where}: ${why}`);
  if (typeof doc.websocket !== "string") throw bad("no websocket URL");
  const hashes = Array.isArray(doc.certificateHashes) ? doc.certificateHashes : [];
  return {
    protocolVersion: typeof doc.protocolVersion === "number" ? doc.protocolVersion : 0,
    webtransport: typeof doc.webtransport === "string" ? doc.webtransport : null,
    certificateHashes: hashes.filter(
      (h): h is { algorithm: string; value: string } =>
        typeof h?.algorithm === "string" && typeof h?.value === "string",
    ),
    websocket: doc.websocket,
    maxDatagramSize: typeof doc.maxDatagramSize === "number" ? doc.maxDatagramSize : null,
  };
}

/** Options that choose and open a transport. */
export interface OpenOptions {
  transports: readonly TransportName[];
  /** Bounds discovery and the WebSocket opening, in ms. */
  timeout: number;
  /** How long WebTransport may take before WebSocket is tried, in ms. */
  webtransportDeadline: number;
}

/**
 * Opens a carrier for `url`: an `http(s)://` base is discovered and WebTransport is tried
 * first, then WebSocket; a `ws(s)://` URL is a WebSocket endpoint used directly.
 */
export async function openCarrier(url: string, options: OpenOptions): Promise<Carrier> {
  let base: URL;
  try {
    base = new URL(url);
  } catch (err) {
    throw new ConnectError("Discovery", `bad URL ${url}`, undefined, { cause: err });
  }
  const wantWs = options.transports.includes("websocket");
  if (base.protocol === "ws:" || base.protocol === "wss:") {
    if (!wantWs) throw new ConnectError("Transport", `${url} is a WebSocket URL`);
    return openWebSocket(base.href, options.timeout);
  }
  const info = await discover(base, options.timeout);
  const failures: string[] = [];
  // In the caller's order of preference.
  for (const transport of options.transports) {
    if (transport === "webtransport") {
      if (info.webtransport === null) failures.push("the server offers no WebTransport");
      else if (typeof WebTransport === "undefined") failures.push("no WebTransport in this browser");
      else {
        try {
          return await openWebTransport(info, options.webtransportDeadline);
        } catch (err) {
          failures.push(`WebTransport: ${errorMessage(err)}`);
        }
      }
    } else if (transport === "websocket") {
      try {
        // A page served over https may not open ws://; the server only knows its own scheme.
        const ws = new URL(info.websocket, base);
        if (base.protocol === "https:" && ws.protocol === "ws:") ws.protocol = "wss:";
        return await openWebSocket(ws.href, options.timeout);
      } catch (err) {
        failures.push(`WebSocket: ${errorMessage(err)}`);
      }
    }
  }
  throw new ConnectError("Transport", failures.join("; ") || "no transport allowed");
}

/** Rejects after `ms` unless `promise` settles first. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function base64ToBytes(value: string): Uint8Array<ArrayBuffer> {
  const binary = atob(value);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function openWebTransport(info: Discovery, deadlineMs: number): Promise<Carrier> {
  const options: WebTransportOptions = {};
  if (info.certificateHashes.length > 0) {
    options.serverCertificateHashes = info.certificateHashes.map((h) => ({
      algorithm: h.algorithm,
      value: base64ToBytes(h.value),
    }));
  }
  const wt = new WebTransport(info.webtransport!, options);
  // Settle both promises somewhere, whatever happens, so no rejection goes unhandled.
  wt.ready.catch(() => undefined);
  wt.closed.catch(() => undefined);
  try {
    const opening = wt.ready.then(() => wt.createBidirectionalStream());
    const stream = await withDeadline(opening, deadlineMs, "WebTransport");
    return new WebTransportCarrier(wt, stream, info.maxDatagramSize);
  } catch (err) {
    try {
      wt.close();
    } catch {
      // Already closed.
    }
    throw err;
  }
}

/** Holds what arrives before the sink is set. */
class Held {
  private sink: CarrierSink | null = null;
  private queue: ((sink: CarrierSink) => void)[] = [];

  set(sink: CarrierSink): void {
    this.sink = sink;
    const queue = this.queue;
    this.queue = [];
    for (const call of queue) call(sink);
  }

  call(deliver: (sink: CarrierSink) => void): void {
    if (this.sink) deliver(this.sink);
    else this.queue.push(deliver);
  }
}

/**
 * The datagram writable: the `writable` attribute where the browser has it, else
 * `createWritable()` (Safari has only that, and newer drafts of the spec use it).
 */
function datagramWritable(
  datagrams: WebTransportDatagramDuplexStream & { createWritable?: () => WritableStream<Uint8Array> },
): WritableStream<Uint8Array> {
  const writable = datagrams.writable as WritableStream<Uint8Array> | undefined;
  if (writable) return writable;
  if (typeof datagrams.createWritable === "function") return datagrams.createWritable();
  throw new Error("this browser's WebTransport has no datagram writer");
}

/**
 * A WebTransport session: frames on one bidi stream and on the server's channel streams
 * (channels.ts), volatile events as datagrams.
 */
class WebTransportCarrier implements Carrier {
  readonly kind = "webtransport";
  private readonly held = new Held();
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly datagrams: WritableStreamDefaultWriter<Uint8Array>;
  private readonly infoDatagramLimit: number | null;
  private queuedFrames = 0;
  private queuedBytes = 0;
  private queuedDatagrams = 0;
  /** Set once we close, or once the session is gone: nothing more is sent or reported. */
  private done = false;
  /** The server's channel streams, once `Welcome` granted channels. */
  private channels: ChannelReader | null = null;
  /** Set while the server's goodbye waits for its channel streams to be read to their end. */
  private draining: Promise<void> | null = null;

  constructor(
    private readonly wt: WebTransport,
    private readonly stream: WebTransportBidirectionalStream,
    infoDatagramLimit: number | null,
  ) {
    this.writer = stream.writable.getWriter();
    this.datagrams = datagramWritable(wt.datagrams).getWriter();
    this.infoDatagramLimit = infoDatagramLimit;
  }

  /** The smaller of the browser's and the server's datagram limits (1200 when neither says). */
  get datagramLimit(): number {
    const browser = this.wt.datagrams.maxDatagramSize;
    const limits = [browser, this.infoDatagramLimit].filter(
      (n): n is number => typeof n === "number" && n > 0,
    );
    return limits.length > 0 ? Math.min(...limits) : 1200;
  }

  get maxChannels(): number {
    return this.incomingStreams() ? MAX_CHANNELS : 0;
  }

  start(sink: CarrierSink): void {
    this.held.set(sink);
    void this.readStream();
    void this.readDatagrams();
    this.wt.closed.then(
      (info) => this.gone(reasonFromWtCode(info.closeCode), info.reason ?? ""),
      (err: unknown) => this.gone(DisconnectReason.TransportClosed, errorMessage(err)),
    );
  }

  sendReliable(frame: Uint8Array): SendResult {
    if (this.done) return "closed";
    if (
      this.queuedFrames >= MAX_QUEUED_FRAMES ||
      this.queuedBytes + frame.length > MAX_QUEUED_BYTES
    ) {
      return "overflow";
    }
    this.queuedFrames += 1;
    this.queuedBytes += frame.length;
    const written = () => {
      this.queuedFrames -= 1;
      this.queuedBytes -= frame.length;
    };
    this.writer.write(withLengthPrefix(frame)).then(written, (err: unknown) => {
      written();
      this.gone(DisconnectReason.TransportClosed, `stream write failed: ${errorMessage(err)}`);
    });
    return "sent";
  }

  sendVolatile(frame: Uint8Array): VolatileResult {
    if (this.done || frame.length > this.datagramLimit) return "dropped";
    // A backlog of datagrams means congestion: drop, as volatile events may be dropped.
    if (this.queuedDatagrams >= MAX_QUEUED_DATAGRAMS) return "dropped";
    this.queuedDatagrams += 1;
    const written = () => {
      this.queuedDatagrams -= 1;
    };
    this.datagrams.write(frame).then(written, written);
    return "datagram";
  }

  openChannels(granted: number, classes: boolean): void {
    const incoming = this.incomingStreams();
    if (this.done || this.channels || !incoming) return;
    const deliver = (call: (sink: CarrierSink) => void) => {
      if (!this.done) this.held.call(call);
    };
    this.channels = new ChannelReader(granted, classes, CLIENT_MAX_FRAME_SIZE, {
      frame: (channel, bytes) => deliver((sink) => sink.frame(bytes, channel)),
      single: (bytes) => deliver((sink) => sink.single(bytes)),
      malformed: (err) => deliver((sink) => sink.malformed(err)),
    });
    void this.channels.accept(incoming);
  }

  async close(reason: number, message: string, goodbye: Uint8Array | null): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.channels?.stop();
    if (goodbye) this.writer.write(withLengthPrefix(goodbye)).catch(() => undefined);
    try {
      await withDeadline(this.writer.close(), CLOSE_TIMEOUT_MS, "closing the stream");
    } catch {
      // Queued frames did not leave in time, or the stream is already gone.
    }
    try {
      this.wt.close({ closeCode: WT_CLOSE_CODE_BASE + reason, reason: truncateUtf8(message, 1024) });
    } catch {
      // Already closed.
    }
  }

  private async readStream(): Promise<void> {
    const reader = this.stream.readable.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const splitter = new FrameSplitter(CLIENT_MAX_FRAME_SIZE);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.done) break;
        splitter.push(value);
        for (let frame = splitter.next(); frame !== null && !this.done; frame = splitter.next()) {
          const bytes = frame;
          if (bytes[0] === TAGS.Disconnect && this.channels && this.channels.granted > 0) {
            await this.goodbye(bytes, this.channels);
          } else {
            this.held.call((sink) => sink.frame(bytes, 0));
          }
        }
      }
      await this.closedSoon();
      this.gone(DisconnectReason.TransportClosed, "the server ended the stream");
    } catch (err) {
      if (err instanceof DecodeError) {
        if (!this.done) this.held.call((sink) => sink.malformed(err));
      } else {
        await this.closedSoon();
        this.gone(DisconnectReason.TransportClosed, `stream read failed: ${errorMessage(err)}`);
      }
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * Hands on the server's `Disconnect` once every channel stream is read to its end, so that
   * the events the server sent before its goodbye are handled before it (PROTOCOL.md 2.2).
   */
  private async goodbye(bytes: Uint8Array, channels: ChannelReader): Promise<void> {
    this.draining = channels.drain(GOODBYE_DRAIN_MS).then(() => {
      if (!this.done) this.held.call((sink) => sink.frame(bytes, 0));
    });
    await this.draining;
    this.draining = null;
  }

  /** The server's unidirectional streams, where the browser has them. */
  private incomingStreams(): ReadableStream<ReadableStream<Uint8Array>> | undefined {
    return (this.wt as { incomingUnidirectionalStreams?: ReadableStream }).incomingUnidirectionalStreams;
  }

  private async readDatagrams(): Promise<void> {
    const reader = this.wt.datagrams.readable.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.done) return;
        this.held.call((sink) => sink.datagram(value));
      }
    } catch {
      // The session closed; `closed` reports it.
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * A stream that ends usually means the session is closing: give its close (which carries
   * the server's reason code) a moment to arrive and report first.
   */
  private async closedSoon(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const moment = new Promise<void>((resolve) => (timer = setTimeout(resolve, 50)));
    await Promise.race([this.wt.closed.then(() => undefined, () => undefined), moment]);
    clearTimeout(timer);
  }

  /** The session ended without our asking. */
  private gone(reason: number, message: string): void {
    if (this.done) return;
    if (this.draining) {
      // The goodbye waiting for the channels explains this close, and is handled first.
      void this.draining.then(() => this.gone(reason, message));
      return;
    }
    this.done = true;
    this.channels?.stop();
    try {
      this.wt.close();
    } catch {
      // Already closed.
    }
    this.held.call((sink) => sink.closed(reason, message));
  }
}

function reasonFromWtCode(code: number | undefined): number {
  if (code === undefined) return DisconnectReason.TransportClosed;
  const offset = code - WT_CLOSE_CODE_BASE;
  return offset >= 0 && offset <= 0xffff ? offset : DisconnectReason.TransportClosed;
}

function openWebSocket(url: string, timeoutMs: number): Promise<Carrier> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(new WebSocketCarrier(ws));
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      reject(new Error(`closed while opening (code ${event.code})`));
    };
  });
}

/** A WebSocket: one frame per binary message, no datagrams. */
class WebSocketCarrier implements Carrier {
  readonly kind = "websocket";
  readonly datagramLimit = null;
  readonly maxChannels = 0;
  private readonly held = new Held();
  private done = false;

  constructor(private readonly ws: WebSocket) {
    ws.onmessage = (event: MessageEvent<unknown>) => this.onMessage(event.data);
    ws.onclose = (event) => this.gone(reasonFromWsCode(event.code), event.reason);
    ws.onerror = null; // A close event always follows an error.
  }

  start(sink: CarrierSink): void {
    this.held.set(sink);
  }

  openChannels(): void {
    // WebSocket has channel 0 only (PROTOCOL.md 2.2).
  }

  sendReliable(frame: Uint8Array): SendResult {
    if (this.done || this.ws.readyState !== WebSocket.OPEN) return "closed";
    if (this.ws.bufferedAmount + frame.length > MAX_QUEUED_BYTES) return "overflow";
    this.ws.send(frame as Uint8Array<ArrayBuffer>);
    return "sent";
  }

  sendVolatile(frame: Uint8Array): VolatileResult {
    // Volatile frames are dropped once the send buffer is half full, before reliable ones.
    if (this.ws.bufferedAmount + frame.length > MAX_QUEUED_BYTES / 2) return "dropped";
    return this.sendReliable(frame) === "sent" ? "reliable" : "dropped";
  }

  async close(reason: number, message: string, goodbye: Uint8Array | null): Promise<void> {
    if (this.done) return;
    this.done = true;
    const closed = new Promise<void>((resolve) => {
      this.ws.onclose = () => resolve();
    });
    try {
      if (goodbye && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(goodbye as Uint8Array<ArrayBuffer>);
      }
      // Browsers may only send 1000 or 3000–4999, so every reason uses 4000 + code.
      this.ws.close(4000 + Math.min(reason, 999), truncateUtf8(message, 123));
    } catch {
      return;
    }
    await withDeadline(closed, CLOSE_TIMEOUT_MS, "closing the WebSocket").catch(() => undefined);
  }

  private onMessage(data: unknown): void {
    if (this.done) return;
    if (!(data instanceof ArrayBuffer)) {
      this.held.call((sink) => sink.malformed(new Error("a WebSocket text message")));
      return;
    }
    if (data.byteLength > CLIENT_MAX_FRAME_SIZE) {
      const err = new DecodeError(
        "FrameTooLarge",
        `frame of ${data.byteLength} bytes exceeds the maximum of ${CLIENT_MAX_FRAME_SIZE}`,
      );
      this.held.call((sink) => sink.malformed(err));
      return;
    }
    const bytes = new Uint8Array(data);
    this.held.call((sink) => sink.frame(bytes, 0));
  }

  private gone(reason: number, message: string): void {
    if (this.done) return;
    this.done = true;
    this.held.call((sink) => sink.closed(reason, message));
  }
}

/**
 * The reason a WebSocket close code carries, as the Rust peer maps it. 1000 and 1001 carry
 * none: a browser sends 1001 when its page unloads, and that is a drop, not a goodbye.
 */
function reasonFromWsCode(code: number): number {
  if (code === 1009) return DisconnectReason.FrameTooLarge;
  if (code === 1002 || code === 1003 || code === 1007) return DisconnectReason.ProtocolError;
  if (code >= 4000 && code <= 4999) return code - 4000;
  return DisconnectReason.TransportClosed;
}

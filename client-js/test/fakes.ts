/**
 * In-memory stand-ins for the browser APIs the client uses (fetch, WebSocket, WebTransport),
 * each with a scripted "server" end that speaks frames through the codec under test.
 */

import { afterEach, beforeEach, vi } from "vitest";

import {
  type Frame,
  FrameSplitter,
  type Welcome,
  decodeFrame,
  encodeFrame,
  lengthPrefix,
  withLengthPrefix,
} from "../src/codec.js";

export const SID = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
export const SID_HEX = "00112233445566778899aabbccddeeff";

export function welcome(overrides: Partial<Welcome> = {}): Welcome {
  return {
    type: "Welcome",
    sid: SID,
    ping_interval_ms: 25_000,
    ping_timeout_ms: 20_000,
    max_frame_size: 1 << 20,
    session: new Uint8Array(0),
    recovered: false,
    offset: 0n,
    channels: null,
    ...overrides,
  };
}

/** The server end of one fake connection. */
export abstract class FakePeer {
  /** How new peers answer `Hello` (reset by {@link install}). */
  static defaultReply: Frame | null = welcome();
  /** Frames new peers send right behind their reply, in the same turn. */
  static afterReply: Frame[] = [];

  /** Frames the client sent on the reliable channel, decoded. */
  readonly received: Frame[] = [];
  /** Datagrams the client sent, decoded. */
  readonly receivedDatagrams: Frame[] = [];
  /** How the server answers `Hello`: a frame, or nothing. */
  reply: Frame | null = FakePeer.defaultReply;
  /** Called for every frame the client sends, after `received` is updated. */
  onFrame: (frame: Frame) => void = () => undefined;

  protected fromClient(bytes: Uint8Array): void {
    const frame = decodeFrame(bytes);
    this.received.push(frame);
    if (frame.type === "Hello" && this.reply) {
      this.push(this.reply);
      for (const next of FakePeer.afterReply) this.push(next);
    }
    this.onFrame(frame);
  }

  /** The frames of one type the client sent. */
  sent<T extends Frame["type"]>(type: T): Extract<Frame, { type: T }>[] {
    return this.received.filter((f): f is Extract<Frame, { type: T }> => f.type === type);
  }

  /** The server sends a frame to the client. */
  push(frame: Frame): void {
    this.sendBytes(encodeFrame(frame));
  }

  abstract sendBytes(bytes: Uint8Array): void;
}

/** A fake `WebSocket` whose server end is the test. */
export class FakeWebSocket extends FakePeer {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeWebSocket[] = [];
  /** Set before connecting to make the next sockets fail to open. */
  static refuse = false;

  readyState = FakeWebSocket.CONNECTING;
  binaryType = "blob";
  bufferedAmount = 0;
  closedWith: { code: number; reason: string } | null = null;
  onopen: (() => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(readonly url: string) {
    super();
    FakeWebSocket.instances.push(this);
    setTimeout(() => {
      if (FakeWebSocket.refuse) {
        this.readyState = FakeWebSocket.CLOSED;
        this.onclose?.({ code: 1006, reason: "" });
        return;
      }
      this.readyState = FakeWebSocket.OPEN;
      this.onopen?.();
    }, 0);
  }

  send(data: Uint8Array): void {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error("not open");
    this.fromClient(new Uint8Array(data));
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new Error(`InvalidAccessError: close code ${code}`);
    }
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.closedWith = { code: code ?? 1005, reason: reason ?? "" };
    this.readyState = FakeWebSocket.CLOSED;
    setTimeout(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? "" }), 0);
  }

  sendBytes(bytes: Uint8Array): void {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    this.onmessage?.({ data: buffer });
  }

  /** The server sends a text message. */
  sendText(text: string): void {
    this.onmessage?.({ data: text });
  }

  /** The server closes the socket. */
  serverClose(code: number, reason = ""): void {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason });
  }
}

/**
 * A unidirectional stream the fake server opened (PROTOCOL.md 2.2): what the test writes, the
 * client reads, as its bytes come.
 */
export class FakeUniStream {
  readonly readable: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor() {
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
    });
  }

  /** Raw bytes, as they are. */
  write(bytes: Uint8Array | number[]): this {
    this.controller.enqueue(Uint8Array.from(bytes));
    return this;
  }

  /** A frame, with its length prefix. */
  push(frame: Frame): this {
    return this.write(withLengthPrefix(encodeFrame(frame)));
  }

  /** Ends the stream (QUIC's FIN). */
  finish(): void {
    this.controller.close();
  }

  /** The server resets the stream (QUIC's RESET_STREAM): a read fails. */
  reset(): void {
    this.controller.error(new Error("the stream was reset"));
  }
}

/** A fake `WebTransport` session: one bidi stream and datagrams, server end scripted. */
export class FakeWebTransport extends FakePeer {
  static instances: FakeWebTransport[] = [];
  /** How the next sessions behave: connect, never become ready, or fail. */
  static mode: "ok" | "hang" | "fail" = "ok";
  /** Whether the next sessions open but never answer `Hello`. */
  static silent = false;
  /** Whether the next sessions' datagrams are Safari's: `createWritable()`, no `writable`. */
  static safari = false;

  readonly ready: Promise<void>;
  readonly closed: Promise<{ closeCode?: number; reason?: string }>;
  readonly datagrams: {
    readable: ReadableStream<Uint8Array>;
    writable?: WritableStream<Uint8Array>;
    createWritable?: () => WritableStream<Uint8Array>;
    maxDatagramSize: number;
  };
  /** The unidirectional streams the server opens, as the browser surfaces them. */
  readonly incomingUnidirectionalStreams: ReadableStream<ReadableStream<Uint8Array>>;
  closeInfo: { closeCode?: number; reason?: string } | null = null;
  private uniToClient!: ReadableStreamDefaultController<ReadableStream<Uint8Array>>;
  private toClient: ReadableStreamDefaultController<Uint8Array> | null = null;
  private datagramsToClient: ReadableStreamDefaultController<Uint8Array> | null = null;
  private resolveClosed!: (info: { closeCode?: number; reason?: string }) => void;

  constructor(
    readonly url: string,
    readonly options: { serverCertificateHashes?: { algorithm: string; value: Uint8Array }[] },
  ) {
    super();
    FakeWebTransport.instances.push(this);
    if (FakeWebTransport.silent) this.reply = null;
    const mode = FakeWebTransport.mode;
    this.ready =
      mode === "ok"
        ? Promise.resolve()
        : mode === "fail"
          ? Promise.reject(new Error("Opening handshake failed."))
          : new Promise(() => undefined);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    const writable = new WritableStream<Uint8Array>({
      write: (chunk) => {
        this.receivedDatagrams.push(decodeFrame(chunk));
      },
    });
    this.datagrams = {
      readable: new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.datagramsToClient = controller;
        },
      }),
      ...(FakeWebTransport.safari ? { createWritable: () => writable } : { writable }),
      maxDatagramSize: 1211,
    };
    this.incomingUnidirectionalStreams = new ReadableStream({
      start: (controller) => {
        this.uniToClient = controller;
      },
    });
  }

  async createBidirectionalStream(): Promise<{
    readable: ReadableStream<Uint8Array>;
    writable: WritableStream<Uint8Array>;
  }> {
    const splitter = new FrameSplitter();
    return {
      readable: new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.toClient = controller;
        },
      }),
      writable: new WritableStream<Uint8Array>({
        write: (chunk) => {
          splitter.push(chunk);
          for (let f = splitter.next(); f !== null; f = splitter.next()) this.fromClient(f);
        },
      }),
    };
  }

  close(info: { closeCode?: number; reason?: string } = {}): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    this.resolveClosed(info);
  }

  sendBytes(bytes: Uint8Array): void {
    this.toClient?.enqueue(withLengthPrefix(bytes));
  }

  /** Sends raw bytes on the stream, prefix included. */
  sendRaw(bytes: Uint8Array): void {
    this.toClient?.enqueue(bytes);
  }

  /** Sends a datagram to the client. */
  sendDatagram(frame: Frame): void {
    this.datagramsToClient?.enqueue(encodeFrame(frame));
  }

  /**
   * Opens a unidirectional stream to the client, beginning with `channel`'s number (a `u16`
   * varint, written like a length prefix) unless it is `null`.
   */
  openUni(channel: number | null): FakeUniStream {
    const stream = new FakeUniStream();
    this.uniToClient.enqueue(stream.readable);
    if (channel !== null) stream.write(lengthPrefix(channel));
    return stream;
  }
}

export interface Info {
  protocolVersion: number;
  webtransport: string | null;
  certificateHashes: { algorithm: string; value: string }[];
  websocket: string;
  maxDatagramSize: number | null;
}

export const INFO: Info = {
  protocolVersion: 1,
  webtransport: null,
  certificateHashes: [],
  websocket: "ws://127.0.0.1:8080/quicket",
  maxDatagramSize: null,
};

/** A JSON payload's bytes. */
export const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
/** The page's origin, where discovery is read. */
export const URL = "http://127.0.0.1:8080";
/** Session tokens, one per `Welcome` of a test. */
export const T1 = new Uint8Array(16).fill(1);
export const T2 = new Uint8Array(16).fill(2);
export const T3 = new Uint8Array(16).fill(3);
/** A second socket id, for a new session. */
export const SID_B = new Uint8Array(16).fill(0xbb);
/** Discovery that offers WebTransport beside WebSocket. */
export const wtInfo = { ...INFO, webtransport: "https://127.0.0.1:4433/quicket", maxDatagramSize: 1200 };

/** Installs the fakes; `webtransport` says whether `WebTransport` exists at all. */
export function install(info: Info = INFO, webtransport = false): { fetched: string[] } {
  const fetched: string[] = [];
  FakeWebSocket.instances = [];
  FakeWebSocket.refuse = false;
  FakeWebTransport.instances = [];
  FakeWebTransport.mode = "ok";
  FakeWebTransport.silent = false;
  FakeWebTransport.safari = false;
  FakePeer.defaultReply = welcome();
  FakePeer.afterReply = [];
  vi.stubGlobal("fetch", async (url: URL | string) => {
    fetched.push(String(url));
    return new Response(JSON.stringify(info), { headers: { "content-type": "application/json" } });
  });
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.stubGlobal("WebTransport", webtransport ? FakeWebTransport : undefined);
  return { fetched };
}

/** Lets timers and promise jobs run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check` holds (polling), or fails after `ms`. */
export async function until(check: () => boolean, ms = 1000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error("condition not met in time");
    await tick(1);
  }
}

/**
 * Fake timers for every test of a file, and the sockets it opens, disconnected after each
 * test with the clock run out; `advance` runs the clock `ms` forward, with every promise job
 * due meanwhile.
 */
export function fakeClock(): { opened: { disconnect(): Promise<unknown> }[]; advance: (ms: number) => Promise<unknown> } {
  const opened: { disconnect(): Promise<unknown> }[] = [];
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    for (const socket of opened.splice(0)) void socket.disconnect();
    await vi.runAllTimersAsync();
    vi.useRealTimers();
    vi.restoreAllMocks();
    vi.unstubAllGlobals();
  });
  return { opened, advance: (ms: number) => vi.advanceTimersByTimeAsync(ms) };
}

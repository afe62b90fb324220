/**
 * Reconnection and connection state recovery (PROTOCOL.md 10.6) against the in-memory fakes,
 * on fake timers: every delay is the one the client chose, and nothing waits on real time.
 */

import { describe, expect, it, vi } from "vitest";

import type { Frame } from "../src/codec.js";
import {
  type ConnectOptions,
  ConnectError,
  EmitError,
  OfflineBufferFullError,
  type Socket,
  connect,
  webStorageSession,
} from "../src/index.js";
import { Backoff } from "../src/reconnect.js";
import { FakePeer, FakeWebSocket, FakeWebTransport, INFO, install, welcome, fakeClock, T1, T2, T3, SID_B, URL, json, wtInfo } from "./fakes.js";


const { opened, advance } = fakeClock();

/** The server end of the latest WebSocket. */
const lastServer = (): FakeWebSocket => FakeWebSocket.instances.at(-1)!;

/**
 * Connects with exact delays (no jitter unless asked for), and with the session token T1
 * unless the first `Welcome` is given; lets `connect` fire.
 */
async function open(
  options: ConnectOptions = {},
  first: Frame = welcome({ session: T1 }),
): Promise<{ socket: Socket; server: FakeWebSocket }> {
  install();
  FakePeer.defaultReply = first;
  const pending = connect(URL, { randomizationFactor: 0, ...options });
  await advance(1); // the fake WebSocket opens on a timer
  const socket = await pending;
  opened.push(socket);
  await advance(1); // `connect` fires on a timer
  return { socket, server: lastServer() };
}

/** Disconnects; the fake WebSocket reports its close on a timer. */
async function disconnect(socket: Socket): Promise<void> {
  const closing = socket.disconnect();
  await advance(1);
  await closing;
}

/** What the next connections answer to `Hello`. */
function nextReply(frame: Frame): void {
  FakePeer.defaultReply = frame;
}

/** Drops the connection as a network failure would (close code 1006: TransportClosed). */
function drop(server: FakeWebSocket = lastServer()): void {
  server.serverClose(1006);
}

/** Drops, lets the first (1 s) delay pass, and resolves once reconnected. */
async function dropAndReconnect(socket: Socket): Promise<{ recovered: boolean }> {
  const reconnected = new Promise<{ recovered: boolean }>((resolve) => socket.once("reconnected", resolve));
  drop();
  await advance(1_001);
  return reconnected;
}

/** The names of the events a server end received, in order. */
const eventNames = (server: FakeWebSocket | FakeWebTransport) =>
  server.sent("Event").map((e) => e.name);

describe("Backoff", () => {
  it("follows socket.io's formula: base·2^n moved by the draw's share of the factor, capped at max", () => {
    const down = new Backoff(1000, 5000, 0.5, () => 0.25); // floor(2.5) even: shorter
    expect([1, 2, 3, 4, 5].map(() => down.duration())).toEqual([875, 1750, 3500, 5000, 5000]);
    const up = new Backoff(1000, 5000, 0.5, () => 0.15); // floor(1.5) odd: longer
    expect([1, 2, 3, 4].map(() => up.duration())).toEqual([1075, 2150, 4300, 5000]);
  });

  it("keeps every delay within ±factor of base·2^n and at most max, and starts over on reset", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const backoff = new Backoff(1000, 5000, 0.5, random);
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 12; n++) {
        const nominal = 1000 * 2 ** n;
        const delay = backoff.duration();
        expect(delay).toBeGreaterThanOrEqual(Math.min(nominal * 0.5, 5000) - 1);
        expect(delay).toBeLessThanOrEqual(Math.min(nominal * 1.5, 5000));
      }
      backoff.reset();
    }
  });

  it("stays a finite delay at the cap after thousands of attempts", () => {
    const backoff = new Backoff(1000, 5000, 0.5, () => 0.25);
    const delays = Array.from({ length: 3000 }, () => backoff.duration());
    expect(delays.slice(-3)).toEqual([5000, 5000, 5000]);
  });
});

describe("reconnecting", () => {
  it("fires disconnect, reconnecting, reconnected and connect, in that order", async () => {
    const { socket } = await open();
    const log: unknown[] = [];
    socket.on("disconnect", (reason) => log.push(["disconnect", reason]));
    socket.on("reconnecting", (attempt) => log.push(["reconnecting", attempt]));
    socket.on("reconnected", (info) => log.push(["reconnected", info]));
    socket.on("connect", () => log.push(["connect"]));
    await dropAndReconnect(socket);
    expect(log).toEqual([
      ["disconnect", "TransportClosed"],
      ["reconnecting", 1],
      ["reconnected", { recovered: false }],
      ["connect"],
    ]);
    expect(socket.connected).toBe(true);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("waits the backoff delays between failed attempts, capped at the max, and starts over after a success", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.25); // every delay 12.5 % short of nominal
    const { socket } = await open({ randomizationFactor: 0.5 });
    let last = 0;
    const waits: number[] = [];
    socket.on("disconnect", () => (last = Date.now()));
    socket.on("reconnect_error", () => (last = Date.now()));
    socket.on("reconnecting", () => waits.push(Date.now() - last));
    FakeWebSocket.refuse = true;
    drop();
    await advance(875 + 1750 + 3500 + 5000 + 5000 + 10);
    expect(waits).toEqual([875, 1750, 3500, 5000, 5000]);
    FakeWebSocket.refuse = false;
    await advance(5_010);
    expect(socket.connected).toBe(true);
    waits.length = 0;
    drop();
    await advance(1_000);
    expect(waits).toEqual([875]);
  });

  it("gives up with reconnect_failed after reconnectionAttempts, and stays closed", async () => {
    const { socket } = await open({ reconnectionAttempts: 3 });
    const log: unknown[] = [];
    socket.on("reconnecting", (attempt) => log.push(attempt));
    socket.on("reconnect_error", (err) => log.push((err as ConnectError).kind));
    socket.on("reconnect_failed", () => log.push("failed"));
    FakeWebSocket.refuse = true;
    drop();
    await advance(60_000);
    expect(log).toEqual([1, "Transport", 2, "Transport", 3, "Transport", "failed"]);
    expect(FakeWebSocket.instances).toHaveLength(4);
    expect(socket.connected).toBe(false);
    expect(() => socket.emit("late")).toThrow(expect.objectContaining({ kind: "Disconnected" }));
  });

  it("reconnects at once after Disconnect{ServerShutdown}", async () => {
    const { socket, server } = await open();
    const times: Record<string, number> = {};
    socket.on("disconnect", () => (times.disconnect = Date.now()));
    socket.on("reconnecting", () => (times.reconnecting = Date.now()));
    server.push({ type: "Disconnect", reason: 7, message: "restarting" });
    await advance(5); // the new fake WebSocket opens on a timer
    expect(times.reconnecting! - times.disconnect!).toBe(0);
    expect(socket.connected).toBe(true);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it.each([
    ["a transport that closes abruptly", (s: FakeWebSocket) => s.serverClose(1006)],
    ["Disconnect{PingTimeout}", (s: FakeWebSocket) => s.push({ type: "Disconnect", reason: 3, message: "" })],
    ["Disconnect{TransportClosed}", (s: FakeWebSocket) => s.push({ type: "Disconnect", reason: 8, message: "" })],
    ["a malformed frame", (s: FakeWebSocket) => s.sendText("not binary")],
  ])("reconnects after %s", async (_, cause) => {
    const { socket, server } = await open();
    const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
    cause(server);
    await advance(1_010);
    await reconnected;
    expect(socket.connected).toBe(true);
  });

  it("reconnects after the server goes silent (PingTimeout noticed locally)", async () => {
    const { socket } = await open({}, welcome({ session: T1, ping_interval_ms: 100, ping_timeout_ms: 100 }));
    const reasons: string[] = [];
    socket.on("disconnect", (reason) => reasons.push(reason));
    const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
    await advance(200 + 1_010);
    await reconnected;
    expect(reasons).toEqual(["PingTimeout"]);
  });

  it.each([
    ["Disconnect{ClientDisconnect}", (s: FakeWebSocket) => s.push({ type: "Disconnect", reason: 1, message: "" })],
    ["Disconnect{ServerDisconnect}", (s: FakeWebSocket) => s.push({ type: "Disconnect", reason: 2, message: "" })],
  ])("never reconnects after %s", async (_, cause) => {
    const { socket, server } = await open();
    const attempts: number[] = [];
    socket.on("reconnecting", (n) => attempts.push(n));
    cause(server);
    await advance(60_000);
    expect(attempts).toEqual([]);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(socket.connected).toBe(false);
  });

  it("never reconnects after disconnect(), and disconnect() during the delay cancels the attempt", async () => {
    const first = await open();
    await disconnect(first.socket);
    await advance(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);

    const second = await open();
    const attempts: number[] = [];
    second.socket.on("reconnecting", (n) => attempts.push(n));
    drop();
    await advance(500);
    await disconnect(second.socket);
    await advance(60_000);
    expect(attempts).toEqual([]);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not reconnect when reconnection is false", async () => {
    const { socket } = await open({ reconnection: false });
    drop();
    await advance(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(() => socket.emit("x")).toThrow(expect.objectContaining({ kind: "Disconnected" }));
  });

  it.each([
    [1, "Unauthorized"],
    [2, "UnsupportedVersion"],
  ])("stops when a reconnection is refused with %i (%s), but retries other refusals", async (code, name) => {
    const { socket } = await open();
    const log: unknown[] = [];
    socket.on("reconnect_error", (err) => log.push((err as ConnectError).reasonName));
    socket.on("reconnect_failed", () => log.push("failed"));
    nextReply({ type: "Reject", reason: 4, message: "full", data: new Uint8Array(0) });
    drop();
    await advance(1_010);
    nextReply({ type: "Reject", reason: code, message: "no", data: new Uint8Array(0) });
    await advance(2_010);
    await advance(60_000);
    expect(log).toEqual(["ServerFull", name, "failed"]);
    expect(FakeWebSocket.instances).toHaveLength(3);
    expect(socket.connected).toBe(false);
  });

  it("falls back to WebSocket on a reconnection exactly as on the first connection", async () => {
    install(wtInfo, true);
    FakePeer.defaultReply = welcome({ session: T1 });
    const socket = await connect(URL, { randomizationFactor: 0 });
    opened.push(socket);
    expect(socket.transport).toBe("webtransport");
    const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
    FakeWebTransport.mode = "fail";
    FakeWebTransport.instances[0]!.close({ closeCode: 0x51540008 });
    await advance(1_010);
    await reconnected;
    expect(FakeWebTransport.instances).toHaveLength(2);
    expect(socket.transport).toBe("websocket");
    expect(lastServer().sent("Hello")[0]!.resume).toEqual({ token: T1, offset: 0n });
  });
});

describe("resuming the session", () => {
  it("sends Hello.resume with the last token and the count of reliable events handled", async () => {
    const { socket, server } = await open();
    expect(server.sent("Hello")[0]!.resume).toBeNull();
    socket.on("known", () => undefined);
    server.push({ type: "Event", name: "known", ack: null, data: json(1) });
    server.push({ type: "Event", name: "nobody-listens", ack: null, data: json(2) });
    server.push({ type: "Event", name: "known", ack: 9n, data: json(3) }); // has an ack id: not counted
    server.push({ type: "Event", name: "known", ack: null, data: new Uint8Array([0x7b]) }); // bad payload, still handled
    nextReply(welcome({ session: T2, recovered: true }));
    await dropAndReconnect(socket);
    expect(lastServer().sent("Hello")[0]!.resume).toEqual({ token: T1, offset: 3n });
  });

  it("does not count events that came as datagrams", async () => {
    install(wtInfo, true);
    FakePeer.defaultReply = welcome({ session: T1 });
    const socket = await connect(URL, { randomizationFactor: 0 });
    opened.push(socket);
    const wt = FakeWebTransport.instances[0]!;
    const got: unknown[] = [];
    socket.on("pos", (n) => got.push(n));
    await advance(1);
    wt.sendDatagram({ type: "Event", name: "pos", ack: null, data: json(1) });
    wt.push({ type: "Event", name: "pos", ack: null, data: json(2) });
    await advance(1);
    expect(got).toEqual([1, 2]);
    const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
    wt.close({ closeCode: 0x51540008 });
    await advance(1_010);
    await reconnected;
    expect(FakeWebTransport.instances[1]!.sent("Hello")[0]!.resume).toEqual({ token: T1, offset: 1n });
  });

  it("sends no resume when the server keeps no sessions", async () => {
    const { socket } = await open({}, welcome());
    await dropAndReconnect(socket);
    expect(lastServer().sent("Hello")[0]!.resume).toBeNull();
  });

  it("keeps the id and the count when recovered; takes the new id and counts from 0 when not", async () => {
    const { socket, server } = await open();
    const firstId = socket.id;
    server.push({ type: "Event", name: "x", ack: null, data: json(0) });
    server.push({ type: "Event", name: "x", ack: null, data: json(0) });
    nextReply(welcome({ session: T2, recovered: true, offset: 0n }));
    expect(await dropAndReconnect(socket)).toEqual({ recovered: true });
    expect(socket.id).toBe(firstId);
    expect(socket.recovered).toBe(true);
    lastServer().push({ type: "Event", name: "x", ack: null, data: json(0) });

    nextReply(welcome({ sid: SID_B, session: T3, recovered: false }));
    expect(await dropAndReconnect(socket)).toEqual({ recovered: false });
    expect(lastServer().sent("Hello")[0]!.resume).toEqual({ token: T2, offset: 3n });
    expect(socket.id).toBe("bb".repeat(16));
    expect(socket.recovered).toBe(false);

    await dropAndReconnect(socket);
    expect(lastServer().sent("Hello")[0]!.resume).toEqual({ token: T3, offset: 0n });
  });
});

/** Web Storage in memory, as `sessionStorage` is for one tab. */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

describe("a session kept in Web Storage, for the next page", () => {
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  it("saves the token and each handled event's offset; the next page's Hello resumes from there", async () => {
    const storage = new MemoryStorage();
    const { socket, server } = await open({ session: webStorageSession("chat", storage) });
    expect(server.sent("Hello")[0]!.resume).toBeNull();
    expect(JSON.parse(storage.getItem("chat")!)).toEqual({ token: hex(T1), offset: "0" });
    socket.on("line", () => undefined);
    server.push({ type: "Event", name: "line", ack: null, data: json(1) });
    server.push({ type: "Event", name: "line", ack: null, data: json(2) });
    await advance(1);
    expect(JSON.parse(storage.getItem("chat")!)).toEqual({ token: hex(T1), offset: "2" });

    // The page goes away without a word (a reload, a crash): a new socket on the same storage.
    const next = await open({ session: webStorageSession("chat", storage) }, welcome({ session: T2, recovered: true }));
    expect(next.server.sent("Hello")[0]!.resume).toEqual({ token: T1, offset: 2n });
    expect(next.socket.recovered).toBe(true);
    expect(JSON.parse(storage.getItem("chat")!)).toEqual({ token: hex(T2), offset: "2" });
  });

  it("starts counting again when the server could not resume it", async () => {
    const storage = new MemoryStorage();
    storage.setItem("quicket-session", JSON.stringify({ token: hex(T1), offset: "7" }));
    const { socket, server } = await open({ session: webStorageSession(undefined, storage) }, welcome({ session: T3 }));
    expect(server.sent("Hello")[0]!.resume).toEqual({ token: T1, offset: 7n });
    expect(socket.recovered).toBe(false);
    expect(JSON.parse(storage.getItem("quicket-session")!)).toEqual({ token: hex(T3), offset: "0" });
  });

  it("is forgotten when the application disconnects", async () => {
    const storage = new MemoryStorage();
    const { socket } = await open({ session: webStorageSession("chat", storage) });
    expect(storage.getItem("chat")).not.toBeNull();
    await disconnect(socket);
    expect(storage.getItem("chat")).toBeNull();
  });

  it("ignores what is not a stored session, and storage that throws", async () => {
    const storage = new MemoryStorage();
    for (const junk of ["{", "null", '{"token":"xyz","offset":"1"}', '{"token":"0101","offset":"-1"}']) {
      storage.setItem("chat", junk);
      const { server } = await open({ session: webStorageSession("chat", storage) });
      expect(server.sent("Hello")[0]!.resume).toBeNull();
    }
    const broken = new MemoryStorage();
    broken.getItem = () => {
      throw new Error("SecurityError");
    };
    broken.setItem = () => {
      throw new Error("QuotaExceededError");
    };
    const { socket } = await open({ session: webStorageSession("chat", broken) });
    expect(socket.connected).toBe(true);
  });

  it("sends no goodbye when the page hides: the session is meant to outlive it", async () => {
    const target = new EventTarget();
    vi.stubGlobal("addEventListener", target.addEventListener.bind(target));
    const kept = await open({ session: webStorageSession("chat", new MemoryStorage()) });
    const plain = await open();
    target.dispatchEvent(new Event("pagehide"));
    await advance(1);
    expect(kept.server.sent("Disconnect")).toEqual([]);
    expect(kept.socket.connected).toBe(true);
    expect(plain.server.sent("Disconnect")).toHaveLength(1);
  });
});

describe("replaying the client's events", () => {
  it("after a recovered reconnection, resends the events after the server's offset once, in order, before live emits", async () => {
    const { socket } = await open();
    for (const name of ["e1", "e2", "e3", "e4", "e5"]) socket.emit(name);
    void socket.emitWithAck("asked").catch(() => undefined); // at most once: never resent
    drop();
    await advance(1);
    socket.emit("o1");
    socket.emit("o2");
    socket.once("reconnected", () => socket.emit("from-listener"));
    nextReply(welcome({ session: T2, recovered: true, offset: 3n }));
    const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
    await advance(1_000);
    await reconnected;
    socket.emit("live");
    expect(eventNames(lastServer())).toEqual(["e4", "e5", "o1", "o2", "from-listener", "live"]);

    // The server has now handled 3 + 6 of them; it says it handled 7: the last two, again.
    nextReply(welcome({ session: T3, recovered: true, offset: 7n }));
    await dropAndReconnect(socket);
    expect(eventNames(lastServer())).toEqual(["from-listener", "live"]);
  });

  it("counts a volatile emit that went on the ordered channel, as the server does", async () => {
    const { socket } = await open();
    socket.emit("r1");
    socket.volatile.emit("v1"); // WebSocket: no datagrams, so on the ordered channel
    socket.emit("r2");
    nextReply(welcome({ session: T2, recovered: true, offset: 1n }));
    await dropAndReconnect(socket);
    expect(eventNames(lastServer())).toEqual(["v1", "r2"]);
  });

  it("does not count a volatile emit sent as a datagram", async () => {
    install(wtInfo, true);
    FakePeer.defaultReply = welcome({ session: T1 });
    const socket = await connect(URL, { randomizationFactor: 0 });
    opened.push(socket);
    const wt = FakeWebTransport.instances[0]!;
    socket.emit("r1");
    socket.volatile.emit("v1");
    socket.emit("r2");
    await advance(1);
    expect(wt.receivedDatagrams.map((f) => f.type === "Event" && f.name)).toEqual(["v1"]);
    nextReply(welcome({ session: T2, recovered: true, offset: 1n }));
    const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
    wt.close({ closeCode: 0x51540008 });
    await advance(1_010);
    await reconnected;
    expect(eventNames(FakeWebTransport.instances[1]!)).toEqual(["r2"]);
  });

  it("reports events_lost when the buffer no longer reaches back to the server's offset", async () => {
    const { socket } = await open({ replayBufferEvents: 2 });
    for (const name of ["e1", "e2", "e3", "e4", "e5"]) socket.emit(name);
    const lost: number[] = [];
    socket.on("events_lost", (count) => lost.push(count));
    nextReply(welcome({ session: T2, recovered: true, offset: 1n }));
    await dropAndReconnect(socket);
    expect(lost).toEqual([2]);
    expect(eventNames(lastServer())).toEqual(["e4", "e5"]);
  });

  it("flushes offline emits in order after reconnecting, and refuses one that does not fit", async () => {
    const { socket } = await open({ replayBufferEvents: 3 });
    drop();
    await advance(1);
    socket.emit("o1", 1);
    socket.emit("o2", 2);
    socket.emit("o3", 3);
    expect(() => socket.emit("o4", 4)).toThrow(OfflineBufferFullError);
    await advance(1_000);
    expect(socket.connected).toBe(true);
    expect(lastServer().sent("Event")).toEqual([
      { type: "Event", name: "o1", ack: null, data: json(1) },
      { type: "Event", name: "o2", ack: null, data: json(2) },
      { type: "Event", name: "o3", ack: null, data: json(3) },
    ]);
  });

  it("refuses an offline emit beyond the byte bound", async () => {
    const { socket } = await open({ replayBufferBytes: 64 });
    drop();
    await advance(1);
    socket.emit("small", "x".repeat(20));
    const err = (() => {
      try {
        socket.emit("big", "x".repeat(40));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OfflineBufferFullError);
    expect(err).toMatchObject({ kind: "OfflineBufferFull", maxBytes: 64 });
  });

  it("sends a replay the transport cannot take at once as its queue drains, with live emits behind it", async () => {
    const { socket } = await open();
    drop();
    await advance(1);
    socket.emit("o1", "x".repeat(300));
    socket.emit("o2");
    // The next WebSocket's send buffer is nearly full: Hello fits, the 300-byte event does not.
    class Congested extends FakeWebSocket {
      override bufferedAmount = 8 * 1024 * 1024 - 100;
    }
    vi.stubGlobal("WebSocket", Congested);
    await advance(1_000);
    const next = lastServer();
    expect(socket.connected).toBe(true);
    socket.emit("live");
    expect(eventNames(next)).toEqual([]);
    next.bufferedAmount = 0;
    await advance(10);
    expect(eventNames(next)).toEqual(["o1", "o2", "live"]);
    expect(next.sent("Disconnect")).toEqual([]);
  });

  it("fails emitWithAck at once while disconnected", async () => {
    const { socket } = await open();
    drop();
    await advance(1);
    const err = await socket.emitWithAck("asked").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmitError);
    expect(err).toMatchObject({ kind: "Disconnected" });
  });

  it("sends only the offline events when the session was not recovered", async () => {
    const { socket } = await open();
    socket.emit("before1");
    socket.emit("before2");
    drop();
    await advance(1);
    socket.emit("offline1");
    socket.emit("offline2");
    nextReply(welcome({ sid: SID_B, session: T2, recovered: false }));
    await advance(1_000);
    expect(socket.connected).toBe(true);
    expect(eventNames(lastServer())).toEqual(["offline1", "offline2"]);

    // Numbered from 1 in the new session: offset 1 means "offline2" again.
    nextReply(welcome({ sid: SID_B, session: T3, recovered: true, offset: 1n }));
    await dropAndReconnect(socket);
    expect(eventNames(lastServer())).toEqual(["offline2"]);
  });

  it("fails pending acks with Disconnected at a drop, and never sends them again", async () => {
    const { socket } = await open();
    const pending = socket.emitWithAck("asked").catch((e: unknown) => e);
    drop();
    const err = await pending;
    expect(err).toBeInstanceOf(EmitError);
    expect(err).toMatchObject({ kind: "Disconnected" });
    nextReply(welcome({ session: T2, recovered: true, offset: 0n }));
    await advance(1_010);
    expect(socket.connected).toBe(true);
    expect(lastServer().sent("Event")).toEqual([]);
  });

  it("does not answer an old connection's ack id on the new connection", async () => {
    const { socket, server } = await open();
    let answer: ((reply?: unknown) => void) | undefined;
    socket.on("ask", (_data, ack) => (answer = ack));
    server.push({ type: "Event", name: "ask", ack: 5n, data: json(null) });
    nextReply(welcome({ session: T2, recovered: true }));
    await dropAndReconnect(socket);
    answer!("late");
    expect(lastServer().sent("Ack")).toEqual([]);
  });
});

describe("presence across reconnections", () => {
  const meta = (id: bigint, value: unknown) => ({ id, data: json(value) });

  it("subscribes again to every active room, and the fresh state replaces the view without join or leave", async () => {
    const { socket, server } = await open();
    const lobby = socket.presence("lobby");
    const gone = socket.presence("gone");
    gone.unsubscribe();
    server.push({
      type: "PresenceState",
      room: "lobby",
      entries: [
        { key: "alice", metas: [meta(1n, "web")] },
        { key: "bob", metas: [meta(2n, "web")] },
      ],
    });
    const log: unknown[] = [];
    lobby.on("sync", () => log.push("sync"));
    lobby.on("join", (key) => log.push(["join", key]));
    lobby.on("leave", (key) => log.push(["leave", key]));
    lobby.on("end", () => log.push("end"));

    drop();
    await advance(1);
    const hall = socket.presence("hall"); // while disconnected: subscribed on reconnection
    nextReply(welcome({ sid: SID_B, session: T2, recovered: false }));
    await advance(1_000);
    const next = lastServer();
    expect(next.sent("PresenceSubscribe").map((f) => f.room)).toEqual(["lobby", "hall"]);

    // Alice stayed (a new meta id on the new server), bob left, carol came.
    next.push({ type: "PresenceDiff", room: "lobby", joins: [{ key: "early", metas: [meta(9n, 0)] }], leaves: [] });
    next.push({
      type: "PresenceState",
      room: "lobby",
      entries: [
        { key: "alice", metas: [meta(7n, "web")] },
        { key: "carol", metas: [meta(8n, "web")] },
      ],
    });
    expect(log).toEqual(["sync"]);
    expect([...lobby.state.keys()]).toEqual(["alice", "carol"]);
    expect(lobby.state.get("alice")).toEqual([{ id: 7n, data: "web" }]);
    expect(lobby.active).toBe(true);
    expect(hall.active).toBe(true);
  });

  it("drops the parts of a state the dropped connection did not complete", async () => {
    const { socket, server } = await open();
    const stadium = socket.presence("stadium");
    server.push({ type: "PresenceStatePart", room: "stadium", entries: [{ key: "stale", metas: [meta(1n, 0)] }] });
    drop();
    await advance(1);
    nextReply(welcome({ sid: SID_B, session: T2, recovered: false }));
    await advance(1_000);
    const next = lastServer();
    next.push({ type: "PresenceStatePart", room: "stadium", entries: [{ key: "a", metas: [meta(2n, 0)] }] });
    next.push({ type: "PresenceState", room: "stadium", entries: [{ key: "b", metas: [meta(3n, 0)] }] });
    expect([...stadium.state.keys()]).toEqual(["a", "b"]);
  });

  it("ends every subscription when the socket gives up", async () => {
    const { socket } = await open({ reconnectionAttempts: 1 });
    const lobby = socket.presence("lobby");
    const ended: string[] = [];
    lobby.on("end", (message) => ended.push(message));
    FakeWebSocket.refuse = true;
    drop();
    await advance(10_000);
    expect(ended).toEqual(["the connection closed"]);
    expect(lobby.active).toBe(false);
  });
});

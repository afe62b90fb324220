/**
 * Channels on WebTransport (PROTOCOL.md 2.2): the offer and the grant, the server's
 * unidirectional streams, per-channel offsets for a resume (10.6) and the goodbye that waits
 * for the channels. On fake timers, against the in-memory fakes: every wait is the client's.
 */

import { describe, expect, it, vi } from "vitest";

import { type Event, type Frame, type Welcome, decodeFrame, encodeFrame, withLengthPrefix } from "../src/codec.js";
import { type ConnectOptions, type Socket, connect, webStorageSession } from "../src/index.js";
import { Session } from "../src/session.js";
import { FakePeer, FakeWebSocket, FakeWebTransport, INFO, install, welcome, fakeClock, T1, T2, T3, SID_B, URL, json, wtInfo } from "./fakes.js";


/**
 * A Welcome with the session token `session`, granting `granted` channels and not the
 * delivery classes (classes.test.ts has those).
 */
const granting = (granted: number, overrides: Partial<Welcome> = {}): Welcome =>
  welcome({ session: T1, channels: { max_channels: granted, classes: false }, ...overrides });

/** An event `name` with the JSON payload `n`, without an ack id unless given. */
const ev = (name: string, n: number, ack: bigint | null = null): Event => ({ type: "Event", name, ack, data: json(n) });

const { opened, advance } = fakeClock();

/** The server end of the latest WebTransport session. */
const lastWt = (): FakeWebTransport => FakeWebTransport.instances.at(-1)!;

/** Connects over the fake WebTransport, answered with `first`; lets `connect` fire. */
async function openWt(
  options: ConnectOptions = {},
  first: Welcome = granting(4),
): Promise<{ socket: Socket; wt: FakeWebTransport; log: string[] }> {
  install(wtInfo, true);
  FakePeer.defaultReply = first;
  const socket = await connect(URL, { randomizationFactor: 0, ...options });
  opened.push(socket);
  const log: string[] = [];
  socket.onAny((name, data) => log.push(`${name}:${JSON.stringify(data)}`));
  socket.on("disconnect", (reason) => log.push(`disconnect:${reason}`));
  await advance(1); // `connect` fires on a timer
  return { socket, wt: lastWt(), log };
}

/** The session drops (a QUIC close carrying TransportClosed); resolves once reconnected. */
async function dropAndReconnect(socket: Socket, reply: Frame): Promise<void> {
  FakePeer.defaultReply = reply;
  const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
  lastWt().close({ closeCode: 0x51540008 });
  await advance(1_010);
  await reconnected;
}

/** The entries of `log` whose event name starts with `prefix`. */
const only = (log: string[], prefix: string) => log.filter((line) => line.startsWith(prefix));

describe("the offer and the grant", () => {
  it("offers maxChannels channels over WebTransport, 16 by default, and none for 0, with the classes", async () => {
    expect((await openWt()).wt.sent("Hello")[0]!.channels).toEqual({ max_channels: 16, offsets: [], classes: true });
    expect((await openWt({ maxChannels: 3 })).wt.sent("Hello")[0]!.channels).toEqual({ max_channels: 3, offsets: [], classes: true });
    expect((await openWt({ maxChannels: 0 })).wt.sent("Hello")[0]!.channels).toEqual({ max_channels: 0, offsets: [], classes: true });
  });

  it("offers no channels over WebSocket, and the classes", async () => {
    install(wtInfo, true);
    const pending = connect(URL, { transports: ["websocket"], maxChannels: 8 });
    await advance(1); // the fake WebSocket opens on a timer
    opened.push(await pending);
    expect(FakeWebSocket.instances[0]!.sent("Hello")[0]!.channels).toEqual({ max_channels: 0, offsets: [], classes: true });
  });

  it("reads the streams of the channels granted, and closes with ProtocolError on one above the grant", async () => {
    const { socket, wt, log } = await openWt({}, granting(2));
    wt.openUni(2).push(ev("two", 1));
    await advance(1);
    expect(log).toEqual(["two:1"]);
    wt.openUni(3).push(ev("three", 1));
    await advance(1);
    expect(log).toEqual(["two:1", "disconnect:ProtocolError"]);
    expect(socket.connected).toBe(false);
    expect(wt.sent("Disconnect")[0]).toMatchObject({ reason: 5 });
  });

  it("takes a grant above the offer as the offer", async () => {
    const { wt, log } = await openWt({ maxChannels: 2 }, granting(8));
    wt.openUni(2).push(ev("two", 1));
    wt.openUni(3).push(ev("three", 1));
    await advance(1);
    expect(log).toEqual(["two:1", "disconnect:ProtocolError"]);
  });

  it("takes a Welcome without a grant as none: any stream is a protocol error", async () => {
    const { wt, log } = await openWt({}, welcome({ session: T1, channels: null }));
    wt.openUni(1).push(ev("one", 1));
    await advance(1);
    expect(log).toEqual(["disconnect:ProtocolError"]);
  });
});

describe("channel streams", () => {
  it("delivers each channel's events in order, and a stalled channel holds back no other", async () => {
    const { wt, log } = await openWt();
    const one = wt.openUni(1);
    const two = wt.openUni(2);
    const held = withLengthPrefix(encodeFrame(ev("one", 2)));
    one.push(ev("one", 1)).write(held.subarray(0, 4)); // the rest of "one 2" is held back
    two.push(ev("two", 1)).push(ev("two", 2));
    wt.push(ev("zero", 1));
    await advance(1);
    expect(only(log, "one")).toEqual(["one:1"]);
    expect(only(log, "two")).toEqual(["two:1", "two:2"]);
    expect(only(log, "zero")).toEqual(["zero:1"]);

    one.write(held.subarray(4)).push(ev("one", 3));
    two.push(ev("two", 3));
    await advance(1);
    expect(only(log, "one")).toEqual(["one:1", "one:2", "one:3"]);
    expect(only(log, "two")).toEqual(["two:1", "two:2", "two:3"]);
  });

  it("reads a channel number in its u16 form, fb and two bytes", async () => {
    const { wt, log } = await openWt({ maxChannels: 300 }, granting(300));
    wt.openUni(null).write([0xfb, 0x2c, 0x01]).push(ev("c300", 1)); // channel 300
    await advance(1);
    expect(log).toEqual(["c300:1"]);
  });

  it("reads a stream that came before Welcome only once Welcome is handled", async () => {
    install(wtInfo, true);
    FakePeer.defaultReply = null; // the test answers Hello itself
    const pending = connect(URL, { randomizationFactor: 0 });
    await advance(1);
    const wt = lastWt();
    expect(wt.sent("Hello")).toHaveLength(1);
    wt.openUni(1).push(ev("early", 1));
    await advance(1); // the stream's frame is there to be read, before Welcome
    wt.push(granting(4));
    const socket = await pending;
    opened.push(socket);
    const log: string[] = [];
    socket.on("connect", () => log.push("connect"));
    socket.onAny((name) => log.push(name));
    await advance(1);
    expect(log).toEqual(["connect", "early"]);
  });

  const violations: [string, (wt: FakeWebTransport) => unknown][] = [
    ["a stream for channel 0", (wt) => wt.openUni(0).push(ev("zero", 1))],
    ["a stream above the grant", (wt) => wt.openUni(5).push(ev("five", 1))],
    ["a second stream for one channel", (wt) => [wt.openUni(1), wt.openUni(1)]],
    ["an event with an ack id on a channel", (wt) => wt.openUni(1).push(ev("acked", 1, 7n))],
    ["a frame other than an event on a channel", (wt) => wt.openUni(1).push({ type: "Ping", id: 1n })],
    ["a channel number not in its shortest form", (wt) => wt.openUni(null).write([0xfb, 0x01, 0x00])],
    ["a channel number wider than a u16", (wt) => wt.openUni(null).write([0xfc, 0x01, 0x00, 0x00, 0x00])],
  ];

  it.each(violations)("closes with ProtocolError on %s", async (_, violate) => {
    const { socket, wt, log } = await openWt();
    violate(wt);
    await advance(1);
    expect(log).toEqual(["disconnect:ProtocolError"]);
    expect(socket.connected).toBe(false);
    expect(wt.sent("Disconnect")).toEqual([{ type: "Disconnect", reason: 5, message: expect.any(String) }]);
    expect(wt.closeInfo?.closeCode).toBe(0x51540005);
  });
});

describe("offsets", () => {
  it("resumes with channel 0's count in resume.offset and each other channel's in channels.offsets", async () => {
    const { socket, wt } = await openWt();
    wt.push(ev("zero", 1));
    wt.push(ev("zero", 2));
    wt.push(ev("zero", 3, 9n)); // an ack id: not counted
    wt.sendDatagram(ev("volatile", 1)); // a datagram: not counted
    wt.openUni(3).push(ev("three", 1));
    wt.openUni(1).push(ev("one", 1)).push(ev("one", 2)).push(ev("one", 3));
    await advance(1);
    await dropAndReconnect(socket, granting(4, { session: T2, recovered: true }));
    const hello = lastWt().sent("Hello")[0]!;
    expect(hello.resume).toEqual({ token: T1, offset: 2n });
    expect(hello.channels).toEqual({
      max_channels: 16,
      offsets: [
        { channel: 1, offset: 3n },
        { channel: 3, offset: 1n },
      ],
      classes: true,
    });
  });

  it("keeps every channel's count across a recovered resume, and starts them all again in a new session", async () => {
    const { socket, wt } = await openWt();
    wt.openUni(1).push(ev("one", 1)).push(ev("one", 2));
    wt.push(ev("zero", 1));
    await advance(1);
    await dropAndReconnect(socket, granting(4, { session: T2, recovered: true }));
    lastWt().openUni(1).push(ev("one", 3)); // the resumed connection's own stream for channel 1
    await advance(1);

    await dropAndReconnect(socket, granting(4, { sid: SID_B, session: T3, recovered: false }));
    const resumed = lastWt().sent("Hello")[0]!;
    expect(resumed.resume).toEqual({ token: T2, offset: 1n });
    expect(resumed.channels).toEqual({ max_channels: 16, offsets: [{ channel: 1, offset: 3n }], classes: true });
    expect(socket.recovered).toBe(false);
    lastWt().openUni(2).push(ev("two", 1));
    await advance(1);

    await dropAndReconnect(socket, granting(4, { session: T1, recovered: true }));
    const renewed = lastWt().sent("Hello")[0]!;
    expect(renewed.resume).toEqual({ token: T3, offset: 0n });
    expect(renewed.channels).toEqual({ max_channels: 16, offsets: [{ channel: 2, offset: 1n }], classes: true });
  });

  it("keeps each channel's count in a stored session, for the next page's resume", async () => {
    const items = new Map<string, string>();
    const storage = {
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => void items.set(key, value),
      removeItem: (key: string) => void items.delete(key),
    } as unknown as Storage;
    const { wt } = await openWt({ session: webStorageSession("chat", storage) });
    wt.push(ev("zero", 1));
    wt.openUni(2).push(ev("two", 1)).push(ev("two", 2));
    await advance(1);
    expect(JSON.parse(items.get("chat")!)).toEqual({ token: "01".repeat(16), offset: "1", channels: { "2": "2" } });

    // The page goes away without a word; the next one resumes from the same storage.
    const next = await openWt({ session: webStorageSession("chat", storage) }, granting(4, { session: T2, recovered: true }));
    const hello = next.wt.sent("Hello")[0]!;
    expect(hello.resume).toEqual({ token: T1, offset: 1n });
    expect(hello.channels).toEqual({ max_channels: 16, offsets: [{ channel: 2, offset: 2n }], classes: true });
  });
});

describe("the server's goodbye", () => {
  /** A ServerDisconnect: the socket does not reconnect after it. */
  const goodbye: Frame = { type: "Disconnect", reason: 2, message: "bye" };

  it("is handled once every channel stream has been read to its end, after their events", async () => {
    const { wt, log } = await openWt();
    const one = wt.openUni(1).push(ev("one", 1));
    const two = wt.openUni(2);
    await advance(1);
    wt.push(goodbye);
    two.push(ev("two", 1)); // sent before the goodbye, read after it
    await advance(1);
    expect(log).toEqual(["one:1", "two:1"]);
    one.push(ev("one", 2)).finish();
    two.finish();
    await advance(40); // within the grace for a stream not surfaced yet
    expect(log).toEqual(["one:1", "two:1", "one:2"]);
    await advance(20);
    expect(log).toEqual(["one:1", "two:1", "one:2", "disconnect:ServerDisconnect"]);
  });

  it("also reads a stream that surfaces within the grace", async () => {
    const { wt, log } = await openWt();
    wt.openUni(1).push(ev("one", 1)).finish();
    await advance(1);
    wt.push(goodbye);
    await advance(30);
    const late = wt.openUni(2).push(ev("two", 1));
    await advance(30); // an open stream is waited for; the grace starts again once it ends
    expect(log).toEqual(["one:1", "two:1"]);
    late.finish();
    await advance(60);
    expect(log).toEqual(["one:1", "two:1", "disconnect:ServerDisconnect"]);
  });

  it("waits at most 2 s for a channel stream that does not end", async () => {
    const { wt, log } = await openWt();
    wt.openUni(1).push(ev("one", 1));
    await advance(1);
    wt.push(goodbye);
    await advance(1_990);
    expect(log).toEqual(["one:1"]);
    await advance(20);
    expect(log).toEqual(["one:1", "disconnect:ServerDisconnect"]);
  });

  it("is handled at once without a grant", async () => {
    const { wt, log } = await openWt({}, granting(0));
    wt.push(ev("zero", 1));
    wt.push(goodbye);
    await advance(1);
    expect(log).toEqual(["zero:1", "disconnect:ServerDisconnect"]);
  });
});

describe("a session that falls back to one channel", () => {
  it("names its channels' offsets with an offer of none, as a resume over WebSocket does", () => {
    const session = new Session();
    session.welcomed(granting(4));
    session.count(0);
    session.count(2);
    session.count(2);
    const hello = decodeFrame(session.hello(new Uint8Array(0), 0));
    expect(hello.type === "Hello" && hello.resume).toEqual({ token: T1, offset: 1n });
    expect(hello.type === "Hello" && hello.channels).toEqual({ max_channels: 0, offsets: [{ channel: 2, offset: 2n }], classes: true });

    // Carried on over channel 0 alone: later events count there, the others keep theirs.
    session.welcomed(granting(0, { session: T2, recovered: true }));
    session.count(0);
    const next = decodeFrame(session.hello(new Uint8Array(0), 0));
    expect(next.type === "Hello" && next.resume).toEqual({ token: T2, offset: 2n });
    expect(next.type === "Hello" && next.channels).toEqual({ max_channels: 0, offsets: [{ channel: 2, offset: 2n }], classes: true });
  });

  it("offers no channels and no offsets over WebSocket when it has no channel's offsets", () => {
    const session = new Session();
    session.welcomed(welcome({ session: T1 }));
    session.count(0);
    const hello = decodeFrame(session.hello(new Uint8Array(0), 0));
    expect(hello.type === "Hello" && hello.channels).toEqual({ max_channels: 0, offsets: [], classes: true });
  });
});

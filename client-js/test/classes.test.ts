/**
 * Delivery classes (PROTOCOL.md 2.3): the stale rule for `Sequenced` frames, single-frame
 * streams, and the client's emits of each class with and without the classes agreed. On fake
 * timers, against the in-memory fakes: every wait is the client's.
 */

import { describe, expect, it, vi } from "vitest";

import { Freshness, MAX_REMEMBERED, nextSeq } from "../src/classes.js";
import { type Event, type Frame, type Sequenced, type Welcome, encodeFrame, withLengthPrefix } from "../src/codec.js";
import { type ConnectOptions, type Socket, connect } from "../src/index.js";
import { FakePeer, FakeWebSocket, FakeWebTransport, INFO, T1, T2, URL, fakeClock, install, json, welcome, wtInfo } from "./fakes.js";

const { opened, advance } = fakeClock();

/** A Welcome with the session token T1, granting `granted` channels, and the classes unless told. */
const granting = (granted: number, classes = true, overrides: Partial<Welcome> = {}): Welcome =>
  welcome({ session: T1, channels: { max_channels: granted, classes }, ...overrides });

/** An event `name` with the JSON payload `n`, without an ack id unless given. */
const ev = (name: string, n: number, ack: bigint | null = null): Event => ({ type: "Event", name, ack, data: json(n) });

/** A value of `name` and `key` stamped `seq`, with the JSON payload `n`. */
const sq = (name: string, key: string, seq: bigint, n: number): Sequenced => ({ type: "Sequenced", name, key, seq, data: json(n) });

/** What the application heard, as `name:payload` lines, and each disconnect's reason. */
function listen(socket: Socket): string[] {
  const log: string[] = [];
  socket.onAny((name, data) => log.push(`${name}:${JSON.stringify(data)}`));
  socket.on("disconnect", (reason) => log.push(`disconnect:${reason}`));
  return log;
}

/** Connects over the fake WebTransport, answered with `first`; lets `connect` fire. */
async function openWt(first: Welcome = granting(4), options: ConnectOptions = {}) {
  install(wtInfo, true);
  FakePeer.defaultReply = first;
  const socket = await connect(URL, { randomizationFactor: 0, ...options });
  opened.push(socket);
  const log = listen(socket);
  await advance(1); // `connect` fires on a timer
  return { socket, wt: FakeWebTransport.instances.at(-1)!, log };
}

/** Connects over the fake WebSocket, answered with `first`; lets `connect` fire. */
async function openWs(first: Welcome = granting(0)) {
  install(INFO);
  FakePeer.defaultReply = first;
  const pending = connect(URL, { randomizationFactor: 0 });
  await advance(1); // the fake WebSocket opens on a timer
  const socket = await pending;
  opened.push(socket);
  const log = listen(socket);
  await advance(1);
  return { socket, ws: FakeWebSocket.instances.at(-1)!, log };
}

/** Drops the connection and lets the first reconnection, answered with `reply`, through. */
async function dropAndReconnect(socket: Socket, drop: () => void, reply: Frame): Promise<void> {
  FakePeer.defaultReply = reply;
  const reconnected = new Promise((resolve) => socket.once("reconnected", resolve));
  drop();
  await advance(1_010);
  await reconnected;
}

describe("the stale rule", () => {
  it("handles a value above the newest of its name and key, and drops one at or below it", () => {
    const fresh = new Freshness();
    expect(fresh.admit("pos", "", 5n)).toBe(true);
    expect(fresh.admit("pos", "", 5n)).toBe(false);
    expect(fresh.admit("pos", "", 4n)).toBe(false);
    expect(fresh.admit("pos", "", 6n)).toBe(true);
    expect(fresh.admit("pos", "", 2n ** 64n - 1n)).toBe(true);
    expect(fresh.admit("pos", "", 2n ** 64n - 2n)).toBe(false);
    expect(fresh.stale).toBe(3);
  });

  it("keeps one order per name and per key, without mistaking one pair for another", () => {
    const fresh = new Freshness();
    expect(fresh.admit("pos", "", 9n)).toBe(true);
    expect(fresh.admit("pos", "p2", 1n)).toBe(true);
    expect(fresh.admit("snap", "", 1n)).toBe(true);
    expect(fresh.admit("ab", "c", 9n)).toBe(true);
    expect(fresh.admit("a", "bc", 1n)).toBe(true);
    expect(fresh.admit("pos", "p2", 1n)).toBe(false);
    expect(fresh.stale).toBe(1);
  });

  it("remembers 4 096 pairs, and then forgets the one with the lowest seq", () => {
    const fresh = new Freshness();
    for (let i = 0; i < MAX_REMEMBERED; i++) fresh.admit("e", String(i), i === 7 ? 500n : BigInt(1000 + i));
    expect(fresh.admit("e", "new", 5000n)).toBe(true); // pushes out "7", the lowest, not "0", the first
    expect(fresh.admit("e", "7", 400n)).toBe(true); // forgotten: its stale value passes once
    expect(fresh.admit("e", "new", 5000n)).toBe(false);
    // "7" came back and pushed out the next lowest, "0"; every other pair is still known.
    for (let i = 1; i < MAX_REMEMBERED; i++) expect(fresh.admit("e", String(i), BigInt(1000 + i))).toBe(i === 7);
    expect(fresh.admit("e", "0", 1000n)).toBe(true);
  });
});

describe("the client's clock", () => {
  it("stamps microseconds since the epoch, strictly increasing within a millisecond and when the clock goes back", () => {
    const ms = Date.UTC(2100, 0, 1);
    vi.setSystemTime(ms);
    const first = nextSeq();
    expect(first).toBe(BigInt(ms) * 1000n);
    expect(nextSeq()).toBe(first + 1n);
    vi.setSystemTime(ms - 1);
    expect(nextSeq()).toBe(first + 2n);
    vi.setSystemTime(ms + 1);
    expect(nextSeq()).toBe(BigInt(ms + 1) * 1000n);
  });
});

describe("receiving Sequenced frames", () => {
  it("handles them as events from a datagram, channel 0 and a single-frame stream, and drops stale ones", async () => {
    const { socket, wt, log } = await openWt();
    wt.sendDatagram(sq("pos", "", 10n, 1));
    await advance(1);
    wt.push(sq("pos", "", 9n, 2)); // older
    await advance(1);
    wt.openUni(0).push(sq("pos", "", 11n, 3)).finish();
    await advance(1);
    wt.sendDatagram(sq("pos", "", 11n, 4)); // the same seq
    wt.push(sq("pos", "p2", 1n, 5)); // another key
    wt.push(sq("hp", "", 1n, 6)); // another name
    await advance(1);
    expect(log).toEqual(["pos:1", "pos:3", "pos:5", "hp:6"]);
    expect(socket.staleDropped).toBe(2);
    expect(socket.connected).toBe(true);
  });

  it("handles them on channel 0 over WebSocket", async () => {
    const { socket, ws, log } = await openWs();
    ws.push(sq("pos", "", 2n, 1));
    ws.push(sq("pos", "", 1n, 2));
    await advance(1);
    expect(log).toEqual(["pos:1"]);
    expect(socket.staleDropped).toBe(1);
  });

  it("remembers the newest values across a reconnection", async () => {
    const { socket, wt, log } = await openWt();
    wt.push(sq("pos", "", 5n, 1));
    await advance(1);
    await dropAndReconnect(socket, () => wt.close({ closeCode: 0x51540008 }), granting(4, true, { session: T2, recovered: true }));
    const next = FakeWebTransport.instances.at(-1)!;
    next.push(sq("pos", "", 5n, 2));
    next.push(sq("pos", "", 6n, 3));
    await advance(1);
    expect(log).toEqual(["pos:1", "disconnect:TransportClosed", "pos:3"]);
    expect(socket.staleDropped).toBe(1);
  });

  it("counts neither them nor a single-frame stream's event toward the offsets", async () => {
    const { socket, wt, log } = await openWt();
    wt.push(sq("pos", "", 1n, 1));
    wt.openUni(0).push(ev("loot", 1)).finish();
    await advance(1);
    wt.push(ev("zero", 1));
    await advance(1);
    expect(log).toEqual(["pos:1", "loot:1", "zero:1"]);
    await dropAndReconnect(socket, () => wt.close({ closeCode: 0x51540008 }), granting(4, true, { session: T2, recovered: true }));
    const hello = FakeWebTransport.instances.at(-1)!.sent("Hello")[0]!;
    expect(hello.resume).toEqual({ token: T1, offset: 1n });
    expect(hello.channels).toEqual({ max_channels: 16, offsets: [], classes: true });
  });

  const refusals: [string, Welcome, (wt: FakeWebTransport) => unknown][] = [
    ["on channel 0 without the classes", granting(4, false), (wt) => wt.push(sq("pos", "", 1n, 1))],
    ["as a datagram without the classes", granting(4, false), (wt) => wt.sendDatagram(sq("pos", "", 1n, 1))],
    ["on a channel above 0", granting(4), (wt) => wt.openUni(1).push(sq("pos", "", 1n, 1))],
  ];

  it.each(refusals)("closes with ProtocolError on one %s", async (_, first, send) => {
    const { socket, wt, log } = await openWt(first);
    send(wt);
    await advance(1);
    expect(log).toEqual(["disconnect:ProtocolError"]);
    expect(socket.connected).toBe(false);
    expect(wt.sent("Disconnect")).toEqual([{ type: "Disconnect", reason: 5, message: expect.any(String) }]);
  });
});

describe("single-frame streams", () => {
  it("handles each frame on arrival, many streams at once, in no order", async () => {
    const { socket, wt, log } = await openWt();
    const slow = withLengthPrefix(encodeFrame(ev("a", 1)));
    const first = wt.openUni(0).write(slow.subarray(0, 3)); // the rest is held back
    wt.openUni(0).push(ev("b", 2)); // handled before its stream ends
    await advance(1);
    expect(log).toEqual(["b:2"]);
    first.write(slow.subarray(3));
    await advance(1);
    expect(log).toEqual(["b:2", "a:1"]);
    expect(socket.connected).toBe(true);
  });

  it("ignores a stream the server reset, even inside its frame", async () => {
    const { socket, wt, log } = await openWt();
    const frame = withLengthPrefix(encodeFrame(sq("snap", "m7", 18n, 1)));
    wt.openUni(0).write(frame.subarray(0, 5)).reset();
    wt.openUni(0).reset(); // right after its header
    await advance(1);
    wt.openUni(0).push(sq("snap", "m7", 19n, 2)).finish();
    await advance(1);
    expect(log).toEqual(["snap:2"]);
    expect(socket.connected).toBe(true);
  });

  it("reads a stream that came before Welcome only once Welcome is handled", async () => {
    install(wtInfo, true);
    FakePeer.defaultReply = null; // the test answers Hello itself
    const pending = connect(URL, { randomizationFactor: 0 });
    await advance(1);
    const wt = FakeWebTransport.instances.at(-1)!;
    wt.openUni(0).push(sq("early", "", 1n, 1)).finish();
    wt.openUni(0).push(ev("early", 2)).finish();
    await advance(1); // the streams' frames are there to be read, before Welcome
    wt.push(granting(4));
    const socket = await pending;
    opened.push(socket);
    const log: string[] = [];
    socket.on("connect", () => log.push("connect"));
    socket.onAny((name, data) => log.push(`${name}:${data}`));
    await advance(1);
    expect(log).toEqual(["connect", "early:1", "early:2"]);
  });

  const violations: [string, Welcome, (wt: FakeWebTransport) => unknown][] = [
    ["two frames", granting(4), (wt) => wt.openUni(0).push(ev("one", 1)).push(ev("two", 2)).finish()],
    ["two frames in one chunk", granting(4), (wt) => wt.openUni(0).write([...withLengthPrefix(encodeFrame(ev("one", 1))), ...withLengthPrefix(encodeFrame(ev("two", 2)))])],
    ["a byte after its frame", granting(4), (wt) => wt.openUni(0).push(ev("one", 1)).write([0x05])],
    ["an end inside its frame", granting(4), (wt) => wt.openUni(0).write(withLengthPrefix(encodeFrame(ev("x", 1))).subarray(0, 4)).finish()],
    ["an event with an ack id", granting(4), (wt) => wt.openUni(0).push(ev("acked", 1, 7n)).finish()],
    ["another frame", granting(4), (wt) => wt.openUni(0).push({ type: "Ping", id: 1n }).finish()],
    ["no classes agreed", granting(4, false), (wt) => wt.openUni(0).push(ev("x", 1)).finish()],
    ["the classes but no channel granted", granting(0), (wt) => wt.openUni(0).push(ev("x", 1)).finish()],
  ];

  it.each(violations)("closes with ProtocolError on %s", async (_, first, violate) => {
    const { socket, wt, log } = await openWt(first);
    violate(wt);
    await advance(1);
    expect(log.filter((line) => line !== "one:1")).toEqual(["disconnect:ProtocolError"]);
    expect(socket.connected).toBe(false);
    expect(wt.sent("Disconnect")).toEqual([{ type: "Disconnect", reason: 5, message: expect.any(String) }]);
  });
});

/** The `type`, `name` and `key` of frames, for comparing what was sent whatever the seq. */
const shapes = (frames: Frame[]) =>
  frames.map((f) => (f.type === "Sequenced" ? `Sequenced ${f.name} ${JSON.stringify(f.key)}` : f.type === "Event" ? `Event ${f.name} ${f.ack}` : f.type));

describe("emitting each class", () => {
  it("sends sequenced values as datagrams, latest ones on the stream so the newest arrives, with increasing seqs", async () => {
    const { socket, wt } = await openWt();
    socket.sequenced.emit("pos", 1);
    socket.latest("p7").emit("pos", 2);
    socket.unordered.emit("loot", 3);
    await advance(1);
    expect(shapes(wt.receivedDatagrams)).toEqual(['Sequenced pos ""']);
    expect(shapes(wt.received)).toEqual(["Hello", 'Sequenced pos "p7"', "Event loot null"]);
    const [a] = wt.receivedDatagrams as Sequenced[];
    const b = wt.received[1] as Sequenced;
    expect(b.seq).toBeGreaterThan(a!.seq);
    expect(a!.data).toEqual(json(1));
  });

  it("sends a value too large for a datagram on the connection's stream", async () => {
    const { socket, wt } = await openWt();
    const big = "x".repeat(1300); // above the datagram limit of 1 200
    socket.sequenced.emit("pos", big);
    socket.latest("k").emit("pos", big);
    await advance(1);
    expect(wt.receivedDatagrams).toEqual([]);
    expect(shapes(wt.received)).toEqual(["Hello", 'Sequenced pos ""', 'Sequenced pos "k"']);
  });

  it("sends sequenced and latest values on the connection over WebSocket", async () => {
    const { socket, ws } = await openWs();
    socket.sequenced.emit("pos", 1);
    socket.latest("p7").emit("pos", 2);
    socket.unordered.emit("loot", 3);
    expect(shapes(ws.received)).toEqual(["Hello", 'Sequenced pos ""', 'Sequenced pos "p7"', "Event loot null"]);
  });

  it("never sends a Sequenced again after a resume, nor counts it", async () => {
    const { socket, ws } = await openWs(granting(0, true));
    socket.emit("r1");
    socket.sequenced.emit("pos", 1);
    socket.latest("k").emit("pos", 2);
    socket.emit("r2");
    await dropAndReconnect(socket, () => ws.serverClose(1006), granting(0, true, { session: T2, recovered: true, offset: 1n }));
    expect(shapes(FakeWebSocket.instances.at(-1)!.received)).toEqual(["Hello", "Event r2 null"]);
  });

  it("drops sequenced and latest values while disconnected, and holds unordered ones", async () => {
    const { socket, ws } = await openWs();
    FakePeer.defaultReply = granting(0, true, { session: T2, recovered: true });
    ws.serverClose(1006);
    await advance(1);
    socket.sequenced.emit("pos", 1);
    socket.latest("k").emit("pos", 2);
    socket.unordered.emit("loot", 3);
    await advance(1_010);
    expect(socket.connected).toBe(true);
    expect(shapes(FakeWebSocket.instances.at(-1)!.received)).toEqual(["Hello", "Event loot null"]);
  });

  it("degrades without the classes: sequenced to a volatile event, latest and unordered to reliable ones", async () => {
    const { socket, wt } = await openWt(granting(4, false));
    socket.sequenced.emit("pos", 1);
    socket.latest("k").emit("snap", 2);
    socket.unordered.emit("loot", 3);
    await advance(1);
    expect(shapes(wt.receivedDatagrams)).toEqual(["Event pos null"]);
    expect(shapes(wt.received)).toEqual(["Hello", "Event snap null", "Event loot null"]);
  });

  it("degrades without the classes over WebSocket too", async () => {
    const { socket, ws } = await openWs(granting(0, false));
    socket.sequenced.emit("pos", 1);
    socket.latest("k").emit("snap", 2);
    expect(shapes(ws.received)).toEqual(["Hello", "Event pos null", "Event snap null"]);
  });
});

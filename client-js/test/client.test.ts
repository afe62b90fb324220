/**
 * The client against in-memory fakes of fetch, WebSocket and WebTransport (test/fakes.ts).
 * These check the client's protocol logic; they are no substitute for a real browser and a
 * real server.
 */

import { afterEach, describe, expect, it, vi } from "vitest";

import {
  AckError,
  ConnectError,
  DatagramTooLargeError,
  EmitError,
  type ConnectOptions,
  TimeoutError,
  connect as openSocket,
  type Socket,
} from "../src/index.js";
import {
  FakePeer,
  FakeWebSocket,
  FakeWebTransport,
  INFO,
  SID_HEX,
  install,
  tick,
  until,
  welcome,
} from "./fakes.js";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Every socket a test opened: closed after it, so no reconnection outlives its test. */
const opened: Socket[] = [];

async function connect(url: string, options?: ConnectOptions): Promise<Socket> {
  const socket = await openSocket(url, options);
  opened.push(socket);
  return socket;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((socket) => socket.disconnect()));
  vi.unstubAllGlobals();
});

/** Connects over the fake WebSocket; returns the socket and the server end. */
async function connected(options: ConnectOptions = {}): Promise<{ socket: Socket; server: FakeWebSocket }> {
  install();
  const socket = await connect("http://127.0.0.1:8080", options);
  const server = FakeWebSocket.instances[0]!;
  return { socket, server };
}

describe("connect over WebSocket", () => {
  it("discovers, sends Hello, and resolves on Welcome", async () => {
    const { fetched } = install();
    const socket = await connect("http://127.0.0.1:8080/app", { auth: { token: "abc" } });
    const server = FakeWebSocket.instances[0]!;
    expect(fetched).toEqual(["http://127.0.0.1:8080/quicket/info"]);
    expect(server.url).toBe(INFO.websocket);
    expect(server.binaryType).toBe("arraybuffer");
    expect(server.received).toEqual([
      {
        type: "Hello",
        version: 1,
        codec: "json",
        client_name: "quicket-js",
        client_version: "0.1.0",
        max_frame_size: 1048576,
        auth: json({ token: "abc" }),
        resume: null,
        channels: { max_channels: 0, offsets: [], classes: true },
      },
    ]);
    expect(socket.id).toBe(SID_HEX);
    expect(socket.transport).toBe("websocket");
    expect(socket.connected).toBe(true);
  });

  it("sends empty auth when none is given", async () => {
    const { server } = await connected();
    expect(server.sent("Hello")[0]!.auth).toEqual(new Uint8Array(0));
  });

  it("fires connect after the caller's await, with frames that came with Welcome", async () => {
    install();
    FakePeer.afterReply = [{ type: "Event", name: "hi", ack: null, data: json(1) }];
    const seen: string[] = [];
    const socket = await connect("http://127.0.0.1:8080");
    socket.on("connect", () => seen.push("connect"));
    socket.on("hi", (n: number) => seen.push(`hi ${n}`));
    await tick();
    expect(seen).toEqual(["connect", "hi 1"]);
  });

  it("rejects with a typed ConnectError on Reject", async () => {
    install();
    FakePeer.defaultReply = { type: "Reject", reason: 1, message: "bad token", data: json({ retry: 5 }) };
    const err = await connect("http://127.0.0.1:8080").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ kind: "Rejected", reason: 1, reasonName: "Unauthorized" });
    expect((err as ConnectError).data).toEqual({ retry: 5 });
    expect((err as ConnectError).message).toContain("bad token");
    expect(FakeWebSocket.instances[0]!.sent("Disconnect")).toEqual([]);
  });

  it("keeps an unknown reject code, with empty data", async () => {
    install();
    FakePeer.defaultReply = { type: "Reject", reason: 0, message: "", data: new Uint8Array(0) };
    const err = await connect("http://127.0.0.1:8080").catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "Rejected", reason: 0, reasonName: "Other", data: undefined });
  });

  it("times out without a handshake reply", async () => {
    install();
    FakePeer.defaultReply = null;
    const err = await connect("http://127.0.0.1:8080", { timeout: 30 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "Timeout" });
  });

  it("fails with kind Protocol when the first reply is not Welcome or Reject", async () => {
    install();
    FakePeer.defaultReply = { type: "Ping", id: 1n };
    const err = await connect("http://127.0.0.1:8080").catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "Protocol" });
  });

  it("connects to a ws:// URL directly, without discovery", async () => {
    const { fetched } = install();
    const socket = await connect("ws://127.0.0.1:9000/quicket");
    expect(fetched).toEqual([]);
    expect(FakeWebSocket.instances[0]!.url).toBe("ws://127.0.0.1:9000/quicket");
    expect(socket.transport).toBe("websocket");
  });

  it("fails with kind Transport when nothing opens", async () => {
    install();
    FakeWebSocket.refuse = true;
    const err = await connect("http://127.0.0.1:8080").catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "Transport" });
  });
});

describe("events and acks", () => {
  it("emits events as Event frames with JSON payloads", async () => {
    const { socket, server } = await connected();
    socket.emit("chat", "hi");
    socket.emit("nothing");
    expect(server.sent("Event")).toEqual([
      { type: "Event", name: "chat", ack: null, data: json("hi") },
      { type: "Event", name: "nothing", ack: null, data: json(null) },
    ]);
  });

  it("resolves emitWithAck with the Ack's payload and ignores a late duplicate", async () => {
    const { socket, server } = await connected();
    server.onFrame = (f) => {
      if (f.type === "Event" && f.ack !== null) {
        server.push({ type: "Ack", id: f.ack, data: json({ echoed: text(f.data) }) });
        server.push({ type: "Ack", id: f.ack, data: json("again") });
      }
    };
    await expect(socket.emitWithAck("echo", "x")).resolves.toEqual({ echoed: '"x"' });
    await expect(socket.emitWithAck("echo", 2)).resolves.toEqual({ echoed: "2" });
    const ids = server.sent("Event").map((e) => e.ack);
    expect(ids).toEqual([1n, 2n]);
  });

  it("carries Uint8Array data as binary both ways: events, replies and acks", async () => {
    const { socket, server } = await connected();
    const binary = (...bytes: number[]) => Uint8Array.from([0, ...bytes]);
    server.onFrame = (f) => {
      if (f.type === "Event" && f.ack !== null) server.push({ type: "Ack", id: f.ack, data: binary(...f.data.slice(1).reverse()) });
    };
    await expect(socket.emitWithAck("reverse", Uint8Array.from([1, 2, 3]))).resolves.toEqual(Uint8Array.from([3, 2, 1]));
    expect(server.sent("Event")[0]!.data).toEqual(binary(1, 2, 3));
    const got: unknown[] = [];
    socket.on("blob", (data, ack) => {
      got.push(data);
      ack?.(Uint8Array.from([7]));
    });
    server.push({ type: "Event", name: "blob", ack: 5n, data: binary(0xff, 0) });
    await until(() => server.sent("Ack").length === 1);
    expect(got).toEqual([Uint8Array.from([0xff, 0])]);
    expect(server.sent("Ack")[0]).toEqual({ type: "Ack", id: 5n, data: binary(7) });
  });

  it("answers every ack: an async handler that never acks, a message that cannot be encoded", async () => {
    const { socket, server } = await connected();
    socket.on("quiet", async () => {});
    socket.on("broken", () => {
      throw new Error("bad \uD83D"); // a lone surrogate has no UTF-8 form
    });
    socket.on("error", () => {});
    server.push({ type: "Event", name: "broken", ack: 8n, data: json(null) });
    server.push({ type: "Event", name: "quiet", ack: 7n, data: json(null) });
    await until(() => server.sent("AckError").length === 2);
    const answers = server.sent("AckError");
    expect(answers.map((a) => a.id)).toEqual([8n, 7n]);
    expect(answers[0]?.message).toBe("bad \uFFFD");
    expect(answers[1]?.message).toBe("the handler did not acknowledge");
    expect(socket.connected).toBe(true);
  });

  it("keeps reading when an error listener throws", async () => {
    const { socket, server } = await connected();
    const seen: string[] = [];
    socket.on("error", () => {
      throw new Error("listener bug");
    });
    socket.on("boom", () => {
      throw new Error("handler bug");
    });
    socket.on("after", (data) => seen.push(data as string));
    const uncaught = new Promise((resolve) => process.once("uncaughtException", resolve));
    server.push({ type: "Event", name: "boom", ack: null, data: json(null) });
    server.push({ type: "Event", name: "after", ack: null, data: json("still reading") });
    await until(() => seen.length === 1);
    expect(seen).toEqual(["still reading"]);
    expect(socket.connected).toBe(true);
    expect(((await uncaught) as Error).message).toBe("listener bug");
  });

  it("rejects emitWithAck with AckError and TimeoutError", async () => {
    const { socket, server } = await connected();
    server.onFrame = (f) => {
      if (f.type === "Event" && f.name === "bad" && f.ack !== null) {
        server.push({ type: "AckError", id: f.ack, message: "nope" });
      }
    };
    const bad = await socket.emitWithAck("bad").catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(AckError);
    expect((bad as Error).message).toBe("nope");
    const slow = await socket.emitWithAck("slow", null, { timeout: 20 }).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(TimeoutError);
    // A reply after the timeout is ignored.
    server.push({ type: "Ack", id: 2n, data: json(1) });
    expect(socket.connected).toBe(true);
  });

  it("refuses emits it cannot send", async () => {
    const { socket } = await connected();
    expect(() => socket.emit("x".repeat(257))).toThrow(EmitError);
    expect(() => socket.emit("big", 1n)).toThrow(/json/);
    const huge = "x".repeat(1 << 20);
    expect(() => socket.emit("big", huge)).toThrow(expect.objectContaining({ kind: "FrameTooLarge" }));
    expect(socket.connected).toBe(true);
  });

  it("answers an incoming event's ack exactly once", async () => {
    const { socket, server } = await connected();
    socket.on("add", (nums: number[], ack) => {
      ack?.(nums.reduce((a, b) => a + b, 0));
      ack?.("twice");
    });
    server.push({ type: "Event", name: "add", ack: 7n, data: json([1, 2, 3]) });
    await tick();
    expect(server.sent("Ack")).toEqual([{ type: "Ack", id: 7n, data: json(6) }]);
  });

  it("answers unknown events, bad payloads and throwing handlers with AckError", async () => {
    const { socket, server } = await connected();
    const errors: Error[] = [];
    socket.on("error", (err) => errors.push(err));
    socket.on("boom", () => {
      throw new Error("kaput");
    });
    socket.on("later", async () => {
      await tick();
      throw new Error("async kaput");
    });
    server.push({ type: "Event", name: "nope", ack: 1n, data: json(null) });
    server.push({ type: "Event", name: "boom", ack: 2n, data: json(null) });
    server.push({ type: "Event", name: "boom", ack: 3n, data: new Uint8Array([0x7b]) });
    server.push({ type: "Event", name: "later", ack: 4n, data: json(null) });
    server.push({ type: "Event", name: "connect", ack: 5n, data: json(null) });
    await tick(5);
    const answers = server.sent("AckError");
    expect(answers.map((a) => a.id)).toEqual([1n, 2n, 3n, 5n, 4n]);
    expect(answers[0]!.message).toBe('unknown event "nope"');
    expect(answers[1]!.message).toBe("kaput");
    expect(answers[2]!.message).toMatch(/^invalid payload/);
    expect(answers[4]!.message).toBe("async kaput");
    expect(errors.map((e) => e.message)).toEqual(["kaput", "async kaput"]);
  });

  it("calls onAny listeners with every event", async () => {
    const { socket, server } = await connected();
    const seen: unknown[] = [];
    socket.onAny((event, data) => seen.push([event, data]));
    server.push({ type: "Event", name: "a", ack: null, data: json(1) });
    server.push({ type: "Event", name: "b", ack: null, data: json({ x: 2 }) });
    await tick();
    expect(seen).toEqual([
      ["a", 1],
      ["b", { x: 2 }],
    ]);
  });

  it("sends volatile events as frames on WebSocket", async () => {
    const { socket, server } = await connected();
    socket.volatile.emit("pos", [1, 2]);
    expect(server.sent("Event")).toEqual([
      { type: "Event", name: "pos", ack: null, data: json([1, 2]) },
    ]);
  });
});

describe("heartbeat and closing", () => {
  it("answers every Ping with a Pong of the same id", async () => {
    const { server } = await connected();
    server.push({ type: "Ping", id: 7n });
    server.push({ type: "Ping", id: 2n ** 64n - 1n });
    await tick();
    expect(server.sent("Pong")).toEqual([
      { type: "Pong", id: 7n },
      { type: "Pong", id: 2n ** 64n - 1n },
    ]);
  });

  it("closes with PingTimeout when the server goes silent", async () => {
    install();
    FakePeer.defaultReply = welcome({ ping_interval_ms: 20, ping_timeout_ms: 20 });
    const socket = await connect("http://127.0.0.1:8080");
    const server = FakeWebSocket.instances[0]!;
    const reasons: string[] = [];
    socket.on("disconnect", (reason) => reasons.push(reason));
    // Pings keep it alive for a while.
    for (let i = 0; i < 5; i++) {
      await tick(15);
      server.push({ type: "Ping", id: BigInt(i) });
    }
    expect(socket.connected).toBe(true);
    await until(() => !socket.connected);
    await tick();
    expect(reasons).toEqual(["PingTimeout"]);
    expect(server.sent("Disconnect")[0]).toMatchObject({ reason: 3 });
    expect(server.closedWith?.code).toBe(4003);
  });

  it("closes with ProtocolError on a malformed frame, and says why", async () => {
    const { socket, server } = await connected({ reconnection: false });
    const errors: Error[] = [];
    const reasons: unknown[] = [];
    socket.on("error", (err) => errors.push(err));
    socket.on("disconnect", (reason, details) => reasons.push([reason, details.code]));
    const pending = socket.emitWithAck("x").catch((e: unknown) => e);
    server.sendBytes(new Uint8Array([0x30, 0xfb, 0x05, 0x00]));
    await tick();
    expect(errors[0]).toMatchObject({ kind: "NonCanonical" });
    expect(reasons).toEqual([["ProtocolError", 5]]);
    expect(server.sent("Disconnect")[0]).toMatchObject({ reason: 5 });
    expect(server.closedWith?.code).toBe(4005);
    expect(await pending).toMatchObject({ kind: "Disconnected" });
    expect(() => socket.emit("after")).toThrow(expect.objectContaining({ kind: "Disconnected" }));
  });

  it("treats a text message and a server-only frame as protocol errors", async () => {
    const first = await connected();
    first.server.sendText("hello");
    await tick();
    expect(first.server.sent("Disconnect")[0]).toMatchObject({ reason: 5 });

    const second = await connected();
    second.server.push(welcome());
    await tick();
    expect(second.server.sent("Disconnect")[0]).toMatchObject({ reason: 5 });
  });

  it("reports the server's Disconnect without answering it", async () => {
    const { socket, server } = await connected();
    const reasons: unknown[] = [];
    socket.on("disconnect", (reason, details) => reasons.push([reason, details]));
    server.push({ type: "Disconnect", reason: 300, message: "später" });
    await tick();
    expect(reasons).toEqual([["Other", { code: 300, message: "später" }]]);
    expect(server.sent("Disconnect")).toEqual([]);
  });

  it("maps the WebSocket close code when the transport just closes", async () => {
    const { socket, server } = await connected();
    const reasons: string[] = [];
    socket.on("disconnect", (reason) => reasons.push(reason));
    server.serverClose(4007);
    await tick();
    expect(reasons).toEqual(["ServerShutdown"]);
  });

  it("takes a close with 1001 (going away) and no Disconnect as a dropped transport", async () => {
    const { socket, server } = await connected();
    const reasons: string[] = [];
    socket.on("disconnect", (reason) => reasons.push(reason));
    server.serverClose(1001);
    await tick();
    expect(reasons).toEqual(["TransportClosed"]);
  });

  it("disconnect() sends Disconnect{ClientDisconnect} and closes", async () => {
    const { socket, server } = await connected();
    const reasons: string[] = [];
    socket.on("disconnect", (reason) => reasons.push(reason));
    await socket.disconnect();
    expect(server.received.at(-1)).toEqual({ type: "Disconnect", reason: 1, message: "" });
    expect(server.closedWith?.code).toBe(4001);
    expect(reasons).toEqual(["ClientDisconnect"]);
    await socket.disconnect();
    expect(server.sent("Disconnect")).toHaveLength(1);
  });
});

describe("presence", () => {
  const meta = (id: bigint, value: unknown) => ({ id, data: json(value) });

  it("subscribes, syncs, and applies diffs per the spec", async () => {
    const { socket, server } = await connected();
    const lobby = socket.presence("lobby");
    expect(socket.presence("lobby")).toBe(lobby);
    expect(server.sent("PresenceSubscribe")).toEqual([{ type: "PresenceSubscribe", room: "lobby" }]);
    const log: unknown[] = [];
    lobby.on("sync", () => log.push("sync"));
    lobby.on("join", (key, metas, { first }) => log.push(["join", key, metas.map((m) => m.id), first]));
    lobby.on("leave", (key, metas, { last }) => log.push(["leave", key, metas.map((m) => m.id), last]));
    lobby.on("end", (message) => log.push(["end", message]));

    // A diff before the first state belongs to an older subscription: ignored.
    server.push({ type: "PresenceDiff", room: "lobby", joins: [{ key: "ghost", metas: [meta(9n, 0)] }], leaves: [] });
    server.push({
      type: "PresenceState",
      room: "lobby",
      entries: [
        { key: "alice", metas: [meta(4n, "ios"), meta(1n, "web")] },
        { key: "bob", metas: [meta(2n, "web")] },
      ],
    });
    await tick();
    expect([...lobby.state.keys()]).toEqual(["alice", "bob"]);
    expect(lobby.state.get("alice")).toEqual([
      { id: 1n, data: "web" },
      { id: 4n, data: "ios" },
    ]);

    // carol joins; alice's meta 1 is updated to 6; bob leaves.
    server.push({ type: "PresenceDiff", room: "lobby", joins: [{ key: "carol", metas: [meta(5n, "web")] }], leaves: [] });
    server.push({
      type: "PresenceDiff",
      room: "lobby",
      joins: [{ key: "alice", metas: [meta(6n, "away")] }],
      leaves: [
        { key: "alice", metas: [meta(1n, "web")] },
        { key: "bob", metas: [meta(2n, "web")] },
        { key: "nobody", metas: [meta(99n, null)] },
      ],
    });
    server.push({ type: "PresenceEnd", room: "lobby", message: "left the room" });
    server.push({ type: "PresenceDiff", room: "lobby", joins: [{ key: "late", metas: [meta(7n, 0)] }], leaves: [] });
    await tick();
    expect(log).toEqual([
      "sync",
      ["join", "carol", [5n], true],
      ["join", "alice", [6n], false],
      ["leave", "alice", [1n], false],
      ["leave", "bob", [2n], true],
      ["end", "left the room"],
    ]);
    expect(lobby.state.get("alice")).toEqual([
      { id: 4n, data: "ios" },
      { id: 6n, data: "away" },
    ]);
    expect(lobby.state.has("bob")).toBe(false);
    expect(lobby.active).toBe(false);
  });

  it("builds a state sent in parts, hearing nothing until the state completes them", async () => {
    const { socket, server } = await connected();
    const stadium = socket.presence("stadium");
    const syncs: string[][] = [];
    stadium.on("sync", () => syncs.push([...stadium.state.keys()]));
    server.push({ type: "PresenceStatePart", room: "stadium", entries: [{ key: "a", metas: [meta(1n, 0)] }] });
    server.push({ type: "PresenceStatePart", room: "stadium", entries: [{ key: "b", metas: [meta(2n, 0)] }] });
    await tick();
    expect(syncs).toEqual([]);
    expect(stadium.state.size).toBe(0);
    server.push({ type: "PresenceState", room: "stadium", entries: [{ key: "c", metas: [meta(3n, 0)] }] });
    await tick();
    expect(syncs).toEqual([["a", "b", "c"]]);

  });

  it("holds counts, not keys, for a room its server counts only", async () => {
    const { socket, server } = await connected();
    const stadium = socket.presence("stadium");
    const counts: [bigint, bigint][] = [];
    stadium.on("count", (c) => counts.push([c.keys, c.connections]));
    server.push({ type: "PresenceCount", room: "stadium", keys: 20000n, connections: 31250n });
    server.push({ type: "PresenceCount", room: "stadium", keys: 19999n, connections: 31249n });
    await tick();
    expect(counts).toEqual([
      [20000n, 31250n],
      [19999n, 31249n],
    ]);
    expect(stadium.counts).toEqual({ keys: 19999n, connections: 31249n });
    expect(stadium.state.size).toBe(0);
    expect(stadium.isSynced).toBe(true);
  });

  it("unsubscribes without waiting for an answer", async () => {
    const { socket, server } = await connected();
    const room = socket.presence("r");
    room.unsubscribe();
    expect(server.sent("PresenceUnsubscribe")).toEqual([{ type: "PresenceUnsubscribe", room: "r" }]);
    expect(socket.presence("r")).not.toBe(room);
    expect(server.sent("PresenceSubscribe")).toHaveLength(2);
  });
});

describe("WebTransport", () => {
  const wtInfo = {
    ...INFO,
    webtransport: "https://127.0.0.1:4433/quicket",
    certificateHashes: [{ algorithm: "sha-256", value: btoa("\x01\x02\x03") }],
    maxDatagramSize: 1200,
  };

  it("connects with the certificate hashes and frames the stream", async () => {
    install(wtInfo, true);
    const socket = await connect("http://127.0.0.1:8080");
    const wt = FakeWebTransport.instances[0]!;
    expect(socket.transport).toBe("webtransport");
    expect(wt.url).toBe(wtInfo.webtransport);
    expect(wt.options.serverCertificateHashes).toEqual([
      { algorithm: "sha-256", value: new Uint8Array([1, 2, 3]) },
    ]);
    expect(wt.sent("Hello")).toHaveLength(1);
    wt.push({ type: "Ping", id: 1n });
    wt.sendRaw(new Uint8Array([0x02, 0x30, 0x02, 0x02, 0x30])); // Ping 2, then half of Ping 3
    await tick(5);
    wt.sendRaw(new Uint8Array([0x03]));
    await until(() => wt.sent("Pong").length === 3);
    expect(wt.sent("Pong").map((p) => p.id)).toEqual([1n, 2n, 3n]);
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it("sends volatile events as datagrams, and refuses ones too large", async () => {
    install(wtInfo, true);
    const socket = await connect("http://127.0.0.1:8080");
    const wt = FakeWebTransport.instances[0]!;
    socket.volatile.emit("pos", { x: 1 });
    await until(() => wt.receivedDatagrams.length === 1);
    expect(wt.receivedDatagrams[0]).toEqual({ type: "Event", name: "pos", ack: null, data: json({ x: 1 }) });
    const big = "x".repeat(1300);
    expect(() => socket.volatile.emit("pos", big)).toThrow(DatagramTooLargeError);
    expect(wt.sent("Event")).toHaveLength(0);
  });

  it("sends datagrams through createWritable() where there is no writable (Safari)", async () => {
    install(wtInfo, true);
    FakeWebTransport.safari = true;
    const socket = await connect("http://127.0.0.1:8080");
    const wt = FakeWebTransport.instances[0]!;
    expect(socket.transport).toBe("webtransport");
    socket.volatile.emit("pos", { x: 2 });
    await until(() => wt.receivedDatagrams.length === 1);
    expect(wt.receivedDatagrams[0]).toEqual({ type: "Event", name: "pos", ack: null, data: json({ x: 2 }) });
  });

  it("delivers incoming datagram events, and closes on a datagram with an ack id", async () => {
    install(wtInfo, true);
    const socket = await connect("http://127.0.0.1:8080");
    const wt = FakeWebTransport.instances[0]!;
    const got: unknown[] = [];
    socket.on("pos", (data) => got.push(data));
    wt.sendDatagram({ type: "Event", name: "pos", ack: null, data: json(5) });
    await until(() => got.length === 1);
    wt.sendDatagram({ type: "Event", name: "pos", ack: 1n, data: json(6) });
    await until(() => !socket.connected);
    expect(got).toEqual([5]);
    expect(wt.sent("Disconnect")[0]).toMatchObject({ reason: 5 });
  });

  it("closes with FrameTooLarge when a prefix declares too much", async () => {
    install(wtInfo, true);
    const socket = await connect("http://127.0.0.1:8080");
    const wt = FakeWebTransport.instances[0]!;
    wt.sendRaw(new Uint8Array([0xfc, 0x01, 0x00, 0x10, 0x00])); // 1 MiB + 1
    await until(() => !socket.connected);
    expect(wt.sent("Disconnect")[0]).toMatchObject({ reason: 6 });
    await until(() => wt.closeInfo !== null);
    expect(wt.closeInfo?.closeCode).toBe(0x51540006);
  });

  it("falls back to WebSocket when WebTransport fails or is too slow", async () => {
    install(wtInfo, true);
    FakeWebTransport.mode = "fail";
    const failed = await connect("http://127.0.0.1:8080");
    expect(failed.transport).toBe("websocket");

    install(wtInfo, true);
    FakeWebTransport.mode = "hang";
    const slow = await connect("http://127.0.0.1:8080", { webtransportDeadline: 20 });
    expect(slow.transport).toBe("websocket");
    expect(FakeWebTransport.instances[0]!.closeInfo).not.toBeNull();
  });

  it("retries over WebSocket when WebTransport opens but never completes the handshake", async () => {
    install(wtInfo, true);
    FakeWebTransport.silent = true;
    const socket = await connect("http://127.0.0.1:8080", { timeout: 100 });
    expect(socket.transport).toBe("websocket");
    expect(FakeWebTransport.instances[0]!.closeInfo).not.toBeNull();
  });

  it("uses only the transports asked for, in the order asked", async () => {
    install(wtInfo, true);
    const socket = await connect("http://127.0.0.1:8080", { transports: ["websocket"] });
    expect(socket.transport).toBe("websocket");
    expect(FakeWebTransport.instances).toHaveLength(0);

    install(wtInfo, true);
    const preferred = await connect("http://127.0.0.1:8080", { transports: ["websocket", "webtransport"] });
    expect(preferred.transport).toBe("websocket");
    expect(FakeWebTransport.instances).toHaveLength(0);
  });
});

/**
 * Typed event maps: names, payloads and replies are checked by the compiler (`npm run
 * typecheck` compiles this file; each `@ts-expect-error` must be an error), and typed calls
 * behave as untyped ones at run time.
 */

import { afterEach, describe, expect, it } from "vitest";

import { connect } from "../src/index.js";
import { FakeWebSocket, INFO, install, tick } from "./fakes.js";

interface Line {
  from: string;
  text: string;
}

interface ServerEvents {
  line: (line: Line) => void;
  tick: () => void;
}

interface ClientEvents {
  say: (text: string) => void;
  join: (name: string, ack: (reply: { room: string }) => void) => void;
  pos: (at: { x: number; y: number }) => void;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

afterEach(() => {
  for (const server of FakeWebSocket.instances) server.serverClose(1000);
});

describe("typed event maps", () => {
  it("checks names, payloads and replies, and sends what untyped calls send", async () => {
    install(INFO);
    const socket = await connect<ServerEvents, ClientEvents>("http://127.0.0.1:8080");
    const server = FakeWebSocket.instances.at(-1)!;
    server.onFrame = (frame) => {
      if (frame.type === "Event" && frame.ack !== null) server.push({ type: "Ack", id: frame.ack, data: json({ room: "chat" }) });
    };
    const heard: Line[] = [];
    socket.on("line", (line) => heard.push(line));
    socket.on("tick", () => undefined);
    socket.on("disconnect", (reason) => void reason);
    // @ts-expect-error: the server sends no such event
    socket.on("nothing", () => undefined);
    // @ts-expect-error: a line is not a number
    socket.on("line", (line: number) => void line);

    socket.emit("say", "hello");
    // @ts-expect-error: say takes text
    socket.emit("say", 42);
    // @ts-expect-error: no such event
    socket.emit("sya", "hello");
    socket.volatile.emit("pos", { x: 1, y: 2 });
    socket.unordered.emit("say", "again");
    socket.sequenced.emit("pos", { x: 2, y: 2 });
    socket.latest("ada").emit("pos", { x: 3, y: 2 });
    // @ts-expect-error: pos takes a point
    socket.sequenced.emit("pos", "here");
    // @ts-expect-error: no such event
    socket.latest("ada").emit("po", { x: 3, y: 2 });

    const reply = await socket.emitWithAck("join", "ada");
    const room: string = reply.room;
    // @ts-expect-error: the reply has no such field
    void reply.members;
    expect(room).toBe("chat");

    server.push({ type: "Event", name: "line", ack: null, data: json({ from: "bob", text: "hi" }) });
    await tick(1);
    expect(heard).toEqual([{ from: "bob", text: "hi" }]);
    const names = server.sent("Event").map((event) => event.name);
    // No delivery classes granted (the fake's Welcome has no channels): sent as events.
    expect(names).toEqual(["say", "say", "sya", "pos", "say", "pos", "pos", "pos", "po", "join"]);
    await socket.disconnect();
  });

  it("leaves sockets without maps open to any name and payload", async () => {
    install(INFO);
    const socket = await connect("http://127.0.0.1:8080");
    socket.on("anything", (data: { deep: number[] }) => void data);
    socket.emit("whatever", { n: 1 });
    socket.emit("nothing");
    await socket.disconnect();
  });
});

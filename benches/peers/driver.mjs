// socket.io-client load driver for the quicket peer benchmarks.
//
//   node driver.mjs <rtt|fanout|connect|idle> --url http://127.0.0.1:PORT [options]
//
// stdout carries only JSON lines (one object per measurement); logs go to stderr.
// Every scenario has a hard timeout (--timeout-ms); on expiry the driver exits with code 2.
// Exit codes: 0 ok, 1 error (bad arguments, failed connection, wrong echo, disconnect),
//             2 hard timeout, 3 idle scenario held longer than --hold-ms.
// See README.md for the scenarios and the JSON fields.

import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { io } from "socket.io-client";

const require = createRequire(import.meta.url);
const CLIENT_VERSION = require("socket.io-client/package.json").version;

const hr = process.hrtime.bigint;

// ---------------------------------------------------------------- utilities

function log(...args) {
  process.stderr.write(`[driver] ${args.join(" ")}\n`);
}

function die(code, msg) {
  log(msg);
  process.exit(code);
}

function emitJson(obj) {
  // stdout to a pipe or file is synchronous on Linux, so process.exit() after this is safe.
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Round a nanosecond figure to microseconds with 3 decimals (ns resolution). */
const us = (ns) => Math.round(ns) / 1000;

/** Exact nearest-rank percentile of an ascending-sorted array: the smallest sample
 *  such that at least q of all samples are <= it. */
function percentile(sorted, q) {
  const n = sorted.length;
  if (n === 0) return null;
  let idx = Math.ceil(q * n) - 1;
  if (idx < 0) idx = 0;
  if (idx >= n) idx = n - 1;
  return sorted[idx];
}

/** Summary (µs) of nanosecond samples; sorts a copy. Field names get `prefix`. */
function summary(samplesNs, prefix = "") {
  const s = Float64Array.from(samplesNs).sort();
  const n = s.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  const f = (v) => (v === null || v === undefined ? null : us(v));
  return {
    [`${prefix}samples`]: n,
    [`${prefix}min_us`]: n ? f(s[0]) : null,
    [`${prefix}p50_us`]: f(percentile(s, 0.5)),
    [`${prefix}p90_us`]: f(percentile(s, 0.9)),
    [`${prefix}p99_us`]: f(percentile(s, 0.99)),
    [`${prefix}p999_us`]: f(percentile(s, 0.999)),
    [`${prefix}max_us`]: n ? f(s[n - 1]) : null,
    [`${prefix}mean_us`]: n ? f(sum / n) : null,
  };
}

/** Append-only Float64 buffer. */
class F64 {
  constructor(cap = 1024) {
    this.a = new Float64Array(cap);
    this.n = 0;
  }
  push(v) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  view() {
    return this.a.subarray(0, this.n);
  }
}

/** Growable typed array indexed by message sequence number. */
class Grow {
  constructor(Type, cap = 1024) {
    this.Type = Type;
    this.a = new Type(cap);
  }
  ensure(i) {
    if (i < this.a.length) return;
    let cap = this.a.length;
    while (cap <= i) cap *= 2;
    const b = new this.Type(cap);
    b.set(this.a);
    this.a = b;
  }
}

function intOpt(values, name, def, { min = 0 } = {}) {
  const raw = values[name];
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw)) die(1, `--${name}: expected a non-negative integer, got ${raw}`);
  const v = Number(raw);
  if (v < min) die(1, `--${name}: must be >= ${min}`);
  return v;
}

function numOpt(values, name, def, { min = 0 } = {}) {
  const raw = values[name];
  if (raw === undefined) return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min) die(1, `--${name}: expected a number >= ${min}, got ${raw}`);
  return v;
}

function hardTimeout(ms, what) {
  return setTimeout(() => die(2, `hard timeout: ${what} did not finish within ${ms} ms`), ms);
}

// ---------------------------------------------------------------- connections

function connectOne(url, connectTimeoutMs) {
  return new Promise((resolve, reject) => {
    const s = io(url, {
      transports: ["websocket"],
      forceNew: true, // one engine.io connection per client (no Manager multiplexing)
      reconnection: false,
      perMessageDeflate: false,
      timeout: connectTimeoutMs,
    });
    const onErr = (e) => {
      s.off("connect", onOk);
      s.close();
      reject(new Error(`connect_error: ${e && e.message}`));
    };
    const onOk = () => {
      s.off("connect_error", onErr);
      resolve(s);
    };
    s.once("connect", onOk);
    s.once("connect_error", onErr);
  });
}

/** Run fn(i) for i in [0, count) with at most `concurrency` in flight. Rejects on first error. */
async function pool(count, concurrency, fn) {
  let next = 0;
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, count); w++) {
    workers.push(
      (async () => {
        while (next < count) {
          const i = next++;
          await fn(i);
        }
      })(),
    );
  }
  await Promise.all(workers);
}

function closeAll(sockets) {
  for (const s of sockets) if (s) s.close();
}

const COMMON = {
  url: { type: "string" },
  "timeout-ms": { type: "string" },
  "connect-timeout-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
};

function base(scenario, values) {
  if (!values.url) die(1, `${scenario}: --url is required`);
  return {
    client: `socket.io-client@${CLIENT_VERSION}`,
    node: process.version,
  };
}

// ---------------------------------------------------------------- rtt

async function rtt(args) {
  const { values } = parseArgs({
    args,
    options: {
      ...COMMON,
      count: { type: "string" },
      warmup: { type: "string" },
      payload: { type: "string" },
      "samples-out": { type: "string" },
    },
    strict: true,
  });
  const meta = base("rtt", values);
  const count = intOpt(values, "count", 10000, { min: 1 });
  const warmup = intOpt(values, "warmup", 1000);
  const payloadBytes = intOpt(values, "payload", 32);
  const timeoutMs = intOpt(values, "timeout-ms", 120000, { min: 1 });
  const connectTimeoutMs = intOpt(values, "connect-timeout-ms", 10000, { min: 1 });
  hardTimeout(timeoutMs, "rtt");

  const payload = "x".repeat(payloadBytes);
  const s = await connectOne(values.url, connectTimeoutMs);
  s.on("disconnect", (reason) => die(1, `rtt: disconnected: ${reason}`));

  for (let i = 0; i < warmup; i++) {
    const r = await s.emitWithAck("echo", payload);
    if (r !== payload) die(1, "rtt: echo returned a different payload");
  }
  const samples = new Float64Array(count);
  const t0 = hr();
  for (let i = 0; i < count; i++) {
    const a = hr();
    const r = await s.emitWithAck("echo", payload);
    const b = hr();
    if (r !== payload) die(1, "rtt: echo returned a different payload");
    samples[i] = Number(b - a);
  }
  const elapsedNs = Number(hr() - t0);

  if (values["samples-out"]) {
    const lines = Array.from(samples, (v) => us(v).toString());
    writeFileSync(values["samples-out"], lines.join("\n") + "\n");
  }
  const sum = summary(samples);
  emitJson({
    scenario: "rtt",
    count,
    warmup,
    payload: payloadBytes,
    ...sum,
    samples: undefined,
    round_trips_per_s: Math.round((count / elapsedNs) * 1e9),
    samples_out: values["samples-out"] ?? null,
    ...meta,
  });
  s.off("disconnect");
  s.close();
  process.exit(0);
}

// ---------------------------------------------------------------- fanout

async function fanout(args) {
  const { values } = parseArgs({
    args,
    options: {
      ...COMMON,
      receivers: { type: "string" },
      mode: { type: "string" },
      rate: { type: "string" },
      "duration-ms": { type: "string" },
      "warmup-ms": { type: "string" },
      "drain-ms": { type: "string" },
      window: { type: "string" },
      payload: { type: "string" },
      concurrency: { type: "string" },
      room: { type: "string" },
      "spin-us": { type: "string" },
    },
    strict: true,
  });
  const meta = base("fanout", values);
  const N = intOpt(values, "receivers", 100, { min: 1 });
  const mode = values.mode ?? "saturation";
  if (mode !== "fixed" && mode !== "saturation") die(1, `fanout: --mode must be fixed or saturation`);
  const rate = numOpt(values, "rate", 100, { min: 0.001 }); // messages/s (fixed mode)
  const durationMs = intOpt(values, "duration-ms", 3000, { min: 1 });
  const warmupMs = intOpt(values, "warmup-ms", 0);
  const drainMs = intOpt(values, "drain-ms", 10000);
  const W = intOpt(values, "window", 32, { min: 1 });
  const payloadBytes = intOpt(values, "payload", 32);
  const concurrency = intOpt(values, "concurrency", 50, { min: 1 });
  const room = values.room ?? "bench";
  const spinNs = intOpt(values, "spin-us", 1000) * 1000;
  const connectTimeoutMs = intOpt(values, "connect-timeout-ms", 10000, { min: 1 });
  const timeoutMs = intOpt(values, "timeout-ms", 120000 + warmupMs + durationMs + drainMs, { min: 1 });
  hardTimeout(timeoutMs, `fanout ${mode}`);

  // ---- per-message / per-delivery state (all receivers live in this process)
  const perMsgCount = new Grow(Uint32Array);
  const perMsgFirst = new Grow(Float64Array);
  const lat = new F64(1 << 16); // measured deliveries, ns
  const firstLat = new F64(1024); // first delivery of each measured message, ns
  const lastLat = new F64(1024); // N-th delivery of each measured message, ns
  let measuredFromSeq = Infinity; // messages with seq >= this are measured (set when warmup ends)
  let received = 0; // deliveries of measured messages
  let receivedAll = 0; // deliveries of any message
  let fullyDelivered = 0; // messages (any) that reached all N receivers
  let winStart = 0n; // measurement window, hrtime ns
  let winEnd = 0n;
  let windowDeliveries = 0; // deliveries (any message) received inside the window
  let windowMessages = 0; // messages that became fully delivered inside the window
  let sent = 0;
  let stopped = false;
  let disconnects = 0;
  let pump = () => {};
  let onAllDelivered = null;
  let measuredSent = 0;

  function onMsg(data) {
    const now = hr();
    const l = Number(now - BigInt(data.t));
    const seq = data.seq;
    perMsgCount.ensure(seq);
    const c = ++perMsgCount.a[seq];
    receivedAll++;
    const inWin = now >= winStart && now <= winEnd && winStart !== 0n;
    if (inWin) windowDeliveries++;
    if (seq >= measuredFromSeq) {
      received++;
      lat.push(l);
      if (c === 1) firstLat.push(l);
    }
    if (c === N) {
      fullyDelivered++;
      if (inWin) windowMessages++;
      if (seq >= measuredFromSeq) lastLat.push(l);
      if (!stopped) pump();
      else if (onAllDelivered && fullyDelivered === sent) onAllDelivered();
    }
  }

  // ---- connect receivers and join the room
  log(`fanout: connecting ${N} receivers (concurrency ${concurrency})`);
  const receivers = new Array(N);
  const tc0 = hr();
  await pool(N, concurrency, async (i) => {
    const s = await connectOne(values.url, connectTimeoutMs);
    receivers[i] = s;
    s.on("disconnect", (reason) => {
      disconnects++;
      log(`fanout: receiver ${i} disconnected: ${reason}`);
    });
    s.on("msg", onMsg);
    const ok = await s.emitWithAck("join", room);
    if (ok !== true) throw new Error(`join returned ${JSON.stringify(ok)}`);
  });
  const publisher = await connectOne(values.url, connectTimeoutMs);
  publisher.on("disconnect", (reason) => {
    disconnects++;
    log(`fanout: publisher disconnected: ${reason}`);
  });
  // One echo round trip: the server has processed every join before the first publish.
  await publisher.emitWithAck("echo", "x");
  log(`fanout: ${N} receivers joined in ${(Number(hr() - tc0) / 1e6).toFixed(0)} ms; running ${mode}`);

  // ---- message construction: {seq, t, pad}; pad fills the JSON encoding of data up to --payload bytes
  let dataMin = Infinity;
  let dataMax = 0;
  function publish(seq, tNs) {
    const t = tNs.toString();
    const baseLen = 24 + String(seq).length + t.length; // JSON.stringify({seq,t,pad:""}).length
    const pad = payloadBytes > baseLen ? "x".repeat(payloadBytes - baseLen) : "";
    const data = { seq, t, pad };
    const len = baseLen + pad.length;
    if (len < dataMin) dataMin = len;
    if (len > dataMax) dataMax = len;
    publisher.emit("publish", { room, data });
  }

  const start = hr();
  const warmEnd = start + BigInt(warmupMs) * 1000000n;
  const end = warmEnd + BigInt(durationMs) * 1000000n;
  winStart = warmEnd;
  winEnd = end;
  if (warmupMs === 0) measuredFromSeq = 0;
  let maxLagNs = 0;
  let lateSends = 0;

  const finished = new Promise((resolve) => {
    if (mode === "fixed") {
      // Open loop: message k is due at start + k/rate. A late message is sent at once but its
      // timestamp t stays the scheduled time (no coordinated omission).
      const periodNs = 1e9 / rate;
      const total = Math.floor(((warmupMs + durationMs) / 1000) * rate);
      measuredFromSeq = Math.min(total, Math.ceil((warmupMs / 1000) * rate));
      const tick = () => {
        const now = hr();
        while (sent < total) {
          const due = start + BigInt(Math.round(sent * periodNs));
          if (due > now) break;
          const lag = Number(now - due);
          if (lag > maxLagNs) maxLagNs = lag;
          if (lag > 1e6) lateSends++;
          publish(sent, due);
          sent++;
        }
        if (sent >= total) {
          stopped = true;
          return resolve();
        }
        // Sleep with a timer until about --spin-us before the next due time, then spin with
        // setImmediate (I/O is still served between spins). --spin-us 0: timers only.
        const waitNs = Number(start + BigInt(Math.round(sent * periodNs)) - hr());
        if (spinNs === 0) setTimeout(tick, Math.max(0, Math.ceil(waitNs / 1e6)));
        else if (waitNs > spinNs + 1e6) setTimeout(tick, Math.floor((waitNs - spinNs) / 1e6));
        else setImmediate(tick);
      };
      tick();
    } else {
      // Closed loop: keep at most W messages that have not reached all N receivers.
      let warm = warmupMs === 0;
      pump = () => {
        const now = hr();
        if (!warm && now >= warmEnd) {
          warm = true;
          measuredFromSeq = sent;
        }
        if (now >= end) {
          if (!stopped) {
            stopped = true;
            resolve();
          }
          return;
        }
        while (sent - fullyDelivered < W) {
          publish(sent, hr());
          sent++;
        }
      };
      // Stop on time even if nothing is delivered any more.
      setTimeout(() => pump(), warmupMs + durationMs + 1);
      pump();
    }
  });
  await finished;
  const sendEnd = hr();
  measuredSent = sent - Math.min(sent, measuredFromSeq);

  // ---- drain: wait until every sent message reached every receiver, or --drain-ms
  const d0 = hr();
  let drained = fullyDelivered === sent;
  if (!drained) {
    drained = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), drainMs);
      onAllDelivered = () => {
        clearTimeout(t);
        resolve(true);
      };
      if (fullyDelivered === sent) onAllDelivered();
    });
  }
  const drainNs = Number(hr() - d0);

  const expected = measuredSent * N;
  // Throughput window: [start + warmup, start + warmup + duration] (hrtime of the delivery).
  const windowS = durationMs / 1000;
  const out = {
    scenario: "fanout",
    mode,
    receivers: N,
    receivers_process: "single",
    room,
    payload: payloadBytes,
    data_bytes_min: sent ? dataMin : null,
    data_bytes_max: sent ? dataMax : null,
    duration_ms: durationMs,
    warmup_ms: warmupMs,
    send_elapsed_ms: Math.round(Number(sendEnd - start) / 1e4) / 100,
    rate: mode === "fixed" ? rate : null,
    offered_deliveries_per_s: mode === "fixed" ? rate * N : null,
    window: mode === "saturation" ? W : null,
    messages_sent: measuredSent,
    messages_sent_total: sent,
    deliveries_expected: expected,
    deliveries_received: received,
    loss: expected - received,
    loss_ratio: expected ? (expected - received) / expected : 0,
    delivered_per_s: Math.round(windowDeliveries / windowS),
    messages_per_s: Math.round((windowMessages / windowS) * 10) / 10,
    ...summary(lat.view()),
    ...summary(firstLat.view(), "first_"),
    ...summary(lastLat.view(), "last_"),
    max_send_lag_us: mode === "fixed" ? us(maxLagNs) : null,
    late_sends: mode === "fixed" ? lateSends : null,
    drained,
    drain_ms: Math.round(drainNs / 1e4) / 100,
    disconnects,
    ...meta,
  };
  delete out.samples; // same as deliveries_received
  emitJson(out);
  const code = disconnects > 0 ? 1 : 0;
  for (const s of [...receivers, publisher]) s.removeAllListeners("disconnect");
  closeAll(receivers);
  publisher.close();
  process.exit(code);
}

// ---------------------------------------------------------------- connect

async function connect(args) {
  const { values } = parseArgs({
    args,
    options: { ...COMMON, count: { type: "string" }, concurrency: { type: "string" } },
    strict: true,
  });
  const meta = base("connect", values);
  const count = intOpt(values, "count", 1000, { min: 1 });
  const concurrency = intOpt(values, "concurrency", 50, { min: 1 });
  const connectTimeoutMs = intOpt(values, "connect-timeout-ms", 10000, { min: 1 });
  const timeoutMs = intOpt(values, "timeout-ms", 120000, { min: 1 });
  hardTimeout(timeoutMs, "connect");

  const sockets = new Array(count);
  const samples = new Float64Array(count);
  let failed = 0;
  let firstError = null;
  const t0 = hr();
  await pool(count, concurrency, async (i) => {
    const a = hr();
    try {
      const s = await connectOne(values.url, connectTimeoutMs);
      sockets[i] = s;
      await s.emitWithAck("echo", "x");
      samples[i] = Number(hr() - a);
    } catch (e) {
      failed++;
      firstError ??= e.message;
      samples[i] = NaN;
    }
  });
  const elapsedNs = Number(hr() - t0);
  const ok = samples.filter((v) => !Number.isNaN(v));
  const sum = summary(ok);
  emitJson({
    scenario: "connect",
    count,
    concurrency,
    ready: ok.length,
    failed,
    first_error: firstError,
    ...sum,
    samples: undefined,
    elapsed_ms: Math.round(elapsedNs / 1e4) / 100,
    connections_per_s: Math.round((ok.length / elapsedNs) * 1e9 * 10) / 10,
    ...meta,
  });
  closeAll(sockets);
  process.exit(failed > 0 ? 1 : 0);
}

// ---------------------------------------------------------------- idle

async function idle(args) {
  const { values } = parseArgs({
    args,
    options: {
      ...COMMON,
      count: { type: "string" },
      concurrency: { type: "string" },
      "hold-ms": { type: "string" },
    },
    strict: true,
  });
  const meta = base("idle", values);
  const count = intOpt(values, "count", 1000);
  const concurrency = intOpt(values, "concurrency", 50, { min: 1 });
  const holdMs = intOpt(values, "hold-ms", 600000, { min: 1 });
  const connectTimeoutMs = intOpt(values, "connect-timeout-ms", 10000, { min: 1 });
  const timeoutMs = intOpt(values, "timeout-ms", 120000, { min: 1 });
  const hard = hardTimeout(timeoutMs, "idle (connecting)");

  const sockets = new Array(count);
  let disconnects = 0;
  let ready = false;
  let done = false;
  function finish(why, code) {
    if (done) return;
    done = true;
    log(`idle: ${why}; closing ${count} connections`);
    for (const s of sockets) if (s) s.removeAllListeners("disconnect");
    closeAll(sockets);
    process.exit(code);
  }
  const t0 = hr();
  await pool(count, concurrency, async (i) => {
    const s = await connectOne(values.url, connectTimeoutMs);
    sockets[i] = s;
    s.on("disconnect", (reason) => {
      disconnects++;
      // A dropped connection invalidates the memory reading: stop at once, non-zero.
      if (ready) finish(`connection ${i} dropped (${reason})`, 1);
    });
  });
  clearTimeout(hard);
  if (disconnects > 0) die(1, `idle: ${disconnects} connections dropped while connecting`);
  ready = true;
  emitJson({
    scenario: "idle",
    count,
    ready: true,
    elapsed_ms: Math.round(Number(hr() - t0) / 1e4) / 100,
    pid: process.pid,
    ...meta,
  });

  process.on("SIGTERM", () => finish("SIGTERM", 0));
  process.on("SIGINT", () => finish("SIGINT", 0));
  process.stdin.on("end", () => finish("stdin closed", 0));
  process.stdin.on("close", () => finish("stdin closed", 0));
  process.stdin.on("error", () => finish("stdin error", 0));
  process.stdin.resume();
  setTimeout(() => finish(`held longer than --hold-ms ${holdMs}`, 3), holdMs);
}

// ---------------------------------------------------------------- main

const USAGE = `usage: node driver.mjs <scenario> --url http://127.0.0.1:PORT [options]
  rtt     [--count 10000] [--warmup 1000] [--payload 32] [--samples-out FILE]
  fanout  [--receivers 100] [--mode fixed|saturation] [--rate 100] [--duration-ms 3000]
          [--window 32] [--payload 32] [--warmup-ms 0] [--drain-ms 10000]
          [--concurrency 50] [--room bench] [--spin-us 1000]
  connect [--count 1000] [--concurrency 50]
  idle    [--count 1000] [--concurrency 50] [--hold-ms 600000]
common: [--timeout-ms N] [--connect-timeout-ms 10000]
`;

const scenarios = { rtt, fanout, connect, idle };
const [scenario, ...rest] = process.argv.slice(2);
if (!scenario || scenario === "--help" || scenario === "-h") {
  process.stderr.write(USAGE);
  process.exit(scenario ? 0 : 1);
}
if (!scenarios[scenario]) die(1, `unknown scenario ${scenario}\n${USAGE}`);
if (rest.includes("--help") || rest.includes("-h")) {
  process.stderr.write(USAGE);
  process.exit(0);
}
function describe(e) {
  if (!e) return String(e);
  const expected = (e.code && String(e.code).startsWith("ERR_PARSE_ARGS")) || /^connect_error/.test(e.message);
  return expected || !e.stack ? e.message : e.stack;
}
process.on("unhandledRejection", (e) => die(1, `${scenario}: ${describe(e)}`));
scenarios[scenario](rest).catch((e) => die(1, `${scenario}: ${describe(e)}`));

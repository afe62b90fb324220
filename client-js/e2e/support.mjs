// What the end-to-end tests share: the workspace's binaries, child processes whose output
// lines can be awaited, and headless Debian Chromium.
import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Cargo's target directory wherever it is (CARGO_TARGET_DIR, a config's build.target-dir).
const targetDir = JSON.parse(
  execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps"], { cwd: root, maxBuffer: 64 << 20 }),
).target_directory;
export const binary = (name) => path.join(targetDir, "debug", name);
export { targetDir };
export const output = path.join(targetDir, "e2e");
export const WAIT = 15_000;

/** A child process whose stdout lines can be awaited with `waitFor(pattern, what)`. */
export function spawnWithLines(command, args, { cwd } = {}) {
  const child = spawn(command, args, { cwd, stdio: ["pipe", "pipe", "inherit"] });
  const seen = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    seen.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.waitFor = (pattern, what, timeout = WAIT) =>
    new Promise((resolve, reject) => {
      const found = seen.find((line) => pattern.test(line));
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; saw ${JSON.stringify(seen.slice(-20))}`)), timeout);
      waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  child.lines = seen;
  return child;
}

/** Starts an example server with `args` and waits for its `NAME: open http://…/` line; its base URL. */
export async function startServer(name, args) {
  const server = spawnWithLines(binary(name), args);
  const line = await server.waitFor(new RegExp(`${name}: open (https?://\\S+)/`), `the ${name} server`);
  server.base = line.match(/(https?:\/\/\S+)\//)[1];
  return server;
}

/** Headless Debian Chromium. */
export function launchChromium(extraArgs = []) {
  fs.mkdirSync(output, { recursive: true });
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}

/** A fresh page; `noWebTransport` hides WebTransport from it, forcing the WebSocket fallback. */
export async function newPage(browser, label, { noWebTransport = false } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`[${label}] page error:`, error));
  if (noWebTransport) await page.addInitScript(() => delete window.WebTransport);
  return page;
}

/** Polls `probe` (async) until it returns a truthy value, or fails after `timeout` ms. */
export async function until(probe, what, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Peak resident memory (KiB) and CPU seconds so far of process `pid`, from /proc. */
export function resources(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const peakKib = Number(status.match(/VmHWM:\s+(\d+)/)[1]);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { peakKib, cpuSeconds: ticks / 100 };
}

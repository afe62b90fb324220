// End-to-end: the IoT example. 1,000 native devices over WebTransport for 10 s with the
// dashboard in headless Chromium: telemetry, alerts, presence, a group command, and 100
// devices killed without a word.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { WAIT, binary, launchChromium, newPage, output, resources, spawnWithLines, startServer, until } from "./support.mjs";

const HEARTBEAT = 2; // s: a silent device is dropped within 2 × HEARTBEAT
const SECONDS = 10;
let server;
let browser;
const devices = [];
const report = [];

before(async () => {
  server = await startServer("iot", ["--http", "0", "--quic", "0", "--heartbeat", String(HEARTBEAT)]);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const fleet of devices) fleet.kill("SIGKILL");
  server?.kill();
  if (report.length) console.log(report.join("\n"));
});

const stats = async () => (await fetch(`${server.base}/api/stats`)).json();

/** Starts `count` devices numbered from `first`, each sending SECONDS readings. */
function fleet(first, count) {
  const child = spawnWithLines(binary("iot-devices"), ["--url", server.base, "--first", String(first), "--count", String(count), "--seconds", String(SECONDS)]);
  devices.push(child);
  child.done = async () => JSON.parse((await child.waitFor(/^devices done /, `devices ${first}.. to finish`, 60_000)).slice("devices done ".length));
  child.latest = () => JSON.parse(child.lines.filter((l) => l.startsWith("devices ")).at(-1).replace(/^devices (done )?/, ""));
  return child;
}

test("1,000 devices: telemetry, alerts, presence on the dashboard, a group command, 100 killed", async () => {
  const started = Date.now();
  const before = resources(server.pid);
  const dashboard = await newPage(browser, "dashboard");
  await dashboard.goto(`${server.base}/`);
  await dashboard.waitForSelector("body[data-ready=true]", { timeout: WAIT });
  const [survivors, doomed] = [fleet(0, 900), fleet(900, 100)];

  // On a timeout, says who disagrees: the dashboard, the server's presence, or the devices.
  const onlineIs = (n, timeout) =>
    dashboard
      .waitForFunction((want) => document.querySelector("#online").textContent.trim() === String(want), n, { timeout })
      .catch(async (error) => {
        const shown = await dashboard.evaluate(() => document.querySelector("#online").textContent);
        const fleets = [survivors, doomed].map((f) => f.latest());
        const counts = (key) => fleets.map((f) => f[key]).join(" + ");
        error.message +=
          ` (want ${n} online: the dashboard shows ${shown}, the server's presence has ${(await stats()).online};` +
          ` devices connected ${counts("connected")}, reconnects ${counts("reconnects")}, recovered ${counts("recovered")})`;
        throw error;
      });
  // 20 to 42 s here on debug builds sharing two cores with Chromium, and 73 to 88 s on a
  // busier day (2026-12-07); the bound only stops a hang.
  await onlineIs(1000, 180_000);
  const allOnline = Date.now() - started;
  assert.equal((await stats()).online, 1000, "the server's presence has 1,000 devices");

  // A command to a group: each of its 100 members gets it once and acks.
  await dashboard.fill("#target", "g3");
  await dashboard.click("#command-form button");
  const result = await dashboard.waitForSelector("#command-results li[data-sent]", { timeout: WAIT });
  const [sent, acked] = [await result.getAttribute("data-sent"), await result.getAttribute("data-acked")];
  assert.equal(sent, "100");
  assert.equal(acked, "100");
  const command = await dashboard.evaluate(() => window.iot.commandResults.at(-1));
  assert.equal(command.missing, 0);
  assert.equal(new Set(command.acked).size, 100);
  assert.ok(command.acked.every((device) => Number(device.slice(4)) % 10 === 3), "only g3 acked");
  const reached = async () => {
    const counts = [survivors, doomed].map((f) => f.latest().commands[command.id] ?? 0);
    return counts[0] + counts[1] === 100 ? counts : null;
  };
  await until(reached, "the devices' tallies to show the command");

  // Both charts have data. Not "every group reported in the last second": each device sends
  // only SECONDS readings, and a device that timed out on its first dial can come online
  // after the others have all finished.
  await dashboard.waitForFunction(() => window.iot.groupsCharted === 10 && window.iot.stats?.readings > 0, null, { timeout: WAIT });
  await dashboard.screenshot({ path: path.join(output, "iot-1000.png") });
  const [a, b] = await Promise.all([survivors.done(), doomed.done()]);
  for (const tally of [a, b]) {
    assert.equal(tally.duplicate_commands, 0, "no device got the command twice");
    assert.equal(tally.alerts_acked, tally.alerts_raised, "every alert was acked");
  }
  const readingsSent = a.readings + b.readings;
  const alertsRaised = a.alerts_raised + b.alerts_raised;
  // The last readings may still be in flight: wait until they are in, or give up and judge.
  const delivered = await until(async () => ((await stats()).readings >= readingsSent ? stats() : null), "every reading", 3000).catch(stats);
  const telemetry = delivered.readings / readingsSent;
  assert.ok(telemetry >= 0.99, `delivered ${delivered.readings} of ${readingsSent} readings`);
  assert.equal(delivered.alerts, alertsRaised, "the server acted on every alert once");
  const used = resources(server.pid);
  const wall = (Date.now() - started) / 1000;

  // 100 devices vanish without a word: the heartbeat notices.
  doomed.kill("SIGKILL");
  const killed = Date.now();
  // The heartbeat drops a client silent for ping interval + ping timeout (2 × HEARTBEAT);
  // the dashboard then shows it within its render throttle.
  const bound = 2 * HEARTBEAT * 1000;
  await until(async () => (await stats()).online === 900, "the server's presence to drop the 100", bound + 2000);
  const serverNoticed = Date.now() - killed;
  await onlineIs(900, 3000);
  const noticed = Date.now() - killed;
  // The slack covers polling /api/stats and a machine whose two cores run the server, 1,000
  // devices and the browser at once (4.1 to 4.6 s were seen against the 4 s bound).
  assert.ok(serverNoticed <= bound + 1500, `the server's presence took ${serverNoticed} ms (heartbeat bound ${bound} ms)`);
  assert.equal((await stats()).online, 900, "the server's presence agrees");
  const offline = await dashboard.$$eval("#devices [data-online=false]", (cells) => cells.map((c) => c.dataset.id));
  assert.equal(offline.length, 100);
  assert.ok(offline.every((id) => Number(id.slice(4)) >= 900), "the killed devices are the offline ones");
  await dashboard.screenshot({ path: path.join(output, "iot-900.png") });
  // The stats are latest values: over the whole run the dashboard never handled a second
  // older than one it had handled.
  const statsSeen = await dashboard.evaluate(() => ({ handled: window.iot.statsHandled, backwards: window.iot.statsBackwards }));
  assert.ok(statsSeen.handled > 1, `the dashboard handled ${statsSeen.handled} stats`);
  assert.equal(statsSeen.backwards, 0, "stats handled no later than the one before");

  report.push(
    `iot: 1,000 devices online on the dashboard ${allOnline} ms after start; ` +
      `telemetry ${delivered.readings}/${readingsSent} (${(telemetry * 100).toFixed(2)} %); ` +
      `alerts ${alertsRaised} raised, ${a.alerts_acked + b.alerts_acked} acked, ${delivered.alerts} acted on, ${delivered.duplicate_alerts} resends; ` +
      `stats: ${statsSeen.handled} handled, ${statsSeen.backwards} out of order; command #${command.id} to g3: ${acked}/${sent} acked; 100 killed → server presence 900 after ${serverNoticed} ms (bound ${bound} ms), dashboard after ${noticed} ms`,
    `iot server: peak RSS ${(used.peakKib / 1024).toFixed(1)} MiB, CPU ${(used.cpuSeconds - before.cpuSeconds).toFixed(2)} s over ${wall.toFixed(1)} s ` +
      `(${((100 * (used.cpuSeconds - before.cpuSeconds)) / wall).toFixed(0)} % of one core); screenshots ${output}/iot-1000.png, iot-900.png`,
  );
});

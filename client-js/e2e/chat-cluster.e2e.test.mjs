// End-to-end: two chat processes on one Redis serve one chat. A page on each, one over
// WebTransport and one over WebSocket, see each other in the user list and each other's lines.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { WAIT, launchChromium, newPage, spawnWithLines, startServer } from "./support.mjs";

let redis;
const nodes = [];
let browser;

/** A free loopback port. */
const freePort = () =>
  new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

before(async () => {
  const port = await freePort();
  redis = spawnWithLines("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
  await redis.waitFor(/Ready to accept connections/, "redis-server");
  for (let i = 0; i < 2; i++) {
    nodes.push(await startServer("chat", ["--http", "0", "--quic", "0", "--redis", `redis://127.0.0.1:${port}/`]));
  }
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const node of nodes) node.kill();
  redis?.kill();
});

async function join(base, name, noWebTransport) {
  const page = await newPage(browser, name, { noWebTransport });
  await page.goto(`${base}/`);
  await page.fill("#name", name);
  await page.click("#name-form button");
  await page.waitForSelector("body[data-ready=true]", { timeout: WAIT });
  return page;
}

const users = (page) => page.$$eval("#users li", (items) => items.map((li) => li.textContent));

test("two chat processes on one Redis serve one chat", async () => {
  for (const node of nodes) {
    const health = await fetch(`${node.base}/health`);
    assert.equal(health.status, 200, await health.text());
  }
  const ada = await join(nodes[0].base, "ada", false);
  const bob = await join(nodes[1].base, "bob", true);
  assert.equal(await ada.evaluate(() => window.chat.transport), "webtransport");
  assert.equal(await bob.evaluate(() => window.chat.transport), "websocket");
  for (const page of [ada, bob]) {
    await page.waitForFunction(() => document.querySelectorAll("#users li").length === 2, null, { timeout: WAIT });
    assert.deepEqual(await users(page), ["ada", "bob"]);
  }
  for (const [from, to, text] of [
    [ada, bob, "hello from node one"],
    [bob, ada, "hello from node two"],
  ]) {
    await from.fill("#text", text);
    await from.press("#text", "Enter");
    await to.waitForFunction((t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent.endsWith(t)), text, { timeout: WAIT });
  }
  // bob leaves: ada's list, served by the other process, follows.
  await bob.context().close();
  await ada.waitForFunction(() => document.querySelectorAll("#users li").length === 1, null, { timeout: WAIT });
  assert.deepEqual(await users(ada), ["ada"]);
});

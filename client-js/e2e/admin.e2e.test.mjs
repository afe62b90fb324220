// End-to-end: the admin dashboard in Chromium. The chat runs with an admin token; a chat page
// connects over WebTransport and a Rust CLI over its own transport, and the dashboard, once
// given the token, lists both connections live and the chat room.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { WAIT, binary, launchChromium, newPage, spawnWithLines, startServer } from "./support.mjs";

const TOKEN = "e2e-admin-token-0123456789";
let server;
let browser;

before(async () => {
  process.env.CHAT_ADMIN_TOKEN = TOKEN;
  server = await startServer("chat", ["--bind", "127.0.0.1", "--http", "0", "--quic", "0"]);
  delete process.env.CHAT_ADMIN_TOKEN;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill();
});

test("the admin dashboard, given the token, lists the live connections and rooms", async () => {
  const chat = await newPage(browser, "ada");
  await chat.goto(`${server.base}/`);
  await chat.fill("#name", "ada");
  await chat.click("#name-form button");
  await chat.waitForSelector("body[data-ready=true]", { timeout: WAIT });
  const sid = await chat.evaluate(() => window.chat.id);
  const cli = spawnWithLines(binary("chat-cli"), ["--name", "cli", "--url", server.base]);
  await cli.waitFor(/joined chat as cli/, "the CLI to join");

  const admin = await newPage(browser, "admin");
  await admin.goto(`${server.base}/quicket/admin`);
  await admin.fill("#token", "not-the-token-at-all-0000");
  await admin.click("#login button");
  await admin.waitForFunction(() => document.getElementById("error").textContent.includes("refused"), null, { timeout: WAIT });
  await admin.fill("#token", TOKEN);
  await admin.click("#login button");
  await admin.waitForSelector("body[data-loaded=true]", { timeout: WAIT });
  await admin.waitForFunction(() => document.querySelectorAll("#sockets tr").length === 2, null, { timeout: WAIT });
  const rows = await admin.$$eval("#sockets tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const page = rows.find((cells) => cells[0] === sid);
  assert.ok(page, `the page's socket ${sid} is listed: ${JSON.stringify(rows)}`);
  assert.equal(page[1], "webtransport");
  assert.equal(page[5], "chat");
  assert.ok(rows.some((cells) => cells[0] !== sid && cells[5] === "chat"), "the CLI is listed too");
  const rooms = await admin.$$eval("#rooms tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rooms, [["chat", "2"]]);
  cli.stdin.end();
  await admin.waitForFunction(() => document.querySelectorAll("#sockets tr").length === 1, null, { timeout: WAIT });
  await chat.context().close();
  await admin.context().close();
});

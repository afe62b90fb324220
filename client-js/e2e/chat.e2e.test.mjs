// End-to-end: the seed chat in headless Debian Chromium (WebTransport with pinned certificate
// hashes, and the WebSocket fallback) with a Rust CLI client in the same room.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { WAIT, binary, launchChromium, newPage, output, spawnWithLines, startServer, until } from "./support.mjs";

let server;
let base;
let browser;
const report = [];

before(async () => {
  // A short heartbeat: a tab that vanishes without a goodbye is still noticed within the wait.
  // A short recovery window: a closed tab's session ends, and is announced, within it too.
  const args = ["--http", "0", "--quic", "0", "--heartbeat", "2", "--recovery-window", "8", "--test-hooks"];
  server = await startServer("chat", args);
  base = server.base;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (report.length) console.log(report.join("\n"));
});

/** Opens the chat in a fresh browser context and joins as `name`. */
async function openChat(name, { noWebTransport = false, wrongHash = false } = {}) {
  const page = await newPage(browser, name, { noWebTransport });
  if (wrongHash) {
    await page.route("**/quicket/info", async (route) => {
      const response = await route.fetch();
      const info = await response.json();
      info.certificateHashes = [{ algorithm: "sha-256", value: btoa(String.fromCharCode(...new Uint8Array(32))) }];
      await route.fulfill({ response, json: info });
    });
  }
  await page.goto(`${base}/`);
  await page.fill("#name", name);
  await page.click("#name-form button");
  await page.waitForSelector("body[data-ready=true]", { timeout: WAIT });
  return page;
}

const transportOf = (page) => page.evaluate(() => window.chat.transport);
const linesOf = (page) => page.$$eval("#messages li:not(.announce)", (items) => items.map((li) => li.textContent));
const usersOf = (page) => page.$$eval("#users li", (items) => items.map((li) => li.textContent));

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/** Waits until every page shows `text` as a chat line. */
async function everyoneSees(pages, text) {
  await Promise.all(
    pages.map((page) =>
      page.waitForFunction((t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent.endsWith(t)), text, {
        timeout: WAIT,
      }),
    ),
  );
}

async function usersAre(page, expected) {
  await page
    .waitForFunction(
      (want) => JSON.stringify([...document.querySelectorAll("#users li")].map((li) => li.textContent)) === JSON.stringify(want),
      expected,
      { timeout: WAIT },
    )
    .catch(async (err) => {
      throw new Error(`users: want ${JSON.stringify(expected)}, shown ${JSON.stringify(await usersOf(page))}`, { cause: err });
    });
}

test("two WebTransport pages and a Rust CLI chat in one room", async () => {
  const ada = await openChat("ada");
  const bob = await openChat("bob");
  assert.equal(await transportOf(ada), "webtransport");
  assert.equal(await transportOf(bob), "webtransport");
  const cli = spawnWithLines(binary("chat-cli"), ["--name", "cli", "--url", base]);
  await cli.waitFor(/joined chat as cli/, "the CLI to join");
  await usersAre(ada, ["ada", "bob", "cli"]);
  await usersAre(bob, ["ada", "bob", "cli"]);

  await say(ada, "hello from ada");
  await everyoneSees([ada, bob], "hello from ada");
  await cli.waitFor(/^ada: hello from ada$/, "ada's line on the CLI");
  await say(bob, "hi from bob");
  await everyoneSees([ada, bob], "hi from bob");
  await cli.waitFor(/^bob: hi from bob$/, "bob's line on the CLI");
  cli.stdin.write("hey from cli\n");
  await everyoneSees([ada, bob], "hey from cli");
  const expected = ["ada hello from ada", "bob hi from bob", "cli hey from cli"];
  assert.deepEqual(await linesOf(ada), expected);
  assert.deepEqual(await linesOf(bob), expected);
  const cliLines = cli.lines.filter((line) => /^(ada|bob|cli): /.test(line));
  assert.deepEqual(cliLines, ["ada: hello from ada", "bob: hi from bob", "cli: hey from cli"]);

  // A second tab of the same user is the same user in the list.
  const adaAgain = await openChat("ada");
  await usersAre(adaAgain, ["ada", "bob", "cli"]);
  await adaAgain.close();
  await usersAre(bob, ["ada", "bob", "cli"]);
  // Closing a tab is leaving.
  await bob.close();
  await usersAre(ada, ["ada", "cli"]);
  await ada.waitForFunction(() => document.body.textContent.includes("bob has disconnected"), null, { timeout: WAIT });
  const announcements = await ada.$$eval("#messages li.announce", (items) => items.map((li) => li.textContent));
  assert.deepEqual(announcements, ["bob has connected", "cli has connected", "bob has disconnected"], "a second tab is not a new user");
  cli.stdin.end(); // the CLI disconnects at the end of its input
  await usersAre(ada, ["ada"]);
  await ada.screenshot({ path: path.join(output, "chat.png") });
  report.push("main scenario: ada=webtransport, bob=webtransport, cli=native; screenshot target/e2e/chat.png");
  await ada.context().close();
});

test("a page without WebTransport lands on WebSocket and chats with a WebTransport page", async () => {
  const quic = await openChat("wt-user");
  const ws = await openChat("ws-user", { noWebTransport: true });
  assert.equal(await transportOf(quic), "webtransport");
  assert.equal(await transportOf(ws), "websocket");
  await say(ws, "from the websocket page");
  await everyoneSees([quic, ws], "from the websocket page");
  await say(quic, "from the webtransport page");
  await everyoneSees([quic, ws], "from the webtransport page");
  report.push("no WebTransport: page landed on websocket, chatted with a webtransport page");
  await quic.context().close();
  await ws.context().close();
});

test("a page handed a wrong certificate hash falls back to WebSocket", async () => {
  const page = await openChat("pinned-wrong", { wrongHash: true });
  assert.equal(await transportOf(page), "websocket");
  report.push("wrong certificate hash: page landed on websocket");
  await page.context().close();
});

test("emitWithAck round trip, and an ack timeout", async () => {
  const page = await openChat("acker");
  const pong = await page.evaluate(() => window.chat.emitWithAck("ping", 0));
  assert.equal(pong, "pong");
  const failure = await page.evaluate(async () => {
    try {
      await window.chat.emitWithAck("ping", 2000, { timeout: 100 });
      return "no error";
    } catch (error) {
      return error.name;
    }
  });
  assert.equal(failure, "TimeoutError");
  await page.context().close();
});

test("volatile: most of 500 position updates arrive, none corrupted, oversized is a typed error", async () => {
  const sender = await openChat("mover");
  const watcher = await openChat("watcher");
  assert.equal(await transportOf(sender), "webtransport");
  await watcher.evaluate(() => {
    window.positions = { ok: 0, corrupted: 0 };
    window.chat.on("pos", (p) => {
      if (p && Number.isInteger(p.n) && p.check === (p.n * 7919) % 65521 && p.pad === "x".repeat(32)) window.positions.ok++;
      else window.positions.corrupted++;
    });
  });
  await sender.evaluate(async () => {
    window.sendErrors = [];
    for (let n = 0; n < 500; n++) {
      try { window.chat.volatile.emit("pos", { n, check: (n * 7919) % 65521, pad: "x".repeat(32) }); } catch (e) { window.sendErrors.push(String(e)); }
      // A game sends at a frame rate, not all at once: here about 1,000 updates a second.
      if (n % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  await say(sender, "positions sent");
  await everyoneSees([watcher], "positions sent");
  await watcher.waitForFunction(() => window.positions.ok >= 250, null, { timeout: WAIT }).catch(async (error) => {
    console.error("positions seen:", await watcher.evaluate(() => window.positions), "sender:", await sender.evaluate(() => window.sendErrors));
    throw error;
  });
  const { ok, corrupted } = await watcher.evaluate(() => window.positions);
  assert.equal(corrupted, 0);
  const oversized = await sender.evaluate(() => {
    try {
      window.chat.volatile.emit("pos", { blob: "x".repeat(5000) });
      return "no error";
    } catch (error) {
      return error.name;
    }
  });
  assert.equal(oversized, "DatagramTooLargeError");
  report.push(`volatile: ${ok}/500 position updates arrived over webtransport datagrams, 0 corrupted; oversized emit -> ${oversized}`);
  await sender.context().close();
  await watcher.context().close();
});

test("latest values: the newest status arrives over WebTransport and WebSocket, never an older one after it", async () => {
  const sender = await openChat("stat-out");
  const watchers = [await openChat("stat-wt"), await openChat("stat-ws", { noWebTransport: true })];
  assert.equal(await transportOf(watchers[1]), "websocket");
  for (const watcher of watchers) {
    await watcher.evaluate(() => {
      window.statuses = [];
      window.chat.on("status", ([name, text]) => name === "stat-out" && window.statuses.push(Number(text.slice(1))));
    });
  }
  const COUNT = 200;
  // From the page a latest value takes the connection's stream, so the newest always arrives.
  await sender.evaluate((count) => {
    for (let n = 0; n < count; n++) window.chat.latest("status").emit("status", `s${n}`);
  }, COUNT);
  const seen = [];
  for (const watcher of watchers) {
    await watcher.waitForFunction((last) => window.statuses.includes(last), COUNT - 1, { timeout: WAIT });
    const statuses = await watcher.evaluate(() => window.statuses);
    assert.ok(statuses.every((n, i) => i === 0 || n > statuses[i - 1]), `never backwards: ${statuses}`);
    seen.push(`${statuses.length} over ${await transportOf(watcher)}`);
  }
  report.push(`latest: of ${COUNT} statuses the watchers handled ${seen.join(" and ")}, increasing, the newest last`);
  await sender.context().close();
  for (const watcher of watchers) await watcher.context().close();
});

test("binary data crosses from a WebTransport page to a WebSocket page as a Uint8Array", async () => {
  const sender = await openChat("bytes-out");
  const watcher = await openChat("bytes-in", { noWebTransport: true });
  await watcher.evaluate(() => {
    window.blobs = [];
    window.chat.on("pos", (p) => p instanceof Uint8Array && window.blobs.push(Array.from(p)));
  });
  const bytes = [0, 1, 2, 123, 250, 255];
  // Volatile: a datagram may be lost, so send until one arrives. The chat relays it as it came.
  await until(async () => {
    await sender.evaluate((b) => window.chat.volatile.emit("pos", Uint8Array.from(b)), bytes);
    return (await watcher.evaluate(() => window.blobs.length)) > 0;
  }, "a binary position");
  assert.deepEqual((await watcher.evaluate(() => window.blobs))[0], bytes);
  await sender.context().close();
  await watcher.context().close();
});

for (const transport of ["webtransport", "websocket"]) {
  test(`a ${transport} page whose connection the server drops reconnects, recovers and shows each missed line once`, async () => {
    const reader = await openChat(`reader-${transport}`, { noWebTransport: transport === "websocket" });
    const writer = await openChat(`writer-${transport}`);
    assert.equal(await transportOf(reader), transport);
    await say(writer, "before the drop");
    await everyoneSees([reader], "before the drop");
    const sid = await reader.evaluate(() => window.chat.id);
    const started = Date.now();
    const dropped = await fetch(`${base}/debug/drop/${sid}`, { method: "POST" });
    assert.equal(dropped.status, 204);
    const missed = ["missed one", "missed two", "missed three"];
    for (const text of missed) await say(writer, text);
    await everyoneSees([writer], "missed three");
    await reader.waitForSelector("body[data-reconnects='1']", { timeout: WAIT });
    await everyoneSees([reader], "missed three");
    const recoveredIn = Date.now() - started;
    const announcements = await reader.$$eval("#messages li.announce", (items) => items.map((li) => li.textContent));
    assert.ok(announcements.includes("reconnected, nothing missed"), `recovered: ${JSON.stringify(announcements)}`);
    assert.equal(await reader.evaluate(() => window.chat.id), sid, "the same session");
    await say(writer, "after the drop");
    await everyoneSees([reader], "after the drop");
    const lines = (await linesOf(reader)).map((line) => line.replace(/^writer-\S+ /, ""));
    assert.deepEqual(lines, ["before the drop", ...missed, "after the drop"], "each line exactly once, in order");
    report.push(`${transport}: dropped server-side, reconnected and recovered in ${recoveredIn} ms; 3 missed lines shown once each`);
    await reader.context().close();
    await writer.context().close();
  });
}

// The page keeps its session in sessionStorage (the client's `session` option), so the page
// that replaces it resumes: same socket id, still in the room, and the lines said while no
// page was there shown once each. "away and back" unloads the page (WebSocket close 1001);
// "crash" kills its renderer, so the browser closes the connection with no close frame, and
// then reloads the tab as a user does. Playwright gives up on a page whose renderer crashed,
// so the page that comes back is driven over CDP, which outlives the crash, for both.
for (const transport of ["webtransport", "websocket"]) {
  for (const how of ["away and back", "crash"]) {
    test(`a ${transport} tab that goes ${how === "crash" ? "down in a crash" : "away and back"} resumes its session`, async () => {
      const name = `${how === "crash" ? "crashed" : "unloaded"}-${transport}`;
      const reader = await openChat(name, { noWebTransport: transport === "websocket" });
      const writer = await openChat(`writer-${name}`);
      assert.equal(await transportOf(reader), transport);
      await say(writer, "before");
      await everyoneSees([reader], "before");
      const sid = await reader.evaluate(() => window.chat.id);
      const cdp = await reader.context().newCDPSession(reader);
      const left = Date.now();
      if (how === "crash") {
        const crashed = reader.waitForEvent("crash");
        await reader.goto("chrome://crash").catch(() => {});
        await crashed;
      } else {
        await reader.goto("about:blank");
      }
      const missed = ["missed one", "missed two"];
      for (const text of missed) await say(writer, text);
      await everyoneSees([writer], "missed two");
      await cdp.send("Page.navigate", { url: `${base}/` });
      const inPage = (fn) =>
        cdp
          .send("Runtime.evaluate", { expression: `(${fn})()`, returnByValue: true })
          .then((reply) => reply.result.value)
          .catch(() => undefined); // between documents
      const back = await until(
        () =>
          inPage(
            () =>
              document.body.dataset.ready === "true" && {
                id: chat.id,
                recovered: chat.recovered,
                transport: chat.transport,
                channels: chat.channels,
              },
          ),
        "the page back in the chat",
      );
      // Over WebTransport the room's lines come on a channel of their own (PROTOCOL.md 2.2),
      // and the missed ones are replayed there.
      const channels = transport === "webtransport" ? 16 : 0;
      assert.deepEqual(back, { id: sid, recovered: true, transport, channels }, "the same session, resumed");
      const shown = () => inPage(() => [...document.querySelectorAll("#messages li:not(.announce)")].map((li) => li.textContent));
      await until(async () => (await shown()).some((line) => line.endsWith("missed two")), "the missed lines");
      const resumedIn = Date.now() - left;
      await say(writer, "after");
      const lines = await until(async () => {
        const now = await shown();
        return now.some((line) => line.endsWith("after")) && now;
      }, "the line after");
      const texts = lines.map((line) => line.replace(/^writer-\S+ /, ""));
      assert.deepEqual(texts, [...missed, "after"], "what this page missed, once each, then live");
      await usersAre(writer, [name, `writer-${name}`].sort());
      report.push(`${transport}: a tab that went ${how} resumed its session (same id, ${missed.length} missed lines once) ${resumedIn} ms after it left`);
      await cdp.detach().catch(() => {});
      await reader.context().close();
      await writer.context().close();
    });
  }
}

test("joining again under another name renames the user instead of adding one", async () => {
  const watcher = await openChat("watcher");
  const renamer = await openChat("before");
  await usersAre(watcher, ["before", "watcher"]);
  await renamer.evaluate(() => window.chat.emitWithAck("join", "after"));
  await usersAre(watcher, ["after", "watcher"]);
  await watcher.context().close();
  await renamer.context().close();
});

for (const transport of ["webtransport", "websocket"]) {
  test(`a crashed ${transport} tab leaves the user list within seconds`, async () => {
    const watcher = await openChat(`watcher-${transport}`);
    const crasher = await openChat(`crasher-${transport}`, { noWebTransport: transport === "websocket" });
    assert.equal(await transportOf(crasher), transport);
    await usersAre(watcher, [`crasher-${transport}`, `watcher-${transport}`]);
    const crashed = Date.now();
    // The renderer dies: no pagehide, no goodbye; the browser closes the connection for it.
    await crasher.goto("chrome://crash").catch(() => {});
    await usersAre(watcher, [`watcher-${transport}`]);
    // Within the wait (15 s): the chat keeps a dropped session's presence for 5 s, and the
    // heartbeat (2 s here) notices a connection the browser left open. With the default
    // 2-minute grace the user would stay listed.
    const goneIn = Date.now() - crashed;
    report.push(`${transport}: a crashed tab left the user list after ${goneIn} ms`);
    await watcher.context().close();
    await crasher.context().close().catch(() => {});
  });
}

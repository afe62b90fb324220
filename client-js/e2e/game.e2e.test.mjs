// End-to-end: the game example. One headless Chromium page and 20 native bots play one match
// for 5 s over WebTransport, then again with the page forced onto WebSocket. Each delivery
// class is checked in the browser: snapshots are latest values, inputs and their `applied`
// answers sequenced, the match feed's notices unordered.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { WAIT, launchChromium, newPage, output, startServer, until } from "./support.mjs";

const BOTS = 20;
const TICKS = 150; // 5 s at 30 Hz
let server;
let browser;
const report = [];

before(async () => {
  server = await startServer("game", ["--http", "0", "--quic", "0", "--bots", String(BOTS)]);
  await server.waitFor(new RegExp(`${BOTS} bots playing in arena`), "the bots to join");
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (report.length) console.log(report.join("\n"));
});

/** The server's view of player `name` in the arena. */
async function onServer(name) {
  const matches = await (await fetch(`${server.base}/api/matches`)).json();
  const arena = matches.find((m) => m.name === "arena");
  return { player: arena.players.find((p) => p.name === name), bots: arena.players.filter((p) => p.bot).length };
}

/**
 * The server's view of the page's player once it has applied the page's newest input (or a
 * newer one): inputs are sequenced datagrams, so a key change reaches the simulation a moment
 * later.
 */
async function applied(page, name) {
  const seq = await page.evaluate(() => window.game.inputSeq);
  return until(async () => {
    const player = (await onServer(name)).player;
    return player.input_seq >= seq ? player : null;
  }, `the server to apply ${name}'s input ${seq}`);
}

/**
 * Holds `key` until the server has moved the page's player `distance` pixels along `axis`,
 * and checks the other axis stayed put: the server's position follows the page's inputs.
 */
async function steer(page, name, key, axis, sign, distance) {
  const other = axis === "x" ? "y" : "x";
  await page.keyboard.down(key);
  const from = await applied(page, name);
  const moved = await until(async () => {
    const now = (await onServer(name)).player;
    return sign * (now[axis] - from[axis]) >= distance ? now : null;
  }, `the server to move ${name} with ${key}`);
  await page.keyboard.up(key);
  const stopped = await applied(page, name);
  assert.equal(moved[other], from[other], `${key} moved only ${axis}`);
  assert.equal(stopped[other], from[other], `${key} moved only ${axis}`);
  return `${key} ${from[axis]}→${stopped[axis]}`;
}

/** Waits until the page's match feed has `line`; the feed. */
async function notice(page, line) {
  return until(async () => {
    const notices = await page.evaluate(() => window.game.notices);
    return notices.includes(line) ? notices : null;
  }, `the notice "${line}"`);
}

/**
 * A second player joins the page's match from a second socket in the page (the same
 * transport), then leaves with a goodbye: the page's feed must show both.
 */
async function visitor(page, name) {
  await page.evaluate(async (name) => {
    const { connect } = await import("/quicket/client.js");
    window.visitor = await connect(location.origin);
    await window.visitor.emitWithAck("join", { match: "arena", name });
  }, name);
  await notice(page, `${name} joined`);
  await page.evaluate(() => window.visitor.disconnect());
  return notice(page, `${name} left`);
}

/** Checks that every player the page knows of is drawn: each one's centre pixel is coloured. */
async function drawnPlayers(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) =>
        // After the page's own frame callback: the canvas shows exactly `game.players`.
        requestAnimationFrame(() => {
          const ctx = document.querySelector("#game").getContext("2d");
          let drawn = 0;
          // Around each centre rather than at it: another player's name, outlined in the
          // background's colour, may cross a centre.
          const bright = (x, y) => {
            const [r, g, b] = ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data;
            return r + g + b > 150;
          };
          const around = [[0, 0], [-6, 0], [6, 0], [0, -6], [0, 6]];
          for (const { x, y } of window.game.players.values()) {
            if (around.some(([dx, dy]) => bright(x + dx, y + dy))) drawn += 1;
          }
          resolve({ drawn, known: window.game.players.size });
        }),
      ),
  );
}

for (const [transport, noWebTransport] of [
  ["webtransport", false],
  ["websocket", true],
]) {
  test(`a page and ${BOTS} bots play one match for 5 s over ${transport}`, async (t) => {
    const name = `ada-${transport}`;
    const page = await newPage(browser, name, { noWebTransport });
    t.after(async () => {
      // A goodbye, so the player leaves the match for the next run.
      await page.evaluate(() => window.game.socket.disconnect()).catch(() => {});
      await page.context().close();
    });
    await page.goto(`${server.base}/?name=${name}&match=arena`);
    await page.waitForSelector("body[data-ready=true]", { timeout: WAIT });
    assert.equal(await page.evaluate(() => window.game.transport), transport);
    // Channels are streams the server opens: WebTransport only.
    const channels = await page.evaluate(() => window.game.socket.channels);
    assert.equal(channels, transport === "webtransport" ? 16 : 0, "the channel grant");
    // The server's join notice goes to the whole match room, the joiner included.
    await notice(page, `${name} joined`);
    const start = (await onServer(name)).player;
    assert.ok(start, "the server has the page's player");

    // Towards the far walls, so neither move is cut short by a wall.
    const horizontal = start.x < 480 ? ["ArrowRight", 1] : ["ArrowLeft", -1];
    const vertical = start.y < 270 ? ["ArrowDown", 1] : ["ArrowUp", -1];
    const moves = [
      await steer(page, name, horizontal[0], "x", horizontal[1], 120),
      await steer(page, name, vertical[0], "y", vertical[1], 90),
    ];
    // The server answers each input it applies with `applied` (sequenced): the page gets the
    // answer to the newest input the server applied, or a newer one.
    const appliedSeq = (await applied(page, name)).input_seq;
    await until(
      () => page.evaluate((seq) => window.game.lastApplied >= seq && window.game.inputLag !== null, appliedSeq),
      `the page to get applied ${appliedSeq}`,
    );
    const feed = await visitor(page, `bo-${transport}`);
    await until(async () => (await onServer(name)).player.sent >= TICKS, `${TICKS} ticks of play`);

    const seen = await page.evaluate(() => {
      const { received, expected, stale, staleDropped, applied, appliedBackwards, inputLag } = window.game;
      return { received, expected, stale, staleDropped, applied, appliedBackwards, inputLag };
    });
    const { player, bots } = await onServer(name);
    const share = seen.received / player.sent;
    assert.equal(bots, BOTS, "the page and the bots share the match");
    // Latest values: a snapshot superseded before it arrived is reset, not retransmitted, but
    // on loopback nearly all arrive.
    assert.ok(share >= 0.9, `received ${seen.received} of ${player.sent} snapshots`);
    // Each snapshot the page handled was newer than the one before: latest values never go back.
    assert.equal(seen.stale, 0, "snapshots handled no newer than the one before");
    // And each `applied` the page handled was greater than the one before.
    assert.ok(seen.applied > 0, "the page got applied answers");
    assert.equal(seen.appliedBackwards, 0, "applied answers handled no newer than the one before");

    const lobby = await page.textContent("#lobby");
    assert.ok(lobby.includes(name) && lobby.includes("bot-00"), `the lobby lists the players: ${lobby}`);
    const drawn = await drawnPlayers(page);
    assert.ok(drawn.known >= BOTS + 1 && drawn.drawn === drawn.known, `drawn ${drawn.drawn} of ${drawn.known} players`);
    const shot = path.join(output, `game-${transport}.png`);
    await page.screenshot({ path: shot });
    const hud = await page.textContent("#hud");
    report.push(
      `game over ${transport} (${channels} channels): received ${seen.received}/${player.sent} snapshots (${(share * 100).toFixed(1)} %), ` +
        `${seen.expected - seen.received} of ${seen.expected} ticks missed, ${seen.stale} handled out of order, ${seen.staleDropped} stale dropped by the client; ` +
        `${seen.applied} applied, input lag ${seen.inputLag.toFixed(1)} ms; notices ${JSON.stringify(feed)}; ${moves.join(", ")}; ${drawn.drawn}/${drawn.known} players drawn; HUD "${hud.replace(/\s+/g, " ").trim()}"; ${shot}`,
    );
  });
}

// End-to-end: the game example. One headless Chromium page and 20 native bots play one match
// for 5 s over WebTransport, then again with the page forced onto WebSocket.
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
 * newer one): inputs are datagrams, so a key change reaches the simulation a moment later.
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
    const start = (await onServer(name)).player;
    assert.ok(start, "the server has the page's player");

    // Towards the far walls, so neither move is cut short by a wall.
    const horizontal = start.x < 480 ? ["ArrowRight", 1] : ["ArrowLeft", -1];
    const vertical = start.y < 270 ? ["ArrowDown", 1] : ["ArrowUp", -1];
    const moves = [
      await steer(page, name, horizontal[0], "x", horizontal[1], 120),
      await steer(page, name, vertical[0], "y", vertical[1], 90),
    ];
    await until(async () => (await onServer(name)).player.sent >= TICKS, `${TICKS} ticks of play`);

    const seen = await page.evaluate(() => ({ received: window.game.received, stale: window.game.stale }));
    const { player, bots } = await onServer(name);
    const share = seen.received / player.sent;
    assert.equal(bots, BOTS, "the page and the bots share the match");
    assert.ok(share >= 0.9, `received ${seen.received} of ${player.sent} snapshots`);

    const lobby = await page.textContent("#lobby");
    assert.ok(lobby.includes(name) && lobby.includes("bot-00"), `the lobby lists the players: ${lobby}`);
    const drawn = await drawnPlayers(page);
    assert.ok(drawn.known >= BOTS + 1 && drawn.drawn === drawn.known, `drawn ${drawn.drawn} of ${drawn.known} players`);
    const shot = path.join(output, `game-${transport}.png`);
    await page.screenshot({ path: shot });
    const hud = await page.textContent("#hud");
    report.push(
      `game over ${transport}: received ${seen.received}/${player.sent} snapshots (${(share * 100).toFixed(1)} %), ` +
        `${seen.stale} stale; ${moves.join(", ")}; ${drawn.drawn}/${drawn.known} players drawn; HUD "${hud.replace(/\s+/g, " ").trim()}"; ${shot}`,
    );
  });
}

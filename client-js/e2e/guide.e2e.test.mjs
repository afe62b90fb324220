// End-to-end: docs/getting-started.md as a reader follows it. Its Cargo.toml, src/main.rs
// and index.html go into a scratch project outside the workspace that depends on the quicket
// crate by path; the page loads /quicket/client.js from the crate (no npm step), and two
// Chromium pages, one on WebTransport and one on WebSocket, play in the same lobby.
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { WAIT, launchChromium, newPage, root, spawnWithLines, targetDir } from "./support.mjs";

let server;
let base;
let browser;

/** The fenced blocks of `lang` in the guide, in order. */
function blocks(guide, lang) {
  return [...guide.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
}

before(async () => {
  const guide = fs.readFileSync(path.join(root, "docs/getting-started.md"), "utf8");
  const [dependencies] = blocks(guide, "toml");
  const [main] = blocks(guide, "rust,no_run");
  const [page] = blocks(guide, "html");
  assert.ok(dependencies && main && page, "the guide has its Cargo.toml, main.rs and page");
  const project = path.join(targetDir, "e2e", "lobby");
  fs.rmSync(project, { recursive: true, force: true });
  fs.mkdirSync(path.join(project, "src"), { recursive: true });
  // As the guide's comment says until the crate is published: the path of the crate.
  const manifest = dependencies.replace(/^quicket = .*$/m, `quicket = { path = ${JSON.stringify(path.join(root, "quicket"))} }`);
  assert.notEqual(manifest, dependencies, "the guide's quicket dependency line");
  fs.writeFileSync(
    path.join(project, "Cargo.toml"),
    `[package]\nname = "lobby"\nversion = "0.1.0"\nedition = "2024"\n\n[workspace]\n\n${manifest}`,
  );
  // The workspace's lock file: the same dependency versions, so the build reuses its artifacts.
  fs.copyFileSync(path.join(root, "Cargo.lock"), path.join(project, "Cargo.lock"));
  // Free ports instead of 8080 and 4433, which a test may not have.
  const ported = main.replace(".ports(8080, 4433)", ".ports(0, 0)");
  assert.notEqual(ported, main, "the guide's ports");
  fs.writeFileSync(path.join(project, "src/main.rs"), ported);
  fs.writeFileSync(path.join(project, "index.html"), page);
  execFileSync("cargo", ["build", "--quiet", "--manifest-path", path.join(project, "Cargo.toml")], {
    stdio: "inherit",
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  });
  // `cargo run` runs it in the project, where it reads index.html.
  server = spawnWithLines(path.join(targetDir, "debug", "lobby"), [], { cwd: project });
  const line = await server.waitFor(/open (http:\/\/\S+)\//, "the guide's server");
  base = line.match(/(http:\/\/\S+)\//)[1];
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill();
});

/** Opens the lobby as `name`, answering the page's name prompt. */
async function enter(name, { noWebTransport = false } = {}) {
  const page = await newPage(browser, name, { noWebTransport });
  page.on("dialog", (dialog) => void dialog.accept(name));
  await page.goto(`${base}/`);
  await page.waitForFunction((n) => document.getElementById("status").textContent.startsWith(`${n} over`), name, { timeout: WAIT });
  return page;
}

const playersOf = (page) => page.$$eval("#players li", (items) => items.map((li) => li.textContent));

test("the getting-started lobby, built outside the workspace, on WebTransport and WebSocket", { timeout: 600_000 }, async () => {
  const client = await fetch(`${base}/quicket/client.js`);
  assert.equal(client.status, 200);
  assert.match(client.headers.get("content-type"), /javascript/);
  const ada = await enter("ada");
  const bob = await enter("bob", { noWebTransport: true });
  assert.equal(await ada.textContent("#status"), "ada over webtransport");
  assert.equal(await bob.textContent("#status"), "bob over websocket");
  for (const page of [ada, bob]) {
    await page.waitForFunction(() => document.querySelectorAll("#players li").length === 2, null, { timeout: WAIT });
    assert.deepEqual(await playersOf(page), ["ada", "bob"]);
  }
  for (const [from, to, text] of [
    [ada, bob, "hello over QUIC"],
    [bob, ada, "hello over TCP"],
  ]) {
    await from.fill("#text", text);
    await from.press("#text", "Enter");
    await to.waitForFunction((t) => [...document.querySelectorAll("#chat li")].some((li) => li.textContent.endsWith(t)), text, { timeout: WAIT });
  }
  await bob.context().close();
  await ada.waitForFunction(() => document.querySelectorAll("#players li").length === 1, null, { timeout: WAIT });
  await ada.context().close();
});

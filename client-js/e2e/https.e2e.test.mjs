// End-to-end: the chat on a certificate from PEM files (a deployment's setup), served over
// HTTPS. The page is https://, WebTransport uses the same certificate, and a page without
// WebTransport falls back to wss://. Chromium trusts the test certificate by its public key
// (--ignore-certificate-errors-spki-list, which reaches QUIC with --origin-to-force-quic-on), as
// it would trust a CA-issued one.
import { execFileSync } from "node:child_process";
import { X509Certificate, createHash } from "node:crypto";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { WAIT, launchChromium, newPage, output, startServer } from "./support.mjs";

let server;
let browser;

before(async () => {
  const dir = path.join(output, "https");
  fs.mkdirSync(dir, { recursive: true });
  const [cert, key] = [path.join(dir, "cert.pem"), path.join(dir, "key.pem")];
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ], { stdio: "ignore" });
  const spki = new X509Certificate(fs.readFileSync(cert)).publicKey.export({ type: "spki", format: "der" });
  const pin = createHash("sha256").update(spki).digest("base64");
  server = await startServer("chat", ["--bind", "127.0.0.1", "--http", "0", "--quic", "0", "--cert", cert, "--key", key]);
  const quic = (await server.waitFor(/WebTransport on UDP (\d+)/, "the QUIC port")).match(/UDP (\d+)/)[1];
  // Chromium applies the key pin to QUIC only for origins forced onto it.
  browser = await launchChromium([`--ignore-certificate-errors-spki-list=${pin}`, `--origin-to-force-quic-on=127.0.0.1:${quic}`]);
});

after(async () => {
  await browser?.close();
  server?.kill();
});

async function openChat(name, options) {
  const page = await newPage(browser, name, options);
  await page.goto(`${server.base}/`);
  await page.fill("#name", name);
  await page.click("#name-form button");
  await page.waitForSelector("body[data-ready=true]", { timeout: WAIT });
  return page;
}

test("an https page uses WebTransport on the same certificate, and falls back to wss", async () => {
  assert.match(server.base, /^https:\/\//);
  const secure = await openChat("secure");
  const fallback = await openChat("fallback", { noWebTransport: true });
  const info = await secure.evaluate(async () => (await fetch("/quicket/info")).json());
  assert.match(info.websocket, /^wss:\/\//);
  assert.deepEqual(info.certificateHashes, [], "a certificate from files is not pinned by hash");
  assert.equal(await secure.evaluate(() => window.chat.transport), "webtransport");
  assert.equal(await fallback.evaluate(() => window.chat.transport), "websocket");
  await fallback.fill("#text", "over wss");
  await fallback.press("#text", "Enter");
  await secure.waitForFunction(() => [...document.querySelectorAll("#messages li")].some((li) => li.textContent.endsWith("over wss")), null, {
    timeout: WAIT,
  });
  await secure.context().close();
  await fallback.context().close();
});

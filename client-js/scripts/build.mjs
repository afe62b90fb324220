// Builds the client: the ES module bundle and its type declarations in dist/, for the npm
// package. `--crate` also writes the same bundle inside the quicket crate
// (quicket/assets/client.js, which `quicket::serve` serves at /quicket/client.js); commit it.
// `--check` builds in memory and fails when the crate's copy differs, so the bundle a Rust
// user gets never drifts from client-js/src.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const crateCopy = path.resolve(here, "../quicket/assets/client.js");
const check = process.argv.includes("--check");
const crate = process.argv.includes("--crate");

const { outputFiles } = await esbuild.build({
  entryPoints: [path.join(here, "src/index.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "neutral",
  write: false,
  outfile: path.join(here, "dist/quicket.js"),
  banner: { js: "// quicket-client: generated from client-js/src by scripts/build.mjs; do not edit." },
  logLevel: "warning",
});
const bundle = outputFiles[0].contents;

if (check) {
  const shipped = fs.existsSync(crateCopy) ? fs.readFileSync(crateCopy) : Buffer.alloc(0);
  if (!Buffer.from(bundle).equals(shipped)) {
    console.error(`${path.relative(process.cwd(), crateCopy)} is not the bundle of client-js/src: run \`npm --prefix client-js run bundle-crate\` and commit it`);
    process.exit(1);
  }
  console.error("quicket/assets/client.js matches client-js/src");
} else {
  fs.mkdirSync(path.join(here, "dist"), { recursive: true });
  fs.writeFileSync(path.join(here, "dist/quicket.js"), bundle);
  if (crate) fs.writeFileSync(crateCopy, bundle);
  execFileSync(process.execPath, [path.join(here, "node_modules/typescript/bin/tsc"), "-p", path.join(here, "tsconfig.build.json")], {
    stdio: "inherit",
  });
  console.error(`built dist/quicket.js${crate ? ", quicket/assets/client.js" : ""} (${bundle.length} bytes) and dist/types/`);
}

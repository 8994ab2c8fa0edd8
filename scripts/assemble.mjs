// Assembles dist/npm (the npm package) and dist/opencode-plugin (the drop-in folder) from the
// compiled shim (build/js), the optimised wasm (build/wasm) and pkg-template/.
import { cpSync, mkdirSync, readFileSync, writeFileSync, readdirSync } from "node:fs";

const version = /^version\s*=\s*"([^"]+)"/m.exec(readFileSync("Cargo.toml", "utf8"))?.[1];
if (!version) throw new Error("no version in Cargo.toml");

function packageFiles(dest) {
  mkdirSync(`${dest}/wasm`, { recursive: true });
  cpSync("build/js", dest, { recursive: true, filter: (src) => !src.includes("/wasm/") || src.endsWith("/wasm") });
  for (const f of readdirSync("build/wasm")) {
    if (/\.(js|d\.ts|wasm)$/.test(f)) cpSync(`build/wasm/${f}`, `${dest}/wasm/${f}`);
  }
}

const pkg = JSON.parse(readFileSync("pkg-template/package.json", "utf8"));
pkg.version = version;
packageFiles("dist/npm");
writeFileSync("dist/npm/package.json", JSON.stringify(pkg, null, 2) + "\n");
cpSync("pkg-template/README.md", "dist/npm/README.md");
// The dashboard's page and style (its script is compiled with the shim into page/).
cpSync("pkg-template/page", "dist/npm/page", { recursive: true });
// Example agent definitions for the worker roles, to copy into a project's .opencode/agent/.
cpSync("pkg-template/agents", "dist/npm/agents", { recursive: true });

packageFiles("dist/opencode-plugin/apiary");
cpSync("pkg-template/drop-in-entry.js", "dist/opencode-plugin/apiary.js");
cpSync("pkg-template/agents", "dist/opencode-plugin/apiary/agents", { recursive: true });
// The command line ships in the drop-in too (apiary/cli/main.js), and its dashboard needs the page.
cpSync("pkg-template/page", "dist/opencode-plugin/apiary/page", { recursive: true });
// Marks the subfolder as ES modules wherever it is copied.
writeFileSync("dist/opencode-plugin/apiary/package.json", JSON.stringify({ type: "module", version }, null, 2) + "\n");

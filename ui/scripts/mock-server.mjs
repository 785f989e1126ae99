// Builds the UI with Tauri's IPC mocked by the lab fixture (scripts/mock/) and serves it on 127.0.0.1,
// for the screenshot scripts. Never part of ui/dist.
import { createServer } from "node:http";
import { readFile, rm } from "node:fs/promises";
import { extname, join, normalize, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

export const ui = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const target = resolve(ui, "..", "target");

// The CSP the Tauri window sets (src-tauri/tauri.conf.json), less the ipc: sources the mock does not use.
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

/** Builds into target/<dirName> and serves it; returns the page's URL and a close function. */
export async function buildAndServe(dirName = "ui-mock-build") {
  const buildDir = join(target, dirName);
  await rm(buildDir, { recursive: true, force: true });
  await build({
    root: join(ui, "scripts", "mock"),
    base: "./",
    configFile: false,
    logLevel: "error",
    plugins: [svelte({ configFile: join(ui, "svelte.config.js") })],
    build: { outDir: buildDir, emptyOutDir: true, target: "es2022" },
  });
  // Module scripts do not load from file://, hence a server.
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(
      /^(\.\.[/\\])+/,
      "",
    );
    const file = join(buildDir, path === "/" ? "index.html" : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-security-policy": CSP });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    base: `http://127.0.0.1:${server.address().port}/index.html`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

#!/usr/bin/env node
// The mocked UI in WebKitGTK, the engine the Tauri window uses on Linux: Debian's WebKitWebDriver drives
// its MiniBrowser (plain W3C WebDriver over HTTP, no client library). Screenshots of the main views in
// light and dark, and the keyboard check (Tab walks the nav, Enter opens a view). Needs a display:
//
//   xvfb-run -a node scripts/webkit-screenshots.mjs      (apt: webkit2gtk-driver xvfb xauth)
//
// Output: ../target/ui-mock-screenshots/webkit-*.png. Exits 1 if a check fails.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { buildAndServe, target } from "./mock-server.mjs";

const DRIVER = process.env.WEBKIT_WEBDRIVER ?? "/usr/bin/WebKitWebDriver";
const BROWSER = process.env.MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
const outDir = join(target, "ui-mock-screenshots");

const freePort = () =>
  new Promise((ok) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let failures = 0;
const check = (ok, what) => {
  if (!ok) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
};

const server = await buildAndServe("ui-mock-build-webkit");
const port = await freePort();
const driver = spawn(DRIVER, [`--port=${port}`], { stdio: ["ignore", "ignore", "inherit"] });
const wd = `http://127.0.0.1:${port}`;

async function call(method, path, body) {
  const res = await fetch(`${wd}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}

async function waitForDriver() {
  for (let i = 0; i < 100; i++) {
    try {
      await call("GET", "/status");
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error("WebKitWebDriver did not start");
}

let count = 0;
let session = null;
try {
  await waitForDriver();
  await mkdir(outDir, { recursive: true });
  for (const dark of [false, true]) {
    const s = await call("POST", "/session", {
      capabilities: {
        alwaysMatch: {
          browserName: "MiniBrowser",
          "webkitgtk:browserOptions": { binary: BROWSER, args: ["--automation", ...(dark ? ["--dark-mode"] : [])] },
        },
      },
    });
    session = s.sessionId;
    const S = `/session/${session}`;
    await call("POST", `${S}/window/rect`, { width: 960, height: 720 });

    const find = async (testid, timeoutMs = 5000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        try {
          const el = await call("POST", `${S}/element`, { using: "css selector", value: `[data-testid="${testid}"]` });
          return Object.values(el)[0];
        } catch (e) {
          if (Date.now() > until) throw e;
          await sleep(100);
        }
      }
    };
    const shot = async (name) => {
      const png = await call("GET", `${S}/screenshot`);
      await writeFile(join(outDir, `webkit-${name}-${dark ? "dark" : "light"}.png`), Buffer.from(png, "base64"));
      count++;
    };

    const views = [
      ["status", "connected"],
      ["status-error", "error", "status"],
      ["nodes", "degraded"],
      ["topology", "degraded"],
      ["dns", "connected"],
      ["settings", "connected"],
    ];
    for (const [name, scenario, view = name] of views) {
      await call("POST", `${S}/url`, { url: `${server.base}?scenario=${scenario}&shot=${name}#${view}` });
      await find(`nav-${view}`);
      if (view === "dns") {
        const input = await find("dns-input");
        await call("POST", `${S}/element/${input}/value`, { text: "web.default.svc.cluster.local" });
        await call("POST", `${S}/element/${await find("dns-submit")}/click`, {});
        await find("dns-answer");
      }
      if (view === "settings") await find("settings-save");
      if (view === "topology") await find("topology");
      await sleep(200);
      await shot(name);
    }

    // The contract's text for status-phase, as WebDriver reads it in WebKit.
    await call("POST", `${S}/url`, { url: `${server.base}?scenario=degraded&shot=phase#status` });
    const phase = await call("GET", `${S}/element/${await find("status-phase")}/text`);
    check(phase === "degraded", `status-phase text in WebKit is "${phase}"`);

    if (!dark) {
      // Keyboard in WebKitGTK (Tauri keeps WebKit's default tabs-to-links: buttons take focus).
      const order = [];
      for (let i = 0; i < 7; i++) {
        await call("POST", `${S}/actions`, {
          actions: [{ type: "key", id: "kbd", actions: [{ type: "keyDown", value: "\uE004" }, { type: "keyUp", value: "\uE004" }] }],
        });
        const active = await call("GET", `${S}/element/active`);
        order.push(await call("GET", `${S}/element/${Object.values(active)[0]}/attribute/data-testid`));
      }
      check(
        order.join(",") === "nav-status,nav-nodes,nav-topology,nav-dns,nav-doctor,nav-logs,nav-settings",
        `WebKit tab order: ${order.join(",")}`,
      );
      // Back to Topology (Shift+Tab x4), Enter opens it.
      for (let i = 0; i < 4; i++) {
        await call("POST", `${S}/actions`, {
          actions: [
            {
              type: "key",
              id: "kbd",
              actions: [
                { type: "keyDown", value: "\uE008" },
                { type: "keyDown", value: "\uE004" },
                { type: "keyUp", value: "\uE004" },
                { type: "keyUp", value: "\uE008" },
              ],
            },
          ],
        });
      }
      await call("POST", `${S}/actions`, {
        actions: [{ type: "key", id: "kbd", actions: [{ type: "keyDown", value: "\uE007" }, { type: "keyUp", value: "\uE007" }] }],
      });
      const shown = await find("topology", 2000).then(
        () => true,
        () => false,
      );
      check(shown, "Enter on nav-topology opens the topology in WebKit");
      await shot("keyboard-focus");
    }
    await call("DELETE", S);
    session = null;
  }
} finally {
  if (session) await call("DELETE", `/session/${session}`).catch(() => {});
  driver.kill("SIGTERM");
  await server.close();
}

console.log(`${count} WebKitGTK screenshots in ${outDir}`);
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}

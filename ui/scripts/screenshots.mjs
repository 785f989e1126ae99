#!/usr/bin/env node
// Screenshots of every view of the built UI, Tauri's IPC mocked by the lab fixture, in Debian's chromium
// (playwright-core drives it; no browser download). Light and dark, 100% and 200% device scale.
// Also checks keyboard navigation in a real browser. Output: ../target/ui-mock-screenshots/*.png
//
//   node scripts/screenshots.mjs            (CHROMIUM=/path/to/chromium to use another binary)
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { buildAndServe, target } from "./mock-server.mjs";

const outDir = join(target, "ui-mock-screenshots");
const axeSource = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

// The same sources as ui/dist with an entry that installs the IPC mock first, served on loopback under
// the window's CSP: a violation shows as a console error and fails the run.
const server = await buildAndServe();
const base = server.base;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const SHOTS = [
  { name: "status", scenario: "connected", view: "status" },
  { name: "status-connecting", scenario: "connecting", view: "status" },
  { name: "status-error", scenario: "error", view: "status" },
  { name: "status-degraded", scenario: "degraded", view: "status" },
  { name: "nodes", scenario: "degraded", view: "nodes" },
  { name: "topology", scenario: "degraded", view: "topology" },
  { name: "dns", scenario: "connected", view: "dns", act: async (p) => {
      await p.getByTestId("dns-input").fill("web.default.svc.cluster.local");
      await p.getByTestId("dns-submit").click();
      await p.getByTestId("dns-answer").waitFor();
    } },
  { name: "doctor", scenario: "degraded", view: "doctor", act: async (p) => {
      await p.getByTestId("doctor-run").click();
      await p.getByTestId("doctor-check").first().waitFor();
    } },
  { name: "logs", scenario: "degraded", view: "logs", act: async (p) => {
      await p.getByTestId("logs-level").selectOption("debug");
    } },
  { name: "settings", scenario: "connected", view: "settings", act: async (p) => {
      await p.getByTestId("settings-save").waitFor();
    } },
];

let failures = 0;
const check = (ok, what) => {
  if (!ok) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
};

await mkdir(outDir, { recursive: true });
let count = 0;
let audits = 0;
try {
  for (const colorScheme of ["light", "dark"]) {
    for (const scale of [1, 2]) {
      const ctx = await browser.newContext({
        viewport: { width: 960, height: 720 },
        deviceScaleFactor: scale,
        colorScheme,
        reducedMotion: "reduce",
      });
      const page = await ctx.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      for (const s of SHOTS) {
        await page.goto(`${base}?scenario=${s.scenario}&shot=${s.name}#${s.view}`);
        await page.getByTestId(`nav-${s.view}`).waitFor();
        await page.getByTestId("status-phase").or(page.locator(".view-body > *").first()).first().waitFor();
        if (s.act) await s.act(page);
        await page.waitForTimeout(150);
        const file = join(outDir, `${s.name}-${colorScheme}-${scale}x.png`);
        // The window as a person sees it (views scroll inside it).
        await page.screenshot({ path: file });
        count++;
        // Accessibility audit (axe-core, WCAG 2 A/AA: contrast, names, roles) of what is on screen.
        if (scale === 1) {
          await page.evaluate(axeSource);
          const violations = await page.evaluate(async () => {
            // @ts-ignore axe is the global the script above defined
            const r = await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21aa"] });
            return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 4).join(", ")}`);
          });
          audits++;
          for (const v of violations) check(false, `axe ${s.name} ${colorScheme}: ${v}`);
        }
      }
      check(errors.length === 0, `page errors (${colorScheme} ${scale}x): ${errors.join("; ")}`);
      await ctx.close();
    }
  }

  // A small window at 200% (the layout a user gets at 2x zoom on a 1120x1200 window): nothing may be cut off.
  for (const colorScheme of ["light", "dark"]) {
    const ctx = await browser.newContext({ viewport: { width: 560, height: 600 }, deviceScaleFactor: 2, colorScheme });
    const page = await ctx.newPage();
    for (const s of SHOTS.filter((x) => ["status", "nodes", "topology", "status-error"].includes(x.name))) {
      await page.goto(`${base}?scenario=${s.scenario}&shot=${s.name}#${s.view}`);
      await page.getByTestId(`nav-${s.view}`).waitFor();
      await page.waitForTimeout(150);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      check(!overflow, `${s.name} at 560 px wide overflows the window horizontally`);
      await page.screenshot({ path: join(outDir, `narrow-${s.name}-${colorScheme}-2x.png`) });
      count++;
    }
    await ctx.close();
  }

  // What the window costs the web process: JS heap and DOM size on the busiest view, after a GC.
  {
    const ctx = await browser.newContext({ viewport: { width: 960, height: 720 } });
    const page = await ctx.newPage();
    await page.goto(`${base}?scenario=degraded#topology`);
    await page.getByTestId("topology").waitFor();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send("HeapProfiler.collectGarbage");
    await cdp.send("Performance.enable");
    const { metrics } = await cdp.send("Performance.getMetrics");
    const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
    console.log(
      `topology view: JS heap used ${(m.JSHeapUsedSize / 1048576).toFixed(1)} MiB, ${m.Nodes} DOM nodes, ${m.JSEventListeners} listeners`,
    );
    await ctx.close();
  }

  // Keyboard: Tab reaches the nav in order, Enter opens the view, in a real browser.
  const ctx = await browser.newContext({ viewport: { width: 960, height: 720 } });
  const page = await ctx.newPage();
  await page.goto(`${base}?scenario=degraded#status`);
  await page.getByTestId("nav-status").waitFor();
  // The contract: status-phase's text is the Phase, as a WebDriver test reads it (rendered text).
  const phaseText = await page.getByTestId("status-phase").innerText();
  check(phaseText === "degraded", `status-phase reads "${phaseText}", not "degraded"`);
  const order = [];
  for (let i = 0; i < 7; i++) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")));
  }
  check(
    order.join(",") === "nav-status,nav-nodes,nav-topology,nav-dns,nav-doctor,nav-logs,nav-settings",
    `tab order ${order.join(",")}`,
  );
  await page.focus('[data-testid="nav-topology"]');
  await page.keyboard.press("Enter");
  check(await page.getByTestId("topology").isVisible(), "Enter on nav-topology shows the topology");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== "none", `focused nav item has a visible outline (${outline})`);
  await page.screenshot({ path: join(outDir, "keyboard-focus-light-1x.png") });
  count++;
  await ctx.close();
} finally {
  await browser.close();
  await server.close();
}

console.log(`${count} screenshots in ${outDir}; ${audits} views audited with axe-core`);
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}

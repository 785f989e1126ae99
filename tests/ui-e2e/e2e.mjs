// The tray app end to end: the real app (driven through tauri-driver and WebKitWebDriver under Xvfb)
// in the lab's laptop namespace, against the real kubewired and the lab cluster. Run by run.sh, which
// sets the environment up; this script runs inside the laptop namespace.
//
// 1. No daemon yet: the status view shows "the kubewire service is not running" with its fix.
// 2. The daemon starts: the error goes away by itself.
// 3. Connect from the window: every step done, the phase "connected".
// 4. Nodes: one row per lab node, each with a handshake; Topology: every node drawn, the gateway marked.
// 5. DNS: web.default.svc.cluster.local resolves (through the system resolver) to the service's IP.
// 6. Doctor: every check passes. Settings and Logs shown.
// 7. Disconnect from the window: the phase "disconnected", the interface gone.
// Screenshots of every view go to $SHOTS.

import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { remote } from "webdriverio";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run tests/ui-e2e/run.sh)`);
  return v;
};
const APP = env("KW_APP");
const DAEMON = env("KW_DAEMON");
const SOCKET = env("KUBEWIRE_SOCKET");
const WORK = env("KW_WORK");
const SHOTS = env("KW_SHOTS");
const LAB = JSON.parse(readFileSync(env("KW_LAB_JSON"), "utf8"));
const PORT = Number(process.env.KW_DRIVER_PORT ?? "4444");
mkdirSync(SHOTS, { recursive: true });

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let browser;
let daemon;
const failures = [];

const tid = (id) => `[data-testid="${id}"]`;
async function text(id) {
  const el = await browser.$(tid(id));
  return (await el.isExisting()) ? (await el.getText()).trim() : null;
}
async function waitFor(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    await sleep(300);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (last: ${JSON.stringify(last)})`);
}
async function shot(name) {
  const path = join(SHOTS, `${name}.png`);
  await browser.saveScreenshot(path);
  log("screenshot", path);
}
async function nav(view) {
  await (await browser.$(tid(`nav-${view}`))).click();
  await sleep(400);
}
function check(cond, message) {
  if (!cond) {
    failures.push(message);
    log("FAIL:", message);
  } else {
    log("ok:", message);
  }
}
function netnsHas(iface) {
  try {
    execFileSync("ip", ["link", "show", iface], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function startDaemon() {
  const out = join(WORK, "kubewired.log");
  const args = ["--socket", SOCKET, "--state-dir", join(WORK, "state")];
  const fd = openSync(out, "w");
  daemon = spawn(DAEMON, args, { stdio: ["ignore", fd, fd], env: { ...process.env, RUST_LOG: "info" } });
  daemon.unref(); // run.sh stops it (by the PID written here) after this script ends
  writeFileSync(join(WORK, "kubewired.pid"), String(daemon.pid));
}

async function main() {
  browser = await remote({
    hostname: "127.0.0.1",
    port: PORT,
    logLevel: "warn",
    capabilities: {
      browserName: "wry",
      "tauri:options": { application: APP },
      // WebKitWebDriver speaks classic WebDriver only (webdriverio 9 asks for BiDi by default).
      "wdio:enforceWebDriverClassic": true,
    },
  });
  await browser.setWindowSize(1100, 780).catch(() => {});

  // 1. No daemon: the error with its fix.
  log("1. daemon unreachable");
  await waitFor("the error box", async () => (await text("error-title")) ?? false);
  check((await text("status-phase")) === "error", "the phase is error without a daemon");
  const title = await text("error-title");
  const fix = await text("error-fix");
  check(/kubewire service is not running/i.test(title), `error title says the service is not running: ${title}`);
  check(/start/i.test(fix ?? ""), `the fix says how to start it: ${fix}`);
  const command = await text("error-command");
  check((command ?? "").includes("systemctl"), `the command to start it is shown: ${command}`);
  await shot("status-daemon-unreachable");

  // 2. The daemon starts: the error clears by itself.
  log("2. daemon starts");
  startDaemon();
  await waitFor("the socket", async () => existsSync(SOCKET), 10000);
  await waitFor("phase disconnected", async () => (await text("status-phase")) === "disconnected", 20000);
  check((await browser.$(tid("error-box")).isExisting()) === false, "the error box is gone once the daemon answers");

  // 3. Connect from the window.
  log("3. connect");
  const select = await browser.$(tid("context-select"));
  if (await select.isExisting()) {
    await select.selectByAttribute("value", "kubewire-lab").catch(() => {});
  }
  await (await browser.$(tid("connect-button"))).click();
  await waitFor("phase connecting or connected", async () =>
    ["connecting", "connected", "degraded"].includes(await text("status-phase")),
  10000);
  await shot("status-connecting");
  await waitFor("phase connected", async () => (await text("status-phase")) === "connected", 90000);
  for (const step of ["kubeconfig", "api-reachable", "kilo-present", "key", "peer-registered", "planned", "applied"]) {
    const el = await browser.$(tid(`step-${step}`));
    const state = (await el.isExisting()) ? await el.getAttribute("data-state") : "missing";
    check(state === "done", `step ${step} is done (${state})`);
  }
  const address = await text("laptop-address");
  check(/^10\.4\.\d+\.\d+/.test(address ?? "") || /\d+\.\d+\.\d+\.\d+/.test(address ?? ""), `laptop address shown: ${address}`);
  // The connection kubewire-lab's interface (kw-<first 7>-<4 hex>: crates/core/src/connection.rs).
  check(netnsHas("kw-kubewir-4027"), "the WireGuard interface exists in the laptop namespace");
  await shot("status-connected");

  // 4. Nodes fill with handshakes; the topology shows every node.
  log("4. nodes and topology");
  const nodes = LAB.nodes.filter((n) => n.ready).map((n) => n.name);
  await nav("nodes");
  await waitFor("every node row with a handshake", async () => {
    const rows = await browser.$$(`${tid("node-row")}`);
    if (rows.length < nodes.length) return false;
    for (const row of rows) {
      if ((await row.getAttribute("data-health")) !== "healthy") return false;
    }
    return true;
  }, 60000);
  const rowNames = [];
  for (const row of await browser.$$(tid("node-row"))) {
    rowNames.push(await row.getAttribute("data-node"));
    const age = await row.$(tid("handshake-age"));
    const ageText = (await age.isExisting()) ? await age.getText() : "";
    check(ageText !== "" && !/never|—|^-$/.test(ageText), `node ${await row.getAttribute("data-node")} shows a handshake age: ${ageText}`);
  }
  for (const n of nodes) check(rowNames.includes(n), `node ${n} is in the nodes table`);
  await shot("nodes");

  await nav("topology");
  await waitFor("the topology", async () => (await browser.$$(tid("topo-node"))).length >= nodes.length, 15000);
  const drawn = [];
  for (const g of await browser.$$(tid("topo-node"))) drawn.push(await g.getAttribute("data-node"));
  for (const n of nodes) check(drawn.includes(n), `node ${n} is in the topology`);
  check(await browser.$(tid("topo-laptop")).isExisting(), "the laptop is in the topology");
  check((await browser.$$('[data-gateway="true"]')).length >= 1, "the service gateway is marked");
  await shot("topology");

  // 5. A cluster name resolves in the DNS box.
  log("5. dns");
  await nav("dns");
  const web = LAB.services.find((s) => s.name === "web" && s.namespace === "default");
  const name = "web.default.svc.cluster.local";
  const input = await browser.$(tid("dns-input"));
  await input.setValue(name);
  await (await browser.$(tid("dns-submit"))).click();
  const answer = await waitFor("a DNS answer", async () => {
    const a = await text("dns-answer");
    return a && web?.cluster_ip && a.includes(web.cluster_ip) ? a : false;
  }, 20000).catch((e) => e.message);
  check(typeof answer === "string" && web?.cluster_ip && answer.includes(web.cluster_ip),
    `${name} resolves to ${web?.cluster_ip}: ${answer}`);
  check(((await text("dns-zone")) ?? "").includes("cluster.local"), "the DNS view shows the zone");
  await shot("dns");

  // 6. Doctor, settings, logs.
  log("6. doctor, settings, logs");
  await nav("doctor");
  await (await browser.$(tid("doctor-run"))).click();
  await waitFor("doctor results", async () => (await browser.$$(tid("doctor-check"))).length >= 5, 30000);
  const statuses = [];
  for (const c of await browser.$$(tid("doctor-check"))) statuses.push(await c.getAttribute("data-status"));
  check(!statuses.includes("fail"), `no doctor check fails: ${statuses.join(",")}`);
  await shot("doctor");
  await nav("settings");
  check(await browser.$(tid("settings-autostart")).isExisting(), "settings show autostart");
  await shot("settings");
  await nav("logs");
  await waitFor("log entries", async () => ((await text("logs-list")) ?? "").includes("connect"), 10000);
  await shot("logs");

  // 7. Disconnect from the window.
  log("7. disconnect");
  await nav("status");
  await (await browser.$(tid("disconnect-button"))).click();
  await waitFor("phase disconnected", async () => (await text("status-phase")) === "disconnected", 30000);
  check(!netnsHas("kw-kubewir-4027"), "the WireGuard interface is gone");
  await shot("status-disconnected");
}

try {
  await main();
} catch (e) {
  failures.push(String(e?.stack ?? e));
  log("ERROR:", e);
  if (browser) await shot("failure").catch(() => {});
} finally {
  if (browser) await browser.deleteSession().catch(() => {});
}
if (failures.length) {
  console.error(`\n${failures.length} failure(s):\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
log("all passed");
process.exit(0);

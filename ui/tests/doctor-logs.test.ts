import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import App from "../src/App.svelte";
import * as lab from "./fixtures/lab";
import { backend, emitLog } from "./ipc";

test("doctor runs the checks on request and shows each status with its fix", async () => {
  window.location.hash = "#doctor";
  const calls = backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  await user.click(await screen.findByTestId("doctor-run"));
  const checks = await screen.findAllByTestId("doctor-check");
  expect(calls.filter((c) => c.cmd === "run_doctor")).toHaveLength(1);
  expect(checks.map((c) => c.dataset.status)).toEqual(["pass", "pass", "pass", "pass", "pass", "warn", "fail"]);
  const dns = checks[6];
  expect(dns).toHaveTextContent("systemd-resolved is not running");
  expect(dns).toHaveTextContent("Fix: Start systemd-resolved");
  expect(within(dns).getByText("sudo systemctl enable --now systemd-resolved", { selector: ".cmd code" })).toBeInTheDocument();
  expect(screen.getByText("5 passed, 1 warning, 1 failed")).toBeInTheDocument();
  // A passing check shows no fix.
  expect(checks[0]).not.toHaveTextContent("Fix:");
});

test("logs: recent entries, filtered by level, new ones from log events", async () => {
  window.location.hash = "#logs";
  backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  const list = await screen.findByTestId("logs-list");
  // Default level: info and above (the 3 debug entries hidden).
  await waitFor(() => expect(list.querySelectorAll(".entry")).toHaveLength(7));
  await user.selectOptions(screen.getByTestId("logs-level"), "error");
  expect(list.querySelectorAll(".entry")).toHaveLength(1);
  expect(list).toHaveTextContent("systemd-resolved unreachable");

  await emitLog({ time: lab.NOW, level: "error", target: "kubewire_tray::daemon", message: "daemon socket closed" });
  await waitFor(() => expect(list.querySelectorAll(".entry")).toHaveLength(2));
  expect(list).toHaveTextContent("daemon socket closed");

  await user.selectOptions(screen.getByTestId("logs-level"), "debug");
  expect(list.querySelectorAll(".entry")).toHaveLength(11);
  await user.type(screen.getByTestId("logs-filter"), "gcp");
  expect(list.querySelectorAll(".entry")).toHaveLength(2);

  await user.click(screen.getByTestId("logs-copy"));
  const copied = (await navigator.clipboard.readText()).split("\n");
  expect(copied).toHaveLength(2);
  expect(copied[0]).toMatch(/^2026-11-28T\S+ WARN kubewire_tray::health: handshake stale segment=gcp age_secs=151$/);
});

test("logs: Save bug report writes the archive and says where, or why not", async () => {
  window.location.hash = "#logs";
  const calls = backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  await user.click(await screen.findByTestId("logs-bug-report"));
  const saved = await screen.findByTestId("bug-report-saved");
  expect(saved).toHaveTextContent("/home/dev/Downloads/kubewire-bug-report-1800000000.tar.gz");
  expect(saved).toHaveTextContent("keys and tokens removed");
  expect(calls.filter((c) => c.cmd === "save_bug_report")).toHaveLength(1);
});

test("logs: a bug report that fails says why and what to run instead", async () => {
  window.location.hash = "#logs";
  backend(lab.labState(), {
    save_bug_report: () => {
      throw {
        kind: "other",
        title: "The bug report could not be written",
        message: "starting kubewire: No such file or directory",
        fix: "Run `kubewire bug-report` in a terminal: it says what went wrong.",
        command: "kubewire bug-report",
      };
    },
  });
  const user = userEvent.setup();
  render(App);
  await user.click(await screen.findByTestId("logs-bug-report"));
  const error = await screen.findByTestId("bug-report-error");
  expect(error).toHaveTextContent("starting kubewire: No such file or directory");
  expect(error).toHaveTextContent("kubewire bug-report");
});

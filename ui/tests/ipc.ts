// Tauri's IPC mocked the official way (@tauri-apps/api/mocks), with the lab fixture as the backend.
import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { cleanup } from "@testing-library/svelte";
import { afterEach } from "vitest";
import * as lab from "./fixtures/lab";
import type { AppState, LogEntry } from "../src/lib/types";

export interface Call {
  cmd: string;
  args: Record<string, unknown>;
}

type Handler = (args: Record<string, unknown>) => unknown;

/** Installs a backend answering every contract command; `over` replaces some answers. Returns the calls. */
export function backend(state: AppState, over: Record<string, Handler> = {}): Call[] {
  const calls: Call[] = [];
  const defaults: Record<string, Handler> = {
    get_state: () => state,
    list_contexts: () => lab.contexts,
    get_logs: () => lab.logs(),
    save_bug_report: () => "/home/dev/Downloads/kubewire-bug-report-1800000000.tar.gz",
    get_settings: () => lab.settings,
    set_settings: (a) => a.settings,
    run_doctor: () => lab.doctorChecks,
    resolve_name: (a) => ({ ...lab.resolveWeb, name: a.name }),
    connect: () => null,
    disconnect: () => null,
  };
  const handlers = { ...defaults, ...over };
  mockWindows("main");
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args });
      const h = handlers[cmd];
      if (!h) throw new Error(`unexpected command ${cmd}`);
      return h(args);
    },
    { shouldMockEvents: true },
  );
  return calls;
}

/** What the Rust side does on every change. */
export async function emitState(s: AppState) {
  await emit("state", s);
}

export async function emitLog(l: LogEntry) {
  await emit("log", l);
}

export const commands = (calls: Call[]) => calls.map((c) => c.cmd).filter((c) => !c.startsWith("plugin:"));

afterEach(() => {
  // Unmount first: the components unlisten through the mocked event plugin.
  cleanup();
  clearMocks();
  window.location.hash = "";
});

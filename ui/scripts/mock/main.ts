// The built UI with Tauri's IPC mocked by the lab fixture, for screenshots (never shipped: a separate build).
// ?scenario=connected|degraded|connecting|error|disconnected, #view picks the view.
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import * as lab from "../../tests/fixtures/lab";
import type { AppState } from "../../src/lib/types";

const scenario = new URLSearchParams(location.search).get("scenario") ?? "connected";
const STATES: Record<string, () => AppState> = {
  connected: lab.healthyState,
  degraded: () => lab.labState(),
  connecting: lab.connectingState,
  error: lab.errorState,
  disconnected: lab.disconnectedState,
};
const state = (STATES[scenario] ?? STATES.connected)();

// Date.now() drives "connected for": pin it to the fixture's clock.
const realNow = Date.now;
const offset = lab.NOW * 1000 - realNow();
Date.now = () => realNow() + offset;

mockWindows("main");
mockIPC(
  (cmd, args) => {
    switch (cmd) {
      case "get_state":
        return state;
      case "list_contexts":
        return lab.contexts;
      case "get_logs":
        return lab.logs();
      case "get_settings":
        return lab.settings;
      case "set_settings":
        return (args as { settings: unknown }).settings;
      case "run_doctor":
        return lab.doctorChecks;
      case "resolve_name":
        return { ...lab.resolveWeb, name: (args as { name: string }).name };
      case "connect":
      case "disconnect":
        return null;
      default:
        return undefined;
    }
  },
  { shouldMockEvents: true },
);

await import("../../src/main");

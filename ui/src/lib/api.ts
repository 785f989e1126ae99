// The typed API layer: every Tauri command and event of docs/tray-contract.md, and nothing else.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AppState,
  ContextInfo,
  DoctorCheck,
  LogEntry,
  ResolveResult,
  Settings,
  UiError,
  UiErrorKind,
} from "./types";

const KINDS: UiErrorKind[] = [
  "daemon-unreachable",
  "not-authorised",
  "kilo-missing",
  "kubeconfig",
  "api-unreachable",
  "refused",
  "sign-in",
  "other",
];

/** A command rejects with a `UiError`; anything else (a plain string from Tauri itself) is wrapped. */
export function toUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "title" in e && "fix" in e) {
    const o = e as Partial<UiError>;
    return {
      kind: KINDS.includes(o.kind as UiErrorKind) ? (o.kind as UiErrorKind) : "other",
      title: String(o.title ?? "Something went wrong"),
      message: String(o.message ?? ""),
      fix: String(o.fix ?? ""),
      command: o.command ?? null,
    };
  }
  const message = e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e);
  return {
    kind: "other",
    title: "Something went wrong",
    message,
    fix: "Try again. If it keeps happening, run `kubewire doctor` and look at the Logs view.",
    command: "kubewire doctor",
  };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toUiError(e);
  }
}

export const api = {
  getState: () => call<AppState>("get_state"),
  listContexts: () => call<ContextInfo[]>("list_contexts"),
  connect: (context: string | null) => call<null>("connect", { context }),
  disconnect: () => call<null>("disconnect"),
  runDoctor: () => call<DoctorCheck[]>("run_doctor"),
  resolveName: (name: string) => call<ResolveResult>("resolve_name", { name }),
  getSettings: () => call<Settings>("get_settings"),
  setSettings: (settings: Settings) => call<Settings>("set_settings", { settings }),
  getLogs: () => call<LogEntry[]>("get_logs"),
  saveBugReport: () => call<string>("save_bug_report"),
  /** Exposes laptop port `target` (default `port`) as Service `namespace/name` port `port`; a warning about the local server, or null. */
  expose: (port: number, name: string, namespace: string, target: number | null = null) =>
    call<string | null>("expose", { port, target, name, namespace }),
  unexpose: (service: string) => call<null>("unexpose", { service }),
};

export function onState(cb: (s: AppState) => void): Promise<UnlistenFn> {
  return listen<AppState>("state", (e) => cb(e.payload));
}

export function onLog(cb: (l: LogEntry) => void): Promise<UnlistenFn> {
  return listen<LogEntry>("log", (e) => cb(e.payload));
}

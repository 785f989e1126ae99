// The window's one store: fed by `state` and `log` events (never polled), seeded once by get_state/get_logs.
import { api, onLog, onState, toUiError } from "./api";
import { emptyState, type AppState, type LogEntry, type UiError } from "./types";

export const MAX_LOGS = 500;

export class AppStore {
  state = $state<AppState>(emptyState());
  logs = $state<LogEntry[]>([]);
  /** Set once the first state (answer or event) arrived. */
  ready = $state(false);
  /** A command's rejection that the backend did not (yet) put into `state.error`. */
  commandError = $state<UiError | null>(null);

  #unlisten: (() => void)[] = [];
  #sawStateEvent = false;

  /** The error to show: the backend's, else the last failed command's. */
  get error(): UiError | null {
    return this.state.error ?? this.commandError;
  }

  apply(s: AppState) {
    this.state = s;
    this.ready = true;
  }

  addLog(l: LogEntry) {
    const next = this.logs.length >= MAX_LOGS ? this.logs.slice(1 - MAX_LOGS) : this.logs.slice();
    next.push(l);
    this.logs = next;
  }

  async start() {
    // Listen first, then ask: an event that lands while get_state is in flight is newer and wins.
    this.#unlisten.push(
      await onState((s) => {
        this.#sawStateEvent = true;
        this.apply(s);
      }),
    );
    this.#unlisten.push(await onLog((l) => this.addLog(l)));
    try {
      const s = await api.getState();
      if (!this.#sawStateEvent) this.apply(s);
    } catch (e) {
      this.commandError = toUiError(e);
      this.ready = true;
    }
    try {
      const logs = await api.getLogs();
      // Events that arrived meanwhile are newer than the snapshot; keep both, snapshot first.
      const seen = new Set(logs.map((l) => `${l.time}|${l.target}|${l.message}`));
      const extra = this.logs.filter((l) => !seen.has(`${l.time}|${l.target}|${l.message}`));
      this.logs = [...logs, ...extra].slice(-MAX_LOGS);
    } catch {
      // The Logs view shows what events bring; a failed snapshot is not worth an error box.
    }
  }

  stop() {
    for (const u of this.#unlisten) u();
    this.#unlisten = [];
  }

  async connect(context: string | null) {
    this.commandError = null;
    try {
      await api.connect(context);
    } catch (e) {
      this.commandError = toUiError(e);
    }
  }

  async disconnect() {
    this.commandError = null;
    try {
      await api.disconnect();
    } catch (e) {
      this.commandError = toUiError(e);
    }
  }
}

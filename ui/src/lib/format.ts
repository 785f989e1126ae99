// Humanised numbers and times, shared by the views.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "–";
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

/** "4 s", "2 min", "3 h 5 min", "2 d": a compact duration. */
export function duration(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export function handshakeAge(secs: number | null): string {
  return secs === null ? "never" : `${duration(secs)} ago`;
}

export function ms(n: number | null): string {
  if (n === null) return "";
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

export function clock(unixSecs: number): string {
  return new Date(unixSecs * 1000).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
}

/** A moment: the time alone if it is today, else date and time. */
export function since(unixSecs: number, nowSecs: number): string {
  const d = new Date(unixSecs * 1000);
  const sameDay = d.toDateString() === new Date(nowSecs * 1000).toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    : dateTime(unixSecs);
}

export function dateTime(unixSecs: number): string {
  return new Date(unixSecs * 1000).toLocaleString([], {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
}

export const HEALTH_LABEL: Record<string, string> = {
  healthy: "Healthy",
  stale: "Stale handshake",
  "no-handshake": "No handshake",
  unknown: "Unknown",
};

export const PHASE_LABEL: Record<string, string> = {
  disconnected: "Disconnected",
  connecting: "Connecting",
  connected: "Connected",
  degraded: "Degraded",
  error: "Error",
};

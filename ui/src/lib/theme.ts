// Theme choice: follow the system (prefers-color-scheme) or force light/dark; kept in localStorage.
// The page always carries the theme in force as <html data-theme="light|dark">, so the stylesheet
// holds each palette once.
export type ThemeChoice = "system" | "light" | "dark";

const KEY = "kubewire.theme";
const DARK_QUERY = "(prefers-color-scheme: dark)";

let following: { query: MediaQueryList; listener: () => void } | undefined;

export function loadTheme(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "system";
  } catch {
    return "system";
  }
}

function systemQuery(): MediaQueryList | undefined {
  return typeof window.matchMedia === "function" ? window.matchMedia(DARK_QUERY) : undefined;
}

/** The palette a choice shows now: "system" is the system's light or dark. */
export function resolveTheme(choice: ThemeChoice): "light" | "dark" {
  if (choice !== "system") return choice;
  return systemQuery()?.matches ? "dark" : "light";
}

export function applyTheme(choice: ThemeChoice) {
  const root = document.documentElement;
  root.setAttribute("data-theme", resolveTheme(choice));
  // With "system", follow the system's changes until another choice is made.
  following?.query.removeEventListener("change", following.listener);
  following = undefined;
  const query = choice === "system" ? systemQuery() : undefined;
  if (query) {
    const listener = () => root.setAttribute("data-theme", resolveTheme("system"));
    query.addEventListener("change", listener);
    following = { query, listener };
  }
  try {
    localStorage.setItem(KEY, choice);
  } catch {
    // Storage may be unavailable; the choice still holds for this window.
  }
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return choice === "system" ? "light" : choice === "light" ? "dark" : "system";
}

import { afterEach, expect, test, vi } from "vitest";
import { applyTheme, loadTheme, nextTheme, resolveTheme } from "../src/lib/theme";

/** A system colour preference that can change, as window.matchMedia reports it. */
function systemPrefers(dark: boolean) {
  const listeners = new Set<() => void>();
  const query = {
    matches: dark,
    media: "(prefers-color-scheme: dark)",
    addEventListener: (_: string, l: () => void) => listeners.add(l),
    removeEventListener: (_: string, l: () => void) => listeners.delete(l),
  };
  vi.stubGlobal("matchMedia", () => query);
  return {
    listeners,
    change(toDark: boolean) {
      query.matches = toDark;
      for (const l of listeners) l();
    },
  };
}

const shown = () => document.documentElement.getAttribute("data-theme");

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

test("the system theme is shown as the system's light or dark, and follows its changes", () => {
  const system = systemPrefers(true);
  applyTheme("system");
  expect(shown()).toBe("dark");
  system.change(false);
  expect(shown()).toBe("light");
  expect(loadTheme()).toBe("system");
});

test("a chosen theme holds whatever the system does, and is remembered", () => {
  const system = systemPrefers(false);
  applyTheme("system");
  applyTheme("dark");
  expect(shown()).toBe("dark");
  expect(system.listeners.size).toBe(0);
  system.change(false);
  expect(shown()).toBe("dark");
  expect(loadTheme()).toBe("dark");
});

test("without matchMedia the system theme is light; the cycle is system, light, dark", () => {
  vi.stubGlobal("matchMedia", undefined);
  expect(resolveTheme("system")).toBe("light");
  expect(nextTheme("system")).toBe("light");
  expect(nextTheme("light")).toBe("dark");
  expect(nextTheme("dark")).toBe("system");
});

import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { expect, test, vi } from "vitest";
import App from "../src/App.svelte";
import * as lab from "./fixtures/lab";
import { backend } from "./ipc";

test("Tab walks the navigation in order and Enter opens a view", async () => {
  backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  await screen.findByTestId("status-phase");

  const order: (string | null)[] = [];
  for (let i = 0; i < 7; i++) {
    await user.tab();
    order.push(document.activeElement?.getAttribute("data-testid") ?? null);
  }
  expect(order).toEqual(["nav-status", "nav-nodes", "nav-topology", "nav-dns", "nav-doctor", "nav-logs", "nav-settings"]);

  // Back to Nodes, open it with Enter.
  for (let i = 0; i < 5; i++) await user.tab({ shift: true });
  expect(document.activeElement).toBe(screen.getByTestId("nav-nodes"));
  await user.keyboard("{Enter}");
  expect(await screen.findByTestId("nodes-table")).toBeInTheDocument();
  expect(screen.getByTestId("nav-nodes")).toHaveAttribute("aria-current", "page");
  expect(screen.getByTestId("nav-status")).not.toHaveAttribute("aria-current");
  expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Nodes");

  // Space works too, and the view's controls follow the navigation in tab order.
  await user.tab({ shift: true });
  await user.keyboard(" ");
  await waitFor(() => expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Status"));
});

test("the theme toggle cycles system, light, dark and sets the attribute", async () => {
  // The system prefers dark.
  vi.stubGlobal("matchMedia", () => ({ matches: true, addEventListener() {}, removeEventListener() {} }));
  backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  const toggle = await screen.findByRole("button", { name: /theme/ });
  const theme = () => document.documentElement.getAttribute("data-theme");
  expect(toggle).toHaveAccessibleName(/^System theme/);
  expect(theme()).toBe("dark");
  await user.click(toggle);
  expect(toggle).toHaveAccessibleName(/^Light theme/);
  expect(theme()).toBe("light");
  await user.click(toggle);
  expect(theme()).toBe("dark");
  await user.click(toggle);
  expect(toggle).toHaveAccessibleName(/^System theme/);
  expect(theme()).toBe("dark");
  vi.unstubAllGlobals();
});

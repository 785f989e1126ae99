import { expect, test } from "vitest";
import { render, screen } from "@testing-library/svelte";
import App from "../src/App.svelte";

test("renders the phase", () => {
  render(App);
  expect(screen.getByTestId("status-phase")).toHaveTextContent("disconnected");
});

import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import App from "../src/App.svelte";
import * as lab from "./fixtures/lab";
import { backend } from "./ipc";

test("shows the zone and suffixes in use, and resolves a name typed in the box", async () => {
  window.location.hash = "#dns";
  const calls = backend(lab.healthyState());
  const user = userEvent.setup();
  render(App);
  expect(await screen.findByTestId("dns-zone")).toHaveTextContent("cluster.local");
  expect(screen.getByText("default.svc.cluster.local")).toBeInTheDocument();
  expect(screen.getByText("systemd-resolved (split DNS on kw0)")).toBeInTheDocument();

  await user.type(screen.getByTestId("dns-input"), "web.default{Enter}");
  const answer = await screen.findByTestId("dns-answer");
  expect(answer).toHaveTextContent("10.43.0.80");
  expect(screen.getByText("NOERROR")).toBeInTheDocument();
  expect(screen.getByText("3 ms")).toBeInTheDocument();
  expect(calls.find((c) => c.cmd === "resolve_name")?.args).toEqual({ name: "web.default" });
  expect(screen.queryByTestId("dns-error")).toBeNull();
});

test("a name that does not resolve shows the error", async () => {
  window.location.hash = "#dns";
  backend(lab.healthyState(), {
    resolve_name: (a) => ({ name: a.name, answers: [], rcode: "NXDOMAIN", ms: 2, error: "no such name in cluster.local" }),
  });
  const user = userEvent.setup();
  render(App);
  await user.type(await screen.findByTestId("dns-input"), "nope.default");
  await user.click(screen.getByTestId("dns-submit"));
  expect(await screen.findByTestId("dns-error")).toHaveTextContent("no such name in cluster.local");
  expect(screen.getByText("NXDOMAIN")).toBeInTheDocument();
  expect(screen.queryByTestId("dns-answer")).toBeNull();
});

test("while disconnected it says names are not routed", async () => {
  window.location.hash = "#dns";
  backend(lab.disconnectedState());
  render(App);
  expect(await screen.findByText(/not routed to the cluster's DNS while disconnected/)).toBeInTheDocument();
  expect(screen.queryByTestId("dns-zone")).toBeNull();
});

import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import App from "../src/App.svelte";
import * as lab from "./fixtures/lab";
import { backend, emitState } from "./ipc";

const row = (name: string) => document.querySelector<HTMLElement>(`[data-testid="node-row"][data-node="${name}"]`);

test("the nodes table shows each node with location, leader, handshake age, traffic and health", async () => {
  window.location.hash = "#nodes";
  backend(lab.labState());
  render(App);
  const table = await screen.findByTestId("nodes-table");
  const rows = within(table).getAllByTestId("node-row");
  expect(rows.map((r) => r.dataset.node)).toEqual(["aliyun", "aws", "aws-2", "azure", "azure-2", "gcp"]);

  const aws = row("aws")!;
  expect(aws).toHaveAttribute("data-health", "healthy");
  expect(aws).toHaveTextContent("gateway");
  expect(aws).toHaveTextContent("leader");
  expect(aws).toHaveTextContent("192.0.2.11:51820");
  expect(within(aws).getByTestId("handshake-age")).toHaveTextContent("14 s ago");
  expect(within(aws).getByTestId("rx")).toHaveTextContent("1.4 MiB");
  expect(within(aws).getByTestId("tx")).toHaveTextContent("785 KiB");

  // A member is reached through its segment's leader.
  expect(row("aws-2")).toHaveTextContent("aws-2");
  expect(within(row("aws-2")!).getAllByRole("cell")[1]).toHaveTextContent("aws");

  expect(row("gcp")).toHaveAttribute("data-health", "stale");
  expect(within(row("gcp")!).getByTestId("handshake-age")).toHaveTextContent("2 min ago");
  expect(row("aliyun")).toHaveAttribute("data-health", "no-handshake");
  expect(within(row("aliyun")!).getByTestId("handshake-age")).toHaveTextContent("never");
  expect(screen.getByTestId("nodes-summary")).toHaveTextContent("6 nodes in 4 locations · 4 healthy");
});

test("a new state event updates the table in place (no polling)", async () => {
  window.location.hash = "#nodes";
  const calls = backend(lab.labState());
  render(App);
  await screen.findByTestId("nodes-table");

  const next = lab.labNodes().map((n) =>
    n.name === "aliyun"
      ? { ...n, handshakeAgeSecs: 2, rxBytes: 5 * 1024 * 1024 * 1024, health: "healthy" as const }
      : n,
  );
  next.push({ ...next[0], name: "aliyun-2", leader: false, endpoint: null, gateway: false });
  await emitState(lab.labState({ nodes: next }));

  await waitFor(() => expect(row("aliyun")).toHaveAttribute("data-health", "healthy"));
  expect(within(row("aliyun")!).getByTestId("handshake-age")).toHaveTextContent("2 s ago");
  expect(within(row("aliyun")!).getByTestId("rx")).toHaveTextContent("5.0 GiB");
  expect(row("aliyun-2")).not.toBeNull();
  expect(screen.getAllByTestId("node-row")).toHaveLength(7);
  // The update came from the event: get_state was asked once.
  expect(calls.filter((c) => c.cmd === "get_state")).toHaveLength(1);
});

test("without nodes it says what to do", async () => {
  window.location.hash = "#nodes";
  backend(lab.disconnectedState());
  render(App);
  expect(await screen.findByText("Connect to a cluster to see its nodes.")).toBeInTheDocument();
  expect(screen.queryByTestId("nodes-table")).toBeNull();
});

test("headers sort the table: handshake age, then problems first", async () => {
  window.location.hash = "#nodes";
  backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  await screen.findByTestId("nodes-table");
  const order = () => screen.getAllByTestId("node-row").map((r) => r.dataset.node);

  await user.click(screen.getByTestId("sort-handshake"));
  expect(order()).toEqual(["aws", "aws-2", "azure", "azure-2", "gcp", "aliyun"]);
  expect(screen.getByTestId("sort-handshake").closest("th")).toHaveAttribute("aria-sort", "ascending");
  await user.click(screen.getByTestId("sort-handshake"));
  expect(order()).toEqual(["aliyun", "gcp", "azure", "azure-2", "aws", "aws-2"]);
  expect(screen.getByTestId("sort-handshake").closest("th")).toHaveAttribute("aria-sort", "descending");

  await user.click(screen.getByTestId("sort-health"));
  expect(order()).toEqual(["aliyun", "gcp", "aws", "aws-2", "azure", "azure-2"]);
  // The order holds across live updates.
  await emitState(lab.labState());
  expect(order()).toEqual(["aliyun", "gcp", "aws", "aws-2", "azure", "azure-2"]);
});
